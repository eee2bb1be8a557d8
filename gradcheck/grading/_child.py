"""Child bootstrap of the grading sandbox.

Run by :class:`gradcheck.grading.sandbox.Sandbox` as::

    python -I -B -X utf8 _child.py CMD_FD RES_FD MEMORY_BYTES FILE_BYTES SESSION_CPU LOAD_CPU [HARNESS_DIR...]

in a fresh temporary directory, in its own process group.  It is
self-contained (standard library and numpy only) and never imports the
harness: ``-I`` keeps the harness's directory off ``sys.path`` and a
meta-path blocker, installed before anything else, refuses ``gradcheck``
and ``reference_models`` (an attempt is the verdict ``forbidden``).  An
audit hook (which, unlike the blocker, a submission cannot remove) refuses
the same imports and opening any file in the ``HARNESS_DIR`` directories (the answer
key's and the harness's source) before the submission runs.

A process the submission forks is never allowed to speak for it: a fork
that returns from student code, calls ``os._exit`` or reaches the result
channel exits at once (``os._exit`` for real), so it can neither send a
result frame nor read the grader's commands.

Cosmetic packages a notebook imports for display only (``tqdm``,
``matplotlib``, ``seaborn``, ``IPython``, ``ipywidgets``, ``google.colab``)
are replaced by do-nothing stand-ins *when they are not installed*, with a
note, so a correct backward pass is not lost to a progress bar.

Sequence: set the resource limits, install the blocker, import numpy and
keep private references to the few functions the protocol needs (so a
submission that patches numpy or ``json`` cannot change how results are
encoded), read the ``load`` frame, run the cells, answer, then answer
``call`` frames until ``close`` or end of file.

Frames (both directions, on dedicated pipes; stdout and stderr belong to the
student): ``b"GCF1"``, a 4-byte JSON length and an 8-byte payload length
(network order), the JSON header, then the payload: the raw little-endian
float64 bytes of the arrays listed in ``header["arrays"]`` as
``[key, shape]`` pairs, in order.  No pickle anywhere.

Nothing this process says is trusted: the parent rebuilds every array from
raw bytes with its own numpy and makes every comparison itself.
"""
from __future__ import annotations

import math
import os
import resource
import struct
import sys

MAGIC = b"GCF1"
HEADER = struct.Struct("!4sIQ")
BLOCKED_ROOTS = ("gradcheck", "reference_models")
_MAX_MESSAGE = 8000
_MAX_FRAMES = 12

_os_read = os.read
_os_write = os.write
_real_exit = os._exit


class ForbiddenImport(ImportError):
    """Raised by the blocker for an import of the harness."""


class HardExit(BaseException):
    """Raised by the patched ``os._exit`` so the child can report it."""

    def __init__(self, code: object) -> None:
        super().__init__(code)
        self.code = code


#: Display-only packages replaced by a stand-in when they are not installed.
COSMETIC_ROOTS = ("tqdm", "matplotlib", "seaborn", "IPython", "ipywidgets", "google.colab", "plotly", "pylab")


class _Stub:
    """A do-nothing stand-in for any object of a cosmetic package.

    Calling it returns its first argument when that is iterable (``tqdm(range(3))``
    iterates the range), else another stand-in; every attribute is a
    stand-in; it iterates as empty, works as a context manager and a decorator.
    """

    def __init__(self, name: str = "stub") -> None:
        object.__setattr__(self, "_name", name)

    def __call__(self, *args: object, **kwargs: object) -> object:
        if args and (hasattr(args[0], "__iter__") or callable(args[0])) and not isinstance(args[0], (str, bytes)):
            return args[0]
        if self._name.endswith("trange") and args and isinstance(args[0], int):
            return range(*args)  # type: ignore[arg-type]
        if self._name.endswith("subplots"):  # fig, ax = plt.subplots()
            return _Stub("figure"), _Stub("axes")
        return _Stub(self._name + "()")

    def __getattr__(self, name: str) -> object:
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        return _Stub(f"{self._name}.{name}")

    def __setattr__(self, name: str, value: object) -> None:
        pass

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(())

    def __enter__(self) -> object:
        return self

    def __exit__(self, *exc: object) -> bool:
        return False

    def __getitem__(self, key: object) -> object:
        return _Stub(f"{self._name}[]")

    def __len__(self) -> int:
        return 0

    def __bool__(self) -> bool:
        return False

    def __repr__(self) -> str:
        return f"<stand-in {self._name}>"


