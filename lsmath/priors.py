"""Smoothing towards any prior, label noise as smoothing, online soft targets (chapter 8).

Label smoothing mixes the one-hot target with a distribution ``pi``,
``y = (1 - alpha) e_t + alpha pi``. The uniform ``pi = u`` is one choice; this
module holds the pieces chapter 8 needs for the others:

* :func:`prior_targets` builds the targets for a shared prior ``pi`` (shape
  ``(K,)``) or a class-conditional one (``(K, K)``, row ``t`` used for label
  ``t``), and :func:`prior_optimal_logit_gaps` gives the logits that minimise
  the loss, ``z_k - z_t = log(y_k / y_t)``.
* :func:`prior_from_confusion` and :func:`prior_from_groups` make
  class-conditional priors from a first model's confusion matrix or from a
  known class hierarchy.
* :func:`disturb_labels` is DisturbLabel (Xie et al. 2016): each label is
  replaced, with probability ``rate``, by one drawn uniformly from all ``K``
  classes. Its expected loss is the LS loss with ``alpha = rate``
  (:func:`disturb_label_alpha`); :func:`disturb_label_variance` is the
  variance it adds to the per-sample logit gradient.
* :class:`OnlineLabelSmoothing` keeps the per-class soft targets of online
  label smoothing (Zhang et al. 2021), learned from the model's own correct
  predictions.
* :func:`make_twin_mixture` makes a Gaussian mixture whose classes come in
  confusable pairs ("husky and malamute"), with its exact Bayes posterior.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from numbers import Integral, Real

import numpy as np
import torch

from ._validation import (
    check_class_labels,
    check_convention,
    check_num_classes,
    check_positive_int,
    check_prior_or_matrix,
)
from .data import Split, standardise

__all__ = [
    "prior_targets",
    "prior_optimal_logit_gaps",
    "prior_from_confusion",
    "prior_from_groups",
    "disturb_labels",
    "disturb_label_alpha",
    "disturb_label_variance",
    "OnlineLabelSmoothing",
    "TwinMixture",
    "make_twin_mixture",
]

_SUM_TOL = 1e-6


# ------------------------------------------------------------------ validation


def _real(value: object, name: str, allowed: str) -> float:
    if isinstance(value, (bool, np.bool_, str, bytes)) or not isinstance(
        value, (Real, np.floating, np.integer)
    ):
        raise TypeError(
            f"{name} must be a real number {allowed}, got {type(value).__name__}"
        )
    out = float(value)
    if math.isnan(out):
        raise ValueError(f"{name} must be a real number {allowed}, got nan")
    return out


def _check_alpha(alpha: object, *, allow_negative: bool) -> float:
    allowed = "<= 1 (finite)" if allow_negative else "in [0, 1]"
    a = _real(alpha, "alpha", allowed)
    if a > 1 or not math.isfinite(a) or (a < 0 and not allow_negative):
        raise ValueError(f"alpha must be a real number {allowed}, got {a}")
    return a


def _check_rate(rate: object) -> float:
    r = _real(rate, "rate", "in [0, 1]")
    if not 0.0 <= r <= 1.0:
        raise ValueError(f"rate must be a real number in [0, 1], got {r}")
    return r


# ------------------------------------------------------------------ targets and minimiser


def prior_targets(
    target, alpha: float, prior, *, dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """Targets smoothed towards a prior: ``y[n] = (1 - alpha) e_{t_n} + alpha pi(t_n)``.

    Args:
        target: class indices, shape ``(N,)``, values in ``[0, K)``.
        alpha: smoothing weight, a real ``<= 1``; negative values give negative
            label smoothing (Wei et al. 2022): ``y_t > 1`` and negative
            entries where ``pi > 0``. Rows still sum to 1.
        prior: ``(K,)`` probability vector shared by every class (the uniform
            ``1/K`` gives ordinary label smoothing), or a ``(K, K)``
            row-stochastic matrix whose row ``t`` is the prior used for label
            ``t`` (class-conditional smoothing, e.g. from
            :func:`prior_from_confusion`).
        dtype: floating dtype of the result.

    Returns:
        tensor of shape ``(N, K)``; computed in float64, then cast.

    Example:
        >>> prior_targets(torch.tensor([0]), 0.2, [0.0, 0.75, 0.25])
        tensor([[0.8000, 0.1500, 0.0500]])
    """
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise TypeError(f"dtype must be a floating torch.dtype, got {dtype!r}")
    a = _check_alpha(alpha, allow_negative=True)
    p = check_prior_or_matrix(prior, tol=_SUM_TOL)
    k = p.shape[-1]
    t = check_class_labels(target, k, "target")
    rows = p[t] if p.dim() == 2 else p.expand(t.numel(), k)
    onehot = torch.nn.functional.one_hot(t, k).to(torch.float64)
    return ((1 - a) * onehot + a * rows).to(dtype)


def prior_optimal_logit_gaps(alpha: float, prior, target: int) -> np.ndarray:
    """Logit gaps ``z_k - z_t`` at the minimiser of ``CE(y, softmax(z))``.

    Here ``y`` is the one-hot label smoothed towards ``prior``.

    The cross-entropy to a target ``y`` is minimised exactly where
    ``softmax(z) = y``, so ``z_k - z_t = log(y_k / y_t)`` with
    ``y = (1 - alpha) e_t + alpha pi``: ``log(alpha pi_k / (1 - alpha + alpha pi_t))``.
    A class with ``pi_k = 0`` (or ``alpha = 0``) gets ``-inf`` (no finite
    minimiser in that direction). The uniform prior gives ``-optimal_logit_gap``
    for every wrong class.

    Args:
        alpha: smoothing in [0, 1]. Negative ``alpha`` is rejected: the
            target then has negative entries and the loss is unbounded below
            (no minimiser exists).
        prior: ``(K,)`` or ``(K, K)`` as in :func:`prior_targets`.
        target: the true class ``t``.

    Returns:
        float64 array of shape ``(K,)``, entry ``t`` equal to 0.

    Example:
        >>> np.round(prior_optimal_logit_gaps(0.1, [1/3, 1/3, 1/3], 0), 4)
        array([ 0.    , -3.3322, -3.3322])
    """
    a = _real(alpha, "alpha", "in [0, 1]")
    if a < 0:
        raise ValueError(
            f"alpha must lie in [0, 1] for a minimiser to exist, got {a}: with alpha < 0 the "
            "target has negative entries and the loss decreases without bound as the wrong "
            "logits fall (negative label smoothing has no finite minimiser)"
        )
    a = _check_alpha(a, allow_negative=False)
    p = check_prior_or_matrix(prior, tol=_SUM_TOL)
    k = p.shape[-1]
    if isinstance(target, (bool, np.bool_)) or not isinstance(target, Integral):
        raise TypeError(
            f"target must be an integer class index, got {type(target).__name__}"
        )
    if not 0 <= int(target) < k:
        raise ValueError(f"target must lie in [0, K) = [0, {k}), got {target}")
    t = int(target)
    row = (p[t] if p.dim() == 2 else p).numpy()
    y = a * row
    y[t] += 1 - a
    if y[t] <= 0:
        raise ValueError(
            "the smoothed target puts no mass on the true class (alpha = 1 and "
            "prior[t] = 0): the gaps are +inf"
        )
    with np.errstate(divide="ignore"):
        return np.log(y) - np.log(y[t])


# ------------------------------------------------------------------ priors from similarity


def prior_from_confusion(confusion, *, pseudocount: float = 1.0) -> np.ndarray:
    """Class-conditional prior from a confusion matrix (rows: true class, columns: predicted).

    ``pi_t(k) = (C[t, k] + c) / (sum_{j != t} C[t, j] + (K - 1) c)`` for
    ``k != t`` and ``pi_t(t) = 0``: the off-target mass goes where the first
    model's mistakes on class ``t`` went, with ``c`` (``pseudocount``) added
    to every off-diagonal cell so that no class is ruled out. ``c -> inf``
    gives the uniform distribution over the other classes (the off-target
    convention). Used as ``prior`` of :func:`prior_targets`.

    Args:
        confusion: ``(K, K)`` array of nonnegative counts (or rates).
        pseudocount: ``c >= 0``; with ``c = 0`` every row needs at least one
            off-diagonal count.

    Returns:
        float64 array ``(K, K)``, zero diagonal, rows summing to 1.

    Example:
        >>> pi = prior_from_confusion([[8, 2, 0], [1, 9, 0], [0, 0, 10]], pseudocount=1.0)
        >>> np.round(pi, 2)
        array([[0.  , 0.75, 0.25],
               [0.67, 0.  , 0.33],
               [0.5 , 0.5 , 0.  ]])
    """
    c_mat = np.asarray(confusion, dtype=float)
    if c_mat.ndim != 2 or c_mat.shape[0] != c_mat.shape[1] or c_mat.shape[0] < 2:
        raise ValueError(
            f"confusion must be a square (K, K) matrix with K >= 2, got shape {c_mat.shape}"
        )
    if not np.isfinite(c_mat).all() or (c_mat < 0).any():
        raise ValueError("confusion must hold finite, nonnegative counts")
    c = _real(pseudocount, "pseudocount", ">= 0")
    if c < 0 or not math.isfinite(c):
        raise ValueError(f"pseudocount must be a finite real >= 0, got {c}")
    k = c_mat.shape[0]
    off = c_mat.copy()
    np.fill_diagonal(off, 0.0)
    off = off + c * (1 - np.eye(k))
    sums = off.sum(axis=1, keepdims=True)
    if (sums <= 0).any():
        rows = np.flatnonzero(sums[:, 0] <= 0).tolist()
        raise ValueError(
            f"confusion rows {rows} have no off-diagonal counts; use pseudocount > 0"
        )
    return off / sums


def prior_from_groups(groups: Sequence[int], *, within: float = 0.9) -> np.ndarray:
    """Class-conditional prior from a known hierarchy (each class belongs to one group).

    For label ``t``, the mass ``within`` is shared equally by the other
    classes of ``t``'s group and ``1 - within`` equally by the classes outside
    it; ``pi_t(t) = 0``. A class alone in its group gives all the mass to
    the outside classes (and vice versa when one group holds every class).

    Args:
        groups: length-K sequence of group ids, ``groups[k]`` the group of class ``k``.
        within: share of the off-target mass kept inside the group, in [0, 1].

    Returns:
        float64 array ``(K, K)``, zero diagonal, rows summing to 1.

    Example:
        >>> prior_from_groups([0, 0, 1, 1], within=0.8)
        array([[0. , 0.8, 0.1, 0.1],
               [0.8, 0. , 0.1, 0.1],
               [0.1, 0.1, 0. , 0.8],
               [0.1, 0.1, 0.8, 0. ]])
    """
    g = np.asarray(groups)
    if g.ndim != 1 or g.size < 2:
        raise ValueError(
            f"groups must be a sequence of K >= 2 group ids, got shape {g.shape}"
        )
    if g.dtype.kind not in "iu":
        raise TypeError(f"groups must hold integer group ids, got dtype {g.dtype}")
    w = _real(within, "within", "in [0, 1]")
    if not 0 <= w <= 1:
        raise ValueError(f"within must lie in [0, 1], got {w}")
    k = g.size
    same = (g[:, None] == g[None, :]) & ~np.eye(k, dtype=bool)
    other = g[:, None] != g[None, :]
    n_same = same.sum(axis=1, keepdims=True)
    n_other = other.sum(axis=1, keepdims=True)
    w_in = np.where(n_other == 0, 1.0, np.where(n_same == 0, 0.0, w))
    out = same * w_in / np.maximum(n_same, 1) + other * (1 - w_in) / np.maximum(
        n_other, 1
    )
    return out.astype(np.float64)


# ------------------------------------------------------------------ DisturbLabel


def disturb_labels(
    labels, num_classes: int, rate: float, *, generator: torch.Generator | None = None
) -> torch.Tensor:
    """DisturbLabel (Xie et al. 2016): replace labels by uniform draws.

    Each label is replaced, with probability ``rate``, by a uniform draw.

    The replacement is drawn from all ``K`` classes, so it equals the true
    label with probability ``1/K``: a label ends up wrong with probability
    ``rate (K - 1) / K``. In expectation the one-hot of the disturbed label is
    ``(1 - rate) e_t + rate u``, the uniform-convention LS target with
    ``alpha = rate`` (:func:`disturb_label_alpha`). Call it afresh for every
    mini-batch (the paper draws new noise in every iteration).

    Args:
        labels: class indices, shape ``(N,)``.
        num_classes: ``K >= 2``.
        rate: replacement probability in [0, 1].
        generator: optional ``torch.Generator`` for reproducible draws.

    Returns:
        new int64 tensor of shape ``(N,)``; ``labels`` is left untouched.

    Example:
        >>> y = torch.zeros(100_000, dtype=torch.long)
        >>> noisy = disturb_labels(y, 4, 0.2, generator=torch.Generator().manual_seed(0))
        >>> round(float((noisy != 0).float().mean()), 2)  # rate (K - 1) / K = 0.15
        0.15
    """
    k = check_num_classes(num_classes)
    t = check_class_labels(labels, k)
    r = _check_rate(rate)
    replace = torch.rand(t.shape, generator=generator) < r
    draws = torch.randint(0, k, t.shape, generator=generator)
    return torch.where(replace, draws, t)


def disturb_label_alpha(
    rate: float, num_classes: int, convention: str = "uniform"
) -> float:
    r"""Smoothing whose LS loss equals the expected DisturbLabel loss at ``rate``.

    Cross-entropy is linear in its target and ``E[e_Y] = (1 - r) e_t + r u``,
    so ``E[CE(e_Y, p)] = CE((1 - r) e_t + r u, p)``: ``alpha = r`` in the
    uniform convention, ``eps = r (K - 1) / K`` in the off-target one.

    Args:
        rate: DisturbLabel's replacement probability ``r`` in ``[0, 1]``.
        num_classes: the number of classes ``K >= 2``.
        convention: the convention of the result: ``"uniform"`` (default,
            :math:`\alpha`) or ``"off_target"`` (:math:`\varepsilon`).

    Returns:
        float: the smoothing in ``convention``, ``r`` (uniform) or
        ``r (K - 1) / K`` (off-target).

    Example:
        >>> disturb_label_alpha(0.1, 10), round(disturb_label_alpha(0.1, 10, "off_target"), 4)
        (0.1, 0.09)
    """
    k = check_num_classes(num_classes)
    check_convention(convention)
    r = _check_rate(rate)
    return r if convention == "uniform" else r * (k - 1) / k


def disturb_label_variance(rate: float, num_classes: int) -> float:
    """Variance DisturbLabel adds to one sample's logit gradient: ``E||e_Y - E e_Y||^2``.

    The per-sample gradient is ``p - e_Y``; with ``p`` fixed its total
    variance (trace of the covariance) is that of ``e_Y``, i.e.
    ``1 - ||q||^2`` with ``q = (1 - r) e_t + r u``:
    ``1 - (1 - r + r/K)^2 - (K - 1) (r/K)^2 = r (2 - r) (K - 1) / K``.
    Label smoothing with the same ``alpha`` adds none.

    Args:
        rate: DisturbLabel's replacement probability ``r`` in ``[0, 1]``.
        num_classes: the number of classes ``K >= 2``.

    Returns:
        The variance ``r (2 - r) (K - 1) / K``, a float in ``[0, 1)``.

    Example:
        >>> round(disturb_label_variance(0.1, 10), 4)
        0.171
    """
    k = check_num_classes(num_classes)
    r = _check_rate(rate)
    return r * (2 - r) * (k - 1) / k


# ------------------------------------------------------------------ online label smoothing


class OnlineLabelSmoothing:
    r"""Per-class soft targets learned from the model's own predictions (Zhang et al. 2021).

    Keeps a ``(K, K)`` matrix ``S`` whose row ``t`` is the soft target of
    class ``t``. During an epoch, :meth:`update` adds the predicted
    distribution ``softmax(z)`` of every *correctly classified* sample of
    class ``t`` to row ``t`` of an accumulator; :meth:`next_epoch` replaces
    each row of ``S`` by the mean of what was accumulated (rows with no
    correct sample keep their previous value) and resets the accumulator.
    The first epoch uses the uniform LS target with ``init_alpha``. The
    training loss of the paper is ``w CE(e_t, p) + (1 - w) CE(S[t], p)``
    (:meth:`loss`, ``hard_weight = w = 0.5`` there).

    Args:
        num_classes: the number of classes ``K >= 2``.
        init_alpha: uniform-convention smoothing :math:`\alpha` in ``[0, 1]``
            of the first epoch's targets, ``S = (1 - alpha) I + alpha / K``;
            default 0.1.

    Attributes:
        matrix: the current soft targets ``S``, float64 ``(K, K)``, rows
            summing to 1.
        num_classes: ``K``.

    Example:
        >>> ols = OnlineLabelSmoothing(3, init_alpha=0.0)
        >>> ols.update(torch.tensor([[2.0, 0.0, 0.0], [0.0, 3.0, 0.0]]), torch.tensor([0, 0]))
        >>> ols.next_epoch()
        >>> [round(v, 3) for v in ols.matrix[0].tolist()]
        [0.787, 0.107, 0.107]
    """

    def __init__(self, num_classes: int, *, init_alpha: float = 0.1) -> None:
        self.num_classes = check_num_classes(num_classes)
        a = _check_alpha(init_alpha, allow_negative=False)
        k = self.num_classes
        self.matrix = (1 - a) * torch.eye(k, dtype=torch.float64) + a / k
        self._sum = torch.zeros(k, k, dtype=torch.float64)
        self._count = torch.zeros(k, dtype=torch.float64)

    def targets(self, labels, *, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """Soft targets ``S[labels]``, shape ``(N, K)``.

        Args:
            labels: integer class labels ``(N,)`` in ``[0, K)``.
            dtype: dtype of the result; default float32.

        Returns:
            The rows of ``S`` of the labels, a tensor ``(N, K)``.
        """
        return self.matrix[check_class_labels(labels, self.num_classes)].to(dtype)

    @torch.no_grad()
    def update(self, logits: torch.Tensor, labels) -> None:
        """Accumulate ``softmax(logits)`` of the correctly classified rows, by label.

        Args:
            logits: floating tensor ``(N, K)`` of the model's logits (detached
                here; no gradient flows).
            labels: integer class labels ``(N,)`` in ``[0, K)``.
        """
        if not isinstance(logits, torch.Tensor) or not logits.dtype.is_floating_point:
            raise TypeError("logits must be a floating torch.Tensor of shape (N, K)")
        if logits.dim() != 2 or logits.shape[1] != self.num_classes:
            raise ValueError(
                f"logits must have shape (N, {self.num_classes}), got {tuple(logits.shape)}"
            )
        t = check_class_labels(labels, self.num_classes)
        if t.numel() != logits.shape[0]:
            raise ValueError(
                f"labels must have one entry per row of logits, got {t.numel()} "
                f"and {logits.shape[0]}"
            )
        probs = torch.softmax(logits.detach().to(torch.float64), dim=1)
        right = probs.argmax(dim=1) == t
        self._sum.index_add_(0, t[right], probs[right])
        self._count.index_add_(
            0, t[right], torch.ones(int(right.sum()), dtype=torch.float64)
        )

    def next_epoch(self) -> None:
        """Turn the accumulated sums into the new soft targets and reset them."""
        seen = self._count > 0
        self.matrix[seen] = self._sum[seen] / self._count[seen, None]
        self._sum.zero_()
        self._count.zero_()

    def loss(
        self, logits: torch.Tensor, labels, *, hard_weight: float = 0.5
    ) -> torch.Tensor:
        """``w CE(e_t, p) + (1 - w) CE(S[t], p)``, batch mean; ``w = hard_weight`` in [0, 1].

        Args:
            logits: floating tensor ``(N, K)``; ``p = softmax(logits)``.
            labels: integer class labels ``(N,)`` in ``[0, K)``.
            hard_weight: the weight ``w`` in ``[0, 1]`` of the one-hot term;
                default 0.5, as in Zhang et al.

        Returns:
            The mean loss, a scalar tensor (differentiable in ``logits``).
        """
        w = _real(hard_weight, "hard_weight", "in [0, 1]")
        if not 0 <= w <= 1:
            raise ValueError(f"hard_weight must lie in [0, 1], got {w}")
        t = check_class_labels(labels, self.num_classes)
        logp = torch.log_softmax(logits, dim=1)
        soft = self.matrix[t].to(logp.dtype)
        hard = -logp.gather(1, t[:, None]).squeeze(1)
        return (w * hard - (1 - w) * (soft * logp).sum(dim=1)).mean()


# ------------------------------------------------------------------ data: confusable twins


@dataclass(frozen=True)
class TwinMixture:
    """A Gaussian mixture whose ``K = 2P`` classes come in ``P`` confusable pairs.

    Class ``k`` has mean ``means[k]`` and covariance ``sigma^2 I``; classes
    ``2g`` and ``2g + 1`` are twins (group ``g``). ``split`` holds the
    standardised data; :meth:`posterior` the exact Bayes posterior of the raw
    features (equal class frequencies).

    Attributes:
        split: the standardised train / validation / test data (a
            :class:`~lsmath.data.Split`, labels in ``[0, K)``).
        means: the class means ``mu_k`` of the raw features, float64
            ``(K, dim)``.
        sigma: the noise standard deviation (1.0).
        raw_test: the test features before standardisation, float64
            ``(N_test, dim)``, for :meth:`posterior`.
    """

    split: Split
    means: np.ndarray
    sigma: float
    raw_test: np.ndarray

    @property
    def groups(self) -> np.ndarray:
        """The group id of each class, ``[0, 0, 1, 1, ...]`` (twins share one)."""
        return np.arange(self.means.shape[0]) // 2

    def posterior(self, x_raw: np.ndarray) -> np.ndarray:
        """``P(y = k | x) = softmax_k(-||x - mu_k||^2 / (2 sigma^2))``, shape ``(N, K)``.

        Args:
            x_raw: raw (not standardised) features ``(N, dim)``, e.g.
                ``raw_test``.

        Returns:
            The Bayes posterior, float64 ``(N, K)``, rows summing to 1.
        """
        x = np.asarray(x_raw, dtype=float)
        d2 = ((x[:, None, :] - self.means[None, :, :]) ** 2).sum(axis=2)
        s = -d2 / (2 * self.sigma**2)
        s -= s.max(axis=1, keepdims=True)
        e = np.exp(s)
        return e / e.sum(axis=1, keepdims=True)


def make_twin_mixture(
    n_train: int = 2000,
    n_val: int = 1000,
    n_test: int = 2000,
    *,
    num_pairs: int = 5,
    dim: int = 10,
    twin_distance: float = 2.0,
    pair_spread: float = 4.0,
    seed: int = 0,
) -> TwinMixture:
    """Gaussian classes in confusable pairs: the "husky and malamute" of a toy world.

    Pair centres ``c_g ~ N(0, pair_spread^2 I)`` in ``dim`` dimensions; the
    twins of pair ``g`` sit at ``c_g +- (twin_distance / 2) v_g`` with ``v_g`` a
    random unit vector; noise ``N(0, I)`` (``sigma = 1``). The Bayes error
    between two twins alone is ``Phi(-twin_distance / 2)`` (0.16 at the
    default). Balanced classes; features standardised on the training split.

    Args:
        n_train: the number of training examples, a positive integer;
            default 2000.
        n_val: the number of validation examples, a positive integer;
            default 1000.
        n_test: the number of test examples, a positive integer; default 2000.
        num_pairs: the number of twin pairs ``P`` (``K = 2P`` classes);
            default 5.
        dim: the feature dimension, a positive integer; default 10.
        twin_distance: the distance between the two means of a pair, > 0;
            default 2.
        pair_spread: the standard deviation of the pair centres, > 0;
            default 4.
        seed: seed of the draw; default 0.

    Returns:
        A :class:`TwinMixture`.

    Example:
        >>> mix = make_twin_mixture(200, 100, 100, seed=0)
        >>> mix.split.x_train.shape, mix.split.num_classes, mix.groups[:4].tolist()
        (torch.Size([200, 10]), 10, [0, 0, 1, 1])
    """
    for name, v in (
        ("n_train", n_train),
        ("n_val", n_val),
        ("n_test", n_test),
        ("num_pairs", num_pairs),
        ("dim", dim),
    ):
        check_positive_int(v, name)
    for name, length in (
        ("twin_distance", twin_distance),
        ("pair_spread", pair_spread),
    ):
        if _real(length, name, "> 0") <= 0:
            raise ValueError(f"{name} must be positive, got {length}")
    rng = np.random.default_rng(seed)
    centres = pair_spread * rng.normal(size=(num_pairs, dim))
    direction = rng.normal(size=(num_pairs, dim))
    direction /= np.linalg.norm(direction, axis=1, keepdims=True)
    means = np.empty((2 * num_pairs, dim))
    means[0::2] = centres - twin_distance / 2 * direction
    means[1::2] = centres + twin_distance / 2 * direction
    k = 2 * num_pairs
    n = n_train + n_val + n_test
    y = rng.permutation(np.arange(n) % k)
    x = means[y] + rng.normal(size=(n, dim))
    tr, va, te = np.split(np.arange(n), [n_train, n_train + n_val])
    xs = standardise(x[tr], x[va], x[te])
    as_x = lambda a: torch.tensor(a, dtype=torch.float32)  # noqa: E731
    as_y = lambda a: torch.tensor(a, dtype=torch.int64)  # noqa: E731
    split = Split(
        as_x(xs[0]), as_y(y[tr]), as_x(xs[1]), as_y(y[va]), as_x(xs[2]), as_y(y[te])
    )
    return TwinMixture(split, means, 1.0, x[te])
