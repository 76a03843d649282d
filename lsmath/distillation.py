"""Temperature-scaled knowledge distillation (Hinton, Vinyals & Dean 2015).

A student with logits ``s`` learns from a teacher with logits ``t`` by matching
the teacher's softened distribution ``q_t = softmax(t / T)`` with its own
``q_s = softmax(s / T)``.  The per-sample loss is

    KD_T(s, t) = T^2 * KL(q_t || q_s) = T^2 * sum_k q_t,k (log q_t,k - log q_s,k),

whose gradient in the student logits is ``T * (q_s - q_t)``: the factor
``T^2`` undoes the ``1 / T^2`` shrinkage of the soft-target gradient at high
temperature, so that changing ``T`` does not change the scale of the
learning signal (chapter 6 derives this).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from numbers import Real
from typing import NamedTuple

import numpy as np
import torch

from ._reduction import reduce_rows
from ._validation import (
    as_logit_matrix,
    check_class_labels,
    check_ignore_index,
    check_num_classes,
    check_reduction,
    check_temperature,
    compute_dtype,
)
from .losses import ls_cross_entropy

__all__ = [
    "distillation_loss",
    "distillation_gradient",
    "StackedMLP",
    "train_stacked",
    "WrongClassProfiles",
    "ClassResiduals",
    "ErasureStatistics",
    "wrong_class_profiles",
    "class_residuals",
    "erasure_statistics",
    "residual_correlation",
    "logit_scale",
]

#: Largest temperature the distillation functions accept (see check_temperature).
MAX_TEMPERATURE = 1e4


def _check_pair(
    student_logits: torch.Tensor, teacher_logits: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    as_logit_matrix(student_logits, "student_logits", tensor_only=True)
    as_logit_matrix(teacher_logits, "teacher_logits", tensor_only=True)
    if student_logits.shape != teacher_logits.shape:
        raise ValueError(
            "student_logits and teacher_logits must have the same shape, got "
            f"{tuple(student_logits.shape)} and {tuple(teacher_logits.shape)}"
        )
    return student_logits, teacher_logits


def distillation_loss(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor,
    temperature: float,
    *,
    target: torch.Tensor | None = None,
    hard_weight: float = 0.0,
    reduction: str = "mean",
    ignore_index: int = -100,
) -> torch.Tensor:
    """Knowledge-distillation loss ``T^2 * KL(softmax(t/T) || softmax(s/T))``.

    Formula, for student logits ``s``, teacher logits ``t`` and temperature ``T``::

        KD_n = T^2 * sum_k q_t[n, k] * (log q_t[n, k] - log q_s[n, k]),
        q_t = softmax(t / T),  q_s = softmax(s / T)   (over the class axis),

    averaged over the batch for ``reduction="mean"`` (PyTorch's ``"batchmean"``
    of ``kl_div``).  With a hard target the loss is the mixture

        (1 - hard_weight) * KD + hard_weight * CE(target, softmax(s)),

    where the cross-entropy is taken at temperature 1, as in Hinton et al.
    The gradient of ``KD_n`` in ``s[n]`` is ``T * (q_s[n] - q_t[n])``
    (see :func:`distillation_gradient`).  Gradients also flow into
    ``teacher_logits`` if they require grad: pass ``teacher_logits.detach()``
    to train the student only.

    Args:
        student_logits: the student's logits ``s``, a floating tensor
            ``(N, K)`` (or ``(K,)`` for one sample), finite, ``K >= 2``.
        teacher_logits: the teacher's logits ``t``, a floating tensor of the
            same shape, finite.
        temperature: ``T``, a finite real number ``> 0`` (at most 1e4).
        target: optional hard labels: ``(N,)`` integer class indices in
            ``[0, K)`` (or ``()`` for an unbatched sample), or probabilities
            shaped like the logits; requires ``hard_weight > 0``.
        hard_weight: weight of the hard-label term, in ``[0, 1]``; needs
            ``target`` when ``> 0``. ``hard_weight=1`` gives plain cross-entropy.
        reduction: ``"mean"`` (over the batch), ``"sum"`` or ``"none"``.
        ignore_index: class-index targets equal to it (default -100, as in
            PyTorch) contribute no hard-label term: 0 in ``"none"``/``"sum"``,
            and ``"mean"`` averages the hard term over the other rows only (as
            ``F.cross_entropy`` does) while the distillation term is averaged
            over all rows.

    Returns:
        A scalar for ``"mean"``/``"sum"``, ``(N,)`` (or ``()`` unbatched) for
        ``"none"``, in the student logits' dtype.

    Raises:
        TypeError: non-tensor or non-float logits, non-real temperature or weight.
        ValueError: ``T <= 0`` or non-finite, shape mismatch, non-finite
            logits, ``hard_weight`` outside ``[0, 1]``, ``target`` without
            ``hard_weight > 0`` or the reverse, bad targets.

    References:
        Hinton, Vinyals & Dean, "Distilling the Knowledge in a Neural
        Network", arXiv:1503.02531, 2015.

    Example:
        >>> s = torch.tensor([[1.0, 0.0, -1.0]])
        >>> t = torch.tensor([[2.0, 0.5, -1.0]])
        >>> round(distillation_loss(s, t, 2.0).item(), 4)
        0.0674
        >>> round(distillation_loss(s, s, 4.0).item(), 4)  # identical logits
        0.0
        >>> y = torch.tensor([0])
        >>> round(distillation_loss(s, t, 2.0, target=y, hard_weight=0.5).item(), 4)
        0.2375
    """
    student_logits, teacher_logits = _check_pair(student_logits, teacher_logits)
    T = check_temperature(temperature, maximum=MAX_TEMPERATURE)
    check_reduction(reduction)
    check_ignore_index(ignore_index)
    w = _check_hard_weight(hard_weight, target)
    unbatched = student_logits.dim() == 1
    out_dtype = student_logits.dtype
    work_dtype = compute_dtype(out_dtype)
    s = student_logits.to(work_dtype)
    t = teacher_logits.to(work_dtype)
    if unbatched:
        s, t = s.unsqueeze(0), t.unsqueeze(0)
    kd = _kd_per_sample(s, t, T)
    if w == 0:
        kd = kd.squeeze(0) if unbatched and reduction == "none" else kd
        return reduce_rows(kd, reduction).to(out_dtype)
    ce = _hard_term(s, target, unbatched, work_dtype, ignore_index)
    if reduction == "none":
        loss = (1.0 - w) * kd + w * ce
        loss = loss.squeeze(0) if unbatched else loss
    elif reduction == "sum":
        loss = (1.0 - w) * kd.sum() + w * ce.sum()
    else:  # the CE mean runs over non-ignored rows, as in F.cross_entropy
        assert target is not None  # checked with hard_weight
        loss = (1.0 - w) * kd.mean() + w * _mean_over_kept(ce, target, ignore_index)
    return loss.to(out_dtype)


def _check_hard_weight(hard_weight: object, target) -> float:
    """``hard_weight`` in [0, 1], > 0 exactly when a ``target`` is given."""
    if isinstance(hard_weight, bool) or not isinstance(
        hard_weight, (Real, np.floating, np.integer)
    ):
        raise TypeError(
            f"hard_weight must be a real number in [0, 1], got {type(hard_weight).__name__}"
        )
    w = float(hard_weight)
    if math.isnan(w) or not 0.0 <= w <= 1.0:
        raise ValueError(f"hard_weight must be a real number in [0, 1], got {w}")
    if target is None and w > 0:
        raise ValueError(
            f"hard_weight={w} > 0 needs a target (hard labels); got target=None"
        )
    if target is not None and w == 0:
        raise ValueError(
            "a target was given but hard_weight=0 ignores it: pass hard_weight in (0, 1]"
        )
    return w


def _kd_per_sample(s: torch.Tensor, t: torch.Tensor, T: float) -> torch.Tensor:
    """``T^2 KL(softmax(t / T) || softmax(s / T))`` for every row of ``(N, K)`` logits."""
    log_qs = torch.log_softmax(s / T, dim=1)
    log_qt = torch.log_softmax(t / T, dim=1)
    # Finite logits give finite log-probabilities; exp may underflow to 0,
    # which correctly drops that class's term.
    return (T * T) * (log_qt.exp() * (log_qt - log_qs)).sum(dim=1)


def _hard_term(s, target, unbatched, work_dtype, ignore_index):
    """Per-row cross-entropy at temperature 1 against ``target`` (0 on ignored rows)."""
    if not isinstance(target, torch.Tensor):
        raise TypeError(f"target must be a torch.Tensor, got {type(target).__name__}")
    tgt = target.unsqueeze(0) if unbatched else target
    if tgt.dtype.is_floating_point:
        tgt = tgt.to(work_dtype)
    elif tgt.dim() != 1 or tgt.shape[0] != s.shape[0]:
        raise ValueError(
            f"target must have shape (N,) = ({s.shape[0]},) to match the logits, "
            f"got {tuple(target.shape)}"
        )
    return ls_cross_entropy(s, tgt, 0.0, ignore_index=ignore_index, reduction="none")


def _mean_over_kept(
    ce: torch.Tensor, target: torch.Tensor, ignore_index: int
) -> torch.Tensor:
    """Mean of the per-row CE over rows whose class-index target is not ``ignore_index``."""
    if target.dtype.is_floating_point:
        return ce.mean()
    kept = (target.reshape(-1) != ignore_index).sum()
    return ce.sum() / kept


def distillation_gradient(student_logits, teacher_logits, temperature: float):
    """Closed-form gradient of the per-sample KD loss in the student logits.

    ``d KD_T / d s = T * (softmax(s / T) - softmax(t / T))``, i.e. the
    soft-target gradient ``(q_s - q_t) / T`` times the factor ``T^2``
    (Hinton et al. 2015).  Divide by ``N`` for the batch mean.

    Args:
        student_logits: the student's logits ``s``, ``(N, K)`` or ``(K,)``, a
            floating torch tensor or NumPy array, finite.
        teacher_logits: the teacher's logits ``t``, of the same shape (tensor
            or array).
        temperature: finite ``T > 0`` (at most 1e4).

    Returns:
        The gradient, same shape and type (tensor or array) as ``student_logits``.

    Example:
        >>> distillation_gradient(torch.zeros(1, 2), torch.tensor([[1.0, -1.0]]), 1.0)
        tensor([[-0.3808,  0.3808]])
    """
    as_numpy = isinstance(student_logits, np.ndarray)
    s = torch.as_tensor(student_logits)
    t = torch.as_tensor(teacher_logits)
    s, t = _check_pair(s, t.to(s.dtype) if t.dtype.is_floating_point else t)
    T = check_temperature(temperature, maximum=MAX_TEMPERATURE)
    grad = T * (torch.softmax(s / T, dim=-1) - torch.softmax(t / T, dim=-1))
    return grad.numpy() if as_numpy else grad


# ---------------------------------------------------------------------------
# Experiment helper: many small MLPs trained at once.
# ---------------------------------------------------------------------------


class StackedMLP(torch.nn.Module):
    """``M`` independent ReLU MLPs of the same widths, evaluated together.

    Member ``m`` holds weights ``W[l][m]`` of shape ``(in, out)`` and biases
    ``b[l][m]`` of shape ``(1, out)``; a forward pass is one batched matrix
    product per layer (``torch.baddbmm``), so training a teacher-student grid
    of many tiny networks costs about as much as one larger network. Each
    member is initialised like ``torch.nn.Linear`` (uniform in
    ``+-1/sqrt(fan_in)``) from its own seed, so a member does not depend on
    which other members share the stack.

    Args:
        sizes: layer widths ``(input, hidden..., classes)``.
        seeds: one integer seed per member (``M = len(seeds)``).

    Shapes:
        input ``(B, d)`` (the same rows for every member) or ``(M, B, d)``;
        output ``(M, B, classes)``.
        Parameters: ``weights[l]`` ``(M, in, out)``, ``biases[l]``
        ``(M, 1, out)``.

    Example:
        >>> net = StackedMLP([4, 8, 3], seeds=[0, 1])
        >>> net(torch.zeros(5, 4)).shape
        torch.Size([2, 5, 3])
    """

    def __init__(self, sizes, seeds):
        super().__init__()
        sizes = [int(v) for v in sizes]
        seeds = [int(s) for s in seeds]
        if len(sizes) < 2 or min(sizes) < 1:
            raise ValueError(
                f"sizes must list at least two positive widths, got {sizes}"
            )
        if not seeds:
            raise ValueError("seeds must hold at least one seed (one per member)")
        self.sizes = sizes
        self.weights = torch.nn.ParameterList()
        self.biases = torch.nn.ParameterList()
        for layer, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            w = torch.empty(len(seeds), fan_in, fan_out)
            b = torch.empty(len(seeds), 1, fan_out)
            bound = 1.0 / math.sqrt(fan_in)
            for m, seed in enumerate(seeds):
                gen = torch.Generator().manual_seed(seed * 1009 + layer)
                w[m].uniform_(-bound, bound, generator=gen)
                b[m].uniform_(-bound, bound, generator=gen)
            self.weights.append(torch.nn.Parameter(w))
            self.biases.append(torch.nn.Parameter(b))

    @property
    def num_members(self) -> int:
        """The number of members ``M``."""
        return self.weights[0].shape[0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(M, B, classes)`` of every member.

        Args:
            x: float32 inputs ``(B, sizes[0])``, shared by every member, or
                ``(M, B, sizes[0])``, one batch per member.

        Returns:
            The logits ``(M, B, sizes[-1])``.
        """
        return self._run(x, len(self.weights))

    def hidden(self, x: torch.Tensor) -> torch.Tensor:
        """Last hidden layer (after ReLU), ``(M, B, sizes[-2])``: the penultimate features.

        Args:
            x: float32 inputs ``(B, sizes[0])`` or ``(M, B, sizes[0])``, as for
                ``forward``.

        Returns:
            The features ``(M, B, sizes[-2])``.

        Raises:
            ValueError: the network has no hidden layer.
        """
        if len(self.weights) < 2:
            raise ValueError(
                "a network without hidden layers has no penultimate features"
            )
        return self._run(x, len(self.weights) - 1)

    def _run(self, x: torch.Tensor, n_layers: int) -> torch.Tensor:
        if x.dim() == 2:
            x = x.unsqueeze(0).expand(self.num_members, -1, -1)
        if (
            x.dim() != 3
            or x.shape[0] != self.num_members
            or x.shape[2] != self.sizes[0]
        ):
            raise ValueError(
                f"input must have shape (B, {self.sizes[0]}) "
                f"or ({self.num_members}, B, {self.sizes[0]}), "
                f"got {tuple(x.shape)}"
            )
        last = len(self.weights) - 1
        for layer in range(n_layers):
            x = torch.baddbmm(self.biases[layer], x, self.weights[layer])
            if layer < last:
                x = torch.relu(x)
        return x

    def member(self, m: int) -> torch.nn.Sequential:
        """Member ``m`` as an ordinary ``nn.Sequential`` of ``Linear``/``ReLU`` (a copy).

        Args:
            m: the member's index in ``[0, M)`` (negative counts from the end).

        Returns:
            A new ``nn.Sequential`` with the same function as member ``m``;
            training it does not change the stack.
        """
        layers: list[torch.nn.Module] = []
        for layer, (w, b) in enumerate(zip(self.weights, self.biases)):
            lin = torch.nn.Linear(w.shape[1], w.shape[2])
            with torch.no_grad():
                lin.weight.copy_(w[m].T)
                lin.bias.copy_(b[m, 0])
            layers.append(lin)
            if layer < len(self.weights) - 1:
                layers.append(torch.nn.ReLU())
        return torch.nn.Sequential(*layers)


