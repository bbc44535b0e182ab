"""im2col-specific properties (the generic differential suite covers the rest):

* the batch-chunked mode gives bit-for-bit the results of the whole batch;
* the declared peak extra memory is what the calls allocate (numpy's allocations are
  visible to tracemalloc);
* edge rows/columns that no window covers get an exact zero gradient, with perverse
  padding and depthwise groups checked against torch float64 within the DirectSum bound;
* a smoke test of the shared benchmark core (structure only, never speed).
"""
from __future__ import annotations

import json
import os
import threading
import tracemalloc

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conv_oracle import Capabilities, ConvPlugin, ConvSpec, NotSupported
from conv_oracle import bench
from conv_oracle.bounds import bound_context, cross_bounds
from conv_oracle.cases import CaseArrays, make_arrays
from conv_oracle.compare import compare_output
from conv_oracle.oracles import torch_oracle
from conv_oracle.runner import run_case
from impls import im2col
from impls.im2col import ROW_BLOCK_BYTES, Im2colConv, column_bytes


def _outputs(plugin, spec, seed=0, fill="normal"):
    a = make_arrays(spec, seed, fill)
    y = plugin.forward(a.x, a.w, a.b, spec)
    dx, dw, db = plugin.backward(a.x, a.w, a.b, a.gy, spec)
    return {"y": y, "dx": dx, "dw": dw, "db": db}


def _assert_passes(spec, seed=0, fill="normal", plugin=None):
    __tracebackhide__ = True
    result = run_case(plugin or Im2colConv(), spec, seed, fill, backward=True)
    assert result.status == "pass", result.message()


@st.composite
def small_specs(draw):
    """Small problems with every capability: stride, asymmetric padding, dilation, groups."""
    g = draw(st.sampled_from([1, 1, 2, 3]))
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    dh, dw = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    pads = tuple(tuple(draw(st.integers(0, 4)) for _ in range(2)) for _ in range(2))
    h = draw(st.integers(max(1, dh * (kh - 1) + 1 - sum(pads[0])), 10))
    w = draw(st.integers(max(1, dw * (kw - 1) + 1 - sum(pads[1])), 10))
    return ConvSpec(n=draw(st.integers(1, 5)), c=g * draw(st.integers(1, 3)), h=h, w=w,
                    f=g * draw(st.integers(1, 3)), kh=kh, kw=kw,
                    stride=(draw(st.integers(1, 3)), draw(st.integers(1, 3))), padding=pads,
                    dilation=(dh, dw), groups=g, bias=draw(st.booleans()),
                    dtype=draw(st.sampled_from(["float32", "float64"])))


# ---- chunked mode ------------------------------------------------------------------------------
@settings(max_examples=40, deadline=None)
@given(spec=small_specs(), samples=st.integers(1, 4), threads=st.integers(1, 3), seed=st.integers(0, 2**16))
def test_chunked_is_bit_for_bit_the_whole_batch(spec, samples, threads, seed):
    whole = _outputs(Im2colConv(column_bytes(spec), threads=1), spec, seed)  # one chunk: the whole batch
    budget = column_bytes(spec, samples) + samples - 1         # room for `samples` samples, not one more
    chunked = _outputs(Im2colConv(max_column_bytes=budget, threads=threads), spec, seed)
    for name, value in whole.items():
        if value is None:
            assert chunked[name] is None and not spec.bias
            continue
        assert chunked[name].dtype == value.dtype and chunked[name].shape == value.shape
        assert chunked[name].tobytes() == value.tobytes(), f"{name} differs when chunked ({spec})"


@pytest.mark.parametrize("spec", [ConvSpec.parse("n7c5h9w8f6k3x2s2x1p1,2,0,1d1x2g1b1 f32"),
                                  ConvSpec.parse("n6c4h7w7f4k3s1p1g4b0 f64")], ids=str)
def test_chunked_mode_passes_the_oracle(spec):
    _assert_passes(spec, plugin=Im2colConv(max_column_bytes=column_bytes(spec, 2)))


