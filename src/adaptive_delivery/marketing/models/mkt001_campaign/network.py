"""The campaign performance network (spec 003: inputs -> 256 -> 128 -> 64, dropout 0.2, sigmoid
outputs), shaped for a randomised campaign: one shared trunk reads the customer, and one output
layer per e-mail gives P(visit) and P(conversion) had that e-mail (or none) been sent. So the same
network answers "how will this campaign perform" and "which e-mail moves this customer": the
uplift of an e-mail is its head minus the no-e-mail head (a TARNet). The interactions design reads
the e-mail as input, with its products with the customer's fields, and answers one e-mail at a time
(an S-learner with interactions). The wide design is the interactions design with its input also
wired straight to the output layer (wide and deep, Cheng et al. 2016): that wide part starts at the
per-e-mail logistic regression (fitted on a bootstrap of the training rows, one per member) and the
deep part at zero, so training starts from the logistic model and validation decides how far the
deep part moves away from it (epoch 0, the logistic model itself, is a candidate). Validation
chooses between the designs.

Trained in torch; exported as plain arrays and answered in numpy (`ArrayNet`), so serving needs no
torch. A few members from different seeds are averaged; their spread is the prediction's
confidence (a deep ensemble's disagreement: no extra passes at answer time)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

HIDDEN = (256, 128, 64)
DROPOUT = 0.2
DESIGNS = ("heads", "interactions", "wide")  # saved by position: append only


@dataclass(frozen=True)
class NetConfig:
    hidden: tuple[int, ...] = HIDDEN
    dropout: float = DROPOUT
    max_epochs: int = 30
    batch: int = 512
    lr: float = 1e-3
    weight_decay: float = 1e-4
    patience: int = 3  # epochs without a better validation loss before stopping
    # five members of the wide design: the best of the designs on the choice splits
    # (benchmarks/hillstrom_campaign.py --choose records the comparison)
    members: int = 5
    design: str = "wide"
    wide_lr: float = 1e-4  # the wide part moves slowly: it starts fitted


def design_matrix(z: np.ndarray, arm: np.ndarray, n_arms: int) -> np.ndarray:
    """The "interactions" design's input: the standardised customer, the e-mail one-hot, and the
    customer's fields times each e-mail's indicator (the control's left out)."""
    onehot = np.eye(n_arms, dtype=z.dtype)[arm]
    return np.hstack([z, onehot, *(z * onehot[:, [a]] for a in range(1, n_arms))])


@dataclass
class ArrayNet:
    """One or more trained networks as arrays: standardise, trunk, per-arm heads."""

    mean: np.ndarray
    scale: np.ndarray
    members: list[list[tuple[np.ndarray, np.ndarray]]]  # per member: (weight, bias) per layer
    n_arms: int
    n_outcomes: int
    design: str = "heads"

    def _forward(self, z: np.ndarray, layers) -> np.ndarray:
        """(n, arms, outcomes) for one member; the designs that read the e-mail run once per e-mail."""
        w, b = layers[-1]
        if self.design == "heads":
            p = _sigmoid(self.output_inputs(z, None, layers) @ w + b)
            return p.reshape(len(z), self.n_arms, self.n_outcomes)
        arms = [_sigmoid(self.output_inputs(z, np.full(len(z), a), layers) @ w + b) for a in range(self.n_arms)]
        return np.stack(arms, axis=1)

    def output_inputs(self, z: np.ndarray, arm: np.ndarray | None, layers) -> np.ndarray:
        """What a member's output layer reads for standardised customers sent `arm`: the last hidden
        layer, and in the wide design the network's input beside it (the online learner steps on
        exactly these)."""
        x = z if self.design == "heads" else design_matrix(z, arm, self.n_arms)
        h = x
        for w, b in layers[:-1]:
            h = np.maximum(h @ w + b, 0.0)
        return np.hstack([h, x]) if self.design == "wide" else h

    def standardise(self, x: np.ndarray) -> np.ndarray:
        return ((np.asarray(x, dtype=np.float64) - self.mean) / self.scale).astype(np.float32)

    def predict_members(self, x: np.ndarray) -> np.ndarray:
        """(members, n, arms, outcomes) probabilities, dropout off."""
        z = self.standardise(x)
        return np.stack([self._forward(z, layers) for layers in self.members])

    def predict(self, x: np.ndarray) -> np.ndarray:
        """(n, arms, outcomes) probabilities, the members' mean."""
        return self.predict_members(x).mean(axis=0)

    def state(self) -> dict[str, np.ndarray]:
        arrays = {"mean": self.mean, "scale": self.scale,
                  "shape": np.array([self.n_arms, self.n_outcomes, len(self.members)]),
                  "design": np.array([DESIGNS.index(self.design)])}
        for m, layers in enumerate(self.members):
            for i, (w, b) in enumerate(layers):
                arrays[f"m{m}_w{i}"], arrays[f"m{m}_b{i}"] = w, b
        return arrays

    @classmethod
    def load(cls, path) -> ArrayNet:
        """A network saved by `np.savez(path, **net.state())`; ValueError when it is not one."""
        try:
            with np.load(path) as arrays:
                return cls.from_state(dict(arrays))
        except (KeyError, OSError, ValueError) as exc:
            raise ValueError(f"{path}: not a saved campaign network ({exc})") from exc

    @classmethod
    def from_state(cls, arrays: dict[str, np.ndarray]) -> ArrayNet:
        n_arms, n_outcomes, n_members = (int(v) for v in arrays["shape"])
        members = []
        for m in range(n_members):
            layers, i = [], 0
            while f"m{m}_w{i}" in arrays:
                layers.append((np.asarray(arrays[f"m{m}_w{i}"], np.float32), np.asarray(arrays[f"m{m}_b{i}"], np.float32)))
                i += 1
            if not layers:
                raise ValueError(f"saved network has no layers for member {m}")
            members.append(layers)
        return cls(mean=np.asarray(arrays["mean"]), scale=np.asarray(arrays["scale"]), members=members,
                   n_arms=n_arms, n_outcomes=n_outcomes,
                   design=DESIGNS[int(arrays["design"][0])])


def _sigmoid(logit: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-logit))


