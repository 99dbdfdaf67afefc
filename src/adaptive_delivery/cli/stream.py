"""`adaptive-delivery stream …`: delivery events, and marketing's campaign reports, through Redis
Streams into their lakes."""

from __future__ import annotations

import json
import os
from pathlib import Path

import typer

from adaptive_delivery.cli.common import console

stream_app = typer.Typer(help="Delivery events and campaign reports through Redis Streams into their lakes.")
REDIS = typer.Option("127.0.0.1:6379", envvar="AD_STREAM_REDIS", help="Redis server, host:port or a redis:// URL.")
STREAM = typer.Option("ad:events", help="The stream's key.")
# what every consumer command takes
LAKE_GROUP = typer.Option("lake", help="Consumer group (consumers of one group share the entries).")
CONSUMER_NAME = typer.Option("", help="This consumer's name in the group (default: host and process).")
CLAIM_IDLE = typer.Option(10_000, min=0, help="Claim entries a dead consumer left after this idle time.")
UNTIL_IDLE = typer.Option(False, help="Stop once nothing is new or pending (else run until stopped).")


@stream_app.command("replay")
def replay(
    lake: Path = typer.Argument(..., exists=True, file_okay=False, help="A lake whose events are published."),
    redis_address: str = REDIS,
    stream: str = STREAM,
    speed: float = typer.Option(0.0, min=0.0, help="Pace on an accelerated clock (3600: a world hour a second); "
                                "0: as fast as Redis takes it."),
) -> None:
    """Publish a lake's events (a world the batch path wrote) in time order."""
    from adaptive_delivery.delivery.events import stream as events_stream
    from adaptive_delivery.delivery.events.lake import EventsLake
    from adaptive_delivery.platform.streams import connect

    sent = events_stream.replay(connect(redis_address), EventsLake(lake), stream, speed=speed or None)
    console.print(json.dumps(sent))


@stream_app.command("publish-mail")
def publish_mail(
    path: Path = typer.Argument(..., exists=True, help="A message file or a folder of them (one message per file)."),
    redis_address: str = REDIS,
    stream: str = STREAM,
) -> None:
    """Parse DSN bounces and ARF complaints and publish their events (a message the parser refuses
    travels as itself, with why, into the lake's quarantine)."""
    from adaptive_delivery.delivery.events import stream as events_stream
    from adaptive_delivery.platform.streams import connect, publish

    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    console.print(json.dumps({"entries": publish(connect(redis_address), stream, events_stream.mail_events(files))}))


@stream_app.command("publish-kumomta")
def publish_kumomta(
    path: Path = typer.Argument(..., exists=True, dir_okay=False, help="A KumoMTA JSON log (one record per line)."),
    redis_address: str = REDIS,
    stream: str = STREAM,
) -> None:
    """Parse KumoMTA log records and publish their events (a line it refuses travels with why)."""
    from adaptive_delivery.delivery.events import stream as events_stream
    from adaptive_delivery.platform.streams import connect, publish

    console.print(json.dumps({"entries": publish(connect(redis_address), stream, events_stream.kumomta_events(path))}))


@stream_app.command("publish-webhooks")
def publish_webhooks(
    path: Path = typer.Argument(..., exists=True, help="A saved webhook post (a JSON array of events), or a folder "
                                "of them."),
    redis_address: str = REDIS,
    stream: str = STREAM,
) -> None:
    """Publish the engagement events of saved webhook posts (SendGrid's Event Webhook format); an
    event that is not one travels with why into the lake's quarantine."""
    from adaptive_delivery.delivery.events.webhooks import WebhookError, stream_entries
    from adaptive_delivery.platform.streams import connect, publish

    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    client, entries = connect(redis_address), 0
    for file in files:
        try:
            entries += publish(client, stream, stream_entries(file.read_bytes(), file.name))
        except WebhookError as exc:
            console.print(f"[red]{file.name}: not a webhook post[/red]: {exc}")
            raise typer.Exit(code=2) from exc
    console.print(json.dumps({"entries": entries}))


@stream_app.command("webhooks")
def webhooks(
    redis_address: str = REDIS,
    stream: str = STREAM,
    host: str = typer.Option("127.0.0.1", help="Interface to listen on (a public one needs ADAPTIVE_DELIVERY_TOKEN)."),
    port: int = typer.Option(8070, help="Port to listen on."),
) -> None:
    """Receive engagement webhooks (POST /webhooks/sendgrid) into the stream until stopped."""
    import threading

    from adaptive_delivery.cli.common import repo_import
    from adaptive_delivery.platform.streams import connect

    server = repo_import("serving.webhooks").serve(connect(redis_address), stream, host=host, port=port)
    console.print(f"receiving webhooks at http://{host}:{server.server_address[1]}/webhooks/sendgrid into "
                  f"{stream}; Ctrl-C stops")
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        server.shutdown()


