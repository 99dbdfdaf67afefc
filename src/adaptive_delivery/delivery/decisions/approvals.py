"""Human approvals for rail-gated warm-up moves (spec §3.5: a stage jump, a resume after a pause),
recorded by a person through `adaptive-delivery model approve MDL-009 …` and consumed once by the
decision they allowed. An append-only JSON-lines ledger: who approved what, when, and which plan
used it; nothing is rewritten, so the record of a decision survives a crash."""

from __future__ import annotations

import fcntl
import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

from adaptive_delivery.delivery.decisions.rails import Approval

# An approval answers the situation someone looked at; a day later that situation has changed.
APPROVAL_VALID_FOR = timedelta(hours=24)


class ApprovalLedger:
    """The approvals of one deployment, one line per event ("approved" or "used")."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with (self.path.with_suffix(self.path.suffix + ".lock")).open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _events(self) -> list[dict]:
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text().splitlines() if line.strip()]

    def _append(self, event: dict) -> None:
        with self.path.open("a") as fh:
            fh.write(json.dumps(event) + "\n")

    def record(self, ip: str, kind: str, approved_by: str, note: str = "") -> dict:
        """A person's yes to one move of one IP; ValueError for an unknown kind or a missing name."""
        if not ip.strip():
            raise ValueError("an approval names the IP it is for")
        approval = Approval(kind, approved_by.strip(), note)
        event = {"event": "approved", "id": uuid.uuid4().hex[:12], "ip": ip.strip(), **asdict(approval)}
        with self._locked():
            self._append(event)
        return event

    def pending(self, ip: str, now: datetime | None = None) -> list[dict]:
        """Approvals for `ip` not yet used and not older than APPROVAL_VALID_FOR."""
        now = now or datetime.now(UTC)
        events = self._events()
        used = {e["id"] for e in events if e["event"] == "used"}
        return [e for e in events if e["event"] == "approved" and e["ip"] == ip and e["id"] not in used
                and now - datetime.fromisoformat(e["at"]) <= APPROVAL_VALID_FOR]

    def approvals_for(self, ip: str, now: datetime | None = None) -> tuple[Approval, ...]:
        return tuple(Approval(e["kind"], e["approved_by"], e["note"], e["at"]) for e in self.pending(ip, now))

    def mark_used(self, ip: str, used: tuple[Approval, ...], plan: str) -> None:
        """Consume the approvals a decision used (matched on kind, approver and time)."""
        if not used:
            return
        with self._locked():
            pending = self.pending(ip)
            for approval in used:
                match = next((e for e in pending if (e["kind"], e["approved_by"], e["at"]) ==
                              (approval.kind, approval.approved_by, approval.at)), None)
                if match is not None:
                    pending.remove(match)
                    self._append({"event": "used", "id": match["id"], "ip": ip, "plan": plan,
                                  "at": datetime.now(UTC).isoformat(timespec="seconds")})

    def history(self, ip: str | None = None) -> list[dict]:
        return [e for e in self._events() if ip is None or e["ip"] == ip]