def train_stacked(
    model: StackedMLP,
    x: torch.Tensor,
    loss_fn,
    *,
    epochs: int,
    batch_size: int,
    seeds,
    lr: float = 1e-3,
) -> list[float]:
    """Train every member of ``model`` with Adam on its own shuffle of the rows of ``x``.

    ``loss_fn(logits, idx)`` receives the stacked logits ``(M, B, K)`` and the
    row indices ``idx`` ``(M, B)`` each member saw, and returns the ``M``
    per-member losses; their sum is minimised. Members share no parameters and
    Adam acts elementwise, so this is the same as training each member alone
    with the same shuffles (up to floating-point rounding).

    Args:
        model: the :class:`StackedMLP` to train (in place).
        x: the training inputs ``(n, d)``, shared by every member.
        loss_fn: ``loss_fn(logits, idx) -> (M,)`` per-member losses, from
            the logits ``(M, B, K)`` and the row indices ``idx`` ``(M, B)``
            (index the targets with ``idx``).
        epochs: the number of passes over the rows, a positive integer.
        batch_size: rows per step ``B``, a positive integer (the last batch
            of an epoch may be smaller).
        seeds: one integer seed per member for its shuffles (length ``M``).
        lr: Adam's learning rate; default 1e-3.

    Returns:
        the mean over members of each epoch's average loss (a list of
        ``epochs`` floats).
    """
    seeds = [int(s) for s in seeds]
    if len(seeds) != model.num_members:
        raise ValueError(
            f"need one seed per member ({model.num_members}), got {len(seeds)}"
        )
    if epochs < 1 or batch_size < 1:
        raise ValueError("epochs and batch_size must be positive integers")
    n = x.shape[0]
    gens = [torch.Generator().manual_seed(s) for s in seeds]
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    history = []
    for _ in range(epochs):
        perms = torch.stack([torch.randperm(n, generator=g) for g in gens])
        total = 0.0
        for start in range(0, n, batch_size):
            idx = perms[:, start : start + batch_size]
            opt.zero_grad(set_to_none=True)
            losses = loss_fn(model(x[idx]), idx)
            losses.sum().backward()
            opt.step()
            total += float(losses.detach().mean()) * idx.shape[1]
        history.append(total / n)
    return history


