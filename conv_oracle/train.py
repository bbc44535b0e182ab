"""The training check: train a small CNN with a plugin's conv2d and with torch's, and compare.

A conv2d can pass every per-case check and still train badly: an error that is small per
call compounds over many steps, and a gradient scaled by 1/N shows first as slow learning.
So the same network is trained three times, from the same initial weights on the same batches,
identical except for the two conv layers:

* ``plugin``: the plugin's ``forward``/``backward`` through its contract (declared capabilities,
  its layout, outputs checked exactly for shape and dtype), float32;
* ``torch``:  ``torch.nn.functional.conv2d`` and autograd, float32;
* ``exact``:  torch again in float64, with everything else in float64 too: the trajectory
  without rounding error (to float32's eyes).

Everything outside the conv layers (the activation, 2x2 average pooling, the dense layer,
softmax cross-entropy, SGD) is the same plain NumPy code in every run.

Divergence at step t: ``||p_a - p_b|| / ||p_b||`` for each layer's parameters after the update,
and ``|L_a - L_b| / |L_b|`` for the batch loss. Baseline: ``torch`` and ``exact`` differ only by
float32 rounding, and so do ``exact`` and torch summing in other correct orders (batch, input and
output channels permuted, three runs); the width ``W = max_t d(run, exact)(t)``, largest over these
float32 torch runs, is how far a correct float32 training drifts over the run. Agreement, for
every metric:

    max_t d(plugin, torch)(t) <= multiple * W,    multiple = 1 + max(1, rho),

rho being the plugin's declared error bound over the direct-sum bound (what torch's float32 conv
is held to), summed over each output of the training layers, on the first step's real inputs, the
largest over layers and outputs. The multiple and the band are derived (and decided) in
:mod:`conv_oracle.bounds` (:func:`~conv_oracle.bounds.training_multiple`,
:func:`~conv_oracle.bounds.outside_training_band`), like every "close enough" of the harness;
a direct-sum plugin gets 2. Whole-run maxima, not step-by-step ratios: a fresh rounding draw makes a single
step's ratio noisy (the batch loss at step 0 depends on one forward pass only), a maximum over
hundreds of steps is not.

The activation is a softplus shifted through 0 by default. ReLU's derivative jumps at 0: a
pre-activation within rounding distance of 0 takes the other branch in one run, and the two
trajectories then separate by a jump that no rounding analysis bounds (``--activation relu``
shows it: one pixel flipping is enough).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from . import bounds as B
from .cases import CaseArrays
from .plugin import ConvPlugin
from .runner import ALIASED, MUTATED, REFUSED_SUPPORTED, execute
from .spec import ConvSpec

CLASSES = ("vertical line", "horizontal line", "cross", "diamond")
PARAMS = ("conv1.w", "conv1.b", "conv2.w", "conv2.b", "dense.w", "dense.b")
DEFAULT_STEPS, DEFAULT_SEED = 300, 0
EVAL_EVERY = 25


@dataclass(frozen=True)
class Variant:
    """One dataset and network size: C x S x S images, conv1 C->F1 (3x3, same), activation, 2x2
    average pool, conv2 F1->F2 (3x3, stride 2, pad 1), activation, dense -> 4 classes."""

    name: str
    channels: int
    size: int
    filters: tuple[int, int]
    batch: int = 16
    lr: float = 0.1
    train_images: int = 512
    test_images: int = 256

    def specs(self, n: int, dtype: str) -> tuple[ConvSpec, ConvSpec]:
        f1, f2 = self.filters
        conv1 = ConvSpec.make(n, self.channels, self.size, self.size, f1, 3, padding=1, dtype=dtype)
        half = self.size // 2
        conv2 = ConvSpec.make(n, f1, half, half, f2, 3, stride=2, padding=1, dtype=dtype)
        return conv1, conv2

    @property
    def features(self) -> int:
        ho, wo = self.specs(1, "float32")[1].out_hw
        return self.filters[1] * ho * wo


# The tutorial's one-channel images (scaled up so two conv layers fit), and a larger colour variant.
VARIANTS = {v.name: v for v in (Variant("shapes-8x8x1", 1, 8, (8, 16), lr=0.3),
                                Variant("shapes-16x16x3", 3, 16, (8, 16)))}


# ---- the dataset --------------------------------------------------------------------------------
def _blueprint(label: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """A (size, size) 0/1 image of the class, centred within one pixel of the middle."""
    img = np.zeros((size, size))
    ci, cj = size // 2 + rng.integers(-1, 2, size=2)
    lo, hi = 1, size - 1
    if label in (0, 2):
        img[lo:hi, cj] = 1
    if label in (1, 2):
        img[ci, lo:hi] = 1
    if label == 3:
        r = size // 2 - 2
        i, j = np.indices((size, size))
        img[np.abs(i - ci) + np.abs(j - cj) == r] = 1
    return img


def shapes_dataset(variant: Variant, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Noisy shapes (seed 002's dataset, generated): x (n, C, S, S) float32, labels (n,) int.
    Each channel is the blueprint times an intensity in [0.5, 1] plus uniform noise in +-0.25."""
    labels = rng.integers(0, len(CLASSES), size=n)
    c, s = variant.channels, variant.size
    x = np.empty((n, c, s, s))
    for k, label in enumerate(labels):
        img = _blueprint(int(label), s, rng)
        x[k] = img[None] * rng.uniform(0.5, 1.0, size=(c, 1, 1)) + rng.uniform(-0.25, 0.25, size=(c, s, s))
    return x.astype(np.float32), labels


