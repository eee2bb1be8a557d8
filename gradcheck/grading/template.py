"""``gradcheck template NAME``: a student skeleton and its assignment file for a reference model.

Writes ``NAME.py`` (or ``NAME.ipynb``) with a working forward pass generated
from the model's layers and a backward pass to fill in (it returns zeros,
which the grader names "backward not written"), and ``NAME.toml``, the
matching assignment file (see :mod:`gradcheck.grading.assignment`).  One
skeleton per calling convention of the course notebooks (``--style``):

``dict``
    ``forward(params, x)`` and ``backward(params, x, y) -> dict`` (the 000
    notebook's functions, the grader's default contract).
``class``
    The 004 notebook's ``class Neural_Network`` with ``forward(self, X)``,
    which keeps its intermediate values on ``self``, and
    ``cost_function_prime(self, X, y)`` returning a tuple of gradients; the
    grader calls ``forward`` and then ``cost_function_prime`` on the same
    instance, as the notebook's training loop does.
``args``
    The 003 notebook's parameters-as-arguments: ``forward(x, W2, b2, ...)``
    and ``backward(x, y, W2, b2, ...)`` returning a tuple, called on one
    sample at a time (``per_sample = true`` in the assignment).

``--hints`` decides how much of the derivation the backward docstring holds:
``none`` (what to return), ``equations`` (the forward equations and the
loss) or ``full`` (the backward equations too).  The variable names of the
generated code are the names the model's equations use (``z2``, ``a2``,
``yhat`` in the 004 notebook's numbering), so the code and its docstring
agree.  ``--classroom`` also writes a GitHub Classroom workflow that runs the
pytest self-check on every push, with a wheel of gradcheck next to it.
Existing files are never overwritten without ``--force``.

Examples
--------
>>> files = render_template("study_2layer", style="class", hints="equations")
>>> sorted(files)
['study_2layer.py', 'study_2layer.toml']
>>> "def cost_function_prime(self, X, y):" in files["study_2layer.py"]
True
>>> "self.z2 = X @ self.W1" in files["study_2layer.py"] and "z2 = X W1" in files["study_2layer.py"]
True
"""
from __future__ import annotations

import argparse
import json
import re
import sys
import textwrap
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gradcheck import nn
from gradcheck.grading.assignment import Assignment, SubmissionSpec, dump_assignment
from gradcheck.messages import LANGUAGES

__all__ = [
    "CLASS_NAME",
    "FORMATS",
    "HINTS",
    "LANGS",
    "STYLES",
    "WORKFLOW",
    "forward_source",
    "register",
    "render_template",
    "run",
    "write_template",
]

LANGS: tuple[str, ...] = LANGUAGES
FORMATS: tuple[str, ...] = ("py", "ipynb")
#: Calling conventions of the course notebooks.
STYLES: tuple[str, ...] = ("dict", "class", "args")
#: How much of the derivation the backward docstring gives.
HINTS: tuple[str, ...] = ("none", "equations", "full")
#: The class the ``class`` style defines (the 004 notebook's name).
CLASS_NAME = "Neural_Network"
#: Where ``--classroom`` writes the workflow.
WORKFLOW = ".github/workflows/gradcheck.yml"

_ACTIVATIONS: dict[str, str] = {
    "sigmoid": "def sigmoid(z):\n    return 1 / (1 + np.exp(-z))\n",
    "relu": "def relu(z):\n    return np.maximum(0, z)\n",
    "tanh": "def tanh(z):\n    return np.tanh(z)\n",
    "step": "def step(z):\n    return np.where(z <= 0, 0.0, 1.0)\n",
    "softmax": "def softmax(z):\n    e = np.exp(z - z.max(axis=-1, keepdims=True))\n    return e / e.sum(axis=-1, keepdims=True)\n",
}


def _np_softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return np.asarray(e / e.sum(axis=-1, keepdims=True))


#: Candidate output transforms: (code with {last}, helper it needs, the same in numpy).
_OUTPUTS: tuple[tuple[str, str | None, Callable[[np.ndarray], np.ndarray]], ...] = (
    ("{last}", None, lambda o: o),
    ("softmax({last})", "softmax", _np_softmax),
    ("sigmoid({last})[..., 0]", "sigmoid", lambda o: 1 / (1 + np.exp(-o[..., 0]))),
    ("{last}[..., 0]", None, lambda o: o[..., 0]),
)

