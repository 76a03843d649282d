"""lsmath: the label-smoothing mathematics of *Label Smoothing, Derived and Tested*.

Small, tested functions: smoothed targets in both conventions (``targets``),
the label-smoothed cross-entropy equal to PyTorch's and its gradient
(``losses``), a memory-lean large-vocabulary version (``chunked``), the closed
forms the book derives (``closed_forms``), and the helpers of each chapter:
``dynamics`` (2), ``geometry`` (3), ``calibration`` (4), ``stability`` (5),
``distillation`` (6), ``frameworks`` (7), ``priors`` (8), ``robustness`` (9),
``applications`` (10). ``lsmath.symbolic`` holds the SymPy definitions and
``lsmath.minimize`` the numerical minimiser that checks closed forms;
``lsmath.data`` and ``lsmath.training`` the datasets and tiny training loops of
the experiments, ``lsmath.replicates`` the conclusions over seeds, and
``lsmath.notebook`` the ``glue`` that puts computed numbers into the prose.

Example:
    >>> import torch, lsmath
    >>> z = torch.tensor([[3.3322, 0.0, 0.0]])
    >>> lsmath.ls_gradient(z, torch.tensor([0]), 0.1).abs().max() < 1e-4
    tensor(True)
"""

from .applications import (
    optimal_discriminator,
    optimal_preference_margin,
    smoothed_discriminator_loss,
    smoothed_dpo_loss,
)
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
from .closed_forms import (
    lipschitz_constant,
    optimal_logit_gap,
)
from .distillation import (
    distillation_gradient,
    distillation_loss,
)
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
from .frameworks import (
    sequence_ls_loss,
    target_masses,
)
from .geometry import (
    cluster_tightness,
    logistic_gd,
    margin_spread,
    max_margin_direction_2d,
    template_plane_projection,
    wrong_class_gaps,
)
from .losses import (
    ls_cross_entropy,
    ls_gradient,
)
from .nn import LabelSmoothingCrossEntropy
from .priors import (
    OnlineLabelSmoothing,
    disturb_label_alpha,
    disturb_label_variance,
    disturb_labels,
    prior_from_confusion,
    prior_from_groups,
    prior_optimal_logit_gaps,
    prior_targets,
)
from .robustness import (
    aurc,
    class_separation,
    confidence_auroc,
    corrupt_inputs,
    fgsm,
    inactive_unit_fraction,
    input_gradient,
    layer_gradient_norms,
    linear_probe_accuracy,
    margin_loss,
    pgd,
    risk_coverage_curve,
)
from .stability import (
    constant_predictor,
    fit_softmax_regression,
    flip_label,
    label_flip_weight_bound,
    symmetric_label_noise,
    tabular_predictor,
    uniform_stability_bound,
)
from .targets import (
    alpha_from_eps,
    eps_from_alpha,
    smooth_targets,
    smoothed_target_values,
)

__version__ = "0.1.0"

__all__ = [
    "LabelSmoothingCrossEntropy",
    "OnlineLabelSmoothing",
    "alpha_from_eps",
    "aurc",
    "brier_score",
    "calibration_bins",
    "calibration_metrics",
    "class_separation",
    "cluster_tightness",
    "confidence_auroc",
    "constant_predictor",
    "corrupt_inputs",
    "cross_entropy_gradient",
    "distillation_gradient",
    "distillation_loss",
    "disturb_label_alpha",
    "disturb_label_variance",
    "disturb_labels",
    "eps_from_alpha",
    "expected_calibration_error",
    "fgsm",
    "fit_softmax_regression",
    "fit_temperature",
    "flip_label",
    "gradient_component_bounds",
    "inactive_unit_fraction",
    "input_gradient",
    "label_flip_weight_bound",
    "layer_gradient_norms",
    "linear_probe_accuracy",
    "lipschitz_constant",
    "logistic_gd",
    "logit_gradient_norms",
    "ls_cross_entropy",
    "ls_gradient",
    "ls_linear_cross_entropy",
    "margin_loss",
    "margin_spread",
    "max_margin_direction_2d",
    "negative_log_likelihood",
    "one_hot_prediction_gradient",
    "optimal_discriminator",
    "optimal_logit_gap",
    "optimal_preference_margin",
    "prior_from_confusion",
    "prior_from_groups",
    "prior_optimal_logit_gaps",
    "prior_targets",
    "pgd",
    "reliability_diagram",
    "restoring_force_norm",
    "risk_coverage_curve",
    "sequence_ls_loss",
    "smooth_targets",
    "smoothed_discriminator_loss",
    "smoothed_dpo_loss",
    "smoothed_target_values",
    "softmax_hessian",
    "stationary_logits",
    "symmetric_label_noise",
    "tabular_predictor",
    "target_masses",
    "temperature_nll",
    "template_plane_projection",
    "uniform_prediction_factor",
    "uniform_stability_bound",
    "wrong_class_gaps",
]
