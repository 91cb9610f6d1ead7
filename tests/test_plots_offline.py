"""`dvc plots show` / `dvc plots diff` render every plot of dvc.yaml with the network off.

The repository's `.dvc/config` makes `dvc_plots_template/index.html` (vega, vega-lite and
vega-embed inlined) DVC's page. The slow tests run DVC on small plot files built from dvc.yaml's
own `plots:` section, in a temporary project with this repository's .dvc/config, custom templates
and page, then open the result in headless Chromium with every request refused.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tools"))

import build_plots_template  # noqa: E402
from check_plots_offline import check_page, find_browser  # noqa: E402

BROWSER = find_browser()
needs_chromium = pytest.mark.skipif(
    BROWSER is None, reason="chromium not installed (apt-get install -y chromium)")


def _plot_defs() -> list[tuple[str, dict | None]]:
    """(name, properties) per entry of dvc.yaml `plots:`; properties None for an image file."""
    defs = []
    for entry in yaml.safe_load((REPO / "dvc.yaml").read_text())["plots"]:
        if isinstance(entry, str):
            defs.append((entry, None))
        else:
            ((name, props),) = entry.items()
            defs.append((name, props))
    return defs


def _write_plot_files(project: Path, seed: int) -> None:
    """Small data for every file the plots section names, with the columns it asks for."""
    x_columns, columns = set(), {}
    for name, props in _plot_defs():
        if props is None:
            (project / name).parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(np.full((8, 12, 3), 40 * seed, np.uint8)).save(project / name)
            continue
        x_columns.add(props["x"])
        for file, fields in props["y"].items():
            wanted = [props["x"], *([fields] if isinstance(fields, str) else fields)]
            columns.setdefault(file, [])
            columns[file] += [c for c in wanted if c not in columns[file]]
    rng = np.random.default_rng(seed)
    for file, names in columns.items():
        sep = "\t" if file.endswith(".tsv") else ","
        rows = [sep.join(names)]
        for i in range(8):
            rows.append(sep.join(f"{2.0 ** (i - 3):g}" if c in x_columns
                                 else f"{rng.uniform():.4f}" for c in names))
        (project / file).parent.mkdir(parents=True, exist_ok=True)
        (project / file).write_text("\n".join(rows) + "\n")


def _run(project: Path, *args: str) -> str:
    env = {**os.environ, "DVC_NO_ANALYTICS": "1",
           "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.org",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.org"}
    proc = subprocess.run(list(args), cwd=project, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise AssertionError(f"{' '.join(args)} failed ({proc.returncode}):\n"
                             f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc.stdout


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A git + DVC project holding only dvc.yaml's plots, with the repo's DVC config and pages."""
    _run(tmp_path, "git", "init", "-q")
    _run(tmp_path, sys.executable, "-m", "dvc", "init", "-q")
    shutil.copy2(REPO / ".dvc" / "config", tmp_path / ".dvc" / "config")
    shutil.copytree(REPO / ".dvc" / "plots", tmp_path / ".dvc" / "plots")
    shutil.copytree(REPO / "dvc_plots_template", tmp_path / "dvc_plots_template")
    plots = yaml.safe_load((REPO / "dvc.yaml").read_text())["plots"]
    (tmp_path / "dvc.yaml").write_text(yaml.safe_dump({"plots": plots}, sort_keys=False))
    _write_plot_files(tmp_path, seed=1)
    return tmp_path


def _vega_plots() -> set[str]:
    return {name for name, props in _plot_defs() if props is not None}


def test_committed_template_holds_the_pinned_vega_builds():
    assert build_plots_template.check(REPO / "dvc_plots_template") == []


def test_an_edited_template_fails_the_pin_check(tmp_path):
    template = shutil.copytree(REPO / "dvc_plots_template", tmp_path / "t")
    page = (template / "index.html").read_text(encoding="utf-8")
    (template / "index.html").write_text(page.replace("vegaEmbed", "vegaEmbeD", 1),
                                         encoding="utf-8")
    assert build_plots_template.check(template) != []


def test_dvc_config_makes_the_offline_page_the_default():
    from dvc.repo import Repo

    with Repo(str(REPO)) as repo:
        configured = repo.config["plots"]["html_template"]
        # DVC resolves a relative html_template against the .dvc directory (dvc/commands/plots.py)
        resolved = Path(repo.dvc_dir, configured).resolve()
    assert resolved == (REPO / "dvc_plots_template" / "index.html").resolve()


@pytest.mark.slow
@needs_chromium
def test_plots_show_renders_every_plot_offline(project):
    _run(project, sys.executable, "-m", "dvc", "plots", "show")
    results = check_page(project / "dvc_plots" / "index.html", BROWSER)
    assert [r for r in results if not r[1]] == []
    assert {name for name, _, detail in results if "data-mark" in detail} == _vega_plots()
    assert any("image" in detail for _, _, detail in results)


@pytest.mark.slow
@needs_chromium
def test_plots_diff_renders_both_revisions_offline(project):
    _run(project, "git", "add", "-A")
    _run(project, "git", "commit", "-qm", "plots")
    _write_plot_files(project, seed=2)
    _run(project, sys.executable, "-m", "dvc", "plots", "diff", "HEAD")
    results = check_page(project / "dvc_plots" / "index.html", BROWSER)
    assert [r for r in results if not r[1]] == []
    assert {name for name, _, detail in results if "data-mark" in detail} == _vega_plots()


@pytest.mark.slow
@needs_chromium
def test_page_loading_vega_from_the_cdn_fails_the_offline_check(project):
    """The control: DVC's way (vega from jsdelivr) must not pass, so the check can fail."""
    page = (project / "dvc_plots_template" / "index.html").read_text(encoding="utf-8")
    cdn = re.sub(r'<script data-vendor="([^"]+)">.*?</script>',
                 lambda m: f'<script src="https://cdn.jsdelivr.net/npm/{m.group(1)}"></script>',
                 page, flags=re.S)
    (project / "cdn.html").write_text(cdn, encoding="utf-8")
    _run(project, sys.executable, "-m", "dvc", "plots", "show", "--html-template", "cdn.html")
    results = check_page(project / "dvc_plots" / "index.html", BROWSER)
    failed = {name for name, ok, _ in results if not ok}
    assert _vega_plots() <= failed
    assert "page" in failed  # the static check names the network references too