@settings(max_examples=30, deadline=None)
@given(spec=small_specs(), rows=st.integers(1, 3), threads=st.integers(1, 2), seed=st.integers(0, 2**16))
def test_budget_below_one_sample_blocks_output_rows(spec, rows, threads, seed):
    """Below one sample the forward runs blocks of output rows within the budget; narrower
    GEMMs may round differently, so the check is the oracle's bound, not the bits."""
    per_row = column_bytes(spec, 1) // spec.out_hw[0]
    plugin = Im2colConv(max_column_bytes=per_row * rows, threads=threads)
    workers, nb, rb = plugin.plan(spec)
    assert workers * nb * rb * per_row <= per_row * rows
    result = run_case(plugin, spec, seed, "normal", backward=False)
    assert result.status == "pass", result.message()


@pytest.mark.parametrize("budget_blocks", [1, 2, 3])
def test_row_blocked_forward_is_bit_for_bit_for_budgets_of_whole_blocks(monkeypatch, budget_blocks):
    """Row blocks are sized by ROW_BLOCK_BYTES alone, so any budget of whole blocks and any
    number of threads give the same bits."""
    spec = ConvSpec.parse("n2c3h20w11f4k3x2s1x2p1,2,0,1d2x1 f32")
    per_row = column_bytes(spec, 1) // spec.out_hw[0]
    monkeypatch.setattr(im2col, "ROW_BLOCK_BYTES", 4 * per_row)   # a small image needs a small block
    a = make_arrays(spec, 0)
    whole = Im2colConv(threads=1).forward(a.x, a.w, a.b, spec)
    plugin = Im2colConv(max_column_bytes=budget_blocks * 4 * per_row, threads=2)
    assert plugin.plan(spec) == (min(2, budget_blocks), 1, 4)
    assert plugin.forward(a.x, a.w, a.b, spec).tobytes() == whole.tobytes()
    _assert_passes(spec, plugin=plugin)


def test_budget_below_one_row_still_runs_one_row_at_a_time():
    spec = ConvSpec.parse("n3c2h6w6f2k3p1 f32")
    plugin = Im2colConv(max_column_bytes=1, threads=2)
    assert plugin.plan(spec) == (1, 1, 1)
    assert plugin.peak_extra_bytes(spec) <= column_bytes(spec, 1)   # one row block and its input rows
    _assert_passes(spec, plugin=plugin)


def test_large_sample_is_cut_into_row_blocks_for_both_workers():
    spec = ConvSpec.parse("n1c16h128w128f16k31p15 f32")   # layer g: 1 GB of columns for one sample
    workers, nb, rb = Im2colConv(threads=2).plan(spec)
    assert (workers, nb) == (2, 1) and rb * column_bytes(spec, 1) // spec.out_hw[0] <= ROW_BLOCK_BYTES
    assert Im2colConv(threads=2).peak_extra_bytes(spec) < 2 * ROW_BLOCK_BYTES + (1 << 20)


@pytest.mark.parametrize("bad", [0, -5, 2.5, "1MB", True])
def test_budget_must_be_a_positive_byte_count(bad):
    with pytest.raises(ValueError, match="max_column_bytes"):
        Im2colConv(max_column_bytes=bad)
    with pytest.raises(ValueError, match="threads"):
        Im2colConv(threads=bad)


