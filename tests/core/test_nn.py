"""gradcheck.nn: the layer vocabulary, and models nobody here wrote checked through it.

The engine recognises layers by protocol, never by class name, and checks a
declaration before it relies on it; whatever it cannot exploit goes the
generic way.  Every user class below is written from outside conventions
(``Linear`` with ``W`` of shape ``(out, in)``, a head that sums everything),
not from this project's.
"""
from __future__ import annotations

import numpy as np
import pytest

import reference_models as rm
from gradcheck import check_model, nn, recognise
from gradcheck.engine import ModelEvaluator, estimate_gradients
from gradcheck.recognise import LayerKind

# -- a small tanh MLP with biases and its hand-written backward ---------------


def mlp(loss: nn.LossHead | None = None) -> nn.Sequential:
    return nn.Sequential(nn.Dense("W1", "b1"), nn.Tanh(), nn.Dense("W2", "b2"), nn.Tanh(), nn.Dense("W3", "b3"),
                         loss=loss or nn.MSE("mean"))


def mlp_point(seed: int = 0, n: int = 7) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    shapes = {"W1": (4, 5), "b1": (5,), "W2": (5, 5), "b2": (5,), "W3": (5, 3), "b3": (3,)}
    params = {k: rng.standard_normal(s) * 0.7 for k, s in shapes.items()}
    return params, rng.standard_normal((n, 4)), rng.standard_normal((n, 3))


def mlp_backward(params, x, y, *, bug: str = ""):
    """Exact gradient of ``mean((y - out)**2)``; ``bug`` plants one classic mistake."""
    z1 = x @ params["W1"] + params["b1"]
    a1 = np.tanh(z1)
    z2 = a1 @ params["W2"] + params["b2"]
    a2 = np.tanh(z2)
    out = a2 @ params["W3"] + params["b3"]
    d3 = 2 * (out - y) / out.size
    d2 = (d3 @ params["W3"].T) * (1 - a2 ** 2)
    tanh_prime_1 = 1 - z1 ** 2 if bug == "activation_derivative" else 1 - a1 ** 2  # 1 - z**2: on the wrong array
    d1 = (d2 @ params["W2"].T) * tanh_prime_1
    dW2 = a1.T @ d2
    return {
        "W1": x.T @ d1, "b1": d1.sum(axis=0),
        "W2": dW2.T if bug == "transpose" else dW2,  # square W2: the transpose has the right shape
        "b2": d2.sum(axis=0),
        "W3": a2.T @ d3, "b3": d3.sum(axis=0) * (out.size / 3 if bug == "missing_1_over_n" else 1),
    }


def test_correct_mlp_passes_with_the_fast_paths():
    params, x, y = mlp_point()
    model = mlp()
    ev = ModelEvaluator(model, params, x, y)
    assert ev.kinds == (LayerKind.AFFINE, LayerKind.ELEMENTWISE) * 2 + (LayerKind.AFFINE,)
    assert not ev.structure.looped and ev.sample_scale is not None
    r = check_model(model, params, x, y, backward=mlp_backward)
    assert r.passed, r


@pytest.mark.parametrize("bug, wrong", [
    ("transpose", {"W2"}),
    ("missing_1_over_n", {"b3"}),
    ("activation_derivative", {"W1", "b1"}),
])
def test_planted_bug_fails_at_its_parameter(bug, wrong):
    params, x, y = mlp_point(1)
    r = check_model(mlp(), params, x, y, backward=lambda p, xx, yy: mlp_backward(p, xx, yy, bug=bug))
    assert not r.passed
    assert {c.name for c in r.params if not c.passed} == wrong


# -- a user's own layers and heads ------------------------------------------------


class Linear:
    """The torch convention: ``W`` of shape ``(out, in)``, ``a @ W.T + b``; not stack-aware."""

    def __init__(self, weight, bias):
        self.weight, self.bias = weight, bias
        self.param_names = (weight, bias)

    def forward(self, params, a):
        return a @ params[self.weight].T + params[self.bias]


class SumOverN:
    """``((out - y)**2).sum() / N``: reduces every axis, so a stack gives one number."""

    def __call__(self, out, y):
        return ((out - y) ** 2).sum() / out.shape[0]


