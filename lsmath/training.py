"""Tiny deterministic training loops used by the chapters' experiments.

Small ReLU MLPs trained with Adam on CPU, seeded so that a rerun gives the
same numbers (what nbval needs).  Everything a chapter reports about training
comes from these functions, written once.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from numbers import Real

import torch
from torch import nn

from ._validation import check_positive_int
from .losses import ls_cross_entropy

__all__ = [
    "make_mlp",
    "train_classifier",
    "TrainHistory",
    "predict_logits",
    "accuracy",
    "weight_norm",
    "experiment_threads",
    "torch_threads",
]

#: Environment variable that sets the thread count of the chapters' experiments.
THREADS_ENV = "LSMATH_NUM_THREADS"


def experiment_threads() -> int:
    """Thread count for the chapters' small training runs (default 1).

    Matrices this small run fastest on one thread. The variable
    ``LSMATH_NUM_THREADS`` overrides it: the test suite runs every chapter
    with another thread count than the one that stored its outputs, because a
    different reduction order changes every trained model (a different
    *numeric path*), and a chapter's conclusions must survive that.

    Returns:
        The thread count, an integer >= 1.

    Raises:
        ValueError: ``LSMATH_NUM_THREADS`` is not a positive integer.

    Example:
        >>> experiment_threads() >= 1
        True
    """
    raw = os.environ.get(THREADS_ENV, "1")
    try:
        threads = int(raw)
    except ValueError:
        raise ValueError(
            f"{THREADS_ENV} must be a positive integer, got {raw!r}"
        ) from None
    if threads < 1:
        raise ValueError(f"{THREADS_ENV} must be a positive integer, got {raw!r}")
    return threads


@contextlib.contextmanager
def torch_threads(threads: int | None = None) -> Iterator[int]:
    """Run a block with ``torch.set_num_threads(threads)``, then restore.

    Args:
        threads: intra-op threads for the block (an integer >= 1), or ``None``
            for :func:`experiment_threads`.

    Yields:
        The thread count in force inside the block.

    Example:
        >>> with torch_threads(1) as n:
        ...     torch.get_num_threads() == n == 1
        True
    """
    if threads is None:
        threads = experiment_threads()
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ValueError(f"threads must be a positive integer, got {threads!r}")
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield threads
    finally:
        torch.set_num_threads(before)


def make_mlp(sizes: Sequence[int], *, seed: int = 0) -> nn.Sequential:
    """ReLU MLP with layer widths ``sizes`` (input, hidden..., classes), seeded init.

    Args:
        sizes: layer widths, at least two: input features, hidden widths,
            then the number of classes :math:`K`.
        seed: seed of the initial weights (the global RNG state is restored
            afterwards).

    Returns:
        ``nn.Sequential`` of ``nn.Linear`` layers with ``nn.ReLU`` between them.

    Example:
        >>> make_mlp([64, 32, 10])
        Sequential(
          (0): Linear(in_features=64, out_features=32, bias=True)
          (1): ReLU()
          (2): Linear(in_features=32, out_features=10, bias=True)
        )
    """
    if len(sizes) < 2:
        raise ValueError(
            f"sizes must list at least input and output widths, got {list(sizes)}"
        )
    gen_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    torch.random.set_rng_state(gen_state)
    return nn.Sequential(*layers)


@dataclass
class TrainHistory:
    r"""Per-epoch records of :func:`train_classifier`.

    Attributes:
        loss: mean training loss of each epoch (over the mini-batches, weighted
            by their size).
        max_prob: mean over the training set of :math:`\max_k p_k` after
            each epoch.
        weight_norm: Euclidean norm of all weights after each epoch
            (:func:`weight_norm`).
        extra: ``{name: [value per epoch]}`` from the dicts ``on_epoch`` returns.
    """

    loss: list[float] = field(default_factory=list)
    max_prob: list[float] = field(default_factory=list)
    weight_norm: list[float] = field(default_factory=list)
    extra: dict[str, list] = field(default_factory=dict)


def weight_norm(model: nn.Module) -> float:
    r"""Euclidean norm of all parameters named ``*weight`` (biases excluded).

    Args:
        model: any ``nn.Module``.

    Returns:
        :math:`\sqrt{\sum \|W\|_F^2}` over its weight tensors, a float.
    """
    sq = sum(
        float((p.detach() ** 2).sum())
        for n, p in model.named_parameters()
        if n.endswith("weight")
    )
    return sq**0.5


@torch.no_grad()
def predict_logits(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Logits of ``model`` on ``x`` in eval mode, without gradients.

    Args:
        model: a classifier; its train/eval mode is restored afterwards.
        x: inputs ``(N, F)``.

    Returns:
        Logits ``(N, K)``, detached.
    """
    was_training = model.training
    model.eval()
    out = model(x)
    model.train(was_training)
    return out


