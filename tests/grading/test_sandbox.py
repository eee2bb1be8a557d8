"""The grading sandbox: every hostile behaviour gets its verdict, the next submission is graded normally."""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

import reference_models
from gradcheck.grading.assignment import Limits, SubmissionSpec, load_assignment
from gradcheck.grading import _wire
from gradcheck.grading._wire import HEADER, MAGIC, Key, ProtocolError, decode, encode
from gradcheck.grading.sandbox import CallResult, Sandbox

CORPUS = Path(__file__).parent / "submissions"
REPO = Path(__file__).resolve().parents[2]
LIMITS = Limits(wall_seconds=3, cpu_seconds=2, memory_bytes=512 << 20, load_seconds=10)
FAST = Limits(wall_seconds=1.5, cpu_seconds=1, memory_bytes=512 << 20, load_seconds=10)
#: For the memory bombs: the verdict under test is the memory limit's, so the wall clock must not fire first
#: (under a load average of 10 on 2 cores, filling 512 MB took more than LIMITS' 3 s: a `timeout` verdict).
ROOMY = Limits(wall_seconds=30, cpu_seconds=20, memory_bytes=512 << 20, load_seconds=10)
#: expected verdicts that are the sandbox's own status; every other one means status "ok"
SANDBOX_STATUSES = {"syntax", "missing", "error", "timeout", "memory", "output", "forbidden", "crash", "type"}


#: Corpus files whose verdict depends on the isolation level, and why: at the stronger
#: levels the attack itself fails (the launcher belongs to the grader's user: EPERM, and at
#: ``namespaces`` the answer key is not in view).
LEVEL_VERDICTS: dict[str, dict[str, str]] = {
    "xor_2layer__crash__rt_hostile_kills_parent": {"uid": "error", "namespaces": "error"},
    "xor_2layer__forbidden__rt_hostile_loads_reference_by_path": {"namespaces": "ok"},
}


def expected_verdict(path: Path, level: str) -> str:
    """The sandbox status the corpus file's name promises at ``level``."""
    expected = path.stem.split("__")[1]
    expected = LEVEL_VERDICTS.get(path.stem, {}).get(level, expected)
    return expected if expected in SANDBOX_STATUSES else "ok"


def corpus_files() -> list[Path]:
    return sorted(p for p in CORPUS.iterdir() if p.suffix in (".py", ".ipynb") and p.stem.count("__") == 2)


def point(model_name: str, options: dict | None = None, seed: int = 0, n: int = 5):
    m = reference_models.get(model_name, **(options or {}))
    rng = np.random.default_rng(seed)
    p = m.init_params(rng)
    x, y = m.example_batch(rng, n)
    return m, p, x, y


def write(tmp_path: Path, code: str, name: str = "sub.py") -> Path:
    path = tmp_path / name
    path.write_text(code)
    return path


def run_once(path: Path, spec: SubmissionSpec | None = None, limits: Limits = LIMITS, model: str = "xor_2layer") -> tuple[Sandbox, CallResult]:
    _, p, x, y = point(model)
    box = Sandbox(path, spec, limits=limits)
    try:
        return box, box.call(p, x, y)
    finally:
        box.close()


# -- the corpus -------------------------------------------------------------------
def test_corpus_has_every_required_case() -> None:
    stems = {p.stem for p in corpus_files()}
    expected = {
        "xor_2layer__correct__dict", "xor_2layer__correct__notebook", "study_2layer__correct__class",
        "study_2layer__correct__class_notebook", "onehot_222__correct__dict",
        "xor_2layer__timeout__hostile_infinite_loop", "xor_2layer__memory__hostile_memory_bomb",
        "xor_2layer__output__hostile_output_flood", "xor_2layer__crash__hostile_sys_exit",
        "xor_2layer__crash__hostile_os_exit", "xor_2layer__error__hostile_raises",
        "xor_2layer__syntax__hostile_syntax_error", "xor_2layer__missing__hostile_wrong_names",
        "xor_2layer__type__hostile_wrong_return_type", "xor_2layer__wrong__hostile_patches_numpy",
        "xor_2layer__forbidden__hostile_imports_gradcheck", "xor_2layer__mutation__hostile_mutates_inputs",
        "xor_2layer__nondeterministic__hostile_unseeded_noise",
    }
    assert expected <= stems, sorted(expected - stems)