def initial_parameters(variant: Variant, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """He-normal conv and dense weights, zero biases; float32-rounded values held in float64."""
    f1, f2 = variant.filters
    shapes = {"conv1.w": (f1, variant.channels, 3, 3), "conv2.w": (f2, f1, 3, 3), "dense.w": (variant.features, 4)}
    params = {}
    for name in PARAMS:
        if name.endswith(".b"):
            params[name] = np.zeros(shapes[name[:-2] + ".w"][0 if name != "dense.b" else 1])
        else:
            shape = shapes[name]
            fan_in = int(np.prod(shape[1:])) if name != "dense.w" else shape[0]
            params[name] = rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)
    return {k: v.astype(np.float32).astype(np.float64) for k, v in params.items()}


# ---- conv backends --------------------------------------------------------------------------------
class TrainingFault(Exception):
    """What no training can use: an output of the wrong type, shape or dtype, a raise, a crash or
    hang, a mutated or aliased input, a refusal of a declared-supported layer, a bad error model."""

    def __init__(self, kind: str, detail: str):
        super().__init__(f"{kind}: {detail}")
        self.kind, self.detail = kind, detail


def _exact(output: str, got, shape, dtype: str, spec: ConvSpec):
    if not isinstance(got, np.ndarray):
        raise TrainingFault("type", f"{output} of {spec.descriptor()}: {type(got).__name__}, expected numpy.ndarray")
    if got.shape != tuple(shape):
        raise TrainingFault("shape", f"{output} of {spec.descriptor()}: shape {got.shape}, expected {tuple(shape)}")
    if got.dtype != np.dtype(dtype):
        raise TrainingFault("dtype", f"{output} of {spec.descriptor()}: dtype {got.dtype}, expected {dtype}")
    return got


class PluginConv:
    """A plugin called as the harness calls it, one conv call at a time: through an executor
    (``runner.execute`` in this process, or a ``conv_oracle.isolation.IsolatedExecutor`` worker
    with its timeout and memory limit), in its declared layout, inputs checked unmutated and
    outputs checked for exact shape and dtype."""

    def __init__(self, plugin: ConvPlugin, executor=None):
        self.executor = executor or (lambda spec, arrays, backward: execute(plugin, spec, arrays, backward))

    def _call(self, spec, x, w, b, gy, backward):
        done = self.executor(spec, CaseArrays(x, w, b, gy), backward)
        if done.error_kind == "not-supported":
            raise TrainingFault(REFUSED_SUPPORTED, f"{spec.descriptor()}: NotSupported on a declared-supported "
                                                   f"layer: {done.error}")
        if done.error_kind:
            raise TrainingFault(done.error_kind, f"{spec.descriptor()}: {done.error.strip()}")
        if done.aliased:
            raise TrainingFault(ALIASED, f"{spec.descriptor()}: output {done.aliased} shares memory with an input")
        if done.mutated:
            raise TrainingFault(MUTATED, f"{spec.descriptor()}: an input array was modified in place")
        return done.out

    def forward(self, x, w, b, spec):
        # the executor converts an upstream gradient too; a forward-only call never reads it
        out = self._call(spec, x, w, b, np.zeros(spec.y_shape, x.dtype), backward=False)
        return _exact("y", out["y"], spec.y_shape, spec.dtype, spec)

    def backward(self, x, w, b, gy, spec):
        out = self._call(spec, x, w, b, gy, backward=True)
        return (_exact("dx", out["dx"], spec.x_shape, spec.dtype, spec),
                _exact("dw", out["dw"], spec.w_shape, spec.dtype, spec),
                _exact("db", out["db"], spec.b_shape, spec.dtype, spec))


