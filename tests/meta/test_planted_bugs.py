"""The harness must catch realistic bugs planted in copies of the loop implementation,
in the ci profile, and must not flag a correct implementation that sums in another order."""
import pytest

from conv_oracle import mutants, selftest


@pytest.mark.parametrize("mutation", mutants.MUTATIONS, ids=lambda m: m.name)
def test_planted_bug_is_caught(mutation):
    outcome = selftest.run_one(mutation, profile="ci")
    assert outcome.killed, f"mutant {mutation.name} ({mutation.description}) survived {outcome.examples} examples"


@pytest.mark.parametrize("variant", mutants.SUMMATION_ORDER_VARIANTS, ids=lambda m: m.name)
def test_correct_summation_order_is_not_flagged(variant):
    outcome = selftest.run_one(variant, profile="ci")
    assert not outcome.killed, f"false alarm on {variant.name}: {outcome.check} {outcome.evidence}"


def test_mutant_areas_cover_the_issue_list():
    areas = " ".join(m.area for m in mutants.MUTATIONS)
    for area in ("forward", "dx", "dw", "db", "padding", "stride", "dilation", "groups", "bias", "dtype", "batch"):
        assert area in areas, f"no planted bug in area {area}"
    assert len(mutants.MUTATIONS) >= 20


@pytest.mark.parametrize("impl", ["im2col", "fft", "winograd-f4"])
def test_output_mutants_of_any_plugin_are_detected(impl):
    """selftest --impl: every output mutant of a built-in is caught in the ci profile."""
    from conv_oracle import output_mutants, registry

    found = output_mutants.detect(registry.load(impl), "ci")
    assert {d.mutant for d in found} == {m.name for m in output_mutants.OUTPUT_MUTANTS}
    missed = [f"{d.mutant} ({d.examples} examples)" for d in found if not d.detected]
    assert not missed, f"{impl}: output mutants not detected: {', '.join(missed)}"


@pytest.mark.parametrize("mutation", mutants.MUTATIONS, ids=lambda m: m.name)
def test_planted_bug_models_its_bug_rather_than_crashing(mutation):
    """A mutant that dies of a NameError is 'caught' for the wrong reason: each one must run
    forward and backward on a padded, biased, strided case (its bug then shows in the numbers)."""
    import numpy as np

    from conv_oracle.cases import make_arrays
    from conv_oracle.spec import ConvSpec

    plugin = mutants.build(mutation.name)()
    for descriptor in ("n2c4h7w6f4k3x2s2x1p1,2,0,1d1x2g2b1 f64", "n2c2h5w5f2k3 f32"):
        spec = ConvSpec.parse(descriptor)
        if plugin.capabilities.unsupported_reasons(spec):
            continue
        a = make_arrays(spec, 0)
        try:
            plugin.forward(a.x, a.w, a.b, spec)
            plugin.backward(a.x, a.w, a.b, a.gy, spec)
        except (NameError, UnboundLocalError, SyntaxError) as exc:
            pytest.fail(f"mutant {mutation.name} does not run: {type(exc).__name__}: {exc}")
        except Exception:
            pass        # raising ValueError on a shape is a legitimate way for some bugs to show