def linear_backward(params, x, y, *, scale=1.0):
    z = x @ params["W1"].T + params["b1"]
    a = np.tanh(z)
    out = a @ params["W2"].T + params["b2"]
    d2 = 2 * (out - y) / len(x) * scale
    d1 = (d2 @ params["W2"]) * (1 - a ** 2)
    return {"W1": d1.T @ x, "b1": d1.sum(axis=0), "W2": d2.T @ a, "b2": d2.sum(axis=0)}


def linear_point():
    rng = np.random.default_rng(3)
    params = {"W1": rng.standard_normal((16, 8)), "b1": rng.standard_normal(16),
              "W2": rng.standard_normal((2, 16)) * 0.3, "b2": rng.standard_normal(2)}
    return params, rng.standard_normal((5, 8)), rng.standard_normal((5, 2))


@pytest.mark.parametrize("head", [nn.MSE("sample_mean"), SumOverN()], ids=["nn-head", "own-head"])
def test_users_linear_layer_is_checked_the_generic_way(head):
    params, x, y = linear_point()
    model = nn.Sequential(Linear("W1", "b1"), nn.Tanh(), Linear("W2", "b2"), loss=head)
    ev = ModelEvaluator(model, params, x, y)
    assert ev.kinds[0] is LayerKind.OPAQUE and ev.structure.looped  # a @ W.T misreads a stack of W
    for mode in ("full", "fast"):
        assert check_model(model, params, x, y, backward=linear_backward, mode=mode).passed
        r = check_model(model, params, x, y, mode=mode,
                        backward=lambda p, xx, yy: linear_backward(p, xx, yy, scale=len(xx)))
        assert not r.passed and all(not c.passed for c in r.params)  # the missing 1/N scales every gradient


def test_users_head_that_sums_everything_falls_back():
    params, x, y = mlp_point(2)
    model = nn.Sequential(*mlp().layers, loss=SumOverN())
    ev = ModelEvaluator(model, params, x, y)
    assert ev.structure.looped and ev.kinds[0] is LayerKind.AFFINE
    exact = {k: v * y.size / len(y) for k, v in mlp_backward(params, x, y).items()}  # sum/N = (N*d/N) * mean
    est = estimate_gradients(model, params, x, y)
    for k, g in exact.items():
        assert np.all(np.abs(est[k].value - g) <= est[k].error + 1e-9 * np.abs(g)), k
    assert check_model(model, params, x, y, grads=exact).passed
    exact["b2"] = exact["b2"] / len(y)  # a planted extra 1/N on one bias
    r = check_model(model, params, x, y, grads=exact)
    assert [c.name for c in r.params if not c.passed] == ["b2"]


class MyAffine:
    """Only the AffineLayer protocol's members, under another class name."""

    param_names = property(lambda self: (self.weight, self.bias))

    def __init__(self, weight, bias):
        self.weight, self.bias = weight, bias

    def forward(self, params, a):
        b = params[self.bias]
        return a @ params[self.weight] + b[..., None, :]


class MyTanh:
    """Only the ElementwiseLayer protocol's members."""

    param_names = ()
    elementwise = True
    kinks = ()

    def forward(self, params, z):
        return np.tanh(z)


def test_layers_implementing_only_the_protocol_get_the_fast_paths():
    params, x, y = mlp_point(4)
    model = nn.Sequential(MyAffine("W1", "b1"), MyTanh(), MyAffine("W2", "b2"), MyTanh(), MyAffine("W3", "b3"),
                          loss=nn.MSE())
    assert isinstance(model.layers[0], nn.AffineLayer) and isinstance(model.layers[1], nn.ElementwiseLayer)
    ev = ModelEvaluator(model, params, x, y)
    assert ev.kinds == (LayerKind.AFFINE, LayerKind.ELEMENTWISE) * 2 + (LayerKind.AFFINE,)
    assert check_model(model, params, x, y, backward=mlp_backward).passed
    r = check_model(model, params, x, y, backward=lambda p, xx, yy: mlp_backward(p, xx, yy, bug="transpose"))
    assert [c.name for c in r.params if not c.passed] == ["W2"]


