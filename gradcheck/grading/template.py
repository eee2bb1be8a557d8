"""``gradcheck template NAME``: a student skeleton for a reference model.

Writes ``NAME.py`` (or ``NAME.ipynb``) with a working ``forward(params, x)``
generated from the model's layers and a ``backward(params, x, y)`` to fill
in (it returns zeros, which the grader names "backward not written"), whose
docstring holds the model's forward and backward equations; and ``NAME.toml``,
the matching assignment file (see :mod:`gradcheck.grading.assignment`).
Existing files are never overwritten without ``--force``.

Examples
--------
>>> files = render_template("study_2layer")
>>> sorted(files)
['study_2layer.py', 'study_2layer.toml']
>>> "def backward(params, x, y):" in files["study_2layer.py"]
True
"""
from __future__ import annotations

import argparse
import json
import sys
import textwrap
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from gradcheck.grading.assignment import Assignment, dump_assignment
from gradcheck.messages import LANGUAGES

__all__ = ["LANGS", "FORMATS", "render_template", "write_template", "forward_source", "register", "run"]

LANGS: tuple[str, ...] = LANGUAGES
FORMATS: tuple[str, ...] = ("py", "ipynb")

_ACTIVATIONS: dict[str, str] = {
    "sigmoid": "def sigmoid(z):\n    return 1 / (1 + np.exp(-z))\n",
    "relu": "def relu(z):\n    return np.maximum(0, z)\n",
    "tanh": "def tanh(z):\n    return np.tanh(z)\n",
    "step": "def step(z):\n    return np.where(z <= 0, 0.0, 1.0)\n",
    "softmax": "def softmax(z):\n    e = np.exp(z - z.max(axis=-1, keepdims=True))\n    return e / e.sum(axis=-1, keepdims=True)\n",
}
#: How a model turns its last layer's output into what forward returns.
_PRESENT: dict[str, tuple[str, tuple[str, ...]]] = {
    "mnist_relu": ("softmax({last})", ("softmax",)),
    "relu_sigmoid_bce": ("sigmoid({last})[:, 0]", ("sigmoid",)),
    "chain_2_1_1": ("{last}[:, 0]", ()),
}

_TEXT: dict[str, dict[str, str]] = {
    "title": {"en": "Backpropagation exercise: {name}", "ko": "역전파 실습: {name}"},
    "intro": {
        "en": "Fill in `backward(params, x, y)`: return the gradient of the loss with respect to every parameter, "
        "as a dict with the same keys and shapes as `params`. `forward` is given and works. "
        "Check your work with `gradcheck grade` and the assignment file `{name}.toml`.",
        "ko": "`backward(params, x, y)`를 완성하세요: 모든 매개변수에 대한 손실의 기울기를 `params`와 같은 키와 "
        "모양의 dict로 반환합니다. `forward`는 이미 작성되어 있고 동작합니다. "
        "과제 파일 `{name}.toml`과 `gradcheck grade`로 확인하세요.",
    },
    "forward_doc": {"en": "The network's output for a batch x of shape (N, {n_in}).", "ko": "입력 x (모양 (N, {n_in}))에 대한 신경망의 출력."},
    "backward_doc": {
        "en": "Gradients of the loss with respect to every parameter.\n\nReturn a dict with the keys {keys},\neach gradient of the same shape as its parameter.",
        "ko": "각 매개변수에 대한 손실의 기울기.\n\n키가 {keys}인 dict를 반환하세요.\n각 기울기의 모양은 해당 매개변수와 같아야 합니다.",
    },
    "equations": {"en": "The network's equations", "ko": "신경망의 수식"},
    "replace": {
        "en": "# Replace the zeros below with the gradients (the grader reports zeros as 'not written').",
        "ko": "# 아래의 0을 기울기로 바꾸세요 (채점기는 0을 '작성되지 않음'으로 보고합니다).",
    },
    "try": {"en": "Try it on random values (the grader skips this part).", "ko": "임의의 값으로 실행해 보세요 (채점기는 이 부분을 건너뜁니다)."},
    "toml": {
        "en": "Assignment for gradcheck: the {name} network, default calling convention backward(params, x, y) -> dict",
        "ko": "gradcheck 과제 파일: {name} 신경망, 기본 호출 규약 backward(params, x, y) -> dict",
    },
}


def _t(key: str, lang: str, **fields: Any) -> str:
    return _TEXT[key][lang].format(**fields)


