"""Checks of the book's sources that need no execution: the TOC, the setup
cells, and the stored outputs that strict nbval will compare against."""

from __future__ import annotations

import json
import pathlib
import re
import sys

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import make_exercise_index  # noqa: E402
import sync_setup_cells  # noqa: E402

CHAPTERS = sorted((ROOT / "chapters").glob("[0-9][0-9]_*.ipynb"))


def toc_files() -> list[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    files = [toc["root"]]
    for part in toc.get("parts", []):
        for ch in part.get("chapters", []):
            files.append(ch["file"])
            files.extend(s["file"] for s in ch.get("sections", []))
    return files


def test_chapters_are_numbered_without_gaps():
    numbers = [int(p.stem[:2]) for p in CHAPTERS]
    assert len(numbers) >= 7 and numbers == list(range(1, len(numbers) + 1))


@pytest.mark.parametrize("nb_path", CHAPTERS, ids=lambda p: p.stem)
def test_no_execution_metadata(nb_path):
    """No per-cell timestamps: a one-line edit must diff as one line
    (`python tools/run_chapter.py --strip-only NB` removes them)."""
    nb = json.loads(nb_path.read_text(encoding="utf-8"))
    stamped = [
        i
        for i, c in enumerate(nb["cells"])
        if {"execution", "ExecuteTime"} & set(c.get("metadata", {}))
    ]
    assert not stamped, f"cells {stamped} store execution metadata"


def test_every_chapter_in_toc_and_every_toc_entry_exists():
    files = toc_files()
    for nb in CHAPTERS:
        assert f"chapters/{nb.stem}" in files, f"{nb.name} is not in _toc.yml"
    for f in files:
        assert any((ROOT / (f + ext)).exists() for ext in ("", ".md", ".ipynb")), (
            f"_toc.yml names missing {f}"
        )


def test_exercise_index_is_up_to_date():
    assert make_exercise_index.main(["--check"]) == 0


def test_setup_cells_match_config():
    assert sync_setup_cells.main(["--check"]) == 0


@pytest.mark.parametrize("nb_path", CHAPTERS, ids=lambda p: p.stem)
def test_setup_cell_never_installs_torch_or_numpy(nb_path):
    nb = json.loads(nb_path.read_text(encoding="utf-8"))
    setup = "".join(sync_setup_cells.first_code_cell(nb)["source"])
    assert "torch" not in setup and "numpy" not in setup
    assert 'find_spec("lsmath") is None' in setup


@pytest.mark.parametrize("nb_path", CHAPTERS, ids=lambda p: p.stem)
def test_stored_outputs_are_clean(nb_path):
    """Executed top to bottom, no errors, imports lsmath, exercises with solutions."""
    nb = json.loads(nb_path.read_text(encoding="utf-8"))
    code = [
        c
        for c in nb["cells"]
        if c["cell_type"] == "code" and "".join(c["source"]).strip()
    ]
    counts = [c["execution_count"] for c in code]
    assert None not in counts, "some code cells were never executed"
    assert counts == list(range(counts[0], counts[0] + len(counts))), (
        "cells executed out of order"
    )
    for c in code:
        for out in c.get("outputs", []):
            assert out["output_type"] != "error", f"stored error: {out.get('ename')}"
            text = "".join(out.get("text", "")) + "".join(
                out.get("data", {}).get("text/plain", "")
            )
            assert not re.search(r"at 0x[0-9a-f]{6,}", text), (
                "memory address in a stored output"
            )
    source = "\n".join("".join(c["source"]) for c in nb["cells"])
    assert re.search(r"^\s*import lsmath|^\s*from lsmath", source, re.M)
    n_ex = len(re.findall(r"^`{3,}\{exercise\}", source, re.M))
    n_sol = len(re.findall(r"^`{3,}\{solution(?:-start)?\}", source, re.M))
    assert n_ex >= 4 and n_sol >= n_ex, f"{n_ex} exercises, {n_sol} solutions"


@pytest.mark.parametrize("nb_path", CHAPTERS, ids=lambda p: p.stem)
def test_solutions_are_collapsed(nb_path):
    nb = json.loads(nb_path.read_text(encoding="utf-8"))
    source = "\n".join(
        "".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown"
    )
    options = re.findall(
        r"^`{3,}\{solution(?:-start)?\}[^\n]*\n((?::[^\n]*\n)*)", source, re.M
    )
    assert options and all(":class: dropdown" in o for o in options)


def test_every_public_name_has_a_docstring_with_an_example():
    import inspect

    import lsmath

    missing = [
        n
        for n in lsmath.__all__
        if ">>>" not in (inspect.getdoc(getattr(lsmath, n)) or "")
    ]
    assert not missing, f"no example in the docstring of {missing}"
    # the API appendix: chapters/api.md and one page per module in chapters/api/
    pages = [ROOT / "chapters" / "api.md", *(ROOT / "chapters" / "api").glob("*.md")]
    api = "\n".join(p.read_text(encoding="utf-8") for p in pages)
    modules = {getattr(lsmath, n).__module__ for n in lsmath.__all__}
    assert all(f"automodule:: {m}" in api for m in modules), (
        "a module is missing from the API pages"
    )


PAGES = sorted((ROOT / "chapters").glob("*.md")) + CHAPTERS


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_no_page_names_a_source_by_its_file_number(page):
    """Blog posts are named for the reader (title or short name), never 'seed 00x'."""
    text = page.read_text(encoding="utf-8")
    # Prose only: internal labels such as (ch7-seed002)= are never shown.
    assert not re.search(r"\bseeds? 0\d\d\b", text, re.I), page.name


@pytest.mark.parametrize("nb_path", CHAPTERS, ids=lambda p: p.stem)
def test_glue_keys_are_glued(nb_path):
    """Every {glue:...}`key` in the prose is glued by a code cell of the same chapter."""
    nb = json.loads(nb_path.read_text(encoding="utf-8"))
    md = "\n".join(
        "".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown"
    )
    used = set(re.findall(r"\{glue(?::\w+)?\}`([^`:]+)", md))
    glued = set()
    for c in nb["cells"]:
        for out in c.get("outputs", []):
            name = out.get("metadata", {}).get("scrapbook", {}).get("name")
            if name:
                glued.add(name)
    assert not used - glued, f"not glued: {sorted(used - glued)}"
