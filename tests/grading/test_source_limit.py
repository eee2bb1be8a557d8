"""The source limit (rt26 F10): a notebook's saved outputs do not count, the limit is the assignment's, and a file over it
is ``too_large`` (not ``syntax``), a submission that needs a human look."""
from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from gradcheck.grading import loader
from gradcheck.grading.assignment import Limits, dump_assignment, parse_assignment
from gradcheck.grading.gradebook import needs_review
from gradcheck.grading.loader import load_submission
from tests.grading.test_grade_pipeline import GOOD

CODE = GOOD.replace("OUTPUT_ERROR", "2 * (a2 - y) / len(y)").replace("MUTATE", "pass")
#: The size of five figures saved at dpi=200 (rt26's notebook weighed 4,670,087 bytes).
FIGURES = 5 << 20


def notebook(code: str, figure_bytes: int = 0) -> str:
    """A notebook of one code cell whose output is a PNG of ``figure_bytes`` bytes (base64, as Jupyter saves it)."""
    png = base64.b64encode(b"\x89PNG" + b"\0" * figure_bytes).decode()
    outputs = [{"output_type": "display_data", "data": {"image/png": png}, "metadata": {}}] if figure_bytes else []
    cells = [{"cell_type": "markdown", "source": "![fig](attachment:f.png)", "metadata": {}, "attachments": {"f.png": {"image/png": png}}},
             {"cell_type": "code", "source": code, "metadata": {}, "outputs": outputs, "execution_count": 1}]
    return json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 4})


def test_saved_figures_do_not_count_against_the_limit(tmp_path: Path) -> None:
    path = tmp_path / "kim.ipynb"
    path.write_text(notebook(CODE, FIGURES))
    assert path.stat().st_size > loader.MAX_SOURCE_BYTES  # the file is over the limit; its code is not
    loaded = load_submission(path)
    assert loaded.error is None, loaded.error
    assert [c.source for c in loaded.cells] == [CODE]


def test_code_over_the_limit_is_too_large_not_syntax(tmp_path: Path) -> None:
    py = tmp_path / "big.py"
    py.write_text(CODE)
    limit = len(CODE.encode()) - 1
    got = load_submission(py, max_source=limit)
    assert (got.error_verdict, got.cells) == ("too_large", ())
    assert f"the file is {len(CODE.encode()):,} bytes" in str(got.error) and "source_kb" in str(got.error)
    assert load_submission(py, max_source=limit + 1).error is None  # at the limit: read
    nb = tmp_path / "big.ipynb"
    nb.write_text(notebook(CODE, 10_000))
    got = load_submission(nb, max_source=limit)
    assert got.error_verdict == "too_large" and f"code cells hold {len(CODE.encode()):,} bytes" in str(got.error)
    assert load_submission(nb, max_source=limit + 1).error is None  # the figure's 10 kB do not count


def test_a_notebook_file_past_the_parsing_cap_is_too_large(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(loader, "MAX_NOTEBOOK_BYTES", 100_000)  # the real cap (64 MiB) is too slow to write in a test
    nb = tmp_path / "huge.ipynb"
    nb.write_text(notebook(CODE, 200_000))
    assert nb.stat().st_size > 400_000
    got = load_submission(nb, max_source=50_000)
    assert got.error_verdict == "too_large" and "outputs included" in str(got.error), got.error
    assert load_submission(nb, max_source=nb.stat().st_size).error is None  # a larger source limit raises the cap with it


def test_the_limit_is_an_assignment_key_that_round_trips() -> None:
    a = parse_assignment({"model": "xor_2layer", "limits": {"source_kb": 8}})
    assert a.limits.source_bytes == 8 * 1024 and Limits().source_bytes == 4 * 1024 * 1024
    assert "source_kb = 8\n" in dump_assignment(a)
    with pytest.raises(ValueError, match="source_kb"):
        parse_assignment({"model": "xor_2layer", "limits": {"source_kb": 0}})


def test_through_the_sandbox_a_big_notebook_is_graded_and_too_much_code_needs_a_look(tmp_path: Path) -> None:
    from gradcheck.grading.pipeline import grade_submission

    path = tmp_path / "kim.ipynb"
    path.write_text(notebook(CODE, FIGURES))
    r = grade_submission(path, "xor_2layer")
    assert (r.verdict, r.score) == ("ok", 4.0), r.messages
    small = parse_assignment({"model": "xor_2layer", "limits": {"source_kb": 0.5}})
    r = grade_submission(path, "xor_2layer", assignment=small)
    assert (r.verdict, r.score) == ("too_large", 0.0)
    assert "not run" in r.messages[0] and "source_kb" in r.messages[0] and "compile" not in r.messages[0]
    assert [why for _, why in needs_review([r])] == ["too_large"]