_TEXT: dict[str, dict[str, str]] = {
    "title": {"en": "Backpropagation exercise: {name}", "ko": "역전파 실습: {name}"},
    "intro.dict": {
        "en": "Fill in `backward(params, x, y)`: return the gradient of the loss with respect to every parameter, "
        "as a dict with the same keys and shapes as `params`. `forward` is given and works. "
        "Check your work with `gradcheck grade` and the assignment file `{name}.toml`.",
        "ko": "`backward(params, x, y)`를 완성하세요: 모든 매개변수에 대한 손실의 기울기를 `params`와 같은 키와 "
        "모양의 dict로 반환합니다. `forward`는 이미 작성되어 있고 동작합니다. "
        "과제 파일 `{name}.toml`과 `gradcheck grade`로 확인하세요.",
    },
    "intro.class": {
        "en": "Fill in `Neural_Network.cost_function_prime(self, X, y)`: return the gradients of the loss with respect to "
        "{keys}, in that order, as a tuple. `forward` is given and keeps its intermediate values on `self`; the grader "
        "calls `forward(X)` and then `cost_function_prime(X, y)` on the same object, as a training loop does. "
        "Check your work with `gradcheck grade` and the assignment file `{name}.toml`.",
        "ko": "`Neural_Network.cost_function_prime(self, X, y)`를 완성하세요: {keys}에 대한 손실의 기울기를 이 순서대로 "
        "튜플로 반환합니다. `forward`는 이미 작성되어 있고 중간값을 `self`에 저장합니다. 채점기는 학습 루프처럼 같은 "
        "객체에서 `forward(X)`를 먼저 호출한 뒤 `cost_function_prime(X, y)`를 호출합니다. "
        "과제 파일 `{name}.toml`과 `gradcheck grade`로 확인하세요.",
    },
    "intro.args": {
        "en": "Fill in `backward(x, y, {keys})`: x and y are ONE sample (1-D arrays), the parameters are separate "
        "arguments; return the gradients of that sample's loss with respect to {keys}, in that order, as a tuple. "
        "`forward` is given and works. Check your work with `gradcheck grade` and the assignment file `{name}.toml`.",
        "ko": "`backward(x, y, {keys})`를 완성하세요: x와 y는 샘플 하나(1차원 배열)이고 매개변수는 각각 따로 인수로 "
        "받습니다. 그 샘플의 손실에 대한 {keys}의 기울기를 이 순서대로 튜플로 반환합니다. `forward`는 이미 작성되어 "
        "있고 동작합니다. 과제 파일 `{name}.toml`과 `gradcheck grade`로 확인하세요.",
    },
    "forward_doc": {"en": "The network's output for a batch x of shape (N, {n_in}).", "ko": "입력 x (모양 (N, {n_in}))에 대한 신경망의 출력."},
    "forward_doc.args": {"en": "The network's output for one sample x of shape ({n_in},).", "ko": "샘플 하나 x (모양 ({n_in},))에 대한 신경망의 출력."},
    "forward_doc.class": {
        "en": "The network's output for a batch X of shape (N, {n_in}); keeps {kept} on self.",
        "ko": "입력 X (모양 (N, {n_in}))에 대한 신경망의 출력. {kept}을(를) self에 저장합니다.",
    },
    "return.dict": {
        "en": "Return a dict with the keys {keys},\neach gradient of the same shape as its parameter.",
        "ko": "키가 {keys}인 dict를 반환하세요.\n각 기울기의 모양은 해당 매개변수와 같아야 합니다.",
    },
    "return.tuple": {
        "en": "Return the tuple ({grads}),\neach gradient of the same shape as its parameter: {shapes}.",
        "ko": "튜플 ({grads})를 반환하세요.\n각 기울기의 모양은 해당 매개변수와 같아야 합니다: {shapes}.",
    },
    "backward_doc": {"en": "Gradients of the loss with respect to every parameter.", "ko": "각 매개변수에 대한 손실의 기울기."},
    "backward_doc.args": {
        "en": "Gradients of the loss of ONE sample (N = 1 in the loss) with respect to every parameter.",
        "ko": "샘플 하나의 손실(손실 식에서 N = 1)에 대한 각 매개변수의 기울기.",
    },
    "after_forward": {
        "en": "forward(X) has just run on this object: {kept} hold its values.",
        "ko": "이 객체에서 forward(X)가 방금 실행되었습니다: {kept}에 그 값이 있습니다.",
    },
    "forward_eq": {"en": "The forward pass and the loss", "ko": "순전파와 손실"},
    "backward_eq": {"en": "The backward pass", "ko": "역전파"},
    "replace": {
        "en": "# Replace the zeros below with the gradients (the grader reports zeros as 'not written').",
        "ko": "# 아래의 0을 기울기로 바꾸세요 (채점기는 0을 '작성되지 않음'으로 보고합니다).",
    },
    "try.py": {
        "en": "Try it on random values (the grader skips this block: it runs only when the file is run as a script).",
        "ko": "임의의 값으로 실행해 보세요 (이 블록은 파일을 직접 실행할 때만 돌고, 채점기는 건너뜁니다).",
    },
    "try.ipynb": {
        "en": "Try it on random values. The cell below runs in Jupyter; the grader skips it because it is inside "
        "`if __name__ == \"__main__\":`.",
        "ko": "임의의 값으로 실행해 보세요. 아래 셀은 Jupyter에서는 실행되지만, `if __name__ == \"__main__\":` 안에 "
        "있으므로 채점기는 건너뜁니다.",
    },
    "toml": {
        "en": "Assignment for gradcheck: the {name} network, {convention}",
        "ko": "gradcheck 과제 파일: {name} 신경망, {convention}",
    },
    "workflow": {
        "en": "Runs the same checks as the grader on every push (GitHub Classroom: see the Actions tab).",
        "ko": "push할 때마다 채점기와 같은 검사를 실행합니다 (GitHub Classroom: Actions 탭에서 결과를 볼 수 있습니다).",
    },
}