class TorchConv:
    """torch's ``conv2d`` and its gradient kernels (``convolution_backward``, what autograd calls) in
    the arrays' dtype: the oracle's own code (``torch_oracle._fwd_bwd``)."""

    def forward(self, x, w, b, spec):
        from .oracles.torch_oracle import _fwd_bwd

        return _fwd_bwd(spec, x, w, b, np.zeros(spec.y_shape, x.dtype), spec.groups)["y"]

    def backward(self, x, w, b, gy, spec):
        from .oracles.torch_oracle import _fwd_bwd

        out = _fwd_bwd(spec, x, w, b, gy, spec.groups)
        return out["dx"], out["dw"], out["db"]


class ReorderedTorchConv(TorchConv):
    """torch again, summing in another correct order: each call permutes the batch (the order of
    the dw and db sums), the input channels (y's sum) and the output channels (dx's sum), and
    undoes the permutations on the results. Same mathematics, different rounding."""

    def __init__(self, seed):
        self.rng = np.random.default_rng(seed)

    def _orders(self, spec):
        return self.rng.permutation(spec.n), self.rng.permutation(spec.c), self.rng.permutation(spec.f)

    def forward(self, x, w, b, spec):
        n, c, f = self._orders(spec)
        y = super().forward(x[n][:, c], w[f][:, c], b[f], spec)
        return y[np.argsort(n)][:, np.argsort(f)]

    def backward(self, x, w, b, gy, spec):
        n, c, f = self._orders(spec)
        dx, dw, db = super().backward(x[n][:, c], w[f][:, c], b[f], gy[n][:, f], spec)   # copies: contiguous
        return dx[np.argsort(n)][:, np.argsort(c)], dw[np.argsort(f)][:, np.argsort(c)], db[np.argsort(f)]


