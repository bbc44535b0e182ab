"""The timing protocol of ``conv_oracle.bench`` (structure, not speed: no timed assertions)."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from conv_oracle import bench


def test_each_turn_times_a_warm_call_after_the_settling_calls():
    calls = {"a": 0, "b": 0}
    order = []

    def candidate(name):
        def run():
            calls[name] += 1
            order.append(name)
        return run

    timed = bench.time_interleaved({"a": candidate("a"), "b": candidate("b")}, repeats=3, warmup=1,
                                   gap=0.0, settle=2)
    # 1 warm-up call, then per repeat: settle (2) calls, the first timed as after_gap, + 1 warm call
    assert calls == {"a": 1 + 3 * 3, "b": 1 + 3 * 3}
    for name in "ab":
        assert len(timed[name]["warm"]) == 3 and len(timed[name]["after_gap"]) == 3
    # a turn is the settle calls and the warm call back to back; the starting candidate rotates
    turns = order[2:]
    assert turns == ["a"] * 3 + ["b"] * 3 + ["b"] * 3 + ["a"] * 3 + ["a"] * 3 + ["b"] * 3


def test_settle_zero_times_the_first_call_after_the_gap():
    timed = bench.time_interleaved({"a": lambda: None}, repeats=2, warmup=0, gap=0.0, settle=0)
    assert timed["a"]["warm"] == timed["a"]["after_gap"]


def test_single_core_reexecs_pinned_with_one_thread_per_pool(tmp_path):
    """--single-core re-runs the command on one CPU with every pool at one thread, and the
    result says so (the brief's taskset -c 1 run)."""
    out = tmp_path / "one.json"
    env = {k: v for k, v in os.environ.items() if k != bench.SINGLE_CORE_ENV}
    proc = subprocess.run([sys.executable, "-m", "conv_oracle.bench", "--single-core", "--layers", "h",
                           "--repeats", "1", "--gap", "0", "--settle", "0", "--json", str(out)],
                          capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    data = json.loads(out.read_text())
    assert data["single_core"] is True
    assert len(data["machine"]["affinity"]) == 1
    assert data["blas"]["num_threads"] == 1
    assert data["libraries"]["torch_threads"] == 1
    assert {r["name"] for r in data["results"] if r["status"] == "ok"} >= {"torch", "im2col"}


def test_negative_settle_is_refused():
    args = bench.build_parser().parse_args(["--settle", "-1"])
    with pytest.raises(ValueError, match="--settle"):
        bench.settings_from_args(args)


def test_rows_carry_the_gemm_rate_of_the_same_rounds():
    from conv_oracle.spec import ConvSpec

    spec = ConvSpec.parse("n2c4h10w10f4k3p1 f64")
    rows = bench.bench_layer(spec, ["im2col"], repeats=2, warmup=0, gap=0.0, gemm_n=64, baselines=("torch",))
    assert [r["name"] for r in rows] == ["torch", "im2col"]    # the GEMM is no row of its own
    for r in rows:
        assert r["gemm_gflops_same_rounds"] > 0
        assert r["pct_gemm_same_rounds"] == pytest.approx(100 * r["gflops"] / r["gemm_gflops_same_rounds"])


@pytest.mark.parametrize("descriptor", ["n3c4h9w8f6k3p1 f32", "n2c8h7w7f4k3s2p1b0 f64", "n3c4h6w6f8k1 f32"])
def test_gemm_bound_study_times_the_forwards_own_gemms(descriptor):
    """benchmarks/im2col_gemm_bound.py: its 'gemms' candidate makes the very GEMMs of the
    forward (same bits), so im2col / gemms is the cost of the column copy alone."""
    import numpy as np

    from conv_oracle.spec import ConvSpec
    from impls.im2col import Im2colConv

    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "benchmarks"))
    try:
        from im2col_gemm_bound import gemms_only
    finally:
        sys.path.pop(0)
    spec = ConvSpec.parse(descriptor)
    x, w, b, _ = bench.make_arrays(spec)
    assert np.array_equal(gemms_only(spec)(), Im2colConv().forward(x, w, b, spec))