@pytest.mark.parametrize("path", corpus_files(), ids=lambda p: p.name)
def test_corpus_submission(path: Path) -> None:
    model_name, expected, _ = path.stem.split("__")
    toml = path.with_suffix(".toml")
    spec, options = SubmissionSpec(), {}
    if toml.exists():
        a = load_assignment(toml)
        spec, options = a.spec, dict(a.model_options)
    limits = {"timeout": FAST, "memory": ROOMY}.get(expected, LIMITS)
    m, p, x, y = point(model_name, options)
    before = {k: v.copy() for k, v in p.items()}
    x0, y0 = x.copy(), y.copy()
    with Sandbox(path, spec, limits=limits) as box:
        r = box.call(p, x, y)
        want = expected_verdict(path, box.isolation.value)
        assert r.status == want, (r.status, r.message, box.load_message, box.notes)
        # the parent's own arrays are never touched, whatever the child does
        assert all(np.array_equal(p[k], before[k]) for k in p) and np.array_equal(x, x0) and np.array_equal(y, y0)
        if want != "ok":
            assert r.grads is None and r.message
            return
        ref = m.backward(p, x, y)
        same = {k: k in r.grads and r.grads[k].shape == np.shape(ref[k]) and np.allclose(r.grads[k], ref[k], rtol=1e-9, atol=1e-12) for k in ref}
        if expected in ("correct", "mutation"):
            assert all(same.values()), same
        if expected == "correct":
            assert all(np.array_equal(r.after[f"params.{k}"], before[k]) for k in p)
            assert np.array_equal(r.after["x"], x0)
            if box.has_forward:
                assert r.forward_status == "ok" and np.allclose(r.forward, m.forward(p, x), rtol=1e-12)
        if expected == "mutation":
            changed = [k for k in p if not np.array_equal(r.after[f"params.{k}"], before[k])]
            assert changed, "the mutation must be visible in `after`"
        if expected == "nondeterministic":
            r2 = box.call(p, x, y)
            assert r2.status == "ok" and any(not np.array_equal(r.grads[k], r2.grads[k]) for k in r.grads)
        if expected == "wrong":
            assert not all(same.values())


# -- sessions -----------------------------------------------------------------------
def test_session_answers_many_calls_and_is_deterministic_for_a_correct_submission() -> None:
    m, p, x, y = point("xor_2layer")
    with Sandbox(CORPUS / "xor_2layer__correct__dict.py", limits=LIMITS) as box:
        t0 = time.perf_counter()
        results = [box.call({k: v + 0.01 * i for k, v in p.items()}, x, y) for i in range(100)]
        per_call = (time.perf_counter() - t0) / 100
        assert all(r.status == "ok" for r in results)
        again = box.call({k: v + 0.01 * 99 for k, v in p.items()}, x, y)
        assert all(np.array_equal(again.grads[k], results[-1].grads[k]) for k in p)
        assert box.start_seconds > 0 and box.import_seconds > 0
    assert per_call < 0.05, per_call


@pytest.mark.parametrize("name", ["xor_2layer__crash__hostile_os_exit.py", "xor_2layer__output__hostile_output_flood.py"])
def test_a_dead_session_repeats_its_verdict_quickly(name: str) -> None:
    _, p, x, y = point("xor_2layer")
    with Sandbox(CORPUS / name, limits=LIMITS) as box:
        first = box.call(p, x, y)
        assert not box.alive
        t0 = time.perf_counter()
        second = box.call(p, x, y)
        assert time.perf_counter() - t0 < 0.05
    assert (second.status, second.message) == (first.status, first.message)


