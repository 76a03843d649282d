r"""Label smoothing in three applications: GANs, sequence models, preference optimisation.

Chapter 10 of the book uses these functions:

* **GAN discriminators** with smoothed targets: real samples get the target
  :math:`1 - a` and generated ones :math:`b` (Salimans et al. 2016, "Improved
  techniques for training GANs"; :math:`b = 0` is their *one-sided* smoothing).
  :func:`smoothed_discriminator_loss` is the discriminator's loss and
  :func:`optimal_discriminator` its pointwise minimiser.
* **Sequence models**: a next-token task whose next symbol is genuinely
  uncertain (a random Markov chain of order :math:`k`,
  :func:`random_transition_tensor`, :func:`sample_markov_sequences`,
  :func:`markov_next_token_probs`), and :func:`ensemble_sequence_ls_loss`, the
  padded, token-normalised label-smoothed loss of several models at once.
* **Preference optimisation**: the conservative DPO loss (cDPO; Mitchell 2023,
  the ``label_smoothing`` option of TRL's ``DPOTrainer``),
  :func:`smoothed_dpo_loss`, and its finite optimal margin
  :func:`optimal_preference_margin`.

:class:`EnsembleMLP` and :class:`EnsembleGRU` evaluate :math:`M` independent small
networks with batched matrix products, so that a chapter can train several
seeds and settings in one loop (the Python overhead of a tiny network, not its
arithmetic, is what costs time on a CPU).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ._validation import check_positive_int
from .training import _train_stacked_members

__all__ = [
    "optimal_discriminator",
    "smoothed_discriminator_loss",
    "smoothed_dpo_loss",
    "optimal_preference_margin",
    "random_transition_tensor",
    "sample_markov_sequences",
    "markov_next_token_probs",
    "ensemble_sequence_ls_loss",
    "EnsembleMLP",
    "EnsembleGRU",
    "train_mlps_batched",
]


def _check_target_value(value, name: str) -> None:
    """A smoothing amount in [0, 1): a float, or a tensor of such values."""
    if isinstance(value, bool):
        raise TypeError(f"{name} must be a float or a tensor, got bool")
    if isinstance(value, torch.Tensor):
        if not torch.isfinite(value).all() or (value < 0).any() or (value >= 1).any():
            raise ValueError(f"{name} must lie in [0, 1)")
        return
    if not isinstance(value, (int, float)):
        raise TypeError(
            f"{name} must be a float or a tensor, got {type(value).__name__}"
        )
    if not (0 <= value < 1) or math.isnan(value):
        raise ValueError(f"{name} must lie in [0, 1), got {value!r}")


def optimal_discriminator(
    p_data, p_model, real_smoothing: float = 0.0, fake_smoothing: float = 0.0
):
    r"""Pointwise minimiser of the smoothed discriminator loss.

    With real targets :math:`1 - a` and fake targets :math:`b`, the expected
    loss at a point :math:`x` is

    .. math::

        \begin{aligned}
        &-p_{\mathrm{data}}(x)\bigl[(1-a)\log D + a\log(1-D)\bigr] \\
        &- p_{\mathrm{model}}(x)\bigl[b\log D + (1-b)\log(1-D)\bigr],
        \end{aligned}

    minimised by

    .. math::

        D^\star(x) = \frac{(1-a)\,p_{\mathrm{data}}(x) + b\,p_{\mathrm{model}}(x)}
                         {p_{\mathrm{data}}(x) + p_{\mathrm{model}}(x)}

    (Salimans et al. 2016, section 3.4; :math:`a = b = 0` gives Goodfellow et
    al. 2014's :math:`p_{\mathrm{data}} / (p_{\mathrm{data}} + p_{\mathrm{model}})`).

    Args:
        p_data: data density :math:`p_{\mathrm{data}}` (a float or an array),
            nonnegative.
        p_model: model density :math:`p_{\mathrm{model}}`, broadcastable with
            ``p_data``, nonnegative; ``p_data + p_model`` must be positive at
            every point.
        real_smoothing: :math:`a \in [0, 1)`; the real target is :math:`1 - a`.
        fake_smoothing: :math:`b \in [0, 1)`; the fake target is :math:`b`.

    Returns:
        :math:`D^\star` with the broadcast shape of the densities (a float for
        floats).

    Example:
        >>> optimal_discriminator(1.0, 1.0)                   # equilibrium: 1/2
        0.5
        >>> optimal_discriminator(0.0, 2.0, 0.1, 0.1)         # no data here, still b
        0.1
    """
    _check_target_value(real_smoothing, "real_smoothing")
    _check_target_value(fake_smoothing, "fake_smoothing")
    pd_, pm = np.asarray(p_data, dtype=float), np.asarray(p_model, dtype=float)
    if not (np.all(np.isfinite(pd_)) and np.all(np.isfinite(pm))):
        raise ValueError("p_data and p_model must be finite")
    if np.any(pd_ < 0) or np.any(pm < 0):
        raise ValueError("p_data and p_model must be nonnegative")
    total = pd_ + pm
    if np.any(total <= 0):
        raise ValueError(
            "p_data + p_model must be positive at every point (D* is undefined elsewhere)"
        )
    d = ((1 - real_smoothing) * pd_ + fake_smoothing * pm) / total
    return float(d) if d.ndim == 0 else d


def smoothed_discriminator_loss(
    real_logits: torch.Tensor,
    fake_logits: torch.Tensor,
    real_smoothing: float | torch.Tensor = 0.0,
    fake_smoothing: float | torch.Tensor = 0.0,
) -> torch.Tensor:
    r"""Discriminator loss with smoothed targets, real :math:`1 - a` and fake :math:`b`.

    .. math::

        L_D = \operatorname{mean}_i \operatorname{bce}(s_i, 1 - a)
              + \operatorname{mean}_j \operatorname{bce}(f_j, b),

    on the discriminator's logits :math:`s_i` (real samples) and :math:`f_j`
    (generated ones), with the binary cross-entropy

    .. math::

        \begin{aligned}
        \operatorname{bce}(z, y) = &-y\log\sigma(z) \\
        &- (1-y)\log\bigl(1 - \sigma(z)\bigr).
        \end{aligned}

    :math:`a = b = 0` is the GAN loss of Goodfellow et al. 2014;
    :math:`a > 0, b = 0` is one-sided label smoothing (Salimans et al. 2016),
    :math:`a, b > 0` two-sided. The generator's loss is not smoothed.

    Args:
        real_logits: logits on real samples, any shape (e.g. ``(N, 1)``).
        fake_logits: logits on generated samples, any shape.
        real_smoothing: :math:`a \in [0, 1)`, a float or a tensor broadcastable to
            ``real_logits`` (one value per ensemble member, say).
        fake_smoothing: :math:`b \in [0, 1)`, a float or a tensor broadcastable to
            ``fake_logits``.

    Returns:
        A scalar tensor (each term is a mean over its elements).

    Example:
        >>> z = torch.zeros(4, 1)
        >>> round(smoothed_discriminator_loss(z, z).item(), 4)          # 2 log 2
        1.3863
        >>> round(smoothed_discriminator_loss(z + 9, z - 9, 0.1).item(), 2)  # real target 0.9
        0.9
    """
    for name, t in (("real_logits", real_logits), ("fake_logits", fake_logits)):
        if not isinstance(t, torch.Tensor) or not t.dtype.is_floating_point:
            raise TypeError(f"{name} must be a floating torch.Tensor")
        if t.numel() == 0:
            raise ValueError(f"{name} must not be empty")
    _check_target_value(real_smoothing, "real_smoothing")
    _check_target_value(fake_smoothing, "fake_smoothing")
    y_real = torch.as_tensor(1 - real_smoothing, dtype=real_logits.dtype).expand_as(
        real_logits
    )
    y_fake = torch.as_tensor(fake_smoothing, dtype=fake_logits.dtype).expand_as(
        fake_logits
    )
    return F.binary_cross_entropy_with_logits(
        real_logits, y_real
    ) + F.binary_cross_entropy_with_logits(fake_logits, y_fake)


def smoothed_dpo_loss(
    policy_chosen_logps: torch.Tensor,
    policy_rejected_logps: torch.Tensor,
    reference_chosen_logps: torch.Tensor,
    reference_rejected_logps: torch.Tensor,
    beta: float = 0.1,
    label_smoothing: float = 0.0,
    reduction: str = "mean",
) -> torch.Tensor:
    r"""Conservative (label-smoothed) DPO loss.

    With the margin of the chosen response :math:`y_w` over the rejected
    :math:`y_l`,

    .. math::

        h = \log\frac{\pi_\theta(y_w)}{\pi_{\mathrm{ref}}(y_w)}
          - \log\frac{\pi_\theta(y_l)}{\pi_{\mathrm{ref}}(y_l)},
        \qquad
        \ell_\varepsilon(h) = -(1-\varepsilon)\log\sigma(\beta h)
                             - \varepsilon\log\sigma(-\beta h),

    the binary cross-entropy of the Bradley-Terry probability
    :math:`\sigma(\beta h)` against the smoothed label :math:`1 - \varepsilon`.
    :math:`\varepsilon = 0` is DPO (Rafailov et al. 2023);
    :math:`\varepsilon > 0` is cDPO (Mitchell 2023), the formula of TRL's
    ``DPOTrainer(loss_type="sigmoid", label_smoothing=eps)`` up to v0.28. Its
    gradient is :math:`d\ell_\varepsilon/dh = \beta\bigl[\sigma(\beta h) - (1-\varepsilon)\bigr]`,
    zero at :func:`optimal_preference_margin`.

    Args:
        policy_chosen_logps: log-probability of each chosen response under the
            policy, shape ``(N,)`` (any shape shared by the four tensors works).
        policy_rejected_logps: the same for the rejected responses.
        reference_chosen_logps: chosen responses under the reference policy.
        reference_rejected_logps: rejected responses under the reference policy.
        beta: :math:`\beta > 0`, the inverse temperature.
        label_smoothing: :math:`\varepsilon \in [0, 1)` (TRL asks for
            :math:`[0, 0.5)`).
        reduction: ``"mean"``, ``"sum"`` or ``"none"``.

    Returns:
        A scalar tensor, or the per-pair losses for ``reduction="none"``.

    Example:
        >>> z = torch.zeros(3)
        >>> round(smoothed_dpo_loss(z, z, z, z, beta=0.1).item(), 4)     # log 2 at h = 0
        0.6931
        >>> h = torch.tensor([optimal_preference_margin(0.1, beta=0.5)])
        >>> x = h.clone().requires_grad_()
        >>> smoothed_dpo_loss(x, 0 * h, 0 * h, 0 * h, 0.5, 0.1).backward()
        >>> abs(x.grad.item()) < 1e-6
        True
    """
    tensors = (
        policy_chosen_logps,
        policy_rejected_logps,
        reference_chosen_logps,
        reference_rejected_logps,
    )
    for t in tensors:
        if not isinstance(t, torch.Tensor) or not t.dtype.is_floating_point:
            raise TypeError(
                "the four log-probability arguments must be floating torch.Tensors"
            )
    shape = policy_chosen_logps.shape
    if any(t.shape != shape for t in tensors):
        raise ValueError(
            "the four log-probability tensors must share one shape, "
            f"got {[tuple(t.shape) for t in tensors]}"
        )
    if (
        isinstance(beta, bool)
        or not isinstance(beta, (int, float))
        or not beta > 0
        or math.isinf(beta)
    ):
        raise ValueError(f"beta must be a positive finite number, got {beta!r}")
    _check_target_value(label_smoothing, "label_smoothing")
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(
            f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}"
        )
    margin = (policy_chosen_logps - reference_chosen_logps) - (
        policy_rejected_logps - reference_rejected_logps
    )
    losses = -(1 - label_smoothing) * F.logsigmoid(
        beta * margin
    ) - label_smoothing * F.logsigmoid(-beta * margin)
    if reduction == "mean":
        return losses.mean()
    if reduction == "sum":
        return losses.sum()
    return losses


def optimal_preference_margin(label_smoothing: float, beta: float = 1.0) -> float:
    r"""Margin that minimises the cDPO loss of one pair.

    .. math:: h^\star = \frac{1}{\beta}\log\frac{1-\varepsilon}{\varepsilon}.

    Setting the gradient :math:`\beta\bigl[\sigma(\beta h) - (1-\varepsilon)\bigr]`
    to zero gives :math:`\sigma(\beta h^\star) = 1 - \varepsilon`; it is the
    binary stationary logit of the book's chapter 2 (:math:`\ln 9` for a
    target of 0.9), divided by :math:`\beta`. :math:`\varepsilon = 0` (plain
    DPO) has no finite minimiser: ``inf``.

    Args:
        label_smoothing: :math:`\varepsilon \in [0, 1)`.
        beta: :math:`\beta > 0`, the inverse temperature.

    Returns:
        :math:`h^\star`, a float (``inf`` at :math:`\varepsilon = 0`).

    Example:
        >>> round(optimal_preference_margin(0.1), 4)          # ln 9
        2.1972
        >>> round(optimal_preference_margin(0.1, beta=0.1), 3)
        21.972
        >>> optimal_preference_margin(0.0)
        inf
    """
    _check_target_value(label_smoothing, "label_smoothing")
    if (
        isinstance(beta, bool)
        or not isinstance(beta, (int, float))
        or not beta > 0
        or math.isinf(beta)
    ):
        raise ValueError(f"beta must be a positive finite number, got {beta!r}")
    if label_smoothing == 0:
        return math.inf
    return math.log((1 - label_smoothing) / label_smoothing) / beta


def random_transition_tensor(
    num_symbols: int, order: int = 2, *, concentration: float = 0.3, seed: int = 0
) -> torch.Tensor:
    r"""Random next-symbol distributions of a Markov chain of the given order.

    Each context (the last ``order`` symbols) gets a distribution drawn from a
    symmetric Dirichlet with parameter ``concentration``: small values give
    peaked but uncertain rows, so the next symbol is genuinely random and the
    best possible per-token perplexity is above one.

    Args:
        num_symbols: the number of symbols :math:`V \ge 2`.
        order: the order :math:`k \ge 1` of the chain (context length).
        concentration: the Dirichlet parameter, a number :math:`> 0`.
        seed: seed of the random generator.

    Returns:
        A float64 tensor of shape ``(num_symbols,) * order + (num_symbols,)``
        whose last axis sums to one; ``P[c_1, ..., c_k, s]`` is the probability
        of symbol ``s`` after the context ``c_1 ... c_k`` (symbols ``0..V-1``).

    Example:
        >>> P = random_transition_tensor(4, order=2, seed=0)
        >>> tuple(P.shape), bool(torch.allclose(P.sum(-1), torch.ones(4, 4, dtype=P.dtype)))
        ((4, 4, 4), True)
    """
    if (
        isinstance(num_symbols, bool)
        or not isinstance(num_symbols, int)
        or num_symbols < 2
    ):
        raise ValueError(f"num_symbols must be an integer >= 2, got {num_symbols!r}")
    if isinstance(order, bool) or not isinstance(order, int) or order < 1:
        raise ValueError(f"order must be a positive integer, got {order!r}")
    if not concentration > 0 or math.isinf(concentration):
        raise ValueError(
            f"concentration must be positive and finite, got {concentration!r}"
        )
    rng = np.random.default_rng(seed)
    shape = (num_symbols,) * order
    rows = rng.dirichlet(np.full(num_symbols, float(concentration)), size=shape)
    return torch.from_numpy(rows)


def sample_markov_sequences(
    transition: torch.Tensor,
    n: int,
    *,
    min_length: int,
    max_length: int,
    pad_index: int = 0,
    seed: int = 0,
) -> torch.Tensor:
    """Sample ``n`` padded sequences from the Markov chain ``transition``.

    The first ``order`` symbols are uniform, every later one is drawn from
    ``transition[previous order symbols]``; lengths are uniform in
    ``[min_length, max_length]``. Symbols are written as ``1..V`` so that
    ``pad_index = 0`` fills the positions after each sequence's end.

    Args:
        transition: the tensor of :func:`random_transition_tensor`.
        n: the number of sequences.
        min_length: the shortest length, at least the order of the chain.
        max_length: the longest length, at least ``min_length``.
        pad_index: the padding symbol (0: symbols are written as ``1..V``).
        seed: seed of the random generator.

    Returns:
        A ``LongTensor`` of shape ``(n, max_length)``.

    Example:
        >>> P = random_transition_tensor(3, order=1, seed=0)
        >>> x = sample_markov_sequences(P, 2, min_length=2, max_length=5, seed=0)
        >>> tuple(x.shape), int(x.max()) <= 3
        ((2, 5), True)
    """
    if not isinstance(transition, torch.Tensor) or transition.dim() < 2:
        raise TypeError("transition must be a tensor of shape (V,) * order + (V,)")
    v = transition.shape[-1]
    order = transition.dim() - 1
    if any(s != v for s in transition.shape):
        raise ValueError(
            f"transition must have shape (V,) * order + (V,), got {tuple(transition.shape)}"
        )
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    if (
        not (isinstance(min_length, int) and isinstance(max_length, int))
        or not order < min_length <= max_length
    ):
        raise ValueError(
            f"need order < min_length <= max_length, got {order}, {min_length}, {max_length}"
        )
    if pad_index != 0:
        raise ValueError("pad_index must be 0 (symbols are written as 1..V)")
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(min_length, max_length + 1, (n,), generator=g)
    x = torch.zeros(n, max_length, dtype=torch.long)
    x[:, :order] = torch.randint(0, v, (n, order), generator=g)
    flat = transition.reshape(-1, v).to(torch.float64)
    for t in range(order, max_length):
        context = torch.zeros(n, dtype=torch.long)
        for j in range(order):
            context = context * v + x[:, t - order + j]
        x[:, t] = torch.multinomial(flat[context], 1, generator=g)[:, 0]
    x = x + 1
    return x.masked_fill(torch.arange(max_length)[None] >= lengths[:, None], pad_index)


def markov_next_token_probs(
    transition: torch.Tensor, sequences: torch.Tensor, pad_index: int = 0
):
    """True next-symbol distributions at every predictable position.

    For next-token prediction (inputs ``x[:, :-1]``, targets ``x[:, 1:]``) the
    target at column ``t`` is predictable from the chain when ``t + 1 >=
    order`` and it is not padding. Returns ``(mask, probs)``: the boolean
    mask of shape ``(n, max_length - 1)`` and the true distributions over the
    ``V + 1`` columns (padding column 0 gets 0) at the masked positions, shape
    ``(mask.sum(), V + 1)``.

    Args:
        transition: the tensor of :func:`random_transition_tensor`.
        sequences: ``(n, max_length)`` sequences of
            :func:`sample_markov_sequences`.
        pad_index: the padding symbol.

    Returns:
        ``(mask, probs)`` as above.

    Example:
        >>> P = random_transition_tensor(3, order=1, seed=0)
        >>> x = sample_markov_sequences(P, 4, min_length=3, max_length=6, seed=1)
        >>> mask, q = markov_next_token_probs(P, x)
        >>> q.shape[1], bool(torch.allclose(q.sum(1), torch.ones(len(q), dtype=q.dtype)))
        (4, True)
    """
    if pad_index != 0:
        raise ValueError("pad_index must be 0 (symbols are written as 1..V)")
    v = transition.shape[-1]
    order = transition.dim() - 1
    target = sequences[:, 1:]
    cols = torch.arange(target.shape[1])[None]
    mask = (target != pad_index) & (cols + 1 >= order)
    flat = transition.reshape(-1, v)
    b_idx, t_idx = mask.nonzero(as_tuple=True)
    context = torch.zeros(len(b_idx), dtype=torch.long)
    for j in range(order):
        context = context * v + (sequences[b_idx, t_idx + 1 - order + j] - 1)
    probs = flat[context]
    rows = torch.cat([torch.zeros(len(probs), 1, dtype=probs.dtype), probs], 1)
    return mask, rows


def ensemble_sequence_ls_loss(
    logits: torch.Tensor,
    target: torch.Tensor,
    alphas: Sequence[float] | torch.Tensor,
    *,
    pad_index: int = 0,
) -> torch.Tensor:
    r"""Label-smoothed, token-normalised sequence loss of ``M`` models at once.

    For member :math:`m` with logits ``logits[m]`` of shape ``(B, T, V)``:

    .. math:: L_m = (1 - \alpha_m)\,\mathrm{NLL}_m + \alpha_m U_m,

    where :math:`\mathrm{NLL}_m` is the mean over the non-padded positions of
    :math:`-\log p_{y}` (:math:`y` the target token) and :math:`U_m` the mean
    over the same positions of :math:`-\frac{1}{V-1}\sum_{k \ne \mathrm{pad}} \log p_k`:
    the smoothing mass goes to the :math:`V - 1` non-padding columns only, and
    padded positions contribute nothing.
    Member by member this equals
    ``lsmath.sequence_ls_loss(logits[m], target, alpha_m, pad_index=pad_index,
    smooth_pad_column=False)`` (the book's chapter 7).

    Args:
        logits: ``(M, B, T, V)``.
        target: ``(B, T)`` class indices, shared by the members.
        alphas: :math:`M` smoothing values :math:`\alpha_m \in [0, 1]`
            (uniform convention over the :math:`V - 1` non-padding classes).
        pad_index: the padding token, left out of the loss and of the
            smoothing.

    Returns:
        A tensor of shape ``(M,)``: one loss per member (sum it to train all).

    Example:
        >>> z = torch.zeros(2, 1, 3, 5); t = torch.tensor([[1, 2, 0]])
        >>> # log 5 each
        >>> [round(v, 4) for v in ensemble_sequence_ls_loss(z, t, [0.0, 0.1]).tolist()]
        [1.6094, 1.6094]
    """
    if (
        not isinstance(logits, torch.Tensor)
        or not logits.dtype.is_floating_point
        or logits.dim() != 4
    ):
        raise ValueError("logits must be a floating tensor of shape (M, B, T, V)")
    m, b, t, v = logits.shape
    if tuple(target.shape) != (b, t):
        raise ValueError(
            f"target must have shape (B, T) = {(b, t)}, got {tuple(target.shape)}"
        )
    if not 0 <= pad_index < v:
        raise ValueError(f"pad_index must be a column in [0, {v}), got {pad_index}")
    al = torch.as_tensor(alphas, dtype=logits.dtype)
    if al.shape != (m,):
        raise ValueError(
            f"alphas must hold one value per member ({m}), got shape {tuple(al.shape)}"
        )
    if ((al < 0) | (al > 1)).any():
        raise ValueError("alphas must lie in [0, 1]")
    if ((target < 0) | (target >= v)).any():
        raise ValueError(f"target values must lie in [0, {v})")
    keep = (target != pad_index).to(logits.dtype)
    count = keep.sum()
    if count == 0:
        raise ValueError("target has no non-padded position")
    logp = torch.log_softmax(logits, dim=-1)
    nll = -logp.gather(-1, target[None, ..., None].expand(m, b, t, 1))[..., 0]
    others = [k for k in range(v) if k != pad_index]
    uni = -logp[..., others].mean(-1)
    return (((1 - al)[:, None, None] * nll + al[:, None, None] * uni) * keep).sum(
        (1, 2)
    ) / count


class EnsembleMLP(nn.Module):
    r"""``M`` independent MLPs (leaky-ReLU hidden layers) evaluated with batched products.

    Member ``m`` maps ``x[m]`` of shape ``(B, sizes[0])`` to ``(B, sizes[-1])``;
    its weights are initialised like ``nn.Linear`` (uniform in
    :math:`\pm 1/\sqrt{\text{fan-in}}`) from ``seed``. Input and output shape
    ``(M, B, features)``.

    Args:
        num_models: the number of members :math:`M \ge 1`.
        sizes: layer widths, input first and output last (at least two).
        seed: seed of the initialisation.
        negative_slope: slope of the leaky ReLU for negative inputs.

    Example:
        >>> net = EnsembleMLP(3, [2, 8, 1], seed=0)
        >>> tuple(net(torch.zeros(3, 5, 2)).shape)
        (3, 5, 1)
    """

    def __init__(
        self,
        num_models: int,
        sizes: Sequence[int],
        *,
        seed: int = 0,
        negative_slope: float = 0.2,
    ):
        super().__init__()
        check_positive_int(num_models, "num_models")
        if len(sizes) < 2:
            raise ValueError(
                f"sizes must list at least input and output widths, got {list(sizes)}"
            )
        g = torch.Generator().manual_seed(seed)
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()
        for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
            bound = 1 / math.sqrt(fan_in)
            self.weights.append(
                nn.Parameter(
                    (2 * torch.rand(num_models, fan_in, fan_out, generator=g) - 1)
                    * bound
                )
            )
            self.biases.append(
                nn.Parameter(
                    (2 * torch.rand(num_models, 1, fan_out, generator=g) - 1) * bound
                )
            )
        self.negative_slope = negative_slope

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Run every member on its own batch.

        Args:
            x: inputs ``(M, B, F)``, one batch per member.

        Returns:
            Logits ``(M, B, K)``.
        """
        last = len(self.weights) - 1
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            x = torch.baddbmm(b, x, w)
            if i < last:
                x = F.leaky_relu(x, self.negative_slope)
        return x


class EnsembleGRU(nn.Module):
    r"""``M`` independent one-layer GRU language models run in one loop over time.

    Each member embeds the tokens (``vocab_size x embed_dim``), runs a GRU with
    PyTorch's gate equations (``nn.GRU``: reset, update, new) and maps each
    hidden state to ``vocab_size`` logits. Input: token indices ``(B, T)``
    shared by the members; output: logits ``(M, B, T, vocab_size)``.

    Args:
        num_models: the number of members :math:`M \ge 1`.
        vocab_size: the number of tokens :math:`V` (logit columns).
        embed_dim: the size of the token embeddings.
        hidden_dim: the size of the GRU's hidden state.
        seed: seed of the initialisation.

    Example:
        >>> lm = EnsembleGRU(2, vocab_size=5, embed_dim=4, hidden_dim=6, seed=0)
        >>> tuple(lm(torch.zeros(3, 7, dtype=torch.long)).shape)
        (2, 3, 7, 5)
    """

    def __init__(
        self,
        num_models: int,
        vocab_size: int,
        embed_dim: int,
        hidden_dim: int,
        *,
        seed: int = 0,
    ):
        super().__init__()
        for name, val in (
            ("num_models", num_models),
            ("vocab_size", vocab_size),
            ("embed_dim", embed_dim),
            ("hidden_dim", hidden_dim),
        ):
            check_positive_int(val, name)
        g = torch.Generator().manual_seed(seed)
        m, h = num_models, hidden_dim

        def uniform(*shape: int, fan: int) -> nn.Parameter:
            return nn.Parameter(
                (2 * torch.rand(*shape, generator=g) - 1) / math.sqrt(fan)
            )

        self.embedding = nn.Parameter(
            torch.randn(m, vocab_size, embed_dim, generator=g)
        )
        self.w_ih = uniform(m, embed_dim, 3 * h, fan=h)
        self.w_hh = uniform(m, h, 3 * h, fan=h)
        self.b_ih = uniform(m, 1, 3 * h, fan=h)
        self.b_hh = uniform(m, 1, 3 * h, fan=h)
        self.w_out = uniform(m, h, vocab_size, fan=h)
        self.b_out = uniform(m, 1, vocab_size, fan=h)
        self.hidden_dim = h

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """Next-token logits of every member on the same token batch.

        Args:
            tokens: integer token ids ``(B, T)``, shared by the ``M`` members.

        Returns:
            Logits ``(M, B, T, V)``.
        """
        if tokens.dim() != 2:
            raise ValueError(
                f"tokens must have shape (B, T), got {tuple(tokens.shape)}"
            )
        m = self.embedding.shape[0]
        b, t = tokens.shape
        gi = (
            torch.einsum("mbte,meh->mbth", self.embedding[:, tokens], self.w_ih)
            + self.b_ih[:, None]
        )
        h = torch.zeros(m, b, self.hidden_dim, dtype=gi.dtype)
        states = []
        for step in range(t):
            gh = torch.baddbmm(self.b_hh, h, self.w_hh)
            i_r, i_z, i_n = gi[:, :, step].chunk(3, -1)
            h_r, h_z, h_n = gh.chunk(3, -1)
            r = torch.sigmoid(i_r + h_r)
            z = torch.sigmoid(i_z + h_z)
            n = torch.tanh(i_n + r * h_n)
            h = (1 - z) * n + z * h
            states.append(h)
        hs = torch.stack(states, 2)
        return torch.einsum("mbth,mhv->mbtv", hs, self.w_out) + self.b_out[:, None]


def train_mlps_batched(
    models: Sequence[nn.Sequential],
    x: torch.Tensor,
    targets: torch.Tensor,
    *,
    seeds: Sequence[int],
    epochs: int,
    batch_size: int = 128,
    lr: float = 1e-3,
    on_epoch: Callable[[int, EnsembleMLP], dict | None] | None = None,
) -> list[dict]:
    r"""Train ``M`` ReLU MLPs at once, each exactly as :func:`lsmath.training.train_classifier`.

    Member :math:`m` minimises the cross-entropy with probability targets,
    :math:`-\frac1B\sum_i \sum_k y^{(m)}_{ik}\log p^{(m)}_{ik}` (label smoothing
    when :math:`y^{(m)}` are smoothed one-hot rows, any prior otherwise), with
    Adam at learning rate ``lr`` on mini-batches of ``batch_size`` drawn in the
    order of ``torch.randperm`` seeded by ``seeds[m]``: the updates of
    ``train_classifier(models[m], x, targets[m], seed=seeds[m], loss_fn=soft_ce)``
    (Adam acts elementwise, so one optimiser over the stacked weights is ``M``
    independent ones). The members are stacked into one :class:`EnsembleMLP`
    with ``negative_slope=0`` (ReLU), trained by the loop that
    :func:`lsmath.dynamics.train_ensemble` uses, and copied back into
    ``models`` (in place), which saves the Python overhead of ``M`` separate
    loops.

    Args:
        models: ``M`` networks of :func:`lsmath.training.make_mlp` with the same
            layer sizes (their initial weights are used).
        x: inputs shared by the members, shape ``(N, d)``.
        targets: probability targets, shape ``(M, N, K)`` (one set per member).
        seeds: ``M`` integers, the batch order of each member.
        epochs: number of passes over the data (an integer >= 1).
        batch_size: mini-batch size (an integer >= 1).
        lr: Adam's learning rate (> 0).
        on_epoch: optional ``on_epoch(epoch, ensemble)`` called after every
            epoch with the :class:`EnsembleMLP` (input ``(M, B, d)``); it may
            return a dict of values to record.

    Returns:
        The list of the dicts returned by ``on_epoch`` (empty without it).

    Raises:
        ValueError: for models without ``nn.Linear`` layers or of different
            sizes, ``x`` or ``targets`` of the wrong shape, or a bad
            ``seeds``, ``epochs``, ``batch_size`` or ``lr``.

    Example:
        >>> from lsmath.training import make_mlp
        >>> nets = [make_mlp([2, 8, 3], seed=s) for s in (0, 1)]
        >>> x = torch.randn(20, 2)
        >>> t = torch.full((2, 20, 3), 1 / 3)
        >>> train_mlps_batched(nets, x, t, seeds=[0, 1], epochs=2, batch_size=8)
        []
    """
    models = list(models)
    m = len(models)
    linears = [[mod for mod in net if isinstance(mod, nn.Linear)] for net in models]
    if m < 1 or not all(linears):
        raise ValueError(
            "models must be a non-empty list of MLPs with nn.Linear layers"
        )
    sizes = [linears[0][0].in_features] + [lin.out_features for lin in linears[0]]
    for layers in linears[1:]:
        if [layers[0].in_features] + [lin.out_features for lin in layers] != sizes:
            raise ValueError("models must all have the same layer sizes")
    if x.dim() != 2 or x.shape[1] != sizes[0]:
        raise ValueError(f"x must have shape (N, {sizes[0]}), got {tuple(x.shape)}")
    if tuple(targets.shape) != (m, x.shape[0], sizes[-1]):
        raise ValueError(
            f"targets must have shape {(m, x.shape[0], sizes[-1])}, "
            f"got {tuple(targets.shape)}"
        )
    check_positive_int(batch_size, "batch_size")
    ens = EnsembleMLP(m, sizes, negative_slope=0.0).to(x.dtype)
    with torch.no_grad():
        for i, layer in enumerate(zip(*linears)):  # layer i of every member
            ens.weights[i].copy_(torch.stack([lin.weight.T for lin in layer]))
            ens.biases[i].copy_(torch.stack([lin.bias[None] for lin in layer]))
    records: list[dict] = []
    _train_stacked_members(
        ens,
        x,
        targets,
        lambda z, t: -(t * torch.log_softmax(z, dim=-1)).sum(-1).mean(-1),
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        seeds=seeds,
        after_epoch=(lambda e: records.append(on_epoch(e, ens) or {}))
        if on_epoch
        else None,
    )
    with torch.no_grad():
        for i, layer in enumerate(zip(*linears)):
            for j, lin in enumerate(layer):
                lin.weight.copy_(ens.weights[i][j].T)
                lin.bias.copy_(ens.biases[i][j, 0])
    return records
