"""MkDocs hook: the navigation's Models section lists every registered model spec's page
(`docs/models/<model id>.md`) in id order, and a page's `{{ models }}` marker becomes one link per
registered spec (the front page), so a new model adds its page and no line here or there; a spec
without a page fails the build."""

from __future__ import annotations

from pathlib import Path

from mkdocs.exceptions import PluginError

SECTION = "Models"


def pages(docs_dir: Path) -> list[dict[str, str]]:
    """One navigation entry per registered spec: its id and name, and its page."""
    from adaptive_delivery.platform.spec import all_specs

    out = []
    for spec in sorted(all_specs(), key=lambda s: s.model_id):
        path = f"models/{spec.model_id.lower()}.md"
        if not (docs_dir / path).exists():
            raise PluginError(f"{spec.model_id} is registered but has no page: write docs/{path}")
        out.append({f"{spec.model_id} {spec.name.lower()}": path})
    return out


def on_config(config):
    for item in config["nav"]:
        if isinstance(item, dict) and SECTION in item:
            item[SECTION] = pages(Path(config["docs_dir"]))
            return config
    raise PluginError(f"mkdocs.yml's nav has no {SECTION!r} section to fill")


MARKER = "{{ models }}"


def on_page_markdown(markdown: str, page, config, files) -> str:
    """`{{ models }}`: every registered spec's page, by id, with its name."""
    if MARKER not in markdown:
        return markdown
    prefix = "../" * page.file.src_uri.count("/")
    links = " · ".join(f"[{id_}]({prefix}{path}) {name.removeprefix(id_ + ' ')}"
                       for entry in pages(Path(config["docs_dir"])) for name, path in entry.items()
                       for id_ in [name.split(" ", 1)[0]])
    return markdown.replace(MARKER, links)