def _model(name: str, options: Mapping[str, Any] | None) -> Any:
    import reference_models

    return reference_models.get(name, **dict(options or {}))


def forward_source(model: Any) -> tuple[str, tuple[str, ...]]:
    """Python source of ``forward(params, x)`` for ``model``, and the helpers it needs.

    Generated from ``model.layers`` (``Dense``, ``Activation``, ``Dot``,
    ``Scale``) and the model's output transform.

    Raises
    ------
    ValueError
        For a layer or activation the generator does not know.
    """
    lines: list[str] = []
    helpers: list[str] = []
    pnames = list(model.param_shapes)
    lines.append("    " + ", ".join(pnames) + (" = " if len(pnames) > 1 else ", = ") + ", ".join(f'params["{p}"]' for p in pnames))
    last, k = "x", 0
    for layer in model.layers:
        kind = type(layer).__name__
        if kind == "Dense":
            k += 1
            bias = f" + {layer.bias}" if layer.bias else ""
            lines.append(f"    z{k} = {last} @ {layer.weight}{bias}")
            last = f"z{k}"
        elif kind == "Dot":
            k += 1
            lines.append(f"    z{k} = {last} @ {layer.weight}[:, None]")
            last = f"z{k}"
        elif kind == "Scale":
            k += 1
            lines.append(f"    z{k} = {last} * {layer.weight}")
            last = f"z{k}"
        elif kind == "Activation":
            if layer.name not in _ACTIVATIONS:
                raise ValueError(f"no template for activation {layer.name!r} of model {model.name!r}")
            if layer.name not in helpers:
                helpers.append(layer.name)
            lines.append(f"    a{k} = {layer.name}({last})")
            last = f"a{k}"
        else:
            raise ValueError(f"no template for layer {layer!r} of model {model.name!r}")
    present, extra = _PRESENT.get(model.name, ("{last}", ()))
    helpers += [h for h in extra if h not in helpers]
    lines.append(f"    return {present.format(last=last)}")
    return "\n".join(lines), tuple(helpers)


def _indent_doc(text: str) -> str:
    return "\n".join(("    " + ln).rstrip() for ln in text.strip("\n").splitlines())


def _parts(model: Any, lang: str) -> dict[str, str]:
    body, helpers = forward_source(model)
    n_in = next(iter(model.param_shapes.values()))[0] if next(iter(model.param_shapes.values())) else 1
    keys = ", ".join(model.param_shapes)
    equations = model.equations.strip("\n").replace('"""', "'''")
    rng = np.random.default_rng(0)
    x, y = model.example_batch(rng, 4)
    try_lines = ["rng = np.random.default_rng(0)", "params = {"]
    try_lines += [f'    "{k}": rng.normal(size={tuple(s)!r}),' for k, s in model.param_shapes.items()]
    try_lines += ["}", f"x = rng.random({tuple(x.shape)!r})", f"y = rng.random({tuple(y.shape)!r})", "grads = backward(params, x, y)",
                  "print(forward(params, x).shape)", "print({k: g.shape for k, g in grads.items()})"]
    forward = (
        "def forward(params, x):\n"
        f'    """{_t("forward_doc", lang, n_in=n_in)}"""\n'
        f"{body}\n"
    )
    doc = _t("backward_doc", lang, keys=keys) + "\n\n" + _t("equations", lang) + ":\n\n" + equations
    backward = (
        "def backward(params, x, y):\n"
        f'    """{_indent_doc(doc).lstrip()}\n    """\n'
        f"    {_t('replace', lang)}\n"
        "    return {name: np.zeros_like(value) for name, value in params.items()}\n"
    )
    return {
        "imports": "import numpy as np\n",
        "helpers": "\n\n".join(_ACTIVATIONS[h] for h in helpers),
        "forward": forward,
        "backward": backward,
        "try": "\n".join(try_lines) + "\n",
    }


