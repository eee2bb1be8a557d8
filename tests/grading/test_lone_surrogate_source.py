"""A lone surrogate in a notebook's code (valid JSON: ``"\\ud800"``) is the submission's problem, not the grader's (rt27 NP1).

The identical-code fingerprint encoded the cell's text as strict UTF-8 and
raised, so the grader failed on that submission (an ``error`` row, exit 1).
"""
from __future__ import annotations

from gradcheck.grading.loader import Cell, LoadedSubmission, source_fingerprint


def _one_cell(source: str) -> LoadedSubmission:
    return LoadedSubmission("hw1.ipynb", "ipynb", (Cell(1, "hw1.ipynb", source),))


def test_a_lone_surrogate_has_a_fingerprint_of_its_own() -> None:
    odd = source_fingerprint(_one_cell('NAME = "\ud800"\n'))
    assert len(odd) == 64
    assert odd != source_fingerprint(_one_cell('NAME = "\ud801"\n'))
    assert odd != source_fingerprint(_one_cell('NAME = "x"\n'))
