"""Build (or check) the offline HTML page that `dvc plots show` and `dvc plots diff` fill in.

DVC's default page loads vega, vega-lite and vega-embed from a CDN, so without a network only the
images render. `dvc_plots_template/index.html` carries the three minified builds inline, taken
unchanged from the npm tarballs pinned in `dvc_plots_template/vendor.json` (version, npm integrity
of the tarball, sha256 of the inlined file), with their BSD-3-Clause licences in the page and
beside it. `.dvc/config` makes it DVC's default (`[plots] html_template`).

Upgrade: edit `version` and `integrity` (`npm view vega@X dist.integrity`) in vendor.json, then

    cd /tmp/vendor && npm pack vega@X vega-lite@Y vega-embed@Z
    python tools/build_plots_template.py build --tarballs /tmp/vendor

`check` (no network, no tarballs) verifies that the committed page holds exactly the pinned files
and is what `build` would write; exit 0 when it does, 1 otherwise.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import re
import sys
import tarfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TEMPLATE_DIR = REPO / "dvc_plots_template"
PLACEHOLDERS = ("{plot_divs}", "{scripts}", "{refresh_tag}")

# After the libraries: report each plot's outcome on its own <div>, so a failed plot says why on
# the page (instead of staying blank) and tools/check_plots_offline.py can read the result.
# data-vega-embed = "rendered" | "error"; data-vega-marks = scene items drawn by data marks.
STATUS_SCRIPT = """\
(function () {
  var embed = window.vegaEmbed;
  function dataMarkItems(node) {
    if (!node || !node.items) { return 0; }
    var own = node.marktype && node.marktype !== "group" && node.role === "mark"
      ? node.items.length : 0;
    return node.items.reduce(function (n, child) { return n + dataMarkItems(child); }, own);
  }
  function status(el, spec, opts) {
    var target = typeof el === "string" ? document.querySelector(el) : el;
    return embed(el, spec, opts).then(function (result) {
      return result.view.runAsync().then(function () {
        var items = dataMarkItems(result.view.scenegraph().root);
        target.setAttribute("data-vega-marks", String(items));
        target.setAttribute("data-vega-embed", "rendered");
        return result;
      });
    }).catch(function (error) {
      target.setAttribute("data-vega-embed", "error");
      var note = document.createElement("pre");
      note.textContent = "This plot failed to render: " + error;
      target.appendChild(note);
      throw error;
    });
  }
  Object.keys(embed).forEach(function (key) { status[key] = embed[key]; });
  window.vegaEmbed = status;
})();"""

PAGE_HEAD = """\
<!DOCTYPE html>
<html>
<head>
    <meta charset="utf-8">
    {refresh_tag}
    <title>DVC Plot</title>
    <!-- Offline page for `dvc plots show` / `dvc plots diff`, written by
         tools/build_plots_template.py from dvc_plots_template/vendor.json. Do not edit by hand.
         It has no scripts placeholder on purpose: DVC would put its CDN script tags there. -->
"""

PAGE_TAIL = """\
    <style>
        table {
            border-spacing: 15px;
        }
    </style>
</head>
<body>
    {plot_divs}
</body>
</html>
"""


def npm_integrity(data: bytes) -> str:
    """The `dist.integrity` string npm publishes for a tarball (Subresource Integrity, sha512)."""
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def render_page(vendor: list[dict], scripts: dict[str, str], licenses: dict[str, str]) -> str:
    """The template page: each library's licence as a comment, then its build inline."""
    parts = [PAGE_HEAD]
    for pkg in vendor:
        name = pkg["package"]
        parts.append(f"    <!-- {name} {pkg['version']} ({pkg['file']} from the npm tarball)\n"
                     f"{licenses[name].rstrip()}\n    -->\n")
        tag = f'<script data-vendor="{name}@{pkg["version"]}">'
        parts.append(f"    {tag}{scripts[name]}</script>\n")
    parts.append(f"    <script>\n{STATUS_SCRIPT}\n    </script>\n")
    parts.append(PAGE_TAIL)
    return "".join(parts)