def test_next_submission_is_graded_normally_after_hostile_ones() -> None:
    for name in ("xor_2layer__memory__hostile_memory_bomb.py", "xor_2layer__output__hostile_output_flood.py", "xor_2layer__crash__hostile_sys_exit.py"):
        _, r = run_once(CORPUS / name)
        assert r.status != "ok"
    m, p, x, y = point("xor_2layer")
    _, r = run_once(CORPUS / "xor_2layer__correct__dict.py")
    assert r.status == "ok" and np.allclose(r.grads["W1"], m.backward(p, x, y)["W1"])


def test_memory_error_keeps_the_session_alive(tmp_path: Path) -> None:
    code = "import numpy as np\nn = [0]\ndef backward(params, x, y):\n    n[0] += 1\n    if n[0] == 1:\n        a = [np.ones(10**7) for _ in range(1000)]\n    return {k: v * 0 for k, v in params.items()}\n"
    _, p, x, y = point("xor_2layer")
    with Sandbox(write(tmp_path, code), limits=LIMITS) as box:
        assert box.call(p, x, y).status == "memory"
        assert box.alive
        assert box.call(p, x, y).status == "ok"


def test_cpu_limit_stops_a_busy_loop_before_the_wall_clock(tmp_path: Path) -> None:
    limits = Limits(wall_seconds=6, cpu_seconds=1, memory_bytes=512 << 20)
    _, r = run_once(CORPUS / "xor_2layer__timeout__hostile_infinite_loop.py", limits=limits)
    assert r.status == "timeout" and "CPU" in r.message  # the wall clock (6 s) would say "wall clock"


def test_wall_clock_stops_a_sleeping_call_and_kills_its_children(tmp_path: Path) -> None:
    code = (
        "import subprocess, sys, time\n"
        "def backward(params, x, y):\n"
        "    child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        "    print('grandchild', child.pid, flush=True)\n"
        "    time.sleep(60)\n"
    )
    _, p, x, y = point("xor_2layer")
    with Sandbox(write(tmp_path, code), limits=FAST, isolation="process") as box:  # the pid printed is the host's only here
        r = box.call(p, x, y)
    assert r.status == "timeout" and "wall clock" in r.message
    pid = int(r.output.split()[1])
    time.sleep(0.1)
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        state = "gone"
    assert state in ("Z", "X", "gone"), state  # killed with the process group (a zombie until init reaps it)


def test_load_phase_timeout_for_a_training_call_at_top_level(tmp_path: Path) -> None:
    code = "def train():\n    while True:\n        pass\n\ntrain()\n\ndef backward(params, x, y):\n    return {}\n"
    box = Sandbox(write(tmp_path, code), limits=Limits(load_seconds=1.5, cpu_seconds=1, memory_bytes=512 << 20))
    box.close()
    assert box.load_status == "timeout"


def test_exit_while_loading_is_a_crash_and_a_defined_function_survives_it(tmp_path: Path) -> None:
    box, r = run_once(write(tmp_path, "import sys\nsys.exit(3)\ndef backward(params, x, y):\n    return {}\n"))
    assert box.load_status == "crash" and "sys.exit(3)" in box.load_message and r.status == "crash"
    code = "def backward(params, x, y):\n    return {k: 0 * v for k, v in params.items()}\nimport sys\nsys.exit(0)\n"
    box, r = run_once(write(tmp_path, code, "b.py"))
    assert box.load_status == "ok" and r.status == "ok" and any("sys.exit(0)" in n for n in box.notes)


def test_forbidden_even_when_the_harness_is_on_the_path(tmp_path: Path) -> None:
    code = (
        f"import sys\nsys.path.insert(0, {str(REPO)!r})\n"
        "def backward(params, x, y):\n"
        "    import importlib\n"
        "    m = importlib.import_module('gradcheck.grading.sandbox')\n"
        "    return {k: 0 * v for k, v in params.items()}\n"
    )
    _, r = run_once(write(tmp_path, code))
    assert r.status == "forbidden" and "'gradcheck'" in r.message


