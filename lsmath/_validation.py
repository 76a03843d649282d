"""Argument checks shared by every public function.

Each check raises ``ValueError`` or ``TypeError`` naming the argument and what
is allowed, so that bad input fails at the call site with a readable message
instead of deep inside PyTorch or NumPy.
"""

from __future__ import annotations

import math
import sys
from numbers import Integral, Real
from typing import SupportsFloat, cast

import numpy as np

CONVENTIONS = ("uniform", "off_target")
# Names of the low-precision float dtypes, computed in float32 (see LOW_PRECISION).
_LOW_PRECISION_NAMES = ("float16", "bfloat16")
REDUCTIONS = ("none", "sum", "mean")


def check_positive_int(
    value: object, name: str, *, allowed: str = "a positive integer"
) -> int:
    """``value`` as an int if it is an integer >= 1 (not a bool), else a
    ValueError naming ``name`` and what is ``allowed``."""
    if isinstance(value, bool) or not isinstance(value, Integral) or value < 1:
        raise ValueError(f"{name} must be {allowed}, got {value!r}")
    return int(value)


def check_convention(convention: object) -> str:
    if not isinstance(convention, str) or convention not in CONVENTIONS:
        raise ValueError(f"convention must be one of {CONVENTIONS}, got {convention!r}")
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
        raise ValueError(
            f"num_classes must be an integer >= {minimum}, got {num_classes}"
        )
    return int(num_classes)


_NEGATIVE_NOTE = (
    "; negative label smoothing (alpha < 0) is accepted only by smooth_targets, "
    "ls_cross_entropy, ls_linear_cross_entropy and ls_gradient"
)


def _reject_non_real(value: object, name: str, allowed: str) -> None:
    """TypeError for bool and str (``True`` and ``'0.1'`` are not smoothing values)."""
    if isinstance(value, (bool, np.bool_, str, bytes)):
        raise TypeError(
            f"{name} must be a real number {allowed}, got {type(value).__name__}"
        )


def check_smoothing_scalar(
    value: object, name: str, *, allow_negative: bool = False
) -> float:
    """A smoothing parameter given as a scalar: a finite real in [0, 1].

    Accepts Python and NumPy reals and a 0-d real torch tensor (as
    ``F.cross_entropy(label_smoothing=...)`` does); rejects bool and str.
    With ``allow_negative`` the range is (-inf, 1] (negative label smoothing,
    Wei et al. 2022).
    """
    allowed = "<= 1 (finite)" if allow_negative else "in [0, 1]"
    _reject_non_real(value, name, allowed)
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(value, torch.Tensor):
        if value.dim() != 0 or value.dtype == _torch().bool or value.is_complex():
            raise TypeError(
                f"{name} must be a real number {allowed}, got a tensor of "
                f"shape {tuple(value.shape)} and dtype {value.dtype}"
            )
        value = value.item()
    elif not isinstance(value, (Real, np.floating, np.integer)):
        raise TypeError(
            f"{name} must be a real number {allowed}, got {type(value).__name__}"
        )
    number = float(cast(SupportsFloat, value))
    low_ok = number >= 0.0 or (allow_negative and math.isfinite(number))
    if math.isnan(number) or not low_ok or number > 1.0:
        note = "" if allow_negative or not number < 0 else _NEGATIVE_NOTE
        raise ValueError(f"{name} must be a real number {allowed}, got {number}{note}")
    return number