#: English words of the models' equations and their Korean (longest first when applied).
_EQ_KO: dict[str, str] = {
    "forward (the notebook calls pre-activations a and activations z):": "순전파 (노트북은 활성화 전 값을 a, 활성화 값을 z라고 부릅니다):",
    "forward (the notebook's w1, w2, w3 are the parameters W1, W2, W3):": "순전파 (노트북의 w1, w2, w3가 매개변수 W1, W2, W3입니다):",
    "(the notebook's relu2deriv(layer_1) = layer_1 >= 0 is always 1: a bug)": "(노트북의 relu2deriv(layer_1) = layer_1 >= 0은 항상 1입니다: 버그)",
    "(the notebook's layer_2_delta = t - p, per sample)": "(노트북의 layer_2_delta = t - p, 샘플별)",
    "(the notebook's output_error_term is": "(노트북의 output_error_term은",
    "(hidden_error_term, same sign caveat)": "(hidden_error_term, 부호에 같은 주의)",
    "(layer_0: the images, N x 784)": "(layer_0: 이미지, N x 784)",
    "(w: weights, shape (2,))": "(w: weights, 모양 (2,))",
    "(v: hidden_weight, a scalar)": "(v: hidden_weight, 스칼라)",
    "(mean over samples for a batch)": "(배치에서는 샘플에 대한 평균)",
    "the notebook writes": "노트북의 표기:",
    "mean over samples of": "샘플에 대한 평균:",
    "sum over samples of": "샘플에 대한 합:",
    "where z1 > 0 else 0": "(z1 > 0일 때), 아니면 0",
    "where a > 0": "(a > 0일 때)",
    "relu, tanh or step": "relu, tanh 또는 step",
    "forward:": "순전파:",
    "backward:": "역전파:",
}


def _t(key: str, lang: str, **fields: Any) -> str:
    return _TEXT[key][lang].format(**fields)


def _model(name: str, options: Mapping[str, Any] | None) -> Any:
    import reference_models

    return reference_models.get(name, **dict(options or {}))


def _check_choice(name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(allowed)}, got {name}={value!r}")


# -- names and equations -------------------------------------------------------------------


def _split_equations(model: Any) -> tuple[str, str]:
    """(forward and loss, backward) parts of the model's equations."""
    text = model.equations.strip("\n").replace('"""', "'''")
    m = re.search(r"^backward", text, flags=re.MULTILINE)
    return (text, "") if m is None else (text[: m.start()].rstrip(), text[m.start():].rstrip())


def _translate(text: str, lang: str) -> str:
    if lang == "en":
        return text
    for en in sorted(_EQ_KO, key=len, reverse=True):
        text = text.replace(en, _EQ_KO[en])
    return text


