"""Open every built page in headless Chromium and check what a reader sees.

At a desktop width (1280 px) and a phone width (390 px):

* equations are typeset offline (bundled MathJax, no raw TeX or MyST left),
* no display equation, table, code block or image is wider than its column,
* every figure has a numbered caption and alt text that describes it,
* solutions are collapsed (their checks and outputs hidden until opened),
* no "Exercise Exercise", no internal label printed in an output,
* every chapter shows a figure and an "open in Colab" link to its notebook.

All pages of one width are measured in one browser run by
``tools/page_audit.py`` (which also takes the screenshots). Needs the built
HTML (``make book-check``) and Debian's ``chromium``: without Chromium the
tests are skipped on a reader's machine but fail in CI (CI=true).
"""

from __future__ import annotations

import os
import pathlib
import re
import subprocess
import sys
import tempfile

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))
import page_audit  # noqa: E402

HTML_DIR = pathlib.Path(os.environ.get("BOOK_HTML", ROOT / "_build" / "html")).resolve()
CHAPTERS = sorted(p.stem for p in (ROOT / "chapters").glob("[0-9][0-9]_*.ipynb"))
CHROMIUM = page_audit.chromium()

if CHROMIUM is None:
    if os.environ.get("CI"):
        pytest.fail("chromium is required in CI for the browser check", pytrace=False)
    pytest.skip(
        "chromium not installed (apt-get install chromium)", allow_module_level=True
    )

PAGES = page_audit.pages(HTML_DIR) if HTML_DIR.exists() else []
PAGE_IDS = [p.relative_to(HTML_DIR / "chapters").as_posix() for p in PAGES]


@pytest.fixture(scope="session", params=sorted(page_audit.WIDTHS.items()))
def audits(request):
    label, width = request.param
    if not PAGES:
        pytest.fail(
            f"no pages under {HTML_DIR}: build the book first (make book-check)",
            pytrace=False,
        )
    results = page_audit.audit_pages(PAGES, HTML_DIR, width)
    return label, {
        pathlib.Path(k).relative_to("chapters").as_posix(): v
        for k, v in results.items()
    }


def each_page(audits):
    label, results = audits
    for name in PAGE_IDS:
        yield f"{name}@{label}", results[name]


def test_math_is_typeset_offline(audits):
    for name, r in each_page(audits):
        remote = [s for s in r["scripts"] if s.startswith(("http:", "https:", "//"))]
        assert not remote, f"{name}: scripts loaded from the network: {remote}"
        if r["equations"]:
            assert any("_static/mathjax/tex-chtml.js" in s for s in r["scripts"]), (
                f"{name}: MathJax is not the bundled offline copy"
            )
        leftovers = [m for m in (r"\(", r"\[", "$$", r"\begin{") if m in r["text"]]
        assert not leftovers, f"{name}: raw TeX left in the rendered page: {leftovers}"


def test_chapters_have_equations_figures_and_colab(audits):
    for name, r in each_page(audits):
        stem = name.split("@")[0].removesuffix(".html")
        if stem not in CHAPTERS:
            continue
        assert r["equations"] > 0, f"{name}: no typeset equation"
        assert r["images"], f"{name}: no figure"
        assert any(f"/chapters/{stem}.ipynb" in h for h in r["colab"]), (
            f"{name}: no Colab launch link to its own notebook"
        )


def test_nothing_wider_than_its_column(audits):
    """Display equations, tables, code and images fit the text column (with
    every dropdown opened), and the page never scrolls sideways."""
    problems = []
    for name, r in each_page(audits):
        problems += [
            f"{name}: {o['overflow_px']} px too wide: {o['what']}"
            for o in r["overflow"]
        ]
        if r["page_scroll_px"] > 0:
            problems.append(
                f"{name}: the page scrolls sideways by {r['page_scroll_px']} px"
            )
    assert not problems, f"{len(problems)} elements overflow:\n" + "\n".join(problems)


def test_every_figure_has_caption_and_alt_text(audits):
    problems = []
    for name, r in each_page(audits):
        for img in r["images"]:
            if not re.match(r"Fig\. \d+\.\d+", img["caption"]):
                problems.append(
                    f"{name}: figure without a numbered caption: {img['src']}"
                )
            if page_audit.bad_alt(img["alt"]):
                problems.append(f"{name}: alt text says nothing: {img['alt']!r}")
    assert not problems, "\n".join(problems)


def test_figures_are_sharp(audits):
    """A figure is not drawn smaller than it is shown (no blurry upscaling)."""
    for name, r in each_page(audits):
        for img in r["images"]:
            assert img["natural_px"] >= img["rendered_px"], (
                f"{name}: {img['src']} has {img['natural_px']} px, shown at {img['rendered_px']}"
            )


def test_solutions_are_collapsed(audits):
    for name, r in each_page(audits):
        for sol in r["solutions"]:
            assert sol["dropdown"] and sol["hidden"], (
                f"{name}: {sol['label']} is visible before it is opened"
            )


def test_references_read_once(audits):
    for name, r in each_page(audits):
        for twice in (
            "Exercise Exercise",
            "Section Section",
            "Chapter Chapter",
            "Fig. Fig.",
        ):
            # case-insensitive: "exercise {ref}`...`" reads "exercise Exercise 6.3"
            assert twice.lower() not in r["text"].lower(), (
                f"{name}: {twice!r} in the text"
            )


def test_outputs_print_no_internal_labels(audits):
    """Check cells print equation numbers, not the labels of the sources."""
    for name, r in each_page(audits):
        labels = re.findall(r"\bch\d+-[a-z][a-z0-9-]+", r["output_text"])
        assert not labels, f"{name}: internal labels printed in outputs: {labels[:5]}"


def test_no_raw_markup_left():
    """MyST roles and directive options that failed to parse show up as text.

    Checked on the HTML as built: in the rendered DOM, MathJax may swallow such
    leftovers into a (garbled) equation."""
    for page, name in zip(PAGES, PAGE_IDS, strict=True):
        built = page.read_text(encoding="utf-8")
        built = re.sub(r"<pre\b.*?</pre>", " ", built, flags=re.S | re.I)
        built = re.sub(
            r'<(span|div) class="math[^"]*">.*?</\1>', " ", built, flags=re.S
        )
        built = re.sub(r"<(script|style)\b.*?</\1>", " ", built, flags=re.S | re.I)
        text = re.sub(r"<[^>]+>", " ", built)
        markers = ("{eq}`", "{cite}`", "{ref}`", "{doc}`", "{term}`", "{numref}`")
        markers += (":class: dropdown", ":label:", "$")
        leftovers = [m for m in markers if m in text]
        assert not leftovers, f"{name}: unparsed markup in the built page: {leftovers}"


def test_screenshot(tmp_path):
    """A real screenshot can be taken (all pages: python tools/page_audit.py
    _build/html --screenshots DIR)."""
    page = HTML_DIR / "chapters" / f"{CHAPTERS[0]}.html"
    out = tmp_path / "shot.png"
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run(
            [
                CHROMIUM,
                *page_audit.FLAGS,
                f"--user-data-dir={profile}",
                "--window-size=1280,1600",
                f"--screenshot={out}",
                page.as_uri(),
            ],
            capture_output=True,
            timeout=120,
            check=True,
        )
    assert out.stat().st_size > 20_000
