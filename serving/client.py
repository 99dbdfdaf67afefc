"""The caller's side of the decision service: build Open Inference Protocol (V2) requests from
feature rows, and feature rows for real messages from the Feast online store (what a sending system
does when it holds entity keys rather than features)."""

import numpy as np
import pandas as pd


def v2_request(frame: pd.DataFrame, features: list[str], categorical: list[str], message_ids: list[str] | None = None) -> dict:
    """One input per feature column; a value the caller lacks is sent as its default (0 / "")."""
    inputs = []
    for col in features:
        if col in categorical:
            data = ["" if v is None or v != v else str(v) for v in frame[col]]
            inputs.append({"name": col, "shape": [len(frame)], "datatype": "BYTES", "data": data})
        else:
            values = pd.to_numeric(frame[col], errors="coerce").astype(float).fillna(0.0)
            inputs.append({"name": col, "shape": [len(frame)], "datatype": "FP64", "data": values.tolist()})
    if message_ids is not None:
        inputs.append({"name": "message_id", "shape": [len(message_ids)], "datatype": "BYTES", "data": list(message_ids)})
    return {"inputs": inputs}


def entity_columns(messages: pd.DataFrame) -> dict[str, np.ndarray]:
    """The inputs of a request by entity keys (decisions.entities), one array per input: text as
    objects, `send_ts` as whole seconds since the epoch, `send_rate_per_min` as floats."""
    from adaptive_delivery.delivery.decisions.entities import ENTITY_KEYS, MESSAGE_ID

    columns = {c: messages[c].astype(str).to_numpy(dtype=object)
               for c in (*ENTITY_KEYS, "campaign_type", MESSAGE_ID) if c in messages.columns}
    seconds = (pd.to_datetime(messages["send_ts"], utc=True) - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(seconds=1)
    columns["send_ts"] = seconds.to_numpy(dtype=np.int64)
    columns["send_rate_per_min"] = pd.to_numeric(messages["send_rate_per_min"]).fillna(0.0).to_numpy(dtype=float)
    return columns


def entity_request(messages: pd.DataFrame) -> dict:
    """A V2 request by entity keys (decisions.entities) as JSON: the runtime reads the features itself."""
    types = {"send_ts": "INT64", "send_rate_per_min": "FP64"}
    return {"inputs": [{"name": name, "shape": [len(values)], "datatype": types.get(name, "BYTES"),
                        "data": values.tolist()} for name, values in entity_columns(messages).items()]}


def online_feature_rows(fs, service, messages: pd.DataFrame) -> pd.DataFrame:
    """Feature rows for messages (sends with their entity keys, send time, rate and campaign type)
    read from the online store through the model's feature service."""
    rows = [{"subscriber_id": m.subscriber_id, "sending_domain": m.sending_domain, "sending_ip": m.sending_ip,
             "provider": m.provider, "content_id": m.content_id, "send_ts": m.send_ts} for m in messages.itertuples()]
    got = pd.DataFrame(fs.get_online_features(features=service, entity_rows=rows, full_feature_names=True).to_dict())
    got["send_rate_per_min"] = messages["send_rate_per_min"].to_numpy()
    got["is_transactional"] = (messages["campaign_type"] == "transactional").astype(float).to_numpy()
    return got


def frame_request(frame: pd.DataFrame) -> dict:
    """One V2 input per column of a frame as it is: text columns as BYTES, the others as FP64."""
    inputs = []
    for c in frame.columns:
        text = frame[c].dtype == object
        inputs.append({"name": c, "shape": [len(frame)], "datatype": "BYTES" if text else "FP64",
                       "data": frame[c].tolist() if text else frame[c].astype(float).tolist()})
    return {"inputs": inputs}