@dataclass(frozen=True)
class _Names:
    """The variable names the code uses, taken from the model's equations."""

    first: int  # index of the first pre-activation (z1, or z2 in the 003/004 numbering)
    activations: dict[int, str]  # layer index -> name of its activation (a2, yhat ...)

    def z(self, k: int) -> str:
        return f"z{self.first + k - 1}"

    def a(self, k: int) -> str:
        i = self.first + k - 1
        return self.activations.get(i, f"a{i}")


def _names(model: Any) -> _Names:
    fwd, _ = _split_equations(model)
    zs = [int(i) for i in re.findall(r"\bz(\d+)\s*=", fwd)]
    first = min(zs) if zs else 1
    acts = {int(k): name for name, k in re.findall(r"\b([A-Za-z_]\w*)\s*=\s*\w+\(z(\d+)\)", fwd)}
    return _Names(first, {k: v for k, v in acts.items() if v not in ("y", "x", "X")})


# -- the forward pass ------------------------------------------------------------------------


def _output_transform(model: Any) -> tuple[str, str | None]:
    """Which of :data:`_OUTPUTS` the model's ``present`` is (probed on a seeded array)."""
    probe = np.random.default_rng(0).standard_normal((3, 4))
    want = np.asarray(model.present(probe.copy()))
    for code, helper, fn in _OUTPUTS:
        got = fn(probe.copy())
        if got.shape == want.shape and np.allclose(got, want, rtol=1e-12, atol=0):
            return code, helper
    raise ValueError(f"no template for the output of model {model.name!r}")


def _layer_line(layer: Any, last: str, target: str, ref: Callable[[str], str]) -> tuple[str, str | None]:
    """One line of the forward pass for ``layer`` (by the layer protocols of :mod:`gradcheck.nn`) and its helper."""
    if isinstance(layer, nn.AffineLayer):
        bias = f" + {ref(layer.bias)}" if layer.bias else ""
        return f"{target} = {last} @ {ref(layer.weight)}{bias}", None
    if isinstance(layer, nn.Dot):
        return f"{target} = {last} @ {ref(layer.weight)}[:, None]", None
    if isinstance(layer, nn.Scale):
        return f"{target} = {last} * {ref(layer.weight)}", None
    if isinstance(layer, nn.DifferentiableLayer):
        if layer.name not in _ACTIVATIONS:
            raise ValueError(f"no template for activation {layer.name!r}")
        return f"{target} = {layer.name}({last})", layer.name
    raise ValueError(f"no template for layer {layer!r}")


def _forward_lines(model: Any, *, ref: Callable[[str], str], keep: Callable[[str], str], x: str) -> tuple[list[str], list[str], list[str]]:
    """(lines, helpers, kept names): the forward pass in the model's own variable names."""
    names = _names(model)
    lines: list[str] = []
    helpers: list[str] = []
    kept: list[str] = []
    last, k = x, 0
    for layer in model.layers:
        is_act = isinstance(layer, nn.ElementwiseLayer)
        if not is_act:
            k += 1
        target = names.a(k) if is_act else names.z(k)
        line, helper = _layer_line(layer, last, keep(target), ref)
        lines.append(line)
        kept.append(keep(target))
        if helper and helper not in helpers:
            helpers.append(helper)
        last = keep(target)
    code, helper = _output_transform(model)
    if helper and helper not in helpers:
        helpers.append(helper)
    lines.append(f"return {code.format(last=last)}")
    return lines, helpers, kept


def forward_source(model: Any) -> tuple[str, tuple[str, ...]]:
    """Python source of the body of ``forward(params, x)`` for ``model``, and the helpers it needs.

    Raises
    ------
    ValueError
        For a layer, activation or output the generator does not know.
    """
    pnames = list(model.param_shapes)
    unpack = "    " + ", ".join(pnames) + (" = " if len(pnames) > 1 else ", = ") + ", ".join(f'params["{p}"]' for p in pnames)
    lines, helpers, _ = _forward_lines(model, ref=lambda p: p, keep=lambda n: n, x="x")
    return "\n".join([unpack] + ["    " + ln for ln in lines]), tuple(helpers)


# -- the three conventions ---------------------------------------------------------------------


def _doc(text: str, indent: str) -> str:
    body = "\n".join((indent + ln).rstrip() for ln in text.strip("\n").splitlines())
    return f'{indent}"""{body.lstrip()}\n{indent}"""\n'