@pytest.mark.parametrize("level", ["process", "uid", "namespaces"])
def test_child_environment_is_clean_and_its_directory_is_deleted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, level: str) -> None:
    monkeypatch.setenv("GRADCHECK_TEST_SECRET", "s3cret")
    code = (
        "import os, sys\n"
        "open('scratch.txt', 'w').write('x')\n"
        "def backward(params, x, y):\n"
        "    leaks = [k for k in os.environ if 'SECRET' in k]\n"
        "    assert not leaks, leaks\n"
        "    assert os.path.exists('scratch.txt') and os.environ['HOME'] == os.getcwd()\n"
        "    assert sys.flags.isolated == 1\n"
        "    return {k: 0 * v for k, v in params.items()}\n"
    )
    _, p, x, y = point("xor_2layer")
    box = Sandbox(write(tmp_path, code), limits=LIMITS, isolation=level)
    workdir = box._p.tmpdir
    r = box.call(p, x, y)
    assert r.status == "ok", r.message
    if level == "namespaces":
        assert workdir is None  # a tmpfs inside the sandbox: nothing of it on the grader's disk
    else:
        assert workdir is not None and (Path(workdir) / "scratch.txt").exists()
    box.close()
    assert workdir is None or not Path(workdir).exists()


def test_output_is_captured_per_phase(tmp_path: Path) -> None:
    code = "print('loading')\ndef backward(params, x, y):\n    print('called', len(x))\n    return {k: 0 * v for k, v in params.items()}\n"
    box, r = run_once(write(tmp_path, code))
    assert box.load_output == "loading\n" and r.output == "called 5\n"


def test_corrupting_the_result_channel_is_a_crash(tmp_path: Path) -> None:
    code = "import os\ndef backward(params, x, y):\n    for fd in range(3, 64):\n        try:\n            os.write(fd, b'garbage!' * 4)\n        except OSError:\n            pass\n    return {}\n"
    _, r = run_once(write(tmp_path, code))
    assert r.status == "crash" and "result channel" in r.message


# -- what a call returns --------------------------------------------------------------
def test_dict_without_one_gradient_reports_it_missing(tmp_path: Path) -> None:
    code = "def backward(params, x, y):\n    return {'dW1': 0 * params['W1'], 'W2': params['W2'], 'b1': params['b1']}\n"
    _, r = run_once(write(tmp_path, code))
    assert r.status == "ok" and set(r.grads) == {"W1", "W2", "b1"}
    assert any("b2" in n for n in r.notes)


@pytest.mark.parametrize(
    "ret, words",
    [("None", "return"), ("(1, 2)", "expected a dict"), ("{'W1': None, 'b1': 1, 'W2': 1, 'b2': 1}", "is None (is a `return`"), ("{'a': 1}", "none of them"), ("{k: 1j for k in params}", "real numbers")],
)
def test_wrong_return_types(tmp_path: Path, ret: str, words: str) -> None:
    _, r = run_once(write(tmp_path, f"def backward(params, x, y):\n    return {ret}\n"))
    assert r.status == "type" and words in r.message, r.message


def test_wrong_arity_explains_the_calling_convention(tmp_path: Path) -> None:
    _, r = run_once(write(tmp_path, "def backward(params, x):\n    return {}\n"))
    assert r.status == "error" and "TypeError" in r.message and "backward(params, x, y)" in r.message


def test_error_traceback_shows_only_student_frames() -> None:
    _, r = run_once(CORPUS / "xor_2layer__error__hostile_raises.py")
    assert r.status == "error" and "ValueError" in r.message
    assert "xor_2layer__error__hostile_raises.py" in r.message and "_child.py" not in r.message and "numpy" not in r.message


def test_forward_failure_does_not_hide_a_good_backward(tmp_path: Path) -> None:
    code = "def forward(params, x):\n    raise RuntimeError('no')\ndef backward(params, x, y):\n    return {k: 0 * v for k, v in params.items()}\n"
    box, r = run_once(write(tmp_path, code))
    assert box.has_forward and r.status == "ok" and r.forward_status == "error" and r.forward is None


def test_missing_forward_is_noted_or_required(tmp_path: Path) -> None:
    path = write(tmp_path, "def backward(params, x, y):\n    return {k: 0 * v for k, v in params.items()}\n")
    box, r = run_once(path)
    assert not box.has_forward and r.forward_status is None and any("forward" in n for n in box.notes)
    box, r = run_once(path, SubmissionSpec(require_forward=True))
    assert box.load_status == "missing" and r.status == "missing"


