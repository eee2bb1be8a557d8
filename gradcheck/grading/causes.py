"""Causes of a constant factor, computed from the model's actual loss.

The core names a factor by its value (``2``, ``1/2``, ``N``, ``1/N`` ...)
and gives its usual cause.  Which cause is right depends on the loss: a
student whose gradient is half the exact one lost the 2 of the square when
the loss is ``mean((y - a)**2)``, but divided by 2 once too often when the
loss is ``sum((y - a)**2) / 2`` (the 004 notebook's); a gradient divided by
``N`` is wrong for a sum over samples, and divided by ``N`` twice for a
mean.  :func:`loss_facts` measures the loss at a test point (how it weighs
the samples, and whether it halves a sum of squares) and :func:`refine`
picks the cause that fits (the rule is the core's,
:func:`gradcheck.lossfacts.scale_causes`: a cause is named only when the
loss has the term it blames).

Examples
--------
>>> import reference_models
>>> m = reference_models.get("study_2layer")
>>> x, y = m.notebook_data()
>>> loss_facts(m, m.init_params(np.random.default_rng(0)), x, y)
LossFacts(reduction='sum', half=True)
>>> m = reference_models.get("xor_2layer")
>>> x, y = m.notebook_data()
>>> loss_facts(m, m.init_params(np.random.default_rng(0)), x, y)
LossFacts(reduction='mean', half=False)
"""
from __future__ import annotations

from typing import Any

import numpy as np

from gradcheck.diagnose import Diagnosis, with_loss
from gradcheck.lossfacts import LossFacts, measure_facts
from gradcheck.messages import TEMPLATES

__all__ = ["CAUSE_TEMPLATES", "LossFacts", "loss_facts", "refine"]

#: Causes that depend on the loss (the core's templates, :mod:`gradcheck.messages`).
CAUSE_TEMPLATES: dict[str, dict[str, str]] = {
    k: TEMPLATES[k] for k in ("cause.1/2.half", "cause.2.nohalf", "cause.1/N.mean", "cause.1/N.sum", "cause.N.sum")
}


def loss_facts(model: Any, params: Any, x: np.ndarray, y: np.ndarray) -> LossFacts:
    """Measure :class:`LossFacts` of ``model``'s loss at one point (the reduction needs a batch of two or more)."""
    total = float(model.loss(params, x, y))
    parts = [float(model.loss(params, x[i:i + 1], y[i:i + 1])) for i in range(len(x))]
    return measure_facts(total, parts, np.asarray(model.forward(params, x), dtype=np.float64), np.asarray(y))


def refine(diagnosis: Diagnosis, facts: LossFacts, *, lang: str = "en") -> Diagnosis:
    """``diagnosis`` with the cause of its factor chosen by ``facts`` (other diagnoses unchanged).

    >>> from gradcheck.diagnose import diagnose_parameter
    >>> r = np.array([[0.1, -0.2, 0.3]])
    >>> d = diagnose_parameter("W2", r / 2, r, batch_size=3)
    >>> refine(d, LossFacts("sum", True)).message.split(": ", 1)[1][:42]
    'it is divided by 2 once too often: the los'
    """
    return with_loss(diagnosis, facts, lang=lang)
