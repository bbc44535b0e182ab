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
