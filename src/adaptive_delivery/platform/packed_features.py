"""Packed online features: one binary vector per entity and feature view, kept in Redis beside
Feast's own rows and read for a whole batch with one pipelined round trip.

Why: Feast's Python online read converts every value through protobuf and a dict (measured: most
of a 1,000-message decision by entity keys). Here a view's row is a little-endian float64 vector
(strings as codes into the view's vocabulary), so a batch decodes with one `np.frombuffer`.

Feast stays the source of truth: `refresh` copies what Feast's Redis online store holds (read
through Feast's public `get_online_features`), after each materialisation, with each Feast key's
remaining lifetime; a packed vector exists exactly where Feast has a value for the entity in that
view. The reader answers what Feast's read answers, value for value: Feast applies no view TTL on
online reads (only Redis key expiry, which the copies share), and an entity Feast holds nothing
for reads as missing values. Array features are not packed: a service that reads one keeps Feast's
read (the scalar features of a view are packed all the same). One refresh at a time per project
(materialisation is one scheduled job): two at once could give one string two codes. The writer
runs in the platform environment (Feast); the reader needs only redis and numpy.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

KEY_PREFIX = "adpv"
KEY_SEPARATOR = "\x1f"  # between the values of a view's join keys (unit separator: never in a key)
SCAN_BATCH = 1_000
READ_BATCH = 2_000  # entities per Feast read while refreshing


def _key(project: str, *parts: str) -> str:
    return ":".join((KEY_PREFIX, project, *parts))


def schema_key(project: str, view: str) -> str:
    return _key(project, "schema", view)


def vocabulary_key(project: str, view: str) -> str:
    return _key(project, "vocab", view)


def row_key(project: str, view: str, entity: str) -> str:
    return _key(project, "row", view, entity)


@dataclass(frozen=True)
class ViewSchema:
    """What a packed vector of one view holds, in order; `strings` are stored as vocabulary codes."""

    view: str
    join_keys: tuple[str, ...]
    features: tuple[str, ...]
    strings: tuple[str, ...]

    def to_json(self) -> str:
        return json.dumps({"view": self.view, "join_keys": list(self.join_keys), "features": list(self.features),
                           "strings": list(self.strings)})

    @classmethod
    def from_json(cls, text: str | bytes) -> ViewSchema:
        raw = json.loads(text)
        return cls(raw["view"], tuple(raw["join_keys"]), tuple(raw["features"]), tuple(raw["strings"]))


def entity_strings(frame: pd.DataFrame, join_keys: Sequence[str]) -> np.ndarray:
    """Each row's entity, as the packed keys name it: its join-key values joined by KEY_SEPARATOR."""
    if len(join_keys) == 1:
        return frame[join_keys[0]].astype(str).to_numpy(dtype=object)
    parts = [frame[k].astype(str).to_numpy(dtype=object) for k in join_keys]
    return np.array([KEY_SEPARATOR.join(values) for values in zip(*parts, strict=True)], dtype=object)


def factorize_entities(keys: Sequence[np.ndarray], memo: dict | None = None) -> tuple[np.ndarray, list[str]]:
    """Each row's entity as a code into the distinct entities, and those entities named as the
    packed keys name them (join-key values joined by KEY_SEPARATOR), each string built once.
    `memo` keeps each key column's factorisation for the next view that joins on it."""
    memo = {} if memo is None else memo

    def factorised(column) -> tuple[np.ndarray, np.ndarray]:
        if id(column) not in memo:
            memo[id(column)] = pd.factorize(np.asarray(column, dtype=object), use_na_sentinel=False)
        return memo[id(column)]

    parts = [factorised(k) for k in keys]
    if len(parts) == 1:
        codes, unique = parts[0]
        return codes, [str(v) for v in unique]
    combined = np.zeros(len(parts[0][0]), dtype=np.int64)
    for codes, unique in parts:
        combined = combined * len(unique) + codes
    codes, distinct = pd.factorize(combined)
    first = np.empty(len(distinct), dtype=np.int64)
    first[codes] = np.arange(len(codes))  # a row of each entity (any: they all name it alike)
    names = [KEY_SEPARATOR.join(str(unique[c[i]]) for c, unique in parts) for i in first.tolist()]
    return codes, names


