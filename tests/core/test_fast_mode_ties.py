"""Fast mode at exact ReLU ties: an OK stands on counted probes or on an entry-by-entry check, never on neither.

Half the samples are all zeros and ``b1 = 0``, so every hidden
pre-activation of those samples is exactly 0: every probe of ``b1`` crosses
ties of sixteen samples in both directions, and its one-sided bracket is
wide enough to hold a ``b1`` off by 1e-3 in every entry.  Such probes were
left out or passed by their bracket, and the tensor was still reported OK
(12 of 20 seeds in ``check_model``, 11 of 20 in ``check_gradients``).
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from gradcheck import check_gradients, check_model, format_result, nn
from gradcheck.compare import Tolerance
from gradcheck.directional import _guarantee_note, unbacked
from gradcheck.results import FastGuarantee, ParamCheck

SEEDS = range(20)
NET = nn.Sequential(nn.Dense("W1", "b1"), nn.ReLU(), nn.Dense("W2", "b2"), loss=nn.SoftmaxCrossEntropy())


def backward(p, x, y):
    """The network's gradient by hand (``relu'(0) = 0``), independent of the code under test."""
    z = x @ p["W1"] + p["b1"]
    h = np.maximum(z, 0.0)
    s = h @ p["W2"] + p["b2"]
    e = np.exp(s - s.max(1, keepdims=True))
    d = e / e.sum(1, keepdims=True)
    d[np.arange(len(x)), y] -= 1.0
    d /= len(x)
    dh = d @ p["W2"].T * (z > 0)
    return {"W1": x.T @ dh, "b1": dh.sum(0), "W2": h.T @ d, "b2": d.sum(0)}


def at_ties(seed):
    """50-100-10 with ``b1 = 0`` (100 entries: more than SMALL, so probed) and half the samples all zeros."""
    rng = np.random.default_rng(seed)
    p = {"W1": rng.standard_normal((50, 100)) * 0.3, "b1": np.zeros(100), "W2": rng.standard_normal((100, 10)) * 0.3,
         "b2": np.zeros(10)}
    x = rng.standard_normal((32, 50))
    y = rng.integers(0, 10, 32)
    x[:16] = 0.0
    return p, x, y


def wrong_b1(p, x, y):
    g = backward(p, x, y)
    g["b1"] = g["b1"] + 1e-3  # every entry: about 1e2..1e4 times its full-mode tolerance off the ties' brackets
    return g


def by_function(p, x, y, grads, seed):
    return check_gradients(lambda q: NET.loss(q, x, y), grads, p, mode="fast", seed=seed)


def by_model(p, x, y, grads, seed):
    return check_model(NET, p, x, y, grads=grads, mode="fast", seed=seed)


@pytest.mark.parametrize("check", [by_model, by_function])
def test_a_b1_off_by_1e_3_at_exact_ties_fails_in_every_seed(check):
    passed = [s for s in SEEDS if check(*at_ties(s), wrong_b1(*at_ties(s)), s)["b1"].passed]
    assert passed == []


@pytest.mark.parametrize("check", [by_model, by_function])
def test_the_correct_backward_at_exact_ties_passes_in_every_seed(check):
    failed = [s for s in SEEDS if not check(*at_ties(s), backward(*at_ties(s)), s).passed]
    assert failed == []


def test_a_tensor_whose_probes_sat_on_kinks_is_reported_as_checked_entry_by_entry():
    p, x, y = at_ties(0)
    r = by_model(p, x, y, backward(p, x, y), 0)
    b1 = r["b1"]
    # its counts are entries, its mode says so, and no probe guarantee is claimed
    assert (b1.mode, b1.n_entries, b1.guarantee) == ("full", 100, None)
    assert b1.n_kinks == 100  # every entry's line crosses the sixteen zero samples' ties
    assert b1.notes[0] == "4 of fast mode's 4 probes not counted (4 judged at a kink): checked entry by entry"
    assert b1.diagnosis is not None and b1.diagnosis.code == "correct"  # as in full mode (none before red team 14)
    text = format_result(r)
    assert "b1 (100,): OK (full mode)" in text and "Mismatched entries: 0 / 100" in text
    # W1 moves the zero samples' pre-activations not at all: its probes count, and it stays in fast mode
    assert r["W1"].mode == "fast" and len(r["W1"].guarantee.thresholds) == 4


def _passing(thresholds, *, passed=True):
    return ParamCheck(name="b", shape=(100,), mode="fast", passed=passed, n_entries=4, n_failed=0, n_kinks=0,
                      n_refined=4, max_abs_err=0.0, max_rel_err=0.0, worst=(), failed_indices=(),
                      tolerance=Tolerance(), guarantee=FastGuarantee(thresholds=thresholds, unit=1.0, n_entries=100))


def test_an_ok_stands_on_probes_only_when_all_of_them_count_with_finite_thresholds():
    assert unbacked(_passing((1.0,) * 4), 4) is None
    assert unbacked(_passing((1.0,) * 3), 4) == ("1 of fast mode's 4 probes not counted (1 failed at the kink-free "
                                                 "step and passed only at smaller steps, with wider error bars): "
                                                 "checked entry by entry")
    assert unbacked(replace(_passing((1.0,) * 2), n_kinks=1), 4) == (
        "2 of fast mode's 4 probes not counted (1 judged at a kink; 1 failed at the kink-free step and passed only "
        "at smaller steps, with wider error bars): checked entry by entry")
    assert unbacked(_passing(()), 4) is not None
    assert unbacked(_passing((1.0, 1.0, np.inf, 1.0)), 4) == ("fast mode's probes have no finite threshold: "
                                                              "checked entry by entry")
    assert unbacked(_passing((1.0, 1.0, np.nan, 1.0)), 4) is not None
    # a failure keeps its verdict (a counted failing probe or a confirmed entry is its evidence)
    assert unbacked(_passing((), passed=False), 4) is None


@pytest.mark.parametrize("thresholds, said", [
    ((1e6,) * 4, "the 4 counted probes promise nothing for one entry off by 10x"),  # bound 1e5: every weight misses
    ((), "per entry: no guarantee (none of the 4 probes counted): use mode='full'"),
    ((1.0, np.inf), "per entry: no guarantee (a counted probe has no finite threshold): use mode='full'"),
])
def test_the_note_never_states_a_void_guarantee_as_a_number(thresholds, said):
    note = _guarantee_note(FastGuarantee(thresholds=thresholds, unit=1.0, n_entries=100), 4)
    assert said in note
    for void in ("at most 1;", "at most 1 ", "infx", "inf", "nan", "1e+300", "with probability 1"):
        assert void not in note
    assert "use mode='full' to check every entry" in note


def test_an_entry_localised_at_a_tie_shows_the_bracket_that_holds_the_right_value_not_the_wrong_one():
    """Seeds where fast mode fails b1 by probes: its localised entries, at ties, said "kink: one-sided [-, -]"
    and the summary "Max absolute difference over probes: 0"; now each shows its bracket, which holds the
    hand-written backward's value (relu'(0) = 0, one end of the bracket) and not the value off by 1e-3."""
    fast = 0
    for seed in SEEDS:
        p, x, y = at_ties(seed)
        b1 = by_model(p, x, y, wrong_b1(p, x, y), seed)["b1"]
        if b1.mode != "fast":
            continue  # failed entry by entry: test_a_b1_off_by_1e_3_at_exact_ties_fails_in_every_seed
        fast += 1
        assert not b1.passed and b1.max_abs_err > 0 and b1.worst, seed
        right = backward(p, x, y)["b1"]
        for e in b1.worst:
            assert e.kink and e.lower is not None and e.upper is not None and e.lower <= e.upper, (seed, e)
            # the bracket's ends are one-sided differences, off by their truncation (4e-7 here; their error bars
            # say up to 7e-5): a tenth of the planted 1e-3 separates them from it
            slack = 1e-4
            assert e.lower - slack <= right[e.index] <= e.upper + slack, (seed, e)
            assert not e.lower - slack <= e.analytic <= e.upper + slack, (seed, e)
    assert fast >= 5  # the test says something: 8 of 20 seeds at this commit


def test_a_chance_just_below_1_is_not_rounded_to_1():
    # rank-one weights are the 4096 products of two levels: a threshold just below 10x the largest, (127.5/128)^2,
    # lets 4095 of them miss an error of 10x: 0.99976, which two digits would print as 1
    g = FastGuarantee(thresholds=(10.0 * (127.5 / 128.0) ** 2 * (1 - 1e-9),), unit=1.0, n_entries=100, rank_one=True)
    assert g.escape_probability(10.0) == 4095 / 4096
    note = _guarantee_note(g, 1)
    assert "escapes all 1 counted probes with probability at most 0.9998;" in note and "at most 1;" not in note