class SoftmaxClaimingElementwise:
    """Declares itself elementwise but normalises each row: the declaration is wrong."""

    param_names = ()
    elementwise = True
    kinks = ()

    def forward(self, params, z):
        e = np.exp(z - z.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)


def test_a_false_elementwise_declaration_is_not_trusted():
    rng = np.random.default_rng(5)
    params = {"W": rng.standard_normal((3, 4))}
    x, y = rng.standard_normal((6, 3)), rng.standard_normal((6, 4))
    model = nn.Sequential(nn.Dense("W"), SoftmaxClaimingElementwise(), loss=nn.MSE("half_sum"))
    ev = ModelEvaluator(model, params, x, y)
    assert ev.kinds == (LayerKind.AFFINE, LayerKind.STACKED)

    def backward(p, xx, yy):
        s = SoftmaxClaimingElementwise().forward(p, xx @ p["W"])
        g = s - yy
        dz = s * (g - np.sum(g * s, axis=-1, keepdims=True))  # softmax's Jacobian, row by row
        return {"W": xx.T @ dz}

    assert check_model(model, params, x, y, backward=backward).passed


class AffineOnlyAtThisBatchSize(MyAffine):
    """Affine on the whole batch, but adds 1 to every output of a smaller batch: not affine in truth."""

    def __init__(self, weight, bias, batch):
        super().__init__(weight, bias)
        self.batch = batch

    def forward(self, params, a):
        return super().forward(params, a) + (np.shape(a)[-2] != self.batch)


class AffineThatTouchesItsWeight(MyAffine):
    """Affine, and writes its weight back into itself (a no-op, but not possible on a read-only view)."""

    def forward(self, params, a):
        W = params[self.weight]
        W[...] = W
        return super().forward(params, a)


def test_an_affine_layer_is_confirmed_on_a_few_rows_and_copies_when_it_must():
    params, x, y = mlp_point(4)
    odd = nn.Sequential(AffineOnlyAtThisBatchSize("W1", "b1", len(x)), MyTanh(), MyAffine("W2", "b2"), MyTanh(),
                        MyAffine("W3", "b3"), loss=nn.MSE())
    assert ModelEvaluator(odd, params, x, y).kinds[0] is LayerKind.OPAQUE
    touchy = nn.Sequential(AffineThatTouchesItsWeight("W1", "b1"), MyTanh(), MyAffine("W2", "b2"), MyTanh(),
                           MyAffine("W3", "b3"), loss=nn.MSE())
    assert ModelEvaluator(touchy, params, x, y).kinds[0] is LayerKind.AFFINE


class AffineOffByALittle(MyAffine):
    """Declares itself affine; output entry ``where`` of the batch is off by ``off``.

    Batches too short to hold row ``where[0]`` (the few rows recognition stacks) are left exact.
    """

    def __init__(self, weight, bias, off, where):
        super().__init__(weight, bias)
        self.off, self.where = off, where

    def forward(self, params, a):
        out = super().forward(params, a)
        if out.shape[-2] > self.where[0]:
            out[..., self.where[0], self.where[1]] += self.off
        return out


def assert_only_the_honest_layer_is_affine(params, x, y, off, where):
    """W1's layer off by ``off`` times its largest output at ``where`` is not AFFINE; the same layer exact is."""
    scale = float(np.abs(x @ params["W1"] + params["b1"]).max())
    kinds = {}
    for label, offset in (("off", off * scale), ("honest", 0.0)):
        model = nn.Sequential(AffineOffByALittle("W1", "b1", offset, where), MyTanh(), MyAffine("W2", "b2"),
                              loss=nn.MSE())
        kinds[label] = ModelEvaluator(model, params, x, y).kinds[0]
    assert kinds["off"] is not LayerKind.AFFINE
    assert kinds["honest"] is LayerKind.AFFINE