def accuracy(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """Fraction of rows whose arg-max equals the label.

    Args:
        logits: ``(N, K)`` scores (logits or probabilities).
        labels: ``(N,)`` class indices.

    Returns:
        The accuracy in :math:`[0, 1]`, a float.
    """
    return float((logits.argmax(dim=1) == labels).float().mean())


def train_classifier(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    alpha: float = 0.0,
    convention: str = "uniform",
    epochs: int = 50,
    batch_size: int = 128,
    lr: float = 1e-3,
    weight_decay: float = 0.0,
    seed: int = 0,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
    on_epoch: Callable[[int, nn.Module], dict] | None = None,
) -> TrainHistory:
    """Train ``model`` in place with Adam on (``x``, ``y``) and the LS loss.

    ``y`` may be class indices (smoothed with ``alpha`` in ``convention``) or
    probability targets (e.g. a teacher's soft labels; ``alpha`` is applied
    on top). ``loss_fn(logits, y_batch)`` replaces the LS loss when given.
    Mini-batches are shuffled by a generator seeded with ``seed``;
    ``on_epoch(epoch, model)`` may return a dict of extra metrics to record.

    Args:
        model: the network, trained in place.
        x: inputs ``(N, F)``.
        y: class indices ``(N,)`` or probability targets ``(N, K)``.
        alpha: smoothing in ``convention`` (in :math:`[0, 1]`).
        convention: ``"uniform"`` or ``"off_target"``.
        epochs: passes over the data (an integer >= 1).
        batch_size: mini-batch size (an integer >= 1).
        lr: Adam's learning rate.
        weight_decay: Adam's L2 weight decay.
        seed: seed of the mini-batch order.
        loss_fn: optional ``loss_fn(logits, y_batch)`` returning a scalar,
            used instead of the LS loss.
        on_epoch: optional ``on_epoch(epoch, model)`` called after every
            epoch; the dict it returns (if any) is recorded in ``extra``.

    Returns:
        A :class:`TrainHistory` with one entry per epoch.

    Raises:
        ValueError: ``x`` and ``y`` differ in rows, or ``epochs``/``batch_size``
            are not positive.
    """
    if x.shape[0] != y.shape[0]:
        raise ValueError(
            f"x and y must have the same number of rows, got {x.shape[0]} and {y.shape[0]}"
        )
    if epochs < 1 or batch_size < 1:
        raise ValueError("epochs and batch_size must be positive integers")
    if loss_fn is None:
        loss_fn = lambda z, t: ls_cross_entropy(z, t, alpha, convention=convention)  # noqa: E731
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    hist = TrainHistory()
    n = x.shape[0]
    model.train()
    for epoch in range(epochs):
        perm = torch.randperm(n, generator=gen)
        total = 0.0
        for start in range(0, n, batch_size):
            idx = perm[start : start + batch_size]
            opt.zero_grad()
            loss = loss_fn(model(x[idx]), y[idx])
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
        hist.loss.append(total / n)
        probs = torch.softmax(predict_logits(model, x), dim=1)
        hist.max_prob.append(float(probs.max(dim=1).values.mean()))
        hist.weight_norm.append(weight_norm(model))
        if on_epoch is not None:
            for key, value in (on_epoch(epoch, model) or {}).items():
                hist.extra.setdefault(key, []).append(value)
    return hist


def _train_stacked_members(
    net: nn.Module,
    x: torch.Tensor,
    targets: torch.Tensor,
    member_losses: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    *,
    epochs: int,
    batch_size: int | None,
    lr: float,
    seeds: Sequence[int],
    after_epoch: Callable[[int], None] | None = None,
) -> torch.Tensor:
    r"""The batched Adam loop of ``M`` stacked networks (one home for it).

    ``net`` maps inputs ``(M, B, F)`` to logits ``(M, B, K)``; member
    :math:`m` sees the rows ``x[idx[m]]`` and its own targets
    ``targets[m, idx[m]]``, where ``idx[m]`` walks through
    ``torch.randperm(N)`` drawn every epoch from a generator seeded with
    ``seeds[m]`` (``batch_size=None``: all rows in order, one step an
    epoch). Each step minimises :math:`\sum_m L_m` with
    ``(L_1, ..., L_M) = member_losses(logits, batch_targets)``: a member's
    parameters get the gradient of its own term only, and Adam acts
    elementwise, so each member follows the trajectory it would follow alone.
    :func:`lsmath.dynamics.train_ensemble` and
    :func:`lsmath.applications.train_mlps_batched` are thin wrappers of it.

    Args:
        net: the stacked networks, trained in place (deterministic: no dropout).
        x: inputs ``(N, F)`` shared by the members.
        targets: per-member targets ``(M, N, ...)`` (class indices or
            probabilities; an expanded view is fine).
        member_losses: ``(logits (M, B, K), targets (M, B, ...)) -> (M,)``.
        epochs: passes over the data (an integer >= 1).
        batch_size: mini-batch size (an integer >= 1; batches are reshuffled
            every epoch even when it is >= N) or ``None`` for full batches.
        lr: Adam's learning rate (> 0).
        seeds: ``M`` seeds of the batch orders.
        after_epoch: called as ``after_epoch(epoch)`` after every epoch.

    Returns:
        ``(epochs, M)``: the mean training loss of each member in each epoch.

    Raises:
        ValueError: for a bad ``epochs``, ``batch_size``, ``lr`` or ``seeds``,
            or logits of the wrong shape.
    """
    m, n = targets.shape[0], x.shape[0]
    check_positive_int(epochs, "epochs", allowed="an integer >= 1")
    if batch_size is not None:
        check_positive_int(batch_size, "batch_size", allowed="None or an integer >= 1")
    if isinstance(lr, bool) or not isinstance(lr, Real) or not lr > 0:
        raise ValueError(f"lr must be a number > 0, got {lr!r}")
    if len(seeds) != m:
        raise ValueError(
            f"seeds must have one entry per member ({m}), got {len(seeds)}"
        )
    gens = [torch.Generator().manual_seed(int(s)) for s in seeds]
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    rows = torch.arange(m)[:, None]

    def step(xb: torch.Tensor, tb: torch.Tensor) -> torch.Tensor:
        logits = net(xb)
        if logits.dim() != 3 or logits.shape[0] != m:
            raise ValueError(f"net must return logits of shape ({m}, B, K)")
        losses = member_losses(logits, tb)
        opt.zero_grad()
        losses.sum().backward()
        opt.step()
        return losses.detach()

    history = []
    net.train()
    for epoch in range(epochs):
        if batch_size is None:
            losses = step(x.expand(m, -1, -1), targets)
        else:
            perms = torch.stack([torch.randperm(n, generator=g) for g in gens])
            total = torch.zeros(m)
            for start in range(0, n, batch_size):
                idx = perms[:, start : start + batch_size]  # (M, B)
                total += step(x[idx], targets[rows, idx]) * idx.shape[1]
            losses = total / n
        history.append(losses)
        if after_epoch is not None:
            after_epoch(epoch)
    return torch.stack(history)