# ---- the codec ------------------------------------------------------------------------------------
def encode_rows(schema: ViewSchema, columns: Mapping[str, Sequence], vocabulary: dict[str, int]) -> np.ndarray:
    """A float64 matrix (rows x features) of Feast's values: None as NaN, booleans as 0/1, strings
    as codes into `vocabulary`, which gains the strings it did not hold."""
    n = len(next(iter(columns.values()))) if columns else 0
    out = np.full((n, len(schema.features)), np.nan)
    strings = set(schema.strings)
    for j, name in enumerate(schema.features):
        values = columns[name]
        if name in strings:
            out[:, j] = [np.nan if v is None else vocabulary.setdefault(str(v), len(vocabulary)) for v in values]
        else:
            out[:, j] = [np.nan if v is None else float(v) for v in values]
    return out


def decode_blobs(blobs: Sequence[bytes | None], width: int) -> np.ndarray:
    """The matrix of packed vectors (one row per blob), NaN rows where there was none."""
    got = [b for b in blobs if b is not None]
    if len(got) == len(blobs):  # every entity known: one copy, no mask
        return np.frombuffer(b"".join(got), dtype="<f8").reshape(len(blobs), width).copy()
    out = np.full((len(blobs), width), np.nan)
    if got:
        present = np.array([b is not None for b in blobs], dtype=bool)
        out[present] = np.frombuffer(b"".join(got), dtype="<f8").reshape(-1, width)
    return out


# ---- writing, from Feast's online store -------------------------------------------------------------
def redis_client(connection_string: str):
    """A client from Feast's `connection_string` ('host:port[,db=N][,password=…][,ssl=true]')."""
    import redis

    host_port, *params = [p.strip() for p in connection_string.split(",") if p.strip()]
    host, _, port = host_port.rpartition(":")
    kwargs: dict = {}
    for param in params:
        name, _, value = param.partition("=")
        if name == "db":
            kwargs["db"] = int(value)
        elif name == "password":
            kwargs["password"] = value
        elif name == "ssl":
            kwargs["ssl"] = value.lower() == "true"
    return redis.Redis(host=host or "127.0.0.1", port=int(port or 6379), **kwargs)


def uses_redis(store) -> bool:
    """A single Redis server (a Redis Cluster or Sentinel keeps Feast's read: a pipelined MGET of
    keys on many shards is not one round trip)."""
    online = store.config.online_store
    kind = str(getattr(getattr(online, "redis_type", "redis"), "value", getattr(online, "redis_type", "redis")))
    return getattr(online, "type", "") == "redis" and kind == "redis"


def _string_features(view) -> tuple[str, ...]:
    from feast.types import String

    return tuple(f.name for f in view.features if f.dtype == String)


def scalar_features(view) -> tuple[str, ...]:
    """What a packed vector holds: an array feature (a heatmap) has no fixed place in a vector."""
    from feast.types import Array

    return tuple(f.name for f in view.features if not isinstance(f.dtype, Array))


def _feast_entities(client, project: str) -> dict[tuple[str, ...], list[tuple[dict[str, str], bytes]]]:
    """Every entity Feast's Redis store holds for the project, by its sorted join keys: (join-key
    values, Feast's key). One scan serves every view."""
    from feast.infra.key_encoding_utils import deserialize_entity_key

    suffix = project.encode()
    found: dict[tuple[str, ...], list[tuple[dict[str, str], bytes]]] = {}
    for key in client.scan_iter(match=b"*" + suffix, count=SCAN_BATCH):
        if key.startswith(KEY_PREFIX.encode() + b":"):
            continue
        try:
            entity = deserialize_entity_key(key[: -len(suffix)], entity_key_serialization_version=3)
        except Exception:  # noqa: BLE001 - not a Feast entity key of this project
            continue
        values = {k: v.string_val for k, v in zip(entity.join_keys, entity.entity_values, strict=True)}
        found.setdefault(tuple(sorted(values)), []).append((values, key))
    return found


