"""MDL-007's transformer: a BERT-style encoder trained from nothing on the mail text it is given.

No weights can be downloaded at run time, so there is no pre-trained DistilBERT to fine-tune
(spec §3.4 names one). Instead: a WordPiece vocabulary is learned from the training text, the
encoder is pre-trained on the same text by masked-language modelling, then fine-tuned to tell spam
from ham. Only training messages are read at either stage; validation and test text never are.
Sizes: `SMALL` trains on two CPU cores within the test budget; `BASE` is the GPU size.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import torch
    from tokenizers import Tokenizer

SPECIALS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
MASK_SHARE = 0.15  # BERT's masking rate; of those, 80% [MASK], 10% random, 10% kept


@dataclass(frozen=True)
class EncoderConfig:
    """The encoder's size and how long each stage trains."""

    vocab: int = 8_000
    hidden: int = 128
    layers: int = 2
    heads: int = 2
    intermediate: int = 512
    max_tokens: int = 128
    mlm_steps: int = 400
    mlm_batch: int = 32
    mlm_lr: float = 1e-3
    finetune_epochs: int = 3
    finetune_batch: int = 32
    finetune_lr: float = 3e-4
    dropout: float = 0.1
    warmup_share: float = 0.06

    def scaled(self, share: float) -> EncoderConfig:
        """The same encoder trained for a share of the steps (smoke runs in tests)."""
        return replace(self, mlm_steps=max(1, round(self.mlm_steps * share)),
                       finetune_epochs=max(1, round(self.finetune_epochs * share)))


SMALL = EncoderConfig()
BASE = EncoderConfig(vocab=16_000, hidden=384, layers=6, heads=6, intermediate=1536, max_tokens=256,
                     mlm_steps=1_500, mlm_batch=128, mlm_lr=5e-4, finetune_epochs=4,
                     finetune_batch=32, finetune_lr=1e-4)


def train_tokenizer(texts: Sequence[str], vocab: int) -> Tokenizer:
    """A cased WordPiece vocabulary of the training text (capitals are evidence: keep them)."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
    from tokenizers.processors import TemplateProcessing

    tok = Tokenizer(models.WordPiece(unk_token="[UNK]", max_input_chars_per_word=40))
    tok.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.StripAccents()])
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece()
    tok.train_from_iterator(texts, trainers.WordPieceTrainer(vocab_size=vocab, special_tokens=list(SPECIALS),
                                                             min_frequency=2, show_progress=False))
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = TemplateProcessing(single="[CLS] $A [SEP]", special_tokens=[("[CLS]", cls),
                                                                                       ("[SEP]", sep)])
    return tok


def encode(tok: Tokenizer, texts: Sequence[str], max_tokens: int) -> tuple[np.ndarray, np.ndarray]:
    """Token ids and attention mask, padded to the longest text in the batch (at most max_tokens)."""
    tok.enable_truncation(max_tokens)
    rows = [e.ids for e in tok.encode_batch(list(texts))]
    width = max((len(r) for r in rows), default=1)
    ids = np.zeros((len(rows), width), dtype=np.int64)
    mask = np.zeros((len(rows), width), dtype=np.int64)
    for i, r in enumerate(rows):
        ids[i, :len(r)] = r
        mask[i, :len(r)] = 1
    return ids, mask


def windows(tok: Tokenizer, texts: Sequence[str], max_tokens: int) -> np.ndarray:
    """Every training text cut into consecutive windows: pre-training reads whole messages, not
    only the heads the classifier sees."""
    tok.no_truncation()
    body = max_tokens - 2
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    out = []
    for e in tok.encode_batch(list(texts), add_special_tokens=False):
        ids = e.ids
        for start in range(0, max(len(ids), 1), body):
            piece = ids[start:start + body]
            if len(piece) >= 8:
                out.append([cls, *piece, sep] + [0] * (body - len(piece)))
    return np.asarray(out, dtype=np.int64).reshape(-1, max_tokens)


def _bert_config(cfg: EncoderConfig, vocab: int) -> Any:
    from transformers import BertConfig

    return BertConfig(vocab_size=vocab, hidden_size=cfg.hidden, num_hidden_layers=cfg.layers,
                      num_attention_heads=cfg.heads, intermediate_size=cfg.intermediate,
                      max_position_embeddings=cfg.max_tokens, hidden_dropout_prob=cfg.dropout,
                      attention_probs_dropout_prob=cfg.dropout, num_labels=2, pad_token_id=0)


def mask_tokens(ids: torch.Tensor, vocab: int, mask_id: int, gen: torch.Generator,
                n_special: int = len(SPECIALS)) -> tuple[torch.Tensor, torch.Tensor]:
    """BERT's masking: inputs with 15% of real tokens hidden, and labels (-100 where not hidden)."""
    import torch

    real = ids >= n_special
    chosen = (torch.rand(ids.shape, generator=gen, device=ids.device) < MASK_SHARE) & real
    labels = torch.where(chosen, ids, torch.full_like(ids, -100))
    roll = torch.rand(ids.shape, generator=gen, device=ids.device)
    inputs = ids.clone()
    inputs[chosen & (roll < 0.8)] = mask_id
    swap = chosen & (roll >= 0.8) & (roll < 0.9)
    inputs[swap] = torch.randint(n_special, vocab, ids.shape, generator=gen, device=ids.device)[swap]
    return inputs, labels


