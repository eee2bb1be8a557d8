"""Reading submissions: .py and .ipynb, IPython syntax, skipped statements, broken files."""
from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from gradcheck.grading.loader import SkippedLoop, is_setup_loop, load_submission, skipped_loop_hint, transform_source

CORPUS = Path(__file__).parent / "submissions"


def nb(*sources: str, extra: dict | None = None) -> str:
    cells = [{"cell_type": "markdown", "source": "# title", "metadata": {}}]
    cells += [{"cell_type": "code", "source": s, "metadata": {}, "outputs": [], "execution_count": None} for s in sources]
    return json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 4, **(extra or {})})


def test_valid_python_is_never_rewritten() -> None:
    src = "s = '''\n%not a magic\n!not a shell\n'''\nx = 1 % 2\n"
    code, notes, err = transform_source(src, filename="a.py")
    assert code == src and notes == () and err is None


def test_magics_shell_and_help_lines_become_pass_keeping_indentation() -> None:
    src = "%matplotlib inline\n!pip install numpy\nfiles = !ls\nif True:\n    %time f()\nnp.dot?\nx = 1"
    code, notes, err = transform_source(src, filename="c")
    assert err is None
    # `%time stmt` runs its statement once (a later cell may use what it assigns)
    assert code.splitlines() == ["pass", "pass", "files = None", "if True:", "    f()", "pass", "x = 1"]
    assert any("IPython" in n for n in notes)


def test_cell_magics() -> None:
    code, notes, _ = transform_source("%%time\ndef f():\n    return 1", filename="c")
    assert code.splitlines() == ["", "def f():", "    return 1"] and "%%time" in notes[0]
    code, notes, _ = transform_source("%%bash\nrm -rf /\n", filename="c")
    assert code == "" and "skipped a %%bash cell" in notes[0]


def test_writefile_cell_becomes_a_write_of_its_body_on_its_own_line() -> None:
    # rt23 F8: the body is handed to the child's writer as written, the line count kept for tracebacks
    code, notes, err = transform_source("%%writefile mysig.py\nimport numpy as np\ndef sigmoid(z):\n    return z", filename="c")
    assert err is None and code.split("\n")[1:] == ["", "", ""]
    assert ast.literal_eval(code.split("\n")[0].partition("(")[2][:-1]) == ("mysig.py", "import numpy as np\ndef sigmoid(z):\n    return z\n", False, "c")
    # rt24 N3: nothing is said before the cell runs: the child notes whether the write worked (test_sandbox)
    assert code.startswith("__gradcheck_writefile__(") and notes == ()
    code, notes, _ = transform_source("\n%%writefile -a 'lib/my act.py'\nX = 1\n", filename="c")
    assert ast.literal_eval(code.split("\n")[1].partition("(")[2][:-1]) == ("lib/my act.py", "X = 1\n", True, "c")


@pytest.mark.parametrize("line", ["/tmp/evil.py", "../evil.py", "lib/../../evil.py", "~/evil.py", "C:\\evil.py", "..\\evil.py", "", "-a", "a.py b.py", "'open"])
def test_writefile_outside_the_working_folder_or_unreadable_is_skipped(line: str) -> None:
    code, notes, _ = transform_source(f"%%writefile {line}\nx = 1\n", filename="c")
    assert code == "" and notes[0].startswith("c: skipped a %%writefile cell: ")


def test_top_level_loops_and_main_guards_are_blanked_with_line_numbers_kept() -> None:
    src = "a = 1\nfor i in range(9):\n    a += i\nelse:\n    pass\nwhile a:\n    a -= 1\nif __name__ == '__main__':\n    run()\nif '__main__' == __name__: run()\ndef f():\n    for i in range(3):\n        pass\n"
    code, notes, _ = transform_source(src, filename="t.py")
    lines = code.splitlines()
    assert len(code.split("\n")) == len(src.split("\n"))
    assert lines[0] == "a = 1" and all(ln == "" for ln in lines[1:10]) and lines[10] == "def f():" and lines[11].strip().startswith("for")
    assert len(notes) == 4 and "lines 2-5" in notes[0]
    code, notes, _ = transform_source(src, filename="t.py", skip_loops=False, skip_main=False)
    assert code == src and notes == ()


def test_syntax_error_keeps_line_and_message() -> None:
    code, _, err = transform_source("x = 1\ndef f(:\n    pass\n", filename="t.py")
    assert err is not None and err.startswith("line 2:")


def test_python_file_is_one_cell(tmp_path: Path) -> None:
    sub = load_submission(CORPUS / "xor_2layer__correct__dict.py")
    assert sub.kind == "py" and len(sub.cells) == 1 and sub.error is None
    assert sub.cells[0].filename == "xor_2layer__correct__dict.py"
    assert any("__main__" in n for n in sub.notes)


