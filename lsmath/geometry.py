r"""Geometry of label smoothing: margins, max-margin directions, penultimate-layer pictures.

Helpers for chapter 3 ("Finite-margin geometry"):

* :func:`logistic_gd`: full-batch gradient descent on the mean
  (label-smoothed) logistic loss of a linear model without bias, fast enough
  for :math:`10^6` steps, recording the weights on a chosen (e.g. log-spaced)
  schedule of steps.
* :func:`max_margin_direction_2d`: the hard-margin SVM direction through the
  origin of separable 2-D data, found exactly by checking every candidate
  angle where the smallest margin can peak.
* :func:`template_plane_basis` / :func:`template_plane_projection`: the
  picture of Müller, Kornblith and Hinton (2019): coordinates of
  penultimate-layer activations in an orthonormal basis of the plane through
  three class templates (rows of the last layer's weight matrix).
* :func:`cluster_tightness`, :func:`centroid_distances`: how tight the class
  clusters are relative to the distances between their centroids.
* :func:`wrong_class_gaps`, :func:`margin_spread`: the gaps
  :math:`z_t - z_k` to every wrong class and their variance across the wrong
  classes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._optional import require
from ._validation import check_convention, check_smoothing_scalar, to_numpy
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
    """Torch tensors (detached, on CPU) and array-likes -> a NumPy array of ``dtype``."""
    try:
        return to_numpy(a, name).astype(dtype)
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
    r"""Label-smoothed logistic loss as a function of the margin :math:`m = y\, w^\top x`.

    Two classes, the true one with smoothed target :math:`c = y^{\mathrm{LS}}_t`
    (:math:`1 - \alpha/2` in the uniform convention, :math:`1 - \varepsilon`
    off-target):

    .. math::

        \ell(m) = -c \log\sigma(m) - (1 - c)\log\sigma(-m),

    the LS cross-entropy of the two logits :math:`(m, 0)` with the true class
    first. Minimised at :math:`m = \log\frac{c}{1-c}`, the
    :func:`lsmath.closed_forms.optimal_logit_gap` for :math:`K = 2`.

    Args:
        margins: :math:`m`, a scalar or an array of margins.
        alpha: smoothing :math:`\alpha` (or :math:`\varepsilon` when
            ``convention="off_target"``), a scalar in :math:`[0, 1]`.
        convention: ``"uniform"`` or ``"off_target"``.

    Returns:
        :math:`\ell(m)`, an array of the shape of ``margins``.

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
    """Gradient-descent iterates recorded at ``steps``.

    Attributes:
        steps: the recorded step counts, shape ``(R,)``, sorted.
        weights: the weights after each recorded step, shape ``(R, d)``
            (``weights[i]`` after ``steps[i]`` steps).
    """

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
    r"""Full-batch gradient descent on the mean LS logistic loss of a linear model.

    Minimises :math:`L(w) = \frac1n \sum_i \ell(y_i\, w^\top x_i)` (no bias)
    with :math:`\ell` from :func:`binary_ls_logistic_loss`; :math:`\alpha = 0`
    is the plain logistic loss. The gradient is
    :math:`\frac1n \sum_i (\sigma(m_i) - c)\, y_i x_i` with
    :math:`c = y^{\mathrm{LS}}_t`, so one step costs two small matrix-vector
    products and one ``expit`` (a few microseconds for 100 points in 2-D:
    :math:`10^6` steps take seconds).

    Args:
        x: points, shape ``(n, d)``.
        y: labels in :math:`\{0, 1\}` or :math:`\{-1, +1\}`, shape ``(n,)``.
        steps: number of gradient steps (an integer :math:`\ge 0`).
        alpha: smoothing of the two-class targets, :math:`\alpha` (or
            :math:`\varepsilon`).
        convention: ``"uniform"`` or ``"off_target"``.
        lr: step size :math:`\eta > 0`.
        record_at: step counts at which to record :math:`w` (each in
            ``[0, steps]``); default: every power of ten and ``steps``.
        w0: starting point, shape ``(d,)`` (default zeros).

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
    r"""Max-margin (hard-margin SVM, no bias) unit direction of separable 2-D data.

    Maximises :math:`\gamma(u) = \min_i y_i\, u^\top x_i` over unit vectors
    :math:`u`. Writing :math:`a_i = y_i x_i`, each :math:`a_i^\top u(\theta)` is
    a sinusoid in the angle :math:`\theta`, and the maximum of their lower
    envelope is either at the peak of one of them
    (:math:`u = a_i / \lVert a_i \rVert`) or where two of them cross
    (:math:`u \perp a_i - a_j`). All those candidates are checked: the answer
    is exact, not a grid search.

    Args:
        x: points, shape ``(n, 2)``.
        y: labels in :math:`\{0, 1\}` or :math:`\{-1, +1\}`, shape ``(n,)``.

    Returns:
        ``(u, gamma)``: the unit direction (shape ``(2,)``) and the margin
        :math:`\gamma`. :math:`1/\gamma` is the norm of the SVM solution
        :math:`\min \lVert w \rVert` subject to :math:`y_i\, w^\top x_i \ge 1`,
        and so sets the rate :math:`\lVert w_t \rVert \sim \gamma^{-1} \log t`
        of Soudry et al. (2018).

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
    r"""Orthonormal basis of the plane through three class templates.

    The columns span :math:`\operatorname{span}(w_b - w_a,\ w_c - w_a)`, by
    Gram-Schmidt: the first axis points from template :math:`a` to template
    :math:`b`; the second is the component of :math:`w_c - w_a` orthogonal to
    it (so template :math:`c` has a positive second coordinate).

    Args:
        weights: the last layer's weight matrix, shape ``(K, D)``; row
            :math:`k` is the template :math:`w_k` of class :math:`k`.
        classes: three distinct class indices ``(a, b, c)``.

    Returns:
        ``(D, 2)`` NumPy array with orthonormal columns.

    Example:
        >>> template_plane_basis(np.eye(3), (0, 1, 2)).shape
        (3, 2)
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
    n1 = float(np.linalg.norm(e1))
    if n1 == 0:
        raise ValueError("templates a and b coincide: the plane is not defined")
    e1 = e1 / n1
    e2 = (c - a) - ((c - a) @ e1) * e1
    n2 = np.linalg.norm(e2)
    if n2 <= 1e-12 * max(n1, 1.0):
        raise ValueError("the three templates are collinear: the plane is not defined")
    return np.stack([e1, e2 / n2], axis=1)


def template_plane_projection(features, weights, classes) -> np.ndarray:
    r"""2-D coordinates of penultimate-layer features in the plane of three templates.

    The coordinates are :math:`(h - w_a)^\top Q` with
    :math:`Q` = :func:`template_plane_basis` ``(weights, classes)``: the
    orthogonal projection of each activation :math:`h` onto the affine plane
    through the templates :math:`w_a, w_b, w_c`, with :math:`w_a` at the origin
    (the picture of Müller, Kornblith and Hinton, 2019). Template :math:`k`
    itself lands at :math:`(w_k - w_a)^\top Q`.

    Args:
        features: activations :math:`h`, shape ``(N, D)``.
        weights: the last layer's weight matrix, shape ``(K, D)``.
        classes: three distinct class indices ``(a, b, c)``.

    Returns:
        ``(N, 2)`` NumPy array of coordinates.

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
    r"""Pairwise Euclidean distances between class centroids.

    :math:`\lVert \mu_k - \mu_l \rVert_2` for every pair of classes
    :math:`k < l`, condensed, in the order of the sorted labels.

    Args:
        coords: points, shape ``(N, d)``.
        labels: their classes, shape ``(N,)``, at least two distinct values.

    Returns:
        NumPy array of length :math:`C(C-1)/2` for :math:`C` classes.

    Example:
        >>> centroid_distances(np.array([[0.0, 0.0], [3.0, 4.0]]), np.array([0, 1]))
        array([5.])
    """
    c, lab, classes = _class_groups(coords, labels)
    cents = np.stack([c[lab == k].mean(axis=0) for k in classes])
    i, j = np.triu_indices(len(classes), k=1)
    return np.linalg.norm(cents[i] - cents[j], axis=1)


