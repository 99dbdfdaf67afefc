"""The user's guide and the documentation site: the README stays a guide, every figure comes from
its results file, and the site cites only results files that exist."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import results_tables

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs"
MARKER = re.compile(r"\{\{\s*(results|plot)\s+([\w.-]+\.json)(?:\s+([\w-]+))?\s*\}\}")
TABLES = results_tables


def test_the_readme_is_a_guide_of_at_most_300_lines():
    assert len((REPO / "README.md").read_text().splitlines()) <= 300


def test_the_readme_headlines_are_what_the_results_files_say():
    assert TABLES.readme_block((REPO / "README.md").read_text()) == TABLES.headlines().strip(), (
        "README headlines differ from benchmarks/results: run `python benchmarks/results_tables.py --readme`")


def test_a_changed_figure_is_caught(tmp_path, monkeypatch):
    """The check above can fail: a results file that moves changes the rendered headline."""
    results = tmp_path / "results"
    shutil.copytree(TABLES.RESULTS, results)
    data = json.loads((results / "mdl001_sealed.json").read_text())
    data["intervals"]["macro_roc_auc"]["model"]["mean"] -= 0.05
    (results / "mdl001_sealed.json").write_text(json.dumps(data))
    before = TABLES.headlines()
    monkeypatch.setattr(TABLES, "RESULTS", results)
    assert TABLES.headlines() != before


def test_every_cited_results_file_exists_and_renders():
    cited = set()
    for page in DOCS.rglob("*.md"):
        for kind, name, which in MARKER.findall(page.read_text()):
            assert (TABLES.RESULTS / name).exists(), f"{page.relative_to(REPO)} cites missing {name}"
            (TABLES.plot if kind == "plot" else TABLES.render)(*((name,) if kind == "plot" else (name, which)))
            cited.add(name)
    for text in ((REPO / "README.md").read_text(), *(p.read_text() for p in DOCS.rglob("*.md"))):
        for name in re.findall(r"benchmarks/results/([\w.-]+\.json)\b", text):
            assert (TABLES.RESULTS / name).exists(), name
    assert {"mdl001_sealed.json", "mdl001_panel_20k.json", "mdl001_quality.json", "mdl003_sealed.json",
            "mdl009_sealed.json"} <= cited


def test_a_missing_results_file_fails_rendering():
    with pytest.raises(TABLES.ResultsError):
        TABLES.render("no_such_benchmark.json")


def test_every_results_file_records_where_it_came_from():
    for path in sorted(TABLES.RESULTS.glob("*.json")):
        prov = json.loads(path.read_text()).get("provenance", {})
        assert {"command", "commit", "date", "machine"} <= set(prov), f"{path.name} lacks provenance"
        assert {"cores", "memory_gib"} <= set(prov["machine"]), path.name


@pytest.mark.slow
def test_the_strict_site_build_fails_on_a_broken_link(tmp_path):
    site = tmp_path / "repo"
    for part in ("docs", "benchmarks", "mkdocs.yml"):
        src = REPO / part
        (shutil.copytree if src.is_dir() else shutil.copy)(src, site / part)
    (site / "docs" / "index.md").write_text((site / "docs" / "index.md").read_text() + "\n[gone](no-such-page.md)\n")
    mkdocs = [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "out")]
    done = subprocess.run(mkdocs, cwd=site, capture_output=True, text=True, timeout=300)
    assert done.returncode != 0 and "no-such-page.md" in done.stdout + done.stderr


def test_no_results_file_names_a_folder_of_the_machine_that_wrote_it():
    """Results files travel with the repository: a path in one names only files inside the checkout
    (relative) or a file by its name (`provenance.portable`, `provenance.training_records`)."""
    absolute = re.compile(r'"(/(?:home|root|tmp|work|Users|var|mnt|opt)/[^"]*)"')
    for path in sorted(TABLES.RESULTS.glob("*.json")):
        found = absolute.findall(path.read_text())
        assert not found, f"{path.name} names {found[:3]}"