# ---------------------------------------------------------------------------
# What a teacher's outputs say about the wrong classes (chapter 6, "erasure").
# ---------------------------------------------------------------------------


class WrongClassProfiles(NamedTuple):
    """Centred wrong-class logits ``profiles`` ``(N, K-1)``; gaps ``(N,)``.

    Attributes:
        profiles: ``(N, K-1)``, the wrong-class logits minus their mean, in
            increasing class order (each row sums to 0).
        gaps: ``(N,)``, the true logit minus the mean wrong-class logit.
    """

    profiles: torch.Tensor
    gaps: torch.Tensor


class ClassResiduals(NamedTuple):
    """Input-level ``residuals`` ``(N, K-1)``; ``class_means`` ``(C, K-1)``.

    Attributes:
        residuals: ``(N, J)``, each profile minus its class's mean profile.
        class_means: ``(C, J)``, the mean profile of each class.
    """

    residuals: torch.Tensor
    class_means: torch.Tensor


@dataclass(frozen=True)
class ErasureStatistics:
    """Chapter 6's four numbers for one teacher (see :func:`erasure_statistics`).

    Attributes:
        nontarget_variance: the within-class variance of the non-target
            probabilities at temperature ``T``, summed over the wrong classes
            and averaged over the classes.
        class_level: ``B``, the mean squared norm of the class-mean profiles
            over the squared mean gap (scale-free).
        input_level: ``W``, the mean squared norm of the residuals over the
            squared mean gap (scale-free).
        residuals: the input-level residuals ``(N, K-1)``.
    """

    nontarget_variance: float
    class_level: float
    input_level: float
    residuals: torch.Tensor


