"""Robustness and the costs of label smoothing: attacks, shifts, saturation,
selective classification and transfer (chapter 9).

* Input gradients and attacks: :func:`input_gradient` (``J^T (p - y_LS)`` per
  sample), :func:`margin_loss`, :func:`fgsm` and :func:`pgd` (L-infinity ball).
* Distribution shift made in code: :func:`corrupt_inputs`.
* Saturation of a ReLU network: :func:`inactive_unit_fraction`,
  :func:`layer_gradient_norms`.
* Selective classification: :func:`risk_coverage_curve`, :func:`aurc`,
  :func:`confidence_auroc`.
* Representations: :func:`class_separation` (Kornblith et al. 2021),
  :func:`linear_probe_accuracy`.

Models are ``torch.nn.Module`` classifiers mapping ``(N, d)`` inputs to
``(N, K)`` logits; confidences and correctness flags may be torch tensors or
NumPy arrays. Bad input raises ``ValueError`` / ``TypeError`` naming the
argument.

Example:
    >>> import numpy as np
    >>> conf = np.array([0.9, 0.8, 0.7, 0.6])
    >>> correct = np.array([True, True, False, True])
    >>> round(confidence_auroc(conf, correct), 4)   # 2 of 3 correct rank above the error
    0.6667
"""

from __future__ import annotations

from dataclasses import dataclass
from numbers import Integral, Real

import numpy as np
import torch
from torch import nn

from ._validation import to_numpy
from .losses import ls_cross_entropy
from .minimize import lbfgs_minimize

__all__ = [
    "input_gradient",
    "margin_loss",
    "fgsm",
    "pgd",
    "corrupt_inputs",
    "LayerActivity",
    "inactive_unit_fraction",
    "layer_gradient_norms",
    "RiskCoverage",
    "risk_coverage_curve",
    "aurc",
    "confidence_auroc",
    "class_separation",
    "linear_probe_accuracy",
]

ATTACK_LOSSES = ("ce", "margin")


# --------------------------------------------------------------------------- checks


def _check_model(model: object) -> nn.Module:
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    return model


def _check_inputs(x: object, name: str = "x") -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if x.ndim != 2:
        raise ValueError(f"{name} must have shape (N, d), got {tuple(x.shape)}")
    if not x.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got {x.dtype}")
    return x


def _check_labels(y: object, n: int, name: str = "y") -> torch.Tensor:
    if not isinstance(y, torch.Tensor):
        raise TypeError(
            f"{name} must be a torch.Tensor of class indices, got {type(y).__name__}"
        )
    if y.ndim != 1 or y.shape[0] != n:
        raise ValueError(f"{name} must have shape ({n},), got {tuple(y.shape)}")
    if y.dtype != torch.int64:
        raise TypeError(f"{name} must hold int64 class indices, got {y.dtype}")
    return y


