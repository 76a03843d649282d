"""Helpers for the book's notebooks: glue a computed value into the prose.

``glue(name, value)`` records ``value`` under ``name`` so that the text can
quote it with ``{glue:text}`name:.2f```: the number on the page is the one
the code computed on the machine that ran the chapter. It uses myst-nb's own
``glue`` when myst-nb is installed (the book build), and otherwise emits the
same output by hand, so a chapter also runs in Colab, where myst-nb is absent.
"""

from __future__ import annotations

from typing import Any

__all__ = ["glue"]


def glue(name: str, value: Any, display: bool = False) -> None:
    """Store ``value`` in the notebook's outputs under ``name`` (myst-nb format).

    Args:
        name: key the markdown uses, e.g. ``{glue:text}`ece_hard:.1f```.
        value: any object with a text representation (numbers, strings,
            DataFrames, figures).
        display: also show the value in the cell's output.

    Example:
        >>> glue("answer", 42)  # outside a notebook nothing is shown
    """
    if not isinstance(name, str) or not name:
        raise TypeError(f"name must be a non-empty string, got {name!r}")
    if hasattr(value, "item") and getattr(value, "shape", None) == ():
        # a NumPy or PyTorch scalar: its repr (``np.float64(0.5)`` under NumPy 2)
        # is not a number, so ``{glue:text}`name:.2f``` could not format it
        value = value.item()
    try:
        from myst_nb import glue as myst_glue
    except ImportError:
        myst_glue = None
    if myst_glue is not None:
        myst_glue(name, value, display=display)
        return
    try:
        from IPython.display import display as ipy_display
    except ImportError:  # plain Python: nothing to record into
        return
    from IPython.core.formatters import format_display_data

    mimebundle, metadata = format_display_data(value)
    mime_prefix = "" if display else "application/papermill.record/"
    metadata = dict(metadata, scrapbook={"name": name, "mime_prefix": mime_prefix})
    ipy_display(
        {mime_prefix + k: v for k, v in mimebundle.items()}, raw=True, metadata=metadata
    )