# ---- the network ----------------------------------------------------------------------------------
def _avgpool2(a):                       # (N, F, H, W) -> (N, F, H/2, W/2)
    n, f, h, w = a.shape
    return a.reshape(n, f, h // 2, 2, w // 2, 2).mean(axis=(3, 5))


def _avgpool2_backward(g):              # (N, F, H/2, W/2) -> (N, F, H, W)
    return np.repeat(np.repeat(g, 2, axis=2), 2, axis=3) * g.dtype.type(0.25)


def _softmax_cross_entropy(z, labels):
    """Mean cross-entropy over the batch and its gradient dL/dz; z (N, 4)."""
    shifted = z - z.max(axis=1, keepdims=True)
    logp = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    n = len(labels)
    loss = -logp[np.arange(n), labels].mean()
    dz = np.exp(logp)
    dz[np.arange(n), labels] -= 1
    return float(loss), dz / z.dtype.type(n)


def _softplus(y):                       # log(1 + e^y) - log 2: ReLU without the kink, 0 at 0 as ReLU
    return np.maximum(y, 0) + np.log1p(np.exp(-np.abs(y))) - y.dtype.type(np.log(2))   # stable form


def _sigmoid(y):
    return np.reciprocal(1 + np.exp(-y))


# activation: (function, derivative). Softplus by default: the band argument needs a trajectory
# that depends smoothly on rounding; ReLU's derivative jumps at 0 (see the module docstring).
ACTIVATIONS = {"softplus": (_softplus, _sigmoid),
               "relu": (lambda y: np.maximum(y, 0), lambda y: (y > 0).astype(y.dtype))}


def predict(params, x, conv, variant: Variant, dtype: str, activation: str):
    """Logits (N, 4), in batches of the training batch size: the layers the capabilities were checked on."""
    act = ACTIVATIONS[activation][0]
    conv1, conv2 = variant.specs(variant.batch, dtype)
    out = []
    for chunk in np.split(x, len(x) // variant.batch):
        a1 = act(conv.forward(chunk, params["conv1.w"], params["conv1.b"], conv1))
        a2 = act(conv.forward(_avgpool2(a1), params["conv2.w"], params["conv2.b"], conv2))
        out.append(a2.reshape(len(chunk), -1) @ params["dense.w"] + params["dense.b"])
    return np.concatenate(out)


def loss_and_gradients(params, x, labels, conv, variant: Variant, dtype: str, activation: str):
    """(batch loss, batch accuracy, {param: gradient}, {layer: (x, gy)}) of one step."""
    act, act_grad = ACTIVATIONS[activation]
    conv1, conv2 = variant.specs(len(x), dtype)
    y1 = conv.forward(x, params["conv1.w"], params["conv1.b"], conv1)          # (N, F1, S, S)
    p1 = _avgpool2(act(y1))                                          # (N, F1, S/2, S/2)
    y2 = conv.forward(p1, params["conv2.w"], params["conv2.b"], conv2)         # (N, F2, S/4, S/4)
    a2 = act(y2).reshape(len(x), -1)                                 # (N, D)
    z = a2 @ params["dense.w"] + params["dense.b"]                             # (N, 4)
    loss, dz = _softmax_cross_entropy(z, labels)
    grads = {"dense.w": a2.T @ dz, "dense.b": dz.sum(axis=0)}
    gy2 = (dz @ params["dense.w"].T).reshape(y2.shape) * act_grad(y2)
    dp1, grads["conv2.w"], grads["conv2.b"] = conv.backward(p1, params["conv2.w"], params["conv2.b"], gy2, conv2)
    gy1 = _avgpool2_backward(dp1) * act_grad(y1)
    _, grads["conv1.w"], grads["conv1.b"] = conv.backward(x, params["conv1.w"], params["conv1.b"], gy1, conv1)
    accuracy = float((z.argmax(axis=1) == labels).mean())
    return loss, accuracy, grads, {"conv1": (x, gy1), "conv2": (p1, gy2)}


@dataclass
class Trajectory:
    """One run: per step the batch loss and accuracy before the update and the parameters after it."""

    run: str
    dtype: str
    loss: list[float] = field(default_factory=list)
    accuracy: list[float] = field(default_factory=list)
    params: list[dict[str, np.ndarray]] = field(default_factory=list)   # after each step, float64 copies
    test_accuracy: list[tuple[int, float]] = field(default_factory=list)
    first_step: dict = field(default_factory=dict)                      # conv inputs of step 0 (for the bounds)
    seconds: float = 0.0


@dataclass(frozen=True)
class Schedule:
    """Everything the three runs share: data, initial weights, batch order, activation."""

    variant: Variant
    seed: int
    steps: int
    activation: str
    x: np.ndarray
    labels: np.ndarray
    x_test: np.ndarray
    labels_test: np.ndarray
    init: dict
    batches: np.ndarray          # (steps, batch) indices into x

    @classmethod
    def make(cls, variant: Variant, steps: int, seed: int, activation: str = "softplus") -> "Schedule":
        rng = np.random.default_rng([seed, sum(map(ord, variant.name))])
        x, labels = shapes_dataset(variant, variant.train_images, rng)
        x_test, labels_test = shapes_dataset(variant, variant.test_images, rng)
        init = initial_parameters(variant, rng)
        per_epoch = variant.train_images // variant.batch
        order = np.concatenate([rng.permutation(variant.train_images)[:per_epoch * variant.batch]
                                for _ in range(-(-steps // per_epoch))])
        return cls(variant, seed, steps, activation, x, labels, x_test, labels_test, init,
                   order[:steps * variant.batch].reshape(steps, variant.batch))


def train(schedule: Schedule, conv, dtype: str, run: str) -> Trajectory:
    """Plain SGD for ``schedule.steps`` steps with conv layers from ``conv``."""
    v, dt = schedule.variant, np.dtype(dtype)
    params = {k: p.astype(dt) for k, p in schedule.init.items()}
    lr = dt.type(v.lr)
    x_all, x_test = schedule.x.astype(dt), schedule.x_test.astype(dt)
    traj = Trajectory(run, dtype)
    start = time.perf_counter()
    for step, batch in enumerate(schedule.batches):
        loss, acc, grads, conv_io = loss_and_gradients(params, x_all[batch], schedule.labels[batch], conv, v, dtype,
                                                       schedule.activation)
        if step == 0:
            traj.first_step = conv_io
        for k in PARAMS:
            params[k] = params[k] - lr * grads[k]
        traj.loss.append(loss)
        traj.accuracy.append(acc)
        traj.params.append({k: p.astype(np.float64) for k, p in params.items()})
        if (step + 1) % EVAL_EVERY == 0 or step + 1 == schedule.steps:
            z = predict(params, x_test, conv, v, dtype, schedule.activation)
            traj.test_accuracy.append((step + 1, float((z.argmax(axis=1) == schedule.labels_test).mean())))
    traj.seconds = time.perf_counter() - start
    return traj


# ---- divergence and the band ----------------------------------------------------------------------
LAYERS = ("conv1", "conv2", "dense")
METRICS = LAYERS + ("loss",)


def _layer(params: dict, layer: str) -> np.ndarray:
    return np.concatenate([params[f"{layer}.w"].ravel(), params[f"{layer}.b"]])


def divergence(a: Trajectory, b: Trajectory) -> dict[str, np.ndarray]:
    """Per step: ||p_a - p_b|| / ||p_b|| for each layer's weights and bias together (a 4-element
    bias alone is too few numbers for a stable norm), and |L_a - L_b| / |L_b| for the batch loss."""
    tiny = np.finfo(float).tiny
    out = {k: np.array([np.linalg.norm(_layer(pa, k) - _layer(pb, k)) / max(np.linalg.norm(_layer(pb, k)), tiny)
                        for pa, pb in zip(a.params, b.params)]) for k in LAYERS}
    la, lb = np.array(a.loss), np.array(b.loss)
    out["loss"] = np.abs(la - lb) / np.maximum(np.abs(lb), tiny)
    return out


def bound_ratio(plugin: ConvPlugin, schedule: Schedule, exact: Trajectory) -> dict:
    """rho: the plugin's declared bound over the direct-sum bound, per training layer and output,
    as ratios of the summed bounds (the divergence is normwise), on the first step's real inputs."""
    from .oracles.torch_oracle import magnitudes

    specs = dict(zip(("conv1", "conv2"), schedule.variant.specs(schedule.variant.batch, "float32")))
    out = {}
    for layer, spec in specs.items():
        x, gy = (a.astype(np.float32).astype(np.float64) for a in exact.first_step[layer])
        arrays = CaseArrays(x, schedule.init[f"{layer}.w"], schedule.init[f"{layer}.b"], gy)
        ctx = B.bound_context(spec, arrays, magnitudes(spec, arrays.x, arrays.w, arrays.b, arrays.gy))
        try:
            declared = B.checked_model_bounds(plugin.error_model, ctx)
        except B.ModelBoundError as exc:
            raise TrainingFault("model", f"{spec.descriptor()}: {exc}") from exc
        direct = B.DirectSum().bounds(ctx)
        out[layer] = {o: float(np.sum(declared[o]) / np.sum(direct[o])) for o in ctx.outputs}
    return out


REORDERED_RUNS = 3


@dataclass
class Baseline:
    """The torch runs of one variant, seed and activation, shared by every plugin checked:
    torch float32, torch float32 in ``REORDERED_RUNS`` other summation orders, and the exact run."""

    schedule: Schedule
    torch: Trajectory
    exact: Trajectory
    reordered: list[Trajectory]
    divergence: dict[str, np.ndarray]              # d(torch, exact) per step
    reordered_divergence: list[dict[str, np.ndarray]]   # d(reordered_i, exact) per step

    @classmethod
    def run(cls, variant: Variant, steps: int, seed: int, activation: str = "softplus") -> "Baseline":
        schedule = Schedule.make(variant, steps, seed, activation)
        torch32 = train(schedule, TorchConv(), "float32", "torch")
        exact = train(schedule, TorchConv(), "float64", "exact")
        reordered = [train(schedule, ReorderedTorchConv([seed, i]), "float32", f"torch, order {i + 1}")
                     for i in range(REORDERED_RUNS)]
        return cls(schedule, torch32, exact, reordered, divergence(torch32, exact),
                   [divergence(r, exact) for r in reordered])

    @property
    def widths(self) -> dict[str, float]:
        """The baseline width W of each metric: the largest divergence from the exact run of any
        correct float32 torch run (every summation order), over the whole run."""
        runs = [self.divergence, *self.reordered_divergence]
        return {k: float(max(d[k].max() for d in runs)) for k in METRICS}

    def self_check(self) -> list[dict[str, float]]:
        """max_t d(reordered_i, torch) / W per metric: correct orders measured like a plugin."""
        w = self.widths
        return [{k: float(d.max()) / w[k] for k, d in divergence(r, self.torch).items()} for r in self.reordered]


@dataclass
class Check:
    """A plugin's training run against one baseline, and its verdict."""

    impl: str
    variant: str
    status: str                        # agree | disagree | unsupported | fault
    multiple: float = float("nan")
    rho: dict = field(default_factory=dict)
    trajectory: Trajectory | None = None
    divergence: dict = field(default_factory=dict)      # per metric, per step: d(plugin, torch)
    ratio: dict = field(default_factory=dict)           # per metric: max_t d(plugin, torch) / W
    first_outside: tuple[str, int] | None = None        # earliest step outside the band, and its metric
    seconds: float = 0.0
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "agree"

    @property
    def worst(self) -> str:
        """The metric furthest from torch relative to its baseline (NaN first)."""
        return max(self.ratio, key=lambda k: np.inf if np.isnan(self.ratio[k]) else self.ratio[k], default="")


def _unsupported(plugin: ConvPlugin, variant: Variant) -> list[str]:
    reasons = []
    for spec in variant.specs(variant.batch, "float32"):
        caps = plugin.capabilities
        reasons += [f"{spec.descriptor()}: {r}" for r in caps.unsupported_reasons(spec) or caps.backward_reasons(spec)]
    return reasons


def check(plugin: ConvPlugin, baseline: Baseline, impl: str | None = None, executor=None) -> Check:
    """Train with ``plugin``'s conv layers on the baseline's schedule and judge the divergence:
    agree iff for every metric max_t d(plugin, torch)(t) <= multiple * W(metric). ``executor``
    runs each conv call (default: in this process, see :class:`PluginConv`)."""
    name = impl or getattr(plugin, "registry_name", plugin.name)
    variant = baseline.schedule.variant.name
    reasons = _unsupported(plugin, baseline.schedule.variant)
    if reasons:
        return Check(name, variant, "unsupported", detail="; ".join(reasons))
    try:
        rho = bound_ratio(plugin, baseline.schedule, baseline.exact)
    except TrainingFault as exc:        # a NaN, infinite or wrongly shaped bound is a failure, never a pass
        return Check(name, variant, "fault", detail=str(exc))
    result = Check(name, variant, "agree", B.training_multiple(rho), rho)
    start = time.perf_counter()
    try:
        result.trajectory = train(baseline.schedule, PluginConv(plugin, executor), "float32", "plugin")
    except TrainingFault as exc:
        result.status, result.detail = "fault", str(exc)
    result.seconds = time.perf_counter() - start
    if result.trajectory is None:
        return result
    result.divergence = divergence(result.trajectory, baseline.torch)
    widths = baseline.widths
    for metric, d in result.divergence.items():
        peak = float(d.max()) if not np.isnan(d).any() else float("nan")
        result.ratio[metric] = peak / widths[metric] if widths[metric] > 0 else (0.0 if peak == 0 else float("inf"))
        outside = B.outside_training_band(d, widths[metric], result.multiple)
        if outside.size and (result.first_outside is None or outside[0] < result.first_outside[1]):
            result.first_outside = (metric, int(outside[0]))
    if result.first_outside is not None:
        result.status = "disagree"
    return result
