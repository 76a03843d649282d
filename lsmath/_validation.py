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


def as_logit_matrix(logits: object, name: str = "logits", *, tensor_only: bool = False):
    """Check ``(K,)`` or ``(N, K)`` finite floating logits with ``K >= 2``.

    Accepts a torch tensor, or (unless ``tensor_only``) anything
    ``torch.as_tensor`` takes, such as a NumPy array. Returns the tensor and
    whether the input was a NumPy array (so callers can answer in kind).
    """
    import torch

    was_numpy = isinstance(logits, np.ndarray)
    if tensor_only and not isinstance(logits, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(logits).__name__}")
    z = torch.as_tensor(logits)
    if not z.dtype.is_floating_point:
        raise TypeError(f"{name} must have a floating dtype, got {z.dtype}")
    if z.dim() not in (1, 2):
        raise ValueError(f"{name} must have shape (K,) or (N, K), got {tuple(z.shape)}")
    if z.shape[-1] < 2:
        raise ValueError(f"{name} must have at least K = 2 classes on its last axis, got {z.shape[-1]}")
    if not bool(torch.isfinite(z.detach()).all()):
        raise ValueError(f"{name} must be finite (no NaN or inf)")
    return z, was_numpy
