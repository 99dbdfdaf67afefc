"""KumoMTA's traffic shaping, read from KumoMTA's own TOML files and run as a throttling baseline.

KumoMTA (https://docs.kumomta.com/userguide/configuration/trafficshaping/) sends to each site
over a bounded number of connections at up to `max_message_rate`, and its Traffic Shaping
Automation (TSA) watches SMTP replies: when a reply matches a rule's regex often enough within an
hour (`trigger`), it suspends the queue or overrides a setting for `duration`. The rules only ever
slow down; when they expire, the configured settings come back.

The shipped files (package data, Apache-2.0, see data/kumomta/NOTICE) are read as they are. The
simulated providers map onto KumoMTA's provider blocks the way their MX hosts would roll up.
"""

from __future__ import annotations

import re
import tomllib
from collections import deque
from dataclasses import dataclass, field
from importlib import resources

SHAPING_FILES = ("shaping.toml", "community-shaping.toml")
# Which KumoMTA sections govern each simulated provider (by MX rollup: AOL's MX is Yahoo's).
KUMO_SECTIONS = {
    "gmail": ("provider.google", "provider.gmail"),
    "yahoo": ("provider.yahoo",),
    "aol": ("provider.yahoo",),
    "outlook": ("provider.outlook",),
    "apple": ("provider.apple",),
    "comcast": ("comcast.net",),
}
# Opening a connection (TCP, EHLO, STARTTLS) costs about this many reply round trips.
CONNECTION_SETUP_ROUND_TRIPS = 3.0
_UNITS = {"s": 1, "sec": 1, "second": 1, "seconds": 1, "m": 60, "min": 60, "minute": 60, "minutes": 60,
          "h": 3600, "hr": 3600, "hour": 3600, "hours": 3600, "d": 86_400, "day": 86_400, "days": 86_400}


def parse_rate_per_min(text: str | int | float) -> float:
    """'100/s', '10/minute', '10000/h' -> messages per minute."""
    if isinstance(text, (int, float)):
        return float(text)
    count, _, unit = str(text).partition("/")
    return float(count) * 60.0 / _UNITS[unit.strip().lower()]


def parse_duration_s(text: str) -> float:
    """'90m', '2 hours', '5 minutes' -> seconds."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]+)\s*", str(text))
    if not m:
        raise ValueError(f"unreadable KumoMTA duration {text!r}")
    return float(m.group(1)) * _UNITS[m.group(2).lower()]


@dataclass(frozen=True)
class AutomationRule:
    section: str
    pattern: re.Pattern[str]
    actions: tuple[tuple[str, str, object], ...]  # ("suspend", "", None) or ("set", name, value)
    per_hour: int  # matches within an hour that fire it (1 = Immediate)
    duration_s: float


@dataclass(frozen=True)
class Shaping:
    """The egress settings and automation rules one provider gets."""

    provider: str
    connection_limit: int
    max_message_rate_per_min: float
    max_deliveries_per_connection: int
    rules: tuple[AutomationRule, ...]
    skipped_rules: tuple[str, ...] = ()  # rules Python cannot run, with the reason


def load_shaping_files(names: tuple[str, ...] = SHAPING_FILES) -> list[dict]:
    base = resources.files("adaptive_delivery.delivery.data").joinpath("kumomta")
    return [tomllib.loads(base.joinpath(n).read_text()) for n in names]


def _section(doc: dict, dotted: str) -> dict:
    if dotted.startswith("provider."):
        return doc.get("provider", {}).get(dotted.split(".", 1)[1], {})
    return doc.get(dotted, {})


def _actions(raw: object) -> tuple[tuple[str, str, object], ...]:
    items = raw if isinstance(raw, list) else [raw]
    out: list[tuple[str, str, object]] = []
    for item in items:
        if item in ("Suspend", "SuspendTenant", "SuspendCampaign"):
            out.append(("suspend", "", None))
        elif isinstance(item, dict) and "SetConfig" in item:
            out.append(("set", item["SetConfig"]["name"], item["SetConfig"]["value"]))
        else:
            raise ValueError(f"unsupported automation action {item!r}")
    return tuple(out)


def _trigger_per_hour(raw: object) -> int:
    if raw is None or raw == "Immediate":
        return 1
    if isinstance(raw, dict) and "Threshold" in raw:
        count, _, unit = str(raw["Threshold"]).partition("/")
        if _UNITS[unit.strip().lower()] != 3600:
            raise ValueError(f"threshold per {unit!r} is not per hour")
        return int(count)
    raise ValueError(f"unsupported trigger {raw!r}")


def shaping_for(provider: str, docs: list[dict] | None = None) -> Shaping:
    """Merge the default block and the provider's blocks of every file, in load order."""
    docs = docs if docs is not None else load_shaping_files()
    settings: dict[str, object] = {}
    rules: list[AutomationRule] = []
    skipped: list[str] = []
    sections = ("default", *KUMO_SECTIONS.get(provider, ()))
    for doc in docs:
        for name in sections:
            block = _section(doc, name)
            settings.update({k: v for k, v in block.items() if k not in ("automation", "match")})
            for raw in block.get("automation", []):
                regexes = raw["regex"] if isinstance(raw["regex"], list) else [raw["regex"]]
                try:
                    actions = _actions(raw["action"])
                    per_hour = _trigger_per_hour(raw.get("trigger"))
                    duration = parse_duration_s(raw["duration"])
                except (ValueError, KeyError) as err:
                    skipped.append(f"{name}: {regexes[0]!r}: {err}")
                    continue
                for rx in regexes:
                    try:
                        pattern = re.compile(rx)
                    except re.error as err:
                        skipped.append(f"{name}: {rx!r}: {err}")
                        continue
                    rules.append(AutomationRule(name, pattern, actions, per_hour, duration))
    connections = int(settings.get("provider_connection_limit", settings.get("connection_limit", 10)))
    return Shaping(
        provider=provider,
        connection_limit=connections,
        max_message_rate_per_min=parse_rate_per_min(settings.get("max_message_rate", "100/s")),
        max_deliveries_per_connection=int(settings.get("max_deliveries_per_connection", 1024)),
        rules=tuple(rules),
        skipped_rules=tuple(skipped),
    )


