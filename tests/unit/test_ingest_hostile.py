"""Hostile input for ingest, as a fair but hostile tester would send it: hundreds of malformed,
oversized, deeply nested, mis-typed and mis-encoded bounces and log lines. Nothing crashes or
hangs the batch, every input is accepted or quarantined with a reason, the ledger balances, and
the good inputs of the same batch still land."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pyarrow.dataset as ds
import pytest

from adaptive_delivery.delivery.events import ingest
from adaptive_delivery.delivery.events.lake import EventsLake

KUMO_SAMPLE = Path(__file__).resolve().parents[1] / "data" / "kumomta.jsonl"


def _dsn(recipients: int = 1, date: str = "Thu, 01 Jan 2026 10:00:00 +0000", extra: str = "") -> bytes:
    """A standard RFC 3464 delivery status notification."""
    fields = "\n".join(f"Final-Recipient: rfc822; user{i}@example.net\nAction: failed\nStatus: 5.1.1\n"
                       f"Diagnostic-Code: smtp; 550 5.1.1 <user{i}@example.net>: Recipient address rejected: "
                       "User unknown\n" for i in range(recipients))
    return textwrap.dedent(f"""\
        From: MAILER-DAEMON@mx.example.net
        To: bounces@sender.example.com
        Subject: Undelivered Mail Returned to Sender
        Date: {date}
        MIME-Version: 1.0
        Content-Type: multipart/report; report-type=delivery-status; boundary="B"

        --B
        Content-Type: text/plain

        This message could not be delivered to one or more recipients.{extra}

        --B
        Content-Type: message/delivery-status

        Reporting-MTA: dns; mx.example.net

        """).encode() + fields.encode() + b"\n--B--\n"


def _nested(depth: int, kind: str) -> bytes:
    """A message whose MIME parts (or attached messages) nest `depth` deep."""
    if kind == "multipart":
        head = "".join(f'Content-Type: multipart/mixed; boundary="b{i}"\n\n--b{i}\n' for i in range(depth))
        return ("From: MAILER-DAEMON@x.org\nSubject: Undelivered\nMIME-Version: 1.0\n" + head + "\nx\n").encode()
    inner = "Subject: x\n\nbody\n"
    for _ in range(depth):
        inner = f"From: MAILER-DAEMON@x.org\nSubject: Undelivered\nContent-Type: message/rfc822\n\n{inner}"
    return inner.encode()


def _mutations(seed: bytes, n: int, rng: random.Random) -> list[bytes]:
    """Truncations, byte flips, duplicated and deleted spans, inserted junk: what transport and
    broken MTAs do to a bounce."""
    out = []
    for _ in range(n):
        b = bytearray(seed)
        for _ in range(rng.randint(1, 6)):
            op = rng.choice(("flip", "cut", "dup", "junk", "del"))
            i = rng.randrange(len(b)) if b else 0
            if op == "flip" and b:
                b[i] = rng.randrange(256)
            elif op == "cut":
                del b[i:]
            elif op == "dup":
                b[i:i] = b[i:i + rng.randint(1, 400)] * rng.randint(1, 20)
            elif op == "junk":
                b[i:i] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 200)))
            elif op == "del" and b:
                del b[i:i + rng.randint(1, 200)]
        out.append(bytes(b))
    return out


def _hostile_mail() -> dict[str, bytes]:
    rng = random.Random(23)
    cases = {
        "year-9999.eml": _dsn(date="Fri, 31 Dec 9999 23:59:59 +0000"),
        "year-0.eml": _dsn(date="Mon, 01 Jan 0000 00:00:00 +9999"),
        "dashes-50k.eml": _dsn(extra="\n" + "-" * 50_000),
        "one-line-over-limit.eml": _dsn(extra="\n" + "x" * (ingest.MAX_LINE_CHARS + 1)),
        "recipients-1000.eml": _dsn(recipients=1_000),
        "empty.eml": b"",
        "nul-bytes.eml": b"\x00" * 5_000,
        "headers-only.eml": b"From: MAILER-DAEMON@x.org\nSubject: Undelivered\n",
        "latin-1.eml": _dsn().replace(b"could not", "n'a pas pu \xe9tre".encode("latin-1")),
        "crlf-mixed.eml": _dsn().replace(b"\n", b"\r\n", 7),
    }
    for depth in (50, 500, 2_000, 5_000):
        cases[f"multipart-{depth}.eml"] = _nested(depth, "multipart")
        cases[f"rfc822-{depth}.eml"] = _nested(depth, "rfc822")
    for i, m in enumerate(_mutations(_dsn(recipients=3), 300, rng)):
        cases[f"mutated-{i:03d}.eml"] = m
    for i in range(20):
        cases[f"random-{i:02d}.eml"] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 3_000)))
    return cases


def _write(folder: Path, cases: dict[str, bytes]) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, content in cases.items():
        path = folder / name
        path.write_bytes(content)
        paths.append(path)
    odd = os.fsencode(folder) + b"/\xff\xfe-not-utf8.eml"  # a file name that is not UTF-8
    with open(odd, "wb") as f:
        f.write(_dsn())
    paths.append(Path(os.fsdecode(odd)))
    return paths


def _batches(lake: Path) -> list[dict]:
    lines = (lake / "_ingest_ledger.jsonl").read_text().splitlines()
    return [r for r in map(json.loads, lines) if r["kind"] == "batch"]


def test_hostile_mail_is_accepted_or_quarantined_and_the_ledger_balances(tmp_path):
    paths = _write(tmp_path / "in", _hostile_mail())
    good = tmp_path / "in" / "good.eml"
    good.write_bytes(_dsn(recipients=2))
    paths.append(good)
    lake = EventsLake(tmp_path / "lake")
    report = ingest.ingest_mail(lake, paths)
    assert len(paths) >= 300 and report.items_in == len(paths)
    assert report.items_in == report.items_accepted + report.items_quarantined
    [batch] = _batches(tmp_path / "lake")
    assert batch["items_in"] == batch["items_accepted"] + batch["items_quarantined"] == len(paths)
    assert any(k.startswith("over a limit") for k in report.reasons)  # the oversized line
    outcomes = ds.dataset(tmp_path / "lake" / "outcomes").to_table().to_pandas()
    assert {"user0@example.net", "user1@example.net"} <= set(outcomes.recipient)  # the good ones landed
    assert outcomes.event_ts.dt.year.between(1970, 2100).all()
    quarantined = ds.dataset(tmp_path / "lake" / "_quarantine" / "raw").to_table().to_pandas()
    assert quarantined.reason.str.len().gt(0).all()
    assert any("\\xff" in name for name in quarantined.name) or report.items_accepted > 0

    again = ingest.ingest_mail(lake, paths)  # re-ingest: nothing new
    assert again.items_in == again.items_accepted + again.items_quarantined and not any(again.events.values())


def test_a_thousand_recipients_parse_within_the_time_limit():
    kind, rows = ingest.rows_from_message(_dsn(recipients=1_000), "big.eml")
    assert kind == "outcomes" and len(rows) == 1_000


def _kumo_lines() -> list[str]:
    rng = random.Random(5)
    records = []
    for line in KUMO_SAMPLE.read_text().splitlines():  # the sample's own bad lines are left out here
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict) and isinstance(record.get("type"), str):
            records.append(record)
    odd_values = [None, "", "x", 0, -1, 1.5, True, [], {}, [1, 2], {"a": 1}, 10**400, "\ud800", "9" * 400,
                  "2026-03-02T10:00:00", "2026-13-45T99:99:99Z", {"nested": [[[[]]]]}, "🙂" * 50]
    lines = []
    for record in records:
        for key in list(record) + ["meta", "response", "feedback_report"]:
            for value in odd_values:
                lines.append(json.dumps({**record, key: value}))
    for _ in range(100):
        record = dict(rng.choice(records))
        lines.append(json.dumps(record)[: rng.randint(0, 200)])  # cut mid-line
    lines += ["[" * 5_000 + "]" * 5_000, "null", "42", '"text"', '{"type": "Delivery"}', "{", "\x00\x01"]
    return lines


def test_hostile_kumomta_lines_are_refused_one_by_one_and_the_file_balances(tmp_path):
    lines = _kumo_lines()
    good = KUMO_SAMPLE.read_text().splitlines()
    path = tmp_path / "kumo.jsonl"
    path.write_bytes("\n".join(lines + good).encode("utf-8", "surrogatepass") + b"\n\xff\xfe bad bytes\n")
    lake = EventsLake(tmp_path / "lake")
    report = ingest.ingest_kumomta(lake, path)
    assert len(lines) >= 300 and report.items_in >= len(lines)
    assert report.items_in == report.items_accepted + report.items_quarantined
    [batch] = _batches(tmp_path / "lake")
    assert batch["items_in"] == batch["items_accepted"] + batch["items_quarantined"]
    assert report.events.get("outcomes", 0) > 0  # the good lines of the same file landed


def test_a_time_without_a_zone_is_read_as_utc(tmp_path, monkeypatch):
    monkeypatch.setenv("TZ", "America/New_York")
    record = json.loads(KUMO_SAMPLE.read_text().splitlines()[1])
    assert record["type"] == "Delivery"
    path = tmp_path / "kumo.jsonl"
    path.write_text(json.dumps({**record, "timestamp": "2026-03-02T10:00:00"}) + "\n")
    ingest.ingest_kumomta(EventsLake(tmp_path / "lake"), path)
    [ts] = ds.dataset(tmp_path / "lake" / "outcomes").to_table().column("event_ts").to_pylist()
    assert (ts.hour, ts.utcoffset().total_seconds()) == (10, 0)


CONCURRENT = textwrap.dedent("""
    import sys
    from pathlib import Path
    from adaptive_delivery.delivery.events.ingest import ingest_mail
    from adaptive_delivery.delivery.events.lake import EventsLake
    folder, lake = Path(sys.argv[1]), Path(sys.argv[2])
    ingest_mail(EventsLake(lake), sorted(folder.iterdir()))
