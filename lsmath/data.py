"""Small datasets made in code or shipped inside a package (no downloads).

* ``load_digits_split``: scikit-learn's 8x8 digits (1797 x 64), standardised.
* ``make_mnist1d_split``: MNIST-1D (Greydanus 2020), generated offline.
* ``make_separable_2d``: points in 2-D, linearly separable through the origin.

All return float32/int64 torch tensors and are deterministic given ``seed``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from numbers import Integral, Real

import numpy as np
import torch

from ._optional import require

__all__ = [
    "Split",
    "load_digits_split",
    "make_mnist1d_split",
    "make_separable_2d",
    "standardise",
]


@dataclass(frozen=True)
class Split:
    """Train / validation / test tensors of one dataset.

    Attributes:
        x_train: training inputs, float32 ``(N_train, d)``, standardised.
        y_train: training labels, int64 ``(N_train,)``, in ``[0, K)``.
        x_val: validation inputs, float32 ``(N_val, d)`` (scaled with the
            training mean and standard deviation).
        y_val: validation labels, int64 ``(N_val,)``.
        x_test: test inputs, float32 ``(N_test, d)`` (scaled likewise).
        y_test: test labels, int64 ``(N_test,)``.
    """

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor

    @property
    def num_classes(self) -> int:
        """The number of classes ``K``: the largest training label plus one."""
        return int(self.y_train.max()) + 1

    @property
    def num_features(self) -> int:
        """The number of input features ``d``."""
        return int(self.x_train.shape[1])


def standardise(x_train: np.ndarray, *others: np.ndarray):
    """Scale features by the training mean and standard deviation (constant features -> 0).

    Each array becomes ``(x - mean) / std`` with the per-feature mean and
    (population) standard deviation of ``x_train``; a feature that is constant
    in ``x_train`` is only centred (its ``std`` is taken as 1).

    Args:
        x_train: ``(N, d)`` training features; the statistics come from it.
        *others: further ``(M, d)`` arrays (validation, test) scaled with the
            training statistics.

    Returns:
        A tuple of the scaled arrays, ``x_train`` first, then ``others`` in
        order.

    Example:
        >>> [a.tolist() for a in standardise(np.array([[0.0], [2.0]]), np.array([[4.0]]))]
        [[[-1.0], [1.0]], [[3.0]]]
    """
    mean = x_train.mean(axis=0)
    std = x_train.std(axis=0)
    std = np.where(std > 0, std, 1.0)
    return tuple((x - mean) / std for x in (x_train, *others))


def _check_count(value: object, name: str, minimum: int = 0) -> int:
    """An integer ``>= minimum`` (bool rejected); TypeError/ValueError naming it."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(
        value, (Integral, np.integer)
    ):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value}")
    return int(value)


def _check_split_sizes(n_train, n_val, n_test, seed) -> tuple[int, int, int]:
    _check_count(seed, "seed")
    return (
        _check_count(n_train, "n_train", 1),
        _check_count(n_val, "n_val"),
        _check_count(n_test, "n_test"),
    )


def _to_split(
    x: np.ndarray, y: np.ndarray, n_train: int, n_val: int, n_test: int, seed: int
) -> Split:
    if n_train + n_val + n_test > len(x):
        raise ValueError(
            f"n_train + n_val + n_test must be at most {len(x)}, got {n_train + n_val + n_test}"
        )
    order = np.random.default_rng(seed).permutation(len(x))
    tr, va, te = np.split(order[: n_train + n_val + n_test], [n_train, n_train + n_val])
    xs = standardise(x[tr], x[va], x[te])
    as_x = lambda a: torch.tensor(a, dtype=torch.float32)  # noqa: E731
    as_y = lambda a: torch.tensor(a, dtype=torch.int64)  # noqa: E731
    return Split(
        as_x(xs[0]), as_y(y[tr]), as_x(xs[1]), as_y(y[va]), as_x(xs[2]), as_y(y[te])
    )


