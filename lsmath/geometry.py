"""Geometry of label smoothing: margins, max-margin directions, penultimate-layer pictures.

Helpers for chapter 3 ("Finite-margin geometry"):

* ``logistic_gd``: full-batch gradient descent on the mean (label-smoothed)
  logistic loss of a linear model without bias, fast enough for 10^6 steps,
  recording the weights on a chosen (e.g. log-spaced) schedule of steps.
* ``max_margin_direction_2d``: the hard-margin SVM direction through the
  origin of separable 2-D data, found exactly by checking every candidate
  angle where the smallest margin can peak.
* ``template_plane_basis`` / ``template_plane_projection``: the picture of
  Mueller, Kornblith & Hinton (2019): coordinates of penultimate-layer
  activations in an orthonormal basis of the plane through three class
  templates (rows of the last layer's weight matrix).
* ``cluster_tightness``, ``centroid_distances``: how tight the class clusters
  are relative to the distances between their centroids.
* ``wrong_class_gaps``, ``margin_spread``: the gaps ``z_t - z_k`` to every
  wrong class and their variance across the wrong classes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._optional import require
from ._validation import check_convention, check_smoothing_scalar
from .targets import smoothed_target_values

__all__ = [
    "GDPath",
    "logistic_gd",
    "binary_ls_logistic_loss",
    "max_margin_direction_2d",
    "template_plane_basis",
    "template_plane_projection",
    "cluster_tightness",
    "centroid_distances",
    "wrong_class_gaps",
    "margin_spread",
]


def _as_numpy(a, name: str, *, dtype=float) -> np.ndarray:
    """Torch tensors (detached, on CPU) and array-likes -> a NumPy array."""
    if hasattr(a, "detach"):
        a = a.detach().cpu().numpy()
    try:
        return np.asarray(a, dtype=dtype)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be an array or tensor of numbers") from None


def _signed_labels(y, n: int) -> np.ndarray:
    """Labels in {0, 1} or {-1, +1} -> float array of signs."""
    y = _as_numpy(y, "y")
    if y.shape != (n,):
        raise ValueError(f"y must have shape ({n},) to match x, got {y.shape}")
    vals = set(np.unique(y).tolist())
    if vals <= {0.0, 1.0}:
        return np.where(y > 0, 1.0, -1.0)
    if vals <= {-1.0, 1.0}:
        return y.astype(float)
    raise ValueError(
        f"y must hold binary labels in {{0, 1}} or {{-1, +1}}, got values {sorted(vals)}"
    )


def _signed_points(x, y) -> np.ndarray:
    """Rows ``y_i x_i`` (y in {-1, +1}): the margin of ``w`` on point i is ``a_i . w``."""
    x = _as_numpy(x, "x")
    if x.ndim != 2 or x.shape[0] == 0:
        raise ValueError(f"x must have shape (n, d) with n >= 1, got {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError("x must be finite")
    return x * _signed_labels(y, x.shape[0])[:, None]


def binary_ls_logistic_loss(margins, alpha: float = 0.0, convention: str = "uniform"):
    """Label-smoothed logistic loss as a function of the margin ``m = y w.x``.

    Two classes, the true one with smoothed target ``c = y_true`` (``1 - alpha/2``
    in the uniform convention, ``1 - eps`` off-target):
    ``l(m) = -c log sigmoid(m) - (1 - c) log sigmoid(-m)``,
    which is the LS cross-entropy of the two logits ``(m, 0)`` with the true
    class first.  Minimised at ``m = log(c / (1 - c))``, i.e.
    ``optimal_logit_gap(alpha, 2, convention)``.

    Example:
        >>> round(float(binary_ls_logistic_loss(0.0)), 4)   # log 2
        0.6931
    """
    check_convention(convention)
    check_smoothing_scalar(alpha, "alpha")
    c = smoothed_target_values(alpha, 2, convention)[0]
    m = np.asarray(margins, dtype=float)
    # -log sigmoid(m) = logaddexp(0, -m), computed stably.
    return c * np.logaddexp(0.0, -m) + (1.0 - c) * np.logaddexp(0.0, m)


@dataclass(frozen=True)
class GDPath:
    """Gradient-descent iterates recorded at ``steps`` (``weights[i]`` after ``steps[i]`` steps)."""

    steps: np.ndarray
    weights: np.ndarray

    @property
    def norms(self) -> np.ndarray:
        """Euclidean norm of the weights at each recorded step."""
        return np.linalg.norm(self.weights, axis=1)

    @property
    def directions(self) -> np.ndarray:
        """Unit vectors ``w / ||w||`` (rows of zeros where ``w = 0``)."""
        n = self.norms[:, None]
        return np.divide(self.weights, n, out=np.zeros_like(self.weights), where=n > 0)


def logistic_gd(
    x,
    y,
    *,
    steps: int,
    alpha: float = 0.0,
    convention: str = "uniform",
    lr: float = 1.0,
    record_at=None,
    w0=None,
) -> GDPath:
    """Full-batch gradient descent on the mean LS logistic loss of ``w -> w . x`` (no bias).

    Minimises ``L(w) = mean_i l(y_i w . x_i)`` with ``l`` from
    :func:`binary_ls_logistic_loss`; ``alpha = 0`` is the plain logistic loss.
    The gradient is ``mean_i (sigmoid(m_i) - c) y_i x_i`` with ``c = y_true``,
    so one step costs two small matrix-vector products and one ``expit``
    (a few microseconds for 100 points in 2-D: 10^6 steps take seconds).

    Args:
        x: points, shape ``(n, d)``.
        y: labels in ``{0, 1}`` or ``{-1, +1}``, shape ``(n,)``.
        steps: number of gradient steps (>= 0).
        alpha, convention: label smoothing of the two-class targets.
        lr: step size (> 0).
        record_at: step counts at which to record ``w`` (each in ``[0, steps]``);
            default: every power of ten and ``steps``.
        w0: starting point (default zeros).

    Returns:
        :class:`GDPath` with the sorted unique recorded ``steps`` and ``weights``.

    Example:
        >>> import numpy as np
        >>> path = logistic_gd(np.array([[1.0, 0.0], [-1.0, 0.0]]), np.array([1, 0]), steps=10)
        >>> path.steps.tolist()
        [0, 1, 10]
    """
    expit = require("scipy.special", "logistic_gd").expit

    a_pts = _signed_points(x, y)
    n, d = a_pts.shape
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 0:
        raise ValueError(f"steps must be a non-negative integer, got {steps!r}")
    if not (np.isfinite(lr) and lr > 0):
        raise ValueError(f"lr must be a positive finite number, got {lr!r}")
    check_convention(convention)
    check_smoothing_scalar(alpha, "alpha")
    c = smoothed_target_values(alpha, 2, convention)[0]
    if record_at is None:
        record_at = [10**k for k in range(int(np.log10(max(steps, 1))) + 1)] + [
            0,
            steps,
        ]
    rec = np.unique(np.asarray(record_at, dtype=np.int64))
    if rec.size and (rec[0] < 0 or rec[-1] > steps):
        raise ValueError(f"record_at values must lie in [0, steps] = [0, {steps}]")
    w = np.zeros(d) if w0 is None else _as_numpy(w0, "w0").copy()
    if w.shape != (d,):
        raise ValueError(f"w0 must have shape ({d},), got {w.shape}")

    # grad = At @ sigmoid(A w) - c * At @ 1, with At = A^T / n (scaled by lr).
    at_scaled = np.ascontiguousarray(a_pts.T) * (lr / n)
    shift = c * at_scaled.sum(axis=1)
    m = np.empty(n)
    g = np.empty(d)
    out = np.empty((rec.size, d))
    done = 0
    for i, target in enumerate(rec):
        for _ in range(int(target) - done):
            np.dot(a_pts, w, out=m)
            expit(m, out=m)
            np.dot(at_scaled, m, out=g)
            w -= g
            w += shift
        done = int(target)
        out[i] = w
    return GDPath(steps=rec, weights=out)


def max_margin_direction_2d(x, y):
    """Max-margin (hard-margin SVM, no bias) unit direction of separable 2-D data.

    Maximises ``gamma(u) = min_i y_i u . x_i`` over unit vectors ``u``.  Writing
    ``a_i = y_i x_i``, each ``a_i . u(theta)`` is a sinusoid in the angle, and the
    maximum of their lower envelope is either at the peak of one of them
    (``u = a_i / |a_i|``) or where two of them cross (``u`` orthogonal to
    ``a_i - a_j``).  All those candidates are checked: the answer is exact,
    not a grid search.

    Returns:
        ``(u, gamma)``: the unit direction (shape ``(2,)``) and the margin.
        ``1 / gamma`` is the norm of the SVM solution ``min ||w|| s.t. y_i w.x_i >= 1``,
        and so the rate ``||w_t|| ~ (1 / gamma) log t`` of Soudry et al. (2018).

    Raises:
        ValueError: if ``x`` is not ``(n, 2)`` or the data are not
            separable by a line through the origin.

    Example:
        >>> x = np.array([[1.0, 0.0], [2.0, 1.0], [-1.0, 0.5]])
        >>> u, gamma = max_margin_direction_2d(x, np.array([1, 1, 0]))
        >>> u.round(4).tolist(), round(gamma, 4)
        ([1.0, 0.0], 1.0)
    """
    a_pts = _signed_points(x, y)
    if a_pts.shape[1] != 2:
        raise ValueError(f"x must have shape (n, 2), got {a_pts.shape}")
    norms = np.linalg.norm(a_pts, axis=1)
    if (norms == 0).any():
        raise ValueError(
            "x has a point at the origin: no line through the origin separates it"
        )
    cands = [a_pts / norms[:, None]]
    i, j = np.triu_indices(len(a_pts), k=1)
    diff = a_pts[i] - a_pts[j]
    perp = np.stack([-diff[:, 1], diff[:, 0]], axis=1)
    pn = np.linalg.norm(perp, axis=1)
    perp = perp[pn > 0] / pn[pn > 0, None]
    cands += [perp, -perp]
    u_all = np.concatenate(cands)
    margins = (u_all @ a_pts.T).min(axis=1)
    best = int(np.argmax(margins))
    gamma = float(margins[best])
    if gamma <= 0:
        raise ValueError("the data are not separable by a line through the origin")
    return u_all[best], gamma


def template_plane_basis(weights, classes) -> np.ndarray:
    """Orthonormal basis (columns, shape ``(D, 2)``) of ``span(w_b - w_a, w_c - w_a)``.

    ``weights`` is the last layer's weight matrix, shape ``(K, D)`` (row ``k`` is
    the template of class ``k``); ``classes = (a, b, c)`` are three distinct rows.
    Gram-Schmidt: the first axis points from template ``a`` to template ``b``;
    the second is the component of ``w_c - w_a`` orthogonal to it (so template
    ``c`` has a positive second coordinate).
    """
    w = _as_numpy(weights, "weights")
    if w.ndim != 2:
        raise ValueError(f"weights must have shape (K, D), got {w.shape}")
    cls = [int(k) for k in classes]
    if len(cls) != 3 or len(set(cls)) != 3:
        raise ValueError(
            f"classes must be three distinct class indices, got {list(classes)}"
        )
    if min(cls) < 0 or max(cls) >= w.shape[0]:
        raise ValueError(f"classes must lie in [0, K) = [0, {w.shape[0]}), got {cls}")
    a, b, c = (w[k] for k in cls)
    e1 = b - a
    n1 = np.linalg.norm(e1)
    if n1 == 0:
        raise ValueError("templates a and b coincide: the plane is not defined")
    e1 = e1 / n1
    e2 = (c - a) - ((c - a) @ e1) * e1
    n2 = np.linalg.norm(e2)
    if n2 <= 1e-12 * max(n1, 1.0):
        raise ValueError("the three templates are collinear: the plane is not defined")
    return np.stack([e1, e2 / n2], axis=1)


def template_plane_projection(features, weights, classes) -> np.ndarray:
    """2-D coordinates of ``features`` (shape ``(N, D)``) in the plane of three class templates.

    The coordinates are ``(h - w_a) @ Q`` with ``Q = template_plane_basis(weights, classes)``:
    the orthogonal projection of each activation ``h`` onto the affine plane
    through the templates ``w_a, w_b, w_c``, with ``w_a`` at the origin.  (The
    picture of Mueller, Kornblith & Hinton 2019.)  Template ``k`` itself lands at
    ``(w_k - w_a) @ Q``.

    Example:
        >>> W = np.eye(3, 4)                        # templates e_0, e_1, e_2 in R^4
        >>> xy = template_plane_projection(np.eye(4)[:2], W, (0, 1, 2))
        >>> np.round(np.linalg.norm(xy, axis=1), 4)  # h = w_0 sits at the origin
        array([0.    , 1.4142])
    """
    q = template_plane_basis(weights, classes)
    h = _as_numpy(features, "features")
    if h.ndim != 2 or h.shape[1] != q.shape[0]:
        raise ValueError(f"features must have shape (N, {q.shape[0]}), got {h.shape}")
    origin = _as_numpy(weights, "weights")[int(list(classes)[0])]
    return (h - origin) @ q


def _class_groups(coords, labels):
    c = _as_numpy(coords, "coords")
    lab = _as_numpy(labels, "labels", dtype=np.int64)
    if c.ndim != 2 or lab.shape != (c.shape[0],):
        raise ValueError(
            f"coords must be (N, d) and labels (N,), got {c.shape} and {lab.shape}"
        )
    classes = np.unique(lab)
    if classes.size < 2:
        raise ValueError("labels must contain at least two classes")
    return c, lab, classes


def centroid_distances(coords, labels) -> np.ndarray:
    """Pairwise Euclidean distances between class centroids.

    Condensed, in the ``i < j`` order of the sorted labels.
    """
    c, lab, classes = _class_groups(coords, labels)
    cents = np.stack([c[lab == k].mean(axis=0) for k in classes])
    i, j = np.triu_indices(len(classes), k=1)
    return np.linalg.norm(cents[i] - cents[j], axis=1)


def cluster_tightness(coords, labels) -> float:
    """Within-class spread relative to the distance between class centroids.

    ``mean_k rms_k / mean_{k<l} |mu_k - mu_l|``, where ``rms_k`` is the root mean
    squared distance of class ``k``'s points to their centroid ``mu_k``.
    Scale-free (multiplying every coordinate by a constant leaves it unchanged);
    smaller means tighter, better separated clusters.

    Example:
        >>> pts = np.array([[0.0, 0.0], [0.2, 0.0], [4.0, 0.0], [4.2, 0.0]])
        >>> round(cluster_tightness(pts, np.array([0, 0, 1, 1])), 4)  # rms 0.1 / distance 4
        0.025
    """
    c, lab, classes = _class_groups(coords, labels)
    spreads = []
    for k in classes:
        pts = c[lab == k]
        spreads.append(np.sqrt(((pts - pts.mean(axis=0)) ** 2).sum(axis=1).mean()))
    return float(np.mean(spreads) / centroid_distances(c, lab).mean())


def wrong_class_gaps(logits, labels) -> np.ndarray:
    """Gaps ``z_t - z_k`` to every wrong class ``k != t``: shape ``(N, K - 1)``.

    Example:
        >>> wrong_class_gaps(np.array([[3.0, 1.0, 0.0]]), np.array([0]))
        array([[2., 3.]])
    """
    z = _as_numpy(logits, "logits")
    t = _as_numpy(labels, "labels", dtype=np.int64)
    if z.ndim != 2 or z.shape[1] < 2 or t.shape != (z.shape[0],):
        raise ValueError(
            f"logits must be (N, K) with K >= 2 and labels (N,), got {z.shape} and {t.shape}"
        )
    if t.size and (t.min() < 0 or t.max() >= z.shape[1]):
        raise ValueError(f"labels must lie in [0, K) = [0, {z.shape[1]})")
    rows = np.arange(len(t))
    gaps = z[rows, t][:, None] - z
    keep = np.ones_like(gaps, dtype=bool)
    keep[rows, t] = False
    return gaps[keep].reshape(len(t), z.shape[1] - 1)


def margin_spread(logits, labels) -> np.ndarray:
    """Per-example variance across the wrong classes of the gaps ``z_t - z_k`` (shape ``(N,)``).

    Zero exactly when every wrong class sits at the same gap, as at the
    minimiser of the LS loss.

    Example:
        >>> margin_spread(np.array([[3.0, 1.0, 0.0], [2.0, 0.0, 0.0]]), np.array([0, 0]))
        array([0.25, 0.  ])
    """
    return wrong_class_gaps(logits, labels).var(axis=1)
