"""gradcheck: verify backpropagation against central differences.

The numerical side is exact and fast (:mod:`gradcheck.engine`), every
numerical entry carries its own error estimate (:mod:`gradcheck.stencil`),
verdicts follow a documented tolerance model (:mod:`gradcheck.compare`)
and results are data (:mod:`gradcheck.results`) rendered by
:mod:`gradcheck.report`.  Models are declared with the layer
vocabulary :mod:`gradcheck.nn` (``nn.Sequential(nn.Dense("W1", "b1"),
nn.Tanh(), ..., loss=nn.MSE())``) and checked with :func:`check_model`.
"""
from __future__ import annotations

from gradcheck import nn
from gradcheck.check import (
    assert_gradients_close,
    assert_model_gradients,
    check_gradients,
    check_model,
)
from gradcheck.compare import Tolerance, relative_error
from gradcheck.directional import miss_probability
from gradcheck.engine import estimate_gradients
from gradcheck.errors import GradcheckError, GradcheckTypeError, GradcheckValueError
from gradcheck.estimate import NumericGradient
from gradcheck.guards import GradcheckPrecisionWarning
from gradcheck.parallel import GradcheckWorkerWarning
from gradcheck.layer import assert_layer_gradients, check_layer
from gradcheck.net import assert_net_gradients, check_net
from gradcheck.numeric import default_step, estimate_function_gradient, numerical_gradient
from gradcheck.report import format_result, to_dict, to_json
from gradcheck.results import CheckResult, EntryReport, FastGuarantee, ParamCheck

__all__ = [
    "CheckResult",
    "EntryReport",
    "FastGuarantee",
    "GradcheckError",
    "GradcheckTypeError",
    "GradcheckValueError",
    "GradcheckPrecisionWarning",
    "GradcheckWorkerWarning",
    "NumericGradient",
    "ParamCheck",
    "Tolerance",
    "assert_gradients_close",
    "assert_layer_gradients",
    "assert_model_gradients",
    "assert_net_gradients",
    "check_gradients",
    "check_layer",
    "check_model",
    "check_net",
    "default_step",
    "estimate_function_gradient",
    "estimate_gradients",
    "format_result",
    "miss_probability",
    "nn",
    "numerical_gradient",
    "relative_error",
    "to_dict",
    "to_json",
]
__version__ = "0.1.0"
