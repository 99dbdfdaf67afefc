"""MDL-007's spam risk on the SpamAssassin corpus, subject and body only, beside the TF-IDF baseline
and SpamAssassin itself, on the same messages.

The split (`corpus.time_splits`): per folder, by Date, five contiguous time blocks; seed k tests on
block k of every folder, validates on block k+1 and trains on the rest, with identical content kept
out of both sides. Every message is tested once over the five seeds. Per seed:
- `tfidf_baseline`: word and character n-gram TF-IDF with a linear SVM, threshold 0 (the issue's
  baseline);
- `transformer`, `rules`: each member alone, calibrated and thresholded on validation like ours;
- `ours`: the member set and threshold that validation picks (`model.stack`), calibrated;
- `ours_ceiling`, `tfidf_ceiling`: each ranking's best F1 at a false-positive rate ≤ 0.5% with the
  threshold chosen on the test block itself: what no threshold could beat (a diagnostic, not a result);
- `spamassassin` (when its `spamassassin` command is installed): the raw message, whole (headers
  and all: how SpamAssassin is run, which favours it), local tests only, its default threshold 5.0.
Figures: mean and 95% interval over the five seeds.

Run: `.venv/bin/python benchmarks/content_spam.py [--size small|base]` (writes
benchmarks/results/content_spam[_base].json). `--prepare FILE` writes the read corpus to one file,
and `--prepared FILE` reads it (a machine without the corpus beside it, such as a GPU machine).
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from datetime import datetime
from pathlib import Path

import numpy as np
from provenance import write_results

from adaptive_delivery.delivery.models.mdl007_content import model as spam_model
from adaptive_delivery.delivery.models.mdl007_content import transformer
from adaptive_delivery.delivery.models.mdl007_content.content import Content
from adaptive_delivery.delivery.models.mdl007_content.corpus import (
    Labelled,
    read_spamassassin,
    time_splits,
)
from adaptive_delivery.delivery.models.mdl007_content.training import suggestions
from adaptive_delivery.platform.protocol import interval

HERE = Path(__file__).resolve().parent
SHARED_CORPUS = HERE.parents[1] / "shared" / "data" / "spamassassin"
SIZES = {"small": transformer.SMALL, "base": transformer.BASE}
SA_THRESHOLD = 5.0


def save_prepared(messages: list[Labelled], path: Path) -> None:
    """The read corpus as gzip JSON lines (content, label, folder, file name, date)."""
    with gzip.open(path, "wt", encoding="utf-8") as f:
        for m in messages:
            f.write(json.dumps({"content": asdict(m.content), "spam": m.spam, "folder": m.folder,
                                "name": m.name, "sent": m.sent.isoformat()}) + "\n")


def load_prepared(path: Path) -> list[Labelled]:
    out = []
    with gzip.open(path, "rt", encoding="utf-8") as f:
        for line in f:
            row = json.loads(line)
            c = row["content"]
            content = Content(c["subject"], c["body"], c["preheader"], tuple(c["links"]), c["html"], c["headers"])
            out.append(Labelled(content, row["spam"], row["folder"], row["name"],
                                datetime.fromisoformat(row["sent"])))
    return out


def _progress(seed: int):
    def show(stage: str, step: int, of: int, loss: float) -> None:
        print(f"  seed {seed} {stage} {step}/{of} loss {loss:.3f}", flush=True)
    return show


def run_seed(messages: list[Labelled], split, cfg: transformer.EncoderConfig) -> dict[str, object]:
    """Every model's test metrics for one seed, and what training cost."""
    y = np.array([m.spam for m in messages], dtype=int)
    train_texts = [messages[i].content.text for i in split.train]
    started = time.perf_counter()
    tfidf = spam_model.TfidfSpam().fit(train_texts, y[split.train])
    tfidf_s = time.perf_counter() - started
    encoder = transformer.fit(train_texts, y[split.train], cfg, seed=split.seed, progress=_progress(split.seed))
    val = spam_model.member_scores([messages[i].content for i in split.validation], tfidf, encoder)
    test = spam_model.member_scores([messages[i].content for i in split.test], tfidf, encoder)
    y_val, y_test = y[split.validation], y[split.test]
    out: dict[str, object] = {"seed": split.seed, "train": len(split.train), "validation": len(split.validation),
                              "test": len(split.test), "test_spam": int(y_test.sum())}
    out["tfidf_baseline"] = spam_model.confusion(y_test, test["tfidf"] > 0)
    for alone in ("tfidf", "transformer", "rules"):
        fitted = spam_model.stack(val, y_val, seed=split.seed, candidates=[(alone,)])
        out[f"{alone}_calibrated"] = spam_model.confusion(y_test, fitted.proba(test) >= fitted.threshold)
    ours = spam_model.stack(val, y_val, seed=split.seed)
    p_test = ours.proba(test)
    out["ours"] = spam_model.confusion(y_test, p_test >= ours.threshold) | {
        "members": "+".join(ours.members), "threshold": ours.threshold}
    out["ours_validation"] = ours.validation
    # The reach of each ranking: its best F1 at the target false-positive rate with the threshold
    # chosen on the test block itself (a diagnostic, never a result: no threshold can know the test).
    for name, score in (("ours_ceiling", p_test), ("tfidf_ceiling", test["tfidf"])):
        out[name] = spam_model.confusion(y_test, score >= spam_model.pick_threshold(y_test, score))
    scorer = spam_model.ContentScorer(tfidf, encoder, ours)
    out["suggestions"] = suggestions(scorer, [messages[i].content for i in split.test], p_test)
    out["timings"] = {**encoder.timings, "tfidf_fit_s": tfidf_s}
    out["mlm_loss_first_last"] = [encoder.mlm_losses[0], encoder.mlm_losses[-1]]
    out["test_scores"] = {"index": split.test, "p_spam": p_test.round(6).tolist()}
    print(f"seed {split.seed}: ours {out['ours']}  tfidf {out['tfidf_baseline']}", flush=True)
    return out


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def spamd(workers: int) -> Iterator[int]:
    """SpamAssassin's daemon on a loopback port: the Debian site configuration with Bayes off,
    local tests only, no user configuration. Yields the port."""
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp).chmod(0o755)  # spamd's children read the configuration as an unprivileged user
        site = Path(tmp) / "site"
        shutil.copytree("/etc/spamassassin", site, ignore=shutil.ignore_patterns("sa-update-hooks.d"))
        with (site / "local.cf").open("a") as cf:
            cf.write("\nuse_bayes 0\nbayes_auto_learn 0\n")
        port = _free_port()
        # its log goes to a file: a pipe nobody reads fills after about sixty messages and stops it
        log = (Path(tmp) / "spamd.log").open("w")
        daemon = subprocess.Popen(["spamd", "-L", "-x", f"--siteconfigpath={site}", "-i", f"127.0.0.1:{port}",
                                   "-A", "127.0.0.1", "-m", str(workers), "--min-children", str(workers),
                                   "-s", "stderr", "-r", str(Path(tmp) / "spamd.pid")],
                                  stdout=subprocess.DEVNULL, stderr=log, start_new_session=True)
        try:
            deadline = time.monotonic() + 120
            while True:
                with socket.socket() as sock:
                    if sock.connect_ex(("127.0.0.1", port)) == 0:
                        break
                if daemon.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"spamd did not start: {(Path(tmp) / 'spamd.log').read_text()[-2000:]}")
                time.sleep(0.5)
            yield port
        finally:
            os.killpg(daemon.pid, signal.SIGTERM)  # the daemon and its children
            daemon.wait(30)
            log.close()


