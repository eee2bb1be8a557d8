"""A backward that routes ``dout`` to every tied maximum fails at tied windows (rt18 F1).

At a window whose maxima tie, each tied entry alone is judged by its
one-sided bracket ``[0, dout]``, which the wrong value ``dout`` lies in: a
max-pool backward that adds ``dout`` to *all* maxima passed there.  The
joint move of the tied entries is smooth (the maximum moves by exactly
``h``) and sees ``k * dout`` against ``dout``: :mod:`gradcheck.jointties`
moves every entry equal to a tied value together, and the bug fails with a
``wrong.ties`` diagnosis.  Correct conventions (the first, the last, or a
shared maximum) pass: 0 false failures of 200 seeds each, full and fast
mode (``/tmp/pool/sweep.py``; here a dozen seeds).  A check at the points
moved off the ties cannot see the bug (the ties are broken there), and no
extra call is made where nothing was judged by a bracket.
"""
from __future__ import annotations

from functools import partial
from typing import Any

import numpy as np
import pytest

import gradcheck.check
from gradcheck import check_gradients, check_layer
from gradcheck.diagnose import describe
from gradcheck.report import format_result


def pool_forward(x: np.ndarray) -> tuple[np.ndarray, Any]:
    """2x2 max-pool, stride 2, on (N, C, H, W)."""
    n, c, hh, ww = x.shape
    windows = x.reshape(n, c, hh // 2, 2, ww // 2, 2).transpose(0, 1, 2, 4, 3, 5).reshape(n, c, hh // 2, ww // 2, 4)
    return windows.max(axis=-1), (x, windows)


def pool_backward(dout: np.ndarray, cache: Any, rule: str = "first") -> np.ndarray:
    x, windows = cache
    top = windows == windows.max(axis=-1, keepdims=True)
    if rule == "first":
        route = np.eye(4, dtype=bool)[np.argmax(top, axis=-1)]
    elif rule == "last":
        route = np.eye(4, dtype=bool)[3 - np.argmax(top[..., ::-1], axis=-1)]
    else:  # "all": the bug, every tied maximum gets dout
        route = top
    d = route * dout[..., None]
    n, c, hh, ww = x.shape
    return d.reshape(n, c, hh // 2, ww // 2, 2, 2).transpose(0, 1, 2, 4, 3, 5).reshape(x.shape)


def tied_image(seed: int) -> np.ndarray:
    """(2, 2, 4, 6) pixel values in {0, 1, 2}, every window of the first image flat (a saturated patch)."""
    rng = np.random.default_rng([seed, 1])
    x = rng.integers(0, 3, (2, 2, 4, 6)).astype(float)
    x[0] = 2.0
    return x


def spread_backward(dout: np.ndarray, cache: Any) -> np.ndarray:
    """Another correct convention: each tied maximum gets ``dout / k``."""
    x, windows = cache
    top = windows == windows.max(axis=-1, keepdims=True)
    d = top / top.sum(axis=-1, keepdims=True) * dout[..., None]
    n, c, hh, ww = x.shape
    return d.reshape(n, c, hh // 2, ww // 2, 2, 2).transpose(0, 1, 2, 4, 3, 5).reshape(x.shape)


def line_derivatives(x: np.ndarray, dout: np.ndarray, value: float) -> tuple[float, float]:
    """The derivative along "every entry equal to ``value`` moved by ``max(|value|, 1)``", by hand: the windows whose
    maximum is ``value`` move it by that much; and what the all-maxima bug says (``k`` times for ``k`` tied)."""
    windows = pool_forward(x)[1][1]
    top = windows.max(axis=-1)
    k = (windows == top[..., None]).sum(axis=-1)
    at = top == value
    s = max(abs(value), 1.0)
    return float(np.sum(dout[at]) * s), float(np.sum(k[at] * dout[at]) * s)


@pytest.mark.parametrize("mode", ["full", "fast"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_routing_dout_to_every_tied_maximum_fails(seed: int, mode: str) -> None:
    r = check_layer(pool_forward, partial(pool_backward, rule="all"), {"x": tied_image(seed)}, mode=mode, seed=seed)
    assert not r.passed
    c = r["x"]
    assert c.diagnosis is not None and c.diagnosis.detail["template"] == "wrong.ties", c.diagnosis
    assert "every tied maximum" in c.diagnosis.message and "moved together" in format_result(r)


def test_the_failure_says_the_joint_move_in_numbers_and_in_korean() -> None:
    x = tied_image(3)
    dout = np.random.default_rng(9).normal(size=(2, 2, 2, 3))
    r = check_layer(pool_forward, partial(pool_backward, rule="all"), {"x": x}, dout=dout)
    d = r["x"].diagnosis
    assert d is not None and d.detail["value"] == 2.0  # the saturated image: the most tied entries
    right, wrong = line_derivatives(x, dout, 2.0)
    # the line's central difference is exact up to round-off (max-pool is linear along it): 1e-6 relative is loose
    assert d.detail["numeric"] == pytest.approx(right, rel=1e-6) and d.detail["analytic"] == pytest.approx(wrong, rel=1e-12)
    assert f"{right:.6g}" in d.message and f"{wrong:.6g}" in d.message
    ko = describe(d.code, d.param, d.detail, lang="ko")
    assert "동점" in ko and f"{wrong:.6g}" in ko
    listed = r["x"].failed_indices
    assert listed and all(tied_maxima(x)[i] for i in listed)  # the entries listed are the tied ones


def tied_maxima(x: np.ndarray) -> np.ndarray:
    """Entries of ``x`` that are a maximum of a 2x2 window with at least two maxima, by hand."""
    is_max = np.zeros(x.shape, bool)
    for a in (0, 1):
        for b in (0, 1):
            is_max[..., a::2, b::2] = x[..., a::2, b::2] == pool_forward(x)[0]
    k = sum(is_max[..., a::2, b::2].astype(int) for a in (0, 1) for b in (0, 1))
    return is_max & np.repeat(np.repeat(k >= 2, 2, axis=-2), 2, axis=-1)


def test_check_gradients_sees_the_joint_move_too() -> None:
    x = tied_image(4)
    dout = np.random.default_rng(4).normal(size=(2, 2, 2, 3))
    f = lambda q: float(np.sum(pool_forward(q["x"])[0] * dout))
    cache = pool_forward(x)[1]
    assert not check_gradients(f, {"x": pool_backward(dout, cache, rule="all")}, {"x": x}).passed
    assert check_gradients(f, {"x": pool_backward(dout, cache, rule="last")}, {"x": x}).passed


@pytest.mark.parametrize("mode", ["full", "fast"])
@pytest.mark.parametrize("rule", ["first", "last", "spread"])
@pytest.mark.parametrize("seed", range(12))
def test_a_fixed_tie_convention_passes(seed: int, rule: str, mode: str) -> None:
    backward = spread_backward if rule == "spread" else partial(pool_backward, rule=rule)
    r = check_layer(pool_forward, backward, {"x": tied_image(seed)}, mode=mode, seed=seed)
    assert r.passed, format_result(r)
    assert not any("bracket" in n for n in r["x"].notes), r["x"].notes  # every tied entry confirmed by a joint move


def test_off_ties_no_moved_point_is_checked() -> None:
    # no tie: no moved point (the cost off ties is unchanged), and the bug is not there to see
    x = np.random.default_rng(5).normal(size=(1, 2, 4, 4))
    calls = []

    def counted(dout: np.ndarray, cache: Any) -> np.ndarray:
        calls.append(1)
        return pool_backward(dout, cache, rule="all")

    assert check_layer(pool_forward, counted, {"x": x}).passed
    assert len(calls) == 2  # the call and its repeat (determinism): no moved point


def forward_calls(x: np.ndarray, monkeypatch: pytest.MonkeyPatch, joint: bool) -> int:
    """Calls of the forward in a check of the first-maximum backward at ``x``, with joint moves or without."""
    calls = []

    def counted(x: np.ndarray) -> tuple[np.ndarray, Any]:
        calls.append(1)
        return pool_forward(x)

    with monkeypatch.context() as m:
        if not joint:
            m.setattr(gradcheck.check, "joint_tie_checks", lambda checks, *args: checks)
        assert check_layer(counted, pool_backward, {"x": x}).passed
    return len(calls)


def test_joint_moves_cost_nothing_off_ties(monkeypatch: pytest.MonkeyPatch) -> None:
    x = np.random.default_rng(5).normal(size=(1, 2, 4, 4))
    assert forward_calls(x, monkeypatch, joint=True) == forward_calls(x, monkeypatch, joint=False)
    # at ties they are made (the count above can tell): a probe's measurement per tied value
    tied = tied_image(0)
    assert forward_calls(tied, monkeypatch, joint=True) > forward_calls(tied, monkeypatch, joint=False)