def _hints(model: Any, lang: str, hints: str) -> str:
    fwd, bwd = _split_equations(model)
    out = ""
    if hints in ("equations", "full"):
        out += f"\n\n{_t('forward_eq', lang)}:\n\n{_translate(fwd, lang)}"
    if hints == "full" and bwd:
        bwd = re.sub(r"\Abackward:\n", "", bwd)  # the heading above says it already
        out += f"\n\n{_t('backward_eq', lang)}:\n\n{_translate(bwd, lang)}"
    return out


def _shapes(model: Any) -> str:
    return ", ".join(f"d{k} {tuple(s)}" for k, s in model.param_shapes.items())


def _parts_dict(model: Any, lang: str, hints: str, n_in: int) -> tuple[list[str], list[str]]:
    body, helpers = forward_source(model)
    forward = f"def forward(params, x):\n{_doc(_t('forward_doc', lang, n_in=n_in), '    ')}{body}\n"
    doc = _t("backward_doc", lang) + "\n\n" + _t("return.dict", lang, keys=", ".join(model.param_shapes)) + _hints(model, lang, hints)
    backward = (
        f"def backward(params, x, y):\n{_doc(doc, '    ')}"
        f"    {_t('replace', lang)}\n"
        "    return {name: np.zeros_like(value) for name, value in params.items()}\n"
    )
    return [forward, backward], list(helpers)


def _parts_args(model: Any, lang: str, hints: str, n_in: int) -> tuple[list[str], list[str]]:
    pnames = list(model.param_shapes)
    lines, helpers, _ = _forward_lines(model, ref=lambda p: p, keep=lambda n: n, x="x")
    forward = f"def forward(x, {', '.join(pnames)}):\n{_doc(_t('forward_doc.args', lang, n_in=n_in), '    ')}" + "".join(f"    {ln}\n" for ln in lines)
    grads = ", ".join(f"d{p}" for p in pnames)
    doc = _t("backward_doc.args", lang) + "\n\n" + _t("return.tuple", lang, grads=grads, shapes=_shapes(model)) + _hints(model, lang, hints)
    zeros = ", ".join(f"np.zeros_like({p})" for p in pnames)
    backward = f"def backward(x, y, {', '.join(pnames)}):\n{_doc(doc, '    ')}    {_t('replace', lang)}\n    return {zeros}\n"
    return [forward, backward], helpers


def _parts_class(model: Any, lang: str, hints: str, n_in: int) -> tuple[list[str], list[str]]:
    pnames = list(model.param_shapes)
    lines, helpers, kept = _forward_lines(model, ref=lambda p: f"self.{p}", keep=lambda n: f"self.{n}", x="X")
    kept_text = ", ".join(kept[:-1]) or "-"
    init = "    def __init__(self):\n" + "".join(
        f"        self.{p} = np.random.randn({', '.join(map(str, s))})\n" for p, s in model.param_shapes.items()
    )
    methods = "".join(f"\n    def {h}(self, z):\n" + textwrap.indent(_ACTIVATIONS[h].split("\n", 1)[1], "    ") for h in helpers)
    fwd_lines = [re.sub(rf"\b({'|'.join(helpers)})\(", r"self.\1(", ln) for ln in lines] if helpers else lines
    forward = f"\n    def forward(self, X):\n{_doc(_t('forward_doc.class', lang, n_in=n_in, kept=kept_text), '        ')}" + "".join(
        f"        {ln}\n" for ln in fwd_lines
    )
    grads = ", ".join(f"d{p}" for p in pnames)
    doc = (_t("backward_doc", lang) + "\n\n" + _t("return.tuple", lang, grads=grads, shapes=_shapes(model)) + "\n"
           + _t("after_forward", lang, kept=kept_text) + _hints(model, lang, hints))
    zeros = ", ".join(f"np.zeros_like(self.{p})" for p in pnames)
    backward = f"\n    def cost_function_prime(self, X, y):\n{_doc(doc, '        ')}        {_t('replace', lang)}\n        return {zeros}\n"
    return [f"class {CLASS_NAME}:\n{init}{methods}{forward}{backward}"], []