def load_digits_split(
    n_train: int = 1000,
    n_val: int = 297,
    n_test: int = 500,
    *,
    classes=None,
    seed: int = 0,
) -> Split:
    """scikit-learn's digits, shuffled with ``seed``, standardised on the training split.

    Args:
        n_train: the number of training examples, at least 1; default 1000.
        n_val: the number of validation examples, at least 0; default 297.
        n_test: the number of test examples, at least 0; default 500.
            The three together at most 1797 (all the digits).
        classes: optional subset of digit labels to keep; labels are re-indexed
            ``0..len(classes)-1`` in the given order. With a subset, the split
            sizes are capped proportionally to what is available.
        seed: seed of the shuffle (an integer >= 0); default 0.

    Returns:
        A :class:`Split`: 64 features (8 x 8 pixels) as float32, labels as
        int64 in ``[0, K)``, ``K = 10`` (or ``len(classes)``).
    """
    n_train, n_val, n_test = _check_split_sizes(n_train, n_val, n_test, seed)
    load_digits = require("sklearn.datasets", "load_digits_split").load_digits

    x, y = load_digits(return_X_y=True)
    x = x.astype(np.float64)
    if classes is not None:
        classes = list(classes)
        keep = np.isin(y, classes)
        x, y = x[keep], np.array([classes.index(v) for v in y[keep]])
        total = n_train + n_val + n_test
        if total > len(x):
            scale = len(x) / total
            n_train, n_val = int(n_train * scale), int(n_val * scale)
            n_test = len(x) - n_train - n_val
    return _to_split(x, y, n_train, n_val, n_test, seed)


def make_mnist1d_split(
    n_train: int = 4000, n_val: int = 1000, n_test: int = 2000, *, seed: int = 0
) -> Split:
    """MNIST-1D (10 classes, 40 features), generated offline by the ``mnist1d`` package.

    The generator's own seed is ``seed``; the pooled samples are then split
    ``n_train / n_val / n_test`` and standardised on the training split.

    Args:
        n_train: the number of training examples, at least 1; default 4000.
        n_val: the number of validation examples, at least 0; default 1000.
        n_test: the number of test examples, at least 0; default 2000.
        seed: seed of the generator and of the split (an integer >= 0);
            default 0.

    Returns:
        A :class:`Split`: 40 features as float32, labels as int64 in
        ``[0, 10)``.
    """
    n_train, n_val, n_test = _check_split_sizes(n_train, n_val, n_test, seed)
    mnist1d_data = require("mnist1d.data", "make_mnist1d_split")
    get_dataset_args, make_dataset = (
        mnist1d_data.get_dataset_args,
        mnist1d_data.make_dataset,
    )

    args = get_dataset_args()
    total = n_train + n_val + n_test
    args.num_samples = total
    args.train_split = 0.5
    args.seed = seed
    data = make_dataset(args)
    x = np.concatenate([data["x"], data["x_test"]]).astype(np.float64)
    y = np.concatenate([data["y"], data["y_test"]]).astype(np.int64)
    return _to_split(x, y, n_train, n_val, n_test, seed)


def make_separable_2d(n: int = 100, *, margin: float = 0.3, seed: int = 0):
    """``n`` points in 2-D with labels in {0, 1}, separable by a line through the origin.

    Points are drawn from a standard normal; those within ``margin`` of the
    line ``x1 = x2 * 0.5`` are pushed away so the max-margin direction is well
    defined.

    Args:
        n: the number of points, at least 1; default 100.
        margin: the half-width of the empty band around the separating line,
            a finite real >= 0; default 0.3.
        seed: seed of the draw (an integer >= 0); default 0.

    Returns:
        ``(x, y)``: points ``(n, 2)`` as float64 and labels ``(n,)`` as int64
        in {0, 1} (1 on the side of the normal ``(1, -0.5)``).

    Example:
        >>> x, y = make_separable_2d(5)
        >>> tuple(x.shape), y.dtype
        ((5, 2), torch.int64)
    """
    n = _check_count(n, "n", 1)
    _check_count(seed, "seed")
    if isinstance(margin, bool) or not isinstance(margin, Real) or not margin >= 0:
        raise ValueError(f"margin must be a real number >= 0, got {margin!r}")
    if not math.isfinite(margin):
        raise ValueError(f"margin must be finite, got {margin!r}")
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 2))
    normal = np.array([1.0, -0.5]) / np.linalg.norm([1.0, -0.5])
    s = x @ normal
    sign = np.where(s >= 0, 1.0, -1.0)
    x = x + np.outer(sign * np.maximum(margin - np.abs(s), 0.0), normal)
    y = (sign > 0).astype(np.int64)
    return torch.tensor(x, dtype=torch.float64), torch.tensor(y)
