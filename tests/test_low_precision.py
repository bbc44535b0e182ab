"""Low and mixed precision: the DirectSum derivation checked on worst cases, PerDtype, and the
NumPy/ml_dtypes traps the harness's own reference and magnitude code must avoid.

Each worst case *emulates* the declared computation exactly with NumPy scalars of the declared
formats (float32 products and sequential float32 sums, then a rounding to bfloat16/float16),
so "error <= bound" checks the derivation and "error/bound close to 1" checks it is not loose.
"""
import math

import ml_dtypes
import numpy as np
import pytest

from conv_oracle import bounds as B
from conv_oracle.cases import make_arrays
from conv_oracle.spec import ConvSpec

BF16 = np.dtype(ml_dtypes.bfloat16)
STORAGE = {"bfloat16": BF16, "float16": np.dtype(np.float16), "float32": np.dtype(np.float32)}


def dot_ctx(x, w, b, dtype) -> B.BoundContext:
    """A conv that is one dot product: n1 cK h1 w1 f1 k1, y = sum x_c w_c (+ b)."""
    x64, w64 = np.asarray(x, np.float64), np.asarray(w, np.float64)
    spec = ConvSpec(1, len(x64), 1, 1, 1, 1, 1, bias=b is not None, dtype=dtype)
    b64 = None if b is None else np.array([b], np.float64)
    exact = math.fsum([*(x64 * w64), *([] if b is None else [b])])   # correctly rounded float64
    scale = math.fsum([*np.abs(x64 * w64), *([] if b is None else [abs(b)])])
    k = len(x64) + (b is not None)
    return B.BoundContext(spec, x64.reshape(1, -1, 1, 1), w64.reshape(1, -1, 1, 1), b64, np.ones((1, 1, 1, 1)),
                          {"y": np.array([[[[scale]]]])}, {"y": k}, ("y",), {"y": np.array([[[[exact]]]])})


def sequential(values, fmt) -> float:
    """Recursive summation in ``fmt``, left to right, every addition rounded to ``fmt``."""
    acc = np.zeros((), fmt)
    for v in values:
        acc = np.asarray(acc + np.asarray(v, fmt), fmt)
    return float(acc)


def ratio(model, ctx, got) -> float:
    err = abs(got - float(ctx.truth["y"].ravel()[0]))
    bound = float(model.bounds(ctx)["y"].ravel()[0])
    assert np.isfinite(bound) and bound >= 0
    return err / bound if err else 0.0


def test_formats():
    assert B.UNIT_ROUNDOFF["bfloat16"] == 2.0**-8 and B.MANTISSA_BITS["bfloat16"] == 8
    assert B.UNDERFLOW_UNIT["bfloat16"] == float(np.finfo(BF16).smallest_subnormal) / 2
    for name, dt in STORAGE.items():
        info = np.finfo(dt)
        assert B.UNIT_ROUNDOFF[name] == float(info.eps) / 2
        assert B.UNDERFLOW_UNIT[name] == float(info.smallest_subnormal) / 2
    assert B.represents("float32", "bfloat16") and B.represents("float32", "float16")
    assert not B.represents("bfloat16", "float16") and not B.represents("float16", "bfloat16")
    assert B.represents("tfloat32", "float16") and not B.represents("tfloat32", "float32")


def test_default_accumulation_is_float32_for_low_precision():
    model = B.DirectSum()
    assert model.accumulation("bfloat16") == "float32" and model.accumulation("float16") == "float32"
    assert model.accumulation("float64") == "float64" and model.accumulation("float32") == "float32"
    assert B.DirectSum(accumulate="storage").accumulation("bfloat16") == "bfloat16"
    assert model.rounds_output("bfloat16") and not model.rounds_output("float32")
    with pytest.raises(ValueError):
        B.DirectSum(accumulate="float8")
    with pytest.raises(ValueError):
        B.DirectSum(bias="during")


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_output_rounding_tie_is_tight(dtype):
    """y = 1 + u exactly (a tie): float32 holds it, rounding to even gives 1, error u*|y|/(1+u)."""
    u = B.UNIT_ROUNDOFF[dtype]
    ctx = dot_ctx([1.0, u], [1.0, 1.0], None, dtype)
    got = float(np.float32(1.0 + u).astype(STORAGE[dtype]))
    assert got == 1.0
    r = ratio(B.DirectSum(), ctx, got)
    assert 0.99 < r <= 1.0


def test_float32_accumulation_worst_case_is_tight():
    """1 followed by K-1 copies of 2^-24: each float32 addition ties back to 1, error (K-1)u."""
    k = 1 << 12
    x = [1.0] + [2.0**-24] * (k - 1)
    ctx = dot_ctx(x, [1.0] * k, None, "float32")
    got = sequential(x, np.float32)
    assert got == 1.0
    assert 0.99 < ratio(B.DirectSum(), ctx, got) <= 1.0


