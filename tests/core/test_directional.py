"""Fast mode's probes (:mod:`gradcheck.directional`): what they find, where, and how often they miss."""
from __future__ import annotations

import numpy as np
import pytest

import reference_models as rm
from gradcheck.compare import Tolerance
from gradcheck.directional import check_directional, miss_probability
from gradcheck.engine import ModelEvaluator


@pytest.fixture(scope="module")
def mnist():
    model = rm.get("mnist_relu", n_in=12, hidden=7, n_out=4)
    rng = np.random.default_rng(3)
    params = model.init_params(rng)
    x, y = model.example_batch(rng, 5)
    return model, params, x, y, model.backward(params, x, y)


def _check(mnist, analytic, *, seed=0, probes=4, max_localised=16):
    model, params, x, y, _ = mnist
    ev = ModelEvaluator(model, params, x, y)
    return check_directional(ev, "W1", analytic, Tolerance(), rng=np.random.default_rng(seed), probes=probes,
                             max_localised=max_localised)


def test_the_exact_gradient_passes_every_probe(mnist):
    r = _check(mnist, mnist[4]["W1"])
    assert r.passed and r.mode == "fast" and r.n_entries == 4 and r.n_failed == 0 and r.worst == ()


def test_one_wrong_entry_is_found_and_localised_to_its_index(mnist):
    bad = mnist[4]["W1"].copy()
    bad[5, 2] += 1e-3 * max(1.0, float(np.max(np.abs(bad))))
    r = _check(mnist, bad)
    assert not r.passed and r.failed_indices == ((5, 2),)
    assert r.worst[0].index == (5, 2) and r.worst[0].analytic == bad[5, 2]


def test_an_error_a_hundred_times_the_tolerance_is_caught(mnist):
    # rtol = 1e-8 of the directional derivative: an entry off by 1e-6 of the largest
    # entry moves a probe by far more than its tolerance
    bad = mnist[4]["W1"].copy()
    bad[0, 0] += 1e-6 * float(np.max(np.abs(bad)))
    assert not _check(mnist, bad).passed


def test_localisation_stops_at_the_cap_and_says_so(mnist):
    bad = mnist[4]["W1"] + 1.0  # every entry wrong
    r = _check(mnist, bad, max_localised=3)
    assert not r.passed and len(r.failed_indices) <= 3
    assert any("stopped at the cap" in n for n in r.notes)


def test_probes_are_seeded(mnist):
    bad = mnist[4]["W1"] * 1.001
    a, b = _check(mnist, bad, seed=7), _check(mnist, bad, seed=7)
    assert a.failed_indices == b.failed_indices and a.max_abs_err == b.max_abs_err


def test_miss_probability_by_hand():
    # (sqrt(2/pi) / ratio) ** probes
    assert miss_probability(10.0, 1) == pytest.approx(0.0797884560802865)
    assert miss_probability(100.0, 2) == pytest.approx(0.0797884560802865 ** 2 / 100)
    assert miss_probability(0.5, 3) == 1.0  # an error below its tolerance is not promised to be found


def test_directions_take_every_sign_and_level_equally_often():
    from gradcheck.directional import draw_directions
    from gradcheck.results import PROBE_LEVELS

    v = draw_directions(np.random.default_rng(0), 2, np.ones(64_000))
    levels = np.asarray(PROBE_LEVELS)
    k = np.searchsorted(levels, np.abs(v).reshape(-1))
    assert np.array_equal(levels[k], np.abs(v).reshape(-1))  # every magnitude is one of the 64 levels
    counts = np.bincount(2 * k + (v.reshape(-1) < 0), minlength=128)
    # 128,000 draws over 128 (level, sign) cells: 1000 each, binomial sd about 31; 5 sd either side
    assert counts.min() >= 1000 - 5 * 31 and counts.max() <= 1000 + 5 * 31, (counts.min(), counts.max())


def test_directions_scale_by_the_entry_and_are_seeded():
    from gradcheck.directional import draw_directions
    from gradcheck.results import PROBE_LEVELS

    scale = np.array([1.0, 3.0, 1.0, 0.5])
    a = draw_directions(np.random.default_rng(4), 5, scale)
    assert np.array_equal(a, draw_directions(np.random.default_rng(4), 5, scale))
    assert np.all(np.isin(np.abs(a) / scale, PROBE_LEVELS))