def confidence(draws: np.ndarray) -> np.ndarray:
    """Per customer, in [0, 1]: one minus the coefficient of variation of the members' predicted
    visit rates of the e-mail asked about (draws shaped (members, n)); 1 when they agree."""
    mean = draws.mean(axis=0)
    cv = np.divide(draws.std(axis=0), mean, out=np.ones_like(mean), where=mean > 0)
    return np.clip(1.0 - cv, 0.0, 1.0)


def _net(n_in: int, n_out: int, config: NetConfig):
    import torch

    layers, width = [], n_in
    for h in config.hidden:
        layers += [torch.nn.Linear(width, h), torch.nn.ReLU(), torch.nn.Dropout(config.dropout)]
        width = h
    layers.append(torch.nn.Linear(width, n_out))
    return torch.nn.Sequential(*layers)


def _wide_deep(n_in: int, n_out: int, config: NetConfig, start: tuple[np.ndarray, np.ndarray]):
    """The wide design in torch: the deep network plus a linear layer on the same input that starts
    at `start` (weights (n_out, n_in), biases), the deep part's output layer at zero."""
    import torch

    class WideDeep(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.deep = _net(n_in, n_out, config)
            self.wide = torch.nn.Linear(n_in, n_out)

        def forward(self, z):
            return self.deep(z) + self.wide(z)

    net = WideDeep()
    with torch.no_grad():
        net.deep[-1].weight.zero_()
        net.deep[-1].bias.zero_()
        net.wide.weight.copy_(torch.tensor(start[0]))
        net.wide.bias.copy_(torch.tensor(start[1]))
    return net


def _optimiser(net, config: NetConfig):
    import torch

    if config.design != "wide":
        return torch.optim.AdamW(net.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    return torch.optim.AdamW([{"params": net.deep.parameters()},
                              {"params": net.wide.parameters(), "lr": config.wide_lr, "weight_decay": 0.0}],
                             lr=config.lr, weight_decay=config.weight_decay)


def _arrays(net, design: str) -> list[tuple[np.ndarray, np.ndarray]]:
    """A torch network's layers as (weight (in, out), bias) arrays; the wide design's output layer
    reads the last hidden layer and the input stacked, so its two parts become one layer."""
    import torch

    deep = net.deep if design == "wide" else net
    layers = [(m.weight.detach().numpy().T.copy(), m.bias.detach().numpy().copy())
              for m in deep if isinstance(m, torch.nn.Linear)]
    if design == "wide":
        w, b = layers[-1]
        layers[-1] = (np.vstack([w, net.wide.weight.detach().numpy().T]), b + net.wide.bias.detach().numpy())
    return layers


def bootstrap_rows(train: np.ndarray, seed: int) -> np.ndarray:
    """A member's resample of the training rows for its wide part's start: members that keep
    epoch 0 would otherwise be one logistic model, so they would never disagree (confidence 1)
    even where the data leaves the logistic model unsure."""
    return np.random.default_rng(seed).choice(train, len(train), replace=True)


def logistic_start(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per outcome, a logistic regression on the design matrix (sklearn's defaults, as the baselines
    use): the wide part's starting weights (n_out, n_in) and biases."""
    from sklearn.linear_model import LogisticRegression

    fits = [LogisticRegression(max_iter=5_000).fit(x, y[:, k]) for k in range(y.shape[1])]
    return (np.vstack([f.coef_ for f in fits]).astype(np.float32),
            np.concatenate([f.intercept_ for f in fits]).astype(np.float32))


def _loss(net, z, arm, y, design: str):
    import torch

    out = net(z)
    if design == "heads":
        out = out.view(len(z), -1, y.shape[1])[torch.arange(len(z)), arm]
    return torch.nn.functional.binary_cross_entropy_with_logits(out, y)


def standard_inputs(x: np.ndarray, arm: np.ndarray, n_arms: int, mean: np.ndarray, scale: np.ndarray,
                    design: str) -> np.ndarray:
    """The training input of a design: the standardised customer, with the e-mail for the designs
    that read it."""
    standard = ((x - mean) / scale).astype(np.float32)
    return standard if design == "heads" else design_matrix(standard, arm, n_arms)


def fit_member(x: np.ndarray, arm: np.ndarray, y: np.ndarray, train: np.ndarray, validation: np.ndarray,
               n_arms: int, mean: np.ndarray, scale: np.ndarray, config: NetConfig, seed: int,
               progress: Callable[[int, float, float], None] | None = None,
               start: tuple[np.ndarray, np.ndarray] | None = None) -> tuple[list, int]:
    """Train one network on the observed e-mail's outcomes, keeping the epoch with the lowest
    validation loss (epoch 0 is the network as it starts); returns its layers as arrays and that
    epoch. The wide design needs `start`, its wide part's starting weights."""
    import torch

    torch.manual_seed(seed)
    z = torch.tensor(standard_inputs(x, arm, n_arms, mean, scale, config.design))
    arms, ys = torch.tensor(arm, dtype=torch.long), torch.tensor(y, dtype=torch.float32)
    n_out = n_arms * y.shape[1] if config.design == "heads" else y.shape[1]
    if config.design == "wide":
        if start is None:
            raise ValueError("the wide design needs its wide part's starting weights")
        net = _wide_deep(z.shape[1], n_out, config, start)
    else:
        net = _net(z.shape[1], n_out, config)
    opt = _optimiser(net, config)
    rng = np.random.default_rng(seed)
    val = torch.tensor(validation)
    net.eval()
    with torch.no_grad():
        best = float(_loss(net, z[val], arms[val], ys[val], config.design))
    best_epoch, best_state, stale = 0, _arrays(net, config.design), 0
    for epoch in range(1, config.max_epochs + 1):
        net.train()
        order = rng.permutation(train)
        total = 0.0
        for first in range(0, len(order), config.batch):
            rows = torch.tensor(order[first:first + config.batch])
            loss = _loss(net, z[rows], arms[rows], ys[rows], config.design)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(rows)
        net.eval()
        with torch.no_grad():
            val_loss = float(_loss(net, z[val], arms[val], ys[val], config.design))
        if progress is not None:
            progress(epoch, total / len(order), val_loss)
        if val_loss < best - 1e-6:
            best, best_epoch, stale = val_loss, epoch, 0
            best_state = _arrays(net, config.design)
        else:
            stale += 1
            if stale >= config.patience:
                break
    return best_state, best_epoch


def fit(x: np.ndarray, arm: np.ndarray, y: np.ndarray, train: np.ndarray, validation: np.ndarray, n_arms: int,
        config: NetConfig, seed: int, progress: Callable[[int, int, float, float], None] | None = None,
        ) -> tuple[ArrayNet, list[int]]:
    """`config.members` networks from seeds derived from `seed`, standardised on the training rows;
    in the wide design each member's wide part starts from its own bootstrap of them."""
    mean = x[train].mean(axis=0)
    scale = x[train].std(axis=0)
    scale = np.where(scale > 0, scale, 1.0)
    members, epochs = [], []
    for m in range(config.members):
        report = (lambda e, tl, vl, m=m: progress(m, e, tl, vl)) if progress else None
        start = None
        if config.design == "wide":
            rows = bootstrap_rows(train, seed * 1_000 + m)
            start = logistic_start(standard_inputs(x[rows], arm[rows], n_arms, mean, scale, "wide"), y[rows])
        layers, epoch = fit_member(x, arm, y, train, validation, n_arms, mean, scale, config, seed * 1_000 + m,
                                   report, start)
        members.append(layers)
        epochs.append(epoch)
    return ArrayNet(mean=mean, scale=scale, members=members, n_arms=n_arms, n_outcomes=y.shape[1],
                    design=config.design), epochs