@pytest.mark.parametrize("off", [1.0, 1e-3, 1e-6])
@pytest.mark.parametrize("where", [(0, 0), (40, 517), (63, 999)])
def test_a_layer_declared_affine_that_is_not_is_not_trusted(off, where):
    # recognise.is_affine decides along random projections (Freivalds): a single entry off by a
    # millionth of the largest output, in any row or column of a 784x1000 layer, is still seen
    rng = np.random.default_rng(9)
    params = {"W1": 0.1 * rng.standard_normal((784, 1000)), "b1": rng.standard_normal(1000),
              "W2": 0.1 * rng.standard_normal((1000, 10)), "b2": np.zeros(10)}
    x, y = rng.random((64, 784)), rng.standard_normal((64, 10))
    assert_only_the_honest_layer_is_affine(params, x, y, off, where)


@pytest.mark.parametrize("off", [1.0, 1e-6])
@pytest.mark.parametrize("where", [(0, 0), (3, 2)])
def test_a_small_layer_declared_affine_that_is_not_is_not_trusted(off, where):
    # below recognise.AFFINE_DIRECT the product itself is compared, entry by entry
    rng = np.random.default_rng(3)
    params = {"W1": rng.standard_normal((2, 3)), "b1": rng.standard_normal(3), "W2": rng.standard_normal((3, 1)),
              "b2": np.zeros(1)}
    x, y = rng.random((5, 2)), rng.standard_normal((5, 1))
    assert x.shape[0] * params["W1"].size <= recognise.AFFINE_DIRECT
    assert_only_the_honest_layer_is_affine(params, x, y, off, where)


# -- loss heads ----------------------------------------------------------------


def test_integer_labels_equal_one_hot_bit_for_bit():
    rng = np.random.default_rng(6)
    z = rng.standard_normal((3, 9, 4))  # a stack of 3 copies
    labels = rng.integers(0, 4, size=9)
    head = nn.SoftmaxCrossEntropy()
    np.testing.assert_array_equal(head(z, labels), head(z, np.eye(4)[labels]))
    for dtype in (np.int8, np.uint16, np.int64):
        np.testing.assert_array_equal(head(z, labels.astype(dtype)), head(z, np.eye(4)[labels]))


def test_softmax_cross_entropy_matches_the_reference_loss():
    from reference_models.losses import softmax_cross_entropy

    rng = np.random.default_rng(7)
    z, t = rng.standard_normal((5, 3)) * 30, np.eye(3)[rng.integers(0, 3, 5)]
    assert float(nn.SoftmaxCrossEntropy()(z, t)) == float(softmax_cross_entropy(z, t))


@pytest.mark.parametrize("labels, message", [
    (np.array([0, 1, 3]), "must lie in 0 .. 2"),
    (np.array([0, -1, 2]), "must lie in 0 .. 2"),
    (np.array([0, 1]), r"shape \(3,\)"),
])
def test_bad_integer_labels_are_named(labels, message):
    with pytest.raises(ValueError, match=message):
        nn.SoftmaxCrossEntropy()(np.zeros((3, 3)), labels)


def test_check_model_keeps_integer_labels():
    """A head that indexes with the labels gets them as integers (no IndexError), so does backward."""
    seen = []

    class IndexingHead:
        def __call__(self, out, y):
            seen.append(y.dtype)
            shifted = out - out.max(axis=-1, keepdims=True)
            log_p = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
            return -log_p[..., np.arange(len(y)), y].mean(axis=-1)

    rng = np.random.default_rng(8)
    params = {"W": rng.standard_normal((4, 3))}
    x, labels = rng.standard_normal((6, 4)), rng.integers(0, 3, size=6)

    def backward(p, xx, yy):
        seen.append(yy.dtype)
        z = xx @ p["W"]
        prob = np.exp(z - z.max(axis=1, keepdims=True))
        prob /= prob.sum(axis=1, keepdims=True)
        prob[np.arange(len(yy)), yy] -= 1
        return {"W": xx.T @ prob / len(yy)}

    for head in (IndexingHead(), nn.SoftmaxCrossEntropy()):
        model = nn.Sequential(nn.Dense("W"), loss=head)
        assert check_model(model, params, x, labels, backward=backward).passed
    assert seen and all(d.kind == "i" for d in seen), seen


