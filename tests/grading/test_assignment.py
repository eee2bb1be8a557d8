"""Assignment files: schema, defaults, validation errors that name the key and value."""
from __future__ import annotations

from pathlib import Path

import pytest

from gradcheck.grading.assignment import (
    Assignment, AssignmentError, Limits, SubmissionSpec, dump_assignment, load_assignment, parse_assignment, tomllib,
)

CORPUS = Path(__file__).parent / "submissions"


def test_corpus_assignments_load() -> None:
    a = load_assignment(CORPUS / "study_2layer__correct__class.toml")
    assert a.model == "study_2layer" and a.model_options == {"hidden": 3}
    assert a.spec.style == "class" and a.spec.class_name == "Neural_Network" and a.spec.init_args == (2, 1, 3)
    assert a.spec.returns == ("W1", "W2") and a.spec.args == ("x", "y")
    assert a.points == {"W1": 2.0, "W2": 2.0, "forward": 1.0} and a.limits.wall_seconds == 5
    assert a.reference_model().param_shapes == {"W1": (2, 3), "W2": (3, 1)}
    b = load_assignment(CORPUS / "onehot_222__correct__args_tuple.toml")
    assert b.spec.forward is None and b.spec.args == ("x", "y", "W2", "b2", "W3", "b3")


def test_defaults_by_style() -> None:
    f = SubmissionSpec()
    assert (f.args, f.forward_args, f.returns, f.forward) == (("params", "x", "y"), ("params", "x"), "dict", "forward")
    c = SubmissionSpec(style="class", class_name="Net")
    assert (c.args, c.forward_args, c.returns) == (("x", "y"), ("x",), "tuple")


def test_limits_in_friendly_units_and_scoring_options() -> None:
    a = parse_assignment({"model": "xor_2layer", "limits": {"memory_mb": 256, "output_kb": 64}, "points": {"W1": 3, "forward": 0.5}, "scoring": {"mutation_penalty": 0.5}})
    assert a.limits.memory_bytes == 256 << 20 and a.limits.output_bytes == 64 << 10
    assert a.scoring_options() == {"mutation_penalty": 0.5, "points": {"W1": 3.0}, "forward_points": 0.5}


@pytest.mark.parametrize(
    "data, words",
    [
        ({}, "model: is required"),
        ({"model": "xor_9layer"}, "model: must be one of"),
        ({"model": "xor_2layer", "submision": {}}, "unknown key 'submision'"),
        ({"model": "xor_2layer", "submission": {"style": "object"}}, "[submission] style: must be one of function, class, got 'object'"),
        ({"model": "xor_2layer", "submission": {"backward": "back ward"}}, "backward: must be a Python identifier, got 'back ward'"),
        ({"model": "xor_2layer", "submission": {"backward": 3}}, "backward: must be a string, got 3"),
        ({"model": "xor_2layer", "submission": {"returns": ["W1", "W9"]}}, "returns: entries must be parameter names"),
        ({"model": "xor_2layer", "submission": {"args": ["params", "z"]}}, "args: entries must be"),
        ({"model": "xor_2layer", "submission": {"names": {"W7": "w"}}}, "names.W7: is not a parameter"),
        ({"model": "xor_2layer", "submission": {"style": "class"}}, "class: the class style needs the class name"),
        ({"model": "xor_2layer", "submission": {"tries": 1}}, "unknown key 'tries'"),
        ({"model": "xor_2layer", "points": {"W1": -1}}, "[points] W1: must be a number >= 0, got -1"),
        ({"model": "xor_2layer", "points": {"W5": 1}}, "[points] W5: is not a parameter"),
        ({"model": "xor_2layer", "points": {"W1": 1}, "scoring": {"points": {}}}, "keep one of them"),
        ({"model": "xor_2layer", "limits": {"wall_seconds": 0}}, "[limits] wall_seconds: must be a finite number > 0, got 0"),
        ({"model": "xor_2layer", "limits": {"memory": 1}}, "unknown key 'memory'"),
        ({"model": "study_2layer", "model_options": {"hidden": 0}}, "[model_options]: hidden must be a positive int"),
        ({"model": "study_2layer", "model_options": {"width": 3}}, "[model_options]"),
        ({"model": "xor_2layer", "submission": {"init_args": [{"a": 1}]}}, "init_args/init_kwargs"),
    ],
)
def test_validation_names_key_and_value(data: dict, words: str) -> None:
    with pytest.raises(AssignmentError) as info:
        parse_assignment(data, source="hw.toml")
    assert words in str(info.value) and str(info.value).startswith("hw.toml")


def test_invalid_toml_and_types(tmp_path: Path) -> None:
    p = tmp_path / "a.toml"
    p.write_text('model = "xor_2layer"\n[limits\n')
    with pytest.raises(AssignmentError, match="invalid TOML.*line 2"):
        load_assignment(p)
    with pytest.raises(TypeError, match="data"):
        parse_assignment([1])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="output_bytes=1.5"):  # wrong type: TypeError
        Limits(output_bytes=1.5)  # type: ignore[arg-type]


def test_dump_round_trips() -> None:
    a = load_assignment(CORPUS / "study_2layer__correct__class.toml")
    text = dump_assignment(a, comments={"": "a comment", "points": "points"})
    b = parse_assignment(tomllib.loads(text), source=a.source)
    assert b == a and text.startswith("# a comment")
    odd = Assignment(model="xor_2layer", limits=Limits(memory_bytes=1000, output_bytes=1500))
    assert parse_assignment(tomllib.loads(dump_assignment(odd))).limits == odd.limits


def test_a_bad_scoring_table_is_one_error_at_load(tmp_path):
    from gradcheck.grading.assignment import AssignmentError, load_assignment

    p = tmp_path / "a.toml"
    p.write_text('model = "xor_2layer"\n[scoring]\nmutation_penalti = 0.5\n')
    with pytest.raises(AssignmentError, match=r"a.toml: \[scoring\]: unknown scoring option\(s\) \['mutation_penalti'\]"):
        load_assignment(p)
    p.write_text('model = "xor_2layer"\n[scoring]\ncredit = {scale = 2}\n')
    with pytest.raises(AssignmentError, match=r"\[scoring\]: credit\['scale'\] must be a number in \[0, 1\]"):
        load_assignment(p)


def test_the_graded_file_may_be_named_at_the_top_level() -> None:
    from gradcheck.grading.assignment import AssignmentError, parse_assignment

    assert parse_assignment({"model": "xor_2layer", "file": "hw3.py"}).file == "hw3.py"
    assert parse_assignment({"model": "xor_2layer", "submission": {"file": "hw*.py"}}).file == "hw*.py"
    with pytest.raises(AssignmentError, match="file"):
        parse_assignment({"model": "xor_2layer", "file": "a.py", "submission": {"file": "b.py"}})
