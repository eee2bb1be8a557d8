"""Who vouches for a cached grade (rt26 F9): the grader's own key, never a file that came with the folder being graded.

rt26's forgery: a student's repository ships a ``.gradcheck-cache/`` made with
the course's own gradcheck under the student's key, holding full marks for
the student's wrong file; the grader, run inside the checkout, served it.
The fixes tested here: the key lives per user outside every cache directory
(:func:`~gradcheck.grading.cache.key_path`) and is refused when anyone else
could know it; the default cache is the user's, not the working directory; a
``--cache`` inside a folder being graded is refused; a hit must match the
inputs it was graded from and the graded file's hash.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import stat
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("rich")  # the grade command's report

from gradcheck.grading import cli
from gradcheck.grading.cache import CacheKeyError, ResultCache, cache_inputs, cache_key, default_cache_dir, key_path, load_key
from gradcheck.grading.isolation import Level, available_levels
from gradcheck.grading.results import SubmissionResult

#: xor_1layer's backward with a sign slip: 0.5 of 2 points (``sign``), graded by the reference model, not by this file.
WRONG = """
import numpy as np
def backward(params, x, y):
    a1 = 1 / (1 + np.exp(-(x @ params["W1"] + params["b1"])))
    dz1 = -2 * (a1 - y) / len(y) * a1 * (1 - a1)
    return {"W1": x.T @ dz1, "b1": dz1.sum(0, keepdims=True)}
"""
WRONG_SCORE, MAX_SCORE = 0.5, 2.0


def _level() -> str:
    """The strongest isolation level here that uses the cache (it is neither read nor written at ``process``)."""
    levels = available_levels()
    for level in ("namespaces", "uid"):
        if levels[Level.parse(level)] is None:
            return level
    pytest.skip("neither 'namespaces' nor 'uid' isolation is available here: the cache is used at those levels only")


def grade(*argv: object) -> int:
    parser = argparse.ArgumentParser(prog="gradcheck")
    cli.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["grade", *map(str, argv)])
    return int(args.func(args))


def _score(path: Path) -> float:
    (row,) = json.loads(path.read_text(encoding="utf-8"))
    return float(row["score"])


def _as_user(monkeypatch: pytest.MonkeyPatch, home: Path) -> None:
    """Run as another user would: that user's own cache key (and default cache)."""
    monkeypatch.setenv("XDG_STATE_HOME", str(home / "state"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / "cache"))


def _student_forges(repo: Path, cache: Path, monkeypatch: pytest.MonkeyPatch, level: str) -> None:
    """rt26's student: grade the wrong file with the course's gradcheck under their own key, with a grading
    step that gives full marks, so ``cache`` holds an entry, authentic under the student's key, of full marks."""
    real = cli.grade_job

    def full_marks(job: Any) -> dict[str, Any]:
        row = real(job)
        return dict(row, score=row["max_score"])

    with monkeypatch.context() as m:
        _as_user(m, repo.parent / "student-home")
        m.chdir(repo)  # graded as `hw1.py` (its identity), as the grader will
        m.setattr(cli, "grade_job", full_marks)
        assert grade("hw1.py", "--model", "xor_1layer", "--isolation", level, "--jobs", "1", "--quiet", "--cache", cache) == 0
        served = repo.parent / "student-sees.json"
        m.setattr(cli, "grade_job", lambda job: pytest.fail("the student's own run should be served from the cache"))
        assert grade("hw1.py", "--model", "xor_1layer", "--isolation", level, "--quiet", "--cache", cache, "--json", served) == 0
        assert _score(served) == MAX_SCORE  # the forgery holds for whoever has the student's key (the test is not vacuous)


@pytest.fixture
def forged_repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path, str]:
    """A student's checkout ``hw1-mal/`` (a wrong ``hw1.py``), a forged cache made outside it, the isolation level."""
    level = _level()
    repo = tmp_path / "hw1-mal"
    repo.mkdir()
    (repo / "hw1.py").write_text(WRONG)
    forged = tmp_path / "forged-cache"
    _student_forges(repo, forged, monkeypatch, level)
    return repo, forged, level