@stream_app.command("consume")
def consume(
    lake: Path = typer.Option(Path("runs/stream/lake"), help="Events lake to write into."),
    redis_address: str = REDIS,
    stream: str = STREAM,
    group: str = LAKE_GROUP,
    name: str = CONSUMER_NAME,
    batch: int = typer.Option(10_000, min=1, help="At most this many entries per read (fewer when fewer are "
                              "waiting): a backlog is written in batches this big, which costs less per event."),
    claim_idle_ms: int = CLAIM_IDLE,
    until_idle: bool = UNTIL_IDLE,
    outcome_store: str = typer.Option("", envvar="AD_OUTCOME_STORE", help="SQLAlchemy URL of the outcome store to "
                                      "update too (sqlite:///… or postgresql+psycopg://…); none by default."),
    feature_store: Path = typer.Option(None, help="Feature-store home whose online store gets the feature rows "
                                       "each batch changed, through the push sources (needs --outcome-store)."),
    feature_data: Path = typer.Option(None, help="The published feature tables the store's definitions name "
                                      "(default: FEATURE_STORE/../features)."),
    profile: str = typer.Option("local", help="Feature-store profile: local | redis-local | cluster."),
) -> None:
    """Read the stream in a consumer group and write every event into the lake, acknowledged only
    after it is written (the batch path's checks, quarantine, dedupe and ledger), and, when asked,
    into the outcome store and the online store."""
    from adaptive_delivery.delivery.events.lake import EventsLake
    from adaptive_delivery.delivery.events.outcome_store import OutcomeStore
    from adaptive_delivery.delivery.events.stream import LakeSink
    from adaptive_delivery.platform.streams import StreamConsumer, connect

    if feature_store is not None and not outcome_store:
        raise typer.BadParameter("the online push reads its counts from the outcome store: give --outcome-store too")
    store = OutcomeStore(outcome_store) if outcome_store else None
    events, name = EventsLake(lake), name or _consumer_name()
    online = (_online_push(feature_store, feature_data, profile, store, events, name)
              if feature_store is not None else None)
    _run(StreamConsumer(connect(redis_address), stream, group, name,
                        LakeSink(events, store, online), batch=batch, claim_idle_ms=claim_idle_ms), until_idle,
         online)



CAMPAIGN_STREAM = typer.Option("ad:campaign-events", help="The campaign reports' stream key.")


@stream_app.command("publish-campaigns")
def publish_campaigns(
    path: Path = typer.Argument(None, exists=True, dir_okay=False, help="An ad platform connector's report rows, "
                                "one JSON object per line (default: the marketing twin's reports)."),
    redis_address: str = REDIS,
    stream: str = CAMPAIGN_STREAM,
    seed: int = typer.Option(0, help="The twin world whose reports are published (without PATH)."),
    days: int = typer.Option(7, min=1, help="Days of the twin's reports."),
    campaigns: int = typer.Option(4, min=1, help="Campaigns in the twin world."),
) -> None:
    """Publish hourly campaign reports (spec 003's raw campaign data): a connector's file, or the
    marketing twin's campaigns bid by the bid optimiser. A line that is not JSON travels as itself,
    with why, into the lake's raw quarantine."""
    from adaptive_delivery.marketing import events
    from adaptive_delivery.platform.lake_stream import refused
    from adaptive_delivery.platform.streams import connect, publish

    def from_file(lines):
        for n, line in enumerate(lines, 1):
            try:
                yield events.KIND, json.loads(line)
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                yield refused("connector", f"{path.name}:{n}", line, f"not JSON: {exc}")

    if path is not None:
        entries = from_file(path.read_bytes().splitlines())
    else:
        from adaptive_delivery.marketing.bidding import BidOptimiser
        from adaptive_delivery.twin.marketing import MarketingWorld, campaign_reports

        world = MarketingWorld.build(seed, n_campaigns=campaigns)
        entries = ((events.KIND, row) for row in campaign_reports(world, days, lambda c: BidOptimiser(seed=seed)))
    console.print(json.dumps({"entries": publish(connect(redis_address), stream, entries)}))


@stream_app.command("consume-campaigns")
def consume_campaigns(
    lake: Path = typer.Option(Path("runs/campaigns/lake"), help="Campaign events lake to write into."),
    redis_address: str = REDIS,
    stream: str = CAMPAIGN_STREAM,
    group: str = LAKE_GROUP,
    name: str = CONSUMER_NAME,
    batch: int = typer.Option(5_000, min=1, help="At most this many entries per read: a batch is one "
                              "validation of the Great Expectations suite (and a Data Docs page when it "
                              "broke an expectation), which costs a fixed part of a second."),
    claim_idle_ms: int = CLAIM_IDLE,
    until_idle: bool = UNTIL_IDLE,
) -> None:
    """Read campaign reports from the stream into the campaign lake: each batch validated by the
    Great Expectations suite (a row that breaks an expectation is quarantined with it), duplicates
    dropped by event id, a ledger line per batch, a Data Docs page per batch that broke one."""
    from adaptive_delivery.marketing import events
    from adaptive_delivery.platform.lake_stream import LakeSink
    from adaptive_delivery.platform.streams import StreamConsumer, connect

    consumer = StreamConsumer(connect(redis_address), stream, group, name or _consumer_name(),
                              LakeSink(events.lake(lake)), batch=batch, claim_idle_ms=claim_idle_ms)
    _run(consumer, until_idle)
    console.print(f"validation report: {events.data_docs(lake)}")