def check_smoothing_array(
    value: object, name: str, *, allow_negative: bool = False
) -> np.ndarray:
    """A smoothing parameter given as a scalar or an array (closed forms broadcast)."""
    allowed = "<= 1" if allow_negative else "in [0, 1]"
    _reject_non_real(value, name, allowed)
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    raw = np.asarray(value)
    if raw.dtype.kind not in "iuf":
        raise TypeError(
            f"{name} must be a real number or array of reals {allowed}, "
            f"got dtype {raw.dtype}"
        )
    arr = raw.astype(float)
    low_bad = ~np.isfinite(arr) if allow_negative else (arr < 0)
    if np.isnan(arr).any() or low_bad.any() or (arr > 1).any():
        note = "" if allow_negative or not (arr < 0).any() else _NEGATIVE_NOTE
        raise ValueError(
            f"{name} must lie in [0, 1] (no NaN), got {value!r}{note}"
            if not allow_negative
            else f"{name} must be finite and <= 1, got {value!r}"
        )
    return arr


def reject_negative_smoothing(alpha, convention: str, where: str) -> None:
    """ValueError for alpha < 0: negative label smoothing has no finite minimiser."""
    name = "eps" if convention == "off_target" else "alpha"
    arr = check_smoothing_array(alpha, name, allow_negative=True)
    if (arr < 0).any():
        raise ValueError(
            f"{where}: {name} < 0 (negative label smoothing) has no finite minimiser: "
            "the target puts more than 1 on the true class, so the loss decreases "
            "without bound as the logit gaps grow; the closed form needs "
            f"{name} in [0, 1]"
        )


def check_temperature(
    temperature: object, name: str = "temperature", *, maximum: float | None = None
) -> float:
    """A temperature: a finite real ``> 0`` (and ``<= maximum`` when given); bool rejected."""
    if isinstance(temperature, (bool, np.bool_)) or not isinstance(
        temperature, (Real, np.floating, np.integer)
    ):
        raise TypeError(
            f"{name} must be a positive finite real number (> 0), got {type(temperature).__name__}"
        )
    value = float(temperature)
    if not math.isfinite(value) or value <= 0:
        raise ValueError(
            f"{name} must be a positive finite real number (> 0), got {value}"
        )
    if maximum is not None and value > maximum:
        raise ValueError(
            f"{name} must be <= {maximum:g}, got {value:g}: at such temperatures both softmaxes "
            "are uniform to working precision and the T^2-scaled term is lost to rounding "
            "(its limit as T -> inf is half the variance over classes of teacher - student logits)"
        )
    return value


def check_ignore_index(ignore_index: object) -> int:
    """``ignore_index`` must be an int (as in PyTorch); bool, float and None are rejected."""
    if isinstance(ignore_index, (bool, np.bool_)) or not isinstance(
        ignore_index, Integral
    ):
        raise TypeError(f"ignore_index must be an int, got {ignore_index!r}")
    return int(ignore_index)


def check_index_target(target, name: str = "target"):
    """A tensor of integer class indices: bool, float and complex dtypes are rejected."""
    torch = _torch()
    if (
        target.dtype == torch.bool
        or target.dtype.is_floating_point
        or target.dtype.is_complex
    ):
        raise TypeError(
            f"{name} must hold integer class indices, got dtype {target.dtype}"
        )
    return target


def _prior_tensor(prior: object, expected: str):
    """``prior`` as a real tensor; TypeError naming ``prior`` otherwise."""
    torch = _torch()
    if isinstance(prior, (str, bytes, bool)):
        raise TypeError(f"prior must be {expected}, got {type(prior).__name__}")
    try:
        p = torch.as_tensor(prior)
    except (TypeError, ValueError, RuntimeError):
        raise TypeError(
            f"prior must be {expected} (tensor, array or sequence), "
            f"got {type(prior).__name__}"
        ) from None
    if p.dtype == torch.bool or p.is_complex():
        raise TypeError(f"prior must hold real probabilities, got dtype {p.dtype}")
    return p


def _check_probability_rows(p, tol: float, what: str) -> None:
    """ValueError unless the entries are finite, nonnegative and each row sums to 1."""
    torch = _torch()
    check = p.detach().double()
    if not bool(torch.isfinite(check).all()) or bool((check < 0).any()):
        raise ValueError(f"prior must be {what}: finite, nonnegative entries")
    sums = check.sum(dim=-1)
    if bool(((sums - 1.0).abs() > tol).any()):
        if sums.dim() == 0:
            got = f"sum {float(sums):.6g}"
        else:
            got = f"sums between {float(sums.min()):.6g} and {float(sums.max()):.6g}"
        raise ValueError(f"prior must sum to 1 ({what}), got {got}")


