"""Smoothed target distributions and the two smoothing conventions.

Two parametrisations of the same one-parameter family are in use:

* ``"uniform"`` (PyTorch, Keras, Optax; Szegedy et al. 2016):
  ``y = (1 - alpha) * onehot + alpha / K``.
* ``"off_target"`` (the blog posts' wording): true class ``1 - eps``, every
  other class ``eps / (K - 1)``.

They describe the same targets when ``alpha = eps * K / (K - 1)``.
"""

from __future__ import annotations

import torch

from ._validation import (
    check_class_range,
    check_convention,
    check_ignore_index,
    check_index_target,
    check_num_classes,
    check_prior,
    check_smoothing_array,
    check_smoothing_scalar,
)

__all__ = [
    "alpha_from_eps",
    "eps_from_alpha",
    "smooth_targets",
    "smoothed_target_values",
    "uniform_alpha",
]


def alpha_from_eps(eps, num_classes: int):
    """Uniform-convention ``alpha`` that gives the same targets as off-target ``eps``.

    ``alpha = eps * K / (K - 1)``.  Both give true class ``1 - eps`` and every
    other class ``eps / (K - 1)``.

    Args:
        eps: off-target smoothing in [0, 1] (scalar or array).
        num_classes: ``K >= 2``.

    Returns:
        ``alpha`` (a float for scalar input, else an array). Note that
        ``alpha`` exceeds 1 when ``eps > (K - 1) / K``.

    Example:
        >>> round(alpha_from_eps(0.1, 3), 4)
        0.15
    """
    k = check_num_classes(num_classes)
    arr = check_smoothing_array(eps, "eps")
    out = arr * k / (k - 1)
    return float(out) if out.ndim == 0 else out


def eps_from_alpha(alpha, num_classes: int):
    r"""Off-target ``eps`` that gives the same targets as uniform-convention ``alpha``.

    :math:`\varepsilon = \alpha (K - 1) / K`: the total mass moved off the true
    class. Both give true class :math:`1 - \alpha + \alpha/K` and every other
    class :math:`\alpha / K`.

    Args:
        alpha: uniform-convention smoothing :math:`\alpha` in :math:`[0, 1]`
            (scalar or array).
        num_classes: the number of classes :math:`K \ge 2`.

    Returns:
        :math:`\varepsilon` (a float for scalar input, else an array).

    Example:
        >>> round(eps_from_alpha(0.1, 10), 4)
        0.09
    """
    k = check_num_classes(num_classes)
    arr = check_smoothing_array(alpha, "alpha")
    out = arr * (k - 1) / k
    return float(out) if out.ndim == 0 else out


def uniform_alpha(
    alpha,
    num_classes: int,
    convention: str = "uniform",
    *,
    allow_negative: bool = False,
):
    r"""Validate ``alpha`` for ``convention`` and return the equivalent uniform ``alpha``.

    ``allow_negative`` admits negative label smoothing (alpha in (-inf, 1]);
    the off-target map ``alpha = eps K / (K - 1)`` is the same for it.

    Args:
        alpha: smoothing in the chosen convention, :math:`\alpha` (uniform) or
            :math:`\varepsilon` (off-target), in :math:`[0, 1]` (in
            :math:`(-\infty, 1]` with ``allow_negative``); a scalar or an array.
        num_classes: the number of classes :math:`K` (:math:`K \ge 2`;
            :math:`K = 1` is allowed in the uniform convention).
        convention: ``"uniform"`` (default) or ``"off_target"``.
        allow_negative: admit negative smoothing (negative label smoothing);
            default ``False`` raises ``ValueError`` for it.

    Returns:
        The uniform-convention :math:`\alpha`: ``alpha`` itself in the uniform
        convention, :math:`\varepsilon K / (K - 1)` in the off-target one (a
        float for scalar input, else an array).

    Example:
        >>> round(uniform_alpha(0.1, 3, "off_target"), 4)
        0.15
    """
    check_convention(convention)
    name = "eps" if convention == "off_target" else "alpha"
    if convention == "off_target":
        k = check_num_classes(num_classes)
        arr = (
            check_smoothing_array(alpha, name, allow_negative=allow_negative)
            * k
            / (k - 1)
        )
    else:
        check_num_classes(num_classes, minimum=1)
        arr = check_smoothing_array(alpha, name, allow_negative=allow_negative)
    return float(arr) if arr.ndim == 0 else arr


def uniform_smoothing(alpha, num_classes: int, convention: str = "uniform") -> float:
    """Scalar version of :func:`uniform_alpha` for the losses (plain Python, traceable).

    Validates a scalar ``alpha`` (a real or a 0-d tensor, negative allowed) and
    returns the uniform-convention value; ``K = 1`` is allowed in the uniform
    convention (PyTorch returns a loss of 0 there).
    """
    check_convention(convention)
    if convention == "off_target":
        k = check_num_classes(num_classes)
        return check_smoothing_scalar(alpha, "eps", allow_negative=True) * k / (k - 1)
    check_num_classes(num_classes, minimum=1)
    return check_smoothing_scalar(alpha, "alpha", allow_negative=True)


