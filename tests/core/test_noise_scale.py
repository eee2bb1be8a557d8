"""A function computed by cancellation needs its own round-off scale (``noise_scale``)."""
from __future__ import annotations

import numpy as np
import pytest

from gradcheck import check_gradients, estimate_function_gradient


def lse(q):
    return float(np.log(np.sum(np.exp(q["w"]))))


# log(sum(exp(w))) near sum == 1: the value is ~1e-6 but carries an absolute rounding
# error of ~eps (the sum is ~1), a million times eps * |f|.
W = np.array([np.log(0.5), np.log(0.5) + 1e-6])
EXACT = np.exp(W) / np.exp(W).sum()


def test_noise_scale_gives_an_honest_error_bar():
    est = estimate_function_gradient(lse, {"w": W}, noise_scale=1.0)["w"]
    assert not est.kink.any()
    assert np.all(np.abs(est.value - EXACT) <= est.error)
    # and the error bar is still tight enough to expose a wrong gradient of 1e-6 relative
    assert np.all(est.error < 1e-7)


def test_check_gradients_passes_the_exact_gradient_with_noise_scale():
    assert check_gradients(lse, {"w": EXACT}, {"w": W}, noise_scale=1.0).passed
    wrong = EXACT * (1 + 1e-5)
    assert not check_gradients(lse, {"w": wrong}, {"w": W}, noise_scale=1.0).passed


@pytest.mark.parametrize("bad, error", [(-1.0, ValueError), (float("nan"), ValueError), ("1", TypeError)])
def test_bad_noise_scale_is_named(bad, error):
    with pytest.raises(error, match="noise_scale"):
        estimate_function_gradient(lse, {"w": W}, noise_scale=bad)


def test_ecnoise_of_losses_near_the_top_of_float64_is_the_same_level_scaled_and_quiet() -> None:
    """rt21 F12: losses of ~1e300 overflowed the squared differences: RuntimeWarnings for the user, and an inf level."""
    import warnings

    from gradcheck.noise import ecnoise

    rng = np.random.default_rng(3)
    f = 1.0 + 0.25 * np.linspace(-1, 1, 9) + 1e-13 * rng.standard_normal(9)  # a line plus noise: ECnoise reads the noise
    level, flag = ecnoise(f)
    assert flag == 1 and 1e-14 < level < 1e-12
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        big_level, big_flag = ecnoise(f * 2.0**1000)  # ~1e301: a power of two, so every difference scales exactly
    assert (big_level, big_flag) == (level * 2.0**1000, 1)