def refresh(store, views: Iterable[str] | None = None) -> dict[str, int]:
    """Copy Feast's online rows of `views` (default: every online view with scalar features) into
    packed vectors; returns the vectors written per view. A no-op for a non-Redis online store."""
    if not uses_redis(store):
        return {}
    client = redis_client(store.config.online_store.connection_string)
    wanted = set(views) if views is not None else None
    chosen = [v for v in store.list_feature_views()
              if v.online and (wanted is None or v.name in wanted) and scalar_features(v)]
    entities = _feast_entities(client, store.project) if chosen else {}
    return {view.name: _refresh_view(store, client, view, entities.get(tuple(sorted(view.join_keys)), []))
            for view in chosen}


def _redis_entities(store, view, keys: pd.DataFrame) -> list[tuple[dict[str, str], bytes]]:
    """Each entity of `keys` (a frame of the view's join keys) with its Feast Redis key."""
    from feast.infra.online_stores.helpers import _redis_key
    from feast.protos.feast.types.EntityKey_pb2 import EntityKey
    from feast.protos.feast.types.Value_pb2 import Value

    join_keys = sorted(view.join_keys)  # Feast's keys name the join keys in sorted order
    entities = []
    for values in keys[join_keys].astype(str).to_dict("records"):
        key = EntityKey(join_keys=join_keys, entity_values=[Value(string_val=values[k]) for k in join_keys])
        entities.append((values, _redis_key(store.project, key, entity_key_serialization_version=3)))
    return entities


def refresh_entities(store, view_name: str, keys: pd.DataFrame) -> int:
    """`refresh` for some entities of one view (`keys`: a frame of its join keys), such as those a
    push just wrote; the vectors written. A no-op for a non-Redis online store."""
    if not uses_redis(store) or keys.empty:
        return 0
    view = store.get_feature_view(view_name)
    client = redis_client(store.config.online_store.connection_string)
    return _refresh_view(store, client, view, _redis_entities(store, view, keys))


def write_latest(store, view, rows: pd.DataFrame, write: Callable[[], None]) -> int:
    """Write `rows` (one per entity) to the online store so that each lands as its entity's latest,
    and on a Redis online store pack their vectors; the vectors written.

    Elsewhere (the SQLite store writes every row it is given) `write`, Feast's online write, runs.
    On Redis the rows are written in Feast's own format by `write_feast_rows`: Feast's Redis store
    keeps a row unless the new one is strictly later, where a push source's row for the same minute
    or window carries newer counts, and its write converts every value through several layers of
    Python (most of a subscriber snapshot's time). The vectors are packed from the rows themselves
    rather than read back through Feast's online read, where Feast stores every packed feature as
    it is given (64-bit numbers, booleans, text); otherwise they are read back as
    `refresh_entities` does."""
    if not uses_redis(store) or rows.empty:
        write()
        return 0
    rows = rows.reset_index(drop=True)
    client = redis_client(store.config.online_store.connection_string)
    entities = _redis_entities(store, view, rows)
    write_feast_rows(store, client, view, rows, [key for _, key in entities])
    return _refresh_view(store, client, view, entities, rows if _stored_as_given(view) else None)