def test_notebook_keeps_going_after_failing_cells(tmp_path: Path) -> None:
    box, r = run_once(CORPUS / "xor_2layer__correct__notebook.ipynb")
    assert box.load_status == "ok" and r.status == "ok"
    joined = "\n".join(box.notes)
    assert "code cell 4" in joined and "ModuleNotFoundError" in joined  # the raising cell
    assert "skipped a top-level for loop" in joined and "IPython" in joined


def test_notebook_syntax_error_cell_is_the_verdict_only_if_backward_is_missing(tmp_path: Path) -> None:
    import json

    def nb(*sources: str) -> str:
        return json.dumps({"cells": [{"cell_type": "code", "source": s, "metadata": {}, "outputs": [], "execution_count": None} for s in sources], "metadata": {}, "nbformat": 4, "nbformat_minor": 4})

    good = "def backward(params, x, y):\n    return {k: 0 * v for k, v in params.items()}"
    box, r = run_once(write(tmp_path, nb("x = (", good), "a.ipynb"))
    assert r.status == "ok" and any("syntax error" in n for n in box.notes)
    box, r = run_once(write(tmp_path, nb("import numpy", "def backward(params, x, y)\n    return 1"), "b.ipynb"))
    assert r.status == "syntax" and "code cell 2" in r.message and "backward" in r.message


def test_class_convention_reads_attributes_and_tuples() -> None:
    a = load_assignment(CORPUS / "study_2layer__correct__class.toml")
    m, p, x, y = point("study_2layer")
    with Sandbox(CORPUS / "study_2layer__correct__class.py", a.spec, limits=LIMITS) as box:
        assert box.found_names == ("Neural_Network",)
        r = box.call(p, x, y)
    ref = m.backward(p, x, y)
    assert r.status == "ok" and all(np.allclose(r.grads[k], ref[k]) for k in ref)
    assert r.forward_status == "ok" and np.allclose(r.forward, m.forward(p, x))


def test_class_missing_method_lists_the_methods(tmp_path: Path) -> None:
    spec = SubmissionSpec(style="class", class_name="Net", backward="gradients", forward=None)
    box, r = run_once(write(tmp_path, "class Net:\n    def gradient(self, x, y):\n        return 1\n"), spec)
    assert r.status == "missing" and "gradient" in r.message and "did you mean" in r.message


# -- argument checks and the wire format ------------------------------------------------
def test_argument_checks_name_the_argument(tmp_path: Path) -> None:
    path = write(tmp_path, "def backward(params, x, y):\n    return {}\n")
    with pytest.raises(TypeError, match="spec"):
        Sandbox(path, {"style": "function"})  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="limits"):
        Sandbox(path, limits={"wall_seconds": 1})  # type: ignore[arg-type]
    with pytest.raises(FileNotFoundError, match="nope.py"):
        Sandbox(tmp_path / "nope.py")
    with Sandbox(path, limits=LIMITS) as box:
        with pytest.raises(TypeError, match=r"params\['W'\]"):
            box.call({"W": np.array(["a"])}, np.ones(2), np.ones(2))
        with pytest.raises(TypeError, match="params"):
            box.call([], np.ones(2), np.ones(2))  # type: ignore[arg-type]


def test_frames_round_trip_and_reject_garbage() -> None:
    a = np.arange(6.0).reshape(2, 3)
    w, s = Key(_wire.GRAD, "W"), Key(_wire.FORWARD, "")
    frame = bytearray(encode({"status": "ok"}, [(w, a), (s, np.float64(2.5))]))
    meta, arrays, used = decode(frame, 1 << 20)
    assert used == len(frame) and meta["status"] == "ok"
    assert np.array_equal(arrays[w], a) and arrays[w].dtype == np.float64 and arrays[s].shape == ()
    assert decode(frame[:10], 1 << 20) is None
    with pytest.raises(ProtocolError):
        decode(bytearray(b"XXXX" + bytes(12)), 1 << 20)
    with pytest.raises(ProtocolError):
        decode(frame, 8)  # payload larger than allowed
    bad = bytearray(HEADER.pack(MAGIC, 2, 0) + b"[]")
    with pytest.raises(ProtocolError):
        decode(bad, 1 << 20)
    head = b'{"arrays": [["nope.W", []]]}'
    unknown = bytearray(HEADER.pack(MAGIC, len(head), 8) + head + bytes(8))
    with pytest.raises(ProtocolError, match="no role"):
        decode(unknown, 1 << 20)


