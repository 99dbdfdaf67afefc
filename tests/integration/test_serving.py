"""MLServer for real: a registered MDL-001 model is resolved by alias from MLflow, served on
127.0.0.1 from the serving environment, and answers Open Inference Protocol (V2) requests — with
feature values, or with entity keys whose features it reads from a materialised Feast online
store — with the same probabilities as the registered model offline; malformed requests get 400
with a reason."""

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import requests
from listening_sockets import SocketWatch

from adaptive_delivery.delivery.models.mdl001_deliverability import model as mdl
from adaptive_delivery.platform.bundle import TrainedModel
from adaptive_delivery.platform.spec import get, profile
from adaptive_delivery.platform.training.tracking import Tracking, default_tracking_uri
from serving import local
from serving.client import entity_request, v2_request

pytestmark = [pytest.mark.integration, pytest.mark.slow]
SPEC = get("MDL-001")


def _frame(n, seed):
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({c: rng.normal(size=n) for c in mdl.NUMERIC})
    frame["content_features__content_spam_risk"] = np.where(rng.random(n) < 0.5, -1.0, rng.random(n))  # a P or unscored
    frame["subscriber_features__email_domain"] = rng.choice(["gmail.com", "yahoo.com"], n)
    frame["subscriber_features__domain_category"] = "consumer"
    frame["provider"] = rng.choice(["gmail", "yahoo"], n)
    score = frame["subscriber_features__engagement_score"].to_numpy()
    frame["label"] = np.select([score > 0.3, score > -0.3, score > -0.8, score > -1.4], [0, 1, 2, 3], 4)
    frame["event_timestamp"] = pd.date_range("2026-03-01", periods=n, freq="min", tz="UTC")
    frame["message_id"] = [f"m{i}" for i in range(n)]
    frame["subscriber_id"] = [f"s{i}" for i in range(n)]
    return frame


@pytest.fixture(scope="module")
def online_store(built_features, tmp_path_factory):
    """A tiny world's Spark-built features applied and materialised into a SQLite online store."""
    from adaptive_delivery.platform import feature_store as st

    world, out, ref = built_features
    home = tmp_path_factory.mktemp("serving-world")
    fs = st.open_store(home / "feast", out, project="test_serving")
    st.apply(fs)
    st.materialize(fs, ref["calendar"]["hour_ts"].min().to_pydatetime(),
                   ref["subscriber"]["event_timestamp"].max().to_pydatetime())
    (home / "features").symlink_to(out)
    return fs, local.feature_store_settings(home, st.service(fs, "MDL-001").name, project="test_serving"), world


@pytest.fixture(scope="module")
def served(tmp_path_factory, online_store):
    if not local.SERVING_PYTHON.exists():
        pytest.skip("the serving environment is not built (make serving-env)")
    import mlflow

    root = tmp_path_factory.mktemp("serving")
    tracking = Tracking(default_tracking_uri(root), "serving-test")
    client = tracking.client()
    data = SPEC.to_dataset(_frame(2000, 0))
    model = SPEC.fit(data, {"n_estimators": 40, "nn_weight": 0.2, "nn_epochs": 2}, profile("quick"))
    bundle = TrainedModel("MDL-001", SPEC.classes, list(data.X.columns), list(data.categories), data.categories, model)
    path = bundle.save(root / "bundle.joblib")
    from adaptive_delivery.platform.training.pyfunc import log_bundle
    from adaptive_delivery.platform.training.registry import CHAMPION, register_challenger

    with mlflow.start_run(experiment_id=tracking.experiment_id()) as run:
        info = log_bundle(path, _frame(50, 1))
    version = register_challenger(client, SPEC, run.info.run_id, model_uri=info.model_uri)
    client.set_registered_model_alias(SPEC.registered_name, CHAMPION, version)
    resolved_version, folder = local.resolve_alias(client, SPEC.registered_name, CHAMPION, root / "models")
    http, grpc = local.free_port(), local.free_port()
    # every version under its own name too, as a rollout serves them (two names, the same files)
    versions = {"mdl-001": (resolved_version, folder), "mdl-001-v1": ("1", folder), "mdl-001-v2": ("2", folder)}
    settings = local.write_settings(root / "mlserver", versions, http, grpc,
                                    prediction_log=root / "predictions.jsonl", feature_store=online_store[1])
    server = local.start(settings, http, grpc, "mdl-001")
    yield server, root, resolved_version
    server.stop()