@pytest.mark.parametrize("reduction, factor", [("mean", 1 / 12), ("sum", 1.0), ("half_sum", 0.5),
                                               ("sample_mean", 1 / 4), ("half_sample_mean", 1 / 8)])
def test_mse_reductions(reduction, factor):
    out, y = np.arange(12.0).reshape(4, 3), np.zeros((4, 3))
    assert float(nn.MSE(reduction)(out, y)) == pytest.approx(factor * np.sum(out ** 2), rel=1e-15)


def test_bce_from_logits_equals_bce_of_sigmoid():
    rng = np.random.default_rng(9)
    z, y = rng.standard_normal((6, 1)), rng.integers(0, 2, 6).astype(float)
    a = float(nn.BCE()(z, y))
    b = float(nn.BCE(from_logits=False)(nn.sigmoid(z), y))
    assert a == pytest.approx(b, rel=1e-13)


# -- bad input -------------------------------------------------------------------


@pytest.mark.parametrize("make", [lambda: (mlp(), mlp_point()[0], np.zeros((0, 4)), np.zeros((0, 3))),
                                  lambda: (rm.get("mnist_relu", n_in=6, hidden=3, n_out=2),
                                           {"W1": np.ones((6, 3)), "W2": np.ones((3, 2))},
                                           np.zeros((0, 6)), np.zeros((0, 2)))],
                         ids=["sequential", "mnist_relu"])
def test_empty_batch_is_a_clear_error(make):
    model, params, x, y = make()
    with pytest.raises(ValueError, match=r"x is an empty batch \(x.shape=\(0, \d\)\)"):
        check_model(model, params, x, y, backward=lambda *a: {})
    with pytest.raises(ValueError, match="empty batch"):
        estimate_gradients(model, params, x, y)
    with pytest.raises(ValueError, match="empty batch"):
        model.loss(params, x, y)


def test_sequential_rejects_what_is_not_a_layer_or_a_head():
    with pytest.raises(TypeError, match="layer 1 must have param_names and forward"):
        nn.Sequential(nn.Dense("W"), np.tanh, loss=nn.MSE())
    with pytest.raises(TypeError, match="loss must be a loss head"):
        nn.Sequential(nn.Dense("W"), loss="mse")
    with pytest.raises(ValueError, match=r"\['W'\] belong to several"):
        nn.Sequential(nn.Dense("W"), nn.Dense("W"), loss=nn.MSE())
    with pytest.raises(ValueError, match="bias must be a parameter name"):
        nn.Dense("W", "")


def test_check_model_needs_a_backward_for_a_sequential():
    params, x, y = mlp_point()
    with pytest.raises(TypeError, match="has no backward method: pass backward=fn"):
        check_model(mlp(), params, x, y)
    with pytest.raises(ValueError, match="grads= or backward=, not both"):
        check_model(mlp(), params, x, y, grads=mlp_backward(params, x, y), backward=mlp_backward)
    with pytest.raises(TypeError, match="lacks layers, head"):
        check_model(object(), params, x, y, backward=mlp_backward)


def test_users_backward_that_writes_into_x_is_reported():
    params, x, y = mlp_point()

    def backward(p, xx, yy):
        g = mlp_backward(p, xx, yy)
        xx[0, 0] = 99.0
        return g

    r = check_model(mlp(), params, x, y, backward=backward)
    assert not r.passed and any("backward changed its input x" in p for p in r.problems), r.problems
    np.testing.assert_array_equal(x, mlp_point()[1])


def test_reference_models_are_declared_with_nn():
    for name in rm.names():
        m = rm.get(name)
        assert isinstance(m, nn.LayeredModel)
        assert all(isinstance(layer, nn.Layer) for layer in m.layers)
        assert isinstance(m.loss_head, (nn.MSE, nn.BCE, nn.SoftmaxCrossEntropy)), name