def test_a_cache_made_under_the_students_key_is_ignored_with_one_warning(
    forged_repo: tuple[Path, Path, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    repo, forged, level = forged_repo
    capsys.readouterr()
    out = tmp_path / "r.json"
    monkeypatch.chdir(repo)
    assert grade("hw1.py", "--model", "xor_1layer", "--isolation", level, "--quiet", "--cache", forged, "--json", out) == 0
    assert _score(out) == WRONG_SCORE  # graded afresh under the grader's own key
    err = capsys.readouterr().err
    assert err.count("not signed with your cache key") == 1 and str(key_path()) in err, err


def test_the_rt26_repository_with_its_own_cache_is_graded_afresh_from_inside_it(
    forged_repo: tuple[Path, Path, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The instructor's ``cd hw1-*; gradcheck grade hw1.py`` (or a CI job in the checkout) with the student's committed cache."""
    repo, forged, level = forged_repo
    shutil.copytree(forged, repo / ".gradcheck-cache")  # committed to the student's repository
    for name in (".hmac-key", "cache-key"):  # with the student's key beside it, as the old layout kept one there
        if not (repo / ".gradcheck-cache" / name).exists():
            (repo / ".gradcheck-cache" / name).write_bytes(load_key(tmp_path / "student-home" / "state" / "gradcheck" / "cache-key"))
    monkeypatch.chdir(repo)
    out = tmp_path / "r.json"
    assert grade("hw1.py", "--model", "xor_1layer", "--isolation", level, "--quiet", "--json", out) == 0
    assert _score(out) == WRONG_SCORE
    assert list(default_cache_dir().glob("*.json"))  # the grader's own cache was used ...
    assert sorted(p.name for p in (repo / ".gradcheck-cache").iterdir()) == sorted({*(p.name for p in forged.iterdir()), ".hmac-key", "cache-key"})
    assert "holds a key of its own" in capsys.readouterr().err  # ... the student's is named as not trusted,
    # and, named explicitly, refused, not read
    assert grade("hw1.py", "--model", "xor_1layer", "--isolation", level, "--quiet", "--cache", ".gradcheck-cache", "--json", out) == 2
    assert "lies inside" in capsys.readouterr().err


def test_a_default_cache_inside_the_folder_being_graded_is_not_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    level = _level()
    folder = tmp_path / "class"
    folder.mkdir()
    (folder / "hw1.py").write_text(WRONG)
    monkeypatch.setenv("XDG_CACHE_HOME", str(folder / ".cache"))
    assert grade(folder, "--model", "xor_1layer", "--isolation", level, "--quiet", "--json", tmp_path / "r.json") == 0
    assert _score(tmp_path / "r.json") == WRONG_SCORE and not (folder / ".cache").exists()
    assert "a folder being graded: the cache is not used" in capsys.readouterr().err


# -- the key: the grader's alone, or refused ----------------------------------------------------------------------
def test_a_new_key_is_the_graders_alone_and_the_same_on_the_next_run() -> None:
    key = load_key()
    assert len(key) == 32 and load_key() == key
    assert stat.S_IMODE(key_path().stat().st_mode) == 0o600 and stat.S_IMODE(key_path().parent.stat().st_mode) == 0o700


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o620, 0o660], ids=oct)
def test_a_key_others_can_read_or_write_is_refused(mode: int) -> None:
    load_key()
    os.chmod(key_path(), mode)
    with pytest.raises(CacheKeyError, match=f"{key_path().name}' has mode {mode:04o}"):
        load_key()
    assert stat.S_IMODE(key_path().stat().st_mode) == mode  # refused, not quietly repaired


def test_a_key_directory_others_can_write_is_refused() -> None:
    load_key()
    os.chmod(key_path().parent, 0o777)
    with pytest.raises(CacheKeyError, match="mode 0777"):
        load_key()


def test_a_symlinked_key_or_key_directory_is_refused(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    key = load_key(elsewhere / "key")  # a proper key, but reached through a link
    key_path().parent.mkdir(mode=0o700, parents=True)
    key_path().symlink_to(elsewhere / "key")
    with pytest.raises(CacheKeyError, match="symlink"):
        load_key()
    key_path().unlink()
    key_path().parent.rmdir()
    key_path().parent.symlink_to(elsewhere)
    (elsewhere / key_path().name).write_bytes(key)
    os.chmod(elsewhere / key_path().name, 0o600)
    with pytest.raises(CacheKeyError, match="not a directory"):
        load_key()


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="giving a file to another user needs root")
@pytest.mark.parametrize("what", ["file", "directory"])
def test_a_key_or_key_directory_of_another_user_is_refused(what: str) -> None:
    load_key()
    os.chown(key_path() if what == "file" else key_path().parent, 12345, -1)
    with pytest.raises(CacheKeyError, match=f"{what} .* belongs to uid 12345"):
        load_key()


def test_a_damaged_key_is_refused() -> None:
    load_key()
    key_path().write_bytes(b"short")
    with pytest.raises(CacheKeyError, match="5 bytes"):
        load_key()


def test_a_refused_key_stops_the_run_naming_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    level = _level()
    (tmp_path / "subs").mkdir()
    (tmp_path / "subs" / "hw1.py").write_text(WRONG)
    load_key()
    os.chmod(key_path(), 0o644)
    assert grade(tmp_path / "subs", "--model", "xor_1layer", "--isolation", level, "--quiet") == 2
    err = capsys.readouterr().err
    assert str(key_path()) in err and "0644" in err and "--no-cache" in err, err


# -- a hit must be what is being graded ---------------------------------------------------------------------------
def _inputs(content: str) -> dict[str, Any]:
    return cache_inputs(content=content, identity="hw1.py", assignment={"model": "xor_1layer"}, options={"seed": 0})


def test_a_hit_whose_result_is_of_another_file_is_a_miss(tmp_path: Path) -> None:
    """An entry signed with the grader's key whose result carries another file's hash (rt26: the correct file's 4/4)."""
    cache = ResultCache(tmp_path / "c")
    ours, theirs = hashlib.sha256(b"wrong").hexdigest(), hashlib.sha256(b"correct").hexdigest()
    inputs = _inputs(ours)
    cache.put(cache_key(inputs), SubmissionResult("hw1.py", "xor_1layer", 0, 2.0, 2.0, file_hash=theirs), inputs)
    assert cache.get(cache_key(inputs), inputs) is None and cache.rejected == 1
    cache.put(cache_key(inputs), SubmissionResult("hw1.py", "xor_1layer", 0, 0.5, 2.0, file_hash=ours), inputs)
    assert cache.get(cache_key(inputs), inputs) is not None  # the same file: served (the check is not vacuous)


def test_a_hit_graded_from_other_inputs_is_a_miss(tmp_path: Path) -> None:
    """An entry signed with the grader's key but made from other inputs (another file, helper, assignment, notebook data)."""
    cache = ResultCache(tmp_path / "c")
    ours, theirs = hashlib.sha256(b"wrong").hexdigest(), hashlib.sha256(b"correct").hexdigest()
    result = SubmissionResult("hw1.py", "xor_1layer", 0, 2.0, 2.0, file_hash=ours)
    for other in (_inputs(theirs), dict(_inputs(ours), extra={"helpers.py": theirs}), dict(_inputs(ours), assignment={"model": "xor_2layer"})):
        cache.put(cache_key(_inputs(ours)), result, other)  # under our entry's name, made from ``other``
        assert cache.get(cache_key(_inputs(ours)), _inputs(ours)) is None
    assert cache.rejected == 3


def test_a_rejected_entry_is_graded_afresh_by_the_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI end to end: the grader's own entry for a correct file, re-signed under the wrong file's name with the grader's key."""
    level = _level()
    subs = tmp_path / "subs"
    subs.mkdir()
    (subs / "hw1.py").write_text(WRONG.replace("-2 * (a1 - y)", "2 * (a1 - y)"))  # correct first
    cache = tmp_path / "cache"
    assert grade(subs, "--model", "xor_1layer", "--isolation", level, "--quiet", "--cache", cache) == 0
    (good,) = cache.glob("*.json")
    good_entry = json.loads(good.read_text())
    (subs / "hw1.py").write_text(WRONG)
    assert grade(subs, "--model", "xor_1layer", "--isolation", level, "--quiet", "--cache", cache) == 0
    (bad,) = [p for p in cache.glob("*.json") if p != good]
    bad_inputs = json.loads(json.loads(bad.read_text())["inputs"])
    correct = SubmissionResult.from_dict(json.loads(good_entry["result"]))
    ResultCache(cache).put(bad.stem, correct, bad_inputs)  # full marks of the correct file, the wrong file's inputs
    assert grade(subs, "--model", "xor_1layer", "--isolation", level, "--quiet", "--cache", cache, "--json", tmp_path / "r.json") == 0
    assert _score(tmp_path / "r.json") == WRONG_SCORE
