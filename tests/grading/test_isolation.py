"""One test per attack of issue 9, at each isolation level.

Each attack is a submission that tries it and prints what it got; the test
then looks from the grader's side (files on disk, processes alive, data
received, output) for any sign that it worked.  A level that does not claim
to stop an attack runs it as a strict ``xfail``: the test fails there (the
attack works), which is what ``docs/threat-model.md`` says of that level, and
an xfail that starts passing is an error too.  Levels the machine cannot
provide are skipped with the reason :func:`available_levels` gives.

Every test uses short wall limits; processes a submission leaves behind are
looked for by a marker in their command line and killed by the test if found.
"""
from __future__ import annotations

import os
import signal
import socket
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import reference_models
from gradcheck.grading.assignment import Limits
from gradcheck.grading.isolation import IsolationUnavailable, Level, available_levels, resolve
from gradcheck.grading.sandbox import Sandbox

LIMITS = Limits(wall_seconds=4, cpu_seconds=3, memory_bytes=512 << 20, load_seconds=10)
GRADS = "    return {k: 0 * v for k, v in params.items()}\n"
LEVELS = ("process", "uid", "namespaces")


def levels(*stopped_by: str) -> list[Any]:
    """The levels, with the ones that do not claim to stop the attack as strict xfails."""
    out = []
    for lv in LEVELS:
        marks = [] if lv in stopped_by else [pytest.mark.xfail(strict=True, reason=f"the {lv} level does not claim to stop this attack")]
        out.append(pytest.param(lv, marks=marks, id=lv))
    return out


def need(level: str) -> None:
    why = available_levels()[Level.parse(level)]
    if why is not None:
        pytest.skip(f"{level} isolation is not available here: {why}")


def point() -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    m = reference_models.get("xor_2layer")
    rng = np.random.default_rng(0)
    p = m.init_params(rng)
    x, y = m.example_batch(rng, 4)
    return p, x, y


def run(tmp_path: Path, level: str, body: str, *, prelude: str = "") -> tuple[Sandbox, Any]:
    """Grade a submission whose backward runs ``body`` (indented 4) once; returns the closed sandbox and the call."""
    need(level)
    sub = tmp_path / "subs" / "attacker.py"
    sub.parent.mkdir(exist_ok=True)
    sub.write_text(f"import os, sys, signal, socket, subprocess, time\nimport numpy as np\n{prelude}\ndef backward(params, x, y):\n{body}{GRADS}")
    p, x, y = point()
    box = Sandbox(sub, limits=LIMITS, isolation=level)
    try:
        r = box.call(p, x, y)
    finally:
        box.close()
    return box, r


def processes_with(marker: str) -> list[int]:
    found = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if marker.encode() in (d / "cmdline").read_bytes():
                    found.append(int(d.name))
            except OSError:
                pass
    return found


def kill_all(pids: list[int]) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


# -- processes that outlive the grader --------------------------------------------------------------
DETACH = {
    "popen_new_session": "    subprocess.Popen([sys.executable, '-c', SCRIPT], start_new_session=True)\n",
    "fork_setsid": "    if os.fork() == 0:\n        os.setsid()\n        os.execv(sys.executable, [sys.executable, '-c', SCRIPT])\n",
    "ignores_sigterm": (
        "    subprocess.Popen([sys.executable, '-c', 'import signal; signal.signal(signal.SIGTERM, signal.SIG_IGN); ' + SCRIPT],"
        " start_new_session=True)\n"
    ),
    "double_fork": (
        "    if os.fork() == 0:\n        os.setsid()\n        if os.fork() == 0:\n"
        "            signal.signal(signal.SIGTERM, signal.SIG_IGN)\n            os.execv(sys.executable, [sys.executable, '-c', SCRIPT])\n"
        "        os._exit(0)\n"
    ),
}


@pytest.mark.parametrize("how", sorted(DETACH))
@pytest.mark.parametrize("level", levels("process", "uid", "namespaces"))
def test_a_detached_process_dies_with_the_sandbox_and_forges_nothing(tmp_path: Path, level: str, how: str) -> None:
    marker = f"gc-detached-{uuid.uuid4().hex}"
    results = tmp_path / "out"
    results.mkdir()
    (results / "results.json").write_text('{"score": 0}')
    script = f"import time; time.sleep(0.6); open({str(results / 'results.json')!r}, 'w').write('forged')  # {marker}"
    _, r = run(tmp_path, level, DETACH[how] + "    time.sleep(0.3)  # until the detached process runs on its own\n", prelude=f"SCRIPT = {script!r}")
    time.sleep(0.2)
    alive = processes_with(marker)
    kill_all(alive)
    time.sleep(1.0)
    assert not alive and (results / "results.json").read_text() == '{"score": 0}', (alive, r.status, r.message)


