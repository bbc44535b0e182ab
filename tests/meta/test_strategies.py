"""Meta-tests of the spec strategies (array-api-tests ``meta_tests`` style): every family,
every listed realistic layer and every boundary move is reachable; each family is drawn at
its stated share; realistic layers of the size that dispatches to blocked paths fit the ci
budget; capabilities are honoured; a failure shrinks to a small configuration."""
import pytest
from hypothesis import HealthCheck, find, given, settings
from hypothesis import strategies as st

from conv_oracle import profiles, registry
from conv_oracle.fuzz import fuzz
from conv_oracle.plugin import Capabilities
from conv_oracle.strategies import (BOUNDARY_NAMES, FAMILIES, LAYER_NAMES, describe_draws, drawn_specs,
                                    family_examples, family_shares, max_elements_budget, specs)

SEARCH = settings(max_examples=2000, database=None, suppress_health_check=list(HealthCheck))
# what a framework adapter may declare: no groups, stride 1, symmetric padding, no dilation, no bias
NARROW = Capabilities(dtypes=("float32",), max_stride=1, max_dilation=1, asymmetric_padding=False,
                      groups=False, bias=False, kernel_max=3)


@pytest.fixture(autouse=True)
def ci_profile():
    profiles.load("ci")


def _find(strategy, condition):
    return find(strategy, condition, settings=SEARCH)


@pytest.mark.parametrize("family", FAMILIES)
def test_every_family_is_reachable(family):
    drawn = _find(drawn_specs(), lambda d: d.family == family)
    assert drawn.spec.elements <= max_elements_budget("ci")


@pytest.mark.parametrize("layer", LAYER_NAMES)
def test_every_realistic_layer_is_reachable(layer):
    drawn = _find(drawn_specs(family="realistic"), lambda d: d.layer == layer)
    assert drawn.family == "realistic"


@pytest.mark.parametrize("move", BOUNDARY_NAMES)
def test_every_boundary_move_is_reachable(move):
    drawn = _find(drawn_specs(family="boundary"), lambda d: d.move == move)
    assert drawn.family == "boundary" and drawn.layer


@pytest.mark.parametrize("name,family,condition", [
    ("3x3 s1 d1, 16-33 channels, 12x12 to 16x16", "realistic", lambda s: (s.kh, s.kw, s.stride, s.dilation)
     == (3, 3, (1, 1), (1, 1)) and 16 <= s.c <= 33 and 12 <= s.h == s.w <= 16),
    ("output width 1", "realistic", lambda s: s.out_hw[1] == 1 and s.c > 1),
    ("batch > 1 on a 3x3 layer", "realistic", lambda s: s.n > 1 and s.kh == 3),
    ("depthwise with 32 channels", "realistic", lambda s: s.groups == s.c == 32),
    ("C = 3 stem, 7x7 s2 p3", "realistic", lambda s: s.c == 3 and (s.kh, s.stride, s.padding[0]) == (7, (2, 2), (3, 3))),
    ("'same' padding of an even kernel", "realistic", lambda s: s.kh == 4 and s.padding == ((1, 2), (1, 2))),
    ("stride 2 on one axis only", "boundary", lambda s: sorted(s.stride) == [1, 2]),
    ("one extra pad on one side", "boundary", lambda s: s.kh == 3 and s.padding[0] in ((1, 2), (2, 1))),
])
def test_dispatch_configurations_fit_the_ci_budget(name, family, condition):
    drawn = _find(drawn_specs(family=family), lambda d: condition(d.spec))
    assert drawn.family == family and drawn.spec.elements <= max_elements_budget("ci")


def _effective(spec, axis):
    return spec.dilation[axis] * ((spec.kh, spec.kw)[axis] - 1) + 1


