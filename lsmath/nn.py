"""``torch.nn`` modules: a drop-in replacement for ``nn.CrossEntropyLoss``.

``LabelSmoothingCrossEntropy`` takes the constructor of
``torch.nn.CrossEntropyLoss`` (``weight``, ``ignore_index``, ``reduction``,
``label_smoothing``, and the deprecated ``size_average``/``reduce``) plus
``convention`` (``"uniform"`` or ``"off_target"``) and ``prior`` (smoothing
towards any class distribution), and computes :func:`lsmath.losses.ls_cross_entropy`.
With the defaults it returns exactly what ``nn.CrossEntropyLoss`` returns.

Example:
    >>> import torch
    >>> from lsmath.nn import LabelSmoothingCrossEntropy
    >>> z, t = torch.tensor([[2.0, 0.0, 0.0]]), torch.tensor([0])
    >>> crit = LabelSmoothingCrossEntropy(label_smoothing=0.1)
    >>> bool(torch.isclose(crit(z, t), torch.nn.CrossEntropyLoss(label_smoothing=0.1)(z, t)))
    True
    >>> off = LabelSmoothingCrossEntropy(label_smoothing=0.1, convention="off_target")
    >>> round(off(z, t).item(), 4)   # true class 0.9, others 0.05
    0.4395
"""

from __future__ import annotations

import torch

from ._validation import (
    check_convention,
    check_ignore_index,
    check_prior,
    check_reduction,
    check_smoothing_scalar,
)
from .losses import ls_cross_entropy

__all__ = ["LabelSmoothingCrossEntropy"]


class LabelSmoothingCrossEntropy(torch.nn.Module):
    r"""Label-smoothed cross-entropy as an ``nn.Module`` (drop-in for ``nn.CrossEntropyLoss``).

    Per sample, :math:`-\sum_k y^{\mathrm{LS}}_k \log p_k` with
    :math:`y^{\mathrm{LS}} = (1-\alpha)\, e_t + \alpha\, \pi` (:math:`\pi` the
    prior, :math:`u` by default), computed by
    ``ls_cross_entropy(input, target, label_smoothing, convention=...,
    weight=..., ignore_index=..., reduction=..., prior=...)``; see
    :func:`lsmath.losses.ls_cross_entropy` for the weighted and reduced
    forms. ``weight`` and ``prior``
    are registered as buffers, so ``.to(device)`` and ``state_dict`` treat
    them as ``nn.CrossEntropyLoss`` treats its ``weight``.

    Args:
        weight: optional ``(K,)`` class weights :math:`w_k`.
        size_average: deprecated PyTorch argument, mapped to ``reduction``
            exactly as ``nn.CrossEntropyLoss`` maps it.
        ignore_index: class-index targets equal to it contribute nothing.
        reduce: deprecated PyTorch argument, mapped to ``reduction`` exactly
            as ``nn.CrossEntropyLoss`` maps it.
        reduction: ``"mean"``, ``"sum"`` or ``"none"``.
        label_smoothing: :math:`\alpha` (or :math:`\varepsilon` when
            ``convention="off_target"``), a float or a 0-d tensor; values below
            0 are negative label smoothing.
        convention: ``"uniform"`` (PyTorch's meaning) or ``"off_target"``.
        prior: optional length-:math:`K` probability vector :math:`\pi`
            replacing the uniform :math:`u`.

    Shapes:
        input ``(N, K)``, ``(K,)`` or ``(N, K, d1, ...)``; target class indices
        ``(N,)``/``()``/``(N, d1, ...)`` or probabilities shaped like the input.

    Example:
        >>> crit = LabelSmoothingCrossEntropy(label_smoothing=0.2, prior=[0.5, 0.25, 0.25])
        >>> round(crit(torch.zeros(1, 3), torch.tensor([1])).item(), 4)  # y = [0.1, 0.85, 0.05]
        1.0986
    """

    def __init__(
        self,
        weight: torch.Tensor | None = None,
        size_average=None,
        ignore_index: int = -100,
        reduce=None,
        reduction: str = "mean",
        label_smoothing: float = 0.0,
        *,
        convention: str = "uniform",
        prior=None,
    ) -> None:
        super().__init__()
        if size_average is not None or reduce is not None:
            from torch.nn import _reduction

            reduction = _reduction.legacy_get_string(size_average, reduce)
        self.reduction = check_reduction(reduction)
        self.ignore_index = check_ignore_index(ignore_index)
        self.label_smoothing = check_smoothing_scalar(
            label_smoothing, "label_smoothing", allow_negative=True
        )
        self.convention = check_convention(convention)
        if weight is not None and (
            not isinstance(weight, torch.Tensor) or weight.dim() != 1
        ):
            raise TypeError(
                "weight must be a 1-d floating torch.Tensor of shape (K,) or None"
            )
        self.register_buffer("weight", weight)
        if prior is not None:
            prior = check_prior(prior, len(prior))
        self.register_buffer("prior", prior)
        # the buffers' types, for readers and type checkers (nn.Module's
        # __getattr__ would read them as Tensor | Module)
        self.weight: torch.Tensor | None
        self.prior: torch.Tensor | None

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """The loss of ``input`` (logits) against ``target``.

        Args:
            input: floating logits ``(N, K)``, ``(K,)`` or ``(N, K, d1, ...)``
                (class axis 1, or 0 for an unbatched ``(K,)``).
            target: integer class indices in :math:`[0, K)` (or
                ``ignore_index``) of shape ``(N,)``, ``()`` or ``(N, d1, ...)``,
                or probabilities shaped like ``input``.

        Returns:
            A scalar for ``reduction="mean"`` or ``"sum"``, else the per-element
            losses of the target's shape (without the class axis).
        """
        return ls_cross_entropy(
            input,
            target,
            self.label_smoothing,
            convention=self.convention,
            weight=self.weight,
            ignore_index=self.ignore_index,
            reduction=self.reduction,
            prior=self.prior,
        )

    def extra_repr(self) -> str:
        """The settings shown in the module's ``repr``.

        Returns:
            ``label_smoothing`` and ``reduction``, then ``ignore_index`` and
            ``convention`` where they differ from their defaults.
        """
        parts = [
            f"label_smoothing={self.label_smoothing}",
            f"reduction={self.reduction!r}",
        ]
        if self.ignore_index != -100:
            parts.append(f"ignore_index={self.ignore_index}")
        if self.convention != "uniform":
            parts.append(f"convention={self.convention!r}")
        return ", ".join(parts)
