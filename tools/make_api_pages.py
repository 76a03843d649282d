"""Write the API appendix: one page per lsmath module and the overview table.

``chapters/api/<module>.md`` holds the module's autodoc (``automodule``) under a
title; ``chapters/api.md`` lists every public name (each module's ``__all__``)
with the first sentence of its docstring (a definition list per module),
between the two marker comments.
Run it after adding a module or a public name (and add the new page to
``_toc.yml`` under ``chapters/api``):

    .venv/bin/python tools/make_api_pages.py
"""

from __future__ import annotations

import importlib
import inspect
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# (module, page title, chapter notebook or None, one line for the overview)
MODULES = [
    (
        "targets",
        "Targets and conventions",
        "01_motivation",
        "smoothed targets in both conventions, and the conversion between them",
    ),
    (
        "losses",
        "Losses and gradients",
        "02_gradient",
        "the label-smoothed cross-entropy, equal to PyTorch's, and its gradient",
    ),
    (
        "nn",
        "A drop-in `nn.Module` loss",
        "07_practice",
        "`LabelSmoothingCrossEntropy`, a replacement for `nn.CrossEntropyLoss`",
    ),
    (
        "closed_forms",
        "Closed forms",
        "03_margin_geometry",
        "the optimal logit gap and the Lipschitz constant",
    ),
    (
        "minimize",
        "Numerical minimisation",
        None,
        "the L-BFGS minimiser that checks every closed-form minimiser",
    ),
    (
        "chunked",
        "Large vocabularies (chunked loss)",
        "07_practice",
        "the loss of a linear output layer without the full logit matrix",
    ),
    (
        "dynamics",
        "Gradients, Hessian and training dynamics",
        "02_gradient",
        "gradient and Hessian in the logits, stationary logits",
    ),
    (
        "geometry",
        "Margin geometry",
        "03_margin_geometry",
        "margins, max-margin directions, penultimate-layer pictures",
    ),
    (
        "calibration",
        "Calibration",
        "04_entropy_calibration",
        "ECE, Brier score, NLL, temperature scaling, reliability diagrams",
    ),
    (
        "stability",
        "Stability",
        "05_stability",
        "label flips, label noise, stability bounds",
    ),
    (
        "distillation",
        "Distillation",
        "06_distillation",
        "the distillation loss and the measures of information erasure",
    ),
    (
        "frameworks",
        "Frameworks and sequence models",
        "07_practice",
        "what each framework puts on the true and the other classes",
    ),
    (
        "priors",
        "Priors, label noise and online smoothing",
        "08_priors_noise",
        "smoothing towards any prior, DisturbLabel, online label smoothing",
    ),
    (
        "robustness",
        "Robustness, selective classification and transfer",
        "09_robustness_costs",
        "attacks, corruptions, saturation, risk-coverage, linear probes",
    ),
    (
        "applications",
        "GANs, sequence models, preference optimisation",
        "10_applications",
        "one-sided smoothing in GANs, cDPO, Markov-chain sequence data",
    ),
    (
        "symbolic",
        "Symbolic definitions (SymPy)",
        None,
        "the SymPy expressions every closed form is checked against",
    ),
    (
        "replicates",
        "Conclusions over seeds",
        None,
        "summaries and paired intervals over random seeds",
    ),
    ("data", "Data", None, "the data sets of the experiments"),
    ("training", "Training helpers", None, "tiny deterministic training loops"),
    ("notebook", "Notebook helpers", None, "`glue`: computed numbers in the prose"),
]

BEGIN = "<!-- begin generated overview (tools/make_api_pages.py) -->"
END = "<!-- end generated overview -->"


def first_sentence(obj, module: str) -> str:
    if not (inspect.isclass(obj) or callable(obj)):
        return f"Constant (a `{type(obj).__name__}`); see the module page."
    doc = inspect.getdoc(obj) or ""
    para = " ".join(doc.strip().split("\n\n")[0].split())
    # a sentence ends at "." or ":" before a capital letter or the end, outside
    # parentheses (not at "et al. 2017", "w . x" or "(chapter 6, eq. ``x``)")
    text = para
    for m in re.finditer(r"[.:](?=\s+[A-Z`]|$)", para):
        head = para[: m.end()]
        if head.count("(") == head.count(")"):
            text = head
            break
    text = text.rstrip(":").rstrip(".") + "."
    text = re.sub(r":(\w+):`", r"{\1}`", text)  # reST roles -> MyST roles
    # a bare name in a cross-reference resolves in its own module
    text = re.sub(
        r"\{(func|class|meth|obj|data)\}`([\w]+)`",
        rf"{{py:\1}}`~{module}.\2`",
        text,
    )
    return text


def _lower_first(title: str) -> str:
    """Lower-case the first letter after the colon, unless the word is an acronym."""
    first = title.split()[0]
    return (
        title
        if len(first) > 1 and first[:2].isupper()
        else title[0].lower() + title[1:]
    )


def page(module: str, title: str, chapter: str | None) -> str:
    used = (
        f"Used in {{doc}}`../{chapter}`; documented from the docstrings."
        if chapter
        else "Used throughout the book; documented from the docstrings."
    )
    return (
        f"# `lsmath.{module}`: {_lower_first(title)}\n\n{used}\n\n"
        f"```{{eval-rst}}\n.. automodule:: lsmath.{module}\n   :members:\n```\n"
    )


def overview() -> str:
    lines = []
    for module, _title, _chapter, line in MODULES:
        mod = importlib.import_module(f"lsmath.{module}")
        lines += [
            f"## {{doc}}`lsmath.{module} <api/{module}>`",
            "",
            line[0].upper() + line[1:] + ".",
            "",
        ]
        # a definition list, not a table: it wraps on a phone
        for name in mod.__all__:
            obj = getattr(mod, name)
            ref = f"{{py:obj}}`~lsmath.{module}.{name}`"
            lines += [ref, f": {first_sentence(obj, mod.__name__)}", ""]
    return "\n".join(lines)


def main() -> None:
    for module, title, chapter, _line in MODULES:
        path = ROOT / "chapters" / "api" / f"{module}.md"
        path.parent.mkdir(exist_ok=True)
        path.write_text(page(module, title, chapter), encoding="utf-8")
    index = ROOT / "chapters" / "api.md"
    text = index.read_text(encoding="utf-8")
    start, stop = text.index(BEGIN) + len(BEGIN), text.index(END)
    index.write_text(text[:start] + "\n\n" + overview() + "\n" + text[stop:], "utf-8")


if __name__ == "__main__":
    main()
