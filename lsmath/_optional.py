"""Optional dependencies: imported on first use, with an error that names the extra.

The core of ``lsmath`` needs only torch and numpy. SymPy (``lsmath.symbolic``),
SciPy, Matplotlib (plots) and the datasets of the book's experiments are
extras: ``pip install "lsmath[symbolic]"``, ``"lsmath[plot]"`` or
``"lsmath[book]"`` (everything the book uses).
"""

from __future__ import annotations

import importlib

#: module -> the extra that installs it
EXTRAS = {
    "sympy": "symbolic",
    "scipy": "book",
    "matplotlib": "plot",
    "sklearn": "book",
    "mnist1d": "book",
}


def require(module: str, feature: str):
    """Import ``module`` or raise ImportError naming the ``lsmath`` extra that provides it."""
    top = module.split(".")[0]
    try:
        return importlib.import_module(module)
    except ImportError as err:
        extra = EXTRAS.get(top, "book")
        raise ImportError(
            f"{feature} needs the optional dependency {top!r}: "
            f'pip install "lsmath[{extra}]" (or "lsmath[book]" for everything the book uses)'
        ) from err