def wrong_class_profiles(
    logits: torch.Tensor, labels: torch.Tensor
) -> WrongClassProfiles:
    """Wrong-class profile and gap of each example (chapter 6, eq. ``ch6-profile``).

    For logits ``z`` (a teacher's) and label ``t``, with ``m = mean_{j != t} z_j``::

        d_k = z_k - m   (k != t, in increasing order of k),    g = z_t - m.

    ``softmax(z / T)`` restricted to the wrong classes is ``softmax(d / T)``
    times ``1 - q_t``, so ``(d, g)`` is all the softened teacher says about the
    wrong classes (Mueller, Kornblith & Hinton 2019 study this information).

    Args:
        logits: floating tensor ``(N, K)``, ``K >= 2`` (a teacher's logits).
        labels: integer tensor ``(N,)`` of true classes in ``[0, K)``.

    Returns:
        A :class:`WrongClassProfiles`: profiles ``(N, K-1)`` (each row sums
        to 0) and gaps ``(N,)``.

    Example:
        >>> z, t = torch.tensor([[3.0, 1.0, -1.0]]), torch.tensor([0])
        >>> out = wrong_class_profiles(z, t)
        >>> out.profiles, out.gaps
        (tensor([[ 1., -1.]]), tensor([3.]))
    """
    z, _ = as_logit_matrix(logits, "logits", tensor_only=True)
    if z.dim() != 2:
        raise ValueError(f"logits must have shape (N, K), got {tuple(z.shape)}")
    n, k = z.shape
    y = check_class_labels(labels, k, length=n, tensor_only=True)
    wrong = torch.ones(n, k, dtype=torch.bool)
    wrong[torch.arange(n), y] = False
    w = z[wrong].view(n, k - 1)
    centre = w.mean(1)
    return WrongClassProfiles(w - centre[:, None], z[torch.arange(n), y] - centre)