class CosmeticFinder:
    """Last on ``sys.meta_path``: a stand-in module for a display-only package that is not installed."""

    def __init__(self, roots: tuple[str, ...]) -> None:
        self.roots = roots
        self.used: list[str] = []

    def _cosmetic(self, fullname: str) -> bool:
        return any(fullname == r or fullname.startswith(r + ".") for r in self.roots)

    def find_spec(self, fullname: str, path: object = None, target: object = None) -> object:
        if not self._cosmetic(fullname):
            return None
        import importlib.machinery

        root = fullname.partition(".")[0]
        if root not in self.used:
            self.used.append(root)
        return importlib.machinery.ModuleSpec(fullname, self, is_package=True)

    def create_module(self, spec: object) -> object:
        return None

    def exec_module(self, module: object) -> None:
        name = module.__name__  # type: ignore[attr-defined]
        module.__path__ = []  # type: ignore[attr-defined]
        module.__getattr__ = lambda attr: _Stub(f"{name}.{attr}")  # type: ignore[attr-defined]


class TypeProblem(Exception):
    """A returned value is not what the calling convention asks for."""


class Blocker:
    """A meta-path finder that refuses the harness's packages and records attempts."""

    def __init__(self, roots: tuple[str, ...]) -> None:
        self.roots = roots
        self.attempts: list[tuple[str, str]] = []

    def find_spec(self, fullname: str, path: object = None, target: object = None) -> None:
        if fullname.partition(".")[0] in self.roots:
            self.attempts.append(("import", fullname))
            raise ForbiddenImport(f"importing {fullname!r} is not allowed in a submission")
        return None

    def find_module(self, fullname: str, path: object = None) -> None:  # pre-3.4 protocol, for old callers
        return self.find_spec(fullname, path)


def set_limits(memory: int, file_bytes: int, session_cpu: int, load_cpu: float) -> None:
    """Address space, file size, core dumps and CPU (soft: this phase, hard: the session)."""
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_FSIZE, (file_bytes, file_bytes))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_CPU, (session_cpu, session_cpu))
    set_cpu_budget(load_cpu)


