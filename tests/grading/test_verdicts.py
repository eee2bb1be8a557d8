"""The grader's vocabularies (:mod:`gradcheck.grading.verdicts`) and its message templates."""
from __future__ import annotations

import string

import pytest

from gradcheck import diagnose, messages
from gradcheck.grading import verdicts
from gradcheck.grading.i18n import GRADING_TEMPLATES
from gradcheck.grading.results import STATUSES
from gradcheck.grading.sandbox import STATUSES as SANDBOX_STATUSES


def test_every_vocabulary_is_free_of_duplicates():
    for name in ("CODES", "RUNTIME_CODES", "CALL_STATUSES", "RESULT_STATUSES"):
        values = getattr(verdicts, name)
        assert len(set(values)) == len(values), name


def test_process_verdicts_are_the_graders_alone():
    assert not set(verdicts.RUNTIME_CODES) & set(diagnose.CODES)
    assert verdicts.CODES == diagnose.CODES + verdicts.RUNTIME_CODES
    for code in verdicts.RUNTIME_CODES:
        assert code in GRADING_TEMPLATES and code not in _core_template_keys(), code


def _core_template_keys() -> set[str]:
    return set(messages.TEMPLATES) - set(GRADING_TEMPLATES)


def test_every_call_status_but_ok_is_a_diagnosis_code():
    assert SANDBOX_STATUSES == verdicts.CALL_STATUSES
    assert set(verdicts.CALL_STATUSES) - {"ok"} <= set(verdicts.CODES)
    assert "shape" not in SANDBOX_STATUSES  # never produced by a call
    assert STATUSES == ("passed", "failed")


@pytest.mark.parametrize("code", verdicts.RUNTIME_CODES + ("mutation", "nondeterministic", "missing", "type"))
def test_runtime_messages_render_without_placeholders(code):
    for lang in messages.LANGUAGES:
        d = verdicts.runtime_diagnosis(code, param="x", lang=lang, error="ZeroDivisionError: division by zero",
                                       seconds=5, megabytes=256, got_type="list")
        assert "?" not in d.message and "{" not in d.message and d.message
        assert d.code == code and isinstance(d, diagnose.Diagnosis)


def test_grading_diagnosis_keeps_its_class_when_rerendered():
    d = verdicts.runtime_diagnosis("timeout", seconds=3, lang="ko")
    en = d.in_language("en")
    assert type(en) is verdicts.GradingDiagnosis and en.message.endswith("3 s.")
    with pytest.raises(ValueError, match="code='bogus'"):
        verdicts.runtime_diagnosis("bogus")


def test_grading_templates_have_every_language_and_the_same_fields():
    for key, entry in GRADING_TEMPLATES.items():
        assert set(entry) == set(messages.LANGUAGES), key
        fields = [{f for _, f, _, _ in string.Formatter().parse(t) if f} for t in entry.values()]
        assert all(f == fields[0] for f in fields), key
