"""What each framework's label smoothing computes, re-expressed with ``lsmath``.

Every library exposes "label smoothing" through one number, but the number does
not mean the same thing everywhere. This module records, for each framework,
which of the book's two conventions its formula follows, over how many classes
the smoothing mass is spread, what happens to padded positions, and how the
loss is normalised; and it re-implements each formula from its published source
(cited in :data:`FRAMEWORKS`) with the book's smoothed targets (the values of
:func:`~lsmath.targets.smoothed_target_values`, i.e. :func:`~lsmath.targets.smooth_targets`), so the
book can compare them numerically without installing the libraries.

Only PyTorch is run here; the other entries are reference re-implementations of
the cited formulas, not the libraries themselves.

Conventions (``K`` classes, true class ``t``):

* ``"uniform"``: ``y = (1 - a) e_t + a / K`` (true ``1 - a + a/K``, others ``a/K``);
* ``"off_target"``: true ``1 - eps``, others ``eps / (K - 1)``.

Example:
    >>> [round(v, 4) for v in target_masses("pytorch", 0.1, 3)]
    [0.9333, 0.0333]
    >>> [round(v, 4) for v in target_masses("fairseq", 0.1, 3)]
    [0.9, 0.05]
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ._validation import (
    check_class_range,
    check_convention,
    check_index_target,
    check_num_classes,
    check_smoothing_scalar,
)
from .targets import smooth_targets, smoothed_target_values

__all__ = [
    "FrameworkRule",
    "FRAMEWORKS",
    "lsmath_equivalent",
    "target_masses",
    "framework_targets",
    "framework_token_losses",
    "framework_loss",
    "sequence_ls_loss",
]


@dataclass(frozen=True)
class FrameworkRule:
    """How one framework smooths its targets.

    Attributes:
        key: short identifier used by the functions of this module.
        short: the framework's name, for tables.
        name: the framework and the API that takes the smoothing parameter.
        source: repository and file where the formula lives.
        convention: ``"uniform"`` or ``"off_target"`` (the book's names).
        classes: over which classes the smoothing mass is spread: ``"all"`` (all
            ``K`` columns of the logits, a padding symbol's column included) or
            ``"all_but_pad"`` (the padding column gets nothing; OpenNMT-py).
        padding: what happens to positions whose target is padding.
        normalisation: what the summed per-token loss is divided by.
        value: ``"ce"`` (cross-entropy with the smoothed target) or ``"kl"``
            (cross-entropy minus the target's entropy: same gradient, minimum 0).
    """

    key: str
    short: str
    name: str
    source: str
    convention: str
    classes: str
    padding: str
    normalisation: str
    value: str


#: Each framework's label-smoothing rule (convention, padding, normalisation, source file), by name.
#: Listed in chapter 7's framework table; the value is not printed here.
#:
#: :meta hide-value:
FRAMEWORKS: dict[str, FrameworkRule] = {
    rule.key: rule
    for rule in [
        FrameworkRule(
            "pytorch",
            "PyTorch",
            "PyTorch F.cross_entropy(label_smoothing=a)",
            "pytorch/pytorch aten/src/ATen/native/LossNLL.cpp (cross_entropy_loss_label_smoothing)",
            "uniform",
            "all",
            "ignore_index rows contribute 0",
            "mean: sum over rows / sum of w[target] over non-ignored rows",
            "ce",
        ),
        FrameworkRule(
            "keras_categorical",
            "Keras categorical",
            "Keras CategoricalCrossentropy(label_smoothing=a)",
            "keras-team/keras keras/src/losses/losses.py (categorical_crossentropy)",
            "uniform",
            "all",
            "no ignore index; mask with sample_weight",
            "mean over the batch (default reduction)",
            "ce",
        ),
        FrameworkRule(
            "keras_binary",
            "Keras binary",
            "Keras BinaryCrossentropy(label_smoothing=a)",
            "keras-team/keras keras/src/losses/losses.py (binary_crossentropy)",
            "uniform",
            "all",
            "no ignore index; mask with sample_weight",
            "mean over the last axis, then over the batch",
            "ce",
        ),
        FrameworkRule(
            "optax",
            "Optax",
            "Optax smooth_labels(labels, alpha)",
            "google-deepmind/optax optax/losses/_smoothing.py (smooth_labels)",
            "uniform",
            "all",
            "none (targets only); mask in the caller",
            "none (targets only); the caller reduces",
            "ce",
        ),
        FrameworkRule(
            "timm",
            "timm",
            "timm LabelSmoothingCrossEntropy(smoothing=a)",
            "huggingface/pytorch-image-models timm/loss/cross_entropy.py",
            "uniform",
            "all",
            "none (image classification)",
            "mean over the batch",
            "ce",
        ),
        FrameworkRule(
            "fairseq",
            "fairseq (current)",
            "fairseq label_smoothed_nll_loss(epsilon=eps), current",
            "facebookresearch/fairseq fairseq/criterions/label_smoothed_cross_entropy.py",
            "off_target",
            "all",
            "padding_idx rows masked to 0 (the pad column still gets eps/(V-1))",
            "sum; the trainer divides by sample_size = ntokens (or sentences)",
            "ce",
        ),
        FrameworkRule(
            "fairseq_legacy",
            "fairseq (older)",
            "fairseq label_smoothed_nll_loss(epsilon=eps), before the V-1 change",
            "facebookresearch/fairseq fairseq/criterions/label_smoothed_cross_entropy.py (older)",
            "uniform",
            "all",
            "padding_idx rows masked to 0 (the pad column still gets eps/V)",
            "sum; the trainer divides by sample_size = ntokens (or sentences)",
            "ce",
        ),
        FrameworkRule(
            "huggingface",
            "Hugging Face",
            "Hugging Face LabelSmoother(epsilon=a)",
            "huggingface/transformers src/transformers/trainer_pt_utils.py (LabelSmoother)",
            "uniform",
            "all",
            "label -100 rows masked to 0",
            "both terms divided by the number of non-padded positions",
            "ce",
        ),
        FrameworkRule(
            "opennmt",
            "OpenNMT-py < 3.0.3",
            "OpenNMT-py LabelSmoothingLoss(label_smoothing=eps), before 3.0.3",
            "OpenNMT/OpenNMT-py onmt/utils/loss.py (LabelSmoothingLoss; from 3.0.3 the"
            " file calls nn.CrossEntropyLoss(label_smoothing=...), the PyTorch row)",
            "off_target",
            "all_but_pad",
            "pad rows masked to 0; pad column gets 0 (eps/(V-2) on the rest)",
            "sum (KL); divided by non-pad tokens or by sentences",
            "kl",
        ),
        FrameworkRule(
            "tensor2tensor",
            "tensor2tensor",
            "tensor2tensor padded_cross_entropy(label_smoothing=eps)",
            (
                "tensorflow/tensor2tensor tensor2tensor/layers/common_layers.py "
                "(smoothing_cross_entropy)"
            ),
            "off_target",
            "all",
            "weights_nonzero: label 0 (pad) gets weight 0; pad column still gets eps/(V-1)",
            "sum of weighted losses / sum of weights (non-pad tokens)",
            "kl",
        ),
    ]
}


def _rule(framework: object) -> FrameworkRule:
    if not isinstance(framework, str) or framework not in FRAMEWORKS:
        raise ValueError(
            f"framework must be one of {tuple(FRAMEWORKS)}, got {framework!r}"
        )
    return FRAMEWORKS[framework]


def lsmath_equivalent(
    framework: str, smoothing: float, num_classes: int
) -> tuple[str, float, int]:
    r"""The ``lsmath`` call that reproduces a framework's smoothed target.

    Returns ``(convention, parameter, K_eff)``: the framework's target on a
    non-padded position equals ``lsmath.smooth_targets(t, K_eff, parameter,
    convention)`` on the ``K_eff`` classes that receive mass. ``K_eff`` is
    ``num_classes`` except for OpenNMT-py, whose padding column gets nothing
    (``K_eff = V - 1``), and Keras' binary loss, which is a ``K = 2`` problem.

    Args:
        framework: a key of ``FRAMEWORKS``: ``"pytorch"``,
            ``"keras_categorical"``, ``"keras_binary"``, ``"optax"``,
            ``"timm"``, ``"fairseq"``, ``"fairseq_legacy"``, ``"huggingface"``,
            ``"opennmt"`` or ``"tensor2tensor"``.
        smoothing: the framework's own smoothing parameter, in ``[0, 1]``
            (its :math:`\alpha` or :math:`\varepsilon`, as the framework
            defines it).
        num_classes: the number of columns of the logits ``K`` (``V``),
            ``>= 2`` (``>= 3`` for OpenNMT-py; exactly 2 for ``"keras_binary"``).

    Returns:
        ``(convention, parameter, K_eff)``: ``"uniform"`` or ``"off_target"``,
        the smoothing value in that convention, and the number of classes that
        receive mass.

    Example:
        >>> lsmath_equivalent("opennmt", 0.1, 1000)
        ('off_target', 0.1, 999)
    """
    rule = _rule(framework)
    s = check_smoothing_scalar(smoothing, "smoothing")
    k = check_num_classes(
        num_classes, minimum=3 if rule.classes == "all_but_pad" else 2
    )
    if rule.key == "keras_binary" and k != 2:
        raise ValueError(
            f"keras_binary is a two-class loss: num_classes must be 2, got {k}"
        )
    k_eff = k - 1 if rule.classes == "all_but_pad" else k
    return rule.convention, s, k_eff


def target_masses(
    framework: str, smoothing: float, num_classes: int
) -> tuple[float, float]:
    r"""``(true-class mass, mass on each other class)`` of a framework's smoothed target.

    ``num_classes`` is the number of columns of the logits (``V`` for a
    vocabulary, padding symbol included). For OpenNMT-py the second value is the
    mass on each *non-padding* wrong class, ``eps / (V - 2)``; its padding
    column gets 0. For Keras' binary loss (``num_classes = 2``) the values are
    the smoothed label ``1 - a/2`` and ``a/2``.

    Args:
        framework: a key of ``FRAMEWORKS``, as in :func:`lsmath_equivalent`.
        smoothing: the framework's own smoothing parameter, as there.
        num_classes: the number of columns of the logits ``K``, as there.

    Returns:
        ``(y_true, y_other)``, two floats.

    Example:
        >>> [round(v, 5) for v in target_masses("opennmt", 0.1, 12)]
        [0.9, 0.01]
        >>> target_masses("keras_binary", 0.2, 2)
        (0.9, 0.1)
    """
    convention, s, k_eff = lsmath_equivalent(framework, smoothing, num_classes)
    y_true, y_other = smoothed_target_values(s, k_eff, convention)
    return float(y_true), float(y_other)


def _check_target_and_pad(
    target: torch.Tensor, num_classes: int, pad_index: int | None
) -> torch.Tensor:
    if not isinstance(target, torch.Tensor):
        raise TypeError(
            f"target must be a torch.Tensor of class indices, got {type(target).__name__}"
        )
    check_index_target(target)
    if pad_index is not None and (
        isinstance(pad_index, bool) or not isinstance(pad_index, int)
    ):
        raise TypeError(
            f"pad_index must be an int or None, got {type(pad_index).__name__}"
        )
    ignored = None if pad_index is None else ("pad_index", pad_index)
    check_class_range(target, num_classes, "target values", ignored=ignored)
    return target.long()


def framework_targets(
    framework: str,
    target: torch.Tensor,
    num_classes: int,
    smoothing: float,
    *,
    pad_index: int | None = None,
    dtype: torch.dtype | None = None,
) -> torch.Tensor:
    r"""The full smoothed target rows a framework trains against, shape ``(*target.shape, K)``.

    Built with :func:`~lsmath.targets.smooth_targets` in the framework's convention.
    Positions whose target equals ``pad_index`` get an all-zero row (they do not
    enter the loss). For OpenNMT-py, ``pad_index`` is required: it names the
    padding column, which gets 0 in every row, while the ``V - 1`` other
    columns carry an off-target target with ``eps``. ``dtype`` defaults to
    ``torch.get_default_dtype()``.

    Args:
        framework: a key of ``FRAMEWORKS``: ``"pytorch"``,
            ``"keras_categorical"``, ``"keras_binary"``, ``"optax"``,
            ``"timm"``, ``"fairseq"``, ``"fairseq_legacy"``, ``"huggingface"``,
            ``"opennmt"`` or ``"tensor2tensor"``.
        target: integer class indices (any shape) in ``[0, K)`` or
            ``pad_index``.
        num_classes: the number of columns ``K`` (``V``), ``>= 2`` (``>= 3``
            for OpenNMT-py).
        smoothing: the framework's own smoothing parameter, in ``[0, 1]``
            (its :math:`\alpha` or :math:`\varepsilon`, as the framework
            defines it).
        pad_index: optional padding symbol: positions whose target equals it
            contribute 0 (required for ``"opennmt"``, where it also names the
            padding column); default ``None`` (no padding).
        dtype: floating dtype of the result; default
            ``torch.get_default_dtype()``.

    Returns:
        The targets, a tensor ``(*target.shape, K)``; each non-padded row sums
        to 1, padded rows are 0.

    Example:
        >>> framework_targets("opennmt", torch.tensor([1, 0]), 4, 0.1, pad_index=0)
        tensor([[0.0000, 0.9000, 0.0500, 0.0500],
                [0.0000, 0.0000, 0.0000, 0.0000]])
    """
    rule = _rule(framework)
    convention, s, k_eff = lsmath_equivalent(framework, smoothing, num_classes)
    dtype = torch.get_default_dtype() if dtype is None else dtype
    k = int(num_classes)
    target = _check_target_and_pad(target, k, pad_index)
    pad = (
        torch.zeros(target.shape, dtype=torch.bool)
        if pad_index is None
        else target == pad_index
    )
    safe = target.masked_fill(pad, 0 if pad_index != 0 else min(1, k - 1))
    if rule.classes == "all_but_pad":
        if pad_index is None or not 0 <= pad_index < k:
            raise ValueError(
                f"{framework} needs pad_index, a column in [0, {k}), got {pad_index!r}"
            )
        keep = [c for c in range(k) if c != pad_index]
        # Re-index the targets onto the K - 1 non-pad columns, smooth there, then
        # put a zero column back where the padding symbol lives.
        reindex = torch.full((k,), -1, dtype=torch.long)
        reindex[keep] = torch.arange(k - 1)
        inner = smooth_targets(reindex[safe], k_eff, s, convention, dtype=dtype)
        y = torch.zeros(*target.shape, k, dtype=dtype)
        y[..., keep] = inner
    else:
        y = smooth_targets(safe, k_eff, s, convention, dtype=dtype)
    return y.masked_fill(pad.unsqueeze(-1), 0.0)


def _entropy_rows(y: torch.Tensor) -> torch.Tensor:
    return -(
        torch.where(y > 0, y * torch.log(y.clamp_min(1e-300)), torch.zeros_like(y))
    ).sum(-1)


def framework_token_losses(
    framework: str,
    logits: torch.Tensor,
    target: torch.Tensor,
    smoothing: float,
    *,
    pad_index: int | None = None,
) -> torch.Tensor:
    r"""Per-position loss of a framework, shape ``target.shape``; 0 at padded positions.

    ``-sum_k y_k log softmax(z)_k`` with ``y`` from :func:`framework_targets`;
    for OpenNMT-py and tensor2tensor, which report a KL divergence, the
    target's entropy ``H(y)`` is subtracted (the gradient is unchanged).
    ``logits`` has the class axis last: ``(..., K)``. For ``"keras_binary"``
    pass one logit per position (shape ``target.shape``) and targets in {0, 1}:
    the loss is the binary cross-entropy with label ``y (1 - a) + a / 2``.

    Args:
        framework: a key of ``FRAMEWORKS``: ``"pytorch"``,
            ``"keras_categorical"``, ``"keras_binary"``, ``"optax"``,
            ``"timm"``, ``"fairseq"``, ``"fairseq_legacy"``, ``"huggingface"``,
            ``"opennmt"`` or ``"tensor2tensor"``.
        logits: floating tensor ``(*target.shape, K)`` (class axis last), or
            ``target.shape`` for ``"keras_binary"``.
        target: integer class indices in ``[0, K)`` or ``pad_index``.
        smoothing: the framework's own smoothing parameter, in ``[0, 1]``
            (its :math:`\alpha` or :math:`\varepsilon`, as the framework
            defines it).
        pad_index: optional padding symbol: positions whose target equals it
            contribute 0 (required for ``"opennmt"``, where it also names the
            padding column); default ``None`` (no padding).

    Returns:
        The per-position losses, shape ``target.shape``, in the logits' dtype.

    Example:
        >>> z = torch.zeros(1, 3)
        >>> round(framework_token_losses("timm", z, torch.tensor([0]), 0.1).item(), 4)
        1.0986
    """
    rule = _rule(framework)
    if not isinstance(logits, torch.Tensor) or not logits.dtype.is_floating_point:
        raise TypeError("logits must be a floating torch.Tensor")
    if rule.key == "keras_binary":
        if logits.shape != target.shape:
            raise ValueError(
                f"keras_binary takes one logit per position: logits shape {tuple(logits.shape)} "
                f"must equal target shape {tuple(target.shape)}"
            )
        two = torch.stack(
            [torch.zeros_like(logits), logits], dim=-1
        )  # sigmoid(z) = softmax([0, z])_1
        return framework_token_losses(
            "pytorch", two, target, smoothing, pad_index=pad_index
        )
    if logits.dim() < 1 or tuple(logits.shape[:-1]) != tuple(target.shape):
        raise ValueError(
            f"logits must have shape (*target.shape, K) = {tuple(target.shape) + ('K',)}, "
            f"got {tuple(logits.shape)}"
        )
    y = framework_targets(
        framework,
        target,
        logits.shape[-1],
        smoothing,
        pad_index=pad_index,
        dtype=logits.dtype,
    )
    loss = -(y * torch.log_softmax(logits, dim=-1)).sum(-1)
    if rule.value == "kl":
        loss = loss - _entropy_rows(y)
    return loss


def framework_loss(
    framework: str,
    logits: torch.Tensor,
    target: torch.Tensor,
    smoothing: float,
    *,
    pad_index: int | None = None,
    normalize: str = "tokens",
) -> torch.Tensor:
    r"""A framework's reduced loss, as it reaches the gradient step.

    * PyTorch, Hugging Face, tensor2tensor: sum over non-padded positions /
      their number (PyTorch without class weights).
    * Keras, timm, Optax (with a mean taken by the caller): mean over all positions.
    * fairseq and OpenNMT-py: the criterion returns a sum, which the trainer
      divides by the number of non-padded target tokens (``normalize="tokens"``)
      or by the number of sentences, ``target.shape[0]`` (``"sentences"``).

    Args:
        framework: a key of ``FRAMEWORKS``: ``"pytorch"``,
            ``"keras_categorical"``, ``"keras_binary"``, ``"optax"``,
            ``"timm"``, ``"fairseq"``, ``"fairseq_legacy"``, ``"huggingface"``,
            ``"opennmt"`` or ``"tensor2tensor"``.
        logits: floating tensor ``(*target.shape, K)`` (class axis last), or
            ``target.shape`` for ``"keras_binary"``.
        target: integer class indices in ``[0, K)`` or ``pad_index``;
            ``(batch, length)`` for ``normalize="sentences"``.
        smoothing: the framework's own smoothing parameter, in ``[0, 1]``
            (its :math:`\alpha` or :math:`\varepsilon`, as the framework
            defines it).
        pad_index: optional padding symbol: positions whose target equals it
            contribute 0 (required for ``"opennmt"``, where it also names the
            padding column); default ``None`` (no padding).
        normalize: ``"tokens"`` (default) or ``"sentences"``; used only by
            fairseq and OpenNMT-py, whose trainers choose the divisor.

    Returns:
        The reduced loss, a scalar tensor.

    Example:
        >>> z, t = torch.tensor([[2.0, 0.0, 0.0]]), torch.tensor([0])
        >>> bool(torch.isclose(framework_loss("huggingface", z, t, 0.1),
        ...                    torch.nn.functional.cross_entropy(z, t, label_smoothing=0.1)))
        True
    """
    rule = _rule(framework)
    if normalize not in ("tokens", "sentences"):
        raise ValueError(
            f"normalize must be 'tokens' or 'sentences', got {normalize!r}"
        )
    per = framework_token_losses(
        framework, logits, target, smoothing, pad_index=pad_index
    )
    n_active = per.new_tensor(
        float(per.numel() if pad_index is None else int((target != pad_index).sum()))
    )
    if rule.key in ("keras_categorical", "keras_binary", "timm", "optax"):
        return per.mean()
    if (
        rule.key in ("fairseq", "fairseq_legacy", "opennmt")
        and normalize == "sentences"
    ):
        if target.dim() < 2:
            raise ValueError(
                "normalize='sentences' needs target of shape (batch, length)"
            )
        return per.sum() / target.shape[0]
    return per.sum() / n_active


def sequence_ls_loss(
    logits: torch.Tensor,
    target: torch.Tensor,
    alpha: float,
    *,
    pad_index: int,
    convention: str = "uniform",
    normalize: str = "tokens",
    smooth_pad_column: bool = True,
) -> torch.Tensor:
    r"""Label-smoothed loss of a batch of sequences with padding.

    For logits ``(B, T, V)`` and targets ``(B, T)``, every position whose
    target is not ``pad_index`` contributes ``-sum_k y_k log p_k`` with ``y``
    the smoothed target; padded positions contribute nothing and receive no
    mass. ``normalize`` chooses the divisor of the summed loss:

    * ``"tokens"``: the number of non-padded positions (each token weighs the same);
    * ``"sequences"``: the batch size ``B`` (a sequence weighs its length);
    * ``"sequence_mean"``: average within each sequence, then over sequences
      (each sequence weighs the same, whatever its length);
    * ``"sum"``: no division.

    ``smooth_pad_column=False`` spreads the smoothing over the ``V - 1``
    non-padding classes only, so the model is never taught to emit the padding
    symbol (as OpenNMT-py does); with ``True`` the pad column is an ordinary
    class (as ``F.cross_entropy(..., ignore_index=pad)`` does).

    Args:
        logits: floating tensor ``(B, T, V)``: batch, positions, vocabulary.
        target: integer tensor ``(B, T)`` of token indices in ``[0, V)`` or
            ``pad_index``.
        alpha: smoothing in ``[0, 1]`` in ``convention`` (:math:`\alpha` or
            :math:`\varepsilon`).
        pad_index: the padding symbol (keyword, required); positions whose
            target equals it contribute 0. With
            ``smooth_pad_column=False`` it must be a column in ``[0, V)``.
        convention: ``"uniform"`` (default) or ``"off_target"``.
        normalize: ``"tokens"`` (default), ``"sequences"``,
            ``"sequence_mean"`` or ``"sum"``, as above.
        smooth_pad_column: whether the padding column receives smoothing mass
            (default ``True``, PyTorch's behaviour; ``False``: the mass is
            spread over the ``V - 1`` other classes, needs ``V >= 3``).

    Returns:
        The loss, a scalar tensor in the logits' dtype.

    Example:
        >>> z = torch.zeros(1, 2, 4); t = torch.tensor([[1, 0]])
        >>> round(sequence_ls_loss(z, t, 0.1, pad_index=0).item(), 4)   # log 4
        1.3863
    """
    if not isinstance(logits, torch.Tensor) or not logits.dtype.is_floating_point:
        raise TypeError("logits must be a floating torch.Tensor")
    if logits.dim() != 3:
        raise ValueError(f"logits must have shape (B, T, V), got {tuple(logits.shape)}")
    if tuple(target.shape) != tuple(logits.shape[:2]):
        raise ValueError(
            f"target must have shape (B, T) = {tuple(logits.shape[:2])}, got {tuple(target.shape)}"
        )
    if normalize not in ("tokens", "sequences", "sequence_mean", "sum"):
        raise ValueError(
            "normalize must be one of ('tokens', 'sequences', 'sequence_mean', 'sum'), "
            f"got {normalize!r}"
        )
    check_convention(convention)
    check_smoothing_scalar(alpha, "alpha")
    if isinstance(pad_index, bool) or not isinstance(pad_index, int):
        raise TypeError(f"pad_index must be an int, got {type(pad_index).__name__}")
    v = check_num_classes(logits.shape[-1], minimum=3 if not smooth_pad_column else 2)
    target = _check_target_and_pad(target, v, pad_index)
    if not 0 <= pad_index < v and not smooth_pad_column:
        raise ValueError(
            f"smooth_pad_column=False needs pad_index to be a column in [0, {v}), got {pad_index}"
        )
    # Reuse the framework machinery: the pad-column-free variant is OpenNMT's
    # target, the other is PyTorch's; only the convention changes here.
    pad = target == pad_index
    safe = target.masked_fill(pad, 0 if pad_index != 0 else 1)
    if smooth_pad_column:
        y = smooth_targets(safe, v, alpha, convention, dtype=logits.dtype)
    else:
        keep = [c for c in range(v) if c != pad_index]
        reindex = torch.full((v,), -1, dtype=torch.long)
        reindex[keep] = torch.arange(v - 1)
        y = torch.zeros(*target.shape, v, dtype=logits.dtype)
        y[..., keep] = smooth_targets(
            reindex[safe], v - 1, alpha, convention, dtype=logits.dtype
        )
    y = y.masked_fill(pad.unsqueeze(-1), 0.0)
    per = -(y * torch.log_softmax(logits, dim=-1)).sum(-1)  # (B, T), 0 at padding
    if normalize == "sum":
        return per.sum()
    if normalize == "tokens":
        return per.sum() / (~pad).sum()
    if normalize == "sequences":
        return per.sum() / target.shape[0]
    lengths = (~pad).sum(1)
    if (lengths == 0).any():
        raise ValueError(
            "normalize='sequence_mean' needs at least one non-padded position per sequence"
        )
    return (per.sum(1) / lengths).mean()