@pytest.mark.parametrize("role", _wire.ROLES)
@pytest.mark.parametrize("name", ["W1", "x", "y", "forward.params.b", "a.b"])
def test_keys_round_trip_through_their_wire_text(role: str, name: str) -> None:
    if role == _wire.FORWARD:
        name = ""
    elif role in (_wire.INPUT, _wire.AFTER_INPUT, _wire.AFTER_FORWARD_INPUT) and name not in _wire.BATCH_NAMES:
        pytest.skip("inputs are only x and y")
    key = Key(role, name)
    assert Key.parse(key.wire()) == key


# -- a session that ends by design is not a death (the missing/crash flake) ------------------------
BACK_PROP = "import numpy as np\ndef back_prop(params, x, y):\n    return {k: 0 * v for k, v in params.items()}\n"


def test_missing_stays_missing_when_the_child_has_exited_before_its_answer_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The race made deterministic: the grader reads the answer only after the child and its launcher exited."""
    drain = Sandbox._drain_output

    def slow_drain(self: Sandbox) -> bool:
        deadline = time.monotonic() + 2
        while self._p.proc is not None and self._p.proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.002)  # poll() reaps only once the launcher has exited
        return drain(self)

    monkeypatch.setattr(Sandbox, "_drain_output", slow_drain)
    path = write(tmp_path, BACK_PROP)
    for _ in range(3):
        with Sandbox(path, limits=LIMITS) as box:
            assert (box.load_status, box.load_message.split(";")[0]) == ("missing", "no function named 'backward' was found"), box.load_message


@pytest.mark.slow
def test_missing_is_missing_in_200_loads_under_load(tmp_path: Path) -> None:
    """Was ``crash`` ("process exited with code 0 while loading") about 1 run in 40 under load."""
    from concurrent.futures import ThreadPoolExecutor

    path = write(tmp_path, BACK_PROP)

    def once(_: int) -> tuple[str, str]:
        with Sandbox(path, limits=LIMITS) as box:
            return box.load_status, box.load_message

    with ThreadPoolExecutor(4) as pool:
        verdicts = list(pool.map(once, range(200)))
    wrong = [v for v in verdicts if v[0] != "missing"]
    assert not wrong, (len(wrong), wrong[:3])


def test_shutdown_closes_each_descriptor_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A descriptor number closed twice closes whatever another thread opened under it in between.

    Seen as ``OSError: [Errno 9] Bad file descriptor`` in 4 threads x 200 loads: the launcher's output
    was closed by number and then again by its file object.  Here every ``os.close`` of the sandbox
    is followed at once by new pipes until one takes the closed number, as another thread could; those
    pipes must survive.
    """
    import os

    from gradcheck.grading import sandbox as sandbox_module

    real_close = os.close
    others: list[int] = []

    def close_then_open(fd: int) -> None:
        real_close(fd)
        for _ in range(64):  # until the closed number is taken again (lower free numbers go first)
            others.extend(os.pipe())
            if fd in others[-2:]:
                break

    path = write(tmp_path, BACK_PROP)
    with Sandbox(path, limits=LIMITS) as box:
        assert box.load_status == "missing"
        monkeypatch.setattr(sandbox_module.os, "close", close_then_open)
    monkeypatch.undo()
    assert others, "the sandbox closed nothing through os.close"
    try:
        for fd in others:
            os.fstat(fd)  # raises OSError (EBADF) when a second close hit it
    finally:
        for fd in others:
            real_close(fd)