def check_prior(prior: object, num_classes: int, *, dtype=None, device=None):
    """A length-K probability vector (tensor, array or sequence) -> 1-d float tensor.

    Entries must be finite and nonnegative and sum to 1 (to a tolerance that
    follows the dtype); ValueError naming ``prior`` otherwise.
    """
    torch = _torch()
    p = _prior_tensor(prior, "a probability vector of length K")
    if dtype is None:
        dtype = p.dtype if p.dtype.is_floating_point else torch.get_default_dtype()
    if p.shape != (num_classes,):
        raise ValueError(
            f"prior must have shape (K,) = ({num_classes},), got {tuple(p.shape)}"
        )
    if p.device.type == "meta":  # no values to look at (shape-only tracing)
        return p.to(dtype=dtype)
    tol = (
        max(1e-6, 10 * torch.finfo(p.dtype).eps) if p.dtype.is_floating_point else 1e-6
    )
    _check_probability_rows(p, tol, "a probability vector")
    return p.to(dtype=dtype, device=device)


def check_prior_or_matrix(prior: object, *, tol: float = 1e-6):
    """A ``(K,)`` probability vector or a ``(K, K)`` row-stochastic matrix, as float64.

    ``K >= 2``; each row must sum to 1 within ``tol``.
    """
    torch = _torch()
    p = _prior_tensor(prior, "a (K,) vector or a (K, K) matrix of probabilities")
    p = p.detach().to(torch.float64)
    if p.dim() not in (1, 2) or (p.dim() == 2 and p.shape[0] != p.shape[1]):
        raise ValueError(f"prior must have shape (K,) or (K, K), got {tuple(p.shape)}")
    if p.shape[-1] < 2:
        raise ValueError(f"prior must cover K >= 2 classes, got K = {p.shape[-1]}")
    _check_probability_rows(
        p, tol, "a probability vector, or a row-stochastic (K, K) matrix"
    )
    return p


def _torch():
    import torch

    return torch


def __getattr__(name: str):
    if name == "LOW_PRECISION":  # lazily, so that this module imports without torch
        return _low_precision_dtypes()
    raise AttributeError(name)


def _low_precision_dtypes() -> tuple:
    torch = _torch()
    return tuple(getattr(torch, n) for n in _LOW_PRECISION_NAMES)


def is_low_precision(dtype) -> bool:
    """True for float16 and bfloat16, which lsmath computes in float32."""
    return dtype in _low_precision_dtypes()


def compute_dtype(dtype):
    """The dtype lsmath computes in: float32 for float16/bfloat16, else ``dtype``."""
    return _torch().float32 if is_low_precision(dtype) else dtype


def check_tensor_logits(logits: object, name: str = "logits"):
    """A floating torch tensor with at least one axis (the class axis is axis 1, or 0 if 1-d)."""
    torch = _torch()
    if not isinstance(logits, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(logits).__name__}")
    if not logits.dtype.is_floating_point:
        raise TypeError(f"{name} must have a floating dtype, got {logits.dtype}")
    if logits.dim() < 1:
        raise ValueError(
            f"{name} must have shape (K,), (N, K) or (N, K, d1, ...), got a scalar"
        )
    return logits


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
        raise ValueError(
            f"{name} must have at least K = 2 classes on its last axis, got {z.shape[-1]}"
        )
    if not bool(torch.isfinite(z.detach()).all()):
        raise ValueError(f"{name} must be finite (no NaN or inf)")
    return z, was_numpy


