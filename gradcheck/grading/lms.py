"""Grades as a CSV an LMS imports as it is: ``--lms canvas|moodle``.

**Canvas** (Grades > Import): the columns ``Student``, ``ID``,
``SIS User ID``, ``SIS Login ID``, ``Section`` and one column named after
the assignment holding the score.  Canvas matches rows by ``ID`` (its user
id); a column name it does not know becomes a new assignment.  Canvas's
"Download Submissions" names files ``name_userid_fileid_file`` (with
``_LATE_`` after the name for late ones, ``[LATE_]anon_ID_fileid_file``
when graded anonymously, ID five base58 characters: no user id, so left out;
``anon_10042_...`` is a student whose sortable name is "anon"; a student's several
files are graded as one submission, :mod:`gradcheck.grading.identity`), so with ``--lms canvas`` the
default ``--id-pattern`` is :data:`ID_PATTERNS` ``["canvas"]``, the user id.

**Moodle** (Assignment > View all submissions > Grading action "Upload
grading worksheet"): the columns ``Identifier``, ``Full name``,
``Email address``, ``Grade``, ``Maximum Grade`` and ``Feedback comments``;
Moodle matches rows by ``Identifier`` (``Participant 12345``).  Moodle's
"Download all submissions" names folders and files
``Full Name_12345_assignsubmission_file_``, so the default ``--id-pattern``
is the participant number; ``Feedback comments`` holds the score and the
main diagnosis, or why nothing was graded (:func:`feedback_comment`).
Worksheet uploads need "Offline grading
worksheet" enabled in the assignment's feedback types.

A submission without a student id cannot be matched by the LMS, and two
submissions with one id would leave the LMS to keep one of them: each is left
out of the file and listed by :func:`render_lms` with why and what to do
(:func:`no_id_reason`); the caller names each one and exits with status 1,
so no file is silently missing from an import, and one student's layout
never stops the import of the whole class.
Scores use a dot and at most 6 decimals; the file is UTF-8 with a BOM
(spreadsheets then read Korean names).

Examples
--------
>>> from gradcheck.grading.results import SubmissionResult
>>> rs = [SubmissionResult("Kim Ji_12345_assignsubmission_file_", "m", 0, 2.5, 4.0, student_id="12345")]
>>> text, skipped = render_lms(rs, "moodle", title="HW3")
>>> print(text.strip())
Identifier,Full name,Email address,Grade,Maximum Grade,Feedback comments
Participant 12345,Kim Ji,,2.5,4,2.5/4
"""
from __future__ import annotations

import html
import os
from pathlib import PurePosixPath
from typing import Iterable, Mapping

from gradcheck.grading.atomic import write_atomic
from gradcheck.grading.gradebook import csv_text
from gradcheck.grading.identity import FLAT_NAMES, MOODLE_FOLDER, MOODLE_ID_PATTERN, SUFFIXES
from gradcheck.grading.results import SubmissionResult

__all__ = ["LMS_FORMATS", "ID_PATTERNS", "NAME_FORMS", "render_lms", "write_lms", "display_name", "no_id_reason", "feedback_comment"]

#: Supported LMS formats.
LMS_FORMATS: tuple[str, ...] = ("canvas", "moodle")
#: The student id in each LMS's download names (the default ``--id-pattern`` with ``--lms``).
ID_PATTERNS: Mapping[str, str] = {
    "canvas": dict(FLAT_NAMES)["canvas"].pattern,  # the one Canvas naming rule: its group ``student``
    "moodle": MOODLE_ID_PATTERN,  # the id Moodle wrote, never one in the student's full name or file name
}

#: How each LMS's download names a student's files, for messages.
NAME_FORMS: Mapping[str, str] = {
    "canvas": "name_[LATE_]userid_fileid_FILE",
    "moodle": "Full Name_12345_assignsubmission_file_",
}