def render_template(name: str, *, lang: str = "en", fmt: str = "py", options: Mapping[str, Any] | None = None) -> dict[str, str]:
    """The skeleton and assignment file for model ``name``, as ``{file name: text}``.

    Parameters
    ----------
    name : str
        A reference model name.
    lang : {"en", "ko"}
    fmt : {"py", "ipynb"}
    options : mapping, optional
        Model options (``hidden=4`` ...), also written to the assignment.

    Raises
    ------
    ValueError
        For an unknown model, language or format.
    """
    if lang not in LANGS:
        raise ValueError(f"lang must be one of {', '.join(LANGS)}, got lang={lang!r}")
    if fmt not in FORMATS:
        raise ValueError(f"fmt must be one of {', '.join(FORMATS)}, got fmt={fmt!r}")
    model = _model(name, options)
    parts = _parts(model, lang)
    title = _t("title", lang, name=name)
    intro = _t("intro", lang, name=name)
    if fmt == "py":
        head = f'"""{title}\n\n{textwrap.fill(intro, 88)}\n"""\n'
        code = "\n\n".join(p for p in (head + parts["imports"], parts["helpers"], parts["forward"], parts["backward"]) if p)
        trial = "\n".join(("    " + ln) if ln else "" for ln in parts["try"].splitlines())
        code += f'\n\nif __name__ == "__main__":\n    # {_t("try", lang)}\n{trial}\n'
        skeleton = code
    else:
        skeleton = _notebook([
            ("markdown", f"# {title}\n\n{intro}"),
            ("code", parts["imports"] + "\n\n" + parts["helpers"]),
            ("code", parts["forward"]),
            ("markdown", f"## {_t('equations', lang)}\n\n```\n{model.equations.strip()}\n```"),
            ("code", parts["backward"]),
            ("markdown", _t("try", lang)),
            ("code", parts["try"]),
        ])
    assignment = Assignment(
        model=name,
        model_options=dict(options or {}),
        points={p: 1.0 for p in model.param_shapes},
        title=title,
    )
    toml = dump_assignment(assignment, comments={"": _t("toml", lang, name=name)})
    return {f"{name}.{fmt}": skeleton, f"{name}.toml": toml}


def _notebook(cells: list[tuple[str, str]]) -> str:
    out = []
    for i, (kind, text) in enumerate(cells):
        lines = text.rstrip("\n").splitlines(True)
        cell: dict[str, Any] = {"cell_type": kind, "id": f"cell-{i}", "metadata": {}, "source": lines}
        if kind == "code":
            cell.update(execution_count=None, outputs=[])
        out.append(cell)
    nb = {
        "cells": out,
        "metadata": {
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
            "language_info": {"name": "python"},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    return json.dumps(nb, indent=1, ensure_ascii=False) + "\n"


def write_template(
    name: str,
    *,
    out: str | Path = ".",
    lang: str = "en",
    fmt: str = "py",
    force: bool = False,
    options: Mapping[str, Any] | None = None,
) -> list[Path]:
    """Write the skeleton and the assignment file into ``out``; return their paths.

    Raises
    ------
    FileExistsError
        When a file exists and ``force`` is false (nothing is written then).
    """
    if not isinstance(out, (str, Path)):
        raise TypeError(f"out must be a str or Path, got out={out!r}")
    files = render_template(name, lang=lang, fmt=fmt, options=options)
    d = Path(out)
    paths = [d / f for f in files]
    existing = [str(p) for p in paths if p.exists()]
    if existing and not force:
        raise FileExistsError(f"not overwriting {', '.join(existing)} (use --force)")
    d.mkdir(parents=True, exist_ok=True)
    for p, text in zip(paths, files.values()):
        p.write_text(text, encoding="utf-8")
    return paths


def register(subparsers: Any) -> None:
    """Add the ``template`` subcommand to an argparse subparsers object."""
    p = subparsers.add_parser(
        "template",
        help="write a student skeleton and assignment file for a reference model",
        description="Write NAME.py (or NAME.ipynb) with a working forward and a backward to fill in, and NAME.toml.",
    )
    p.add_argument("name", help="reference model name (e.g. xor_2layer)")
    p.add_argument("--out", default=".", help="directory to write into (default: the current one)")
    p.add_argument("--lang", choices=LANGS, default="en", help="language of the instructions")
    p.add_argument("--format", dest="fmt", choices=FORMATS, default="py", help="py (default) or ipynb")
    p.add_argument("--force", action="store_true", help="overwrite existing files")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run ``gradcheck template``; 0 on success, 1 for a refused overwrite, 2 for a bad name."""
    try:
        paths = write_template(args.name, out=args.out, lang=args.lang, fmt=args.fmt, force=args.force)
    except FileExistsError as exc:
        print(f"gradcheck template: {exc}", file=sys.stderr)
        return 1
    except (KeyError, ValueError, TypeError) as exc:
        print(f"gradcheck template: {exc}", file=sys.stderr)
        return 2
    for p in paths:
        print(p)
    return 0