def test_notebook_code_cells_in_order(tmp_path: Path) -> None:
    sub = load_submission(CORPUS / "xor_2layer__correct__notebook.ipynb")
    assert sub.kind == "ipynb" and sub.error is None and len(sub.cells) == 7
    assert sub.cells[3].filename == "xor_2layer__correct__notebook.ipynb, code cell 4"
    assert "display(W1)" in sub.cells[1].source and "pip" not in sub.cells[0].source


def test_notebook_with_source_lists_and_a_bad_cell(tmp_path: Path) -> None:
    raw = json.loads(nb("x = (", "def backward(p, x, y):\n    return p"))
    raw["cells"][2]["source"] = ["def backward(p, x, y):\n", "    return p"]
    p = tmp_path / "n.ipynb"
    p.write_text(json.dumps(raw))
    sub = load_submission(p)
    assert sub.cells[0].syntax_error is not None and sub.cells[1].syntax_error is None
    assert sub.cells[1].source == "def backward(p, x, y):\n    return p"


@pytest.mark.parametrize(
    "content, words",
    [
        ('{"cells": [,]}', "not valid JSON: line 1, column 12"),
        ('{"metadata": {}}', "no list of cells"),
        ("[1, 2]", "no list of cells"),
    ],
)
def test_broken_notebooks_are_reported_not_raised(tmp_path: Path, content: str, words: str) -> None:
    p = tmp_path / "bad.ipynb"
    p.write_text(content)
    sub = load_submission(p)
    assert sub.error is not None and words in sub.error and sub.cells == ()


def test_non_utf8_and_missing_files(tmp_path: Path) -> None:
    p = tmp_path / "latin.py"
    p.write_bytes(b"x = '\xe9'\n")  # neither UTF-8 nor cp949: Latin-1, with a note
    sub = load_submission(p)
    assert sub.error is None and sub.cells[0].source == "x = '\xe9'\n" and "read as latin-1" in sub.notes[0]
    p.write_bytes(b"# -*- coding: utf-8 -*-\nx = '\xe9'\n")  # declared UTF-8 and is not: Python rejects it too
    assert "utf-8" in (load_submission(p).error or "")
    with pytest.raises(FileNotFoundError, match="nope.py"):
        load_submission(tmp_path / "nope.py")
    with pytest.raises(TypeError, match="path"):
        load_submission(3)  # type: ignore[arg-type]


def test_notebook_saved_as_py_is_read_as_a_notebook(tmp_path: Path) -> None:
    p = tmp_path / "really_a_notebook.py"
    p.write_text(nb("def backward(p, x, y):\n    return p"))
    sub = load_submission(p)
    assert sub.kind == "ipynb" and len(sub.cells) == 1