@pytest.mark.parametrize("name,condition", [
    ("1x1 image", lambda s: s.h == s.w == 1),
    ("kernel equal to the padded input, with bias", lambda s: s.bias and s.h + sum(s.padding[0]) == _effective(s, 0) > 1),
    ("kernel equal to the padded input along w only", lambda s: s.w + sum(s.padding[1]) == _effective(s, 1)
     and s.h + sum(s.padding[0]) > _effective(s, 0)),
    ("stride larger than the kernel", lambda s: s.stride[0] > s.kh),
    ("padding larger than the effective kernel minus 1", lambda s: s.padding[1][1] > _effective(s, 1) - 1),
    ("a stride that does not divide the padded size", lambda s: (s.h + sum(s.padding[0]) - _effective(s, 0)) % s.stride[0]),
    ("non-square kernel, stride and dilation", lambda s: s.kh != s.kw and s.stride[0] != s.stride[1]
     and s.dilation[0] != s.dilation[1]),
    ("depthwise without bias in float64", lambda s: s.groups == s.c > 1 and not s.bias and s.dtype == "float64"),
    ("grouped with N > 1", lambda s: 1 < s.groups < s.c and s.n > 1),
])
def test_every_adversarial_corner_is_reachable(name, condition):
    drawn = _find(drawn_specs(family="adversarial"), lambda d: condition(d.spec))
    assert drawn.family == "adversarial" and drawn.spec.elements <= max_elements_budget("ci")


def test_the_ci_budget_admits_a_33_channel_3x3_layer_on_16x16():
    from conv_oracle.spec import ConvSpec
    assert ConvSpec.parse("n1c33h16w16f33k3p1").elements <= max_elements_budget("ci") <= 2 ** 15
    assert profiles.MAX_SIDE["ci"] >= 16


def test_family_examples_split_the_count_by_the_stated_shares():
    for profile in profiles.PROFILES:
        shares = family_shares(profile)
        assert set(shares) == set(FAMILIES) and abs(sum(shares.values()) - 1) < 1e-9
        assert shares["realistic"] >= 1 / 3
        for total in (3, 60, 300, 3000):
            counts = family_examples(total, profile)
            assert sum(counts.values()) == total
            assert all(abs(counts[f] - total * shares[f]) <= 1 for f in FAMILIES), (profile, total, counts)


def test_a_fuzzing_run_draws_each_family_at_its_share():
    plugin = registry.load("loop")
    summary = fuzz(plugin, profile="ci", honesty=False)
    assert summary.ok
    asked = family_examples(profiles.EXAMPLES["ci"], "ci")
    # distinct cases: a repeated draw (same descriptor, seed, fill) is one record
    assert all(0.9 * asked[f] <= summary.families[f] <= asked[f] for f in FAMILIES), (summary.families, asked)
    assert sum(summary.families.values()) == summary.examples
    for family, share in family_shares("ci").items():
        assert abs(summary.families[family] / summary.examples - share) < 0.05, summary.families


def test_a_mixed_search_draws_realistic_layers_at_least_a_third_of_the_time():
    """specs() without a family (relations, selftest's oracle-free checks) mixes the families
    in one search; Hypothesis's mutations tilt it towards the adversarial family."""
    seen = []

    @settings(max_examples=300, database=None, derandomize=True)
    @given(drawn_specs())
    def draw(drawn):
        seen.append(drawn.family)

    draw()
    share = {f: seen.count(f) / len(seen) for f in FAMILIES}
    assert share["realistic"] >= 1 / 3, share
    assert all(share[f] >= 0.1 for f in FAMILIES), share


@pytest.mark.parametrize("family", FAMILIES)
def test_narrow_capabilities_are_honoured_and_still_get_real_layers(family):
    seen = []

    @settings(max_examples=100, database=None, derandomize=True)
    @given(drawn_specs(NARROW, family=family))
    def draw(drawn):
        assert not NARROW.unsupported_reasons(drawn.spec), drawn
        assert drawn.spec.elements <= max_elements_budget("ci")
        seen.append(drawn.family)

    draw()
    assert set(seen) == {family}, f"{family} fell back to {set(seen) - {family}}"


def test_every_drawn_spec_fits_the_budget_and_the_capabilities():
    caps = registry.load("winograd-f4").capabilities

    @settings(max_examples=200, database=None, derandomize=True)
    @given(specs(caps))
    def draw(spec):
        assert spec.elements <= max_elements_budget("ci")
        assert not caps.unsupported_reasons(spec), spec

    draw()


