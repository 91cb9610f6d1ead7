"""Check that a `dvc plots show` page renders every plot with the network off.

Usage: python tools/check_plots_offline.py [dvc_plots/index.html] [--chromium PATH]

Opens the page in headless Chromium with every network request refused (host resolution mapped to
nothing, a proxy to a closed port, background services off, a fresh profile), lets its scripts run
for a virtual time budget, and reads back the DOM. A vega plot counts as rendered when its <div>
holds vega's `marks` <svg>/<canvas> and the page template reported it rendered with at least one
data-mark item drawn (dvc_plots_template/index.html records that as data-vega-embed and
data-vega-marks). An image counts when its file is local and not empty. The page itself must not
reference http(s) resources. Prints one line per plot; exit 0 when all render, 1 otherwise.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlparse

BROWSERS = ("chromium", "chromium-browser", "google-chrome")
OFFLINE_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
    "--disable-default-apps", "--disable-extensions", "--disable-domain-reliability",
    "--host-resolver-rules=MAP * ~NOTFOUND", "--proxy-server=http://127.0.0.1:9",
    "--proxy-bypass-list=<-loopback>",
)
EMBED_CALL = re.compile(r"""vegaEmbed\(\s*['"]#([^'"]+)['"]""")
REMOTE = re.compile(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", re.I)


@dataclass
class Element:
    tag: str
    attrs: dict[str, str]
    children: list[Element] = field(default_factory=list)
    text: str = ""

    def descendants(self):
        for child in self.children:
            yield child
            yield from child.descendants()


class _Tree(HTMLParser):
    """A forgiving DOM: enough to find elements by id and look inside them."""

    VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
            "track", "wbr"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Element("#document", {})
        self.stack = [self.root]
        self.by_id: dict[str, Element] = {}

    def handle_starttag(self, tag, attrs):
        element = Element(tag, {k: v or "" for k, v in attrs})
        self.stack[-1].children.append(element)
        if "id" in element.attrs:
            self.by_id.setdefault(element.attrs["id"].strip(), element)
        if tag not in self.VOID:
            self.stack.append(element)

    def handle_data(self, data):
        self.stack[-1].text += data

    def handle_endtag(self, tag):
        for depth in range(len(self.stack) - 1, 0, -1):
            if self.stack[depth].tag == tag:
                del self.stack[depth:]
                return


def parse(html: str) -> _Tree:
    tree = _Tree()
    tree.feed(html)
    tree.close()
    return tree


def find_browser(explicit: str | None = None) -> str | None:
    if explicit:
        return explicit
    return next((path for name in BROWSERS if (path := shutil.which(name))), None)


def dump_dom(page: Path, browser: str, budget_ms: int = 30000, timeout_s: float = 180.0) -> str:
    """The page's DOM after its scripts ran, loaded by a browser that cannot reach any network."""
    with tempfile.TemporaryDirectory(prefix="plots-offline-") as profile:
        cmd = [browser, *OFFLINE_FLAGS, f"--user-data-dir={profile}",
               f"--virtual-time-budget={budget_ms}", "--dump-dom", page.resolve().as_uri()]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s)
    if proc.returncode != 0 or "<html" not in proc.stdout.lower():
        raise RuntimeError(f"{browser} failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return proc.stdout


def static_problems(source: str) -> list[str]:
    """References to network resources in the page as written (before any script ran)."""
    return [f"page loads {m.group(0)}... from the network" for m in REMOTE.finditer(source)]


def plot_results(source: str, dom: str, page: Path) -> list[tuple[str, bool, str]]:
    """(plot, ok, detail) for every vega plot and image in the page."""
    rendered = parse(dom)
    results = []
    for plot_id in EMBED_CALL.findall(source):
        div = rendered.by_id.get(plot_id)
        if div is None:
            results.append((plot_id, False, "no <div> with this id after loading"))
            continue
        marks = [e for e in div.descendants()
                 if e.tag in ("svg", "canvas") and "marks" in e.attrs.get("class", "").split()]
        status = div.attrs.get("data-vega-embed", "")
        items = int(div.attrs.get("data-vega-marks", "0") or 0)
        if status == "rendered" and marks and items > 0:
            detail = f"rendered, {items} data-mark items on a {marks[0].tag}"
            results.append((plot_id, True, detail))
        elif status == "error":
            error = " ".join(e.text.strip() for e in div.descendants() if e.tag == "pre")
            results.append((plot_id, False, error or "vega-embed failed"))
        else:
            results.append((plot_id, False,
                            f"not rendered (status {status or 'none'}, {len(marks)} marks "
                            f"element(s), {items} data-mark items)"))
    for img in (e for e in parse(source).root.descendants() if e.tag == "img"):
        src = img.attrs.get("src", "")
        url = urlparse(src)
        if url.scheme == "data":
            results.append((src[:40], len(src) > 64, "inline image"))
            continue
        if url.scheme not in ("", "file"):
            results.append((src, False, "image from the network"))
            continue
        path = (page.parent / unquote(url.path)) if not url.path.startswith("/") \
            else Path(unquote(url.path))
        ok = path.is_file() and path.stat().st_size > 0
        results.append((src, ok, "local image" if ok else f"missing image file {path}"))
    return results


def check_page(page: Path, browser: str, budget_ms: int = 30000) -> list[tuple[str, bool, str]]:
    source = page.read_text(encoding="utf-8")
    problems = [("page", False, p) for p in static_problems(source)]
    results = plot_results(source, dump_dom(page, browser, budget_ms), page)
    if not EMBED_CALL.search(source):
        problems.append(("page", False, "no vega plot in the page"))
    return problems + results


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("page", type=Path, nargs="?", default=Path("dvc_plots/index.html"))
    p.add_argument("--chromium", help="browser executable (default: chromium on PATH)")
    p.add_argument("--budget-ms", type=int, default=30000, help="virtual time the page gets")
    args = p.parse_args(argv)
    browser = find_browser(args.chromium)
    if browser is None:
        print("chromium not found (apt-get install -y chromium)")
        return 2
    if not args.page.is_file():
        print(f"{args.page}: no such page (run `dvc plots show` first)")
        return 2
    results = check_page(args.page, browser, args.budget_ms)
    for name, ok, detail in results:
        print(f"{'ok  ' if ok else 'FAIL'} {name}: {detail}")
    failed = sum(not ok for _, ok, _ in results)
    print(f"{len(results) - failed}/{len(results)} rendered offline")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
