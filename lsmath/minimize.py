"""Numerical minimisation of a smooth loss, the independent check of a closed form.

The book derives minimisers in closed form (the stationary logits of label
smoothing, the optimal discriminator, the best temperature) and checks each one
against a numerical minimiser that knows nothing of the derivation. That
minimiser is written once, here: full-batch L-BFGS with a strong-Wolfe line
search, in the dtype of the starting point (use float64 for checks at 1e-6).
"""

from __future__ import annotations

from collections.abc import Callable
from numbers import Integral, Real

import torch

__all__ = ["lbfgs_minimize"]


def lbfgs_minimize(
    loss_fn: Callable[..., torch.Tensor],
    *init: torch.Tensor,
    max_iter: int = 500,
    tolerance_grad: float = 1e-12,
    tolerance_change: float = 1e-15,
) -> torch.Tensor | tuple[torch.Tensor, ...]:
    r"""Minimise ``loss_fn(*params)`` over ``params``, starting from ``init``.

    Solves :math:`\hat\theta = \arg\min_\theta L(\theta)` by full-batch L-BFGS
    (Nocedal and Wright, *Numerical Optimization*, 2006, Alg. 7.5) with a
    strong-Wolfe line search. Used to check closed-form minimisers, e.g. that
    the label-smoothed cross-entropy is minimised at the logit gap
    :math:`\log\frac{1-\alpha+\alpha/K}{\alpha/K}`.

    Args:
        loss_fn: a function of ``len(init)`` tensors returning a scalar tensor
            (differentiable by autograd).
        *init: starting points, floating tensors of any shape (not modified).
        max_iter: the most L-BFGS iterations (an integer >= 1).
        tolerance_grad: stop when the largest gradient entry is below this
            (a number > 0).
        tolerance_change: stop when the loss or the step changes less than
            this (a number > 0).

    Returns:
        The minimiser, detached, with the shape and dtype of ``init``: one
        tensor for one starting point, else a tuple in the order given.

    Example:
        >>> import torch
        >>> from lsmath.minimize import lbfgs_minimize
        >>> x = lbfgs_minimize(lambda v: ((v - 3.0) ** 2).sum(), torch.zeros(2))
        >>> torch.allclose(x, torch.tensor([3.0, 3.0]))
        True
    """
    if not callable(loss_fn):
        raise TypeError(f"loss_fn must be callable, got {type(loss_fn).__name__}")
    if not init:
        raise ValueError("init must hold at least one starting tensor")
    for k, t in enumerate(init):
        if not isinstance(t, torch.Tensor) or not t.is_floating_point():
            raise TypeError(f"init[{k}] must be a floating-point torch.Tensor")
    if isinstance(max_iter, bool) or not isinstance(max_iter, Integral) or max_iter < 1:
        raise ValueError(f"max_iter must be an integer >= 1, got {max_iter!r}")
    for name, tol in (
        ("tolerance_grad", tolerance_grad),
        ("tolerance_change", tolerance_change),
    ):
        if isinstance(tol, bool) or not isinstance(tol, Real) or not tol > 0:
            raise ValueError(f"{name} must be a number > 0, got {tol!r}")
    params = [t.detach().clone().requires_grad_() for t in init]
    opt = torch.optim.LBFGS(
        params,
        lr=1,
        max_iter=int(max_iter),
        tolerance_grad=float(tolerance_grad),
        tolerance_change=float(tolerance_change),
        line_search_fn="strong_wolfe",
    )

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = loss_fn(*params)
        if not isinstance(loss, torch.Tensor) or loss.numel() != 1:
            raise ValueError("loss_fn must return a scalar tensor")
        loss.backward()
        return loss

    with torch.enable_grad():
        opt.step(closure)
    out = tuple(p.detach() for p in params)
    return out[0] if len(out) == 1 else out