# -- the grader's /proc ----------------------------------------------------------------------------------------
@pytest.fixture
def fake_grader() -> Any:
    """A process standing for the grader: a secret in its environment, the submissions' folder on its command line."""
    import subprocess
    import sys

    secret = f"s3cret-{uuid.uuid4().hex}"
    folder = f"/srv/class-{uuid.uuid4().hex}/submissions"
    proc = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(30)", "grade", folder],
        env={"GRADER_TOKEN": secret, "PATH": os.defpath},
    )
    yield proc.pid, secret, folder
    proc.kill()
    proc.wait()


READ_PROC = (
    "    for d in os.listdir('/proc'):\n"
    "        if d.isdigit():\n"
    "            for f in ('cmdline', 'environ'):\n"
    "                try:\n"
    "                    print(open(f'/proc/{d}/{f}', 'rb').read().decode(errors='replace'))\n"
    "                except OSError:\n"
    "                    pass\n"
)


@pytest.mark.parametrize("level", levels("uid", "namespaces"))
def test_the_graders_environment_cannot_be_read_through_proc(tmp_path: Path, level: str, fake_grader: Any) -> None:
    pid, secret, _ = fake_grader
    body = READ_PROC + f"    try:\n        print(open('/proc/{pid}/mem', 'rb').read(64))\n    except OSError:\n        pass\n"
    _, r = run(tmp_path, level, body)
    assert r.status == "ok", r.message
    assert secret not in r.output and secret not in r.message


@pytest.mark.parametrize("level", levels("namespaces"))
def test_the_graders_command_line_cannot_be_read_through_proc(tmp_path: Path, level: str, fake_grader: Any) -> None:
    _, _, folder = fake_grader
    _, r = run(tmp_path, level, READ_PROC)
    assert r.status == "ok", r.message
    assert folder not in r.output


# -- the filesystem -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("level", levels("uid", "namespaces"))
def test_another_submission_cannot_be_read_by_absolute_path(tmp_path: Path, level: str) -> None:
    classmate = tmp_path / "subs" / "classmate.py"
    classmate.parent.mkdir()
    classmate.write_text("# the classmate's secret backward pass\n")
    os.chmod(tmp_path, 0o755)  # as an instructor's umask 022 leaves it: readable by every user
    os.chmod(classmate, 0o644)
    body = f"    try:\n        print(open({str(classmate)!r}).read())\n    except OSError as e:\n        print('refused', e)\n"
    _, r = run(tmp_path, level, body)
    assert "secret backward" not in r.output, r.output


@pytest.mark.parametrize("level", levels("uid", "namespaces"))
def test_nothing_is_written_into_the_graders_working_directory(tmp_path: Path, level: str, monkeypatch: pytest.MonkeyPatch) -> None:
    cwd = tmp_path / "grader"
    cwd.mkdir()
    os.chmod(cwd, 0o777)  # even a directory anyone may write to is out of the child's view
    monkeypatch.chdir(cwd)
    body = f"    for name in ('results.json', '.gradcheck-cache/forged.json'):\n        try:\n            os.makedirs(os.path.dirname(os.path.join({str(cwd)!r}, name)), exist_ok=True)\n            open(os.path.join({str(cwd)!r}, name), 'w').write('forged')\n        except OSError as e:\n            print('refused', e)\n"
    _, r = run(tmp_path, level, body)
    assert list(cwd.iterdir()) == [], (list(cwd.iterdir()), r.output)


@pytest.mark.parametrize("level", levels("process", "uid", "namespaces"))
def test_a_symlink_to_the_answer_key_does_not_open_it(tmp_path: Path, level: str) -> None:
    key = Path(reference_models.__file__).resolve().parent
    source = (key / "__init__.py").read_text()
    telltale = max(source.splitlines(), key=len)  # the answer key's longest line
    body = (
        f"    os.symlink({str(key)!r}, 'answers')\n"
        "    try:\n"
        "        print(open('answers/__init__.py').read())\n"
        "    except OSError as e:\n"
        "        print('refused', e)\n"
    )
    _, r = run(tmp_path, level, body)
    assert telltale not in r.output and r.status in ("forbidden", "ok"), (r.status, r.message)