def _spec(model: Any, style: str) -> SubmissionSpec:
    """The calling convention of a skeleton.  The forward pass is given (and worth no points), so a
    submission without it is still graded on its gradients, with a note (``require_forward = false``)."""
    pnames = tuple(model.param_shapes)
    if style == "class":
        return SubmissionSpec(style="class", class_name=CLASS_NAME, backward="cost_function_prime", forward="forward")
    if style == "args":
        return SubmissionSpec(args=("x", "y", *pnames), forward_args=("x", *pnames), returns=pnames, per_sample=True)
    return SubmissionSpec()


_CONVENTION = {
    "dict": {"en": "calling convention backward(params, x, y) -> dict", "ko": "호출 규약 backward(params, x, y) -> dict"},
    "class": {"en": "calling convention Neural_Network.forward(X) then cost_function_prime(X, y) -> tuple",
              "ko": "호출 규약 Neural_Network.forward(X) 다음 cost_function_prime(X, y) -> tuple"},
    "args": {"en": "calling convention backward(x, y, *parameters) -> tuple, one sample at a time",
             "ko": "호출 규약 backward(x, y, *매개변수) -> tuple, 샘플 하나씩"},
}


def _trial(model: Any, style: str) -> str:
    rng = np.random.default_rng(0)
    x, y = model.example_batch(rng, 4)
    pnames = list(model.param_shapes)
    lines = ["rng = np.random.default_rng(0)"]
    lines += [f"{p} = rng.normal(size={tuple(s)!r})" for p, s in model.param_shapes.items()]
    lines += [f"x = rng.random({tuple(x.shape)!r})", f"y = rng.random({tuple(y.shape)!r})"]
    if style == "dict":
        lines += ["params = {" + ", ".join(f'"{p}": {p}' for p in pnames) + "}",
                  "print(forward(params, x).shape)", "print({k: g.shape for k, g in backward(params, x, y).items()})"]
    elif style == "class":
        lines += [f"net = {CLASS_NAME}()"] + [f"net.{p} = {p}" for p in pnames]
        lines += ["print(net.forward(x).shape)", "print([g.shape for g in net.cost_function_prime(x, y)])"]
    else:
        args = ", ".join(pnames)
        lines += [f"print(forward(x[0], {args}).shape)", f"print([g.shape for g in backward(x[0], y[0], {args})])"]
    return "\n".join(lines) + "\n"


# -- files -----------------------------------------------------------------------------------


def render_template(
    name: str,
    *,
    lang: str = "en",
    fmt: str = "py",
    style: str = "dict",
    hints: str = "full",
    options: Mapping[str, Any] | None = None,
) -> dict[str, str]:
    """The skeleton and assignment file for model ``name``, as ``{file name: text}``.

    Parameters
    ----------
    name : str
        A reference model name.
    lang : {"en", "ko"}
        Language of the instructions and equations.
    fmt : {"py", "ipynb"}
    style : {"dict", "class", "args"}
        Calling convention (see the module docstring).
    hints : {"none", "equations", "full"}
        How much of the derivation the backward docstring gives.
    options : mapping, optional
        Model options (``hidden=4`` ...), also written to the assignment.

    Raises
    ------
    ValueError
        For an unknown model, language, format, style or hint level.
    """
    _check_choice("lang", lang, LANGS)
    _check_choice("fmt", fmt, FORMATS)
    _check_choice("style", style, STYLES)
    _check_choice("hints", hints, HINTS)
    model = _model(name, options)
    n_in = next(iter(model.param_shapes.values()))[0] if next(iter(model.param_shapes.values())) else 1
    build = {"dict": _parts_dict, "class": _parts_class, "args": _parts_args}[style]
    code_parts, helpers = build(model, lang, hints, n_in)
    title = _t("title", lang, name=name)
    keys = ", ".join(model.param_shapes)
    intro = _t(f"intro.{style}", lang, name=name, keys=keys)
    imports = "import numpy as np\n"
    helper_code = "\n\n".join(_ACTIVATIONS[h] for h in helpers)
    trial = _trial(model, style)
    main_block = 'if __name__ == "__main__":\n' + textwrap.indent(trial, "    ")
    if fmt == "py":
        head = f'"""{title}\n\n{textwrap.fill(intro, 88)}\n"""\n'
        chunks = [head + imports, helper_code, *code_parts, f"# {_t('try.py', lang)}\n{main_block}"]
        skeleton = "\n\n".join(c.rstrip("\n") + "\n" for c in chunks if c)
    else:
        cells = [("markdown", f"# {title}\n\n{intro}"), ("code", imports + ("\n\n" + helper_code if helper_code else ""))]
        cells += [("code", c) for c in code_parts]
        cells += [("markdown", _t("try.ipynb", lang)), ("code", main_block)]
        skeleton = _notebook(cells)
    assignment = Assignment(
        model=name,
        model_options=dict(options or {}),
        spec=_spec(model, style),
        points={p: 1.0 for p in model.param_shapes},
        title=title,
        lang=lang,
    )
    convention = _CONVENTION[style][lang]
    toml = dump_assignment(assignment, comments={"": _t("toml", lang, name=name, convention=convention)})
    return {f"{name}.{fmt}": skeleton, f"{name}.toml": toml}