def _points(x: float) -> str:
    return f"{round(float(x), 6):.6f}".rstrip("0").rstrip(".")


def display_name(result: SubmissionResult) -> str:
    """The student's name as the download's file or folder name has it.

    An LMS's name (Canvas's ``name_[LATE_]userid_...``, Moodle's
    ``Full Name_12345_assignsubmission_...``) gives its name part, read by the
    same patterns that find the id (:data:`~gradcheck.grading.identity.FLAT_NAMES`,
    :data:`~gradcheck.grading.identity.MOODLE_FOLDER`); any other name is shown
    whole (``hw1-kimji``: what is the name and what the assignment in it, no
    pattern says), without a file's suffix.

    >>> display_name(SubmissionResult("Kim Ji_12345_assignsubmission_file_", "m", 0, 0.0, 1.0, student_id="12345"))
    'Kim Ji'
    >>> display_name(SubmissionResult("kimji_LATE_12345_678_hw3.py", "m", 0, 0.0, 1.0, student_id="12345"))
    'kimji'
    >>> display_name(SubmissionResult("late_LATE_12345_678_hw3.py", "m", 0, 0.0, 1.0, student_id="12345"))
    'late'
    >>> display_name(SubmissionResult("late_kimji_12345_678_hw3.py", "m", 0, 0.0, 1.0, student_id="12345"))
    'kimji'
    >>> display_name(SubmissionResult("hw1-kimji", "m", 0, 0.0, 1.0, student_id="kimji"))
    'hw1-kimji'
    """
    first = PurePosixPath(result.submission).parts[0] if result.submission else ""
    for rx in (*(rx for _, rx in FLAT_NAMES), MOODLE_FOLDER):
        m = rx.match(first)
        if m and m["name"] and m["student"] == result.student_id:
            return str(m["name"])
    return PurePosixPath(first).stem if PurePosixPath(first).suffix.lower() in SUFFIXES else first


def render_lms(results: Iterable[SubmissionResult], lms: str, *, title: str,
               id_pattern: str | None = None) -> tuple[str, list[tuple[SubmissionResult, str]]]:
    """The import CSV for ``lms`` and the results left out, each with why and what to do.

    Left out: a result without a student id (:func:`no_id_reason`;
    ``id_pattern`` is the ``--id-pattern`` given, if one was), and every
    result of a student id that has several (the LMS would keep one of
    them: decide which by hand).

    Raises
    ------
    ValueError
        For an unknown ``lms``.
    """
    if lms not in LMS_FORMATS:
        raise ValueError(f"lms must be one of {LMS_FORMATS}, got lms={lms!r}")
    items = list(results)
    by_id: dict[str, list[str]] = {}
    for r in items:
        if r.student_id:
            by_id.setdefault(r.student_id, []).append(r.submission)
    skipped = [(r, no_id_reason(r.submission, lms=lms, id_pattern=id_pattern)) for r in items if not r.student_id]
    skipped += [(r, f"student id {r.student_id} has {len(by_id[r.student_id])} submissions ({', '.join(map(repr, by_id[r.student_id]))}): "
                    "an import keeps one score per student; decide which counts and enter it by hand")
                for r in items if r.student_id and len(by_id[r.student_id]) > 1]
    with_id = [r for r in items if r.student_id and len(by_id[r.student_id]) == 1]
    if lms == "canvas":
        header = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", title]
        rows = [[display_name(r), r.student_id, "", "", "", _points(r.score)] for r in with_id]
    else:
        header = ["Identifier", "Full name", "Email address", "Grade", "Maximum Grade", "Feedback comments"]
        rows = [[f"Participant {r.student_id}", display_name(r), "", _points(r.score), _points(r.max_score), feedback_comment(r)] for r in with_id]
    return csv_text(header, rows), skipped


#: The longest diagnosis a ``Feedback comments`` cell quotes (the feedback file has the whole of it).
_COMMENT_CHARS = 300


