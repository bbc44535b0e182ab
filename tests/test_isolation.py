"""Faulty implementations are contained and classified, each with its case descriptor;
the run goes on with the next case and the next implementation."""
import pytest

from conv_oracle import registry
from conv_oracle.isolation import IsolatedExecutor
from conv_oracle.runner import run_case
from conv_oracle.spec import ConvSpec

SPEC = ConvSpec.parse("n2c3h5w5f3k3p1 f64")   # y has x's shape, so aliasing is possible
EXPECTED = [
    ("Raises", "raised"), ("WrongShape", "shape"), ("WrongDtype", "dtype"), ("ReturnsNaN", "nonfinite"),
    ("MutatesInput", "mutated-input"), ("AliasesInput", "aliases-input"), ("Hangs", "hang"),
    ("ExitsInterpreter", "crashed"), ("Segfaults", "crashed"), ("AllocatesWithoutBound", "memory-limit"),
]


@pytest.mark.parametrize("attr,kind", EXPECTED, ids=[a for a, _ in EXPECTED])
def test_faulty_plugin_is_classified(attr, kind):
    name = f"tests.faulty.plugins:{attr}"
    plugin = registry.load(name)
    with IsolatedExecutor(name, timeout=10, memory_limit=2**30) as executor:
        result = run_case(plugin, SPEC, 0, "normal", executor=executor)
        assert result.status == "fail" and result.kind == kind, result.message()
        assert result.descriptor == SPEC.descriptor() and SPEC.descriptor() in result.message()
        assert "replay: conv-oracle check tests.faulty.plugins:" in result.message()
        # the worker comes back for the next case: the loop reference's answer passes through it
        healthy = registry.load("loop")
        good = run_case(healthy, SPEC, 1, "normal", executor=IsolatedExecutor("loop", timeout=30))
        assert good.ok, good.message()


def test_in_process_path_classifies_the_catchable_kinds():
    for attr, kind in EXPECTED[:6]:
        result = run_case(registry.load(f"tests.faulty.plugins:{attr}"), SPEC, 0, "normal")
        assert result.kind == kind, result.message()


def test_isolated_results_equal_in_process_results():
    plugin = registry.load("loop")
    with IsolatedExecutor("loop") as executor:
        for text in ("n2c3h9w7f4k3x3s2x1p1,0,2,1d1x1g1b1 f32", "n1c4h5w6f2k2x3s1x3p0,2,1,0d2x1g2b0 f64"):
            spec = ConvSpec.parse(text)
            a, b = run_case(plugin, spec, 3, "normal"), run_case(plugin, spec, 3, "normal", executor=executor)
            assert a.to_dict() == b.to_dict()
