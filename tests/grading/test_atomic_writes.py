"""Outputs are written whole or not at all, and never replace a device (rt27: ``--csv /dev/null`` as root made /dev/null a file)."""
from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from gradcheck.grading.atomic import write_atomic


def test_a_fifo_is_written_in_place_not_replaced(tmp_path: Path) -> None:
    # a FIFO stands for /dev/null and /dev/stdout (not written here: a regression would replace the machine's)
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        write_atomic(fifo, "id,score\n")
        assert stat.S_ISFIFO(os.stat(fifo).st_mode)
        assert os.read(reader, 100) == b"id,score\n"
    finally:
        os.close(reader)


def test_a_symlink_keeps_pointing_at_the_file_it_names(tmp_path: Path) -> None:
    target = tmp_path / "synced" / "grades.csv"
    target.parent.mkdir()
    target.write_text("old")
    link = tmp_path / "grades.csv"
    link.symlink_to(target)
    write_atomic(link, "new")
    assert link.is_symlink() and target.read_text() == "new"


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    path = tmp_path / "grades.csv"
    path.write_text("old")
    with pytest.raises(UnicodeEncodeError):
        write_atomic(path, "\ud800", encoding="utf-8")
    assert path.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["grades.csv"]


def test_a_directory_is_refused_by_name(tmp_path: Path) -> None:
    with pytest.raises(IsADirectoryError, match=str(tmp_path)):
        write_atomic(tmp_path, "x")


def test_private_files_are_the_owners_alone(tmp_path: Path) -> None:
    write_atomic(tmp_path / "entry.json", "{}", private=True)
    assert stat.S_IMODE(os.stat(tmp_path / "entry.json").st_mode) == 0o600