def test_old_notebooks_do_not_make_the_grader_warn(tmp_path: Path) -> None:
    """nbformat warns about cells without ids (MissingIDFieldWarning): the student's file, not the grader's stderr."""
    import warnings

    nb = {"cells": [{"cell_type": "code", "metadata": {}, "source": "x = 1", "outputs": [], "execution_count": None}],
          "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    path = tmp_path / "old.ipynb"
    path.write_text(json.dumps(nb))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loaded = load_submission(path)
    assert loaded.error is None and [c.source for c in loaded.cells] == ["x = 1"]


def test_timeit_options_are_dropped_and_the_statement_kept() -> None:
    code, _, err = transform_source("%timeit -n 10 -r 2 g = f(1)\nh = g", filename="c")
    assert err is None and code.splitlines() == ["g = f(1)", "h = g"]


def test_files_are_decoded_as_python_decodes_them(tmp_path: Path) -> None:
    src = "# -*- coding: cp949 -*-\ndef backward(params, x, y):\n    return {}  # 한글 주석\n"
    p = tmp_path / "cp949.py"
    p.write_bytes(src.encode("cp949"))  # what a Korean Windows editor saves; Python runs it
    sub = load_submission(p)
    assert sub.error is None and sub.cells[0].source == src and sub.notes == ()
    p.write_bytes(b"\xef\xbb\xbf" + "x = '한글'\n".encode())  # UTF-8 with a BOM
    assert load_submission(p).cells[0].source == "x = '한글'\n"
    p.write_bytes("x = '한글'\n".encode("cp949"))  # cp949 without a declaration: read, with a note
    sub = load_submission(p)
    assert sub.cells[0].source == "x = '한글'\n" and "cp949" in sub.notes[0]
    p.write_bytes(b"# coding: no-such-codec\nx = 1\n")
    assert "no-such-codec" in (load_submission(p).error or "")


SETUP_LOOPS = [
    "for name, f in [('sig', lambda z: 1 / (1 + sig(z)))]:\n    ACT[name] = f",  # rt20 F6; the lambda's body is not run by the loop
    "for k, shape in {'W1': (2, 3), 'W2': (3, 1)}.items():\n    params[k] = rng.normal(size=shape)",
    "for i, name in enumerate(['tanh', 'exp']):\n    ACT[name] = getattr(np, name)",
    "for l in range(1, 4):\n    sizes.append(l)\n    for c in 'ab':\n        names[c] = l",
]
TRAINING_LOOPS = [
    "for epoch in range(10000):\n    g = backward(params, X, Y)",  # an epoch count above MAX_SETUP_RANGE
    "for epoch in range(100):\n    model.W1 -= model.cost_function_prime(x, y)",  # study_2layer: a method the submission defines
    "for epoch in range(100):\n    W = W - 0.1 * grad(W)",  # a function call that is no cheap builtin
    "for epoch in range(100):\n    W -= 0.1 * X.T @ (X @ W - Y)",  # an in-place update, no call at all
    "for lr in [0.1, 0.5]:\n    net.fit(X, Y, lr)",  # a training method of a helper module's class
    "for x, y in zip(X, Y):\n    total = x",  # over data, not values written out
    "for epoch in range(epochs):\n    pass",
    "for k in [1, 2]:\n    for epoch in range(10**6):\n        pass",  # a nested loop that is not setup
    "for k in [1, 2]:\n    while True:\n        pass",
    "while True:\n    pass",
    "for name in [*NAMES]:\n    ACT[name] = 1",
    "for i in range(10000000000000000000000):\n    pass",  # too large for len(range(...))
    "for i in range(0, 5, 0):\n    pass",  # a ValueError when run, not setup
    "for a in range(50):\n    for b in range(50):\n        T[a, b] = 0",  # 50 * 51 runs of a body: above MAX_SETUP_RUNS
    "for lr in sorted([0.1, 0.5], key=train):\n    pass",  # the key function is called
]


@pytest.mark.parametrize("src", SETUP_LOOPS)
def test_setup_loop_is_run(src: str) -> None:
    code, notes, _ = transform_source("def grad(w):\n    return w\n" + src, filename="t.py")
    assert code.endswith(src) and "ran a top-level for loop" in notes[0]


@pytest.mark.parametrize("src", TRAINING_LOOPS)
def test_training_loop_is_skipped(src: str) -> None:
    own = frozenset({"grad", "cost_function_prime"})  # what the submission defines (a notebook: in other cells)
    code, notes, _ = transform_source(src, filename="t.py", own=own)
    assert code.strip() == "" and "skipped a top-level" in notes[0]
    assert not is_setup_loop(ast.parse(src).body[0], own)


def test_own_functions_of_every_notebook_cell_count(tmp_path: Path) -> None:
    path = tmp_path / "n.ipynb"
    path.write_text(nb("class Net:\n    def update(self):\n        pass\n    def sgd(self):\n        pass\nnet = Net()", "for i in range(3):\n    net.sgd()"))
    sub = load_submission(path)
    assert sub.cells[1].source.strip() == "" and [(lp.filename, lp.line) for lp in sub.skipped_loops] == [("n.ipynb, code cell 2", 1)]


def test_skipped_loop_records_what_it_sets(tmp_path: Path) -> None:
    path = tmp_path / "s.py"
    path.write_text("T = {}\nfor n in NAMES:\n    T[n] = 1\n    L.append(n)\n    o.a = 2\n    setattr(m, n, 1)\n    import os\nwhile x:\n    def f(): pass\n")
    first, second = load_submission(path).skipped_loops
    assert (first.line, first.end_line, first.kind, first.names) == (2, 7, "for", frozenset({"n", "T", "L", "o", "m", "os"}))
    assert (second.line, second.kind, second.names) == (8, "while", frozenset({"f"}))


LOOP = SkippedLoop("hw.py", 3, 4, "for", frozenset({"ACT", "name", "f"}))


@pytest.mark.parametrize("message", [
    "backward(params, x, y) raised Traceback (the submission's frames only):\n  File \"hw.py\", line 11, in backward\n    s = ACT['sig']\n        ~~~^^^^^^^\nKeyError: 'sig'",
    "NameError: name 'ACT' is not defined",
    "  File \"hw.py\", line 5, in <module>\n    s = ACT.sig\nAttributeError: 'dict' object has no attribute 'sig'",
])
def test_hint_names_the_skipped_loop_and_the_switch(message: str) -> None:
    hint = skipped_loop_hint(message, (LOOP, SkippedLoop("hw.py", 9, 12, "while", frozenset({"W"}))))
    assert hint is not None and "hw.py, line 3 (lines 3-4), which sets ACT" in hint and "skip_loops = false" in hint
    assert "line 9" not in hint  # the other loop sets nothing the error names


@pytest.mark.parametrize("message", [
    "  File \"hw.py\", line 11, in backward\n    s = ACT['sig'] / 0\nZeroDivisionError: division by zero",  # not a lookup error
    "  File \"hw.py\", line 11, in backward\n    s = TABLE['sig']\nKeyError: 'sig'",  # names nothing the loop sets
    "NameError: name 'nme' is not defined",  # `name` is in the message's words, not in its quotes
    "",
])
def test_no_hint_when_no_skipped_loop_sets_what_the_error_names(message: str) -> None:
    assert skipped_loop_hint(message, (LOOP,)) is None
