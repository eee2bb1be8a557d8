"""Tests of :mod:`gradcheck.tools.benchplot` on a small hand-written benchmark JSON."""
from __future__ import annotations

import argparse
import builtins
import json
from pathlib import Path
from typing import Any

import pytest

from gradcheck.tools import benchplot
from gradcheck.tools.benchplot import load_timings, summary_table


def _bench(name: str, best: float, **info: Any) -> dict[str, Any]:
    return {"name": name, "group": f"{info.get('model')}-N{info.get('batch')}",
            "stats": {"min": best, "median": best * 1.5, "mean": best * 2.0}, "extra_info": info}


def _run() -> dict[str, Any]:
    """Two cases; the big one's plain loop was timed on 100 of 1000 entries (best round 0.2 s -> 2.0 s)."""
    big = dict(model="big", n_params=1000, batch=8)
    small = dict(model="tiny", n_params=6, batch=8)
    return {
        "machine_info": {"node": "test"},
        "benchmarks": [
            _bench("test_backprop[big]", 0.001, method="backprop", **big),
            _bench("test_plain_loop[big]", 0.2, method="plain_loop", entries_timed=100, scale_factor=10.0,
                   scaled_to_all_entries_s=2.0, **big),
            _bench("test_check_model[big-full]", 0.5, method="full_check", passed=True, **big),
            _bench("test_check_model[big-fast]", 0.025, method="fast_check", passed=False, **big),
            _bench("test_backprop[tiny]", 2e-5, method="backprop", **small),
            _bench("test_plain_loop[tiny]", 0.003, method="plain_loop", entries_timed=6, scale_factor=1.0,
                   scaled_to_all_entries_s=0.003, **small),
            _bench("test_check_model[tiny-full]", 0.0015, method="full_check", passed=True, **small),
            _bench("test_check_model[tiny-fast]", 0.0006, method="fast_check", passed=True, **small),
            _bench("test_unrelated", 1.0, note="no method: ignored"),
        ],
    }