def class_residuals(
    profiles: torch.Tensor, labels: torch.Tensor, num_classes: int
) -> ClassResiduals:
    """Split profiles into class means and input-level residuals.

    ``bar d_c = mean_{x: y(x) = c} d(x)`` (class-level knowledge: which wrong
    classes class ``c`` resembles) and ``r(x) = d(x) - bar d_{y(x)}``.

    Args:
        profiles: floating tensor ``(N, J)`` (e.g. the profiles of
            :func:`wrong_class_profiles`, ``J = K - 1``).
        labels: integer tensor ``(N,)`` in ``[0, C)``, every class present.
        num_classes: the number of classes ``C >= 1``.

    Returns:
        A :class:`ClassResiduals`: residuals ``(N, J)`` and class_means
        ``(C, J)``.

    Example:
        >>> d = torch.tensor([[1.0, -1.0], [3.0, -3.0], [0.0, 0.0]])
        >>> class_residuals(d, torch.tensor([0, 0, 1]), 2).residuals
        tensor([[-1.,  1.],
                [ 1., -1.],
                [ 0.,  0.]])
    """
    if not isinstance(profiles, torch.Tensor) or profiles.dim() != 2:
        raise ValueError("profiles must be a torch.Tensor of shape (N, J)")
    c = check_num_classes(num_classes, minimum=1)
    y = check_class_labels(labels, c, length=profiles.shape[0], tensor_only=True)
    counts = torch.bincount(y, minlength=c)
    if bool((counts == 0).any()):
        missing = torch.nonzero(counts == 0).flatten().tolist()
        raise ValueError(
            f"labels must contain every class in [0, {c}); missing {missing}"
        )
    sums = torch.zeros(c, profiles.shape[1], dtype=profiles.dtype).index_add_(
        0, y, profiles
    )
    means = sums / counts[:, None].to(profiles.dtype)
    return ClassResiduals(profiles - means[y], means)