def test_an_import_without_address_space_left_is_a_memory_verdict(tmp_path: Path) -> None:
    # rt17 F10: a compiled module that cannot be mapped under the memory limit gave `error`
    # ("failed to map segment from shared object"); it is `memory`, saying the limit and how to raise it.
    # The submission takes every page of address space with mmap (exact, unlike bytearrays, whose fate depends on
    # malloc's thresholds: a version that freed "about 512 KB" of bytearrays loaded _decimal's 364 KB in CI), then
    # hands back exactly 512 KB: too little for unicodedata's 1.1 MB of segments (readelf -l), twice what the
    # child needs to report (measured: 256 KB reports, 128 KB dies of a MemoryError before it can name the module).
    code = (
        "import mmap\n"
        "import numpy as np\n"
        "_ROOM = mmap.mmap(-1, 512 << 10)  # kept back now, handed back below: all the address space left\n"
        "def _take_every_page():\n"
        "    hog, size = [], 1 << 28\n"
        "    while size >= mmap.PAGESIZE:\n"
        "        try:\n"
        "            hog.append(mmap.mmap(-1, size))\n"
        "        except (OSError, MemoryError):\n"
        "            size //= 2\n"
        "    return hog\n"
        "HOG = _take_every_page()\n"
        "_ROOM.close()\n"
        "import unicodedata  # a compiled module of the standard library the grader does not load\n"
        "def backward(params, x, y):\n"
        "    return {k: v * 0 for k, v in params.items()}\n"
    )
    _, r = run_once(write(tmp_path, code))
    assert r.status == "memory", r.message
    assert "memory limit of 512 MB" in r.message and "--memory" in r.message and "failed to map segment" in r.message
    assert "unicodedata" in r.message, r.message  # the module itself could not be mapped


def test_a_library_on_a_noexec_file_system_is_not_called_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    from gradcheck.grading import _child

    exc = ImportError("/mnt/x/_ext.so: failed to map segment from shared object")
    monkeypatch.setattr(os, "statvfs", lambda path: type("V", (), {"f_flag": os.ST_NOEXEC})())
    assert not _child.unmappable_library(exc)
    monkeypatch.setattr(os, "statvfs", lambda path: type("V", (), {"f_flag": 0})())
    assert _child.unmappable_library(exc) and not _child.unmappable_library(ImportError("No module named 'attr'"))


def test_the_memory_verdict_says_the_limit_and_how_to_raise_it() -> None:
    from gradcheck.grading.verdicts import runtime_diagnosis

    for lang in ("en", "ko"):
        message = runtime_diagnosis("memory", megabytes=100, lang=lang).message
        assert "100 MB" in message and "--memory" in message and "memory_mb" in message, message


#: rt20 F6 with the list in a variable: the loader cannot see the loop is bounded, so it skips it.
NAMED_TABLE = """import numpy as np
ACT = {}
PAIRS = [('sig', lambda z: 1 / (1 + np.exp(-z)))]
for name, f in PAIRS:
    ACT[name] = f
SIG = ACT['sig'] if LOAD_TIME else None

def backward(params, x, y):
    s = ACT['sig']
    a1 = s(x @ params['W1'] + params['b1']); a2 = s(a1 @ params['W2'] + params['b2'])
    d2 = 2 * (a2 - y) / len(x) * a2 * (1 - a2); d1 = d2 @ params['W2'].T * a1 * (1 - a1)
    return {'W1': x.T @ d1, 'b1': d1.sum(0, keepdims=True), 'W2': a1.T @ d2, 'b2': d2.sum(0, keepdims=True)}
"""


@pytest.mark.parametrize("load_time", [False, True])
def test_error_from_a_skipped_setup_loop_names_its_line_and_the_switch(tmp_path: Path, load_time: bool) -> None:
    path = write(tmp_path, NAMED_TABLE.replace("LOAD_TIME", str(load_time)))
    box, r = run_once(path)
    assert r.status == "error" and "KeyError: 'sig'" in r.message
    assert "top-level for loop at sub.py, line 4 (lines 4-5), which sets ACT" in r.message and "skip_loops = false" in r.message
    assert (box.load_status == "error") is load_time and (load_time is False or r.message == box.load_message)
    box, r = run_once(path, SubmissionSpec(skip_loops=False))
    assert box.load_status == "ok" and r.status == "ok"


