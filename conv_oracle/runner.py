"""Run one case against one implementation and return a serialisable record.

The unit of work is (implementation, descriptor, seed, fill) -> :class:`CaseResult`;
it is pure and independent of every other case, so the same function serves the
pytest suite, ``conv-oracle check``, reports and worker processes.
"""
from __future__ import annotations

import json
import traceback
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field

import numpy as np

from . import bounds as B
from .cases import CaseArrays, make_arrays
from .compare import Verdict, compare_output
from .plugin import ConvPlugin, NotSupported
from .spec import ConvSpec

# Statuses of a case. Only PASS and REFUSED are good.
PASS, FAIL, REFUSED = "pass", "fail", "refused"
# Failure kinds beyond the per-output verdict kinds (bound, shape, dtype, nonfinite, ...)
RAISED, MUTATED, ALIASED = "raised", "mutated-input", "aliases-input"
MEMORY, HANG, CRASHED = "memory-limit", "hang", "crashed"
ANSWERED_UNSUPPORTED, REFUSED_SUPPORTED = "answered-unsupported", "refused-supported"


@dataclass
class CaseResult:
    impl: str
    descriptor: str
    seed: int
    fill: str
    status: str                                   # pass | fail | refused
    kind: str = ""                                # failure kind when status == fail
    detail: str = ""
    verdicts: list[Verdict] = field(default_factory=list)
    unsupported: list[str] = field(default_factory=list)   # declared-capability reasons

    @property
    def ok(self) -> bool:
        return self.status in (PASS, REFUSED)

    def replay(self) -> str:
        return f"conv-oracle check {self.impl} --case '{self.descriptor}' --seed {self.seed} --fill {self.fill}"

    def failed_output(self) -> str:
        bad = [v.output for v in self.verdicts if not v.ok]
        return ",".join(bad) or "-"

    def message(self) -> str:
        """Failure report in a fixed order: impl, descriptor, output, error vs bound, replay."""
        lines = [f"implementation: {self.impl}", f"case: {self.descriptor} (seed {self.seed}, fill {self.fill})",
                 f"failed: {self.failed_output()} [{self.kind}]"]
        if self.detail:
            lines.append(self.detail)
        lines += [v.message() for v in self.verdicts if not v.ok]
        lines.append(f"replay: {self.replay()}")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["verdicts"] = [v.to_dict() for v in self.verdicts]
        d["replay"] = self.replay()
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), default=float)


# ---- layout ---------------------------------------------------------------------------------
def _to_layout(layout: str, x, w, gy):
    if layout == "NHWC":  # x, gy: NCHW -> NHWC; w: OIHW -> HWIO
        return x.transpose(0, 2, 3, 1), w.transpose(2, 3, 1, 0), gy.transpose(0, 2, 3, 1)
    return x, w, gy


def _from_layout(layout: str, out: dict) -> dict:
    if layout != "NHWC":
        return out
    back = {"y": (0, 3, 1, 2), "dx": (0, 3, 1, 2), "dw": (3, 2, 0, 1)}
    return {k: (v.transpose(back[k]) if k in back and isinstance(v, np.ndarray) and v.ndim == 4 else v)
            for k, v in out.items()}