@pytest.mark.parametrize("labels", [False, True], ids=["one_hot", "integer_labels"])
@pytest.mark.parametrize("size", [1e-4, 1.0, 40.0])
def test_softmax_rank_one_equals_the_head_on_moved_samples(labels: bool, size: float) -> None:
    """``rank_one(out, y, row)(deltas)[p, n]`` is the head of sample ``n`` alone at ``out[n] + deltas[p, n] row``.

    ``size`` 40 puts ``|delta row_k|`` above 50 (``RANK_ONE_REACH``) for some
    copies: those go through the head itself.  Tolerance 1e-13 relative: the
    two formulas round differently, by a few ulps of the loss.
    """
    rng = np.random.default_rng(4)
    head = nn.SoftmaxCrossEntropy()
    out = 3.0 * rng.standard_normal((6, 5))
    classes = rng.integers(0, 5, 6)
    y = classes if labels else np.eye(5)[classes]
    row = rng.standard_normal(5)
    deltas = size * rng.standard_normal((4, 6))
    deltas[0] = 0.0
    got = head.rank_one(out, y, row)(deltas)
    want = [[float(head(out[n:n + 1] + deltas[p, n] * row, np.eye(5)[classes[n:n + 1]])) for n in range(6)]
            for p in range(4)]
    assert isinstance(head, nn.RankOneHead)
    np.testing.assert_allclose(got, want, rtol=1e-13, atol=0)


def test_declares_answers_as_isinstance_does():
    from gradcheck.recognise import declares

    class NoneForward:  # a callable member set to None does not implement the protocol
        param_names = ()
        elementwise = True
        kinks = ()
        forward = None

    objects = [layer for name in rm.names() for layer in rm.get(name).layers]
    objects += [MyAffine("W", "b"), MyTanh(), SoftmaxClaimingElementwise(), NoneForward(), object(), nn.MSE()]
    protocols = (nn.Layer, nn.AffineLayer, nn.ElementwiseLayer, nn.DifferentiableLayer)
    answers = [(type(o).__name__, p.__name__, declares(o, p), isinstance(o, p)) for o in objects for p in protocols]
    assert [a for a in answers if a[2] != a[3]] == []
    assert sum(a[3] for a in answers) >= 10 and sum(not a[3] for a in answers) >= 10  # both answers occur


class OffByStackIndex:
    """Elementwise ``tanh``, but adds 1e-6 times the copy's position to a stack (reads the stack as data)."""

    param_names = ()
    elementwise = True
    kinks = ()

    def forward(self, params, z):
        out = np.tanh(z)
        return out + 1e-6 * np.arange(len(z)).reshape((-1,) + (1,) * (z.ndim - 1)) if z.ndim == 3 else out


@pytest.mark.parametrize("where", ["first", "middle"])
def test_a_pass_testing_its_own_stacking_refuses_what_the_stacking_tests_refuse(where):
    """A layer or head that misreads a stack fails the test the first pass makes of itself (None), as it fails
    recognise.stacking; check_model then takes the generic path and is right."""
    from gradcheck.engine import estimate_tiny

    params, x, y = linear_point()
    models = {"linear": nn.Sequential(Linear("W1", "b1"), nn.Tanh(), Linear("W2", "b2"), loss=nn.MSE("sample_mean")),
              "sum-head": nn.Sequential(*mlp().layers, loss=SumOverN()),
              "stack-index": nn.Sequential(nn.Dense("W1", "b1"), OffByStackIndex(), nn.Dense("W2", "b2"),
                                           loss=nn.MSE("sample_mean"))}
    mlp_params, mx, my = mlp_point(2)
    dense = {"W1": params["W1"].T.copy(), "b1": params["b1"], "W2": params["W2"].T.copy(), "b2": params["b2"]}
    if where == "first":  # a layer before every parameter: never given a stack by a pass, asked for one alone
        models = {"stack-index-first": nn.Sequential(OffByStackIndex(), nn.Dense("W1", "b1"), nn.Tanh(),
                                                     nn.Dense("W2", "b2"), loss=nn.MSE("sample_mean"))}
    for label, model in models.items():
        p, xx, yy = (mlp_params, mx, my) if label == "sum-head" else (params if label == "linear" else dense, x, y)
        ev = ModelEvaluator(model, p, xx, yy)
        assert ev.tiny_size(list(p)), label
        assert estimate_tiny(ev, list(p), None, verify=True) is None, label
        assert ev.stacking.looped, label