@dataclass
class TrafficShaper:
    """One provider's egress queue under KumoMTA's shaping and automation, stepped by the caller.

    `rate_per_min(latency_ms)` is what the queue can push now: nothing while suspended, else the
    lower of the message-rate limit and what the connections carry at the observed reply latency.
    `observe(replies, now_s)` runs the automation rules over a window's reply lines.
    """

    shaping: Shaping
    rate_override_per_min: float | None = None  # an operator's max_message_rate for this provider
    # An operator's floor on every rule's trigger (matches within an hour): 1 fires on the first
    # match, as the shipped rules do; more keeps automation off a provider's background refusals.
    trigger_floor: int = 1
    overrides: dict[str, tuple[object, float]] = field(default_factory=dict)
    suspended_until: float = -1.0
    matches: dict[int, deque[tuple[float, int]]] = field(default_factory=dict)
    fired: list[tuple[float, str, str]] = field(default_factory=list)  # (time, section, regex)

    def _setting(self, name: str, configured: object, now_s: float) -> object:
        value, until = self.overrides.get(name, (None, -1.0))
        return value if until > now_s else configured

    def rate_per_min(self, latency_ms: float, now_s: float) -> float:
        if now_s < self.suspended_until:
            return 0.0
        s = self.shaping
        configured_rate = self.rate_override_per_min if self.rate_override_per_min is not None else s.max_message_rate_per_min
        max_rate = parse_rate_per_min(self._setting("max_message_rate", configured_rate, now_s))
        connections = int(self._setting("connection_limit", s.connection_limit, now_s))
        per_conn = int(self._setting("max_deliveries_per_connection", s.max_deliveries_per_connection, now_s))
        seconds_per_message = latency_ms / 1000.0 * (1.0 + CONNECTION_SETUP_ROUND_TRIPS / max(per_conn, 1))
        return min(max_rate, connections * 60.0 / seconds_per_message)

    def observe(self, replies: list[tuple[str, int]], now_s: float) -> None:
        for i, rule in enumerate(self.shaping.rules):
            hits = sum(count for line, count in replies if rule.pattern.search(line))
            if not hits:
                continue
            window = self.matches.setdefault(i, deque())
            window.append((now_s, hits))
            while window and window[0][0] <= now_s - 3600.0:
                window.popleft()
            if sum(h for _, h in window) >= max(rule.per_hour, self.trigger_floor):
                self._fire(rule, now_s)
                window.clear()

    def _fire(self, rule: AutomationRule, now_s: float) -> None:
        until = now_s + rule.duration_s
        for kind, name, value in rule.actions:
            if kind == "suspend":
                self.suspended_until = max(self.suspended_until, until)
            else:
                self.overrides[name] = (value, until)
        self.fired.append((now_s, rule.section, rule.pattern.pattern))