def inline_scripts(page: str) -> dict[str, str]:
    """package name -> inlined build, read back from a rendered page."""
    found = re.findall(r'<script data-vendor="([^"@]+)@[^"]*">(.*?)</script>', page, flags=re.S)
    return dict(found)


def _safe_to_inline(name: str, text: str, forbidden: tuple[str, ...]) -> None:
    lowered = text.lower()
    for bad in (*forbidden, *PLACEHOLDERS):
        if bad in lowered:
            raise SystemExit(f"{name}: contains {bad!r}, cannot be inlined unchanged")


def build(tarballs: Path, template_dir: Path) -> None:
    vendor_path = template_dir / "vendor.json"
    vendor = json.loads(vendor_path.read_text())
    scripts, licenses = {}, {}
    for pkg in vendor:
        name, version = pkg["package"], pkg["version"]
        tgz = tarballs / f"{name}-{version}.tgz"
        data = tgz.read_bytes()
        if npm_integrity(data) != pkg["integrity"]:
            raise SystemExit(f"{tgz}: integrity differs from vendor.json (not {name}@{version}?)")
        with tarfile.open(tgz) as tar:
            scripts[name] = _member_text(tar, pkg["file"])
            licenses[name] = _member_text(tar, "package/LICENSE")
        _safe_to_inline(f"{name}/{pkg['file']}", scripts[name], ("</script", "<!--", "<script"))
        _safe_to_inline(f"{name}/package/LICENSE", licenses[name], ("--", "<", ">"))
        pkg["sha256"] = sha256(scripts[name])
        (template_dir / f"LICENSE.{name}").write_text(licenses[name], encoding="utf-8")
    (template_dir / "index.html").write_text(render_page(vendor, scripts, licenses),
                                             encoding="utf-8")
    vendor_path.write_text(json.dumps(vendor, indent=2) + "\n")


def _member_text(tar: tarfile.TarFile, member: str) -> str:
    handle = tar.extractfile(member)
    if handle is None:
        raise SystemExit(f"{tar.name}: no file {member}")
    return handle.read().decode("utf-8")


def check(template_dir: Path) -> list[str]:
    """Problems with the committed page; empty when it holds exactly the pinned builds."""
    vendor = json.loads((template_dir / "vendor.json").read_text())
    page = (template_dir / "index.html").read_text(encoding="utf-8")
    scripts = inline_scripts(page)
    problems = []
    for pkg in vendor:
        name = pkg["package"]
        if name not in scripts:
            problems.append(f"index.html: no inlined {name}")
        elif sha256(scripts[name]) != pkg["sha256"]:
            problems.append(f"index.html: {name} differs from the pinned {pkg['file']}")
    if problems:
        return problems
    licenses = {p["package"]: (template_dir / f"LICENSE.{p['package']}").read_text()
                for p in vendor}
    if render_page(vendor, scripts, licenses) != page:
        problems.append("index.html: not what tools/build_plots_template.py writes (edited?)")
    for placeholder, count in (("{plot_divs}", 1), ("{refresh_tag}", 1), ("{scripts}", 0)):
        if page.count(placeholder) != count:
            problems.append(f"index.html: needs {placeholder} {count} time(s)")
    return problems


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("command", choices=["build", "check"])
    p.add_argument("--tarballs", type=Path, help="folder with the `npm pack` tarballs (build)")
    p.add_argument("--template-dir", type=Path, default=TEMPLATE_DIR)
    args = p.parse_args(argv)
    if args.command == "build":
        if args.tarballs is None:
            p.error("build needs --tarballs")
        build(args.tarballs, args.template_dir)
        print(f"wrote {args.template_dir / 'index.html'}")
        return 0
    problems = check(args.template_dir)
    for line in problems:
        print(line)
    if not problems:
        print(f"{args.template_dir / 'index.html'}: holds the pinned vega builds")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
