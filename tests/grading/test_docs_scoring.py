"""docs/assignments.md documents the partial-credit table the scorer uses."""
from __future__ import annotations

import re
from pathlib import Path

from gradcheck.grading.scoring import DEFAULT_CREDIT, ScoringPolicy

DOC = Path(__file__).resolve().parents[2] / "docs" / "assignments.md"


def _documented() -> dict[str, float]:
    text = DOC.read_text(encoding="utf-8")
    section = text[text.index("## Scoring and partial credit"):]
    return {m[1]: float(m[2]) for m in re.finditer(r"^\| `(\w+)` \| ([0-9.]+) \|", section, flags=re.M)}


def test_docs_table_is_the_default_credit() -> None:
    assert _documented() == dict(DEFAULT_CREDIT)


def test_docs_penalties_are_the_defaults() -> None:
    text = DOC.read_text(encoding="utf-8")
    policy = ScoringPolicy()
    assert f"`mutation_penalty`, default {policy.mutation_penalty:g}" in text
    assert f"`nondeterminism_penalty`, default {policy.nondeterminism_penalty:g}" in text
