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