def test_float32_accumulation_then_bfloat16_rounding_worst_case():
    """The accumulation error and the output rounding add up: 2^17 terms lose 2^-7 in float32,
    then the output is rounded; the bound covers both and is within 2x of the error."""
    k = (1 << 17) + 1
    x = np.array([1.0] + [2.0**-24] * (k - 1))
    ctx = dot_ctx(x, np.ones(k), None, "bfloat16")
    got = float(np.asarray(np.cumsum(x.astype(np.float32))[-1]).astype(BF16))   # cumsum: sequential
    assert got == 1.0 and float(ctx.truth["y"].ravel()[0]) == 1.0 + 2.0**-7
    assert 0.5 < ratio(B.DirectSum(), ctx, got) <= 1.0


def test_bfloat16_accumulation_breaks_the_float32_model():
    """The trap itself: 4096 ones summed in bfloat16 stall at 256."""
    k = 4096
    ctx = dot_ctx(np.ones(k), np.ones(k), None, "bfloat16")
    got = sequential(np.ones(k), BF16)
    assert got == 256.0
    assert ratio(B.DirectSum(), ctx, got) > 100
    assert not np.isfinite(B.DirectSum(accumulate="storage").bounds(ctx)["y"]).all()  # K u >= 1: no bound


def test_storage_accumulation_model_covers_storage_sums_but_float32_model_does_not():
    rng = np.random.default_rng(0)
    worst_f32_model = 0.0
    for dtype in ("bfloat16", "float16"):
        for _ in range(200):
            k = int(rng.integers(2, 40))
            x = rng.standard_normal(k).astype(STORAGE[dtype]).astype(np.float64)
            w = rng.standard_normal(k).astype(STORAGE[dtype]).astype(np.float64)
            ctx = dot_ctx(x, w, None, dtype)
            products = (x * w).astype(STORAGE[dtype])             # storage-type products and sums
            got = sequential(products, STORAGE[dtype])
            assert ratio(B.DirectSum(accumulate="storage"), ctx, got) <= 1.0
            worst_f32_model = max(worst_f32_model, ratio(B.DirectSum(), ctx, got))
    assert worst_f32_model > 2.0   # the default (float32-accumulation) bound catches storage sums


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_bias_before_and_after_rounding(dtype):
    """bias='before': sum in float32 with b, one rounding. bias='after': x.w rounded to storage,
    b added and rounded again. Each model covers its computation; the 'before' bound is broken
    by the 'after' computation on some draws, which is what makes that bug detectable."""
    st = STORAGE[dtype]
    rng = np.random.default_rng(1)
    worst = {"before": 0.0, "after": 0.0, "after-under-before": 0.0}
    for _ in range(3000):
        k = int(rng.integers(1, 4))
        x = rng.standard_normal(k).astype(st).astype(np.float64)
        w = rng.standard_normal(k).astype(st).astype(np.float64)
        b = float(np.asarray(rng.standard_normal()).astype(st))
        ctx = dot_ctx(x, w, b, dtype)
        s32 = sequential(x * w, np.float32)                       # bf16/f16 products are exact in f32
        before = float(np.asarray(np.float32(s32) + np.float32(b)).astype(st))
        after = float(np.asarray(np.float32(float(np.asarray(s32).astype(st))) + np.float32(b)).astype(st))
        worst["before"] = max(worst["before"], ratio(B.DirectSum(), ctx, before))
        worst["after"] = max(worst["after"], ratio(B.DirectSum(bias="after"), ctx, after))
        worst["after-under-before"] = max(worst["after-under-before"], ratio(B.DirectSum(), ctx, after))
    assert worst["before"] <= 1.0 and worst["after"] <= 1.0, worst
    assert worst["before"] > 0.9, worst            # tight: ties are drawn
    assert worst["after-under-before"] > 1.0, worst


def test_input_rounding_to_bfloat16_worst_case():
    """float32 inputs 1+2^-8 rounded to bfloat16 tie to 1: the product loses 2u_r + u_r^2."""
    v = 1.0 + 2.0**-8
    ctx = dot_ctx([v], [v], None, "float32")
    got = 1.0
    assert ratio(B.DirectSum(), ctx, got) > 1000                        # not a float32 direct sum
    assert 0.99 < ratio(B.DirectSum(inputs="bfloat16"), ctx, got) <= 1.0
    assert ratio(B.DirectSum(inputs="tfloat32"), ctx, got) > 1          # TF32 keeps these bits
    tf = 1.0 + 2.0**-11
    ctx = dot_ctx([tf], [tf], None, "float32")
    assert 0.99 < ratio(B.DirectSum(inputs="tfloat32"), ctx, 1.0) <= 1.0


def test_dw_uses_its_own_long_reduction():
    """For dw, K = N*Ho*Wo: gamma_K(u_f32) is then comparable to u_bf16 and must be kept."""
    spec = ConvSpec.make(32, 2, 34, 34, 2, 3, dtype="bf16")
    from conv_oracle.runner import terms
    k = terms(spec)["dw"]
    assert k == 32 * 32 * 32
    assert B.gamma(k, B.UNIT_ROUNDOFF["float32"]) > 0.4 * B.UNIT_ROUNDOFF["bfloat16"]