def write_feast_rows(store, client, view, rows: pd.DataFrame, keys: Sequence[bytes]) -> None:
    """Write rows into Feast's Redis online store as Feast's online write stores them (each entity's
    hash: a field per feature, named by Feast's hash of the view and feature, holding the value's
    serialised proto, and the event time under `_ts:<view>`; the key's expiry where the store sets
    one), each as its entity's latest whatever was there. `keys`: each row's Feast key. The common
    scalar types are encoded a column at a time; any other column goes through Feast's own
    conversion."""
    from feast.infra.online_stores.helpers import _mmh3
    from feast.infra.online_stores.redis import _versioned_fv_name

    name = _versioned_fv_name(view, store.config)
    columns = {_mmh3(f"{name}:{f.name}"): _encoded(rows[f.name], f.dtype) for f in view.features}
    stamps = _timestamps(rows[view.batch_source.timestamp_field])
    ttl = store.config.online_store.key_ttl_seconds
    fields, ts_field = list(columns), f"_ts:{name}"
    values = list(columns.values())
    pipe = client.pipeline(transaction=False)
    for i, key in enumerate(keys):
        mapping = {ts_field: stamps[i], **{field: column[i] for field, column in zip(fields, values, strict=True)}}
        pipe.hset(key, mapping=mapping)
        if ttl:
            pipe.expire(key, ttl)
        if (i + 1) % READ_BATCH == 0:
            pipe.execute()
    pipe.execute()


def _encoded(values: pd.Series, dtype) -> list[bytes]:
    """A column's values as Feast serialises them (a missing value as an empty proto)."""
    import pyarrow as pa
    from feast.protos.feast.types.Value_pb2 import Value
    from feast.type_map import python_values_to_proto_values
    from feast.types import Array, Float64, Int64, String

    column = pa.array(values, from_pandas=True)  # as Feast's write reads a frame: through Arrow
    if dtype == Float64 and pa.types.is_floating(column.type):
        numbers = column.cast(pa.float64()).to_numpy(zero_copy_only=False)
        cells = np.empty((len(numbers), 9), dtype=np.uint8)
        cells[:, 0] = 0x29  # field 5 (double_val), 64-bit
        cells[:, 1:] = numbers.astype("<f8").view(np.uint8).reshape(-1, 8)
        blob, missing = cells.tobytes(), np.isnan(numbers).tolist()
        return [b"" if gone else blob[9 * i:9 * i + 9] for i, gone in enumerate(missing)]
    if dtype == Int64 and pa.types.is_integer(column.type) and column.null_count == 0:
        return [Value(int64_val=v).SerializeToString() for v in column.to_pylist()]
    if dtype == String and pa.types.is_string(column.type):
        return [b"" if v is None else Value(string_val=v).SerializeToString() for v in column.to_pylist()]
    if isinstance(dtype, Array) and dtype.base_type == Float64 and pa.types.is_list(column.type) \
            and pa.types.is_floating(column.type.value_type) and column.values.null_count == 0:
        return [b"" if v is None else _double_list(v) for v in column.to_numpy(zero_copy_only=False)]
    protos = python_values_to_proto_values(column.to_numpy(zero_copy_only=False), dtype.to_value_type())
    return [p.SerializeToString() for p in protos]