def test_a_realistic_failure_shrinks_to_a_small_configuration():
    """A bug on 3x3 s1 layers with C >= 16 shrinks to the smallest such layer."""
    found = _find(drawn_specs(family="realistic"), lambda d: (d.spec.kh, d.spec.stride, d.spec.dilation)
                  == (3, (1, 1), (1, 1)) and d.spec.c >= 16 and d.spec.groups == 1).spec
    assert (found.n, found.c, found.f, found.h * found.w, found.bias) == (1, 16, 1, 1, False), found


def test_shares_are_described_for_headers_and_summaries():
    line = describe_draws("ci")
    for family, share in family_shares("ci").items():
        assert f"{family} {share:.0%}" in line
    assert str(max_elements_budget("ci")) in line


def test_the_budget_environment_variable_still_overrides(monkeypatch):
    monkeypatch.setenv("CONV_ORACLE_MAX_ELEMENTS", "500")

    @settings(max_examples=50, database=None, derandomize=True)
    @given(specs())
    def draw(spec):
        assert spec.elements <= 500

    draw()
    monkeypatch.setenv("CONV_ORACLE_MAX_ELEMENTS", "five")
    with pytest.raises(ValueError, match="whole number"):
        max_elements_budget()


def test_unknown_family_is_refused():
    with pytest.raises(ValueError, match="unknown spec family"):
        find(drawn_specs(family="realistc"), lambda d: True, settings=SEARCH)



@pytest.mark.parametrize("budget", [200, 3000, 30_000, 250_000])
def test_realistic_size_options_are_exactly_the_sizes_that_fit(budget):
    """The option lists are found by bisection (elements grow with every size field): each must
    be what filtering every candidate through ConvSpec.elements gives."""
    from conv_oracle import strategies as S
    from conv_oracle.spec import ConvSpec

    def fits(layer, n, c, h, w, f, g):
        return ConvSpec(n, c, h, w, f, layer.k, layer.k, (layer.stride,) * 2, layer.padding_pairs(),
                        (layer.dilation,) * 2, g, False).elements <= budget

    for layer in dict.fromkeys(S.LAYERS):
        side = S._smallest_side(layer)
        if not layer.stem:
            assert S._channel_options(layer, budget) == tuple(k for k in S.CHANNELS if fits(layer, 1, k, side, side, 1, 1))
        for c in (1, 3, 16, 64):
            assert S._filter_options(layer, budget, c) == tuple(k for k in S.CHANNELS if fits(layer, 1, c, side, side, k, 1))
        for g in S.GROUPS:
            assert S._per_group_options(layer, budget, g) == \
                tuple(k for k in S.PER_GROUP if fits(layer, 1, g * k, side, side, g * k, g))
        for n, c, f, g in ((1, 1, 1, 1), (2, 16, 33, 1), (4, 8, 8, 8), (1, 64, 64, 64)):
            assert S._batch_options(layer, budget, c, f, g) == tuple(k for k in S.BATCHES if fits(layer, k, c, side, side, f, g))
            for max_side in (16, 64):
                sides = [s for s in S.SIDES if side <= s <= max_side]
                assert S._side_options(layer, budget, max_side, n, c, f, g, True) == \
                    tuple(s for s in sides if fits(layer, n, c, s, s, f, g))
                heights = S._side_options(layer, budget, max_side, n, c, f, g, False)
                assert heights == tuple(s for s in sides if fits(layer, n, c, s, side, f, g))
                for h in heights[-1:]:
                    assert S._side_options(layer, budget, max_side, n, c, f, g, False, h) == \
                        tuple(s for s in sides if fits(layer, n, c, h, s, f, g))


def test_profiles_leave_out_the_explain_phase_and_keep_shrinking():
    """Explain traces every call after a failure (sys.settrace on 3.11), which slowed shrinking
    1.4-3x (conv_oracle.profiles); shrinking itself stays on in every profile."""
    from hypothesis import Phase

    for name in profiles.PROFILES:
        phases = settings.get_profile(name).phases
        assert Phase.explain not in phases and Phase.shrink in phases and Phase.generate in phases, (name, phases)
