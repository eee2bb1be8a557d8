"""Reading submissions: .py and .ipynb, IPython syntax, skipped statements, broken files."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from gradcheck.grading.loader import load_submission, transform_source

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