def workflow_source(name: str, fmt: str, wheel: str, *, lang: str = "en") -> str:
    """The GitHub Actions workflow running the pytest self-check on every push."""
    return f"""# {_t("workflow", lang)}
name: gradcheck
on: [push, pull_request, workflow_dispatch]
permissions:
  contents: read
jobs:
  self-check:
    runs-on: ubuntu-latest
    timeout-minutes: 10
    steps:
      - uses: actions/checkout@v4
      - uses: actions/setup-python@v5
        with:
          python-version: "3.11"
      - name: Install gradcheck (from the wheel in this repository)
        run: python -m pip install ".github/gradcheck/{wheel}[grading]"
      - name: Check {name}.{fmt}
        run: python -m pytest -p gradcheck --gradcheck-submission {name}.{fmt} --gradcheck-assignment {name}.toml -q
"""


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
    style: str = "dict",
    hints: str = "full",
    classroom: bool = False,
    force: bool = False,
    options: Mapping[str, Any] | None = None,
) -> list[Path]:
    """Write the skeleton and the assignment file (and, with ``classroom``, the workflow) into ``out``.

    Returns
    -------
    list of Path
        The files written.

    Raises
    ------
    FileExistsError
        When a file exists and ``force`` is false (nothing is written then).
    """
    if not isinstance(out, (str, Path)):
        raise TypeError(f"out must be a str or Path, got out={out!r}")
    files: dict[str, str | bytes] = dict(render_template(name, lang=lang, fmt=fmt, style=style, hints=hints, options=options))
    if classroom:
        import tempfile

        from gradcheck.grading.autograder import build_wheel

        with tempfile.TemporaryDirectory() as tmp:
            wheel = build_wheel(tmp)
            files[f".github/gradcheck/{wheel.name}"] = wheel.read_bytes()
        files[WORKFLOW] = workflow_source(name, fmt, wheel.name, lang=lang)
    d = Path(out)
    paths = [d / f for f in files]
    existing = [str(p) for p in paths if p.exists()]
    if existing and not force:
        raise FileExistsError(f"not overwriting {', '.join(existing)} (use --force)")
    for p, content in zip(paths, files.values()):
        p.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            p.write_bytes(content)
        else:
            p.write_text(content, encoding="utf-8")
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
    p.add_argument("--lang", choices=LANGS, default="en", help="language of the instructions and equations")
    p.add_argument("--format", dest="fmt", choices=FORMATS, default="py", help="py (default) or ipynb")
    p.add_argument("--style", choices=STYLES, default="dict",
                   help="calling convention: dict (backward(params, x, y) -> dict), class (004: Neural_Network."
                   "cost_function_prime), args (003: parameters as arguments, one sample at a time)")
    p.add_argument("--hints", choices=HINTS, default="full",
                   help="derivation in the docstring: none, equations (forward and loss), full (backward too)")
    p.add_argument("--classroom", action="store_true", help=f"also write a GitHub Classroom workflow ({WORKFLOW})")
    p.add_argument("--force", action="store_true", help="overwrite existing files")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run ``gradcheck template``; 0 on success, 1 for a refused overwrite, 2 for a bad name."""
    try:
        paths = write_template(args.name, out=args.out, lang=args.lang, fmt=args.fmt, style=getattr(args, "style", "dict"),
                               hints=getattr(args, "hints", "full"), classroom=getattr(args, "classroom", False), force=args.force)
    except FileExistsError as exc:
        print(f"gradcheck template: {exc}", file=sys.stderr)
        return 1
    except (KeyError, ValueError, TypeError) as exc:
        print(f"gradcheck template: {exc}", file=sys.stderr)
        return 2
    for p in paths:
        print(p)
    return 0
