"""The training check on short real runs: real plugins, real torch, the planted bugs.

Kept small for CI (the one-channel 8x8 variant, 100 steps, under a second per run); the full
check is ``conv-oracle train --builtins --planted-bugs`` (reports/training.*).
"""
import copy
import functools
import json
import operator

import jsonschema
import numpy as np
import pytest

from conv_oracle import cli, mutants, registry, schema_doc
from conv_oracle import train as T
from conv_oracle.bounds import DirectSum
from conv_oracle.plugin import Capabilities, ConvPlugin
from conv_oracle.runner import single_threaded
from impls.loop import LoopConv

STEPS = 100
VARIANT = T.VARIANTS["shapes-8x8x1"]


@pytest.fixture(scope="module")
def baseline():
    with single_threaded():
        return T.Baseline.run(VARIANT, STEPS, seed=0)


def _check(plugin, baseline):
    with single_threaded():
        return T.check(plugin, baseline)


class NHWCLoop(ConvPlugin):
    """The loop implementation behind an NHWC/HWIO interface: the check must hand it that layout."""

    name = "test-nhwc-loop"
    description = "loop in NHWC layout"
    layout = "NHWC"
    capabilities = LoopConv.capabilities

    def forward(self, x, w, b, spec):
        assert x.shape == (spec.n, spec.h, spec.w, spec.c) and w.shape == (spec.kh, spec.kw, spec.c, spec.f)
        return LoopConv().forward(_nchw(x), _oihw(w), b, spec).transpose(0, 2, 3, 1)

    def backward(self, x, w, b, gy, spec):
        dx, dw, db = LoopConv().backward(_nchw(x), _oihw(w), b, _nchw(gy), spec)
        return dx.transpose(0, 2, 3, 1), dw.transpose(2, 3, 1, 0), db


def _nchw(a):   # contiguous, so that loop sums in the same order as when called directly
    return np.ascontiguousarray(a.transpose(0, 3, 1, 2))


def _oihw(w):
    return np.ascontiguousarray(w.transpose(3, 2, 0, 1))


class Float64Output(LoopConv):
    name = "test-float64-dw"
    description = "loop returning dw in float64 for float32 inputs"

    def backward(self, x, w, b, gy, spec):
        dx, dw, db = super().backward(x, w, b, gy, spec)
        return dx, dw.astype(np.float64), db


class RaisesInBackward(LoopConv):
    name = "test-raises"
    description = "loop whose backward raises"

    def backward(self, x, w, b, gy, spec):
        raise ValueError("no gradient today")


class MutatesInput(LoopConv):
    name = "test-mutates"
    description = "loop that scales its input in place"

    def forward(self, x, w, b, spec):
        x[0, 0, 0, 0] += 1
        return super().forward(x, w, b, spec)


class NaNForward(LoopConv):
    name = "test-nan-forward"
    description = "loop whose forward returns a NaN in its first element"

    def forward(self, x, w, b, spec):
        y = super().forward(x, w, b, spec)
        y.flat[0] = np.nan
        return y


class NoStride(LoopConv):
    name = "test-no-stride"
    description = "loop declaring stride 1 only"
    capabilities = Capabilities(max_stride=1)


class NaNBound(DirectSum):
    name = "test-nan-bound"

    def bounds(self, ctx):
        return {o: np.full_like(b, np.nan) for o, b in super().bounds(ctx).items()}


class NaNBoundLoop(LoopConv):
    name = "test-nan-bound-loop"
    description = "loop with an error model that returns NaN"
    error_model = NaNBound()


def test_the_three_runs_share_data_and_weights_and_torch_learns(baseline):
    s = baseline.schedule
    again = T.Schedule.make(VARIANT, STEPS, 0)
    assert np.array_equal(s.x, again.x) and np.array_equal(s.batches, again.batches)
    assert all(np.array_equal(s.init[k], again.init[k]) for k in s.init)
    assert sorted(set(s.labels)) == [0, 1, 2, 3]
    assert baseline.torch.test_accuracy[-1][1] > 0.6                   # it learns (chance: 0.25)
    # the band: float32 rounding, small but not zero, for every metric
    assert all(0 < w < 1e-4 for w in baseline.widths.values()), baseline.widths


