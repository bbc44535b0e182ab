"""The engine: one driver, one verdict. A bad error model is a failure of kind ``model``;
every distinct failure is reported with its first and shrunk case; a starved campaign is
``insufficient``; the example database is keyed per plugin and search; a time budget."""
import numpy as np
import pytest

from conv_oracle import mutants
from conv_oracle.bounds import DirectSum, ErrorModel
from conv_oracle.engine import INSUFFICIENT, relation_case, run_campaign
from conv_oracle.plugin import Capabilities
from conv_oracle.runner import run_case
from conv_oracle.spec import ConvSpec
from impls.loop import LoopConv

SPEC = ConvSpec.parse("n2c3h5w5f2k3p1 f64")


class BrokenModel(ErrorModel):
    """DirectSum's bound, spoiled one way."""

    def __init__(self, how: str):
        self.how, self.name = how, f"broken-{how}"

    def bounds(self, ctx):
        good = DirectSum().bounds(ctx)
        spoil = {"nan": lambda a: np.full_like(a, np.nan), "inf": lambda a: a + np.inf,
                 "shape": lambda a: a.reshape(-1)[:1], "negative": lambda a: -a - 1.0,
                 "missing": None, "raises": None}[self.how]
        if self.how == "raises":
            raise ZeroDivisionError("model bug")
        if self.how == "missing":
            good.pop("dw")
            return good
        return {o: spoil(a) if o == "y" else a for o, a in good.items()}


def plugin_with(how: str):
    return type(f"Loop_{how}", (LoopConv,), {"name": f"loop-model-{how}", "error_model": BrokenModel(how)})()


@pytest.mark.parametrize("how", ["nan", "inf", "shape", "negative", "missing", "raises"])
def test_a_bad_error_model_is_a_model_failure(how):
    result = run_case(plugin_with(how), SPEC, 0, "normal")
    assert result.status == "fail" and result.kind == "model", result.message()
    assert "error model" in result.detail and f"broken-{how}" in result.detail
    # the same verdict from the relations and from a campaign
    rel = relation_case(plugin_with(how), "adjoint", SPEC, 0)
    assert rel.status == "fail" and rel.kind == "model", rel.message()
    summary = run_campaign(plugin_with(how), profile="ci", examples=5, searches=["oracle"])
    assert summary.verdict == "fail" and {f.shrunk.kind for f in summary.findings} == {"model"}


def test_a_bound_is_not_needed_where_the_inputs_are_not_finite():
    """Loop's honest DirectSum bound is NaN/Inf exactly where NaN/Inf inputs reach: not a model failure."""
    for seed in range(5):
        result = run_case(LoopConv(), SPEC, seed, "nonfinite")
        assert result.ok, result.message()


class TwoBugs(LoopConv):
    name = "loop-two-bugs"
    description = "drops the bias in y and halves dw"

    def forward(self, x, w, b, spec):
        y = super().forward(x, w, b, spec)
        return y if b is None else y - b[None, :, None, None]

    def backward(self, x, w, b, gy, spec):
        dx, dw, db = super().backward(x, w, b, gy, spec)
        return dx, dw / 2, db


def test_every_distinct_failure_is_reported_with_first_and_shrunk_case():
    summary = run_campaign(TwoBugs(), profile="ci", searches=["oracle"])
    outputs = {f.shrunk.failed_output() for f in summary.findings}
    assert {"y", "dw"} <= {o for out in outputs for o in out.split(",")}, [f.signature for f in summary.findings]
    for f in summary.findings:
        assert not f.first.ok and not f.shrunk.ok and f.first.signature == f.shrunk.signature
        assert ConvSpec.parse(f.shrunk.descriptor).elements <= ConvSpec.parse(f.first.descriptor).elements
    keys = [r.key for r in summary.results]
    assert len(keys) == len(set(keys)), "a shrink call added a second record of a case"
    assert summary.examples == len(summary.results) and summary.shrink_calls > 0


def test_the_hint_names_a_dropped_bias():
    result = run_case(TwoBugs(), ConvSpec.parse("n1c2h4w4f3k3p1 f64"), 1, "normal")
    assert result.kind == "bound" and "off by exactly the bias" in result.hint, result.message()


class Starved(LoopConv):
    name = "loop-starved"
    description = "loop declaring a budget so small that few drawn cases fit"
    capabilities = Capabilities(dtypes=("float64",), max_elements=12, groups=False, max_stride=1, max_dilation=1)


def test_a_starved_campaign_is_insufficient_never_a_pass():
    summary = run_campaign(Starved(), profile="ci", searches=["oracle"])
    assert summary.examples < summary.examples_asked / 2, summary.examples
    assert summary.verdict == INSUFFICIENT and not summary.ok
    assert "INSUFFICIENT" in summary.line() and f"only {summary.examples} of 60" in summary.line()


def test_the_example_database_is_keyed_per_plugin_and_search(tmp_path):
    from hypothesis.database import DirectoryBasedExampleDatabase

    db = DirectoryBasedExampleDatabase(str(tmp_path))
    keys = []
    for name in ("bias_ignored", "dw_averaged_over_batch"):
        before = set(p.name for p in tmp_path.iterdir())
        summary = run_campaign(mutants.build(name)(), profile="dev", examples=100, database=db, searches=["oracle"])
        assert summary.findings
        keys.append(set(p.name for p in tmp_path.iterdir()) - before)
    assert keys[0] and keys[1] and not keys[0] & keys[1], "two plugins saved their failures under one key"


def test_a_time_budget_fuzzes_for_that_time_and_counts():
    summary = run_campaign(LoopConv(), profile="ci", minutes=0.05, searches=["oracle", "relation:adjoint"])
    assert summary.examples_asked == 0 and summary.minutes == 0.05
    assert summary.examples >= 5 and summary.relation_examples["adjoint"] >= 1
    assert summary.seconds < 0.05 * 60 + 15
    assert summary.verdict == "pass", summary.line()


def test_homogeneity_owes_no_exactness_on_the_subnormal_grid():
    """float16 dw(x) of 6e-5 is subnormal, its double is not: 2*round(s) != round(2s) there.
    A correct float32-accumulating plugin passes; off that grid exactness is still owed."""
    from impls.im2col import Im2colConv

    spec = ConvSpec.parse("n1c64h3w3f3k3x3s1x1p2,2,2,2d2x2g1b0 f16")
    result = relation_case(Im2colConv(), "homogeneity", spec, 16)
    assert result.ok, result.message()
    dw = next(v for v in result.verdicts if v.output.startswith("homogeneity dw"))
    assert not dw.exact_required and dw.max_ratio > 0      # the case does reach the subnormal grid
    normal = relation_case(Im2colConv(), "homogeneity", ConvSpec.parse("n2c3h5w5f2k3 f32"), 0)
    assert all(v.exact_required for v in normal.verdicts)