def set_cpu_budget(seconds: float) -> None:
    """Soft ``RLIMIT_CPU`` = CPU used so far + ``seconds`` (never above the hard limit)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    used = usage.ru_utime + usage.ru_stime
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    soft = max(1, math.ceil(used + seconds))
    if hard != resource.RLIM_INFINITY:
        soft = min(soft, hard)
    resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))


def read_exact(fd: int, n: int) -> bytes:
    chunks: list[bytes] = []
    while n > 0:
        data = _os_read(fd, min(n, 1 << 20))
        if not data:
            raise EOFError("the grader closed the command pipe")
        chunks.append(data)
        n -= len(data)
    return b"".join(chunks)


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = _os_write(fd, view[: 1 << 20])
        view = view[n:]


def main(argv: list[str]) -> None:
    cmd_fd, res_fd = int(argv[1]), int(argv[2])
    memory, file_bytes, session_cpu, load_cpu = int(argv[3]), int(argv[4]), int(argv[5]), float(argv[6])
    harness_dirs = tuple(os.path.join(os.path.abspath(d), "") for d in argv[7:])
    main_pid = os.getpid()
    for fd in (cmd_fd, res_fd):
        os.set_inheritable(fd, False)  # the submission's own subprocesses do not get the channels
    set_limits(memory, file_bytes, session_cpu, load_cpu)

    blocker = Blocker(BLOCKED_ROOTS)
    sys.meta_path.insert(0, blocker)
    for name in list(sys.modules):
        if name.partition(".")[0] in BLOCKED_ROOTS:
            del sys.modules[name]

    import time

    t0 = time.perf_counter()
    import collections.abc
    import difflib
    import inspect
    import json
    import linecache
    import reprlib
    import traceback
    import types

    import numpy as np

    import_seconds = time.perf_counter() - t0
    _asarray = np.asarray
    _frombuffer = np.frombuffer
    _ndarray = np.ndarray
    _dumps = json.dumps
    _loads = json.loads
    _Mapping = collections.abc.Mapping
    _repr = reprlib.Repr()
    _repr.maxstring = 60
    _repr.maxother = 60
    _perf = time.perf_counter

    def fake_exit(code: object = 0) -> None:
        if os.getpid() != main_pid:  # a fork of the submission: really exit
            _real_exit(code if isinstance(code, int) and 0 <= code < 256 else 1)
        raise HardExit(code)

    def leave_if_fork() -> None:
        """A process the submission forked never reaches the grader's channels."""
        if os.getpid() != main_pid:
            flush_std()
            _real_exit(0)

    os._exit = fake_exit  # type: ignore[assignment]
    try:
        import posix

        posix._exit = fake_exit  # type: ignore[assignment]
    except ImportError:
        pass
    sys.argv = ["submission"]
    cosmetic = CosmeticFinder(COSMETIC_ROOTS)
    sys.meta_path.append(cosmetic)

    audited: list[tuple[str, str]] = []  # the audit hook's own record (not reachable through sys.meta_path)
    allowed_files = {os.path.abspath(__file__)}
    in_hook = [False]

    def audit(event: str, args: tuple) -> None:
        if in_hook[0] or event not in ("import", "open"):
            return
        in_hook[0] = True
        try:
            if event == "import":
                name = args[0] if args else None
                if isinstance(name, str) and name.partition(".")[0] in BLOCKED_ROOTS:
                    audited.append(("import", name))
                    raise ForbiddenImport(f"importing {name!r} is not allowed in a submission")
            elif harness_dirs and args and isinstance(args[0], (str, bytes)):
                path = args[0] if isinstance(args[0], str) else os.fsdecode(args[0])
                full = os.path.abspath(path)
                if full.startswith(harness_dirs) and full not in allowed_files:
                    audited.append(("open", path))
                    raise PermissionError(f"opening {path!r} is not allowed in a submission")
        finally:
            in_hook[0] = False

    # -- framing ---------------------------------------------------------
    def read_frame() -> tuple[dict, dict]:
        magic, jlen, plen = HEADER.unpack(read_exact(cmd_fd, HEADER.size))
        if magic != MAGIC:
            raise EOFError("bad frame from the grader")
        meta = _loads(read_exact(cmd_fd, jlen).decode("utf-8"))
        payload = read_exact(cmd_fd, plen)
        arrays: dict[str, object] = {}
        offset = 0
        for key, shape in meta.get("arrays", []):
            count = int(math.prod(shape))
            arr = _frombuffer(payload, dtype="<f8", count=count, offset=offset).reshape(shape).astype(np.float64)
            offset += 8 * count
            arrays[key] = arr
        return meta, arrays

    def flush_std() -> None:
        for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
            try:
                stream.flush()
            except BaseException:
                pass

    def send(meta: dict, arrays: list[tuple[str, object]] = ()) -> None:
        leave_if_fork()
        flush_std()
        listed = []
        blobs = []
        for key, arr in arrays:
            a = _asarray(arr, dtype="<f8")
            listed.append([key, [int(n) for n in a.shape]])
            blobs.append(a.tobytes(order="C"))
        meta = dict(meta, arrays=listed)
        head = _dumps(meta, ensure_ascii=True, default=str).encode("ascii")
        payload = b"".join(blobs)
        write_all(res_fd, HEADER.pack(MAGIC, len(head), len(payload)) + head + payload)

    # -- running student code ---------------------------------------------
    student_files: set[str] = set()

    def clip(text: str) -> str:
        return text if len(text) <= _MAX_MESSAGE else text[: _MAX_MESSAGE - 40] + f"\n... ({len(text)} characters, cut)"

    def describe(value: object) -> str:
        try:
            if isinstance(value, _ndarray):
                return f"an array of dtype {value.dtype} and shape {tuple(value.shape)}"
            if value is None:
                return "None (is a `return` missing?)"
            if isinstance(value, (list, tuple)):
                return f"a {type(value).__name__} of {len(value)} items"
            if isinstance(value, _Mapping):
                return f"a {type(value).__name__} with keys {_repr.repr(list(value.keys()))}"
            return f"a {type(value).__name__} ({_repr.repr(value)})"
        except BaseException:
            return f"a {type(value).__name__}"

    def student_traceback(exc: BaseException) -> str:
        try:
            frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename in student_files]
            if len(frames) > _MAX_FRAMES:
                omitted = len(frames) - _MAX_FRAMES
                shown = traceback.format_list(frames[:4]) + [f"  ... {omitted} more frames ...\n"] + traceback.format_list(frames[-(_MAX_FRAMES - 4):])
            else:
                shown = traceback.format_list(frames)
            last = traceback.format_exception_only(type(exc), exc)[-1].strip()
        except BaseException:
            return f"{type(exc).__name__} (the exception could not be formatted)"
        if not shown:
            return last
        return clip("Traceback (the submission's frames only):\n" + "".join(shown) + last)

    def guarded(fn: object, what: str) -> tuple[str, str, object]:
        """Run ``fn()``; map every way it can end to (status, message, value)."""
        del blocker.attempts[:]
        del audited[:]
        status, message, value = "ok", "", None
        try:
            value = fn()
        except TypeProblem as exc:
            status, message = "type", f"{what}: {exc}"
        except HardExit as exc:
            status, message = "crash", f"{what} called os._exit({exc.code!r}), which ends the process"
        except SystemExit as exc:
            status, message = "crash", f"{what} called sys.exit({exc.code!r}) (or exit()/quit()), which ends the process"
        except MemoryError as exc:
            status, message = "memory", f"{what} ran out of memory (MemoryError, limit {memory >> 20} MB)\n" + student_traceback(exc)
        except BaseException as exc:
            status, message = "error", f"{what} raised {student_traceback(exc)}"
            if isinstance(exc, TypeError) and not any(
                f.filename in student_files for f in traceback.extract_tb(exc.__traceback__)
            ):
                message += f"\n(the grader calls it as {what}; see the assignment's calling convention)"
        leave_if_fork()
        attempts = audited + blocker.attempts
        if attempts:
            status = "forbidden"
            kind, target = attempts[0]
            message = f"{what} tried to {kind} {target!r}: the grader's own packages are off limits"
            del blocker.attempts[:]
            del audited[:]
        return status, clip(message), value

    # -- load -----------------------------------------------------------------
    def load(meta: dict) -> dict:
        sys.addaudithook(audit)  # from here on, for good: the submission cannot remove it
        spec = meta["spec"]
        module = types.ModuleType("submission")
        module.__file__ = meta.get("filename", "submission.py")
        ns = module.__dict__
        ns["display"] = lambda *a, **k: None
        ns["get_ipython"] = lambda: _IPythonStub()
        sys.modules["submission"] = module
        notes: list[str] = []
        problems: list[tuple[str, str]] = []
        for cell in meta["cells"]:
            name, src = cell["filename"], cell["source"]
            student_files.add(name)
            linecache.cache[name] = (len(src), None, src.splitlines(True), name)
            if cell.get("syntax_error"):
                problems.append(("syntax", f"{name}: {cell['syntax_error']}"))
                notes.append(f"{name}: syntax error, the cell was not run: {cell['syntax_error']}")
                continue
            try:
                code = compile(src, name, "exec", dont_inherit=True)
            except (SyntaxError, ValueError) as exc:
                msg = f"line {getattr(exc, 'lineno', '?')}: {getattr(exc, 'msg', exc)}"
                problems.append(("syntax", f"{name}: {msg}"))
                notes.append(f"{name}: syntax error, the cell was not run: {msg}")
                continue
            status, message, _ = guarded(lambda: exec(code, ns), f"running {name}")
            if status == "forbidden":
                return {"status": "forbidden", "message": message, "found": found_names(ns), "notes": notes}
            if status != "ok":
                problems.append((status, message))
                lines = message.strip().splitlines() or [status]
                notes.append(f"{name} did not finish ({status}): {lines[-1] if status == 'error' else lines[0]}")
        for root in cosmetic.used:
            notes.append(f"the package {root!r} is not installed where the grader runs: a do-nothing stand-in was used (display only)")
        found = found_names(ns)
        missing, has_forward = required_missing(spec, ns, found, notes)
        if missing is None:
            return {"status": "ok", "message": "", "found": found, "notes": notes, "ns": ns, "has_forward": has_forward}
        if problems:
            status, message = problems[0]
            return {"status": status, "message": f"{message}\n({missing})", "found": found, "notes": notes}
        return {"status": "missing", "message": missing, "found": found, "notes": notes}

    def found_names(ns: dict) -> list[str]:
        out = []
        for k, v in list(ns.items()):
            if k.startswith("_") or k in ("display", "get_ipython"):
                continue
            if (inspect.isfunction(v) or inspect.isclass(v)) and getattr(v, "__module__", None) == "submission":
                out.append(k)
        return out

    def suggest(name: str, names: list[str]) -> str:
        close = difflib.get_close_matches(name, names, n=3, cutoff=0.5)
        return f" (did you mean {', '.join(repr(c) for c in close)}?)" if close else ""

    def required_missing(spec: dict, ns: dict, found: list[str], notes: list[str]) -> tuple[str | None, bool]:
        """(what is missing, or None; whether the forward pass can be checked)."""
        listing = ", ".join(found) if found else "nothing callable"
        fwd = spec.get("forward")
        if spec["style"] == "class":
            cname = spec["class_name"]
            cls = ns.get(cname)
            if not callable(cls):
                return f"no class named {cname!r} was found; the submission defines: {listing}{suggest(cname, found)}", False
            methods = [m for m in dir(cls) if not m.startswith("_") and callable(getattr(cls, m, None))]
            if not hasattr(cls, spec["backward"]):
                return (
                    f"class {cname} has no method {spec['backward']!r}; its methods: "
                    f"{', '.join(methods) or 'none'}{suggest(spec['backward'], methods)}"
                ), False
            if not fwd:
                return None, False
            if hasattr(cls, fwd):
                return None, True
            if spec.get("require_forward"):
                return f"class {cname} has no method {fwd!r}; its methods: {', '.join(methods) or 'none'}{suggest(fwd, methods)}", False
            notes.append(f"class {cname} has no method {fwd!r}: the forward pass is not checked")
            return None, False
        if not callable(ns.get(spec["backward"])):
            return f"no function named {spec['backward']!r} was found; the submission defines: {listing}{suggest(spec['backward'], found)}", False
        if not fwd:
            return None, False
        if callable(ns.get(fwd)):
            return None, True
        if spec.get("require_forward"):
            return f"no function named {fwd!r} was found; the submission defines: {listing}{suggest(fwd, found)}", False
        notes.append(f"no function named {fwd!r}: the forward pass is not checked")
        return None, False

    # -- calls -------------------------------------------------------------------
    def to_array(value: object, label: str, max_elements: int) -> object:
        if value is None:
            raise TypeProblem(f"{label} is None (is a `return` missing?)")
        try:
            a = _asarray(value)
        except Exception as exc:
            raise TypeProblem(f"{label} is {describe(value)}, which is not an array of numbers ({type(exc).__name__})") from None
        if a.dtype.kind not in "biuf":
            raise TypeProblem(f"{label} is {describe(value)}, not an array of real numbers (dtype {a.dtype})")
        if a.size > max_elements:
            raise TypeProblem(f"{label} has {a.size} entries, far more than the parameters have")
        return _asarray(a, dtype="<f8")

    def gradients(value: object, spec: dict, refs: list[str], notes: list[str], max_el: int, what: str) -> list[tuple[str, object]]:
        names = spec["names"]
        returns = spec["returns"]
        order = refs if returns in ("dict", "tuple") else list(returns)
        out: list[tuple[str, object]] = []
        if isinstance(value, _Mapping):
            if returns != "dict":
                notes.append(f"{what} returned a dict where the assignment asks for a tuple ({', '.join(order)}); read by key")
            keys = list(value.keys())
            missing = []
            for ref in order:
                s = names.get(ref, ref)
                for cand in (s, "d" + s, "d_" + s, "grad_" + s, s + "_grad"):
                    if cand in value:
                        out.append((ref, to_array(value[cand], f"the gradient for {ref} (key {cand!r})", max_el)))
                        break
                else:
                    missing.append(ref)
            if len(missing) == len(order):
                raise TypeProblem(
                    f"returned a dict with keys {_repr.repr(keys)}; none of them names a gradient "
                    f"(expected the keys {', '.join(names.get(r, r) for r in order)})"
                )
            if missing:
                notes.append(f"the returned dict has no gradient for {', '.join(missing)}")
            return out
        if returns == "dict":
            raise TypeProblem(f"returned {describe(value)}; expected a dict of gradients keyed by {', '.join(names.get(r, r) for r in order)}")
        if len(order) == 1 and not isinstance(value, (tuple, list)):
            value = (value,)
        if not isinstance(value, (tuple, list)):
            raise TypeProblem(f"returned {describe(value)}; expected a tuple of {len(order)} gradients ({', '.join(order)})")
        if len(value) != len(order):
            raise TypeProblem(f"returned a {type(value).__name__} of {len(value)} items; expected {len(order)} gradients ({', '.join(order)})")
        return [(ref, to_array(v, f"the gradient for {ref} (item {i + 1})", max_el)) for i, (ref, v) in enumerate(zip(order, value))]

    def invoke(spec: dict, ns: dict, which: str, inputs: dict, refs: list[str], notes: list[str]) -> object:
        names = spec["names"]
        fname = spec[which]
        arg_names = spec["args"] if which == "backward" else spec["forward_args"]
        pdict = {names.get(r, r): inputs["params"][r] for r in refs}
        inputs["dict"] = pdict
        inputs["dict_before"] = dict(pdict)
        if spec["style"] == "class":
            cls = ns[spec["class_name"]]
            obj = cls(*spec["init_args"], **spec["init_kwargs"])
            for r in refs:
                setattr(obj, names.get(r, r), inputs["params"][r])
            fn = getattr(obj, fname)
        else:
            fn = ns[fname]
        args = []
        for a in arg_names:
            args.append(pdict if a == "params" else inputs[a] if a in ("x", "y") else inputs["params"][a])
        return fn(*args)

    def call(meta: dict, arrays: dict, ns: dict) -> tuple[dict, list[tuple[str, object]]]:
        spec = meta["spec"]
        refs: list[str] = meta["param_names"]
        max_el = int(meta["max_elements"])
        set_cpu_budget(float(meta["cpu_seconds"]))
        notes: list[str] = []
        out: list[tuple[str, object]] = []

        def fresh() -> dict:
            return {"params": {r: arrays["params." + r].copy() for r in refs}, "x": arrays["x"].copy(), "y": arrays["y"].copy()}

        def after(prefix: str, inputs: dict) -> None:
            for r in refs:
                out.append((f"{prefix}params.{r}", inputs["params"][r]))
            out.append((prefix + "x", inputs["x"]))
            out.append((prefix + "y", inputs["y"]))
            d, before = inputs.get("dict"), inputs.get("dict_before")
            if d is not None and (set(d) != set(before) or any(d.get(k) is not v for k, v in before.items())):
                notes.append(f"{'the forward pass' if 'forward' in prefix else 'backward'} changed the params dict it was given (entries added, removed or replaced)")

        bw = spec["backward"] if spec["style"] == "function" else f"{spec['class_name']}.{spec['backward']}"
        call_text = f"{bw}({', '.join(spec['args'])})"
        inputs = fresh()
        status, message, grads = guarded(
            lambda: gradients(invoke(spec, ns, "backward", inputs, refs, notes), spec, refs, notes, max_el, bw), call_text
        )
        if status == "ok":
            out.extend(("grad." + r, a) for r, a in grads)
        after("after.", inputs)
        result = {"status": status, "message": message, "forward_status": None, "forward_message": "", "notes": notes}
        if status == "crash" or not meta.get("forward"):
            return result, out
        fw = spec["forward"] if spec["style"] == "function" else f"{spec['class_name']}.{spec['forward']}"
        f_inputs = fresh()
        f_status, f_message, f_value = guarded(
            lambda: to_array(invoke(spec, ns, "forward", f_inputs, refs, notes), f"{fw}'s output", max_el),
            f"{fw}({', '.join(spec['forward_args'])})",
        )
        result["forward_status"], result["forward_message"] = f_status, f_message
        if f_status == "ok":
            out.append(("forward", f_value))
        after("after.forward.", f_inputs)
        return result, out

    # -- session -------------------------------------------------------------------
    try:
        meta, _ = read_frame()
        t1 = _perf()
        loaded = load(meta)
        ns = loaded.pop("ns", None)
        loaded["import_seconds"] = import_seconds
        has_forward = bool(loaded.pop("has_forward", False))
        loaded["load_seconds"] = _perf() - t1
        loaded["has_forward"] = has_forward
        send(loaded)
        if ns is None:
            return
        while True:
            meta, arrays = read_frame()
            if meta.get("op") != "call":
                return
            meta["forward"] = has_forward
            result, out = call(meta, arrays, ns)
            result["seq"] = meta.get("seq")
            try:
                send(result, out)
            except MemoryError:
                send({"status": "memory", "message": "the results did not fit in memory", "seq": meta.get("seq"), "notes": []})
            if result["status"] == "crash":
                return
    except EOFError:
        return


class _IPythonStub:
    """What ``get_ipython()`` returns: every method is a no-op returning ``None``."""

    def __getattr__(self, name: str) -> object:
        return lambda *args, **kwargs: None


if __name__ == "__main__":
    _status = 0
    try:
        main(sys.argv)
    except BaseException:  # a failure of the bootstrap itself: show it, exit 70 (EX_SOFTWARE)
        import traceback

        traceback.print_exc()
        _status = 70
    finally:
        for _stream in (sys.__stdout__, sys.__stderr__):
            try:
                _stream.flush()
            except BaseException:
                pass
        _real_exit(_status)
