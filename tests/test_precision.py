"""The precision verdict (``conv-oracle precision``): the standard model an implementation meets
and its fitted accumulation precision, on implementations whose arithmetic is known exactly."""
import json
import subprocess
import sys

import ml_dtypes
import numpy as np
import pytest

from conv_oracle import Capabilities, ConvPlugin, DirectSum, mutants, precision, registry
from conv_oracle.runner import run_case
from conv_oracle.spec import ConvSpec


class SequentialSum(ConvPlugin):
    """Forward only, float32 storage: inputs rounded to ``fmt``, every product and every addition
    rounded to ``fmt``, summed over (c, kh, kw) in order, the bias last: a plain loop kernel
    accumulating in a narrow format, the order the fit emulates."""

    name = "sequential-sum"
    description = "sequential narrow-format accumulation (test plugin)"
    capabilities = Capabilities(dtypes=("float32",), backward=False, groups=False, max_dilation=1)
    fmt = np.float16

    def forward(self, x, w, b, spec):
        self.check_supported(spec)
        (pt, pb), (pl, pr) = spec.padding
        xp = np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr))).astype(self.fmt)
        wq = w.astype(self.fmt)
        win = np.lib.stride_tricks.sliding_window_view(xp, (spec.kh, spec.kw), (2, 3))
        ho, wo = spec.out_hw
        win = win[:, :, ::spec.stride[0], ::spec.stride[1]][:, :, :ho, :wo]   # (N, C, Ho, Wo, KH, KW)
        acc = np.zeros(spec.y_shape, self.fmt)
        for c in range(spec.c):
            for kh in range(spec.kh):
                for kw in range(spec.kw):
                    prod = win[:, None, c, :, :, kh, kw] * wq[None, :, c, kh, kw, None, None]
                    acc = (acc + prod.astype(self.fmt)).astype(self.fmt)
        if b is not None:
            acc = (acc + b.astype(self.fmt)[None, :, None, None]).astype(self.fmt)
        return acc.astype(np.float32)


class SequentialBfloat16(SequentialSum):
    name = "sequential-bf16"
    fmt = ml_dtypes.bfloat16


@pytest.mark.parametrize("plugin, bits, verdict", [(SequentialSum(), 11, "f16-accumulation"),
                                                   (SequentialBfloat16(), 8, "bf16-accumulation")],
                         ids=["float16", "bfloat16"])
def test_fit_recovers_a_known_accumulator(plugin, bits, verdict):
    v = precision.judge(plugin, "float32", per_family=1)
    assert v.verdict == verdict, (v.worst, v.deciding)
    assert v.bits["y"]["relation"] == "=" and abs(v.bits["y"]["bits"] - bits) <= 0.75, v.bits
    breaks = [d for d in v.deciding if d["role"] == "breaks"]
    assert breaks and breaks[0]["ratio"] > 1


@pytest.mark.parametrize("tag", ["bf16", "f16", "f32"])
def test_loop_meets_the_float32_direct_sum(tag):
    from conv_oracle.spec import DTYPES

    v = precision.judge(registry.load("loop"), DTYPES[tag], per_family=1)
    assert v.verdict == "float32" and not v.errors
    assert set(v.per_output.values()) == {"float32"}
    assert 0 < v.worst["float32"] <= 1
    if tag != "f32":   # the output rounding hides everything past the floor
        assert all(b["relation"] == ">=" for b in v.bits.values()), v.bits
    else:
        assert all(b["bits"] >= 23 for b in v.bits.values()), v.bits


def test_bfloat16_accumulation_is_named_and_its_deciding_case_replays():
    plugin = mutants.build("accumulates_in_bfloat16")()
    v = precision.judge(plugin, "bfloat16", per_family=1)
    assert v.verdict not in ("float32", "tf32-inputs", "none")
    breaks = next(d for d in v.deciding if d["role"] == "breaks")
    result = run_case(plugin, ConvSpec.parse(breaks["case"]), breaks["seed"], breaks["fill"])
    assert not result.ok and result.kind == "bound"       # the declared (float32) model fails there too
    assert max(b["bits"] for b in v.bits.values()) < 17   # fewer bits than loop's floor


def test_battery_is_long_and_reproducible():
    cases = precision.battery("bfloat16", 0, per_family=2)
    assert cases == precision.battery("bfloat16", 0, per_family=2)
    ks = [precision.B.terms(spec) for spec, _, _ in cases]
    assert max(k["y"] for k in ks) > 1000 and max(k["dw"] for k in ks) > 5000 and max(k["dx"] for k in ks) > 500
    assert min(k["y"] for k in ks) < 256          # bfloat16 accumulation still has a finite bound somewhere
    assert {fill for _, _, fill in cases} == set(precision.FILLS)


def test_fit_bits_reads_the_floor():
    emulated = np.array([2.0 ** -(b - 1) for b in precision.BITS])
    emulated[precision.BITS >= 20] = 2.0 ** -19                 # the output rounding's floor
    assert precision.fit_bits(2.0 ** -9.5, emulated) == (pytest.approx(10.5), "=")
    assert precision.fit_bits(2.0 ** -19, emulated)[1] == ">="
    assert precision.fit_bits(1.0, emulated) == (4.0, "<=")


def cli(*argv, cwd=None):
    """The command line in its own process (main() switches this process's registry to isolated imports)."""
    return subprocess.run([sys.executable, "-m", "conv_oracle.cli", *argv], capture_output=True, text=True,
                          timeout=600, cwd=cwd)


def test_cli_writes_the_report(tmp_path):
    run = cli("precision", "loop", "--dtype", "bf16", "--per-family", "1", "--trusted", "--out", str(tmp_path))
    assert run.returncode == 0, run.stdout + run.stderr
    report = json.loads((tmp_path / "precision.json").read_text())
    assert report["schema"] == precision.SCHEMA and report["verdicts"][0]["verdict"] == "float32"
    assert report["environment"]["cpu"]["model"] and "isa" in report["environment"]["onednn"]
    md = (tmp_path / "precision.md").read_text()
    assert "| loop | bf16 | **float32**" in md and "conv-oracle check loop --case" in md


@pytest.mark.parametrize("argv", [["precision", "loop", "--per-family", "0"], ["precision", "no-such-impl"]])
def test_cli_bad_input_is_one_line_and_exit_2(argv):
    run = cli(*argv)
    assert run.returncode == 2 and len(run.stderr.strip().splitlines()) == 1, run.stderr


def test_cli_unknown_dtype_is_a_usage_error():
    assert cli("precision", "loop", "--dtype", "f8").returncode == 2


def test_declared_model_is_not_consulted():
    """The verdict is measured: it ignores what the plugin declares."""
    class Honest(SequentialSum):
        error_model = DirectSum(accumulate="float16", inputs="float16")
    assert precision.judge(Honest(), "float32", per_family=1).verdict == "f16-accumulation"


def test_bias_added_after_the_rounding_is_named():
    v = precision.judge(mutants.build("bias_after_rounding")(), "bfloat16", per_family=1)
    assert v.per_output["y"] == "float32/bias-after", v.per_output
    assert v.per_output["dx"] == v.per_output["dw"] == "float32"
