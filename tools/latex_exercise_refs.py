"""Numbered references to exercises in the PDF (Sphinx's LaTeX builder only).

sphinx-exercise numbers exercises through ``numfig`` (``Exercise 2.6``). In the
HTML the number is filled in by Sphinx; in the LaTeX output a reference
``{ref}`ch2-ex-adam``` becomes
``\\hyperref[chapters/02_gradient:ch2-ex-adam]{Exercise \\ref{chapters/02_gradient:ch2-ex-adam}}``,
but sphinx-exercise only writes ``\\label{exercise:ch2-ex-adam}`` (under the
section's number), so LaTeX printed "Exercise ??" and the link went nowhere.

This post-transform (LaTeX format only) puts before each numbered exercise a
``\\label{<docname>:<label>}`` whose ``\\ref`` text is the exercise's numfig
number, taken from the same table sphinx-exercise titles the exercise with, and
whose anchor is the exercise. The HTML builders never run it. Loaded only by
``make pdf`` (the Makefile adds it to the PDF build's copy of ``_config.yml``).
"""

from __future__ import annotations

from typing import Any

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.transforms.post_transforms import SphinxPostTransform
from sphinx_exercise.nodes import exercise_enumerable_node


def _latex_label(number: str, docname: str, label: str) -> str:
    """LaTeX that defines ``docname:label`` with ``\\ref`` text ``number``."""
    define = "\\expandafter\\def\\csname @currentlabel\\endcsname"
    target = f"\\detokenize{{{docname}:{label}}}"
    return f"\\phantomsection{define}{{{number}}}\\label{{{target}}}%\n"


class LabelExercisesForLatex(SphinxPostTransform):
    """Insert a numbered ``\\label`` before every numbered exercise."""

    default_priority = 19  # before sphinx-exercise resolves the titles (20)
    formats = ("latex",)

    def run(self, **kwargs: Any) -> None:
        numbers = self.env.toc_fignumbers
        for node in list(self.document.findall(exercise_enumerable_node)):
            docname = node.get("docname", "")
            label = node.get("label", "")
            ids = node.get("ids") or [label]
            number = numbers.get(docname, {}).get("exercise", {}).get(ids[0])
            if not (docname and label and number):
                continue
            text = ".".join(map(str, number))
            raw = nodes.raw("", _latex_label(text, docname, label), format="latex")
            node.parent.insert(node.parent.index(node), raw)


def setup(app: Sphinx) -> dict[str, Any]:
    app.setup_extension("sphinx_exercise")
    app.add_post_transform(LabelExercisesForLatex)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