def _schedule(opt: Any, steps: int, warmup_share: float) -> Any:
    import torch

    warm = max(1, int(steps * warmup_share))

    def factor(step: int) -> float:
        """Linear warm-up, then linear decay to zero."""
        return (step + 1) / warm if step < warm else max(0.0, (steps - step) / max(1, steps - warm))

    return torch.optim.lr_scheduler.LambdaLR(opt, factor)


def _device() -> torch.device:
    import torch

    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _autocast(device: torch.device) -> Any:
    import contextlib

    import torch

    return torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else contextlib.nullcontext()


Progress = Callable[[str, int, int, float], None]  # (stage, step, of, loss)


@dataclass
class SpamEncoder:
    """The fitted tokenizer and classifier, and what training cost."""

    config: EncoderConfig
    tokenizer: Tokenizer
    model: Any  # transformers.BertForSequenceClassification
    timings: dict[str, float]
    mlm_losses: list[float]

    def predict_proba(self, texts: Sequence[str], batch: int = 64) -> np.ndarray:
        """P(spam) per text."""
        import torch

        device = next(self.model.parameters()).device
        self.model.eval()
        out = []
        with torch.inference_mode(), _autocast(device):
            for start in range(0, len(texts), batch):
                ids, mask = encode(self.tokenizer, texts[start:start + batch], self.config.max_tokens)
                logits = self.model(input_ids=torch.from_numpy(ids).to(device),
                                    attention_mask=torch.from_numpy(mask).to(device)).logits
                out.append(torch.softmax(logits.float(), dim=1)[:, 1].cpu().numpy())
        return np.concatenate(out) if out else np.zeros(0)

    def __getstate__(self) -> dict[str, Any]:
        """Pickled as plain parts (vocabulary, BERT config, CPU weights): loads with no network and
        on any device, and nothing of transformers' own objects is pickled."""
        return {"config": asdict(self.config), "tokenizer": self.tokenizer.to_str(),
                "bert": self.model.config.to_dict(),
                "weights": {k: v.detach().cpu() for k, v in self.model.state_dict().items()},
                "timings": self.timings, "mlm_losses": self.mlm_losses}

    def __setstate__(self, state: dict[str, Any]) -> None:
        from tokenizers import Tokenizer
        from transformers import BertConfig, BertForSequenceClassification

        model = BertForSequenceClassification(BertConfig.from_dict(state["bert"]))
        model.load_state_dict(state["weights"])
        self.config = EncoderConfig(**state["config"])
        self.tokenizer = Tokenizer.from_str(state["tokenizer"])
        self.model = model.to(_device()).eval()
        self.timings, self.mlm_losses = state["timings"], state["mlm_losses"]

    def save(self, folder: Path) -> None:
        """Tokenizer, weights and config, loadable with no network (`load`)."""
        import json

        folder.mkdir(parents=True, exist_ok=True)
        self.tokenizer.save(str(folder / "tokenizer.json"))
        self.model.save_pretrained(folder / "classifier")
        (folder / "encoder.json").write_text(json.dumps({"config": asdict(self.config),
                                                         "timings": self.timings}, indent=1))

    @classmethod
    def load(cls, folder: Path) -> SpamEncoder:
        import json

        from tokenizers import Tokenizer
        from transformers import BertForSequenceClassification

        meta = json.loads((folder / "encoder.json").read_text())
        model = BertForSequenceClassification.from_pretrained(folder / "classifier", local_files_only=True)
        return cls(EncoderConfig(**meta["config"]), Tokenizer.from_file(str(folder / "tokenizer.json")),
                   model.to(_device()).eval(), meta["timings"], [])