def test_im2col_agrees_with_torch_within_the_band(baseline):
    result = _check(registry.load("im2col"), baseline)
    assert result.status == "agree", (result.ratio, result.first_outside)
    assert result.multiple == 2.0                                       # direct sum: rho = 1
    assert all(r <= 2.0 for r in result.ratio.values())


def test_a_larger_declared_bound_widens_the_band(baseline):
    result = _check(registry.load("winograd-f4"), baseline)
    assert result.status == "agree"
    assert result.multiple > 10 and result.multiple == 1 + max(r for layer in result.rho.values()
                                                               for r in layer.values())


def test_the_band_is_decided_in_bounds_edge_inside_nan_never():
    from conv_oracle import bounds as B

    assert B.training_multiple({"conv1": {"y": 0.5, "dx": 1.0}, "conv2": {"dw": 1.0}}) == 2.0   # max(1, rho)
    assert B.training_multiple({"conv1": {"y": 7.0}}) == 8.0
    d = np.array([0.0, 2.0, 2.0 + 1e-12, np.nan, np.inf, 1.0])
    assert B.outside_training_band(d, 1.0, 2.0).tolist() == [2, 3, 4]


@pytest.mark.parametrize("bug", mutants.TRAINING_BUG_NAMES)
def test_planted_training_bug_is_flagged(baseline, bug):
    result = _check(mutants.build(bug)(), baseline)
    assert result.status == "disagree"
    assert max(result.ratio.values()) > 1e3 * result.multiple            # not a near miss
    assert result.first_outside is not None


def test_declared_layout_is_honoured_bit_for_bit(baseline):
    nhwc, loop = _check(NHWCLoop(), baseline), _check(LoopConv(), baseline)
    assert nhwc.status == "agree"
    assert nhwc.trajectory.loss == loop.trajectory.loss


def test_wrong_dtype_is_a_fault_not_a_pass(baseline):
    result = _check(Float64Output(), baseline)
    assert result.status == "fault" and "dtype" in result.detail and "dw" in result.detail


@pytest.mark.parametrize("plugin, kind", [(RaisesInBackward(), "raised"), (MutatesInput(), "mutated-input")])
def test_a_misbehaving_plugin_is_a_fault(baseline, plugin, kind):
    result = _check(plugin, baseline)
    assert result.status == "fault" and result.detail.startswith(kind), result.detail


def test_declared_unsupported_layer_cannot_be_judged(baseline):
    result = _check(NoStride(), baseline)
    assert result.status == "unsupported" and "stride" in result.detail
    assert not result.ok


def test_nan_bound_is_a_failure_never_a_pass(baseline):
    result = _check(NaNBoundLoop(), baseline)
    assert result.status == "fault" and result.detail.startswith("model")


def test_nan_output_disagrees_and_the_report_stays_valid_json(baseline, tmp_path):
    from conv_oracle.training_report import build_training, write_training

    result = _check(NaNForward(), baseline)
    assert result.status == "disagree" and result.first_outside == ("conv1", 0)
    paths = write_training(build_training([baseline], [result], steps=STEPS, seed=0, activation="softplus",
                                          seconds=1.0), str(tmp_path))
    report = json.loads(open(paths["json"]).read())
    schema_doc.validate("training", report)
    entry = report["variants"][0]["checks"][0]
    assert entry["status"] == "disagree" and entry["ratio"]["loss"] == "nan"
    # the schema can fail: an undocumented field, a check without its divergence, a finite bound as text
    for path, value in ((("run", "mystery"), 1), (("variants", 0, "checks", 0, "divergence"), None),
                        (("variants", 0, "checks", 0, "multiple"), "2.0")):
        bad = copy.deepcopy(report)
        *parents, last = path
        node = functools.reduce(operator.getitem, parents, bad)
        if value is None:
            del node[last]
        else:
            node[last] = value
        with pytest.raises(jsonschema.ValidationError):
            schema_doc.validate("training", bad)
    assert "<svg" in open(paths["html"]).read()


