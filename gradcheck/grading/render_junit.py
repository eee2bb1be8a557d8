"""JUnit XML: one ``<testsuite>`` per submission, one ``<testcase>`` per parameter.

A failed gradient is a ``<failure>`` whose ``type`` is the diagnosis code and
whose ``message`` is the sentence; a submission that did not run gets one
``<error>`` testcase with the runtime verdict; deductions are failed
testcases of their own.  The XML is built with :mod:`xml.etree`, so every
string is escaped, and characters XML 1.0 forbids (control characters a
student's exception text may contain) are removed (the grader's result objects show them as visible escapes first: `\\x00`).

Examples
--------
>>> import xml.etree.ElementTree as ET
>>> from gradcheck.grading.results import ParameterResult, SubmissionResult
>>> p = ParameterResult("W1", "failed", "sign", "W1 <wrong> & \\x00 sign", 0.0, 1.0)
>>> root = ET.fromstring(render_junit([SubmissionResult("a.py", "m", 0, 0.0, 1.0, ("sign",), (p,))]))
>>> root.find("testsuite/testcase/failure").get("message")
'W1 <wrong> & \\\\x00 sign'
"""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import Iterable

from gradcheck.grading.results import SubmissionResult

__all__ = ["render_junit"]

_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _clean(text: object) -> str:
    return _ILLEGAL.sub("", str(text))


def render_junit(results: Iterable[SubmissionResult], *, name: str = "gradcheck") -> str:
    """The results as a JUnit XML document (a ``<testsuites>`` root).

    Parameters
    ----------
    results : iterable of SubmissionResult
    name : str
        The ``name`` of the root element.
    """
    root = ET.Element("testsuites", name=_clean(name))
    total = failures = errors = 0
    seconds = 0.0
    for i, r in enumerate(results):
        if not isinstance(r, SubmissionResult):
            raise TypeError(f"results[{i}] must be a SubmissionResult, got {type(r).__name__}")
        suite = ET.SubElement(root, "testsuite", name=_clean(r.submission))
        n = f = e = 0
        classname = _clean(f"{r.submission}.{r.model}")
        rows = list(r.parameters) + ([r.forward] if r.forward is not None else [])
        per = r.duration / max(1, len(rows))
        for p in rows:
            case = ET.SubElement(suite, "testcase", classname=classname, name=_clean(p.name), time=f"{per:.3f}")
            n += 1
            if p.status == "failed":
                f += 1
                fail = ET.SubElement(case, "failure", message=_clean(p.message), type=_clean(p.diagnosis))
                fail.text = _clean(f"{p.diagnosis}: {p.message} ({p.points:g}/{p.max_points:g})")
        for d in r.deductions:
            case = ET.SubElement(suite, "testcase", classname=classname, name=_clean(f"{d.code}:{d.param}"), time="0.000")
            n += 1
            f += 1
            ET.SubElement(case, "failure", message=_clean(d.message), type=_clean(d.code)).text = _clean(d.message)
        if r.verdict != "ok":
            case = ET.SubElement(suite, "testcase", classname=classname, name="run", time=f"{r.duration:.3f}")
            n += 1
            e += 1
            err = ET.SubElement(case, "error", message=_clean("; ".join(r.messages) or r.verdict), type=_clean(r.verdict))
            err.text = _clean("\n".join(r.messages))
        props = ET.Element("properties")
        for key, value in (("title", r.title), ("model", r.model), ("seed", r.seed), ("score", r.score), ("max_score", r.max_score), ("diagnoses", ",".join(r.diagnoses))):
            ET.SubElement(props, "property", name=key, value=_clean(value))
        suite.insert(0, props)
        suite.set("tests", str(n))
        suite.set("failures", str(f))
        suite.set("errors", str(e))
        suite.set("time", f"{r.duration:.3f}")
        total, failures, errors, seconds = total + n, failures + f, errors + e, seconds + r.duration
    root.set("tests", str(total))
    root.set("failures", str(failures))
    root.set("errors", str(errors))
    root.set("time", f"{seconds:.3f}")
    return ET.tostring(root, encoding="unicode", xml_declaration=True)