def test_error_unrelated_to_a_skipped_loop_has_no_loop_hint(tmp_path: Path) -> None:
    path = write(tmp_path, NAMED_TABLE.replace("LOAD_TIME", "False").replace("s = ACT['sig']", "s = TABLE['sig']"))
    _, r = run_once(path)
    assert r.status == "error" and "NameError" in r.message and "skip_loops" not in r.message


def test_a_timeout_after_calls_that_returned_says_which_call_and_that_the_others_finished(tmp_path: Path) -> None:
    # rt23 F12: the first two calls return at once, the third sleeps past the wall clock
    from gradcheck.grading.pipeline import TestPoint, sandbox_caller

    code = "import time\nn = [0]\ndef backward(params, x, y):\n    n[0] += 1\n    if n[0] == 3:\n        time.sleep(30)\n    return {k: v * 0 for k, v in params.items()}\n"
    _, p, x, y = point("xor_2layer")
    with Sandbox(write(tmp_path, code), limits=FAST) as box:
        call = sandbox_caller(box)
        outcomes = [call(TestPoint("p", p, x, y)) for _ in range(4)]
    assert [o.verdict for o in outcomes] == ["ok", "ok", "timeout", "timeout"]
    assert outcomes[2].error.endswith("during call 3 and was stopped; calls 1 to 2 had finished in time")
    assert outcomes[3].detail == outcomes[2].detail == {"seconds": FAST.wall_seconds, "template": "timeout.call", "call": 3}


def test_the_output_limit_is_the_sessions_and_its_message_says_so(tmp_path: Path) -> None:
    # rt23 F12: 400 KB per call, under the limit of 1 MB each time; the third call passes the session's total
    from gradcheck.grading.pipeline import TestPoint, sandbox_caller

    code = "import sys\ndef backward(params, x, y):\n    sys.stdout.write('E' * 400000)\n    return {k: v * 0 for k, v in params.items()}\n"
    _, p, x, y = point("xor_2layer")
    limits = Limits(wall_seconds=3, cpu_seconds=2, memory_bytes=512 << 20, load_seconds=10, output_bytes=1 << 20)
    with Sandbox(write(tmp_path, code), limits=limits) as box:
        call = sandbox_caller(box)
        outcomes = [call(TestPoint("p", p, x, y)) for _ in range(3)]
    assert [o.verdict for o in outcomes] == ["ok", "ok", "output"]
    assert "more than 1048576 bytes in all during call 3" in outcomes[2].error and "not one call" in outcomes[2].error
    assert outcomes[2].detail == {"template": "output.session", "limit": 1 << 20, "call": 3}


def test_a_writefile_cell_is_written_where_the_next_cell_imports_it(tmp_path: Path) -> None:
    # rt23 F8: as in Jupyter, %%writefile (and -a) write into the working directory before the import runs
    import json

    cells = ["%%writefile mysig.py\ndef sigmoid(z):\n    return 2 * z", "%%writefile -a mysig.py\nTWO = 2",
             "from mysig import sigmoid, TWO\ndef backward(params, x, y):\n    return {k: sigmoid(v) * TWO for k, v in params.items()}"]
    text = json.dumps({"cells": [{"cell_type": "code", "source": c, "metadata": {}, "outputs": [], "execution_count": None} for c in cells],
                       "metadata": {}, "nbformat": 4, "nbformat_minor": 4})
    _, p, x, y = point("xor_2layer")
    box, r = run_once(write(tmp_path, text, "hw.ipynb"))
    assert box.load_status == "ok" and r.status == "ok", (box.load_message, r.message)
    assert np.array_equal(r.grads["W1"], 4 * p["W1"])  # 2 * z from the file, times TWO from the appended line
    assert not (tmp_path / "mysig.py").exists()  # in the sandbox's own folder, not beside the submission