def spamassassin_scores(corpus: Path, messages: list[Labelled], workers: int = 2) -> list[float]:
    """SpamAssassin's score of every raw message through spamd (local tests only: no DNS, no
    network, no Bayes), the way a mail server runs it; no size limit."""
    with spamd(workers) as port:
        def one(m: Labelled) -> float:
            raw = (corpus / m.folder / m.name).read_bytes()
            done = subprocess.run(["spamc", "-d", "127.0.0.1", "-p", str(port), "-c", "-x", "-s", "50000000",
                                   "-t", "120"],
                                  input=raw, capture_output=True, check=False)
            line = done.stdout.decode().strip()
            if "/" not in line:
                raise RuntimeError(f"spamc gave {line!r} for {m.folder}/{m.name}: {done.stderr.decode()[-500:]}")
            return float(line.split("/")[0])

        with ThreadPoolExecutor(workers) as pool:
            return list(pool.map(one, messages))


def summarise(per_seed: list[dict], names: list[str]) -> dict[str, dict[str, object]]:
    return {name: {metric: interval([s[name][metric] for s in per_seed]).to_dict()
                   for metric in ("f1", "precision", "recall", "fpr")} for name in names}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, default=SHARED_CORPUS)
    parser.add_argument("--prepare", type=Path, help="write the read corpus to this file and stop")
    parser.add_argument("--prepared", type=Path, help="read the corpus from a --prepare file")
    parser.add_argument("--size", choices=sorted(SIZES), default="small")
    parser.add_argument("--seeds", type=int, nargs="*", default=None)
    parser.add_argument("--no-spamassassin", action="store_true")
    parser.add_argument("--limit", type=int, help="at most this many messages per folder (smoke runs)")
    parser.add_argument("--scale", type=float, default=1.0, help="share of the training steps (smoke runs)")
    args = parser.parse_args(argv)
    messages = load_prepared(args.prepared) if args.prepared else read_spamassassin(args.corpus)
    if args.limit:
        kept: dict[str, int] = {}
        messages = [m for m in messages if kept.setdefault(m.folder, 0) < args.limit
                    and not kept.__setitem__(m.folder, kept[m.folder] + 1)]
    if args.prepare:
        save_prepared(messages, args.prepare)
        return
    splits = [s for s in time_splits(messages) if args.seeds is None or s.seed in args.seeds]
    cfg = SIZES[args.size].scaled(args.scale) if args.scale != 1.0 else SIZES[args.size]
    per_seed = [run_seed(messages, s, cfg) for s in splits]
    names = ["ours", "tfidf_baseline", "tfidf_calibrated", "transformer_calibrated", "rules_calibrated",
             "ours_ceiling", "tfidf_ceiling"]
    report: dict[str, object] = {"size": args.size, "encoder": asdict(cfg),
                                 "messages": len(messages), "spam": sum(m.spam for m in messages)}
    if not args.no_spamassassin and shutil.which("spamassassin") and not args.prepared:
        version = subprocess.run(["spamassassin", "--version"], capture_output=True, text=True,
                                 check=True).stdout.split("\n")[0]
        started = time.perf_counter()
        tested = [i for s in splits for i in s.test]
        scores = dict(zip(tested, spamassassin_scores(args.corpus, [messages[i] for i in tested]), strict=True))
        report["spamassassin_version"] = version
        report["spamassassin_s_per_message_2_workers"] = (time.perf_counter() - started) / len(tested)
        y = np.array([m.spam for m in messages])
        for row, split in zip(per_seed, splits, strict=True):
            row["spamassassin"] = spam_model.confusion(
                y[split.test], np.array([scores[i] >= SA_THRESHOLD for i in split.test]))
        names.append("spamassassin")
    report["summary"] = summarise(per_seed, names)
    report["suggestions"] = {k: interval([s["suggestions"][k] for s in per_seed]).to_dict()
                             for k in ("lowered_share", "mean_drop_points", "below_threshold_after")}
    report["per_seed"] = [{k: v for k, v in row.items() if k != "test_scores"} for row in per_seed]
    report["test_scores"] = [row["test_scores"] for row in per_seed]
    try:
        import torch

        report["accelerator"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
        report["torch_threads"] = torch.get_num_threads()
    except ImportError:
        pass
    name = "content_spam.json" if args.size == "small" else f"content_spam_{args.size}.json"
    path = write_results(name, report, [sys.argv[0], *(argv if argv is not None else sys.argv[1:])])
    print(f"wrote {path}")
    print(json.dumps(report["summary"], indent=1, default=float))


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "true")
    main()