""")


def test_two_ingests_of_the_same_files_at_once_add_each_event_once(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(40):
        (folder / f"b{i}.eml").write_bytes(_dsn(recipients=3, extra=f" ({i})"))
    runs = [subprocess.Popen([sys.executable, "-c", CONCURRENT, str(folder), str(tmp_path / "lake")]) for _ in range(2)]
    assert [r.wait(timeout=300) for r in runs] == [0, 0]
    ids = ds.dataset(tmp_path / "lake" / "outcomes").to_table().column("event_id").to_pylist()
    assert len(ids) == len(set(ids)) == 120


@pytest.mark.parametrize("name", ["dashes-50k.eml", "multipart-5000.eml", "rfc822-5000.eml", "year-9999.eml"])
def test_each_reported_crash_case_alone_is_answered(name, tmp_path):
    paths = _write(tmp_path / "in", {name: _hostile_mail()[name]})
    report = ingest.ingest_mail(EventsLake(tmp_path / "lake"), paths[:1])
    assert report.items_in == 1 == report.items_accepted + report.items_quarantined


KILLED = textwrap.dedent("""
    import sys
    from pathlib import Path
    from adaptive_delivery.delivery.events.ingest import ingest_mail
    from adaptive_delivery.delivery.events.lake import EventsLake
    import random
    folder, lake = Path(sys.argv[1]), Path(sys.argv[2])
    paths = sorted(folder.iterdir())
    random.Random(int(sys.argv[3])).shuffle(paths)  # each run meets the files in another order
    print("start", flush=True)
    for i in range(0, len(paths), 5):  # small batches: the kill lands between and inside writes
        ingest_mail(EventsLake(lake), paths[i:i + 5])