def _double_list(values: np.ndarray) -> bytes:
    """A list of doubles as Feast's value proto serialises it: field 15 (double_list_val) holding a
    DoubleList, whose field 1 packs the doubles."""
    data = np.asarray(values, dtype="<f8").tobytes()
    inner = b"\n" + _varint(len(data)) + data if data else b""
    return b"z" + _varint(len(inner)) + inner


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        low, n = n & 0x7F, n >> 7
        out.append(low | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _timestamps(times: pd.Series) -> list[bytes]:
    """Each row's event time as Feast stores it (a serialised protobuf Timestamp), each distinct
    time encoded once."""
    from feast import utils
    from google.protobuf.timestamp_pb2 import Timestamp

    codes, distinct = pd.factorize(pd.to_datetime(times))
    encoded = []
    for when in distinct:
        ts = Timestamp()
        ts.FromDatetime(utils.make_tzaware(utils._coerce_datetime(when)))
        encoded.append(ts.SerializeToString())
    return [encoded[c] for c in codes]


def _stored_as_given(view) -> bool:
    from feast.types import Bool, Float64, Int64, String

    packed = set(scalar_features(view))
    return all(f.dtype in (Float64, Int64, Bool, String) for f in view.features if f.name in packed)


def _refresh_view(store, client, view, entities: list[tuple[dict[str, str], bytes]],
                  given: pd.DataFrame | None = None) -> int:
    """Pack each entity's vector: from `given` (rows aligned with `entities`, just written by
    `write_feast_rows`, so their keys expire as the store sets) or Feast's read (each key's
    remaining lifetime read from Redis)."""
    project = store.project
    join_keys = tuple(view.join_keys)
    schema = ViewSchema(view.name, join_keys, scalar_features(view), _string_features(view))
    vocab_list = [v.decode() for v in client.lrange(vocabulary_key(project, view.name), 0, -1)]
    vocabulary = {v: i for i, v in enumerate(vocab_list)}
    refs = [f"{view.name}:{f}" for f in schema.features]
    count = 0
    for start in range(0, len(entities), READ_BATCH):
        chunk = entities[start:start + READ_BATCH]
        rows = [values for values, _ in chunk]
        if given is not None:
            part = given.iloc[start:start + READ_BATCH]
            columns = {f: part[f].tolist() for f in schema.features}
        else:
            got = store.get_online_features(features=refs, entity_rows=rows, full_feature_names=True).to_dict()
            columns = {f: got[f"{view.name}__{f}"] for f in schema.features}
        matrix = encode_rows(schema, columns, vocabulary)
        new = list(vocabulary)[len(vocab_list):]
        if new:  # the strings first: a reader never meets a code its vocabulary lacks
            client.rpush(vocabulary_key(project, view.name), *new)
            vocab_list += new
        if given is not None:
            ttl_s = store.config.online_store.key_ttl_seconds
            ttls = [ttl_s * 1000 if ttl_s else -1] * len(chunk)
        else:
            pipe = client.pipeline(transaction=False)
            for _, key in chunk:
                pipe.pttl(key)
            ttls = pipe.execute()
        names = entity_strings(pd.DataFrame(rows), join_keys)
        pipe = client.pipeline(transaction=False)
        for row, name, ttl in zip(matrix, names, ttls, strict=True):
            key = row_key(project, view.name, name)
            if np.isnan(row).all():  # Feast holds nothing for it in this view
                pipe.delete(key)
                continue
            pipe.set(key, row.astype("<f8").tobytes(), px=ttl if ttl > 0 else None)
            count += 1
        pipe.execute()
    client.set(schema_key(project, view.name), schema.to_json())
    return count


def teardown(store) -> int:
    """Remove every packed key of the store's project; returns how many."""
    if not uses_redis(store):
        return 0
    client = redis_client(store.config.online_store.connection_string)
    keys = list(client.scan_iter(match=f"{KEY_PREFIX}:{store.project}:*", count=SCAN_BATCH))
    for start in range(0, len(keys), SCAN_BATCH):
        client.delete(*keys[start:start + SCAN_BATCH])
    return len(keys)


# ---- reading ------------------------------------------------------------------------------------
class PackedReader:
    """Reads the features of some views for a batch of entities in one pipelined round trip."""

    def __init__(self, client, project: str, views: Mapping[str, Sequence[str]]) -> None:
        """`views`: view -> the features wanted from it, in the order the caller wants them."""
        self.client, self.project = client, project
        self.wanted = {view: list(features) for view, features in views.items()}
        self.schemas: dict[str, ViewSchema] = {}
        self.vocabularies: dict[str, np.ndarray] = {}
        self._load()

    def _load(self) -> None:
        pipe = self.client.pipeline(transaction=False)
        for view in self.wanted:
            pipe.get(schema_key(self.project, view))
            pipe.lrange(vocabulary_key(self.project, view), 0, -1)
        got = pipe.execute()
        for i, view in enumerate(self.wanted):
            raw, vocab = got[2 * i], got[2 * i + 1]
            if raw is None:
                raise LookupError(f"no packed vectors for {view} in project {self.project}: "
                                  "materialise into a Redis online store first")
            schema = ViewSchema.from_json(raw)
            missing = sorted(set(self.wanted[view]) - set(schema.features))
            if missing:
                raise LookupError(f"the packed {view} lacks {missing[:5]}: refresh it")
            self.schemas[view] = schema
            self.vocabularies[view] = np.array([v.decode() for v in vocab] + [None], dtype=object)

    def read(self, entities: Mapping[str, np.ndarray]) -> pd.DataFrame:
        """`read_columns` as a frame."""
        columns = self.read_columns(entities)
        n = len(next(iter(entities.values()))) if entities else 0
        return pd.DataFrame(columns, index=pd.RangeIndex(n))

    def read_columns(self, entities: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The wanted features of every view (Feast's full names, `view__feature`), one value per
        message; `entities` gives, per view, each message's entity (its join-key values joined by
        KEY_SEPARATOR). Floats, NaN where Feast has no value; strings, None where missing."""
        columns, _ = self._read({view: pd.factorize(np.asarray(keys, dtype=object))
                                 for view, keys in entities.items()})
        return columns

    def read_keys(self, keys: Mapping[str, Sequence[np.ndarray]]) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        """`read_columns` from each view's join-key values (one array per join key, in the view's
        order), naming each distinct entity once; and per view, which messages' entities the store
        holds nothing for (every wanted value missing)."""
        memo: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # a key column shared by views is factorised once
        return self._read({view: factorize_entities(arrays, memo) for view, arrays in keys.items()})

    def _read(self, factorised: Mapping[str, tuple[np.ndarray, Sequence[str]]]) -> tuple[dict, dict]:
        pipe = self.client.pipeline(transaction=False)
        for view, (_, unique) in factorised.items():
            prefix = row_key(self.project, view, "")
            pipe.mget([prefix + k for k in unique])
        found = dict(zip(factorised, pipe.execute(), strict=True))
        try:
            matrices = self._decode(found)
        except LookupError:  # a refresh changed a view's features or added strings since loading
            self._load()
            matrices = self._decode(found)
        numbers: dict[str, np.ndarray] = {}
        strings: dict[str, np.ndarray] = {}
        unknown: dict[str, np.ndarray] = {}
        for view, (codes, _) in factorised.items():
            schema, distinct = self.schemas[view], matrices[view]
            index, vocabulary = {name: j for j, name in enumerate(schema.features)}, self.vocabularies[view]
            wanted = [index[name] for name in self.wanted[view]]
            unknown[view] = np.isnan(distinct[:, wanted]).all(axis=1)[codes]
            matrix = distinct[codes]
            for name, j in zip(self.wanted[view], wanted, strict=True):
                values = matrix[:, j]
                if name in schema.strings:
                    words = np.where(np.isnan(values), len(vocabulary) - 1, values).astype(np.int64)
                    strings[f"{view}__{name}"] = vocabulary[words]
                else:
                    numbers[f"{view}__{name}"] = values
        return {**numbers, **strings}, unknown  # numbers first, as Feast's frame had them

    def _decode(self, found: Mapping[str, Sequence[bytes | None]]) -> dict[str, np.ndarray]:
        """Each view's vectors as a matrix; LookupError where they disagree with what was loaded."""
        matrices = {}
        for view, blobs in found.items():
            width = len(self.schemas[view].features)
            if not {len(b) for b in blobs if b is not None} <= {8 * width}:
                raise LookupError(f"packed {view} vectors are not {width} values wide: refreshed since loading")
            matrices[view] = decode_blobs(blobs, width)
            if self._max_code(view, matrices[view]) >= len(self.vocabularies[view]) - 1:
                raise LookupError(f"packed {view} vectors hold string codes its vocabulary lacks")
        return matrices

    def _max_code(self, view: str, matrix: np.ndarray) -> int:
        schema = self.schemas[view]
        if not schema.strings or not len(matrix):
            return -1
        codes = matrix[:, [schema.features.index(s) for s in schema.strings]]
        return int(np.nanmax(codes)) if np.isfinite(codes).any() else -1