# ---- declared memory -------------------------------------------------------------------------
def _traced_peak(fn):
    """Peak bytes allocated during fn() beyond what was live before, and fn's result."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        before = tracemalloc.get_traced_memory()[0]
        out = fn()
        return tracemalloc.get_traced_memory()[1] - before, out
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("descriptor", ["n6c8h20w18f8k3x2s1x2p2,1,0,3d1x2g2b1 f32",
                                        "n4c16h24w24f16k3p1 f64", "n5c3h15w15f4k5s2p0 f32",
                                        "n6c8h20w18f8k3x2s1x2p2,1,0,3d1x2g2b1 bf16"])
@pytest.mark.parametrize("samples", [None, 1, 2, 6])
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("backward", [False, True], ids=["fwd", "bwd"])
def test_peak_memory_is_as_declared(descriptor, samples, threads, backward):
    spec = ConvSpec.parse(descriptor)
    budget = None if samples is None else column_bytes(spec, samples)
    plugin = Im2colConv(budget, threads=threads)
    workers, nb, rows = plugin.plan(spec, backward=backward)
    held = workers * column_bytes(spec, nb) // spec.out_hw[0] * rows     # the columns alive at once
    if budget is not None:
        assert held <= budget
    a = make_arrays(spec, 0)
    if backward:
        peak, out = _traced_peak(lambda: plugin.backward(a.x, a.w, a.b, a.gy, spec))
    else:
        peak, out = _traced_peak(lambda: (plugin.forward(a.x, a.w, a.b, spec),))
    outputs = sum(o.nbytes for o in out if o is not None)
    declared = plugin.peak_extra_bytes(spec, backward=backward)
    # Beyond the declared arrays numpy may hold its ufunc buffers (getbufsize() elements
    # per operand; at most a few operands in each of the workers) and array headers.
    slack = workers * 4 * np.getbufsize() * np.dtype(spec.dtype).itemsize
    assert peak - outputs <= declared + slack
    # ... and the declaration is not vacuous: the columns are really there.
    assert peak - outputs >= held


@pytest.mark.parametrize("descriptor", ["n4c64h64w64f32k1 f32", "n4c64h64w64f128k1b0 f32"])
def test_pointwise_makes_no_columns(descriptor):
    # one sample's columns are 1 MB here: far above numpy's per-thread ufunc buffers (up to
    # 32 KB in each of the two workers, which run at once), far below any copy of x
    spec = ConvSpec.parse(descriptor)
    plugin = Im2colConv()
    assert plugin.peak_extra_bytes(spec) == 0
    a = make_arrays(spec, 0)
    peak, y = _traced_peak(lambda: plugin.forward(a.x, a.w, a.b, spec))
    assert peak - y.nbytes < column_bytes(spec, 1)             # not even one sample's copy
    _assert_passes(spec)
    _assert_passes(spec, fill="integer")


def test_pointwise_with_more_outputs_folds_the_bias_into_a_copy():
    spec = ConvSpec.parse("n4c8h16w16f32k1 f32")               # C < F: copy x with a ones row
    assert Im2colConv().peak_extra_bytes(spec) == Im2colConv().plan(spec)[0] * column_bytes(spec, 1)
    _assert_passes(spec)
    _assert_passes(spec, fill="integer")


def test_single_worker_whole_batch_equals_the_pipeline():
    """One thread and a budget of the whole batch is the textbook path: one columns matrix
    for the whole batch and one batched GEMM; the default pipeline gives the same bits."""
    spec = ConvSpec.parse("n5c6h9w8f4k3x2s1x2p1,0,1,1g2b1 f32")
    textbook = Im2colConv(max_column_bytes=column_bytes(spec), threads=1)
    assert textbook.plan(spec) == (1, 5, spec.out_hw[0])
    whole, piped = _outputs(textbook, spec), _outputs(Im2colConv(threads=2), spec)
    for name in whole:
        assert whole[name].tobytes() == piped[name].tobytes(), name


def test_columns_are_khkw_over_stride_times_the_input():
    spec = ConvSpec.make(2, 3, 16, 16, 4, 3, stride=1, padding=1, bias=False)
    x_bytes = spec.n * spec.c * spec.h * spec.w * 4
    assert column_bytes(spec) == 9 * x_bytes
    strided = spec.replace(stride=(2, 2))        # 8x8 outputs: a quarter of the windows
    assert column_bytes(strided) == 9 * x_bytes // 4
    # with a bias, one row of ones per group carries it through the GEMM
    assert column_bytes(spec.replace(bias=True)) == (9 * spec.c + 1) * x_bytes // spec.c


# ---- edges -------------------------------------------------------------------------------------
@pytest.mark.parametrize("descriptor", ["n2c3h8w9f2k3x3s3x2p0 f64",          # rows 6, 7 and col 8 unread
                                        "n2c2h10w7f3k2x3s4x3p0,0,1,0d2x1 f32"])
def test_uncovered_rows_and_columns_get_exact_zero_gradient(descriptor):
    spec = ConvSpec.parse(descriptor)
    (pt, _), (pl, _) = spec.padding
    ho, wo = spec.out_hw
    last_row = (ho - 1) * spec.stride[0] + (spec.kh - 1) * spec.dilation[0] - pt   # in x coordinates
    last_col = (wo - 1) * spec.stride[1] + (spec.kw - 1) * spec.dilation[1] - pl
    assert last_row < spec.h - 1 or last_col < spec.w - 1, "the case must leave something uncovered"
    dx = _outputs(Im2colConv(), spec)["dx"]
    assert dx.shape == spec.x_shape
    assert not dx[:, :, last_row + 1:, :].any() and not dx[:, :, :, last_col + 1:].any()
    assert dx[:, :, :last_row + 1, :last_col + 1].any()
    _assert_passes(spec)


@pytest.mark.parametrize("descriptor", ["n2c2h3w3f2k2p4 f32",                    # padding > kernel - 1
                                        "n1c3h2w5f2k3x2s2x1p5,0,0,6d1x3b0 f64",  # one-sided, dilated
                                        "n2c2h4w4f3k3s3p6,6,1,1 f32"])           # windows of padding only
@pytest.mark.parametrize("fill", ["normal", "integer"])
def test_perverse_padding(descriptor, fill):
    _assert_passes(ConvSpec.parse(descriptor), fill=fill)


@pytest.mark.parametrize("descriptor", ["n3c8h9w9f8k3p1g8 f32", "n2c6h7w6f12k3x2s2x1p1,0,0,1g6b0 f64",
                                        "n2c4h8w8f4k5p2d2x1g4 f32"])
@pytest.mark.parametrize("fill", ["normal", "integer"])
def test_depthwise(descriptor, fill):
    _assert_passes(ConvSpec.parse(descriptor), fill=fill)


@settings(max_examples=25, deadline=None)
@given(spec=small_specs(), seed=st.integers(0, 2**16), fill=st.sampled_from(["normal", "integer", "magnitudes"]))
def test_small_cases_within_bound(spec, seed, fill):
    _assert_passes(spec, seed, fill)


def test_low_precision_runs_in_float32_and_rounds_once():
    """bf16/f16 (declared: float32 accumulation, output rounded): 4096 ones sum to 4096, where
    a bfloat16 accumulator stalls at 256; the outputs come back in the storage dtype."""
    for tag in ("bf16", "f16"):
        spec = ConvSpec.parse(f"n1c1024h2w2f1k2 {tag}")
        a = make_arrays(spec, 0)
        ones = [np.ones_like(v) for v in (a.x, a.w, a.gy)]
        y = Im2colConv().forward(ones[0], ones[1], np.zeros_like(a.b), spec)
        assert y.dtype == a.x.dtype and float(y.ravel()[0]) == 4096.0
        dx, dw, db = Im2colConv().backward(ones[0], ones[1], np.zeros_like(a.b), ones[2], spec)
        assert {dx.dtype, dw.dtype, db.dtype} == {a.x.dtype}


# ---- the benchmark core (structure only) ------------------------------------------------------
class _Float64Only(ConvPlugin):
    name = "f64-only"
    description = "declines float32"
    capabilities = Capabilities(dtypes=("float64",))

    def forward(self, x, w, b, spec):
        self.check_supported(spec)
        raise AssertionError("never reached for float32")


def test_bench_layer_rows():
    spec = ConvSpec.parse("n2c4h10w10f4k3p1 f32")
    rows = bench.bench_layer(spec, ["im2col", _Float64Only()], repeats=2, warmup=0, gap=0.0, peak=100.0)
    by_name = {r["name"]: r for r in rows}
    assert set(by_name) == {"torch", "jax", "im2col", "f64-only"}
    assert by_name["f64-only"]["status"] == "unsupported" and "median_s" not in by_name["f64-only"]
    for name in ("torch", "jax", "im2col"):
        r = by_name[name]
        assert r["status"] == "ok" and len(r["times_s"]) == 2
        assert r["min_s"] <= r["median_s"] <= r["max_s"]
        assert r["gflops"] == pytest.approx(2 * spec.macs / r["median_s"] / 1e9)
        assert r["pct_sgemm_peak"] == pytest.approx(r["gflops"])  # peak given as 100 GFLOP/s
    assert by_name["torch"]["ratio_to_torch"] == 1.0 and by_name["jax"]["ratio_to_jax"] == 1.0


def test_candidates_compute_the_same_convolution():
    """torch, JAX and the plugin candidates all compute the spec's convolution: each is a float64
    direct sum, as the truth is, so each is within the harness's bound on two float64 direct sums of
    the same terms (bounds.cross_bounds: 2 gamma_K (1+gamma_K) conv(|x|, |w|) + 2K eta), judged by
    compare.compare_output (exact shape and dtype first)."""
    spec = ConvSpec.parse("n2c3h7w6f4k3x2s2x1p1,0,2,1d1x2g1b1 f64")
    x, w, b, gy = bench.make_arrays(spec)
    truth, scale = torch_oracle.reference(spec, x, w, b, gy)
    bound = cross_bounds(bound_context(spec, CaseArrays(x, w, b, gy), scale, truth))["y"]   # two float64 direct sums
    for name, got in (("torch", bench.torch_candidate(spec)().numpy()), ("jax", bench.jax_candidate(spec)()),
                      ("im2col", bench.plugin_candidate("im2col", spec)())):
        verdict = compare_output("y", np.asarray(got), truth["y"], bound, spec.dtype, scale["y"])
        assert verdict.ok, f"{name} candidate: {verdict.message()}"
    grads = bench.torch_candidate(spec, backward=True)()
    assert [tuple(g.shape) for g in grads] == [spec.x_shape, spec.w_shape, spec.b_shape]
    y, (dx, dw, db) = bench.plugin_candidate("im2col", spec, backward=True)()
    assert (dx.shape, dw.shape, db.shape) == (spec.x_shape, spec.w_shape, spec.b_shape)


def test_bench_quick_cli_writes_json(tmp_path, capsys):
    path = tmp_path / "bench.json"
    assert bench.main(["--quick", "--layers", "h", "--repeats", "1", "--json", str(path)]) == 0
    result = json.loads(path.read_text())
    assert result["sgemm_gflops"] > 0 and result["blas"]["internal_api"]
    assert {"OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "architecture", "num_threads"} <= set(result["blas"])
    assert result["libraries"]["torch"] and result["machine"]["cpu_count"]
    assert [(r["layer"], r["name"], r["status"]) for r in result["results"]] == \
        [("h", "torch", "ok"), ("h", "jax", "ok"), ("h", "im2col", "ok")]
    assert "im2col" in capsys.readouterr().out


def test_bench_cli_rejects_unknown_layer(capsys):
    assert bench.main(["--layers", "z"]) == 2
    assert "unknown layer z" in capsys.readouterr().err


def test_one_thread_gives_the_bits_of_two_at_a_blas_threaded_size():
    """A GEMM large enough for OpenBLAS to split it over its threads rounds differently from
    the one-thread GEMM, so ``threads=1`` must hold BLAS to one thread too (it did not: at
    this size dw and y differed between one and two threads)."""
    spec = ConvSpec.parse("n2c16h16w16f16k3p1 f32")
    one, two = _outputs(Im2colConv(threads=1), spec), _outputs(Im2colConv(threads=2), spec)
    for name in one:
        assert one[name].tobytes() == two[name].tobytes(), name


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs 2 CPUs to bind 2 workers")
def test_workers_are_bound_to_distinct_cpus():
    """Each worker runs on its own CPU of the process's set (unbound, both were often woken on
    one CPU); the main thread's own affinity is left alone."""
    from impls import im2col

    seen, main_before = {}, os.sched_getaffinity(0)
    chunks = [(i,) for i in range(16)]
    both_started = threading.Barrier(2)      # each worker's first chunk waits for the other's

    def job(t, i):
        if t not in seen:
            seen[t] = set()
            both_started.wait(timeout=60)     # a worker that never takes a chunk breaks it: the test fails
        seen[t].update(os.sched_getaffinity(0))
    im2col._run(2, chunks, job)
    cpus = sorted(main_before)
    assert seen == {0: {cpus[0]}, 1: {cpus[1]}}
    assert os.sched_getaffinity(0) == main_before