def _check_nonneg(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(
            f"{name} must be a real number >= 0, got {type(value).__name__}"
        )
    value = float(value)
    if not np.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return value


def _check_count(value: object, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise TypeError(
            f"{name} must be an integer >= {minimum}, got {type(value).__name__}"
        )
    if value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value}")
    return int(value)


def _as_1d_float(values: object, name: str) -> np.ndarray:
    arr = to_numpy(values, name)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(
            f"{name} must be a non-empty one-dimensional array, got shape {arr.shape}"
        )
    if arr.dtype == bool:
        arr = arr.astype(float)
    if not np.issubdtype(arr.dtype, np.number):
        raise TypeError(f"{name} must hold numbers, got dtype {arr.dtype}")
    arr = arr.astype(np.float64)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite")
    return arr


def _as_correct(correct: object, n: int) -> np.ndarray:
    arr = to_numpy(correct, "correct")
    if arr.shape != (n,):
        raise ValueError(
            f"correct must have shape ({n},) like confidence, got {arr.shape}"
        )
    if arr.dtype != bool:
        if not np.all(np.isin(arr, (0, 1))):
            raise ValueError(
                "correct must hold booleans (or 0/1): True where the prediction is right"
            )
        arr = arr.astype(bool)
    return arr


# --------------------------------------------------------------------------- gradients and attacks


def input_gradient(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    alpha: float = 0.0,
    *,
    convention: str = "uniform",
) -> torch.Tensor:
    """Gradient of each sample's LS loss with respect to its own input.

    For logits ``z = f(x)`` with Jacobian ``J = dz/dx`` (shape ``(K, d)``),
    the chain rule and the logit gradient ``dL/dz = p - y_LS`` give

        ``grad_x L_LS(x) = J(x)^T (softmax(f(x)) - y_LS)``.

    Args:
        model: classifier, ``(N, d) -> (N, K)`` logits, rows independent
            (no batch norm in training mode).
        x: inputs, shape ``(N, d)``.
        y: class indices, shape ``(N,)``.
        alpha: smoothing of the loss differentiated (0: hard cross-entropy).
        convention: ``"uniform"`` or ``"off_target"`` (see ``smooth_targets``).

    Returns:
        Tensor of shape ``(N, d)``; row ``i`` is the gradient of sample ``i``'s loss.

    Example:
        >>> import torch
        >>> lin = torch.nn.Linear(2, 3)
        >>> x, y = torch.randn(4, 2), torch.tensor([0, 1, 2, 0])
        >>> g = input_gradient(lin, x, y)
        >>> p = torch.softmax(lin(x), 1) - torch.nn.functional.one_hot(y, 3)
        >>> torch.allclose(g, p @ lin.weight.detach(), atol=1e-6)   # J = W
        True
    """
    model = _check_model(model)
    x = _check_inputs(x)
    y = _check_labels(y, x.shape[0])
    xr = x.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        loss = ls_cross_entropy(
            model(xr), y, alpha, convention=convention, reduction="sum"
        )
        (grad,) = torch.autograd.grad(loss, xr)
    return grad


def margin_loss(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per-sample margin loss ``max_{k != y} z_k - z_y`` (Carlini and Wagner 2017).

    Positive exactly when the sample is misclassified. Unlike cross-entropy it
    does not saturate when the model is confident, so an attack that ascends it
    is not stalled by a softmax near one-hot.

    Args:
        logits: tensor ``(N, K)`` of logits ``z``.
        y: true class indices ``(N,)`` in ``[0, K)``.

    Returns:
        The margin loss of each sample, shape ``(N,)``.

    Example:
        >>> import torch
        >>> margin_loss(torch.tensor([[2.0, 0.5, 1.0]]), torch.tensor([0]))
        tensor([-1.])
    """
    if not isinstance(logits, torch.Tensor) or logits.ndim != 2:
        raise ValueError("logits must be a torch.Tensor of shape (N, K)")
    y = _check_labels(y, logits.shape[0])
    z_true = logits.gather(1, y[:, None]).squeeze(1)
    others = logits.masked_fill(
        torch.nn.functional.one_hot(y, logits.shape[1]).bool(), float("-inf")
    )
    return others.max(dim=1).values - z_true


def _attack_objective(model, x, y, loss, alpha, convention):
    z = model(x)
    if loss == "ce":
        return ls_cross_entropy(z, y, alpha, convention=convention, reduction="sum")
    return margin_loss(z, y).sum()


def _check_attack(model, x, y, eps, loss):
    model = _check_model(model)
    x = _check_inputs(x)
    y = _check_labels(y, x.shape[0])
    eps = _check_nonneg(eps, "eps")
    if loss not in ATTACK_LOSSES:
        raise ValueError(f"loss must be one of {ATTACK_LOSSES}, got {loss!r}")
    return model, x, y, eps


def fgsm(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    eps: float,
    *,
    loss: str = "ce",
    alpha: float = 0.0,
    convention: str = "uniform",
) -> torch.Tensor:
    r"""Fast gradient sign method (Goodfellow et al. 2015), L-infinity radius ``eps``.

    ``x_adv = x + eps * sign(grad_x loss(f(x), y))``, one step. ``loss="ce"``
    ascends the LS cross-entropy with smoothing ``alpha`` (0: the usual hard
    loss); ``loss="margin"`` ascends :func:`margin_loss`. A zero gradient
    component leaves that input coordinate unchanged (``sign(0) = 0``).
    No clipping to a data range (the chapter's inputs are standardised, not
    pixels).

    Args:
        model: classifier ``nn.Module``, ``(N, d) -> (N, K)`` logits, rows
            independent (no batch norm in training mode).
        x: floating inputs ``(N, d)``.
        y: true class indices ``(N,)`` in ``[0, K)``.
        eps: the L-infinity radius :math:`\epsilon \ge 0` of the perturbation
            (in input units).
        loss: the objective ascended: ``"ce"`` (default; the LS
            cross-entropy with ``alpha``) or ``"margin"`` (:func:`margin_loss`).
        alpha: smoothing of the attacked cross-entropy, in ``[0, 1]`` (default
            0, the hard loss); unused with ``loss="margin"``.
        convention: ``"uniform"`` (default, :math:`\alpha`) or
            ``"off_target"`` (:math:`\varepsilon`).

    Returns:
        The adversarial inputs ``(N, d)`` (detached), within ``eps`` of ``x``
        in every coordinate.

    Example:
        >>> import torch
        >>> lin = torch.nn.Linear(3, 2)
        >>> x, y = torch.zeros(5, 3), torch.zeros(5, dtype=torch.long)
        >>> bool(((fgsm(lin, x, y, 0.1) - x).abs().max() <= 0.1 + 1e-7))
        True
    """
    model, x, y, eps = _check_attack(model, x, y, eps, loss)
    xr = x.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        (grad,) = torch.autograd.grad(
            _attack_objective(model, xr, y, loss, alpha, convention), xr
        )
    return (x.detach() + eps * grad.sign()).detach()


def pgd(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    eps: float,
    *,
    steps: int = 10,
    step_size: float | None = None,
    loss: str = "ce",
    alpha: float = 0.0,
    convention: str = "uniform",
    random_start: bool = False,
    seed: int = 0,
) -> torch.Tensor:
    r"""Projected gradient ascent in the L-infinity ball (Madry et al. 2018).

    ``x_{t+1} = clip_{[x - eps, x + eps]}(x_t + step_size * sign(grad loss(x_t)))``
    for ``steps`` steps, from ``x`` (or, with ``random_start``, from a point
    drawn uniformly in the ball with a generator seeded by ``seed``). The
    default step size is ``2.5 * eps / steps``. ``loss`` as in :func:`fgsm`.

    Args:
        model: the classifier, as in :func:`fgsm`.
        x: floating inputs ``(N, d)``.
        y: true class indices ``(N,)`` in ``[0, K)``.
        eps: the L-infinity radius :math:`\epsilon \ge 0`, as in :func:`fgsm`.
        steps: the number of ascent steps, a positive integer; default 10.
        step_size: the size of each signed step, ``>= 0``; default ``None``
            gives ``2.5 * eps / steps``.
        loss: the objective ascended, ``"ce"`` or ``"margin"``, as in :func:`fgsm`.
        alpha: smoothing of the attacked cross-entropy, as in :func:`fgsm`.
        convention: ``"uniform"`` or ``"off_target"``, as in :func:`fgsm`.
        random_start: start from a uniform draw in the ball instead of ``x``
            (default ``False``).
        seed: seed of the random start; default 0.

    Returns:
        The adversarial inputs ``(N, d)`` (detached), within ``eps`` of ``x``
        in every coordinate.

    Example:
        >>> import torch
        >>> torch.manual_seed(0) and None
        >>> lin = torch.nn.Linear(3, 2)
        >>> x, y = torch.randn(8, 3), torch.zeros(8, dtype=torch.long)
        >>> xa = pgd(lin, x, y, 0.2, steps=5)
        >>> bool((xa - x).abs().max() <= 0.2 + 1e-6)
        True
    """
    model, x, y, eps = _check_attack(model, x, y, eps, loss)
    steps = _check_count(steps, "steps", 1)
    if step_size is None:
        step_size = 2.5 * eps / steps
    step_size = _check_nonneg(step_size, "step_size")
    x0 = x.detach()
    if random_start:
        gen = torch.Generator().manual_seed(seed)
        noise = torch.rand(x0.shape, generator=gen, dtype=x0.dtype) * 2 - 1
        xa = x0 + eps * noise.to(x0.device)
    else:
        xa = x0.clone()
    for _ in range(steps):
        xa.requires_grad_(True)
        with torch.enable_grad():
            (grad,) = torch.autograd.grad(
                _attack_objective(model, xa, y, loss, alpha, convention), xa
            )
        xa = xa.detach() + step_size * grad.sign()
        xa = torch.minimum(torch.maximum(xa, x0 - eps), x0 + eps)
    return xa.detach()


def corrupt_inputs(
    x: torch.Tensor,
    *,
    noise: float = 0.0,
    shift: int = 0,
    scale: float = 1.0,
    seed: int = 0,
) -> torch.Tensor:
    """A distribution shift made in code: scale, translate, add noise.

    Each row (a 1-D signal of ``d`` samples) is multiplied by ``scale``,
    rolled circularly by an integer drawn uniformly from ``[-shift, shift]``,
    then receives i.i.d. Gaussian noise of standard deviation ``noise``. The
    draws come from a generator seeded with ``seed``.

    Args:
        x: floating inputs ``(N, d)``, one 1-D signal per row.
        noise: standard deviation of the added Gaussian noise, ``>= 0``;
            default 0 (none).
        shift: the largest circular shift in samples, an integer ``>= 0``;
            default 0 (none).
        scale: the factor applied first, ``>= 0``; default 1.
        seed: seed of the shifts and the noise; default 0.

    Returns:
        The corrupted inputs, a new tensor ``(N, d)`` (``x`` is unchanged).

    Example:
        >>> import torch
        >>> x = torch.arange(6.0).reshape(1, 6)
        >>> corrupt_inputs(x, scale=2.0)
        tensor([[ 0.,  2.,  4.,  6.,  8., 10.]])
    """
    x = _check_inputs(x)
    noise = _check_nonneg(noise, "noise")
    shift = _check_count(shift, "shift", 0)
    scale = _check_nonneg(scale, "scale")
    gen = torch.Generator().manual_seed(seed)
    out = x.detach() * scale
    if shift:
        n, d = out.shape
        offsets = torch.randint(-shift, shift + 1, (n,), generator=gen)
        cols = (torch.arange(d)[None, :] - offsets[:, None]) % d
        out = out.gather(1, cols.to(out.device))
    if noise:
        out = out + noise * torch.randn(out.shape, generator=gen, dtype=out.dtype).to(
            out.device
        )
    return out


# --------------------------------------------------------------------------- saturation


@dataclass(frozen=True)
class LayerActivity:
    """Activity of one ReLU layer on a batch.

    Attributes:
        inactive: fraction of (sample, unit) pairs with pre-activation <= 0
            (the unit passes no gradient for that sample), in ``[0, 1]``.
        dead: fraction of units inactive on every sample of the batch, in
            ``[0, 1]``.
    """

    inactive: float
    dead: float


def inactive_unit_fraction(model: nn.Module, x: torch.Tensor) -> list[LayerActivity]:
    """Fraction of inactive ReLU units, layer by layer, on inputs ``x``.

    A ReLU unit with pre-activation ``a <= 0`` outputs 0 and has derivative 0:
    for that input it is "saturated" in the only sense a ReLU can be. Hooks
    every ``nn.ReLU`` of ``model`` (in forward order) and returns one
    :class:`LayerActivity` per ReLU. The model is run in eval mode under
    ``torch.no_grad`` (its training flag is restored).

    Args:
        model: an ``nn.Module`` with at least one ``nn.ReLU`` module (a
            functional ``relu`` is not seen).
        x: floating inputs ``(N, d)``.

    Returns:
        A list of :class:`LayerActivity`, one per ``nn.ReLU`` in the order
        they run.

    Example:
        >>> import torch
        >>> from torch import nn
        >>> net = nn.Sequential(nn.Linear(1, 2), nn.ReLU())
        >>> with torch.no_grad():
        ...     _ = net[0].weight.copy_(torch.tensor([[1.0], [-1.0]]))
        ...     _ = net[0].bias.zero_()
        >>> inactive_unit_fraction(net, torch.tensor([[1.0], [2.0]]))
        [LayerActivity(inactive=0.5, dead=0.5)]
    """
    model = _check_model(model)
    x = _check_inputs(x)
    relus = [m for m in model.modules() if isinstance(m, nn.ReLU)]
    if not relus:
        raise ValueError("model must contain at least one nn.ReLU module")
    records: list[torch.Tensor] = []
    hooks = [
        m.register_forward_hook(lambda mod, inp, out: records.append(inp[0].detach()))
        for m in relus
    ]
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(x)
    finally:
        model.train(was_training)
        for h in hooks:
            h.remove()
    out = []
    for pre in records:
        off = (pre <= 0).reshape(pre.shape[0], -1)
        out.append(
            LayerActivity(
                float(off.float().mean()), float(off.all(dim=0).float().mean())
            )
        )
    return out


def layer_gradient_norms(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    alpha: float = 0.0,
    *,
    convention: str = "uniform",
) -> list[float]:
    r"""Frobenius norm of ``dL/dW`` for every ``nn.Linear`` weight, first layer first.

    ``L`` is the mean LS loss (smoothing ``alpha``) of the batch ``(x, y)``:
    the full-batch gradient a training step would follow. Comparing the first
    entry with the last shows how much gradient reaches the first layer.
    The model's stored ``.grad`` fields are left untouched.

    Args:
        model: an ``nn.Module`` with at least one ``nn.Linear`` module,
            ``(N, d) -> (N, K)`` logits.
        x: floating inputs ``(N, d)``.
        y: true class indices ``(N,)`` in ``[0, K)``.
        alpha: smoothing of the loss, in ``[0, 1]``; default 0 (hard
            cross-entropy).
        convention: ``"uniform"`` (default, :math:`\alpha`) or
            ``"off_target"`` (:math:`\varepsilon`).

    Returns:
        A list of floats, one per ``nn.Linear`` weight in module order.

    Example:
        >>> import torch
        >>> lin = torch.nn.Linear(2, 3, bias=False)
        >>> x, y = torch.randn(4, 2), torch.tensor([0, 1, 2, 0])
        >>> g = (torch.softmax(lin(x), 1) - torch.nn.functional.one_hot(y, 3)).T @ x / 4
        >>> abs(layer_gradient_norms(lin, x, y)[0] - g.norm().item()) < 1e-5
        True
    """
    model = _check_model(model)
    x = _check_inputs(x)
    y = _check_labels(y, x.shape[0])
    weights = [m.weight for m in model.modules() if isinstance(m, nn.Linear)]
    if not weights:
        raise ValueError("model must contain at least one nn.Linear module")
    with torch.enable_grad():
        loss = ls_cross_entropy(model(x), y, alpha, convention=convention)
        grads = torch.autograd.grad(loss, weights)
    return [float(g.norm()) for g in grads]


# ------------------------------------------------------------------------- selective classification


@dataclass(frozen=True)
class RiskCoverage:
    """Risk-coverage curve: accept the ``k`` most confident of ``N`` predictions.

    Attributes:
        coverage: float64 ``(N,)``, ``coverage[k-1] = k / N``.
        risk: float64 ``(N,)``, ``risk[k-1]`` is the expected error rate among
            the accepted ``k`` (ties in confidence broken uniformly at random,
            in expectation).
    """

    coverage: np.ndarray
    risk: np.ndarray


def risk_coverage_curve(confidence, correct) -> RiskCoverage:
    """Selective risk at every coverage (Geifman and El-Yaniv 2017).

    Sort the predictions by decreasing ``confidence``; accepting the first
    ``k`` gives coverage ``k/N`` and selective risk
    ``errors among them / k``. Within a group of tied confidences the order is
    arbitrary, so the curve uses the expectation over random orders: inside a
    tie group of size ``m`` holding ``e`` errors, the first ``j`` accepted
    contain ``j e / m`` errors on average.

    Args:
        confidence: the confidence of each of ``N`` predictions (e.g. the
            maximum softmax probability), real ``(N,)``.
        correct: ``(N,)`` booleans (or 0/1): True where the prediction is
            right.

    Returns:
        A :class:`RiskCoverage` with the ``N`` coverages and risks.

    Example:
        >>> import numpy as np
        >>> rc = risk_coverage_curve(np.array([0.9, 0.8, 0.7]), np.array([True, False, True]))
        >>> rc.coverage.round(3).tolist(), rc.risk.round(3).tolist()
        ([0.333, 0.667, 1.0], [0.0, 0.5, 0.333])
    """
    conf = _as_1d_float(confidence, "confidence")
    ok = _as_correct(correct, conf.size)
    n = conf.size
    order = np.argsort(-conf, kind="stable")
    c_sorted, err_sorted = conf[order], (~ok[order]).astype(np.float64)
    # tie groups: runs of equal confidence in sorted order
    starts = np.flatnonzero(np.r_[True, c_sorted[1:] != c_sorted[:-1]])
    ends = np.r_[starts[1:], n]
    cum_err = np.empty(n)
    before = 0.0
    for s, e in zip(starts, ends):
        m, errs = e - s, err_sorted[s:e].sum()
        cum_err[s:e] = before + errs * np.arange(1, m + 1) / m
        before += errs
    k = np.arange(1, n + 1)
    return RiskCoverage(coverage=k / n, risk=cum_err / k)


def aurc(confidence, correct) -> float:
    """Area under the risk-coverage curve, ``(1/N) sum_k risk(k)`` (lower is better).

    The mean of the selective risks of :func:`risk_coverage_curve` over the
    ``N`` coverages ``k/N`` (Geifman et al. 2019, "Bias-reduced uncertainty
    estimation for deep neural classifiers"). It mixes two things: the error
    rate itself and how well the confidence ranks errors last.

    Args:
        confidence: the confidence of each of ``N`` predictions (e.g. the
            maximum softmax probability), real ``(N,)``.
        correct: ``(N,)`` booleans (or 0/1): True where the prediction is
            right.

    Returns:
        The AURC, a float in ``[0, 1]``.

    Example:
        >>> import numpy as np
        >>> round(aurc(np.array([0.9, 0.8, 0.7]), np.array([True, False, True])), 4)
        0.2778
    """
    return float(risk_coverage_curve(confidence, correct).risk.mean())


def confidence_auroc(confidence, correct) -> float:
    """AUROC of the confidence as a score separating right from wrong predictions.

    ``P(C_right > C_wrong) + 0.5 P(C_right = C_wrong)`` for a right and a wrong
    prediction drawn at random: 1 when every right prediction is more confident
    than every wrong one, 0.5 for a confidence that ranks at random. Computed
    from average ranks (Mann-Whitney U).

    Args:
        confidence: the confidence of each of ``N`` predictions (e.g. the
            maximum softmax probability), real ``(N,)``.
        correct: ``(N,)`` booleans (or 0/1): True where the prediction is
            right.
            At least one right and one wrong prediction.

    Returns:
        The AUROC, a float in ``[0, 1]``.

    Example:
        >>> import numpy as np
        >>> confidence_auroc(np.array([0.9, 0.5, 0.5, 0.1]), np.array([1, 1, 0, 0]))
        0.875
    """
    conf = _as_1d_float(confidence, "confidence")
    ok = _as_correct(correct, conf.size)
    n_pos, n_neg = int(ok.sum()), int((~ok).sum())
    if n_pos == 0 or n_neg == 0:
        raise ValueError(
            "correct must contain at least one right and one wrong prediction"
        )
    order = np.argsort(conf, kind="stable")
    ranks = np.empty(conf.size)
    sorted_c = conf[order]
    starts = np.flatnonzero(np.r_[True, sorted_c[1:] != sorted_c[:-1]])
    ends = np.r_[starts[1:], conf.size]
    for s, e in zip(starts, ends):
        ranks[order[s:e]] = (s + e + 1) / 2  # average of ranks s+1 .. e
    u = ranks[ok].sum() - n_pos * (n_pos + 1) / 2
    return float(u / (n_pos * n_neg))


# --------------------------------------------------------------------------- representations


def class_separation(features, labels) -> float:
    """Class separation ``R^2 = 1 - dbar_within / dbar_total`` (Kornblith et al. 2021).

    With the cosine distance ``d(a, b) = 1 - <a, b> / (|a| |b|)``,
    ``dbar_within`` is the mean distance over pairs of samples of the same
    class (averaged per class, then over the ``K`` classes) and ``dbar_total``
    the mean over pairs drawn from any two classes (averaged over the ``K^2``
    class pairs; self-pairs included, as in the paper). 0: classes
    no tighter than the whole cloud; 1: each class collapsed to one direction.

    Args:
        features: real ``(N, D)`` (tensor or array), no all-zero row (e.g.
            penultimate-layer features).
        labels: ``(N,)`` class labels, at least two distinct classes.

    Returns:
        :math:`R^2`, a float (at most 1).

    Example:
        >>> import numpy as np
        >>> f = np.array([[1.0, 0.0], [2.0, 0.0], [0.0, 1.0], [0.0, 3.0]])
        >>> round(class_separation(f, np.array([0, 0, 1, 1])), 6)
        1.0
    """
    f = to_numpy(features, "features").astype(np.float64)
    if f.ndim != 2:
        raise ValueError(f"features must have shape (N, D), got {f.shape}")
    lab = to_numpy(labels, "labels")
    if lab.shape != (f.shape[0],):
        raise ValueError(f"labels must have shape ({f.shape[0]},), got {lab.shape}")
    norms = np.linalg.norm(f, axis=1, keepdims=True)
    if np.any(norms == 0):
        raise ValueError(
            "features must have no all-zero rows (cosine distance undefined)"
        )
    u = f / norms
    classes = np.unique(lab)
    if classes.size < 2:
        raise ValueError("labels must contain at least two classes")
    # mean of 1 - cos over the pairs of class j and class k is 1 - <m_j, m_k>,
    # with m_k the mean unit vector of class k
    means = np.stack([u[lab == c].mean(axis=0) for c in classes])
    within = np.mean(1 - (means * means).sum(axis=1))
    grand = means.mean(axis=0)
    total = 1 - grand @ grand
    return float(1 - within / total)


def linear_probe_accuracy(
    train_features,
    train_labels,
    test_features,
    test_labels,
    *,
    l2: float = 1e-3,
    max_iter: int = 500,
) -> float:
    """Test accuracy of a multinomial logistic regression on frozen features.

    Features are standardised with the training mean and standard deviation;
    weights ``W`` (shape ``(D, C)``) and biases minimise, in float64 with L-BFGS,

        ``mean_i CE(softmax(W^T f_i + b), y_i) + (l2 / 2) ||W||_F^2``,

    which is scikit-learn's ``LogisticRegression(C=1 / (l2 * N))``. This is the
    "linear probe" of a representation (Kornblith et al. 2021 use the same to
    measure how well penultimate-layer features transfer to other tasks).
    Args:
        train_features: finite real ``(N, D)`` features the probe is fitted on.
        train_labels: integer ``(N,)`` labels in ``[0, C)``.
        test_features: finite real ``(M, D)`` features it is evaluated on.
        test_labels: integer ``(M,)`` labels in ``[0, C)``.
        l2: the L2 strength on ``W``, ``>= 0``; default 1e-3.
        max_iter: the L-BFGS iteration cap, a positive integer; default 500.

    Returns:
        The test accuracy, a float in ``[0, 1]``.

    Example:
        >>> import numpy as np
        >>> f = np.array([[0.0], [0.1], [1.0], [1.1]])
        >>> linear_probe_accuracy(f, np.array([0, 0, 1, 1]), f, np.array([0, 0, 1, 1]))
        1.0
    """

    xt, yt, xs, yte = _probe_data(
        train_features, train_labels, test_features, test_labels
    )
    l2 = _check_nonneg(l2, "l2")
    max_iter = _check_count(max_iter, "max_iter", 1)
    n_classes = int(max(int(yt.max()), int(yte.max()))) + 1
    w0 = torch.zeros(xt.shape[1], n_classes, dtype=torch.float64)
    b0 = torch.zeros(n_classes, dtype=torch.float64)

    def penalised_loss(w, b):
        ce = torch.nn.functional.cross_entropy(xt @ w + b, yt)
        return ce + 0.5 * l2 * (w * w).sum()

    w, b = lbfgs_minimize(
        penalised_loss,
        w0,
        b0,
        max_iter=max_iter,
        tolerance_grad=1e-10,
        tolerance_change=1e-12,
    )
    with torch.no_grad():
        pred = (xs @ w + b).argmax(dim=1).numpy()
    return float((pred == yte).mean())


def _probe_features(a: object, name: str) -> np.ndarray:
    a = to_numpy(a, name).astype(np.float64)
    if a.ndim != 2:
        raise ValueError(f"{name} must have shape (N, D), got {a.shape}")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} must be finite")
    return a


def _probe_labels(a: object, n: int, name: str) -> np.ndarray:
    a = to_numpy(a, name)
    if a.shape != (n,) or not np.issubdtype(a.dtype, np.integer):
        raise ValueError(f"{name} must be integer class indices of shape ({n},)")
    return a.astype(np.int64)


def _probe_data(train_features, train_labels, test_features, test_labels):
    """Checked probe data, features standardised with the training statistics.

    Returns float64 tensors ``(x_train, y_train, x_test)`` and the test labels
    as a NumPy array.
    """
    ftr = _probe_features(train_features, "train_features")
    fte = _probe_features(test_features, "test_features")
    if ftr.shape[1] != fte.shape[1]:
        raise ValueError(
            "train_features and test_features must have the same width, "
            f"got {ftr.shape[1]} and {fte.shape[1]}"
        )
    ytr = _probe_labels(train_labels, ftr.shape[0], "train_labels")
    yte = _probe_labels(test_labels, fte.shape[0], "test_labels")
    if ytr.min() < 0:
        raise ValueError("train_labels must be >= 0")
    mean, std = ftr.mean(axis=0), ftr.std(axis=0)
    std = np.where(std > 0, std, 1.0)
    xt = torch.tensor((ftr - mean) / std)
    xs = torch.tensor((fte - mean) / std)
    return xt, torch.tensor(ytr), xs, yte