def cluster_tightness(coords, labels) -> float:
    r"""Within-class spread relative to the distance between class centroids.

    .. math::

        \frac{\operatorname{mean}_k \operatorname{rms}_k}
             {\operatorname{mean}_{k<l} \lVert \mu_k - \mu_l \rVert_2},

    where :math:`\operatorname{rms}_k` is the root mean squared distance of
    class :math:`k`'s points to their centroid :math:`\mu_k`. Scale-free
    (multiplying every coordinate by a constant leaves it unchanged); smaller
    means tighter, better separated clusters.

    Args:
        coords: points, shape ``(N, d)``.
        labels: their classes, shape ``(N,)``, at least two distinct values.

    Returns:
        The ratio, a float.

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
    r"""Gaps :math:`z_t - z_k` to every wrong class :math:`k \ne t`.

    Args:
        logits: :math:`z`, shape ``(N, K)`` with :math:`K \ge 2`.
        labels: true classes :math:`t`, shape ``(N,)``, in :math:`[0, K)`.

    Returns:
        NumPy array of shape ``(N, K - 1)``, the wrong classes in index order.

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
    r"""Per-example variance of the gaps :math:`z_t - z_k` across the wrong classes.

    Zero exactly when every wrong class sits at the same gap, as at the
    minimiser of the LS loss.

    Args:
        logits: :math:`z`, shape ``(N, K)`` with :math:`K \ge 2`.
        labels: true classes :math:`t`, shape ``(N,)``, in :math:`[0, K)`.

    Returns:
        NumPy array of shape ``(N,)``.

    Example:
        >>> margin_spread(np.array([[3.0, 1.0, 0.0], [2.0, 0.0, 0.0]]), np.array([0, 0]))
        array([0.25, 0.  ])
    """
    return wrong_class_gaps(logits, labels).var(axis=1)
