"""``gradcheck.logeps``: the epsilon-inside-the-log reading stays quiet where the loss overflows ``exp``."""
from __future__ import annotations

import warnings

import numpy as np

from gradcheck.logeps import log_epsilon_fits
from gradcheck.estimate import NumericGradient


def test_a_loss_too_large_for_exp_is_no_fit_and_no_warning() -> None:
    # rt21 F12 / CI's warnings summary: exp(800) overflowed and numpy's RuntimeWarning reached the user's test output
    z = np.zeros(2)
    n = {"w": NumericGradient("w", z, z, z + 1e-5, z, z, np.zeros(2, dtype=bool))}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert log_epsilon_fits(1e-7, np.array([800.0, 1.0]), [{"w": z}, {"w": z}], {"w": z}, n) is False