def _rows(table: str) -> dict[str, list[str]]:
    rows = {}
    for line in table.splitlines():
        if line.startswith("| ") and not line.startswith("| model"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            rows[cells[0]] = cells
    return rows


def test_load_timings_uses_scaled_plain_loop() -> None:
    t = {(x.model, x.method): x for x in load_timings(_run())}
    assert len(t) == 8
    assert t[("big", "plain_loop")].seconds == 2.0  # not the subset's own 0.2
    assert t[("big", "plain_loop")].scaled is True
    assert t[("tiny", "plain_loop")].scaled is False
    assert t[("big", "full_check")].seconds == 0.5  # the best round, not the median (0.75) or mean (1.0)
    assert t[("big", "fast_check")].passed is False


def test_summary_table_numbers_and_ratios() -> None:
    table = summary_table(_run())
    assert table.splitlines()[0] == ("| model | params | batch | backprop | plain loop (scaled) | full check | "
                                     "fast check | plain/full | plain/fast |")
    rows = _rows(table)
    # big: 2.0 s / 0.5 s = 4x, 2.0 s / 0.025 s = 80x
    assert rows["big"] == ["big", "1,000", "8", "1.0 ms", "2.00 s †", "500.0 ms", "25.0 ms", "4.0x", "80.0x"]
    # tiny: 3 ms / 1.5 ms = 2x, 3 ms / 0.6 ms = 5x
    assert rows["tiny"] == ["tiny", "6", "8", "20.0 µs", "3.0 ms", "1.5 ms", "600.0 µs", "2.0x", "5.0x"]
    assert "† big N=8: plain loop timed on 100 of 1,000 seeded random entries and scaled by 10.0." in table
    assert "big N=8: verdict FAIL (on a correct backward) from fast check." in table
    assert "torch" not in table


def test_summary_table_torch_columns_and_big_ratios(tmp_path: Path) -> None:
    run = _run()
    info = dict(model="big", n_params=1000, batch=8)
    run["benchmarks"] += [_bench("t", 8.0, method="torch_gradcheck", passed=True, **info),
                          _bench("tf", 0.004, method="torch_gradcheck_fast", passed=True, **info)]
    run["benchmarks"][1]["extra_info"]["scaled_to_all_entries_s"] = 3000.0  # 3000 / 0.5 and 3000 / 0.025
    path = tmp_path / "bench.json"
    path.write_text(json.dumps(run), encoding="utf-8")
    rows = _rows(summary_table(path))
    assert rows["big"][4:] == ["3000.00 s †", "500.0 ms", "25.0 ms", "6,000x", "120,000x", "8.00 s", "4.0 ms", "375x",
                               "16.0x", "0.2x"]  # torch default / full check, torch fast_mode / fast check
    assert rows["tiny"][-5:] == ["-", "-", "-", "-", "-"]


def test_summary_table_scaled_torch_default_and_the_floor() -> None:
    run = _run()
    info = {"model": "big", "n_params": 1000, "batch": 8}
    torch = _bench("t", 0.5, method="torch_gradcheck", passed=True, **info)
    torch["extra_info"].update(entries_timed=100, scaled_to_all_entries_s=5.0)  # 0.5 s on 100 of 1000 entries
    run["benchmarks"] += [torch, _bench("f", 0.2, method="floor", **info),
                          _bench("s", 0.3, method="full_check_1proc", passed=True, **info)]
    table = summary_table(run)
    rows = _rows(table)
    assert rows["big"][-7] == "5.00 s ‡" and rows["big"][-2:] == ["200.0 ms", "1.5x"]  # 0.3 s / 0.2 s
    assert "‡ big N=8: torch gradcheck (default mode) timed on 100 of 1,000 seeded random entries" in table


@pytest.mark.parametrize("method, seconds, header, cells", [
    ("full_check_1proc", 0.8, "| plain/fast | full check, 1 process | plain/full (1 process) |",
     ["800.0 ms", "2.5x"]),  # 2.0 s / 0.8 s
    ("full_check_beside_torch", 0.4, "| full check beside torch's threads | plain/full (beside torch) |",
     ["400.0 ms", "5.0x"]),  # 2.0 s / 0.4 s
])
def test_summary_table_extra_full_check_columns(method: str, seconds: float, header: str, cells: list[str]) -> None:
    run = _run()
    run["benchmarks"].append(_bench("s", seconds, method=method, passed=True, model="big", n_params=1000, batch=8))
    table = summary_table(run)
    assert table.splitlines()[0].endswith(header)
    rows = _rows(table)
    assert rows["big"][-2:] == cells
    assert rows["tiny"][-2:] == ["-", "-"]


def test_subsampled_plain_loop_without_scaled_value_is_rejected() -> None:
    run = _run()
    del run["benchmarks"][1]["extra_info"]["scaled_to_all_entries_s"]
    with pytest.raises(ValueError, match="100 of 1000 entries"):
        load_timings(run)


def test_not_a_benchmark_json(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no 'benchmarks' list"):
        summary_table({"results": []})
    bad = tmp_path / "bad.json"
    bad.write_text("{not json", encoding="utf-8")
    assert benchplot.main([str(bad), "-o", str(tmp_path / "x.png")]) == 2
    assert not (tmp_path / "x.png").exists()


def test_plot_written(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("matplotlib")
    path = tmp_path / "bench.json"
    path.write_text(json.dumps(_run()), encoding="utf-8")
    out = tmp_path / "plot.png"
    assert benchplot.main([str(path), "-o", str(out), "--table"]) == 0
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000
    printed = capsys.readouterr().out
    assert "| big | 1,000 | 8 |" in printed and f"wrote {out}" in printed


def test_register_adds_plot_bench(tmp_path: Path) -> None:
    parser = argparse.ArgumentParser(prog="gradcheck")
    benchplot.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["plot-bench", "b.json", "-o", str(tmp_path / "p.png")])
    assert args.func is benchplot.run
    assert (args.bench_json, args.output, args.table) == ("b.json", str(tmp_path / "p.png"), False)


def test_missing_matplotlib_names_the_plot_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    real_import = builtins.__import__

    def no_matplotlib(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "matplotlib" or name.startswith("matplotlib."):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    with pytest.raises(ImportError, match=r'gradcheck\[plot\]'):
        benchplot.plot_timings(_run(), tmp_path / "p.png")
    path = tmp_path / "bench.json"
    path.write_text(json.dumps(_run()), encoding="utf-8")
    assert benchplot.main([str(path), "-o", str(tmp_path / "p.png")]) == 2
    assert '"plot" extra' in capsys.readouterr().err