def erasure_statistics(
    logits: torch.Tensor, labels: torch.Tensor, *, temperature: float = 4.0
) -> ErasureStatistics:
    """How much a teacher's outputs vary over the wrong classes, in three numbers.

    With profiles ``d``, gaps ``g`` (:func:`wrong_class_profiles`), class means
    ``bar d_c`` and residuals ``r`` (:func:`class_residuals`), ``bar g`` the
    mean gap and ``q = softmax(z / T)``:

    * ``nontarget_variance``: ``mean_c sum_{k != c} Var_{x in c} q_k(x)``, the
      within-class variance of the non-target probabilities at temperature T;
    * ``class_level`` ``B = mean_c ||bar d_c||^2 / bar g^2``;
    * ``input_level`` ``W = mean_c mean_{x in c} ||r(x)||^2 / bar g^2``.

    ``B`` and ``W`` are unchanged when the logits are multiplied by a constant;
    the variance is not. Classes are ``0 .. K-1``; every class must occur at
    least twice (sample variance, ``ddof = 1``).

    Args:
        logits: floating tensor ``(N, K)``, a teacher's logits, ``K >= 2``.
        labels: integer tensor ``(N,)`` in ``[0, K)``, every class at least
            twice.
        temperature: ``T > 0`` (at most 1e4) of the non-target variance;
            default 4. ``B`` and ``W`` do not depend on it.

    Returns:
        An :class:`ErasureStatistics` (``residuals`` is ``(N, K-1)``).

    Example:
        >>> z = torch.tensor([[2.0, 1.0, 0.0], [2.0, 0.0, 1.0],
        ...                   [0.0, 2.0, 1.0], [1.0, 2.0, 0.0],
        ...                   [0.0, 1.0, 2.0], [1.0, 0.0, 2.0]])
        >>> s = erasure_statistics(z, torch.tensor([0, 0, 1, 1, 2, 2]), temperature=1.0)
        >>> round(s.class_level, 4), round(s.input_level, 4)
        (0.0, 0.2222)
    """
    T = check_temperature(temperature, maximum=MAX_TEMPERATURE)
    prof = wrong_class_profiles(logits, labels)
    k = logits.shape[1]
    split = class_residuals(prof.profiles, labels, k)
    counts = torch.bincount(labels, minlength=k)
    if bool((counts < 2).any()):
        raise ValueError(
            "labels must contain every class at least twice (a variance per class)"
        )
    probs = torch.softmax(logits / T, dim=1)
    wrong = torch.ones_like(probs, dtype=torch.bool)
    wrong[torch.arange(len(labels)), labels] = False
    nontarget = probs[wrong].view(len(labels), k - 1)
    variance = torch.stack(
        [nontarget[labels == c].var(0).sum() for c in range(k)]
    ).mean()
    g2 = prof.gaps.mean() ** 2
    class_level = split.class_means.pow(2).sum(1).mean() / g2
    sq = split.residuals.pow(2).sum(1)
    input_level = torch.stack([sq[labels == c].mean() for c in range(k)]).mean() / g2
    return ErasureStatistics(
        float(variance), float(class_level), float(input_level), split.residuals
    )