def _v2(frame: pd.DataFrame, ids=None) -> dict:
    categorical = [c for c in frame.columns if frame[c].dtype == object]
    return v2_request(frame, list(frame.columns), categorical, ids)


def _infer(server, body):
    return requests.post(f"{server.url}/v2/models/mdl-001/infer", json=body, timeout=30)


def test_served_probabilities_equal_the_registered_model_offline(served):
    import mlflow.pyfunc

    server, root, version = served
    frame = _frame(300, 7)[mdl.FEATURES]
    ids = [f"msg-{i}" for i in range(len(frame))]
    r = _infer(server, _v2(frame, ids))
    assert r.status_code == 200, r.text
    outputs = {o["name"]: o["data"] for o in r.json()["outputs"]}
    offline = mlflow.pyfunc.load_model(f"models:/{SPEC.registered_name}@champion").predict(frame)
    for c in SPEC.classes:
        # the server predicts with the compiled form (`TrainedModel.for_serving`), equal within 1e-6
        assert np.allclose(outputs[f"p_{c}"], offline[f"p_{c}"], atol=1e-6, rtol=0), c
    assert outputs["action"] == offline["action"].tolist()
    assert outputs["message_id"] == ids and set(outputs["model_version"]) == {version}
    assert {"reason", "risk_score", "confidence"} <= set(outputs)
    logged = [json.loads(line) for line in (root / "predictions.jsonl").read_text().splitlines()]
    assert [x["message_id"] for x in logged[-300:]] == ids and {x["model_version"] for x in logged} == {version}


def _grpc(server, body, tmp_path, raw: bool = False, model: str = "mdl-001"):
    import subprocess

    request = tmp_path / "request.json"
    request.write_text(json.dumps(body))
    cmd = [str(local.SERVING_PYTHON), "-m", "serving.grpc_client", "--port", str(server.grpc_port), "--model", model,
           *(["--raw"] if raw else []), str(request)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=60, cwd=local.REPO)
    return done.returncode, json.loads(done.stdout.strip().splitlines()[-1]) if done.stdout.strip() else done.stderr


def test_grpc_answers_like_rest_and_refuses_bad_requests_with_invalid_argument(served, tmp_path):
    server, _, _ = served
    frame = _frame(20, 9)[mdl.FEATURES]
    rest = {o["name"]: o["data"] for o in _infer(server, _v2(frame)).json()["outputs"]}
    code, reply = _grpc(server, _v2(frame), tmp_path)
    assert code == 0, reply
    outputs = {o["name"]: o["data"] for o in reply["outputs"]}
    assert np.allclose(outputs["p_inbox"], rest["p_inbox"]) and outputs["action"] == rest["action"]
    code, reply = _grpc(server, _v2(frame.drop(columns=["provider"])), tmp_path)
    assert code == 3 and reply["code"] == "INVALID_ARGUMENT" and "missing inputs" in reply["error"]


