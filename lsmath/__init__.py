"""lsmath: the label-smoothing mathematics of *Label Smoothing, Derived and Tested*.

Small, tested functions for the smoothed targets in both conventions, the
label-smoothed cross-entropy (equal to PyTorch's), its gradient, and the closed
forms the book derives.

Example:
    >>> import torch, lsmath
    >>> z = torch.tensor([[3.3322, 0.0, 0.0]])
    >>> lsmath.ls_gradient(z, torch.tensor([0]), 0.1).abs().max() < 1e-4
    tensor(True)
"""

from .calibration import (
    brier_score,
    calibration_bins,
    calibration_metrics,
    expected_calibration_error,
    fit_temperature,
    negative_log_likelihood,
    reliability_diagram,
    temperature_nll,
)
from .chunked import ls_linear_cross_entropy
from .closed_forms import lipschitz_constant, optimal_logit_gap
from .geometry import (
    cluster_tightness,
    logistic_gd,
    margin_spread,
    max_margin_direction_2d,
    template_plane_projection,
    wrong_class_gaps,
)
from .frameworks import sequence_ls_loss, target_masses
from .distillation import distillation_gradient, distillation_loss
from .dynamics import (
    cross_entropy_gradient,
    gradient_component_bounds,
    logit_gradient_norms,
    one_hot_prediction_gradient,
    restoring_force_norm,
    softmax_hessian,
    stationary_logits,
    uniform_prediction_factor,
)
from .losses import ls_cross_entropy, ls_gradient
from .stability import (
    constant_predictor,
    fit_softmax_regression,
    flip_label,
    label_flip_weight_bound,
    symmetric_label_noise,
    tabular_predictor,
    uniform_stability_bound,
)
from .targets import alpha_from_eps, eps_from_alpha, smooth_targets, smoothed_target_values

__version__ = "0.1.0"

__all__ = [
    "distillation_gradient",
    "distillation_loss",
    "brier_score",
    "calibration_bins",
    "calibration_metrics",
    "expected_calibration_error",
    "fit_temperature",
    "negative_log_likelihood",
    "reliability_diagram",
    "temperature_nll",
    "alpha_from_eps",
    "eps_from_alpha",
    "lipschitz_constant",
    "ls_cross_entropy",
    "ls_linear_cross_entropy",
    "ls_gradient",
    "optimal_logit_gap",
    "sequence_ls_loss",
    "smooth_targets",
    "smoothed_target_values",
    "target_masses",
    "cluster_tightness",
    "logistic_gd",
    "margin_spread",
    "max_margin_direction_2d",
    "template_plane_projection",
    "wrong_class_gaps",
    "cross_entropy_gradient",
    "gradient_component_bounds",
    "logit_gradient_norms",
    "one_hot_prediction_gradient",
    "restoring_force_norm",
    "softmax_hessian",
    "stationary_logits",
    "uniform_prediction_factor",
    "constant_predictor",
    "fit_softmax_regression",
    "flip_label",
    "label_flip_weight_bound",
    "symmetric_label_noise",
    "tabular_predictor",
    "uniform_stability_bound",
]
