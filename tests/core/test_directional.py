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


def test_unit_directions_read_one_byte_per_entry_as_documented():
    """Bit 7 the sign, bits 0-5 the level k: +(64.5 + k)/128 for a clear bit 7, -(127.5 - k)/128 for a set one
    (the int8 view of the documented byte); the rank-one probes' u and w, and draw_directions times its scale."""
    from gradcheck.directional import _unit_directions, draw_directions

    raw = np.frombuffer(np.random.default_rng(7).bytes(3 * 50), dtype=np.uint8).reshape(3, 50).astype(int)
    k = raw & 63
    want = np.where(raw & 128, -(127.5 - k), 64.5 + k) / 128.0
    assert np.array_equal(_unit_directions(np.random.default_rng(7), 3, 50), want)
    scale = np.random.default_rng(1).uniform(1.0, 5.0, 50)
    assert np.array_equal(draw_directions(np.random.default_rng(7), 3, scale), want * scale)
    assert np.array_equal(draw_directions(np.random.default_rng(7), 3, np.ones(50)), want)


@pytest.mark.parametrize("rank_one", [False, True])
def test_ratio_for_is_where_the_escape_probability_falls_to_the_level(rank_one):
    """Against an independent count of the weights (numpy, not bisect): just above ratio_for the stated chance is
    at most the level, just below it is above."""
    from gradcheck.results import _PRODUCTS, PROBE_LEVELS, FastGuarantee

    law = np.asarray(_PRODUCTS if rank_one else PROBE_LEVELS)
    at_level = FastGuarantee(thresholds=(float(law[10]), float(law[20])), unit=1.0, n_entries=100, rank_one=rank_one)
    ties = [np.count_nonzero(law <= law[i]) for i in (10, 20)]  # 11 and 21 but for products equal to others
    assert at_level.escape_probability(1.0) == (ties[0] / law.size) * (ties[1] / law.size)  # a weight at the bound counts
    assert rank_one or ties == [11, 21]
    rng = np.random.default_rng(3)
    for _ in range(20):
        g = FastGuarantee(thresholds=tuple(rng.uniform(0.5, 3.0, rng.integers(1, 6))), unit=float(rng.uniform(0.1, 2)),
                          n_entries=100, rank_one=rank_one)

        def by_count(ratio):
            return float(np.prod([np.count_nonzero(law <= c / (ratio * g.unit)) / law.size for c in g.thresholds]))

        for level in (0.01, 0.2):
            r = g.ratio_for(level)
            assert by_count(r) <= level < by_count(r * (1 - 1e-6)), (g, level)
            assert g.escape_probability(r) == by_count(r) and g.escape_probability(r / 2) == by_count(r / 2)
