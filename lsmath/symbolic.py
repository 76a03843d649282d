"""SymPy definitions shared by the chapters and the tests.

Every closed form in the book is checked against these expressions: the
softmax, the smoothed target for a *symbolic* number of classes ``K``, the LS
loss, entropies, and the "two-level" logits (true class ``z_t``, all ``K - 1``
wrong classes at one common logit) on which the LS minimiser lies.

Example:
    >>> import sympy as sp
    >>> a, K = sp.symbols("alpha K", positive=True)
    >>> y_t, y_o = smoothed_target(a, K)
    >>> sp.simplify(y_t + (K - 1) * y_o)
    1
"""

from __future__ import annotations

from ._optional import require
from ._validation import check_convention

sp = require("sympy", "lsmath.symbolic")

__all__ = [
    "softmax",
    "log_softmax",
    "smoothed_target",
    "smoothed_target_vector",
    "cross_entropy",
    "entropy",
    "kl_divergence",
    "ls_loss",
    "two_level_probabilities",
    "two_level_ls_loss",
    "symbols",
]


def symbols():
    """The book's standard symbols: ``alpha, eps, K, d`` (positive), for quick use."""
    alpha, eps = sp.symbols("alpha epsilon", positive=True)
    K = sp.symbols("K", integer=True, positive=True)
    d = sp.symbols("d", real=True)
    return alpha, eps, K, d


def softmax(z):
    """``p_i = exp(z_i) / sum_j exp(z_j)`` for a sequence of SymPy expressions."""
    z = list(z)
    denom = sum(sp.exp(zj) for zj in z)
    return [sp.exp(zi) / denom for zi in z]


def log_softmax(z):
    """``log p_i = z_i - log sum_j exp(z_j)``."""
    z = list(z)
    lse = sp.log(sum(sp.exp(zj) for zj in z))
    return [zi - lse for zi in z]


def smoothed_target(alpha, K, convention: str = "uniform"):
    """``(y_true, y_other)`` for symbolic ``alpha`` (or ``eps``) and symbolic ``K``.

    uniform: ``(1 - alpha + alpha/K, alpha/K)``; off_target: ``(1 - eps, eps/(K-1))``.
    """
    check_convention(convention)
    if convention == "uniform":
        return 1 - alpha + alpha / K, alpha / K
    return 1 - alpha, alpha / (K - 1)


def smoothed_target_vector(alpha, K: int, t: int, convention: str = "uniform"):
    """Length-``K`` list of the smoothed target for true class ``t`` (``K`` an int)."""
    y_t, y_o = smoothed_target(alpha, K, convention)
    return [y_t if i == t else y_o for i in range(K)]


def cross_entropy(y, p):
    """``CE(y, p) = -sum_i y_i log p_i``."""
    return -sum(yi * sp.log(pi) for yi, pi in zip(y, p))


def entropy(y):
    """``H(y) = -sum_i y_i log y_i``."""
    return -sum(yi * sp.log(yi) for yi in y)


def kl_divergence(q, p):
    """``KL(q || p) = sum_i q_i log(q_i / p_i)``."""
    return sum(qi * sp.log(qi / pi) for qi, pi in zip(q, p))


def ls_loss(z, t: int, alpha, convention: str = "uniform"):
    """LS cross-entropy ``-sum_i y_i log softmax(z)_i`` for explicit logits ``z``."""
    z = list(z)
    y = smoothed_target_vector(alpha, len(z), t, convention)
    return -sum(yi * lpi for yi, lpi in zip(y, log_softmax(z)))


def two_level_probabilities(d, K):
    """Softmax of logits with gap ``d = z_t - z_other`` shared by all ``K - 1`` wrong classes.

    Returns ``(p_true, p_other) = (e^d / (e^d + K - 1), 1 / (e^d + K - 1))``.
    """
    denom = sp.exp(d) + K - 1
    return sp.exp(d) / denom, 1 / denom


def two_level_ls_loss(d, alpha, K, convention: str = "uniform"):
    """LS loss as a function of the common gap ``d`` for symbolic ``K``.

    ``L(d) = -y_true log p_true - (K - 1) y_other log p_other``.
    """
    y_t, y_o = smoothed_target(alpha, K, convention)
    p_t, p_o = two_level_probabilities(d, K)
    return -y_t * sp.log(p_t) - (K - 1) * y_o * sp.log(p_o)