def test_raw_grpc_by_entity_keys_answers_as_rest_json(served, online_store, tmp_path):
    """The binary path (raw tensor contents both ways, no per-value JSON or protobuf) decides
    exactly as the JSON one; a raw request that breaks the protocol gets INVALID_ARGUMENT."""
    server, _, _ = served
    sends = _sends(online_store[2], 200)
    sends.loc[0, "subscriber_id"] = "signed-up-a-minute-ago"
    body = _entity_request(sends)
    rest = {o["name"]: o["data"] for o in _infer(server, body).json()["outputs"]}
    code, reply = _grpc(server, body, tmp_path, raw=True)
    assert code == 0, reply
    assert reply["raw"]  # the answer came back as raw contents too
    raw = {o["name"]: o["data"] for o in reply["outputs"]}
    assert set(raw) == set(rest)
    for name, values in rest.items():
        assert raw[name] == values, name  # bit for bit: the same float64s, the same strings
    assert "subscriber" in raw["defaults"][0]
    wrong = json.loads(json.dumps(body))
    next(i for i in wrong["inputs"] if i["name"] == "send_rate_per_min")["data"][3] = -1.0
    code, reply = _grpc(server, wrong, tmp_path, raw=True)
    assert code == 3 and reply["code"] == "INVALID_ARGUMENT" and "send_rate_per_min" in reply["error"]


def test_malformed_requests_get_400_with_a_reason(served):
    server, _, _ = served
    frame = _frame(3, 8)[mdl.FEATURES]
    missing = _v2(frame.drop(columns=["send_rate_per_min"]))
    nan = _v2(frame)
    next(i for i in nan["inputs"] if i["name"] == "send_rate_per_min")["data"][1] = None  # JSON has no NaN: null
    bad_shape = _v2(frame)
    bad_shape["inputs"][0]["shape"] = [5]
    huge = _v2(frame)  # finite, but infinite in the models' float32
    next(i for i in huge["inputs"] if i["name"] == "send_rate_per_min")["data"][0] = 1e39
    twice = _v2(frame)
    twice["inputs"].append(dict(twice["inputs"][0]))
    truncated = _v2(frame)
    rate = next(i for i in truncated["inputs"] if i["name"] == "send_rate_per_min")
    rate["datatype"], rate["data"] = "INT64", [1.7, 2.0, 3.0]
    not_a_probability = _v2(frame)  # MDL-007's P(spam), or -1 where no content check ran
    next(i for i in not_a_probability["inputs"] if i["name"] == "content_features__content_spam_risk")["data"][2] = 1.5
    cases = {"missing inputs": missing, "NaN or infinite": nan, "has shape": bad_shape,
             "no inputs": {"inputs": []}, "values beyond": huge, "named more than once": twice,
             "send whole numbers": truncated, "rows [2] are not": not_a_probability}
    for message, body in cases.items():
        r = _infer(server, body)
        assert r.status_code == 400, (message, r.status_code, r.text)
        expected = ("NaN or infinite",) if message == "NaN or infinite" else (message,)
        assert any(m in r.json()["error"] for m in expected), (message, r.text)
    assert requests.post(f"{server.url}/v2/models/mdl-001/infer", data="{not json", timeout=10).status_code in (400, 422)
    assert _infer(server, _v2(frame)).status_code == 200  # still serving after the bad ones


def _sends(world, n: int) -> pd.DataFrame:
    """Real messages of the tiny world's last day: their entity keys and request fields."""
    from adaptive_delivery.delivery.events.lake import EventsLake

    sends = EventsLake(world / "lake").read("sends").to_pandas().sort_values("send_ts")
    return sends.tail(n).reset_index(drop=True)


def _entity_request(sends: pd.DataFrame) -> dict:
    return entity_request(sends.assign(send_rate_per_min=sends["send_rate_per_min"].fillna(0.0)))


