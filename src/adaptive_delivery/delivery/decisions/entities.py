"""Requests by entity keys: a sending system that knows who it mails (subscriber, sending domain,
sending IP, provider, content) rather than their features gets its features read from the Feast
online store by the decision service itself.

Request inputs, one value per message:
- required: `subscriber_id`, `sending_domain`, `sending_ip`, `provider`, `content_id` (strings) and
  `send_rate_per_min` (the rate the message would go out at, a finite number ≥ 0);
- optional: `send_ts` (seconds since the epoch, UTC; default: the moment the request arrives),
  `campaign_type` (default `marketing`; `transactional` sets the model's `is_transactional`),
  `message_id`.

Unknown entities: an entity the online store holds nothing for (a subscriber who signed up today, a
new content id, a sending IP never seen with this provider) gets **missing values** for its
features — exactly what a training row gets for an entity without history (the point-in-time join
finds nothing), so the model answers as it learned to for newcomers: the trees follow their learned
missing-value branches, the network imputes its training medians with a missing indicator. The
response's `defaults` output names, per message, the entities that were filled this way
(`subscriber,content`), empty when every entity was known. Nothing here imports a server.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from adaptive_delivery.delivery.decisions.service import (
    MAX_BATCH,
    MESSAGE_ID,
    RequestError,
    batch_size,
)
from adaptive_delivery.delivery.features import definitions as fd
from adaptive_delivery.platform import packed_features as pk

log = logging.getLogger(__name__)

ENTITY_KEYS = ("subscriber_id", "sending_domain", "sending_ip", "provider", "content_id")
REQUIRED = (*ENTITY_KEYS, "send_rate_per_min")
OPTIONAL = ("send_ts", "campaign_type", MESSAGE_ID)
DEFAULT_CAMPAIGN_TYPE = "marketing"
LAST_SECOND = 9_223_372_035.0  # 2262-04-11T23:47:15Z: the last whole second a nanosecond timestamp holds
# Each stored view of a feature service belongs to one entity (a pair for sender × provider).
ENTITY_OF_VIEW = {
    "subscriber_features": "subscriber",
    "sender_domain_features": "sender_domain",
    "sender_ip_features": "sender_ip",
    "sender_provider_features": "sender_provider",
    "provider_features": "provider",
    "content_features": "content",
    "content_provider_features": "content_provider",
}
TEMPORAL_VIEW = "temporal_features"  # on demand, from send_ts: computed here with the view's own function


def is_entity_request(columns: Mapping[str, object]) -> bool:
    """A request names entities when it carries a subscriber id (feature requests never do)."""
    return "subscriber_id" in columns


def entity_messages(columns: Mapping[str, Sequence | np.ndarray], max_batch: int = MAX_BATCH,
                    now: float | None = None) -> pd.DataFrame:
    """Validated messages from an entity-key request: the keys, send time (UTC), send rate,
    `is_transactional` and message id. Raises RequestError with what to fix."""
    frame = pd.DataFrame(message_columns(columns, max_batch, now))
    frame["send_ts"] = pd.to_datetime(frame["send_ts"], utc=True)
    return frame


def message_columns(columns: Mapping[str, Sequence | np.ndarray], max_batch: int = MAX_BATCH,
                    now: float | None = None) -> dict[str, np.ndarray]:
    """`entity_messages` as one array per field (`send_ts` as UTC datetime64[ns]): what the
    decision service works on, no frame built."""
    missing = [c for c in REQUIRED if c not in columns]
    if missing:
        raise RequestError(f"an entity-key request needs {list(REQUIRED)}; missing {missing}")
    unknown = sorted(set(columns) - set(REQUIRED) - set(OPTIONAL))
    if unknown:
        raise RequestError(f"unknown inputs for an entity-key request: {unknown[:10]} "
                           f"(send either entity keys {list(REQUIRED)} or every feature value, not both)")
    n = batch_size(columns, max_batch)
    out = {key: _keys(key, columns[key]) for key in ENTITY_KEYS}
    out["send_rate_per_min"] = _numbers("send_rate_per_min", columns["send_rate_per_min"], minimum=0.0)
    if "send_ts" in columns:
        seconds = _numbers("send_ts", columns["send_ts"], minimum=0.0)
        late = np.flatnonzero(seconds > LAST_SECOND)
        if len(late):
            raise RequestError(f"input 'send_ts' must be seconds since the epoch up to {LAST_SECOND:.0f} "
                               f"(year 2262); rows {late[:5].tolist()} are not")
    else:
        seconds = np.full(n, time.time() if now is None else now)
    out["send_ts"] = _moments(seconds)
    kinds = (_keys("campaign_type", columns["campaign_type"]) if "campaign_type" in columns
             else np.full(n, DEFAULT_CAMPAIGN_TYPE, dtype=object))
    out["is_transactional"] = (kinds == "transactional").astype(float)
    out[MESSAGE_ID] = _texts(columns[MESSAGE_ID]) if MESSAGE_ID in columns else np.arange(n).astype(str).astype(object)
    return out


def _moments(seconds: np.ndarray) -> np.ndarray:
    """Seconds since the epoch as datetime64[ns], whole seconds exactly (pandas' to_datetime costs
    0.4 ms a batch here)."""
    whole = np.floor(seconds)
    nanos = whole.astype(np.int64) * 1_000_000_000 + np.round((seconds - whole) * 1e9).astype(np.int64)
    return nanos.astype("datetime64[ns]")


def _texts(values) -> np.ndarray:
    """Values as an object array of str (converted one by one only where some are not str)."""
    values = np.asarray(values, dtype=object)
    return values if set(map(type, values)) <= {str} else np.array([str(v) for v in values], dtype=object)


def _keys(name: str, values) -> np.ndarray:
    values = np.asarray(values, dtype=object)
    if values.ndim != 1:
        raise RequestError(f"input {name!r} must be one value per message, got shape {values.shape}")
    text = values if bytes not in set(map(type, values)) else np.array(
        [v.decode() if isinstance(v, bytes) else v for v in values], dtype=object)
    if set(map(type, text)) <= {str} and (not len(text) or min(map(len, map(str.strip, text))) > 0):
        return text  # the usual case, checked in C; the loop below only names the offending rows
    bad = [i for i, v in enumerate(text) if not isinstance(v, str) or not v.strip()]
    raise RequestError(f"input {name!r} must be a non-empty string (BYTES) per message; rows {bad[:5]} are not")


def _numbers(name: str, values, minimum: float) -> np.ndarray:
    values = np.asarray(values, dtype=object)
    if values.ndim != 1:
        raise RequestError(f"input {name!r} must be one value per message, got shape {values.shape}")
    try:
        numbers = values.astype(float)
    except (TypeError, ValueError) as exc:
        raise RequestError(f"input {name!r} must be numeric: {exc}") from exc
    bad = np.flatnonzero(~np.isfinite(numbers) | (numbers < minimum))
    if len(bad):
        raise RequestError(f"input {name!r} must be finite and ≥ {minimum:g}; rows {bad[:5].tolist()} are not")
    return numbers


class OnlineFeatures:
    """Reads a model's feature service from a Feast online store for entity-key requests: from the
    packed vectors beside a Redis online store (`platform.packed_features`, one round trip, no
    per-value work) where they exist, otherwise through Feast's own read; both answer alike."""

    def __init__(self, store, service_name: str, packed: bool = True) -> None:
        self.store = store
        service = store.get_feature_service(service_name)
        self.views: dict[str, list[str]] = {}  # stored view -> its feature columns (full names)
        refs = []
        for projection in service.feature_view_projections:
            view = projection.name_to_use()
            if view == TEMPORAL_VIEW:
                continue
            if view not in ENTITY_OF_VIEW:
                raise ValueError(f"feature service {service_name} reads {view}, which no entity owns")
            self.views[view] = [f"{view}__{f.name}" for f in projection.features]
            refs += [f"{view}:{f.name}" for f in projection.features]
        self.refs = refs
        self.packed = _packed_reader(store, self.views) if packed else None

    def stored_rows(self, messages: pd.DataFrame | Mapping[str, np.ndarray]) -> pd.DataFrame:
        """The stored views' features of each message (Feast's full names), as Feast answers them."""
        columns, _ = self._stored(messages)
        return pd.DataFrame(columns, index=pd.RangeIndex(len(messages[ENTITY_KEYS[0]])))

    def _stored(self, messages: pd.DataFrame | Mapping[str, np.ndarray]) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """`stored_rows` as one array per column (no frame: the decision path never needs one), and
        per message and view whether the store knew nothing of the entity (every value missing)."""
        if self.packed is not None:
            keys = {view: [messages[k] for k in self.packed.schemas[view].join_keys] for view in self.views}
            try:
                columns, unknown = self.packed.read_keys(keys)
                return columns, np.column_stack([unknown[view] for view in self.views])
            except LookupError as exc:  # a refresh under way: Feast's own read answers alike
                log.warning("reading features through Feast this time: %s", exc)
        entity_rows = [dict(zip(ENTITY_KEYS, row, strict=True))
                       for row in zip(*(np.asarray(messages[k], dtype=object).tolist() for k in ENTITY_KEYS), strict=True)]
        got = self.store.get_online_features(features=self.refs, entity_rows=entity_rows,
                                             full_feature_names=True).to_dict()
        columns = {name: pd.Series(values).to_numpy() for name, values in got.items()}  # as a frame types them
        unknown = np.column_stack([np.logical_and.reduce([pd.isna(columns[c]) for c in names])
                                   for names in self.views.values()])
        return columns, unknown

    def rows(self, messages: pd.DataFrame | Mapping[str, np.ndarray]) -> tuple[dict[str, np.ndarray], list[str]]:
        """Feature columns (Feast's full names, the request fields, the temporal features) and, per
        message, the entities that got missing values because the store knows nothing of them."""
        columns, unknown = self._stored(messages)
        moments = messages["send_ts"]
        moments = (moments.to_numpy(dtype="datetime64[ns]") if isinstance(moments, pd.Series)
                   else np.asarray(moments, dtype="datetime64[ns]"))
        for name, values in fd.temporal_columns(moments).items():
            columns[f"{TEMPORAL_VIEW}__{name}"] = values
        for key in ENTITY_KEYS:  # the keys themselves (MDL-001 reads `provider` as a feature)
            columns[key] = np.asarray(messages[key], dtype=object)
        columns["send_rate_per_min"] = np.asarray(messages["send_rate_per_min"], dtype=float)
        columns["is_transactional"] = np.asarray(messages["is_transactional"], dtype=float)
        names = [ENTITY_OF_VIEW[v] for v in self.views]
        masks = unknown.astype(np.int64) @ (1 << np.arange(len(names), dtype=np.int64))  # one code per set
        said = {int(m): ",".join(n for j, n in enumerate(names) if m >> j & 1) for m in np.unique(masks)}
        return columns, [said[m] for m in masks.tolist()]


def _packed_reader(store, views: Mapping[str, list[str]]) -> pk.PackedReader | None:
    """The packed reader of these views where the online store is Redis and holds them; else None
    (Feast's read serves), saying why."""
    if not pk.uses_redis(store):
        return None
    wanted = {view: [c.split("__", 1)[1] for c in columns] for view, columns in views.items()}
    try:
        return pk.PackedReader(pk.redis_client(store.config.online_store.connection_string), store.project, wanted)
    except LookupError as exc:
        log.warning("reading features through Feast: %s", exc)
        return None


def open_online(home: str, data: str, profile: str, project: str, service_name: str,
                packed: bool = True) -> OnlineFeatures:
    """The online reader of a feature service, on a feature-store profile (see features.store)."""
    from adaptive_delivery.platform.feature_store import open_online_store

    return OnlineFeatures(open_online_store(home, data, profile, project), service_name, packed=packed)