def residual_correlation(a: torch.Tensor, b: torch.Tensor) -> float:
    """Uncentred correlation ``<a, b> / (|a| |b|)`` of two teachers' residuals.

    Residuals of each class already have mean zero, so this is the Pearson
    correlation of the pooled coordinates up to that centring. Used as the
    *reproducibility* of input-level structure across seeds (chapter 6).

    Args:
        a: the first teacher's residuals (any shape, nonzero), a tensor.
        b: the second teacher's, of the same shape and the same examples.

    Returns:
        The correlation, a float in ``[-1, 1]``.

    Example:
        >>> a = torch.tensor([[1.0, -1.0], [0.5, -0.5]])
        >>> round(residual_correlation(a, 2 * a), 6)
        1.0
    """
    if not isinstance(a, torch.Tensor) or not isinstance(b, torch.Tensor):
        raise TypeError("a and b must be torch tensors")
    if a.shape != b.shape:
        raise ValueError(
            "a and b must have the same shape, "
            f"got {tuple(a.shape)} and {tuple(b.shape)}"
        )
    na, nb = a.norm(), b.norm()
    if float(na) == 0 or float(nb) == 0:
        raise ValueError("a and b must be nonzero")
    return float((a * b).sum() / (na * nb))


def logit_scale(logits: torch.Tensor) -> float:
    """Root-mean-square of the centred logits, ``sqrt(mean_nk (z_nk - zbar_n)^2)``.

    Multiplying the logits by ``c > 0`` multiplies it by ``c``; adding a
    constant per row leaves it unchanged. Chapter 6 matches the temperatures of
    two teachers by the ratio of their scales.

    Args:
        logits: floating tensor ``(N, K)`` or ``(K,)``.

    Returns:
        The scale, a float ``>= 0``.

    Example:
        >>> logit_scale(torch.tensor([[1.0, -1.0], [3.0, 1.0]]))
        1.0
    """
    z, _ = as_logit_matrix(logits, "logits", tensor_only=True)
    centred = z - z.mean(-1, keepdim=True)
    return float(centred.pow(2).mean().sqrt())