def check_target_dtype(target, name: str = "target"):
    """Class indices or probabilities: bool and complex dtypes are rejected."""
    torch = _torch()
    if target.dtype == torch.bool or target.dtype.is_complex:
        raise TypeError(
            f"{name} must hold integer class indices or probabilities, got {target.dtype}"
        )
    return target


def check_class_range(
    target, num_classes: int, name: str = "target", *, ignored=None
) -> None:
    """ValueError unless every class index in ``target`` lies in ``[0, K)``.

    ``target``: an integer torch tensor or NumPy array.
    ``ignored``: optional ``(argument name, value)``, e.g. ``("ignore_index",
    -100)``; entries equal to the value are not checked.
    """
    values = target if ignored is None else target[target != ignored[1]]
    if values.size == 0 if isinstance(values, np.ndarray) else not values.numel():
        return
    low, high = int(values.min()), int(values.max())
    if low < 0 or high >= num_classes:
        also = "" if ignored is None else f" or equal {ignored[0]}={ignored[1]}"
        raise ValueError(
            f"{name} must lie in [0, K) = [0, {num_classes}){also}; "
            f"got min {low} and max {high}"
        )


def check_class_labels(
    labels: object,
    num_classes: int,
    name: str = "labels",
    *,
    length: int | None = None,
    tensor_only: bool = False,
):
    """A 1-d tensor of class indices in ``[0, K)`` (of ``length`` entries if given).

    Accepts anything ``torch.as_tensor`` takes unless ``tensor_only``; returns
    an int64 tensor. TypeError for bool, float and complex dtypes.
    """
    torch = _torch()
    if tensor_only and not isinstance(labels, torch.Tensor):
        raise TypeError(
            f"{name} must be an integer torch.Tensor of class indices, "
            f"got {type(labels).__name__}"
        )
    t = check_index_target(torch.as_tensor(labels), name)
    if t.dim() != 1 or (length is not None and t.shape[0] != length):
        expected = "(N,)" if length is None else f"({length},) to match the rows"
        raise ValueError(f"{name} must have shape {expected}, got {tuple(t.shape)}")
    check_class_range(t, num_classes, name)
    return t.long()


def to_numpy(x: object, name: str, *, arrays_only: bool = False) -> np.ndarray:
    """A torch tensor (detached, on CPU) or array-like as a NumPy array.

    float16/bfloat16 tensors become float64 (bfloat16 has no NumPy twin).
    With ``arrays_only`` only tensors, arrays, lists and tuples are accepted
    (TypeError otherwise, and for ragged or object data).
    """
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(x, torch.Tensor):
        t = x.detach().cpu()
        if t.dtype.is_floating_point and t.dtype not in (torch.float32, torch.float64):
            t = t.double()
        return t.numpy()
    if arrays_only and not isinstance(x, (np.ndarray, list, tuple)):
        raise TypeError(
            f"{name} must be a torch.Tensor or a NumPy array, got {type(x).__name__}"
        )
    try:
        arr = np.asarray(x)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be an array or tensor of numbers") from None
    if arr.dtype == object:
        raise TypeError(
            f"{name} must be a numeric torch.Tensor or NumPy array, "
            "got ragged or object data"
        )
    return arr


def check_label_array(labels: object, n: int, k: int, name: str = "labels"):
    """``(N,)`` integer class indices in ``[0, K)`` as an int64 NumPy array.

    ``n`` is the number of rows of the predictions they go with.
    """
    y = to_numpy(labels, name, arrays_only=True)
    if y.dtype == np.bool_ or not np.issubdtype(y.dtype, np.integer):
        raise TypeError(f"{name} must hold integer class indices, got dtype {y.dtype}")
    if y.ndim != 1:
        raise ValueError(f"{name} must have shape (N,), got shape {y.shape}")
    if y.shape[0] != n:
        raise ValueError(
            f"{name} has {y.shape[0]} entries but the predictions have N = {n} rows "
            "(length mismatch)"
        )
    check_class_range(y, k, name)
    return y.astype(np.int64)