def smoothed_target_values(
    alpha,
    num_classes: int,
    convention: str = "uniform",
    *,
    allow_negative: bool = False,
):
    r"""The two values a smoothed target takes: ``(y_true, y_other)``.

    uniform: ``(1 - alpha + alpha / K, alpha / K)``;
    off_target: ``(1 - eps, eps / (K - 1))``.  Broadcasts over array ``alpha``.

    Args:
        alpha: smoothing in the chosen convention, :math:`\alpha` or
            :math:`\varepsilon`, in :math:`[0, 1]` (in :math:`(-\infty, 1]`
            with ``allow_negative``); a scalar or an array.
        num_classes: the number of classes :math:`K \ge 2` (:math:`K = 1` is
            allowed in the uniform convention).
        convention: ``"uniform"`` (default) or ``"off_target"``.
        allow_negative: admit negative smoothing (then :math:`y_{\text{true}} > 1`
            and :math:`y_{\text{other}} < 0`); default ``False`` raises
            ``ValueError`` for it.

    Returns:
        ``(y_true, y_other)``: the target's value on the true class,
        :math:`1 - \alpha + \alpha/K`, and on each other class,
        :math:`\alpha/K` (floats for scalar ``alpha``, else arrays of its
        shape).

    Example:
        >>> [round(v, 4) for v in smoothed_target_values(0.1, 3)]
        [0.9333, 0.0333]
    """
    a = uniform_alpha(alpha, num_classes, convention, allow_negative=allow_negative)
    k = int(num_classes)
    return 1.0 - a + a / k, a / k


def smooth_targets(
    target,
    num_classes: int,
    alpha: float,
    convention: str = "uniform",
    *,
    prior=None,
    dtype: torch.dtype | None = None,
    ignore_index: int | None = None,
) -> torch.Tensor:
    """Class indices -> smoothed target distributions.

    ``y[n] = (1 - alpha) * onehot(target[n]) + alpha * prior`` with ``prior = u``
    (uniform, ``1 / K`` each) by default; in the off-target convention the
    true class gets ``1 - eps`` and the others ``eps / (K - 1)``. A ``prior``
    generalises the uniform one (smoothing towards class frequencies or
    similarities); with ``convention="off_target"`` the parameter is first
    mapped to ``alpha = eps K / (K - 1)``. Negative ``alpha`` (negative label
    smoothing, Wei et al. 2022, "To Smooth or Not?") gives a target with
    ``y_true > 1`` and negative entries elsewhere; it still sums to 1.

    Args:
        target: integer class indices, shape ``(N,)`` (any leading shape works;
            the class axis is appended last), values in ``[0, K)`` (or
            ``ignore_index``).
        num_classes: ``K >= 2`` (``K = 1`` is allowed in the uniform convention).
        alpha: smoothing in ``(-inf, 1]`` in the chosen convention (a float or a
            0-d tensor); the usual range is [0, 1].
        convention: ``"uniform"`` or ``"off_target"``.
        prior: optional length-K probability vector (tensor, array or sequence):
            nonnegative, summing to 1. Default: uniform.
        dtype: floating dtype of the result; default ``torch.get_default_dtype()``
            (float32 unless changed).
        ignore_index: optional int; rows whose target equals it are all zeros
            (they are not range-checked).

    Returns:
        float tensor of shape ``(*target.shape, K)`` whose rows sum to 1 (0 on
        ignored rows).

    Example:
        >>> smooth_targets(torch.tensor([0]), 3, 0.1, convention="off_target")
        tensor([[0.9000, 0.0500, 0.0500]])
        >>> smooth_targets(torch.tensor([1]), 2, 0.2, prior=[0.75, 0.25])
        tensor([[0.1500, 0.8500]])
    """
    k = check_num_classes(num_classes, minimum=1 if convention == "uniform" else 2)
    a = uniform_smoothing(alpha, k, convention)
    if dtype is None:
        dtype = torch.get_default_dtype()
    elif not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise TypeError(f"dtype must be a floating torch.dtype or None, got {dtype!r}")
    target = check_index_target(torch.as_tensor(target))
    ignore = None
    if ignore_index is not None:
        ignore = target == check_ignore_index(ignore_index)
        target = target.masked_fill(ignore, 0)
    check_class_range(target, k, "target values")
    onehot = torch.nn.functional.one_hot(target.long(), k).to(dtype)
    if prior is None:  # the two values, computed in float64 first
        y_true, y_other = 1.0 - a + a / k, a / k
        y = onehot * (y_true - y_other) + y_other
    else:
        p = check_prior(prior, k, dtype=dtype, device=target.device)
        y = onehot * (1.0 - a) + a * p
    if ignore is not None:
        y = y.masked_fill(ignore.unsqueeze(-1), 0.0)
    return y
