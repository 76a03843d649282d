"""Write chapters/exercises.md: an index of every exercise in the book.

Reads each chapter notebook's markdown cells for sphinx-exercise directives
(```` ```{exercise} ```` with a ``:label:``) and lists them per chapter with a
link. ``--check`` exits non-zero when the committed index is out of date.

Usage:  python tools/make_exercise_index.py [--check]
"""

from __future__ import annotations

import json
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
OUT = ROOT / "chapters" / "exercises.md"
EXERCISE = re.compile(
    r"^(`{3,}|:{3,})\{exercise\}[^\n]*\n(?P<body>.*?)^\1\s*$", re.M | re.S
)
LABEL = re.compile(r"^:label:\s*(\S+)", re.M)


def chapter_title(nb: dict) -> str:
    for cell in nb["cells"]:
        if cell["cell_type"] == "markdown":
            m = re.search(r"^#\s+(.+)$", "".join(cell["source"]), re.M)
            if m:
                return m.group(1).strip()
    return "Untitled"


def exercises(nb: dict) -> list[str]:
    text = "\n".join(
        "".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown"
    )
    labels = []
    for m in EXERCISE.finditer(text):
        lab = LABEL.search(m.group("body"))
        if lab:
            labels.append(lab.group(1))
    return labels


INDEX_CLASS = "ls-exercise-index"
# PDF only (ignored by the HTML builder): the chapter headings below already
# carry their chapter's number, so LaTeX leaves them unnumbered (restored at
# the end); each list is set in columns, with page numbers
# (tools/latex_book.py), through the container's class.
LATEX_START = [
    "```{raw} latex",
    "\\edef\\lsExSecnumdepth{\\arabic{secnumdepth}}\\setcounter{secnumdepth}{0}",
    f"\\newenvironment{{sphinxclass{INDEX_CLASS}}}"
    "{\\begin{multicols}{3}}{\\end{multicols}}",
    "```",
    "",
]
LATEX_END = [
    "```{raw} latex",
    "\\setcounter{secnumdepth}{\\lsExSecnumdepth}",
    "```",
    "",
]


def render() -> str:
    lines = [
        "# Index of exercises",
        "",
        "Every exercise of the book, chapter by chapter. Each has a worked solution,",
        "collapsed under the exercise; several are checked by code with `lsmath`.",
        "",
        *LATEX_START,
    ]
    for path in sorted((ROOT / "chapters").glob("[0-9][0-9]_*.ipynb")):
        nb = json.loads(path.read_text(encoding="utf-8"))
        labels = exercises(nb)
        lines += [f"## {path.stem[:2].lstrip('0')}. {chapter_title(nb)}", ""]
        if labels:
            lines += [f":::{{container}} {INDEX_CLASS}"]
            lines += [f"* {{ref}}`{lab}`" for lab in labels]
            lines += [":::"]
        else:
            lines += ["(none yet)"]
        lines.append("")
    lines += LATEX_END
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    text = render()
    if "--check" in argv:
        if not OUT.exists() or OUT.read_text(encoding="utf-8") != text:
            print(
                "chapters/exercises.md is out of date: run python tools/make_exercise_index.py"
            )
            return 1
        return 0
    OUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