# ---- bounds ----------------------------------------------------------------------------------
def terms(spec: ConvSpec) -> dict[str, int]:
    """K, the number of products summed for one element of each output."""
    taps = spec.kh * spec.kw
    ho, wo = spec.out_hw
    return {"y": (spec.c // spec.groups) * taps + int(spec.bias),
            "dx": (spec.f // spec.groups) * taps,
            "dw": spec.n * ho * wo, "db": spec.n * ho * wo}


def bound_context(spec: ConvSpec, arrays64: CaseArrays, scale: dict) -> B.BoundContext:
    outputs = ("y", "dx", "dw", "db") if spec.bias else ("y", "dx", "dw")
    return B.BoundContext(spec, arrays64.x, arrays64.w, arrays64.b, arrays64.gy, scale, terms(spec), outputs)


def total_bounds(plugin: ConvPlugin, ctx: B.BoundContext, fill: str) -> dict[str, np.ndarray]:
    """The implementation's declared bound plus the reference's own error; zero where an
    integer-valued case must be exact for a direct-summation model."""
    if fill == "integer" and plugin.error_model.exact_on_integer_data and B.integer_exact(ctx):
        return {o: np.zeros_like(ctx.scale[o]) for o in ctx.outputs}
    model = plugin.error_model.bounds(ctx)
    ref = B.reference_bound(ctx)
    return {o: model[o] + ref[o] for o in ctx.outputs}


# ---- the run ---------------------------------------------------------------------------------
def _snapshot(arrays) -> list[bytes]:
    return [a.tobytes() for a in arrays]


def call_plugin(plugin: ConvPlugin, spec: ConvSpec, arrays: CaseArrays, backward: bool):
    """Call forward (and backward) on private copies in the plugin's layout.

    Returns (outputs in NCHW/OIHW, inputs given, their snapshots before the call)."""
    x, w, gy = (np.ascontiguousarray(a) for a in _to_layout(plugin.layout, arrays.x, arrays.w, arrays.gy))
    b = None if arrays.b is None else arrays.b.copy()
    given = [a for a in (x, w, b, gy) if a is not None]
    before = _snapshot(given)
    out = {"y": plugin.forward(x, w, b, spec)}
    if backward:
        result = plugin.backward(x, w, b, gy, spec)
        if not (isinstance(result, tuple) and len(result) == 3):
            raise TypeError(f"backward returned {type(result).__name__}, expected a tuple (dx, dw, db)")
        out["dx"], out["dw"], out["db"] = result
    return _from_layout(plugin.layout, out), given, before


@dataclass
class Execution:
    """What calling the plugin produced, before any comparison."""

    out: dict | None = None
    error_kind: str = ""          # "" | not-supported | raised | memory-limit | hang | crashed
    error: str = ""
    mutated: bool = False
    aliased: str = ""             # name of an output that shares memory with an input


def execute(plugin: ConvPlugin, spec: ConvSpec, arrays: CaseArrays, backward: bool) -> Execution:
    """Run the plugin in this process and check mutation and aliasing where memory is visible."""
    try:
        out, given, before = call_plugin(plugin, spec, arrays, backward)
    except NotSupported as exc:
        return Execution(error_kind="not-supported", error=str(exc))
    except MemoryError as exc:
        return Execution(error_kind=MEMORY, error=f"MemoryError: {exc}")
    except Exception as exc:
        return Execution(error_kind=RAISED, error=f"{type(exc).__name__}: {exc}\n"
                         + "".join(traceback.format_exc(limit=-3)))
    aliased = next((name for name, value in out.items() if isinstance(value, np.ndarray)
                    and any(np.shares_memory(value, a) for a in given)), "")
    return Execution(out, mutated=_snapshot(given) != before, aliased=aliased)


def run_case(plugin: ConvPlugin, spec: ConvSpec, seed: int, fill: str = "normal", *,
             backward: bool | None = None, oracle=None, cross_check=None, executor=None) -> CaseResult:
    """Check one case. ``oracle(spec, x, w, b, gy) -> (truth, scale)`` defaults to torch
    float64; ``cross_check`` (a :class:`CrossCheck`) also sends the case to the JAX oracle;
    ``executor(spec, arrays, backward) -> Execution`` runs the plugin (default: in process,
    see :mod:`conv_oracle.isolation` for a worker process with a timeout and a memory limit)."""
    if backward is None:  # backward where declared for this case (direction and dtype limits)
        backward = not plugin.capabilities.backward_reasons(spec)
    run = executor or (lambda spec_, arrays_, backward_: execute(plugin, spec_, arrays_, backward_))
    result = CaseResult(getattr(plugin, "registry_name", plugin.name), spec.descriptor(), seed, fill, PASS)
    arrays = make_arrays(spec, seed, fill)
    reasons = plugin.capabilities.unsupported_reasons(spec)
    result.unsupported = reasons
    if reasons:  # declared unsupported: the plugin must refuse, not answer
        done = run(spec, arrays, False)
        declared = f"declared unsupported ({'; '.join(reasons)}) but"
        if done.error_kind == "not-supported":
            result.status = REFUSED
        elif done.error_kind:
            result.status, result.kind = FAIL, done.error_kind
            result.detail = f"{declared} failed instead of raising NotSupported: {done.error}"
        else:
            result.status, result.kind = FAIL, ANSWERED_UNSUPPORTED
            result.detail = f"{declared} returned an answer instead of raising NotSupported"
        return result

    done = run(spec, arrays, backward)
    if done.error_kind == "not-supported":
        result.status, result.kind = FAIL, REFUSED_SUPPORTED
        result.detail = f"raised NotSupported for a declared-supported case: {done.error}"
        return result
    if done.error_kind:
        result.status, result.kind, result.detail = FAIL, done.error_kind, done.error
        return result
    if done.aliased:   # checked first: writing an output into an input also mutates it
        result.status, result.kind, result.detail = FAIL, ALIASED, f"output {done.aliased} shares memory with an input"
        return result
    if done.mutated:
        result.status, result.kind, result.detail = FAIL, MUTATED, "an input array was modified in place"
        return result
    out = done.out

    arrays64 = arrays.as_float64()
    if oracle is None:
        from .oracles import torch_oracle
        oracle = torch_oracle.reference
    truth, scale = oracle(spec, arrays64.x, arrays64.w, arrays64.b, arrays64.gy)
    ctx = bound_context(spec, arrays64, scale)
    if cross_check is not None:
        cross_check.submit(spec, seed, fill, arrays64, truth, ctx)
    limits = total_bounds(plugin, ctx, fill)
    for o in ctx.outputs if backward else ("y",):
        result.verdicts.append(compare_output(o, out.get(o), truth[o], limits[o], spec.dtype))
    if backward and not spec.bias and out.get("db") is not None:
        result.verdicts.append(Verdict("db", False, "unexpected", "returned a db although the case has no bias"))
    bad = [v for v in result.verdicts if not v.ok]
    if bad:
        result.status, result.kind = FAIL, bad[0].kind
    return result


# ---- oracle cross-check -----------------------------------------------------------------------
def cross_bounds(ctx: B.BoundContext) -> dict[str, np.ndarray]:
    """Two float64 direct sums of the same terms differ by at most 2 gamma_K (1+gamma_K) s + 2 K eta."""
    u, eta = B.UNIT_ROUNDOFF["float64"], B.UNDERFLOW_UNIT["float64"]
    out = {}
    for o in ctx.outputs:
        g = B.gamma(ctx.terms[o], u)
        out[o] = 2 * g * (1 + g) * ctx.scale[o] + 2 * ctx.terms[o] * eta
    return out


def oracle_disagreements(spec: ConvSpec, truth: dict, other: dict, ctx: B.BoundContext) -> list[Verdict]:
    limits = cross_bounds(ctx)
    verdicts = [compare_output(o, other.get(o), truth[o], limits[o], "float64") for o in ctx.outputs]
    return [v for v in verdicts if not v.ok]


@contextmanager
def single_threaded():
    """Small cases run fastest with one thread in torch and BLAS: spinning pools on
    2 cores starve whichever library runs next."""
    import torch
    from threadpoolctl import threadpool_limits

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with threadpool_limits(limits=1):
            yield
    finally:
        torch.set_num_threads(previous)


@dataclass
class Disagreement:
    descriptor: str
    seed: int
    fill: str
    verdicts: list[Verdict]

    def message(self) -> str:
        lines = [f"oracle disagreement (torch vs JAX): {self.descriptor} (seed {self.seed}, fill {self.fill})"]
        return "\n".join(lines + [v.message() for v in self.verdicts])

    def to_dict(self) -> dict:
        return {"descriptor": self.descriptor, "seed": self.seed, "fill": self.fill,
                "verdicts": [v.to_dict() for v in self.verdicts]}


class CrossCheck:
    """Sends each case's float64 inputs to the JAX worker without waiting, and later
    compares every answer with the torch truth (torch-vs-JAX disagreements)."""

    def __init__(self, worker):
        self.worker = worker
        self.pending = []
        self.checked = 0
        self.skipped_nonfinite = 0

    def submit(self, spec, seed, fill, arrays64: CaseArrays, truth, ctx) -> None:
        if fill == "nonfinite":
            # The canonical JAX problem multiplies padding zeros by the inputs, and 0*Inf is
            # NaN: its NaN/Inf pattern is not the direct convolution's, so it cannot judge these.
            self.skipped_nonfinite += 1
            return
        future = self.worker.submit(spec, arrays64.x, arrays64.w, arrays64.b, arrays64.gy)
        self.pending.append((spec, seed, fill, truth, ctx, future))

    def drain(self) -> list[Disagreement]:
        found = []
        for spec, seed, fill, truth, ctx, future in self.pending:
            bad = oracle_disagreements(spec, truth, future.result(), ctx)
            self.checked += 1
            if bad:
                found.append(Disagreement(spec.descriptor(), seed, fill, bad))
        self.pending.clear()
        return found