def test_train_command_writes_the_report(tmp_path, capsys):
    code = cli.main(["train", "im2col", "conv_oracle.mutants:db_averaged_over_batch", "--steps", "20",
                     "--variant", VARIANT.name, "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 1                                                    # the planted bug disagrees
    assert "im2col shapes-8x8x1: agree" in out and "db_averaged_over_batch shapes-8x8x1: disagree" in out
    assert "replay: conv-oracle train conv_oracle.mutants:db_averaged_over_batch --steps 20" in out
    report = json.loads((tmp_path / "training.json").read_text())
    assert report["schema"] == "conv-oracle/training/1"
    assert report["verdicts"] == {"im2col": "agree", "conv_oracle.mutants:db_averaged_over_batch": "disagree"}
    schema_doc.validate("training", report)                            # every field as docs/report-schema.md says
    (variant,) = report["variants"]
    assert set(variant["checks"][0]) == {"impl", "status", "detail", "multiple", "rho", "seconds", "ratio", "worst",
                                         "first_outside", "trajectory", "divergence"}
    assert len(variant["torch"]["loss"]) == 20 and set(variant["width"]) == set(T.METRICS)
    md = (tmp_path / "training.md").read_text()
    assert "| im2col | shapes-8x8x1 | agree | 2 |" in md
    html = (tmp_path / "training.html").read_text()
    assert html.count("<svg") == 1 and "</html>" in html


@pytest.mark.parametrize("argv, cause", [
    (["train", "im2col", "--steps", "0"], "--steps: 0: must be at least 1"),
    (["train", "im2col", "--seed", "-1"], "give a whole number"),
    (["train", "no_such_impl_xyz"], "unknown implementation 'no_such_impl_xyz'"),
    (["train"], "name an implementation"),
    (["train", "im2col", "--variant", "mnist"], "invalid choice: 'mnist'")])
def test_bad_input_is_a_clear_line_and_exit_2(argv, cause, capsys):
    try:
        code = cli.main(argv)
    except SystemExit as exc:                                           # argparse's own exit (after its usage)
        code = exc.code
    assert code == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith("conv-oracle") and cause in last


def test_training_html_renders_in_headless_chromium(baseline, chromium, tmp_path):
    """The training report's HTML as a browser shows it: every section, table cell and plot of
    the section model, no console message, a page that is not blank."""
    from conv_oracle.training_report import build_training, sections, write_training

    checks = [_check(registry.load("im2col"), baseline), _check(mutants.build("db_averaged_over_batch")(), baseline)]
    report = json.loads(open(write_training(build_training([baseline], checks, steps=STEPS, seed=0,
                                                           activation="softplus", seconds=1.0),
                                            str(tmp_path))["json"]).read())
    html = tmp_path / "training.html"
    page = chromium.render(html)
    page.assert_shows(sections(report))
    assert "Verdicts" in page.h2 and f"Trajectories: {VARIANT.name}" in page.h2 and page.svgs == 1
    verdict_rows = {row[0]: row[2] for row in page.tables[0][1:]}
    assert verdict_rows == {"im2col": "agree", "conv_oracle.mutants:db_averaged_over_batch": "disagree"}, verdict_rows
    pixels, console = chromium.screenshot(html, tmp_path / "training.png")
    assert not console and pixels.std() > 10 and (pixels < 200).mean() > 0.01, "blank page or no plot"
    # the check can fail: a page cut short loses sections, tables and the plot
    text = html.read_text()
    cut = tmp_path / "cut.html"
    cut.write_text(text[:text.index("<h2 id=\"baseline\">")])
    with pytest.raises(AssertionError):
        chromium.render(cut).assert_shows(sections(report))
