"""The precision verdict: which standard accumulation model an implementation meets.

Users often do not know what their library does in bfloat16, float16 or a "fast" float32
mode. ``conv-oracle precision IMPL`` runs it on long reductions (large C*KH*KW for y, large
F*KH*KW for dx, dw over a large batch N*Ho*Wo) and checks every output against each standard
model, strictest first (each a :class:`~conv_oracle.bounds.DirectSum` for the case's dtype):

1. ``float32``: exact float32 direct sum (float64 for float64 data), output rounded once;
2. ``f32-accumulation``: float32 accumulation (inputs in float32): a float64 conv computed in
   float32; for float32 and narrower data it is step 1, and is left out of their ladders;
3. ``tf32-inputs``: float32 accumulation of inputs rounded to TF32;
4. ``bf16-inputs``: float32 accumulation of inputs rounded to bfloat16;
5. ``f16-accumulation``: float16 accumulation (inputs in float16);
6. ``bf16-accumulation``: bfloat16 accumulation (inputs in bfloat16);
7. ``none``.

Each comes also as ``<model>/bias-after``, right after it: the same with y rounded to storage
before the bias is added (and rounded again), as a library whose conv has no bias computes it.

A model is *met* when every case it can bound is within its bound; a case where it has no
finite bound (K u >= 1) does not decide it, and a model no case could decide is not met. The
verdict is the first model met, per output and overall; the deciding cases are the worst case
under the verdict's model and, for the next stricter model, the case that breaks it.

The effective accumulation precision is fitted, not assumed: on the longest positive-fill
reductions of each output, sampled output elements are re-summed sequentially (the order of a plain loop or a
register-blocked kernel, and the worst of the usual orders) in float64 rounded to p bits after
every product and addition, then rounded to the storage dtype, for p = 4..32. The fitted p is
where that emulation's RMS error (relative to sum|x||w|) meets the observed one. Below the
floor set by the output rounding more bits change nothing: the fit then reads ">= p".
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field

import numpy as np

from . import arguments
from . import bounds as B
from .cases import make_arrays
from .compare import compare_output
from .plugin import ConvPlugin
from .runner import execute, plugin_name
from .spec import DTYPE_TAGS, DTYPES, ConvSpec

SCHEMA = "conv-oracle/precision/1"
OUTPUTS = ("y", "dx", "dw", "db")
FILLS = ("positive", "normal")     # positive: no cancellation, every partial-sum rounding adds up
BITS = np.arange(4, 33)             # accumulator precisions the fit emulates
FIT_ELEMENTS = 32                   # output elements re-summed per fitted output
MAX_ELEMENTS = 400_000              # elements of x + w + y of one case
MIN_CASES = 4                       # answered cases below which the verdict is "insufficient"


@dataclass(frozen=True)
class StandardModel:
    key: str
    label: str
    accumulate: str | None          # None: DirectSum's default (float32 for bf16/f16)
    inputs: str | None
    bias: str = "before"            # "after": y rounded to storage, then b added (lax.conv has no bias)
    flush_subnormals: bool = False  # subnormal inputs and results flushed to zero (oneDNN's bf16 kernels)

    def model(self) -> B.DirectSum:
        return B.DirectSum(accumulate=self.accumulate, inputs=self.inputs, bias=self.bias,
                           flush_subnormals=self.flush_subnormals)

    def label_for(self, dtype: str) -> str:
        return ("exact float64 direct sum" + self.label[len("exact float32 direct sum"):]
                if self.key.startswith("float32") and dtype == "float64" else self.label)


_BASE_MODELS = (
    ("float32", "exact float32 direct sum", None, None),
    ("f32-accumulation", "float32 accumulation (inputs in float32)", "float32", "float32"),
    ("tf32-inputs", "float32 accumulation of TF32-rounded inputs", "float32", "tfloat32"),
    ("bf16-inputs", "float32 accumulation of bfloat16-rounded inputs", "float32", "bfloat16"),
    ("f16-accumulation", "float16 accumulation", "float16", "float16"),
    ("bf16-accumulation", "bfloat16 accumulation", "bfloat16", "bfloat16"),
)


def standard_models(*, flushed: bool = False, dtype: str | None = None) -> tuple[StandardModel, ...]:
    """The ladder of standard models, strictest first: each base model, then the same with the
    bias added after the output rounding (a second rounding of y only: a library whose conv has
    no bias adds it afterwards); with ``flushed``, each of those is followed by itself with
    subnormals flushed to zero. ``precision`` judges against the ladder without flushing (its
    long reductions have no subnormals); the frameworks triage (:mod:`conv_oracle.triage`)
    against the ladder with it (fuzzed cases have subnormal inputs). With ``dtype``, the ladder
    of that storage dtype: without the steps that are the ``float32`` step there (see
    :func:`_is_the_direct_sum`); without it, every step of any dtype."""
    biases = (("", "", "before"), ("/bias-after", ", bias added after the output rounding", "after"))
    flushes = (("", "", False), ("/flushed", ", subnormals flushed to zero", True)) if flushed else (("", "", False),)
    return tuple(StandardModel(key + bias_key + flush_key, label + bias_label + flush_label, acc, inputs, bias, flush)
                 for key, label, acc, inputs in _BASE_MODELS
                 if dtype is None or key == "float32" or not _is_the_direct_sum(acc, inputs, dtype)
                 for bias_key, bias_label, bias in biases
                 for flush_key, flush_label, flush in flushes)


def _is_the_direct_sum(accumulate: str | None, inputs: str | None, dtype: str) -> bool:
    """Whether a step that accumulates in the format it rounds the inputs to is, for ``dtype``
    data, the default direct sum: the rounding leaves ``dtype`` inputs as they are and that
    format is the default accumulation (``f32-accumulation`` for float32, bfloat16, float16)."""
    return (accumulate is not None and accumulate == inputs and B.represents(inputs, dtype)
            and B.DirectSum(accumulate).accumulation(dtype) == B.DirectSum().accumulation(dtype))


#: The precision verdict's ladder (see :func:`standard_models`).
STANDARD_MODELS = standard_models()
NONE = "none"


# ---- the cases: long reductions ---------------------------------------------------------------
def battery(dtype: str, seed: int, per_family: int = 2) -> list[tuple[ConvSpec, int, str]]:
    """Long-reduction cases: ``per_family`` specs of each family, each with every fill.

    Families (K of the output they stress): long y (C*KH*KW up to ~25k), long dx (F*KH*KW up to
    ~9k), long dw (N*Ho*Wo up to ~38k) and medium (K ~ 50-250, where bfloat16 and float16
    accumulation still have a finite bound)."""
    rng = np.random.default_rng(seed)
    out = []

    def add(spec: ConvSpec):
        if spec.elements <= MAX_ELEMENTS:
            for fill in FILLS:
                out.append((spec, int(rng.integers(0, 2**31)), fill))

    for _ in range(per_family):
        k = int(rng.choice([1, 3, 5]))
        side = k + int(rng.integers(0, 4))
        add(ConvSpec.make(1, int(2 ** rng.uniform(6, 10)), side, side, int(rng.integers(2, 5)), k,
                          stride=int(rng.integers(1, 3)) if side > k else 1, padding=k // 2, dtype=dtype))
        add(ConvSpec.make(1, 2, 6, 6, int(2 ** rng.uniform(6, 10)), 3, padding=1, dtype=dtype))
        side = int(rng.integers(12, 29))
        add(ConvSpec.make(int(rng.integers(8, 49)), 2, side, side, 2, 3, padding=1, dtype=dtype))
        side = int(rng.integers(6, 11))
        add(ConvSpec.make(int(rng.integers(1, 3)), int(rng.integers(4, 17)), side, side, int(rng.integers(2, 9)),
                          3, padding=1, dtype=dtype))
    return out


# ---- one case against every model --------------------------------------------------------------
@dataclass
class CaseMeasure:
    descriptor: str
    seed: int
    fill: str
    terms: dict[str, int]
    ratios: dict[str, dict[str, float | None]] = field(default_factory=dict)   # model -> output -> max err/bound
    error: str = ""                                                            # exact failure (dtype, NaN, ...)
    fault: str = ""                                                            # hang, crash, exception: no answer
    rel_rms: dict[str, float] = field(default_factory=dict)                    # output -> RMS(err / scale)

    def replay(self, impl: str) -> str:
        return f"conv-oracle check {impl} --case '{self.descriptor}' --seed {self.seed} --fill {self.fill}"


def _measure(plugin: ConvPlugin, spec: ConvSpec, seed: int, fill: str, executor=None):
    """(CaseMeasure, outputs, arrays, truth, scale) of one case; outputs None on a failure."""
    from .oracles import torch_oracle

    arrays = make_arrays(spec, seed, fill)
    backward = not plugin.capabilities.backward_reasons(spec)
    run = executor or (lambda s, a, bw: execute(plugin, s, a, bw))
    done = run(spec, arrays, backward)
    measure = CaseMeasure(spec.descriptor(), seed, fill, B.terms(spec))
    if done.error_kind:   # no answer at all: says nothing about precision (the record keeps it)
        measure.fault = f"{done.error_kind}: {done.error.splitlines()[0] if done.error else ''}"
        return measure, None, arrays, None, None
    if done.aliased or done.mutated:
        measure.error = "an output aliases an input" if done.aliased else "an input was modified"
        return measure, None, arrays, None, None
    a64 = arrays.as_float64()
    truth, scale = torch_oracle.reference(spec, a64.x, a64.w, a64.b, a64.gy)
    ctx = B.bound_context(spec, a64, scale, truth)
    outputs = [o for o in ctx.outputs if backward or o == "y"]
    ctx.outputs = tuple(outputs)
    reference = B.reference_bound(ctx)
    for standard in standard_models(dtype=spec.dtype):
        try:
            model = B.checked_model_bounds(standard.model(), ctx)
        except B.ModelBoundError:                   # K u >= 1 somewhere: no bound for this case
            measure.ratios[standard.key] = {o: None for o in outputs}
            continue
        row = {}
        for o in outputs:
            verdict = compare_output(o, done.out.get(o), truth[o], model[o] + reference[o], spec.dtype, scale[o])
            if verdict.kind not in ("ok", "bound"):
                measure.error = verdict.message()
                return measure, None, arrays, truth, scale
            row[o] = verdict.max_ratio
        measure.ratios[standard.key] = row
    for o in outputs:
        got = done.out[o].astype(np.float64)
        finite = np.isfinite(truth[o]) & (scale[o] > 0)
        if finite.any():
            measure.rel_rms[o] = float(np.sqrt(np.mean(((got - truth[o])[finite] / scale[o][finite]) ** 2)))
    return measure, done.out, arrays, truth, scale


# ---- the fit: emulated sequential accumulation ----------------------------------------------
def _round_bits(v: np.ndarray, bits: np.ndarray) -> np.ndarray:
    """Round float64 ``v`` to ``bits`` significant bits, to nearest even (no exponent limits)."""
    m, e = np.frexp(v)
    return np.ldexp(np.round(np.ldexp(m, bits)), e - bits)


def _terms(spec: ConvSpec, a64, output: str, rng: np.random.Generator) -> tuple[np.ndarray, list]:
    """Products of FIT_ELEMENTS sampled elements of y, dx, dw or db, (M, K) in summation order (bias
    last for y; taps no window reaches are exact zeros for dx), and the sampled indices. groups == 1."""
    (pt, pb), (pl, pr) = spec.padding
    xp = np.pad(a64.x, ((0, 0), (0, 0), (pt, pb), (pl, pr)))
    (sh, sw), (dh, dw) = spec.stride, spec.dilation
    ho, wo = spec.out_hw
    win = np.lib.stride_tricks.sliding_window_view(xp, (dh * (spec.kh - 1) + 1, dw * (spec.kw - 1) + 1), (2, 3))
    win = win[:, :, ::sh, ::sw, ::dh, ::dw][:, :, :ho, :wo]                 # (N, C, Ho, Wo, KH, KW)
    shape = {"y": spec.y_shape, "dx": spec.x_shape, "dw": spec.w_shape, "db": spec.b_shape}[output]
    flat = rng.choice(int(np.prod(shape)), size=min(FIT_ELEMENTS, int(np.prod(shape))), replace=False)
    index = [np.unravel_index(int(i), shape) for i in flat]
    rows = []
    for idx in index:
        if output == "y":
            n, f, i, j = idx
            t = (win[n, :, i, j] * a64.w[f]).ravel()
            rows.append(np.append(t, a64.b[f]) if a64.b is not None else t)
        elif output == "dw":
            f, c, kh, kw = idx
            rows.append((win[:, c, :, :, kh, kw] * a64.gy[:, f]).ravel())
        elif output == "db":
            rows.append(a64.gy[:, idx[0]].ravel())
        else:   # dx[n, c, h, w] = sum over (f, kh, kw) of gy[n, f, i, j] w[f, c, kh, kw] where the tap lands
            n, c, h, w = idx
            t = np.zeros((spec.f, spec.kh, spec.kw))
            for kh in range(spec.kh):
                for kw in range(spec.kw):
                    i, j = h + pt - kh * dh, w + pl - kw * dw
                    if i % sh == 0 and j % sw == 0 and 0 <= i // sh < ho and 0 <= j // sw < wo:
                        t[:, kh, kw] = a64.gy[n, :, i // sh, j // sw] * a64.w[:, c, kh, kw]
            rows.append(t.ravel())
    return np.array(rows), index


def emulated_rel_rms(terms: np.ndarray, truth: np.ndarray, scale: np.ndarray, storage: str) -> np.ndarray:
    """RMS(err / scale) over the rows of ``terms`` (M, K) of a sequential sum rounded to p bits
    after every product and addition, then to ``storage``: one value per p in :data:`BITS`."""
    bits = BITS[:, None]
    acc = np.zeros((len(BITS), terms.shape[0]))
    with np.errstate(all="ignore"):
        for k in range(terms.shape[1]):
            acc = _round_bits(acc + _round_bits(np.broadcast_to(terms[:, k], acc.shape), bits), bits)
        out = acc.astype(np.dtype(storage)).astype(np.float64)
        rel = (out - truth[None]) / scale[None]
    return np.sqrt(np.mean(rel ** 2, axis=1))


def fit_bits(observed: float, emulated: np.ndarray) -> tuple[float, str]:
    """(p, relation): where the emulated error curve meets ``observed``. relation is "=" inside
    the curve, ">=" at or below its floor (more bits change nothing), "<=" above its top."""
    floor = emulated[-1]
    at_floor = np.nonzero(emulated <= floor * 1.05)[0][0]          # first p within 5% of the floor
    if observed <= emulated[at_floor]:
        return float(BITS[at_floor]), ">="
    if observed >= emulated[0]:
        return float(BITS[0]), "<="
    i = int(np.nonzero(emulated < observed)[0][0])                 # emulated[i-1] >= observed > emulated[i]
    lo, hi = math.log2(emulated[i - 1]), math.log2(emulated[i])
    frac = (lo - math.log2(observed)) / (lo - hi) if lo != hi else 0.0
    return float(BITS[i - 1] + frac), "="


# ---- the verdict ---------------------------------------------------------------------------------
@dataclass
class PrecisionVerdict:
    impl: str
    dtype: str
    verdict: str                                    # a STANDARD_MODELS key, "none" or "insufficient"
    label: str
    per_output: dict[str, str]
    worst: dict[str, float | None]                  # model -> worst err/bound over decided cases
    decided: dict[str, int]                         # model -> cases it could bound
    deciding: list[dict]                            # the cases that decide the verdict, with replay
    bits: dict[str, dict]                           # y/dw -> {"bits", "relation", "case", "observed"}
    cases: int
    errors: list[str] = field(default_factory=list)       # exact failures: the verdict is then "none"
    faults: list[str] = field(default_factory=list)       # cases with no answer (hang, crash, raised)
    measures: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)

    def bits_text(self) -> str:
        parts = [f"{o} {b['relation'] if b['relation'] != '=' else '~'}{b['bits']:.1f}" for o, b in self.bits.items()]
        return ", ".join(parts) or "-"


def _strictest(measures: list[CaseMeasure], outputs, dtype: str) -> tuple[str, dict, dict]:
    """(verdict key, worst ratio per model of ``dtype``'s ladder, cases decided per model) over ``outputs``."""
    worst, decided = {}, {}
    ladder = standard_models(dtype=dtype)
    for standard in ladder:
        values = [r for m in measures for o, r in m.ratios.get(standard.key, {}).items()
                  if o in outputs and r is not None]
        worst[standard.key] = max(values) if values else None
        decided[standard.key] = sum(any(r is not None for o, r in m.ratios.get(standard.key, {}).items()
                                        if o in outputs) for m in measures)
    verdict = next((s.key for s in ladder if worst[s.key] is not None and worst[s.key] <= 1.0), NONE)
    return verdict, worst, decided


def judge(plugin: ConvPlugin, dtype: str, *, seed: int = 0, per_family: int = 2, executor=None,
          on_case=None) -> PrecisionVerdict:
    """Run the long-reduction battery on ``plugin`` in ``dtype`` and state the model it meets."""
    name = plugin_name(plugin)
    measures, kept, errors, faults = [], [], [], []
    for spec, case_seed, fill in battery(dtype, seed, per_family):
        if plugin.capabilities.unsupported_reasons(spec):
            continue
        measure, out, arrays, truth, scale = _measure(plugin, spec, case_seed, fill, executor)
        if on_case:
            on_case(measure)
        if measure.fault:
            faults.append(f"{measure.replay(name)}: {measure.fault}")
            continue
        measures.append(measure)
        if measure.error:
            errors.append(f"{measure.replay(name)}: {measure.error}")
        else:
            kept.append((spec, measure, out, arrays, truth, scale))
    if len(measures) < MIN_CASES:
        return PrecisionVerdict(name, dtype, "insufficient", f"{len(measures)} long-reduction cases answered within "
                                f"the declared capabilities (at least {MIN_CASES} needed)", {}, {}, {}, [], {},
                                len(measures), errors, faults, [asdict(m) for m in measures])
    judged = [m for m in measures if not m.error]
    verdict, worst, decided = _strictest(judged, OUTPUTS, dtype)
    per_output = {o: _strictest(judged, (o,), dtype)[0]
                  for o in OUTPUTS if any(o in m.ratios.get("float32", {}) for m in judged)}
    if errors:
        verdict = NONE
        deciding = [{"model": NONE, "role": "exact failure", "detail": e} for e in errors[:3]]
    else:
        deciding = _deciding(measures, verdict, name, dtype)
    bits = _fit(kept, dtype)
    label = (f"meets none of the standard models ({len(errors)} cases failed an exact check)" if errors else
             "meets none of the standard models" if verdict == NONE else
             next(s.label_for(dtype) for s in STANDARD_MODELS if s.key == verdict))
    if faults:
        label += f"; {len(faults)} cases gave no answer (not judged)"
    return PrecisionVerdict(name, dtype, verdict, label, per_output, worst, decided, deciding, bits, len(measures),
                            errors, faults, [asdict(m) for m in measures])


def _deciding(measures: list[CaseMeasure], verdict: str, impl: str, dtype: str) -> list[dict]:
    """The worst case under the verdict's model and the case that breaks the next stricter one."""
    keys = [s.key for s in standard_models(dtype=dtype)]
    picks = []
    stricter = keys[:keys.index(verdict)] if verdict in keys else keys
    if stricter:
        picks.append((stricter[-1], "breaks"))
    if verdict in keys:
        picks.append((verdict, "worst within"))
    out = []
    for key, role in picks:
        best = None
        for m in measures:
            for o, r in m.ratios.get(key, {}).items():
                if r is not None and (best is None or r > best[0]):
                    best = (r, m, o)
        if best is not None:
            r, m, o = best
            out.append({"model": key, "role": role, "output": o, "ratio": r, "K": m.terms[o],
                        "case": m.descriptor, "seed": m.seed, "fill": m.fill, "replay": m.replay(impl)})
    return out


def _fit(kept, dtype: str) -> dict:
    """Effective accumulation bits of each output on its longest positive-fill reduction."""
    fits = {}
    for o in OUTPUTS:
        candidates = [k for k in kept if k[0].groups == 1 and k[1].fill == "positive" and o in k[1].rel_rms]
        if not candidates:
            continue
        spec, measure, out, arrays, truth, scale = max(candidates, key=lambda k: k[1].terms[o])
        rng = np.random.default_rng(measure.seed)
        a64 = arrays.as_float64()
        terms, index = _terms(spec, a64, o, rng)
        t = np.array([truth[o][i] for i in index])
        s = np.array([scale[o][i] for i in index])
        got = np.array([float(out[o][i]) for i in index])
        observed = float(np.sqrt(np.mean(((got - t) / s) ** 2)))
        emulated = emulated_rel_rms(terms, t, s, dtype)
        value, relation = fit_bits(observed, emulated)
        fits[o] = {"bits": value, "relation": relation, "observed": observed, "K": measure.terms[o],
                   "case": measure.descriptor, "seed": measure.seed, "fill": measure.fill,
                   "emulated": {int(b): float(e) for b, e in zip(BITS, emulated)}}
    return fits


# ---- reports -------------------------------------------------------------------------------------
def to_report(verdicts: list[PrecisionVerdict], environment: dict) -> dict:
    return {"schema": SCHEMA, "models": [asdict(s) for s in STANDARD_MODELS], "environment": environment,
            "verdicts": [v.to_dict() for v in verdicts]}


def markdown(report: dict) -> str:
    env = report.get("environment") or {}
    cpu, dnn = env.get("cpu") or {}, env.get("onednn") or {}
    lines = ["# Precision verdicts", "",
             "Which standard accumulation model each implementation meets on long reductions "
             "(strictest first: " + "; ".join(f"`{m['key']}` {m['label']}" for m in report["models"]
                                              if m["bias"] == "before") + "; `none`; each also as "
             "`<model>/bias-after`, y rounded before the bias is added).",
             "Effective bits: the precision of a sequential accumulator (emulated on the same sampled elements, "
             "then rounded to storage) whose RMS error matches the observed one; `>=` means at the floor set by "
             "the output rounding.", "",
             f"Machine: {cpu.get('model', '?')} [{' '.join(cpu.get('isa', []))}]; oneDNN {dnn.get('version', '?')}, "
             f"ISA: {dnn.get('isa') or '?'}; torch CPU capability {dnn.get('cpu_capability', '?')}; "
             f"oneDNN kernels seen: {dnn.get('kernels') or {}}.", "",
             "| implementation | dtype | verdict | per output | worst err/bound (float32 / bf16-inputs / "
             "f16-acc / bf16-acc) | effective bits | cases |",
             "|---|---|---|---|---|---|---|"]
    for v in report["verdicts"]:
        worst = " / ".join("-" if v["worst"].get(k) is None else f"{v['worst'][k]:.3g}"
                           for k in ("float32", "bf16-inputs", "f16-accumulation", "bf16-accumulation"))
        bits = ", ".join(f"{o} {b['relation'] if b['relation'] != '=' else '~'}{b['bits']:.1f}"
                         for o, b in v["bits"].items()) or "-"
        per = " ".join(f"{o}:{k}" for o, k in v["per_output"].items())
        lines.append(f"| {v['impl']} | {DTYPE_TAGS.get(v['dtype'], v['dtype'])} | **{v['verdict']}** | {per} | "
                     f"{worst} | {bits} | {v['cases']} |")
    lines += ["", "## Deciding cases", ""]
    for v in report["verdicts"]:
        tag = DTYPE_TAGS.get(v["dtype"], v["dtype"])
        for d in v["deciding"]:
            if "replay" in d:
                lines.append(f"- {v['impl']} {tag}: {d['role']} `{d['model']}` on {d['output']} (K={d['K']}, "
                             f"err/bound {d['ratio']:.3g}): `{d['replay']}`")
            else:
                lines.append(f"- {v['impl']} {tag}: {d['role']}: {d['detail']}")
        for f in v.get("faults", [])[:3]:
            lines.append(f"- {v['impl']} {tag}: no answer (not judged): {f}")
    return "\n".join(lines) + "\n"


def write(report: dict, directory: str) -> list[str]:
    import os

    os.makedirs(directory, exist_ok=True)
    paths = [os.path.join(directory, "precision.json"), os.path.join(directory, "precision.md")]
    with open(paths[0], "w", encoding="utf-8") as f:
        json.dump(report, f, separators=(",", ":"), default=float)
        f.write("\n")
    with open(paths[1], "w", encoding="utf-8") as f:
        f.write(markdown(report))
    return paths


def study(profile: str = "ci", impls=("loop", "im2col"), per_family: int | None = None, seed: int = 0,
          dtypes=("bfloat16", "float16", "float32")) -> dict:
    """The conformance report's precision section: the verdicts of ``impls`` in each of ``dtypes``
    they declare, and the cases that decide each verdict (with replay commands)."""
    from . import registry

    per_family = per_family or (1 if profile == "ci" else 2)
    rows, deciding, verdicts = [], [], []
    for name in impls:
        plugin = registry.load(name)
        for dtype in dtypes:
            if dtype in plugin.capabilities.dtypes:
                v = judge(plugin, dtype, seed=seed, per_family=per_family)
                verdicts.append(v)
                rows.append({"implementation": v.impl, "dtype": DTYPE_TAGS[dtype], "verdict": v.verdict,
                             "per output": " ".join(f"{o}:{k}" for o, k in v.per_output.items()),
                             "worst err/bound (float32 model)": v.worst.get("float32"),
                             "effective bits": v.bits_text(), "cases": v.cases})
                deciding += [{"implementation": v.impl, "dtype": DTYPE_TAGS[dtype], **d} for d in v.deciding]
    return {"study": "precision", "title": "Precision verdicts: the strictest standard model met",
            "settings": {"per_family": per_family, "seed": seed, "dtypes": [DTYPE_TAGS[d] for d in dtypes],
                         "command": f"conv-oracle precision {' '.join(impls)} --per-family {per_family}"
                                    + "".join(f" --dtype {DTYPE_TAGS[d]}" for d in dtypes)},
            "rows": rows, "deciding": deciding,
            "notes": ["models, strictest first: " + "; ".join(f"{m.key}: {m.label}" for m in STANDARD_MODELS),
                      "effective bits: a sequential p-bit accumulator (emulated, then rounded to storage) with the "
                      "same RMS error; '>=' at the floor set by the output rounding"]}


# ---- command line --------------------------------------------------------------------------------
def add_precision_parser(sub) -> None:
    p = sub.add_parser("precision", help="which standard accumulation model an implementation meets "
                                         "(long reductions; effective accumulation bits)")
    p.add_argument("impl", nargs="+", help="entry-point names or module:attr")
    p.add_argument("--dtype", action="append", choices=sorted(DTYPES),
                   help="dtype tag (repeatable; default: each of bf16, f16, f32 the implementation declares)")
    p.add_argument("--seed", type=arguments.seed, default=0, help="seed of the drawn long-reduction cases (default 0)")
    p.add_argument("--per-family", type=arguments.count(1), default=2,
                   help="specs per family of long reductions (default 2)")
    p.add_argument("--out", type=arguments.output_dir, help="write precision.json and precision.md to this directory")
    p.add_argument("--trusted", action="store_true", help="run the implementation in this process")
    p.add_argument("--timeout", type=float, default=None, help="seconds per case in the worker")
    p.set_defaults(func=cmd_precision)


def cmd_precision(args) -> int:
    from contextlib import nullcontext

    from rich.console import Console
    from rich.table import Table

    from . import environment, registry
    from .runner import single_threaded

    console = Console(highlight=False)
    plugins = [registry.load(name) for name in args.impl]
    verdicts = []
    for plugin in plugins:
        dtypes = [DTYPES[t] for t in args.dtype] if args.dtype else \
            [d for d in ("bfloat16", "float16", "float32") if d in plugin.capabilities.dtypes]
        if args.trusted:
            context = nullcontext(None)
        else:
            from .isolation import IsolatedExecutor
            context = IsolatedExecutor(plugin_name(plugin), timeout=args.timeout)
        with context as executor, single_threaded():
            for dtype in dtypes:
                if dtype not in plugin.capabilities.dtypes:
                    console.print(f"{plugin_name(plugin)}: does not declare {dtype}; skipped", markup=False)
                    continue
                v = judge(plugin, dtype, seed=args.seed, per_family=args.per_family, executor=executor)
                verdicts.append(v)
                console.print(f"{v.impl} {DTYPE_TAGS[dtype]}: {v.verdict} ({v.label}); bits {v.bits_text()}",
                              markup=False)
                for d in v.deciding:
                    console.print(f"  {d['role']} {d['model']} on {d['output']} (K={d['K']}, err/bound "
                                  f"{d['ratio']:.3g}): {d['replay']}" if "replay" in d else
                                  f"  {d['role']}: {d['detail']}", markup=False, soft_wrap=True)
                for f in v.faults[:3]:
                    console.print(f"  no answer (not judged): {f}", markup=False, soft_wrap=True)
    table = Table(title="precision verdicts (strictest model met)")
    for col in ("implementation", "dtype", "verdict", "per output", "worst err/bound f32", "bits", "cases"):
        table.add_column(col)
    for v in verdicts:
        w = v.worst.get("float32")
        table.add_row(v.impl, DTYPE_TAGS[v.dtype], v.verdict, " ".join(f"{o}:{k}" for o, k in v.per_output.items()),
                      "-" if w is None else f"{w:.3g}", v.bits_text(), str(v.cases))
    console.print(table)
    if args.out:
        report = to_report(verdicts, environment.describe())
        for path in write(report, args.out):
            console.print(f"wrote {path}", markup=False)
    return 0