def pretrain(cfg: EncoderConfig, tok: Tokenizer, texts: Sequence[str], seed: int,
             progress: Progress | None = None) -> tuple[Any, list[float]]:
    """Masked-language modelling on the training text; returns the encoder and its loss curve."""
    import torch
    from transformers import BertForMaskedLM

    torch.manual_seed(seed)
    device = _device()
    data = torch.from_numpy(windows(tok, texts, cfg.max_tokens))
    if len(data) == 0:
        raise ValueError("no training text long enough to pre-train on")
    model = BertForMaskedLM(_bert_config(cfg, tok.get_vocab_size())).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.mlm_lr, weight_decay=0.01)
    sched = _schedule(opt, cfg.mlm_steps, cfg.warmup_share)
    gen = torch.Generator().manual_seed(seed)
    dev_gen = torch.Generator(device=device).manual_seed(seed)
    mask_id = tok.token_to_id("[MASK]")
    losses: list[float] = []
    model.train()
    for step in range(cfg.mlm_steps):
        rows = torch.randint(0, len(data), (cfg.mlm_batch,), generator=gen)
        ids = data[rows].to(device, non_blocking=True)
        inputs, labels = mask_tokens(ids, tok.get_vocab_size(), mask_id, dev_gen)
        hidden = labels != -100
        with _autocast(device):
            states = model.bert(input_ids=inputs, attention_mask=(ids != 0).long()).last_hidden_state
            # the vocabulary head runs only where a token was hidden: most of its cost otherwise
            logits = model.cls(states[hidden])
        loss = torch.nn.functional.cross_entropy(logits.float(), labels[hidden])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        if step % 50 == 0 or step == cfg.mlm_steps - 1:
            losses.append(loss.item())
            if progress:
                progress("mlm", step + 1, cfg.mlm_steps, losses[-1])
    return model.bert, losses


def finetune(cfg: EncoderConfig, tok: Tokenizer, encoder: Any, texts: Sequence[str], labels: np.ndarray,
             seed: int, progress: Progress | None = None) -> Any:
    """The pre-trained encoder with a classification head, trained on the labelled messages."""
    import torch
    from transformers import BertForSequenceClassification

    torch.manual_seed(seed)
    device = _device()
    model = BertForSequenceClassification(_bert_config(cfg, tok.get_vocab_size())).to(device)
    model.bert.load_state_dict(encoder.state_dict(), strict=False)  # the pooler is new
    ids, mask = encode(tok, texts, cfg.max_tokens)
    ids_t, mask_t = torch.from_numpy(ids), torch.from_numpy(mask)
    y = torch.from_numpy(np.asarray(labels, dtype=np.int64))
    # spam and ham weigh the same in the loss whatever their shares in the training split
    weights = torch.tensor(len(y) / (2.0 * np.bincount(y.numpy(), minlength=2).clip(1)), dtype=torch.float32)
    loss_fn = torch.nn.CrossEntropyLoss(weight=weights.to(device))
    steps = cfg.finetune_epochs * math.ceil(len(y) / cfg.finetune_batch)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.finetune_lr, weight_decay=0.01)
    sched = _schedule(opt, steps, cfg.warmup_share)
    gen = torch.Generator().manual_seed(seed)
    model.train()
    step = 0
    for _ in range(cfg.finetune_epochs):
        for rows in torch.randperm(len(y), generator=gen).split(cfg.finetune_batch):
            width = int(mask_t[rows].sum(1).max())
            with _autocast(device):
                logits = model(input_ids=ids_t[rows, :width].to(device),
                               attention_mask=mask_t[rows, :width].to(device)).logits
            loss = loss_fn(logits.float(), y[rows].to(device))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            step += 1
            if progress and (step % 50 == 0 or step == steps):
                progress("finetune", step, steps, loss.item())
    return model.eval()


def fit(texts: Sequence[str], labels: np.ndarray, cfg: EncoderConfig = SMALL, seed: int = 0,
        progress: Progress | None = None) -> SpamEncoder:
    """Vocabulary, pre-training and fine-tuning on the same training texts."""
    import torch

    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    tok = train_tokenizer(texts, cfg.vocab)
    timings["tokenizer_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    encoder, losses = pretrain(cfg, tok, texts, seed, progress)
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    timings["pretrain_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    model = finetune(cfg, tok, encoder, texts, labels, seed, progress)
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    timings["finetune_s"] = time.perf_counter() - t0
    timings["device"] = 1.0 if torch.cuda.is_available() else 0.0
    return SpamEncoder(cfg, tok, model, timings, losses)
