"""The PDF's LaTeX-only fixes (Sphinx's LaTeX builder; the HTML never loads this).

Numbered references to exercises. sphinx-exercise numbers exercises through
``numfig`` (``Exercise 2.6``). In the HTML the number is filled in by Sphinx; in
the LaTeX output a reference
``{ref}`ch2-ex-adam``` becomes
``\\hyperref[chapters/02_gradient:ch2-ex-adam]{Exercise \\ref{chapters/02_gradient:ch2-ex-adam}}``,
but sphinx-exercise only writes ``\\label{exercise:ch2-ex-adam}`` (under the
section's number), so LaTeX printed "Exercise ??" and the link went nowhere.

The first post-transform (LaTeX format only) puts before each numbered exercise
a ``\\label{<docname>:<label>}`` whose ``\\ref`` text is the exercise's numfig
number, taken from the same table sphinx-exercise titles the exercise with, and
whose anchor is the exercise. In the index of exercises (the lists in a
``ls-exercise-index`` container) each reference is followed by its page number.

A second post-transform gives long tables (over 30 rows: LaTeX ``longtable``)
column widths. Without them Sphinx sets such a table in ``l`` columns, which do
not wrap, and the notation appendix's table of symbols ran a page-width off the
paper. Each column gets a share of the line in proportion to its longest cell
(capped, so that one long sentence does not squeeze the others).

A third gives the PDF the book's parts: the root document's captioned
toctrees ("Why and how", ..., "Appendices") become ``\\part`` pages before
their first chapter, and the unnumbered last part ("Appendices") starts LaTeX's
``\\appendix`` (chapters A, B, ...), as the HTML sidebar sets them apart.

The HTML builders never run these transforms. Loaded only by ``make pdf`` (the
Makefile adds it to the PDF build's copy of ``_config.yml``).
"""

from __future__ import annotations

from typing import Any

from docutils import nodes
from sphinx import addnodes
from sphinx.application import Sphinx
from sphinx.transforms.post_transforms import SphinxPostTransform
from sphinx.util.texescape import escape
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


class PageNumbersInExerciseIndex(SphinxPostTransform):
    """Follow each reference in an ``ls-exercise-index`` container by its page."""

    default_priority = 30  # after references and sphinx-exercise's (22)
    formats = ("latex",)
    container_class = "ls-exercise-index"

    def run(self, **kwargs: Any) -> None:
        for box in list(self.document.findall(nodes.container)):
            if self.container_class not in box["classes"]:
                continue
            for ref in list(box.findall(nodes.reference)):
                uri = ref.get("refuri", "")
                if not uri.startswith("%") or "#" not in uri:
                    continue
                target = uri[1:].replace("#", ":")
                pageref = f"\\pageref{{\\detokenize{{{target}}}}}"
                page = f"\\nobreakspace(p.\\nobreakspace{pageref})"
                raw = nodes.raw("", page, format="latex")
                ref.parent.insert(ref.parent.index(ref) + 1, raw)


class WrapLongTablesForLatex(SphinxPostTransform):
    """Give every long table without set widths proportional ``colwidth``s."""

    default_priority = 400
    formats = ("latex",)
    rows_for_longtable = 30  # sphinx.writers.latex.Table.is_longtable
    cap = 60  # characters: a longer cell counts as this long

    def run(self, **kwargs: Any) -> None:
        for table in list(self.document.findall(nodes.table)):
            if "colwidths-given" in table["classes"]:
                continue
            for tgroup in table.findall(nodes.tgroup):
                colspecs = [c for c in tgroup.children if isinstance(c, nodes.colspec)]
                rows = list(tgroup.findall(nodes.row))
                if len(rows) <= self.rows_for_longtable or not colspecs:
                    continue
                longest = [4] * len(colspecs)
                for row in rows:
                    for i, entry in enumerate(row.children[: len(colspecs)]):
                        n = min(len(entry.astext()), self.cap)
                        longest[i] = max(longest[i], n)
                for colspec, width in zip(colspecs, longest):
                    colspec["colwidth"] = width
                table["classes"].append("colwidths-given")


class PartsForLatex(SphinxPostTransform):
    """A ``\\part`` before the first chapter of each captioned root toctree."""

    default_priority = 31
    formats = ("latex",)

    def run(self, **kwargs: Any) -> None:
        root = self.config.root_doc
        if root not in self.env.all_docs:
            return
        starts = {}
        for toc in self.env.get_doctree(root).findall(addnodes.toctree):
            entries = toc.get("entries") or []
            if toc.get("caption") and entries:
                starts[entries[0][1]] = (toc["caption"], not toc.get("numbered"))
        for node in list(self.document.findall(addnodes.start_of_file)):
            if node.get("docname") not in starts:
                continue
            caption, unnumbered = starts.pop(node["docname"])
            latex = "\\appendix\n" if unnumbered else ""
            latex += f"\\part{{{escape(caption)}}}\n"
            node.parent.insert(
                node.parent.index(node), nodes.raw("", latex, format="latex")
            )


def setup(app: Sphinx) -> dict[str, Any]:
    app.setup_extension("sphinx_exercise")
    app.add_latex_package("multicol")  # the index of exercises in columns
    app.add_post_transform(LabelExercisesForLatex)
    app.add_post_transform(PageNumbersInExerciseIndex)
    app.add_post_transform(WrapLongTablesForLatex)
    app.add_post_transform(PartsForLatex)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