def _offline_from_store(fs, sends: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    """What the registered model predicts on the same messages' features read in this process
    through the model's Feast feature service (its on-demand temporal view included)."""
    from adaptive_delivery.platform import feature_store as st
    from serving.client import online_feature_rows

    rows = online_feature_rows(fs, st.service(fs, "MDL-001"), sends.assign(send_rate_per_min=sends["send_rate_per_min"].fillna(0.0)))
    bundle = TrainedModel.load(TrainedModel.locate(_champion_folder()))
    return rows, bundle.predict_proba(rows)


def _champion_folder():
    import mlflow.artifacts

    return mlflow.artifacts.download_artifacts(f"models:/{SPEC.registered_name}@champion")


def test_entity_key_requests_read_the_online_store_and_match_the_registered_model(served, online_store):
    server, root, version = served
    fs, _, world = online_store
    sends = _sends(world, 200)
    r = _infer(server, _entity_request(sends))
    assert r.status_code == 200, r.text
    outputs = {o["name"]: o["data"] for o in r.json()["outputs"]}
    rows, expected = _offline_from_store(fs, sends)
    for i, c in enumerate(SPEC.classes):  # served by the compiled form: within 1e-6 of the registered model
        assert np.allclose(outputs[f"p_{c}"], expected[:, i], atol=1e-6, rtol=0), c
    assert outputs["message_id"] == sends["message_id"].tolist() and set(outputs["model_version"]) == {version}
    # the store knows these subscribers: nothing defaulted for them, and real values were read
    assert not any("subscriber" in d for d in outputs["defaults"])
    assert rows["subscriber_features__engagement_score"].notna().all()


def test_unknown_entities_get_missing_values_and_the_response_says_so(served, online_store):
    server, _, _ = served
    fs, _, world = online_store
    sends = _sends(world, 3)
    sends.loc[0, "subscriber_id"] = "signed-up-a-minute-ago"
    sends.loc[1, "content_id"] = "a-brand-new-campaign"
    r = _infer(server, _entity_request(sends))
    assert r.status_code == 200, r.text
    outputs = {o["name"]: o["data"] for o in r.json()["outputs"]}
    assert "subscriber" in outputs["defaults"][0].split(",") and "content" in outputs["defaults"][1].split(",")
    assert "subscriber" not in outputs["defaults"][2] and "content" not in outputs["defaults"][2]
    rows, expected = _offline_from_store(fs, sends)  # Feast leaves the unknown ones' features missing too
    assert rows.filter(like="subscriber_features__").iloc[0].isna().all()
    assert np.allclose(outputs["p_inbox"], expected[:, 0], atol=1e-6, rtol=0)


def test_malformed_entity_key_requests_get_400_with_a_reason(served, online_store):
    server, _, _ = served
    sends = _sends(online_store[2], 4)

    def with_input(name, data, datatype="BYTES"):
        body = _entity_request(sends)
        body["inputs"] = [i for i in body["inputs"] if i["name"] != name]
        if data is not None:
            body["inputs"].append({"name": name, "shape": [len(data)], "datatype": datatype, "data": data})
        return body

    cases = {
        "missing ['send_rate_per_min']": with_input("send_rate_per_min", None),
        "must be a non-empty string": with_input("subscriber_id", ["s1", "", "s3", "s4"]),
        "must be finite and ≥ 0": with_input("send_rate_per_min", [1.0, -5.0, 2.0, 3.0], "FP64"),
        "not both": {"inputs": _entity_request(sends)["inputs"] + _v2(_frame(4, 3)[mdl.FEATURES])["inputs"][:1]},
        "different lengths": with_input("content_id", ["c1"]),
    }
    for message, body in cases.items():
        r = _infer(server, body)
        assert r.status_code == 400, (message, r.status_code, r.text)
        assert message in r.json()["error"], (message, r.text)
    assert _infer(server, _entity_request(sends)).status_code == 200  # still serving after the bad ones


def test_the_local_router_splits_mirrors_and_pins_as_seldons_experiment_says(served, tmp_path):
    """The router in front of MLServer follows the controller's state: shadow mirrors every request
    to the candidate and answers from the control; a 25% ramp sends about a quarter of unpinned
    requests to the candidate; a pinned request goes where the sender's FNV-1a split put it; a
    rollout decision changes the routing at once."""
    from datetime import UTC, datetime

    from adaptive_delivery.platform.rollout import controller as rc
    from serving import router as rt

    server, _, _ = served
    store = rc.RolloutStore(tmp_path / "rollouts")
    exp = rc.start("exp-router", "MDL-001", "1", "2", datetime(2026, 4, 1, tzinfo=UTC))
    store.save(exp)
    router = rt.Router(server.url, "mdl-001", rt.experiment_from_state(store.root, "MDL-001"), seed=3)
    http = rt.serve(router)
    url = f"http://127.0.0.1:{http.server_address[1]}/v2/models/mdl-001/infer"
    body = _v2(_frame(1, 4)[mdl.FEATURES])
    try:
        answers = [requests.post(url, json=body, timeout=30) for _ in range(40)]
        assert {a.status_code for a in answers} == {200}
        assert {a.headers[rt.ROUTE_HEADER] for a in answers} == {":mdl-001-v1:"}  # shadow: control answers
        assert {o["data"][0] for a in answers for o in a.json()["outputs"] if o["name"] == "model_version"} == {"1"}
        deadline = time.monotonic() + 20
        while router.mirrored["mdl-001-v2"] < 40 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert router.mirrored["mdl-001-v2"] == 40  # … and the candidate saw every request

        exp.stage_index = 2  # ramp-25, as the controller's decision would leave it
        store.save(exp)
        routes = [requests.post(url, json=body, timeout=30).headers[rt.ROUTE_HEADER] for _ in range(400)]
        share = routes.count(":mdl-001-v2:") / len(routes)
        assert abs(share - 0.25) < 4 * (0.25 * 0.75 / 400) ** 0.5, share  # Seldon's weighted random split
        subscribers = [f"s{i}" for i in range(60)]
        arms = rt.arms_of(subscribers, exp.experiment_id, exp.stage.traffic, "mdl-001-v1", "mdl-001-v2")
        assert 0 < arms.count("mdl-001-v2") < 60
        for arm in set(arms):
            r = requests.post(url, json=body, headers={rt.PIN_HEADER: arm}, timeout=30)
            assert r.status_code == 200 and r.headers[rt.ROUTE_HEADER] == f":{arm}:"

        exp.status = rc.Status.ROLLED_BACK
        store.save(exp)
        assert requests.post(url, json=body, timeout=30).headers[rt.ROUTE_HEADER] == ":mdl-001:"  # the champion
        bad = requests.post(url, json={"inputs": []}, timeout=30)
        assert bad.status_code == 400 and "no inputs" in bad.json()["error"]  # MLServer's 400 passes through
        other = requests.post(url.replace("mdl-001/", "mdl-003/"), json=body, timeout=30)
        assert other.status_code == 404 and "unknown model" in other.json()["error"]
    finally:
        http.shutdown()


def test_the_model_serve_command_serves_the_champion_and_stops_with_it(served):
    """`adaptive-delivery model serve MDL-001` end to end: resolves the champion from the registry,
    starts MLServer on 127.0.0.1, answers as the registered model does, refuses a second start on
    the same ports, and takes MLServer down when it is killed (SIGTERM)."""
    server, root, version = served
    http, grpc = local.free_port(), local.free_port()
    cmd = [sys.executable, "-m", "adaptive_delivery.cli", "model", "serve", "MDL-001", "--aliases", "champion",
           "--mlflow-home", str(root), "--out", str(root / "cli-serving"), "--http-port", str(http),
           "--grpc-port", str(grpc), "--world", str(root / "no-world")]
    proc = subprocess.Popen(cmd, cwd=Path(__file__).resolve().parents[2], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{http}/v2/models/mdl-001"
    try:
        with SocketWatch(proc.pid) as watch:
            deadline = time.monotonic() + 180
            while time.monotonic() < deadline and proc.poll() is None:
                try:
                    if requests.get(f"{url}/ready", timeout=2).status_code == 200:
                        break
                except requests.ConnectionError:
                    pass
                time.sleep(1)
            assert proc.poll() is None, proc.stdout.read()[-3000:]
            frame = _frame(20, 11)[mdl.FEATURES]
            body = _v2(frame)
            got = requests.post(f"{url}/infer", json=body, timeout=30)
            want = _infer(server, body)
            assert got.status_code == 200 and want.status_code == 200, got.text
            outputs = {o["name"]: o["data"] for o in got.json()["outputs"]}
            expected = {o["name"]: o["data"] for o in want.json()["outputs"]}
            np.testing.assert_allclose(outputs["p_inbox"], expected["p_inbox"], rtol=1e-9)
            assert set(outputs["model_version"]) == {version}
            # a second serve on the same ports is refused, instead of reporting success over this one
            second = [str(root / "cli-serving-2") if c == str(root / "cli-serving") else c for c in cmd]
            again = subprocess.run(second, capture_output=True, text=True, timeout=300, cwd=Path(__file__).resolve().parents[2])
            assert again.returncode == 3 and "already answer" in again.stdout, again.stdout[-2000:]
        # MLServer's REST and gRPC ports, and nothing else beyond loopback
        assert {http, grpc} <= {port for _, _, port in watch.seen} and watch.exposed() == [], watch.seen
    finally:
        proc.send_signal(signal.SIGTERM)  # `kill`, not Ctrl-C: MLServer must go down with it too
        proc.wait(timeout=120)
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{url}/ready", timeout=2)


TOKEN = "fuzz-token-0123456789"


@pytest.fixture(scope="module")
def guarded(served):
    """The same model served again with ADAPTIVE_DELIVERY_TOKEN set: what the hostile corpus meets."""
    _, root, version = served
    http, grpc = local.free_port(), local.free_port()
    folder = next((root / "models").iterdir())
    settings = local.write_settings(root / "guarded", {"mdl-001": (version, folder)}, http, grpc,
                                    prediction_log=root / "guarded-predictions.jsonl")
    server = local.start(settings, http, grpc, "mdl-001", token=TOKEN)
    yield server, root / "guarded-predictions.jsonl"
    server.stop()


def _hostile_corpus():
    from serving.guard import MAX_BODY_BYTES
    from tests.integration.hostile_requests import corpus

    frame = _frame(3, 8)[mdl.FEATURES]
    numeric = [c for c in mdl.FEATURES if c not in mdl.CATEGORICAL]
    return corpus(_v2(frame, ["h-1", "h-2", "h-3"]), numeric, "provider", MAX_BODY_BYTES)


def test_hostile_rest_requests_get_a_4xx_with_a_reason_and_never_a_500_or_a_hang(guarded):
    """The REST half of the fuzz suite: 0 responses >= 500, 0 hangs, every bad request a 4xx with a
    reason, the server's memory bounded through gzip bombs, and the prediction log holding exactly
    the decisions that were returned."""
    import psutil

    server, log = guarded
    cases = _hostile_corpus()
    rss = psutil.Process(server.process.pid).memory_info().rss
    failures, returned = [], 0
    for case in cases:
        headers = {"content-type": "application/json", **case.headers,
                   **({"authorization": f"Bearer {TOKEN}"} if case.token else {})}
        try:
            r = requests.request(case.method, f"{server.url}{case.path}", data=case.body, headers=headers, timeout=30)
        except requests.RequestException as exc:  # a hang or a dropped connection
            failures.append((case.name, "no response", repr(exc)[:120]))
            continue
        if case.ok:
            returned += 3 * (case.path.endswith("/infer") and r.status_code == 200)
            if r.status_code != 200:
                failures.append((case.name, r.status_code, r.text[:120]))
        elif not 400 <= r.status_code < 500 or not _reason(r):
            failures.append((case.name, r.status_code, r.text[:120]))
    assert len(cases) >= 300
    assert not failures, failures[:20]
    grown = psutil.Process(server.process.pid).memory_info().rss - rss
    assert grown < 300 * 2**20, f"the server grew by {grown / 2**20:.0f} MiB"
    logged = log.read_text().splitlines() if log.exists() else []
    assert len(logged) == returned  # nothing refused, failed or unanswered was logged
    assert _infer_with_token(server).status_code == 200  # still serving


def _reason(response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text.strip()
    return str(body.get("error") or body.get("detail") or "") if isinstance(body, dict) else str(body)


def _infer_with_token(server):
    body = _v2(_frame(3, 1)[mdl.FEATURES])
    return requests.post(f"{server.url}/v2/models/mdl-001/infer", json=body, timeout=30,
                         headers={"authorization": f"Bearer {TOKEN}"})


def test_hostile_grpc_calls_get_client_error_codes_and_never_internal(guarded, tmp_path):
    """The gRPC half: the corpus's requests as typed protobufs, then undecodable, oversized and
    gzip-bomb messages, raw contents that disagree with their shapes, the repository service and
    calls without the token: every one answered with a client-error code and a reason."""
    from tests.integration.hostile_requests import grpc_cases

    server, _ = guarded
    cases = tmp_path / "cases.json"
    cases.write_text(json.dumps(grpc_cases(_hostile_corpus())))
    done = subprocess.run([str(local.SERVING_PYTHON), "tests/integration/grpc_hostile.py", str(server.grpc_port), TOKEN,
                           str(cases)], capture_output=True, text=True, timeout=600, cwd=local.REPO)
    assert done.returncode == 0, done.stderr[-3000:]
    results = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(results) >= 250
    assert [r for r in results if not r["passed"]] == []
    assert all(r["details"] for r in results if not r["ok"])  # a reason with every refusal
    assert _infer_with_token(server).status_code == 200


def test_on_a_redis_store_the_server_reads_packed_features_and_answers_as_from_sqlite(
        served, online_store, built_features, redis_server, tmp_path, monkeypatch):
    """The same champion served from a Redis online store of the same world: its runtime (in the
    serving environment's Feast) reads the packed vectors the platform's materialisation wrote, and
    every decision equals the SQLite-backed server's, defaults included."""
    import uuid

    from adaptive_delivery.platform import feature_store as st
    from adaptive_delivery.platform.training.registry import CHAMPION

    server, root, version = served
    _, settings, world = online_store
    _, out, ref = built_features
    for key in st.SETTINGS:
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AD_REDIS_CONNECTION", redis_server)  # the runtime's profile reads it
    project = f"serve_{uuid.uuid4().hex[:8]}"
    store = st.open_store(tmp_path / "feast", out, profile="redis-local", project=project)
    st.apply(store)
    st.materialize(store, ref["calendar"]["hour_ts"].min().to_pydatetime(),
                   ref["subscriber"]["event_timestamp"].max().to_pydatetime())
    redis_served = None
    try:
        client = Tracking(default_tracking_uri(root), "serving-test").client()
        _, folder = local.resolve_alias(client, SPEC.registered_name, CHAMPION, tmp_path / "models")
        http, grpc = local.free_port(), local.free_port()
        feature_store = {**settings, "home": str((tmp_path / "feast").resolve()), "profile": "redis-local",
                         "project": project}
        redis_settings = local.write_settings(tmp_path / "mlserver", {"mdl-001": (version, folder)}, http, grpc,
                                              feature_store=feature_store)
        redis_served = local.start(redis_settings, http, grpc, "mdl-001")
        sends = _sends(world, 300)
        sends.loc[0, "subscriber_id"] = "signed-up-a-minute-ago"
        answers = []
        for target in (server, redis_served):
            r = _infer(target, _entity_request(sends))
            assert r.status_code == 200, r.text
            answers.append({o["name"]: o["data"] for o in r.json()["outputs"]})
        sqlite_answer, redis_answer = answers
        for c in SPEC.classes:
            assert np.allclose(redis_answer[f"p_{c}"], sqlite_answer[f"p_{c}"], atol=1e-12, rtol=0), c
        assert redis_answer["action"] == sqlite_answer["action"]
        assert redis_answer["defaults"] == sqlite_answer["defaults"] and "subscriber" in redis_answer["defaults"][0]
        log = (tmp_path / "mlserver" / "mlserver.log").read_text()
        assert "reading features through Feast" not in log  # the packed vectors answered
    finally:
        if redis_served is not None:
            redis_served.stop()
        st.teardown(store)
