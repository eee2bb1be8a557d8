"""The sandbox's configuration is on no command line (rt26 L10): ``/proc/PID/cmdline`` is readable by every user, and the
launcher's once carried the harness's directories (where the answer key is) and the child's whole bootstrap."""
from __future__ import annotations

from pathlib import Path

import pytest

from gradcheck.grading.sandbox import _harness_dirs
from tests.grading.test_isolation import levels, run

#: The backward prints the command line of its own process and of each ancestor up to the grader's (or pid 1).
READ_ANCESTORS = (
    "    pid = os.getpid()\n"
    "    while pid > 1:\n"
    "        try:\n"
    "            print('CMDLINE', open(f'/proc/{pid}/cmdline', 'rb').read().replace(b'\\0', b' ').decode(errors='replace'))\n"
    "            pid = int(open(f'/proc/{pid}/stat').read().rsplit(')', 1)[1].split()[1])\n"
    "        except (OSError, ValueError, IndexError):\n"
    "            break\n"
)


@pytest.mark.parametrize("level", levels("process", "uid", "namespaces"))
def test_no_command_line_of_the_sandbox_carries_its_configuration(tmp_path: Path, level: str) -> None:
    _, r = run(tmp_path, level, READ_ANCESTORS)
    assert r.status == "ok", r.message
    lines = [ln for ln in r.output.splitlines() if ln.startswith("CMDLINE")]
    assert any("_launcher.py" in ln for ln in lines) or level == "namespaces", lines  # the launcher was read (pid 1 at namespaces)
    for word in ("harness_dirs", "cmd_fd", "lifeline", "def main("):  # keys of the child's and the launcher's configuration, the bootstrap
        assert not any(word in ln for ln in lines), (word, lines)
    assert not any(d in ln for d in _harness_dirs() if d.endswith("reference_models") for ln in lines), lines
