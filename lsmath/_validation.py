"""Argument checks shared by every public function.

Each check raises ``ValueError`` or ``TypeError`` naming the argument and what
is allowed, so that bad input fails at the call site with a readable message
instead of deep inside PyTorch or NumPy.
"""

from __future__ import annotations

import math
from numbers import Integral, Real

import numpy as np

CONVENTIONS = ("uniform", "off_target")
REDUCTIONS = ("none", "sum", "mean")


def check_convention(convention: object) -> str:
    if not isinstance(convention, str) or convention not in CONVENTIONS:
        raise ValueError(
            f"convention must be one of {CONVENTIONS}, got {convention!r}"
        )
    return convention


def check_reduction(reduction: object) -> str:
    if not isinstance(reduction, str) or reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
    return reduction


def check_num_classes(num_classes: object, *, minimum: int = 2) -> int:
    if isinstance(num_classes, bool) or not isinstance(num_classes, Integral):
        raise TypeError(
            f"num_classes must be an integer >= {minimum}, got {type(num_classes).__name__}"
        )
    if num_classes < minimum:
        raise ValueError(f"num_classes must be an integer >= {minimum}, got {num_classes}")
    return int(num_classes)


def check_smoothing_scalar(value: object, name: str) -> float:
    """A smoothing parameter given as a Python/NumPy scalar: a real in [0, 1]."""
    if isinstance(value, bool) or not isinstance(value, (Real, np.floating, np.integer)):
        raise TypeError(f"{name} must be a real number in [0, 1], got {type(value).__name__}")
    value = float(value)
    if math.isnan(value) or not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be a real number in [0, 1], got {value}")
    return value


def check_smoothing_array(value: object, name: str) -> np.ndarray:
    """A smoothing parameter given as a scalar or an array (closed forms broadcast)."""
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a real number or array of reals in [0, 1]") from None
    if np.isnan(arr).any() or (arr < 0).any() or (arr > 1).any():
        raise ValueError(f"{name} must lie in [0, 1] (no NaN), got {value!r}")
    return arr
