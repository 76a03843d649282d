r"""SymPy definitions shared by the chapters and the tests.

Every closed form in the book is checked against these expressions: the
softmax, the smoothed target for a *symbolic* number of classes :math:`K`, the
LS loss, entropies, and the "two-level" logits (true class :math:`z_t`, all
:math:`K - 1` wrong classes at one common logit) on which the LS minimiser
lies.

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
    r"""The book's standard symbols :math:`\alpha, \varepsilon, K, d`, for quick use.

    :math:`\alpha` and :math:`\varepsilon` are positive, :math:`K` a positive
    integer, :math:`d` (a logit gap) real.

    Returns:
        The tuple ``(alpha, eps, K, d)`` of SymPy symbols.

    Example:
        >>> symbols()
        (alpha, epsilon, K, d)
    """
    alpha, eps = sp.symbols("alpha epsilon", positive=True)
    K = sp.symbols("K", integer=True, positive=True)
    d = sp.symbols("d", real=True)
    return alpha, eps, K, d


def softmax(z):
    r"""Softmax :math:`p_i = e^{z_i} / \sum_j e^{z_j}` of SymPy expressions.

    Args:
        z: a sequence of SymPy expressions (the logits).

    Returns:
        The list of the :math:`p_i`.

    Example:
        >>> softmax([0, 0])
        [1/2, 1/2]
    """
    z = list(z)
    denom = sum(sp.exp(zj) for zj in z)
    return [sp.exp(zi) / denom for zi in z]


def log_softmax(z):
    r"""Log-softmax :math:`\log p_i = z_i - \operatorname{lse}(z)` of SymPy expressions.

    Args:
        z: a sequence of SymPy expressions (the logits).

    Returns:
        The list of the :math:`\log p_i`.

    Example:
        >>> log_softmax([0, 0])
        [-log(2), -log(2)]
    """
    z = list(z)
    lse = sp.log(sum(sp.exp(zj) for zj in z))
    return [zi - lse for zi in z]


def smoothed_target(alpha, K, convention: str = "uniform"):
    r"""The two values :math:`(y^{\mathrm{LS}}_t, y^{\mathrm{LS}}_{k \ne t})` of a smoothed target.

    Uniform: :math:`(1 - \alpha + \alpha/K,\ \alpha/K)`; off-target:
    :math:`(1 - \varepsilon,\ \varepsilon/(K-1))`.

    Args:
        alpha: :math:`\alpha` (or :math:`\varepsilon` when
            ``convention="off_target"``), a SymPy expression or a number.
        K: the number of classes, symbolic or an integer.
        convention: ``"uniform"`` or ``"off_target"``.

    Returns:
        ``(y_true, y_other)``.

    Example:
        >>> import sympy as sp
        >>> smoothed_target(sp.Rational(1, 10), 3, "off_target")
        (9/10, 1/20)
    """
    check_convention(convention)
    if convention == "uniform":
        return 1 - alpha + alpha / K, alpha / K
    return 1 - alpha, alpha / (K - 1)


def smoothed_target_vector(alpha, K: int, t: int, convention: str = "uniform"):
    r"""The smoothed target :math:`y^{\mathrm{LS}}` of true class :math:`t` as a list.

    Args:
        alpha: :math:`\alpha` (or :math:`\varepsilon`), a SymPy expression or a
            number.
        K: the number of classes, an integer.
        t: the true class, in :math:`[0, K)`.
        convention: ``"uniform"`` or ``"off_target"``.

    Returns:
        A list of length :math:`K`.

    Example:
        >>> import sympy as sp
        >>> smoothed_target_vector(sp.Rational(3, 10), 3, 0)
        [4/5, 1/10, 1/10]
    """
    y_t, y_o = smoothed_target(alpha, K, convention)
    return [y_t if i == t else y_o for i in range(K)]


def cross_entropy(y, p):
    r"""Cross-entropy :math:`\operatorname{CE}(y, p) = -\sum_i y_i \log p_i`.

    Args:
        y: the target distribution, a sequence of SymPy expressions.
        p: the predicted distribution, of the same length.

    Returns:
        The SymPy expression :math:`-\sum_i y_i \log p_i` (not simplified).

    Example:
        >>> import sympy as sp
        >>> cross_entropy([1, 0], [sp.Rational(1, 2), sp.Rational(1, 2)])
        log(2)
    """
    return -sum(yi * sp.log(pi) for yi, pi in zip(y, p))


def entropy(y):
    r"""Entropy :math:`H(y) = -\sum_i y_i \log y_i`.

    Args:
        y: a distribution, a sequence of SymPy expressions.

    Returns:
        The SymPy expression :math:`-\sum_i y_i \log y_i` (not simplified; a
        zero entry gives ``0*log(0)``, which SymPy evaluates to ``nan``).

    Example:
        >>> import sympy as sp
        >>> entropy([sp.Rational(1, 2), sp.Rational(1, 2)])
        log(2)
    """
    return -sum(yi * sp.log(yi) for yi in y)


def kl_divergence(q, p):
    r"""Kullback-Leibler divergence :math:`\operatorname{KL}(q \,\Vert\, p)`.

    :math:`\operatorname{KL}(q \,\Vert\, p) = \sum_i q_i \log(q_i / p_i)`.

    Args:
        q: the first distribution, a sequence of SymPy expressions.
        p: the second distribution, of the same length.

    Returns:
        The SymPy expression :math:`\sum_i q_i \log(q_i / p_i)` (not
        simplified).

    Example:
        >>> import sympy as sp
        >>> half = sp.Rational(1, 2)
        >>> kl_divergence([half, half], [half, half])
        0
    """
    return sum(qi * sp.log(qi / pi) for qi, pi in zip(q, p))


def ls_loss(z, t: int, alpha, convention: str = "uniform"):
    r"""LS cross-entropy :math:`-\sum_i y^{\mathrm{LS}}_i \log \operatorname{softmax}(z)_i`.

    Args:
        z: the logits, a sequence of SymPy expressions (its length is
            :math:`K`).
        t: the true class, in :math:`[0, K)`.
        alpha: :math:`\alpha` (or :math:`\varepsilon`), a SymPy expression or a
            number.
        convention: ``"uniform"`` or ``"off_target"``.

    Returns:
        The loss as a SymPy expression in the entries of ``z`` and ``alpha``.

    Example:
        >>> import sympy as sp
        >>> ls_loss([0, 0], 0, sp.Integer(0))
        log(2)
    """
    z = list(z)
    y = smoothed_target_vector(alpha, len(z), t, convention)
    return -sum(yi * lpi for yi, lpi in zip(y, log_softmax(z)))


def two_level_probabilities(d, K):
    r"""Softmax of logits whose :math:`K - 1` wrong classes share one gap :math:`d`.

    With :math:`d = z_t - z_k` for every :math:`k \ne t`:
    :math:`p_t = e^d / (e^d + K - 1)` and :math:`p_k = 1 / (e^d + K - 1)`.

    Args:
        d: the common gap, a SymPy expression.
        K: the number of classes, symbolic or an integer.

    Returns:
        ``(p_true, p_other)``.

    Example:
        >>> two_level_probabilities(0, 4)
        (1/4, 1/4)
    """
    denom = sp.exp(d) + K - 1
    return sp.exp(d) / denom, 1 / denom


def two_level_ls_loss(d, alpha, K, convention: str = "uniform"):
    r"""LS loss as a function of the common gap :math:`d`, for symbolic :math:`K`.

    .. math::

        L(d) = -y^{\mathrm{LS}}_t \log p_t
               - (K-1)\, y^{\mathrm{LS}}_{k \ne t} \log p_{k \ne t},

    with :math:`p_t, p_{k \ne t}` from :func:`two_level_probabilities`.

    Args:
        d: the common gap, a SymPy expression.
        alpha: :math:`\alpha` (or :math:`\varepsilon`), a SymPy expression.
        K: the number of classes, symbolic or an integer.
        convention: ``"uniform"`` or ``"off_target"``.

    Returns:
        :math:`L(d)` as a SymPy expression in ``d``, ``alpha`` and ``K``.

    Example:
        >>> import sympy as sp
        >>> a, eps, K, d = symbols()
        >>> sp.simplify(two_level_ls_loss(0, a, K))  # uniform prediction: log K
        log(K)
    """
    y_t, y_o = smoothed_target(alpha, K, convention)
    p_t, p_o = two_level_probabilities(d, K)
    return -y_t * sp.log(p_t) - (K - 1) * y_o * sp.log(p_o)