""")


def test_ingest_killed_at_random_points_loses_nothing_and_doubles_nothing(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(60):
        (folder / f"b{i:02d}.eml").write_bytes(_dsn(recipients=3, date=f"Thu, {1 + i % 20:02d} Jan 2026 10:00:00 +0000",
                                                      extra=f" ({i})"))
    lake = tmp_path / "lake"
    rng = random.Random(11)

    def started(run: int, into: Path) -> subprocess.Popen:
        child = subprocess.Popen([sys.executable, "-c", KILLED, str(folder), str(into), str(run)], stdout=subprocess.PIPE,
                                 text=True)
        assert child.stdout.readline().strip() == "start"
        return child

    # the kills fall anywhere in a run's work at this machine's pace (measured on a run left alone)
    probe, began = started(0, tmp_path / "probe"), time.monotonic()
    assert probe.wait() == 0
    pace = time.monotonic() - began
    landed = set()
    for run in range(20):
        child = started(run, lake)
        time.sleep(rng.uniform(0.0, 0.8 * pace))
        child.kill()
        child.wait()
        landed_files = ds.dataset(lake / "outcomes").files if (lake / "outcomes").exists() else []
        if landed_files:  # whatever landed is whole and never twice (a kill may leave the folder alone)
            ids = ds.dataset(lake / "outcomes").to_table(columns=["event_id"]).column(0).to_pylist()
            assert len(ids) == len(set(ids))
            landed.add(len(ids))
    assert len(landed) >= 3, landed  # the kills fell at different points of the work
    final = ingest.ingest_mail(EventsLake(lake), sorted(folder.iterdir()))
    assert final.items_in == 60 == final.items_accepted
    ids = ds.dataset(lake / "outcomes").to_table(columns=["event_id"]).column(0).to_pylist()
    assert len(ids) == len(set(ids)) == 180
    for line in (lake / "_ingest_ledger.jsonl").read_text().splitlines():
        json.loads(line)  # no torn line