@pytest.mark.parametrize("level", levels("uid", "namespaces"))
def test_the_answer_key_cannot_be_read_by_another_program(tmp_path: Path, level: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """rt19 F12: ``cat`` in a subprocess is no Python ``open``, so the audit hook never sees it; the files must be out of view.

    Run from a folder inside this source tree (as an instructor grading in their clone's subfolder): the installed
    (or the source tree's) ``reference_models``, and the clone itself with its ``.git``, are covered at ``uid``
    (with a mount namespace) and never in view at ``namespaces``.
    """
    from gradcheck.grading.isolation import answer_key_paths

    if level == "uid" and not resolve("uid").mount_ns:
        pytest.skip("uid without a mount namespace relies on file permissions (the preflight warns)")
    monkeypatch.chdir(Path(__file__).parent)
    keys = answer_key_paths()
    files = [str(Path(k) / "reference_models" / "xor.py") for k in keys] + [str(Path(k) / "xor.py") for k in keys]
    files = [f for f in files if os.path.isfile(f)]
    assert files, keys  # the installed answer key at least
    body = (
        f"    got = [f for f in {files!r} if subprocess.run(['cat', f], capture_output=True).stdout]\n"
        "    print('READ', got)\n"
    )
    _, r = run(tmp_path, level, body)
    assert "READ []" in r.output, (r.status, r.output)


def test_namespaces_covers_an_answer_key_installed_beside_the_packages(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A non-editable install puts ``reference_models`` in the site-packages the child sees: it must be covered.

    This checkout's own key is in its source tree (out of view), so the installed numpy stands in for it.
    """
    from gradcheck.grading import isolation

    need("namespaces")
    site = next(d for d in isolation.site_dirs() if os.path.isfile(os.path.join(d, "numpy", "__init__.py")))
    key = os.path.join(site, "numpy")
    monkeypatch.setattr(isolation, "answer_key_paths", lambda cwd=None: [key])
    shown = dict(isolation.ns_site_binds())[site] + "/numpy/__init__.py"
    body = f"    r = subprocess.run(['cat', {shown!r}], capture_output=True)\n    print('GOT', len(r.stdout), r.returncode)\n"
    _, r = run(tmp_path, "namespaces", body)
    assert "GOT 0 1" in r.output, (r.status, r.output)


# -- the network -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("level", levels("namespaces"))
def test_no_connection_reaches_a_server_on_the_loopback(tmp_path: Path, level: str) -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(4)
    server.settimeout(0.2)
    port = server.getsockname()[1]
    got: list[bytes] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            got.append(conn.recv(100))
            conn.close()

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    body = f"    try:\n        s = socket.create_connection(('127.0.0.1', {port}), timeout=1)\n        s.sendall(b'exfiltrated')\n        s.close()\n    except OSError as e:\n        print('refused', e)\n"
    try:
        _, r = run(tmp_path, level, body)
        time.sleep(0.3)
    finally:
        stop.set()
        t.join()
        server.close()
    assert got == [], got


# -- limits of the whole tree ---------------------------------------------------------------------------------------
FORK_BOMB = (
    "    kids = []\n"
    "    try:\n"
    "        for _ in range(200):  # the bomb's own cap: a broken sandbox cannot take the machine down\n"
    "            pid = os.fork()\n"
    "            if pid == 0:\n"
    "                time.sleep(30)\n"
    "                os._exit(0)\n"
    "            kids.append(pid)\n"
    "    except OSError as e:\n"
    "        print('stopped after', len(kids), 'processes:', e, flush=True)\n"
    "        raise\n"
)


@pytest.mark.parametrize("level", levels("uid", "namespaces"))
def test_a_fork_bomb_is_stopped_by_the_sandboxs_process_limit(tmp_path: Path, level: str) -> None:
    from gradcheck.grading.sandbox import DEFAULT_PROCESSES

    _, r = run(tmp_path, level, FORK_BOMB)
    assert r.status == "crash" and "process" in r.message and str(DEFAULT_PROCESSES) in r.message, (r.status, r.message)
    stopped = [line for line in r.output.splitlines() if line.startswith("stopped after")]
    assert stopped and int(stopped[0].split()[2]) < DEFAULT_PROCESSES, r.output


MEMORY_BOMB = (
    "    blocks = []\n"
    "    for _ in range(100):  # touches 16 MB at a time, up to 1.6 GB: above the sandbox's 512 MB\n"
    "        blocks.append(np.ones(2 * 1024 * 1024))\n"
)


@pytest.mark.parametrize("level", LEVELS)
def test_a_memory_bomb_touching_memory_in_steps_ends_as_memory(tmp_path: Path, level: str) -> None:
    _, r = run(tmp_path, level, MEMORY_BOMB)
    assert r.status == "memory" and "512 MB" in r.message, (r.status, r.message)


# -- choosing a level --------------------------------------------------------------------------------------------------
def test_resolve_refuses_a_level_the_machine_lacks_and_says_how_to_get_it(monkeypatch: pytest.MonkeyPatch) -> None:
    import gradcheck.grading.isolation as iso

    monkeypatch.setattr(iso, "_probed", {Level.PROCESS: None, Level.UID: "needs root: run as root", Level.NAMESPACES: "no unshare: install util-linux"})
    assert resolve("auto").level is Level.PROCESS
    with pytest.raises(IsolationUnavailable, match="'namespaces' is required .* 'process': no unshare: install util-linux"):
        resolve("auto", require="namespaces")
    with pytest.raises(IsolationUnavailable, match="'uid' is not available on this machine: needs root"):
        resolve("uid")
    with pytest.raises(ValueError, match="isolation must be one of"):
        resolve("chroot")


def test_the_strongest_level_is_the_default_and_is_stated(tmp_path: Path) -> None:
    strongest = max(lv for lv, why in available_levels().items() if why is None)
    sub = tmp_path / "s.py"
    sub.write_text(f"def backward(params, x, y):\n{GRADS}")
    with Sandbox(sub, limits=LIMITS) as box:
        assert box.isolation is strongest


def test_uid_leases_are_exclusive(monkeypatch: pytest.MonkeyPatch) -> None:
    import gradcheck.grading.isolation as iso

    if os.geteuid() != 0:
        pytest.skip("uid leases live in a root-only directory")
    monkeypatch.setenv(iso.UID_RANGE_ENV, "60990-60991")
    a, b = iso.lease_uid(), iso.lease_uid()
    try:
        assert {a.uid, b.uid} == {60990, 60991}
        with pytest.raises(IsolationUnavailable, match="in use"):
            iso.lease_uid()
    finally:
        a.release()
        b.release()
    c = iso.lease_uid()
    c.release()


# -- the level in every report ------------------------------------------------------------------------------------------
def _grade_cli(*argv: object) -> int:
    import argparse

    from gradcheck.grading import cli

    parser = argparse.ArgumentParser(prog="gradcheck")
    cli.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["grade", *map(str, argv)])
    return int(args.func(args))


SUB = (
    "import numpy as np\n"
    "from helpers import sigmoid\n"
    "def backward(params, x, y):\n"
    "    a1 = sigmoid(x @ params['W1'] + params['b1'])\n"
    "    dz1 = 2 * (a1 - y) / len(y) * a1 * (1 - a1)\n"
    "    return {'W1': x.T @ dz1, 'b1': dz1.sum(0, keepdims=True)}\n"
)


@pytest.mark.parametrize("level", LEVELS)
def test_every_report_states_the_isolation_level(tmp_path: Path, level: str, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    need(level)
    d = tmp_path / "class"
    d.mkdir()
    for name in ("a.py", "b.py"):
        (d / name).write_text(SUB.replace("from helpers import sigmoid\n", "sigmoid = lambda z: 1 / (1 + np.exp(-z))\n"))
    out = tmp_path / "out"
    status = _grade_cli(
        d, "--model", "xor_1layer", "--jobs", "1", "--no-cache", "--no-shrink", "--isolation", level,
        "--json", out / "r.json", "--feedback", out / "fb", "--gradescope", out / "gs", "--summary", out / "summary.md",
    )
    assert status == 0
    stdout = capsys.readouterr().out
    rows = json.loads((out / "r.json").read_text())
    assert [r["isolation"] for r in rows] == [level, level]
    assert f"Isolation level {level}" in stdout
    assert f"**Isolation level:** {level}" in (out / "fb" / "a.py.md").read_text()
    assert json.loads((out / "gs" / "a.py.json").read_text())["extra_data"]["isolation"] == level
    assert any("Isolation" in line and level in line for line in (out / "summary.md").read_text().splitlines())


def test_require_isolation_refuses_with_what_is_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import gradcheck.grading.isolation as iso

    monkeypatch.setattr(iso, "_probed", {Level.PROCESS: None, Level.UID: "needs root", Level.NAMESPACES: "no unshare: install util-linux"})
    sub = tmp_path / "a.py"
    sub.write_text(SUB)
    status = _grade_cli(sub, "--model", "xor_1layer", "--no-cache", "--quiet", "--require-isolation", "namespaces")
    err = capsys.readouterr().err
    assert status == 2 and "'namespaces' is required" in err and "install util-linux" in err, err


def test_an_isolation_weaker_than_the_required_one_is_a_conflict_of_the_options(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    # rt17: --isolation process --require-isolation uid, where uid was available, said "the strongest this machine
    # allows is 'process': None"; the machine was not the problem, the two options were
    import gradcheck.grading.isolation as iso

    monkeypatch.setattr(iso, "_probed", {Level.PROCESS: None, Level.UID: None, Level.NAMESPACES: None})
    sub = tmp_path / "a.py"
    sub.write_text(SUB)
    status = _grade_cli(sub, "--model", "xor_1layer", "--no-cache", "--quiet", "--isolation", "process",
                        "--require-isolation", "uid")
    err = capsys.readouterr().err
    assert status == 2 and "--isolation process is weaker than --require-isolation uid" in err, err
    assert "None" not in err, err


# -- helper modules beside the submission (issue 10) ------------------------------------------------------------------------
@pytest.mark.parametrize("level", LEVELS)
def test_extra_files_are_importable_beside_the_submission(tmp_path: Path, level: str) -> None:
    need(level)
    helper = tmp_path / "helpers.py"
    helper.write_text("import numpy as np\ndef sigmoid(z):\n    return 1 / (1 + np.exp(-z))\n")
    sub = tmp_path / "sub.py"
    sub.write_text(SUB)
    m = reference_models.get("xor_1layer")
    rng = np.random.default_rng(0)
    p = m.init_params(rng)
    x, y = m.example_batch(rng, 4)
    with Sandbox(sub, limits=LIMITS, isolation=level, extra_files=[helper]) as box:
        r = box.call(p, x, y)
    ref = m.backward(p, x, y)
    assert r.status == "ok" and all(np.allclose(r.grads[k], ref[k], rtol=1e-12) for k in ref), (r.status, r.message, box.load_message)
    with Sandbox(sub, limits=LIMITS, isolation=level) as box:  # without it: the import fails, and says so
        assert box.load_status == "error" and "helpers" in box.load_message


# -- an unprivileged grader ------------------------------------------------------------------------------------------------
AS_GRADER = r'''
import json, os, sys, time
from pathlib import Path
import numpy as np
import reference_models
from gradcheck.grading.sandbox import Sandbox
from gradcheck.grading.assignment import Limits
work = Path(sys.argv[1])
os.chdir(work / "grader")
m = reference_models.get("xor_2layer")
rng = np.random.default_rng(0)
p = m.init_params(rng)
x, y = m.example_batch(rng, 4)
with Sandbox(work / "subs" / "attacker.py", limits=Limits(wall_seconds=4, cpu_seconds=3, memory_bytes=512 << 20, load_seconds=10)) as box:
    r = box.call(p, x, y)
print(json.dumps({"uid": os.getuid(), "level": box.isolation.value, "status": r.status, "message": r.message, "output": r.output}))
'''

ATTACK = (
    "import os, sys, subprocess, time\nimport numpy as np\n"
    "def backward(params, x, y):\n"
    "    for d in os.listdir('/proc'):\n"
    "        if d.isdigit():\n"
    "            try:\n"
    "                print(open(f'/proc/{d}/environ', 'rb').read().decode(errors='replace'))\n"
    "            except OSError:\n"
    "                pass\n"
    "    for target in (GRADER_CWD + '/results.json', CLASSMATE):\n"
    "        try:\n"
    "            print(open(target).read())\n"
    "            open(target, 'w').write('forged')\n"
    "        except OSError as e:\n"
    "            print('refused', type(e).__name__)\n"
    "    subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(0.5); open(GRADER_CWD + \"/late.json\", \"w\")  # ' + MARKER], start_new_session=True)\n"
    "    kids = 0\n"
    "    try:\n"
    "        for _ in range(200):  # a fork bomb with its own cap\n"
    "            if os.fork() == 0:\n"
    "                time.sleep(5)\n"
    "                os._exit(0)\n"
    "            kids += 1\n"
    "    except OSError:\n"
    "        print('stopped after', kids)\n"
    "    time.sleep(0.3)\n"
    "    return {k: 0 * v for k, v in params.items()}\n"
)


def test_an_unprivileged_grader_gets_namespaces_and_their_protection() -> None:
    """The grader as 'nobody' (dropped to in the test): auto is namespaces through a user namespace."""
    import shutil
    import subprocess

    if os.geteuid() != 0:
        pytest.skip("the test drops from root to an unprivileged grader")
    unshare, setpriv = shutil.which("unshare"), shutil.which("setpriv")
    if unshare is None or setpriv is None:
        pytest.skip("util-linux unshare/setpriv are not installed")
    if subprocess.run([setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", unshare, "--user", "--map-root-user", "--pid", "--fork",
                       "--mount", "--net", "--kill-child", "true"], capture_output=True).returncode != 0:
        pytest.skip("the kernel does not allow unprivileged user namespaces here")
    import tempfile

    top = Path(tempfile.mkdtemp(prefix="gc-unpriv-"))  # pytest's own tmp_path is under a root-only directory
    try:
        _unprivileged_grader(top, unshare, setpriv)
    finally:
        shutil.rmtree(top, ignore_errors=True)


def _unprivileged_grader(tmp_path: Path, unshare: str, setpriv: str) -> None:
    import json
    import subprocess
    import sys

    work = tmp_path / "w"
    (work / "grader").mkdir(parents=True)
    (work / "subs").mkdir()
    marker = f"gc-unpriv-{uuid.uuid4().hex}"
    secret = f"s3cret-{uuid.uuid4().hex}"
    (work / "grader" / "results.json").write_text('{"score": 0}')
    (work / "subs" / "classmate.py").write_text("# classmate's code\n")
    consts = f"GRADER_CWD = {str(work / 'grader')!r}\nCLASSMATE = {str(work / 'subs' / 'classmate.py')!r}\nMARKER = {marker!r}\n"
    (work / "subs" / "attacker.py").write_text(consts + ATTACK)
    (work / "grader.py").write_text(AS_GRADER)
    for d in (tmp_path, work, work / "grader", work / "subs"):
        os.chmod(d, 0o777)
    for f in (work / "grader" / "results.json", work / "subs" / "classmate.py", work / "subs" / "attacker.py", work / "grader.py"):
        os.chmod(f, 0o666)
    # Python lives under /root (mode 0700): in a mount namespace of its own, the test makes it reachable for 'nobody'
    prefix = os.path.realpath(sys.base_prefix)
    stage = tmp_path / "stage"
    stage.mkdir()
    hidden = next((str(p) for p in reversed(Path(prefix).parents) if not os.stat(p).st_mode & 0o001), None)
    expose = f"mount --bind {prefix} {stage} && mount -t tmpfs -o mode=0755 tmpfs {hidden} && mkdir -p {prefix} && mount --bind {stage} {prefix} && " if hidden else ""
    repo = Path(__file__).resolve().parents[2]
    env = {"PATH": os.environ.get("PATH", os.defpath), "PYTHONPATH": str(repo), "GRADER_TOKEN": secret, "HOME": str(work)}
    script = f"{expose}exec {setpriv} --reuid=65534 --regid=65534 --clear-groups {sys.executable} {work / 'grader.py'} {work}"
    proc = subprocess.run([unshare, "--mount", "sh", "-c", script], capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 0, proc.stderr[-2000:]
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    time.sleep(1.0)
    alive = processes_with(marker)
    kill_all(alive)
    assert got["uid"] == 65534 and got["level"] == "namespaces", got
    assert got["status"] == "ok", got
    assert secret not in got["output"] and "classmate's code" not in got["output"], got["output"]
    stopped = [line for line in got["output"].splitlines() if line.startswith("stopped after")]
    assert stopped and int(stopped[0].split()[2]) < 64, got["output"][-500:]  # the sandbox's RLIMIT_NPROC, not the bomb's cap
    assert (work / "grader" / "results.json").read_text() == '{"score": 0}' and not (work / "grader" / "late.json").exists()
    assert (work / "subs" / "classmate.py").read_text() == "# classmate's code\n"
    assert not alive


def test_kill_uid_reaches_every_process_of_that_uid_and_no_other() -> None:
    import shutil
    import subprocess

    import gradcheck.grading.isolation as iso

    setpriv = shutil.which("setpriv")
    if os.geteuid() != 0 or setpriv is None:
        pytest.skip("needs root and util-linux setpriv")
    victim = subprocess.Popen([setpriv, "--reuid=60997", "--regid=60997", "--clear-groups", "sleep", "30"], start_new_session=True)
    bystander = subprocess.Popen([setpriv, "--reuid=60998", "--regid=60998", "--clear-groups", "sleep", "30"], start_new_session=True)
    try:
        time.sleep(0.2)
        iso.kill_uid(60997, 60997)
        assert victim.wait(timeout=5) == -signal.SIGKILL
        assert bystander.poll() is None
    finally:
        victim.kill()
        bystander.kill()
        victim.wait()
        bystander.wait()


@pytest.mark.parametrize("level", LEVELS)
def test_dev_null_and_urandom_work_in_the_sandbox(tmp_path: Path, level: str) -> None:
    body = (
        "    subprocess.run([sys.executable, '-c', 'pass'], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, check=True)\n"
        "    open('/dev/null', 'w').write('x')\n"
        "    assert len(open('/dev/urandom', 'rb').read(8)) == 8 and open('/dev/zero', 'rb').read(2) == bytes(2)\n"
    )
    _, r = run(tmp_path, level, body)
    assert r.status == "ok", r.message


# -- process level: the cache, the grader's orphans, the warning (red team F13) --------------------------------------
WRONG_SIGN = SUB.replace("from helpers import sigmoid\n", "sigmoid = lambda z: 1 / (1 + np.exp(-z))\n").replace("'W1': x.T @ dz1", "'W1': -(x.T @ dz1)")


def _forge_every_entry(cache: Path) -> int:
    """What a submission at ``process`` can do: re-sign every entry of the cache as full marks with the grader's key, if it can read one."""
    import json

    from gradcheck.grading.cache import ResultCache, key_path
    from gradcheck.grading.results import SubmissionResult

    forged = 0
    for entry in cache.glob("*.json") if key_path().exists() else ():
        data = json.loads(entry.read_text())
        result = json.loads(data["result"])
        result.update(score=result["max_score"])
        ResultCache(cache).put(entry.stem, SubmissionResult.from_dict(result), json.loads(data["inputs"]))
        forged += 1
    return forged


def test_at_process_the_cache_is_neither_read_nor_written_so_a_forged_entry_gives_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The red team's forgery (the key is readable at ``process``): the second run grades again and gives the same partial score,
    and a key made by an earlier run at a stronger level is deleted before the code under grade could read it."""
    import json

    from gradcheck.grading.cache import key_path, load_key

    sub = tmp_path / "subs" / "a.py"
    sub.parent.mkdir()
    sub.write_text(WRONG_SIGN)
    cache = tmp_path / "cache"
    load_key()  # a key made by an earlier run at 'uid' or 'namespaces'
    common = ("--model", "xor_1layer", "--jobs", "1", "--quiet", "--no-shrink", "--isolation", "process", "--cache", cache)
    assert _grade_cli(sub, *common, "--json", tmp_path / "1.json") == 0
    assert not key_path().exists()  # deleted before the submission ran: it read nothing it could sign with
    _forge_every_entry(cache)
    assert _grade_cli(sub, *common, "--json", tmp_path / "2.json") == 0
    first, second = (json.loads((tmp_path / f"{n}.json").read_text())[0] for n in (1, 2))
    assert first["score"] == second["score"] < second["max_score"], (first, second)
    assert not key_path().exists() and not list(cache.glob("*.json"))
    err = capsys.readouterr().err
    assert "neither read nor written at isolation 'process'" in err and str(key_path()) in err and "that key was deleted" in err, err


@pytest.mark.parametrize("level", ["uid", "namespaces"])
def test_at_the_stronger_levels_the_cache_is_still_used(tmp_path: Path, level: str, capsys: pytest.CaptureFixture[str]) -> None:
    from gradcheck.grading.cache import key_path

    need(level)
    sub = tmp_path / "subs" / "a.py"
    sub.parent.mkdir()
    sub.write_text(WRONG_SIGN)
    cache = tmp_path / "cache"
    common = ("--model", "xor_1layer", "--jobs", "1", "--quiet", "--no-shrink", "--isolation", level, "--cache", cache)
    assert _grade_cli(sub, *common) == 0
    assert len(list(cache.glob("*.json"))) == 1 and key_path().exists() and not (cache / ".hmac-key").exists()
    assert "neither read nor written" not in capsys.readouterr().err


KILLS_LAUNCHER = (
    "import os, signal, sys, time\n"
    "import numpy as np\n"
    "SCRIPT = {script!r}\n"
    "if os.fork() == 0:\n"
    "    os.setsid()\n"
    "    if os.fork() == 0:\n"
    "        os.execv(sys.executable, [sys.executable, '-c', SCRIPT])\n"
    "    os._exit(0)\n"
    "time.sleep(0.3)\n"
    "os.kill(os.getppid(), signal.SIGKILL)  # the launcher, its parent at process: it cannot kill what it adopted\n"
    "def backward(params, x, y):\n"
    "    return {{k: 0 * v for k, v in params.items()}}\n"
)


def test_at_process_what_outlives_a_killed_launcher_dies_before_the_outputs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The grading process adopts the orphans (a child subreaper) and kills them before it writes anything."""
    marker = f"gc-orphan-{uuid.uuid4().hex}"
    late = tmp_path / "late.json"
    script = f"import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(1.5); open({str(late)!r}, 'w')  # {marker}"
    sub = tmp_path / "a.py"
    sub.write_text(KILLS_LAUNCHER.format(script=script))
    status = _grade_cli(sub, "--model", "xor_1layer", "--jobs", "1", "--no-cache", "--quiet", "--no-shrink", "--isolation", "process",
                        "--json", tmp_path / "r.json")
    alive = processes_with(marker)
    kill_all(alive)
    time.sleep(2.0)
    assert status == 0 and not alive and not late.exists(), (alive, capsys.readouterr().err)


def test_auto_falling_back_to_process_says_grades_are_not_tamper_proof(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import gradcheck.grading.isolation as iso

    monkeypatch.setattr(iso, "_probed", {Level.PROCESS: None, Level.UID: "needs root", Level.NAMESPACES: "no unshare: install util-linux"})
    sub = tmp_path / "a.py"
    sub.write_text(WRONG_SIGN)
    assert _grade_cli(sub, "--model", "xor_1layer", "--no-cache", "--quiet", "--no-shrink", "--jobs", "1") == 0
    err = capsys.readouterr().err
    assert "resolved to 'process'" in err and "not tamper-proof" in err, err
    assert "needs root" in err and "install util-linux" in err and "--require-isolation uid" in err, err


# -- the same installed packages at every level (red team F8) --------------------------------------------------------
IMPORTS_AND_WRITES = (
    "    import threadpoolctl  # a dependency of gradcheck: installed wherever the grader is\n"
    "    try:\n"
    "        open(os.path.join(os.path.dirname(threadpoolctl.__file__), 'gc-planted.py'), 'w').write('x = 1')\n"
    "        print('wrote into site-packages')\n"
    "    except OSError as e:\n"
    "        print('refused', type(e).__name__)\n"
)


@pytest.mark.parametrize("level", LEVELS)
def test_an_installed_package_imports_at_every_level(tmp_path: Path, level: str) -> None:
    """A correct submission importing an installed package other than numpy is graded, not an ``error``, whatever the level."""
    _, r = run(tmp_path, level, "    import threadpoolctl\n")
    assert r.status == "ok", (r.status, r.message)


@pytest.mark.parametrize("level", levels("uid", "namespaces"))
def test_installed_packages_are_read_only_to_the_submission(tmp_path: Path, level: str) -> None:
    import threadpoolctl

    planted = Path(threadpoolctl.__file__).parent / "gc-planted.py"
    try:
        _, r = run(tmp_path, level, IMPORTS_AND_WRITES)
        assert r.status == "ok" and not planted.exists(), (r.status, r.message)
    finally:
        planted.unlink(missing_ok=True)


def test_the_red_teams_import_rich_gets_the_same_grade_at_every_level(tmp_path: Path) -> None:
    """`import rich` with a correct backward: the same score at every level the machine has (it was 0 at namespaces)."""
    import json

    pytest.importorskip("rich")
    sub = tmp_path / "a.py"
    sub.write_text("import rich\n" + SUB.replace("from helpers import sigmoid\n", "sigmoid = lambda z: 1 / (1 + np.exp(-z))\n"))
    scores = {}
    for level in LEVELS:
        if available_levels()[Level.parse(level)] is None:
            out = tmp_path / f"{level}.json"
            assert _grade_cli(sub, "--model", "xor_1layer", "--jobs", "1", "--no-cache", "--quiet", "--no-shrink", "--isolation", level, "--json", out) == 0
            row = json.loads(out.read_text())[0]
            scores[level] = (row["score"], row["max_score"])
    assert len(scores) > 1 and len(set(scores.values())) == 1 and all(s == m for s, m in scores.values()), scores


# -- reading stdin (red team F10) ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("level", LEVELS)
def test_input_fails_at_once_as_an_error_saying_stdin_is_empty(tmp_path: Path, level: str) -> None:
    """``input()`` does not block until the wall clock (stdin is /dev/null): an ``error`` whose message says why."""
    _, r = run(tmp_path, level, "    input('press enter')\n")
    assert r.status == "error" and "EOFError" in r.message and "stdin is /dev/null" in r.message, (r.status, r.message)


# -- Gradescope's floor (red team F22) -------------------------------------------------------------------------------------
def test_the_gradescope_run_refuses_process_and_never_runs_the_submission(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """What run_autograder runs (``gradescope-run``) requires ``uid`` by default: on a machine with only ``process``, 0 and a note."""
    import json

    import gradcheck.grading.isolation as iso
    from gradcheck.grading.autograder import REQUIRE_ENV, run_gradescope

    monkeypatch.delenv(REQUIRE_ENV, raising=False)
    monkeypatch.setattr(iso, "_probed", {Level.PROCESS: None, Level.UID: "needs root", Level.NAMESPACES: "no unshare"})
    ran = tmp_path / "ran"
    (tmp_path / "submission").mkdir()
    (tmp_path / "submission" / "hw.py").write_text(f"open({str(ran)!r}, 'w')\n" + SUB.replace("from helpers import sigmoid\n", "sigmoid = lambda z: 1 / (1 + np.exp(-z))\n"))
    (tmp_path / "a.toml").write_text('model = "xor_1layer"\n')
    data = json.loads(run_gradescope(tmp_path, tmp_path / "a.toml").read_text())
    assert data["score"] == 0 and "autograder itself failed" in data["tests"][0]["output"] and not ran.exists(), data