PREDICTIONS = typer.Option("ad:predictions", help="The prediction stream's key.")


@stream_app.command("publish-predictions")
def publish_predictions(
    log: Path = typer.Argument(..., exists=True, dir_okay=False, help="A prediction log (JSON lines, `model serve`)."),
    redis_address: str = REDIS,
    stream: str = PREDICTIONS,
    from_line: int = typer.Option(0, min=0, help="Publish from this line on (0-based; what the last call printed)."),
) -> None:
    """Publish the served decisions of a prediction log, one entry per complete line; prints the
    line to resume from (a line still being written waits for the next call)."""
    from adaptive_delivery.platform.feedback import prediction_entries
    from adaptive_delivery.platform.streams import connect, publish

    sent = publish(connect(redis_address), stream, prediction_entries(log, from_line))
    console.print(json.dumps({"entries": sent, "next_line": from_line + sent}))


@stream_app.command("consume-predictions")
def consume_predictions(
    into: Path = typer.Option(Path("runs/stream/predictions"), help="Folder the decisions are written into "
                              "(`model feedback --log FOLDER` reads it)."),
    redis_address: str = REDIS,
    stream: str = PREDICTIONS,
    group: str = typer.Option("feedback", help="Consumer group."),
    name: str = CONSUMER_NAME,
    until_idle: bool = UNTIL_IDLE,
) -> None:
    """Read the prediction stream in a consumer group into a folder, each batch acknowledged only once
    written; an entry that is not a logged decision is quarantined there with why."""
    from adaptive_delivery.platform.feedback import PredictionSink
    from adaptive_delivery.platform.streams import StreamConsumer, connect

    _run(StreamConsumer(connect(redis_address), stream, group, name or _consumer_name(), PredictionSink(into)),
         until_idle)


@stream_app.command("learn-campaign")
def learn_campaign(
    network: Path = typer.Option(..., exists=True, dir_okay=False,
                                 help="MKT-001's registered network (mkt001_network.npz): the champion."),
    into: Path = typer.Option(Path("runs/stream/mkt001-online"), help="Folder of the online-updated network, its "
                              "state and the quarantine (a consumer started again goes on from it)."),
    reports: Path = typer.Option(Path("runs/loop/reports"), help="AD_HOME/reports: where a retraining is asked for "
                                 "(the monitoring DAG triggers it)."),
    redis_address: str = REDIS,
    stream: str = typer.Option("campaign-feedback", help="The stream of campaign feedback events."),
    group: str = typer.Option("mkt001-online", help="Consumer group."),
    name: str = CONSUMER_NAME,
    until_idle: bool = UNTIL_IDLE,
) -> None:
    """Learn MKT-001 online from campaign feedback (online gradient descent on its output layers),
    each batch acknowledged only once learned and saved; malformed feedback is quarantined with why,
    repeated feedback ids teach nothing twice; a drift in the champion's errors or bias, or (where
    MKT-001's spec says drift retrains it) in the customers' fields, asks for a retraining."""
    from adaptive_delivery.marketing.models.mkt001_campaign.network import ArrayNet
    from adaptive_delivery.marketing.models.mkt001_campaign.online import (
        FeedbackSink,
        OnlineCampaign,
        load_reference,
    )
    from adaptive_delivery.platform.spec import get
    from adaptive_delivery.platform.streams import StreamConsumer, connect

    try:
        champion = ArrayNet.load(network)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--network") from exc
    sink = FeedbackSink(OnlineCampaign(champion), into, reports, load_reference(network),
                        get("MKT-001").drift_retrains)
    _run(StreamConsumer(connect(redis_address), stream, group, name or _consumer_name(), sink, batch=250), until_idle)


def _consumer_name() -> str:
    return f"{os.uname().nodename}-{os.getpid()}"


def _run(consumer, until_idle: bool, online=None) -> None:
    """Drain once and print how many entries (`until_idle`; the subscriber snapshots of the online
    push, when there is one, in before it returns), else consume until stopped."""
    if until_idle:
        entries = consumer.drain()
        console.print(json.dumps({"entries": entries, **({"snapshot_rows": online.wait()} if online else {})}))
        return
    while True:
        consumer.step(block_ms=5_000)


def _online_push(home: Path, data: Path | None, profile: str, store, lake, consumer: str):
    """The push into the feature store at `home` (its definitions applied first where the registry
    lacks a pushed view, as a fresh deployment's would); subscriber snapshots from `lake`'s
    subscriber list."""
    from adaptive_delivery.delivery.features.online_push import OnlinePush
    from adaptive_delivery.platform import feature_store as st

    fs = st.open_store(home, data or home.parent / "features", profile)
    try:
        return OnlinePush(fs, store, lake, consumer=consumer)
    except LookupError:
        st.apply(fs)
        return OnlinePush(fs, store, lake, consumer=consumer)
