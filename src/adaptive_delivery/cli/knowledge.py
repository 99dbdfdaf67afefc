"""`adaptive-delivery knowledge …`: what has been learned about each mailbox provider (spec §9.2):
learn it from the delivery lake, show it, export it."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from adaptive_delivery.cli.common import console

knowledge_app = typer.Typer(help="The knowledge base: what has been learned about each mailbox provider.")

DB_HELP = "The store's SQLAlchemy URL (default: AD_KNOWLEDGE_URL, else knowledge.db in the deployment's folder)."


def _store(db: str | None):
    from adaptive_delivery.delivery import jobs
    from adaptive_delivery.delivery.knowledge.store import KnowledgeBase

    return KnowledgeBase(db or jobs.deployment().knowledge_url)


@knowledge_app.command("learn")
def knowledge_learn(
    lake: Path = typer.Option(None, help="The delivery events lake (default: the deployment's)."),
    days: int = typer.Option(None, min=1, help="Learn from the lake's last DAYS days (default: all of it)."),
    db: str = typer.Option(None, help=DB_HELP),
) -> None:
    """Learn every provider's facts from the lake's events and record them as a new version."""
    from adaptive_delivery.delivery import jobs
    from adaptive_delivery.delivery.knowledge.learn import learn_window
    from adaptive_delivery.delivery.knowledge.store import KnowledgeError

    dep = jobs.deployment()
    lake = lake or dep.lake
    try:
        run = learn_window(lake, db or dep.knowledge_url, days=days, source=f"delivery lake {lake.name}")
    except KnowledgeError as exc:
        raise typer.BadParameter(str(exc), param_hint="--lake") from exc
    console.print(f"knowledge version {run.version}: {run.providers} providers, {run.facts} facts from "
                  f"{run.events:,} outcome events")


@knowledge_app.command("show")
def knowledge_show(
    provider: str = typer.Argument(..., help="A mailbox provider (gmail, yahoo, outlook, …)."),
    fact: str = typer.Option(None, help="One fact, with every version of it."),
    db: str = typer.Option(None, help=DB_HELP),
) -> None:
    """What is believed of PROVIDER now: each fact, its evidence and when it was learned."""
    from adaptive_delivery.delivery.knowledge.store import KnowledgeError

    store = _store(db)
    try:
        current = store.current(provider)
    except KnowledgeError as exc:
        raise typer.BadParameter(str(exc), param_hint="PROVIDER") from exc
    if fact:
        if fact not in current:
            raise typer.BadParameter(f"no fact {fact!r} for {provider}; known: {sorted(current)}", param_hint="--fact")
        console.print_json(json.dumps([f.to_dict() for f in store.history(provider, fact)]))
        return
    console.print_json(json.dumps({name: f.to_dict() for name, f in current.items()}))


@knowledge_app.command("export")
def knowledge_export(
    out: Path = typer.Argument(..., help="The JSON file to write."),
    db: str = typer.Option(None, help=DB_HELP),
) -> None:
    """Everything believed now, per provider, with the versions behind it, as JSON."""
    data = _store(db).export()
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(data, indent=1) + "\n")
    console.print(f"{len(data['providers'])} providers -> {out}")

