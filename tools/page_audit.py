"""Measure built pages as a reader sees them, in headless Chromium, at two widths.

For each page, a copy with ``tests/browser/page_audit.js`` appended is opened
at a desktop (1280 px) and a phone (390 px) width; the script waits for
MathJax, then reports elements wider than their column (display equations,
tables, code, images; with every dropdown opened), figures without a caption
or alt text, whether solutions are collapsed, and the page's text.

Used by ``tests/browser/test_pages.py`` and, from the command line, to print
the counts of a built book:

    python tools/page_audit.py _build/html            # summary per page
    python tools/page_audit.py _build/html --json out.json
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parents[1]
AUDIT_JS = ROOT / "tests" / "browser" / "page_audit.js"
WIDTHS = {"desktop": 1280, "phone": 390}
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--virtual-time-budget=20000",
]


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


WRAPPER = """<!DOCTYPE html><html><head><meta charset="utf-8"></head>
<body style="margin:0">
{frames}
<script>
window.addEventListener("message", function (e) {{
  var pre = document.createElement("pre");
  pre.className = "ls-audit";
  pre.textContent = e.data;
  document.body.appendChild(pre);
}});
</script></body></html>"""
FRAME = (
    '<iframe src="{src}" style="border:0;width:{width}px;height:{height}px;'
    'margin-top:-{offset}px;display:block"></iframe>'
)


def _run_chromium(args: list[str], browser: str | None) -> subprocess.CompletedProcess:
    browser = browser or chromium()
    if browser is None:
        raise RuntimeError("chromium is not installed (apt-get install chromium)")
    with tempfile.TemporaryDirectory() as profile:
        return subprocess.run(
            [browser, *FLAGS, f"--user-data-dir={profile}", *args],
            capture_output=True,
            text=True,
            timeout=300,
        )


class _Copies:
    """Audited copies of pages (the audit script appended), beside each page so
    that relative links to _static resolve, and one wrapper page holding them
    in iframes of the audited width; all removed afterwards."""

    def __init__(
        self, pages, html_dir, width: int, height: int, offset: int = 0, group: int = 0
    ):
        script = f"<script>{AUDIT_JS.read_text(encoding='utf-8')}</script>"
        self.files = []
        frames = []
        for page in pages:
            inner = page.parent / f"_audit_{page.stem}.html"
            html = page.read_text(encoding="utf-8")
            inner.write_text(html.replace("</body>", script + "</body>"), "utf-8")
            self.files.append(inner)
            src = inner.relative_to(html_dir).as_posix()
            frames.append(
                FRAME.format(src=src, width=width, height=height, offset=offset)
            )
        self.outer = html_dir / f"_audit_wrapper_{width}_{group}.html"
        self.outer.write_text(WRAPPER.format(frames="\n".join(frames)), "utf-8")
        self.files.append(self.outer)

    def __enter__(self) -> pathlib.Path:
        return self.outer

    def __exit__(self, *exc) -> None:
        for f in self.files:
            f.unlink(missing_ok=True)


def _audit_group(pages, html_dir, width: int, group: int, browser) -> dict[str, dict]:
    with _Copies(pages, html_dir, width, 1000, group=group) as wrapper:
        res = _run_chromium(
            [
                f"--window-size={max(width, 500) + 20},1000",
                "--dump-dom",
                wrapper.as_uri(),
            ],
            browser,
        )
    import html as html_mod

    results = {}
    for raw in re.findall(r'<pre class="ls-audit">(.*?)</pre>', res.stdout, re.S):
        r = json.loads(html_mod.unescape(raw))
        name = pathlib.Path(r.get("page", "?")).name.removeprefix("_audit_")
        match = [p for p in pages if p.name == name]
        key = match[0].relative_to(html_dir).as_posix() if match else name
        results[key] = r
    missing = [
        p.relative_to(html_dir).as_posix()
        for p in pages
        if p.relative_to(html_dir).as_posix() not in results
    ]
    if missing:
        raise RuntimeError(
            f"no audit result at {width} px for {missing}\n{res.stderr[-1500:]}"
        )
    return results


def audit_pages(
    pages: list[pathlib.Path],
    html_dir: pathlib.Path,
    width: int,
    browser=None,
    *,
    processes: int = 2,
) -> dict[str, dict]:
    """Open every page in an iframe ``width`` px wide (a phone's viewport can be
    narrower than Chromium's smallest window) with the audit script, the pages
    split over ``processes`` browser runs at once (typesetting is the cost).
    Returns {page path relative to html_dir: result}."""
    groups = [pages[k::processes] for k in range(processes) if pages[k::processes]]
    with concurrent.futures.ThreadPoolExecutor(len(groups)) as pool:
        parts = pool.map(
            lambda kg: _audit_group(kg[1], html_dir, width, kg[0], browser),
            enumerate(groups),
        )
        return {k: v for part in parts for k, v in part.items()}


def screenshots(
    page: pathlib.Path,
    html_dir: pathlib.Path,
    width: int,
    height: int,
    out_dir: pathlib.Path,
    *,
    window: int = 4000,
    browser: str | None = None,
) -> list[pathlib.Path]:
    """Screenshot the whole page at ``width`` px, in slices ``window`` px tall."""
    shots = []
    for k, offset in enumerate(range(0, max(height, 1), window)):
        out = out_dir / f"{page.stem}_{width}_{k:02d}.png"
        with _Copies([page], html_dir, width, height, offset) as wrapper:
            _run_chromium(
                [
                    f"--window-size={width},{min(window, height - offset)}",
                    f"--screenshot={out}",
                    wrapper.as_uri(),
                ],
                browser,
            )
        shots.append(out)
    return shots


def pages(html_dir: pathlib.Path) -> list[pathlib.Path]:
    found = sorted((html_dir / "chapters").rglob("*.html"))
    return [p for p in found if not p.name.startswith("_audit_")]


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("html_dir", type=pathlib.Path)
    ap.add_argument("--json", type=pathlib.Path, help="write every result here")
    ap.add_argument(
        "--screenshots", type=pathlib.Path, help="also save full-page screenshots here"
    )
    ap.add_argument(
        "--only", nargs="*", default=[], help="page stems to audit (and list in full)"
    )
    args = ap.parse_args(argv)
    html_dir = args.html_dir.resolve()
    found = [p for p in pages(html_dir) if not args.only or p.stem in args.only]
    results = {}
    for label, width in WIDTHS.items():
        for name, r in audit_pages(found, html_dir, width).items():
            results[f"{name}@{label}"] = r
            imgs = r.get("images", [])
            print(
                f"{name:42s} {label:7s} overflow {len(r.get('overflow', [])):3d}"
                f"  no-caption {sum(not i['caption'] for i in imgs):2d}"
                f"  bad-alt {sum(bad_alt(i['alt']) for i in imgs):2d}"
                f"  open-solutions {sum(not s['hidden'] for s in r['solutions']):2d}"
                f"  page-scroll {r.get('page_scroll_px', 0)}"
            )
            if args.only:
                for o in r["overflow"]:
                    print(f"    {o['overflow_px']:4d} px too wide: {o['what']}")
                for i in imgs:
                    if not i["caption"] or bad_alt(i["alt"]):
                        print(f"    figure without caption/alt: {i['src']}")
            if args.screenshots and "height" in r:
                args.screenshots.mkdir(parents=True, exist_ok=True)
                page = html_dir / name
                screenshots(page, html_dir, width, r["height"], args.screenshots)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1), encoding="utf-8")
    return 0


def bad_alt(alt: str) -> bool:
    """An alt text that says nothing: empty, or a file name (what Sphinx writes
    when no alt text is given)."""
    alt = alt.strip()
    path = re.search(r"^(\.\./)*_images/|\.(png|svg|jpe?g)$", alt)
    return len(alt) < 15 or bool(path)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
