"""Full-size regressions: correct gradients of the notebook's MNIST network at batch 256.

At this size a random batch puts hundreds of pre-activations within a
step of a ReLU kink; fast-mode probes cross several at once.  Before the
kink handling of the directional check, seeds 0-3 failed in fast mode.
"""
from __future__ import annotations

import numpy as np
import pytest

import reference_models
from gradcheck import check_model


@pytest.fixture(scope="module")
def mnist_point():
    model = reference_models.get("mnist_relu")
    rng = np.random.default_rng(0)
    params = model.init_params(rng)
    x, y = model.example_batch(rng, 256)
    return model, params, x, y


@pytest.mark.parametrize("seed", range(4))
def test_fast_mode_passes_the_correct_backward_at_batch_256(mnist_point, seed):
    model, params, x, y = mnist_point
    result = check_model(model, params, x, y, mode="fast", seed=seed)
    assert result.passed, result


def test_full_mode_passes_at_batch_256_and_judges_kinks(mnist_point):
    model, params, x, y = mnist_point
    result = check_model(model, params, x, y, mode="full")
    assert result.passed
    # hundreds of entries' stencils straddle a ReLU kink at this batch size: measured again at a
    # 16x smaller step (gradcheck.numeric.refine_kinks), they keep their kink flag and bracket
    from gradcheck.engine import estimate_gradients
    from gradcheck.numeric import KINK_REFINE, default_step

    assert result["W1"].n_kinks > 100
    est = estimate_gradients(model, params, x, y, names=["W1"])["W1"]
    refined = np.isclose(est.step, KINK_REFINE * default_step(params["W1"]))
    assert np.count_nonzero(refined) > 100 and np.all(est.kink[refined])
    wrong = model.backward(params, x, y)
    wrong["W1"][5, 7] *= 1.001
    bad = check_model(model, params, x, y, mode="full", grads=wrong)
    assert bad["W1"].failed_indices == ((5, 7),) and bad["W2"].passed


def test_no_kink_where_the_loss_is_subnormal():
    # found by hypothesis: a product of tiny numbers is ~1e-310, where float64 spacing is
    # 4.9e-324 absolute, so a round-off model of 16 eps |f| (~1e-325) rounded to zero
    from gradcheck import estimate_function_gradient

    w = np.array([7.8125e-3, 1.22288918e-120, 6.17073639e-188])
    est = estimate_function_gradient(lambda q: float(np.prod(q["w"])), {"w": w})["w"]
    assert not est.kink.any()
    exact = np.array([w[1] * w[2], w[0] * w[2], w[0] * w[1]])
    assert np.all(np.abs(est.value - exact) <= est.error)
