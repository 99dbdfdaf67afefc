"""The packed feature codec: Feast's values (None, numbers, booleans, strings) survive a vector
and its bytes exactly; absent vectors read as missing; a vocabulary only grows."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from adaptive_delivery.platform.packed_features import (
    KEY_SEPARATOR,
    ViewSchema,
    decode_blobs,
    encode_rows,
    entity_strings,
    factorize_entities,
)

SCHEMA = ViewSchema("v", ("k",), ("rate", "count", "flag", "name"), ("name",))
numbers = st.one_of(st.none(), st.floats(allow_nan=False, allow_infinity=False, width=64))
counts = st.one_of(st.none(), st.integers(-(2**53), 2**53))
flags = st.one_of(st.none(), st.booleans())
names = st.one_of(st.none(), st.text(min_size=1, max_size=8))


@given(st.lists(st.tuples(numbers, counts, flags, names), min_size=1, max_size=40))
@settings(max_examples=150, deadline=None)
def test_values_survive_the_vector_and_its_bytes(rows):
    columns = {name: [r[i] for r in rows] for i, name in enumerate(SCHEMA.features)}
    vocabulary: dict[str, int] = {}
    matrix = encode_rows(SCHEMA, columns, vocabulary)
    blobs = [row.astype("<f8").tobytes() for row in matrix]
    decoded = decode_blobs(blobs, len(SCHEMA.features))
    words = np.array(list(vocabulary) + [None], dtype=object)
    for i, (rate, count, flag, name) in enumerate(rows):
        got = decoded[i]
        assert (np.isnan(got[0]) if rate is None else got[0] == rate)
        assert (np.isnan(got[1]) if count is None else got[1] == count)
        assert (np.isnan(got[2]) if flag is None else got[2] == float(flag))
        code = -1 if np.isnan(got[3]) else int(got[3])
        assert words[code] == name


def test_an_absent_vector_reads_as_missing_and_rows_keep_their_places():
    present = np.array([1.0, 2.0, 3.0, 4.0])
    decoded = decode_blobs([None, present.tobytes(), None], 4)
    assert np.isnan(decoded[[0, 2]]).all() and (decoded[1] == present).all()
    assert decode_blobs([], 4).shape == (0, 4)


def test_a_vocabulary_keeps_its_codes_and_only_grows():
    vocabulary = {"gmail": 0}
    encode_rows(SCHEMA, {"rate": [1.0, 2.0], "count": [1, 2], "flag": [True, False], "name": ["yahoo", "gmail"]},
                vocabulary)
    assert vocabulary == {"gmail": 0, "yahoo": 1}


def test_an_entity_of_two_keys_is_named_by_both():
    import pandas as pd

    frame = pd.DataFrame({"sending_ip": ["1.2.3.4", "1.2.3.4"], "provider": ["gmail", "yahoo"]})
    assert entity_strings(frame, ("sending_ip", "provider")).tolist() == [
        f"1.2.3.4{KEY_SEPARATOR}gmail", f"1.2.3.4{KEY_SEPARATOR}yahoo"]
    assert entity_strings(frame, ("provider",)).tolist() == ["gmail", "yahoo"]
    assert ViewSchema.from_json(SCHEMA.to_json()) == SCHEMA


def test_only_a_single_redis_server_is_read_packed():
    from types import SimpleNamespace

    from adaptive_delivery.platform.packed_features import uses_redis

    def store(**online):
        return SimpleNamespace(config=SimpleNamespace(online_store=SimpleNamespace(**online)))

    assert uses_redis(store(type="redis", redis_type="redis"))
    assert not uses_redis(store(type="redis", redis_type="redis_cluster"))
    assert not uses_redis(store(type="sqlite"))


@given(st.lists(st.tuples(st.sampled_from(["a.com", "b.com", "c"]), st.sampled_from(["gmail", "yahoo"])),
                min_size=1, max_size=60), st.booleans())
@settings(max_examples=100, deadline=None)
def test_entities_are_named_once_each_as_the_packed_keys_name_them(rows, pair):
    import pandas as pd

    frame = pd.DataFrame(rows, columns=["sending_domain", "provider"])
    join_keys = ["sending_domain", "provider"] if pair else ["provider"]
    codes, names = factorize_entities([frame[k].to_numpy(dtype=object) for k in join_keys])
    assert len(set(names)) == len(names)  # each distinct entity once
    assert [names[c] for c in codes] == entity_strings(frame, join_keys).tolist()