def test_integer_cases_are_exact_where_the_accumulation_is():
    # 300 ones: the float32 sum is exact, and |y| = 300 > 256 does not fit bfloat16's 8 bits
    ctx = dot_ctx(np.ones(300), np.ones(300), None, "bfloat16")
    assert B.DirectSum().bounds(ctx)["y"].ravel()[0] > 0
    ctx = dot_ctx(np.r_[np.ones(150), -np.ones(150)], np.ones(300), None, "bfloat16")   # y = 0, S = 300
    assert B.DirectSum().bounds(ctx)["y"].ravel()[0] == 0
    assert B.DirectSum(accumulate="storage").bounds(ctx)["y"].ravel()[0] > 0          # S >= 2^8


def test_per_dtype_dispatches_and_refuses_undeclared_dtypes():
    model = B.PerDtype({"bfloat16": B.DirectSum(accumulate="storage")}, default=B.DirectSum())
    ctx = dot_ctx([1.0, 2.0**-6], [1.0, 1.0], None, "bfloat16")
    assert model.bounds(ctx)["y"] == pytest.approx(B.DirectSum(accumulate="storage").bounds(ctx)["y"])
    ctx32 = dot_ctx([1.0, 2.0**-6], [1.0, 1.0], None, "float32")
    assert model.bounds(ctx32)["y"] == pytest.approx(B.DirectSum().bounds(ctx32)["y"])
    with pytest.raises(ValueError, match="no error model for float32"):
        B.PerDtype({"bfloat16": B.DirectSum()}).bounds(ctx32)
    with pytest.raises(ValueError):
        B.PerDtype({"bf16": B.DirectSum()})
    assert "bfloat16" in model.describe()


# ---- NumPy / ml_dtypes traps (ml_dtypes 0.7, numpy 2.4) ---------------------------------------
def test_numpy_bfloat16_traps_are_real():
    ones = np.ones(4096, BF16)
    assert float(np.sum(ones)) == 256.0 and float(np.cumsum(ones)[-1]) == 256.0
    assert float(np.add.reduce(ones, dtype=np.float32)) == 4096.0
    m = np.ones((2, 3), BF16)
    assert np.matmul(m, m.T).dtype == np.float32
    with pytest.raises(TypeError):
        np.einsum("ij,kj->ik", m, m)


def test_harness_truth_and_magnitudes_upcast_bfloat16():
    """A long all-ones reduction in bfloat16: the truth and the magnitudes must be 4096, not 256."""
    from conv_oracle.oracles import torch_oracle

    spec = ConvSpec.parse("n1c1024h2w2f1k2b0 bf16")          # y: K = 1024*4 = 4096 terms
    a = make_arrays(spec, 0)
    ones = [np.ones_like(v) for v in (a.x, a.w, a.gy)]
    assert ones[0].dtype == BF16
    from conv_oracle.cases import CaseArrays
    a64 = CaseArrays(ones[0], ones[1], None, ones[2]).as_float64()
    truth, scale = torch_oracle.reference(spec, a64.x, a64.w, a64.b, a64.gy)
    assert truth["y"].ravel()[0] == 4096.0 and scale["y"].ravel()[0] == 4096.0


def test_compare_checks_bfloat16_dtype_exactly():
    from conv_oracle.compare import compare_output

    truth = np.array([1.0, 2.0])
    ok = compare_output("y", np.array([1.0, 2.0], BF16), truth, np.zeros(2), "bfloat16")
    assert ok.ok and ok.exact_required
    unrounded = compare_output("y", np.array([1.0, 2.0], np.float32), truth, np.ones(2), "bfloat16")
    assert unrounded.kind == "dtype" and "round the output" in unrounded.detail
    assert compare_output("y", np.array([1.0, 2.0], np.float16), truth, np.ones(2), "bfloat16").kind == "dtype"


@pytest.mark.parametrize("impl", ["loop", "im2col"])
@pytest.mark.parametrize("tag", ["bf16", "f16"])
def test_builtins_accumulate_in_float32(impl, tag):
    """4096 ones: a float32 accumulator gives 4096 in every output, a bfloat16 one 256."""
    from conv_oracle import registry

    plugin = registry.load(impl)
    spec = ConvSpec.parse(f"n1c1024h2w2f1k2 {tag}")
    a = make_arrays(spec, 0)
    x, w, gy = (np.ones_like(v) for v in (a.x, a.w, a.gy))
    y = plugin.forward(x, w, np.zeros_like(a.b), spec)
    assert y.dtype == x.dtype and float(y.ravel()[0]) == 4096.0
    big = ConvSpec.parse(f"n1024c1h2w2f1k1 {tag}")       # db and dw: K = N*Ho*Wo = 4096
    b = make_arrays(big, 0)
    _, dw, db = plugin.backward(np.ones_like(b.x), np.ones_like(b.w), np.zeros_like(b.b), np.ones_like(b.gy), big)
    assert float(dw.ravel()[0]) == 4096.0 and float(db.ravel()[0]) == 4096.0
