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
    check_convention,
    check_num_classes,
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
    """Off-target ``eps`` that gives the same targets as uniform-convention ``alpha``.

    ``eps = alpha * (K - 1) / K``: the total mass moved off the true class.

    Example:
        >>> round(eps_from_alpha(0.1, 10), 4)
        0.09
    """
    k = check_num_classes(num_classes)
    arr = check_smoothing_array(alpha, "alpha")
    out = arr * (k - 1) / k
    return float(out) if out.ndim == 0 else out


def uniform_alpha(alpha, num_classes: int, convention: str = "uniform"):
    """Validate ``alpha`` for ``convention`` and return the equivalent uniform ``alpha``."""
    check_convention(convention)
    if convention == "off_target":
        return alpha_from_eps(alpha, num_classes)
    check_num_classes(num_classes)
    arr = check_smoothing_array(alpha, "alpha")
    return float(arr) if arr.ndim == 0 else arr


def smoothed_target_values(alpha, num_classes: int, convention: str = "uniform"):
    """The two values a smoothed target takes: ``(y_true, y_other)``.

    uniform: ``(1 - alpha + alpha / K, alpha / K)``;
    off_target: ``(1 - eps, eps / (K - 1))``.  Broadcasts over array ``alpha``.

    Example:
        >>> [round(v, 4) for v in smoothed_target_values(0.1, 3)]
        [0.9333, 0.0333]
    """
    a = uniform_alpha(alpha, num_classes, convention)
    k = int(num_classes)
    return 1.0 - a + a / k, a / k


def smooth_targets(
    target,
    num_classes: int,
    alpha: float,
    convention: str = "uniform",
) -> torch.Tensor:
    """Class indices -> smoothed target distributions.

    ``y[n] = (1 - alpha) * onehot(target[n]) + alpha / K`` (uniform), or true
    class ``1 - eps`` and others ``eps / (K - 1)`` (off_target).

    Args:
        target: integer class indices, shape ``(N,)`` (any leading shape works;
            the class axis is appended last), values in ``[0, K)``.
        num_classes: ``K >= 2``.
        alpha: smoothing in [0, 1] in the chosen convention.
        convention: ``"uniform"`` or ``"off_target"``.

    Returns:
        float tensor of shape ``(*target.shape, K)`` whose rows sum to 1.

    Example:
        >>> smooth_targets(torch.tensor([0]), 3, 0.1, convention="off_target")
        tensor([[0.9000, 0.0500, 0.0500]])
    """
    k = check_num_classes(num_classes)
    check_convention(convention)
    check_smoothing_scalar(alpha, "alpha")
    target = torch.as_tensor(target)
    if target.dtype.is_floating_point or target.dtype.is_complex or target.dtype == torch.bool:
        raise TypeError(f"target must hold integer class indices, got dtype {target.dtype}")
    if target.numel() and (int(target.min()) < 0 or int(target.max()) >= k):
        raise ValueError(
            f"target values must lie in [0, num_classes) = [0, {k}), "
            f"got min {int(target.min())} and max {int(target.max())}"
        )
    y_true, y_other = smoothed_target_values(alpha, k, convention)
    onehot = torch.nn.functional.one_hot(target.long(), k).to(torch.get_default_dtype())
    return onehot * (y_true - y_other) + y_other

