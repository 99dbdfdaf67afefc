"""MkDocs hook: every results table and plot on the site is rendered at build time from
`benchmarks/results/*.json` by `benchmarks/results_tables.py`.

A page writes `{{ results FILE }}` (or `{{ results FILE TABLE }}` for a second table of the same
file) and `{{ plot FILE }}`. A marker that names a missing file or an unknown table fails the build;
the JSON files and the plots are added to the site, so every table links to the file it came from.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File, Files

REPO = Path(__file__).resolve().parents[2]
MARKER = re.compile(r"\{\{\s*(results|plot)\s+([\w.-]+\.json)(?:\s+([\w-]+))?\s*\}\}")


def _tables():
    spec = importlib.util.spec_from_file_location("results_tables", REPO / "benchmarks" / "results_tables.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


TABLES = _tables()


def on_files(files: Files, config) -> Files:
    """Add each results JSON and each plot as a generated file of the site."""
    for path in sorted(TABLES.RESULTS.glob("*.json")):
        files.append(File.generated(config, TABLES.json_path(path.name), content=path.read_bytes()))
    for name in TABLES.PLOTS:
        files.append(File.generated(config, TABLES.plot_path(name), content=TABLES.plot(name)))
    return files


def on_page_markdown(markdown: str, page, config, files) -> str:
    prefix = "../" * page.file.src_uri.count("/")

    def replace(match: re.Match) -> str:
        kind, name, which = match.group(1), match.group(2), match.group(3) or ""
        try:
            if kind == "plot":
                if name not in TABLES.PLOTS:
                    raise TABLES.ResultsError(f"no plot for {name}")
                return f"![{name}]({prefix}{TABLES.plot_path(name)})"
            return TABLES.render(name, which, prefix)
        except (TABLES.ResultsError, KeyError) as err:
            raise PluginError(f"{page.file.src_uri}: {{{{ {kind} {name} }}}}: {err}") from err

    return MARKER.sub(replace, markdown)