def feedback_comment(result: SubmissionResult) -> str:
    """Moodle's ``Feedback comments`` of ``result``: the score and the main diagnosis, or why nothing was graded.

    One line: the score, then the first parameter not passed (its diagnosis,
    or a refusal's reason: the online text not graded), else the first message,
    cut at :data:`_COMMENT_CHARS` characters on a word; then the scores
    changed by hand.  Moodle keeps the comment as HTML
    (``assignfeedback_comments``, ``FORMAT_HTML``), so ``<``, ``>`` and ``&``
    are escaped: the student reads the text as written.

    >>> feedback_comment(SubmissionResult("Kim_1_assignsubmission_file_", "m", 0, 4.0, 4.0))
    '4/4'
    >>> feedback_comment(SubmissionResult("Kim_1_assignsubmission_file_", "m", 0, 0.0, 4.0, messages=("mask taken as a >= 0",)))
    '0/4: mask taken as a &gt;= 0'
    """
    failed = [p.message for p in result.parameters if p.status != "passed" and p.message]
    main = " ".join((failed[0] if failed else result.messages[0] if result.messages else "").split())
    if len(main) > _COMMENT_CHARS:
        main = main[:_COMMENT_CHARS].rsplit(" ", 1)[0] + " ..."
    text = f"{_points(result.score)}/{_points(result.max_score)}" + (f": {main}" if main else "")
    changed = "; ".join(f"{o.parameter}: {o.reason}" for o in result.overrides)
    if changed:
        text += f" (changed by hand: {' '.join(changed.split())})"
    return html.escape(text, quote=False)


def write_lms(results: Iterable[SubmissionResult], lms: str, path: str | os.PathLike[str], *, title: str,
              id_pattern: str | None = None) -> list[tuple[SubmissionResult, str]]:
    """Write :func:`render_lms` to ``path`` (UTF-8 with BOM); returns the results left out, each with why."""
    text, skipped = render_lms(results, lms, title=title, id_pattern=id_pattern)
    write_atomic(path, text, encoding="utf-8-sig", newline="")
    return skipped


def no_id_reason(identity: str, *, lms: str | None = None, id_pattern: str | None = None) -> str:
    """Why no student id was found in ``identity``, and what to do, for a warning.

    ``lms``: the ``--lms`` asked for; ``id_pattern``: the ``--id-pattern``
    given (``None``: the default one).

    >>> no_id_reason("anon_Zk3Qp_900023_hw1.py", lms="canvas")[:60]
    'a Canvas anonymous download: the file has an anonymous id, n'
    >>> "the username" in no_id_reason("HW1_kim123_attempt_2026-11-30-23-59-00_hw1.py")
    True
    """
    first = PurePosixPath(identity).parts[0] if identity else ""
    if id_pattern is not None:
        return f"--id-pattern {id_pattern!r} finds none in its name; correct the pattern (its first group is the id)"
    canvas = dict(FLAT_NAMES)["canvas"].match(first)
    if canvas and canvas["anon"]:
        return ("a Canvas anonymous download: the file has an anonymous id, not the user id, and an import by anonymous id "
                "is not possible; de-anonymise first (turn anonymous grading off, or post the grades), download the "
                "submissions again and regrade, or enter the grade by hand")
    board = dict(FLAT_NAMES)["blackboard"].match(first)
    if board:
        return (f"a Blackboard name whose username (here {board['student']!r} or more before it: usernames and assignment names "
                "may hold '_') was not read: grade the download's folder, whose names and receipts (.txt) give the username")
    if lms is not None:
        return f"its name is not one {lms} writes, {NAME_FORMS[lms]}; enter the grade by hand"
    return ("the default id pattern finds no leading number or run of 5+ digits in its name; give --id-pattern REGEX "
            "whose first group is the id (e.g. '^hw1-(.+)$' for GitHub Classroom's folders hw1-USER)")
