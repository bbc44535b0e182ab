"""Faulty implementations are contained and classified, each with its case descriptor;
the run goes on with the next case and the next implementation."""
import time

import pytest

from conv_oracle import registry
from conv_oracle.fuzz import fuzz
from conv_oracle.isolation import DEFAULT_TIMEOUT_FLOOR_S, IsolatedExecutor
from conv_oracle.runner import run_case
from conv_oracle.spec import ConvSpec

SPEC = ConvSpec.parse("n2c3h5w5f3k3p1 f64")   # y has x's shape, so aliasing is possible
EXPECTED = [
    ("Raises", "raised"), ("WrongShape", "shape"), ("WrongDtype", "dtype"), ("ReturnsNaN", "nonfinite"),
    ("MutatesInput", "mutated-input"), ("AliasesInput", "aliases-input"), ("Hangs", "hang"),
    ("ExitsInterpreter", "crashed"), ("Segfaults", "crashed"), ("AllocatesWithoutBound", "memory-limit"),
    ("CallsSysExit", "crashed"), ("RaisesKeyboardInterrupt", "raised"), ("Allocates30GB", "memory-limit"),
]
# the true cause, not a guess: an exit code is an exit code, a plugin's KeyboardInterrupt is its fault
CAUSES = {"ExitsInterpreter": "exited with code 3", "CallsSysExit": "exited with code 3",
          "Segfaults": "killed by signal SIGSEGV", "RaisesKeyboardInterrupt": "KeyboardInterrupt raised by the plugin",
          "Hangs": "no answer within 10 s",
          "AllocatesWithoutBound": "GiB resident, over a limit of 0.25 GiB added to the"}


# small enough to be crossed in well under the 10 s timeout on a loaded machine (touching 1 GiB
# took several seconds there, and the fault was reported as a hang)
MEMORY_LIMIT = 256 * 2**20


@pytest.mark.parametrize("attr,kind", EXPECTED, ids=[a for a, _ in EXPECTED])
def test_faulty_plugin_is_classified(attr, kind):
    name = f"tests.faulty.plugins:{attr}"
    plugin = registry.load(name)
    with IsolatedExecutor(name, timeout=10, memory_limit=MEMORY_LIMIT) as executor:
        result = run_case(plugin, SPEC, 0, "normal", executor=executor)
        assert result.status == "fail" and result.kind == kind, result.message()
        assert result.descriptor == SPEC.descriptor() and SPEC.descriptor() in result.message()
        assert "replay: conv-oracle check tests.faulty.plugins:" in result.message()
        assert CAUSES.get(attr, "") in result.detail, result.detail
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


def test_plugin_output_is_captured_per_case_and_its_tail_kept(capfd):
    name = "tests.faulty.plugins:Chatty"
    with IsolatedExecutor(name, timeout=30) as executor:
        result = run_case(registry.load(name), SPEC, 0, "normal", executor=executor)
    out, err = capfd.readouterr()
    assert "chatty" not in out + err, "the plugin's output reached the terminal"
    assert result.kind == "raised" and "gave up after talking" in result.detail
    assert "chatty stdout line 199" in result.detail and "chatty stderr from the file descriptor" in result.detail
    assert "chatty stdout line 000" not in result.detail, "the kept output is not bounded to its tail"


def test_default_timeout_is_the_floor_for_a_small_case():
    executor = IsolatedExecutor("loop")
    seconds, why = executor.case_timeout(SPEC, None)
    assert seconds == DEFAULT_TIMEOUT_FLOOR_S and "floor" in why


def test_default_timeout_grows_with_the_oracle_time_on_a_large_case():
    from conv_oracle.cases import make_arrays

    big = ConvSpec.parse("n2c32h64w64f32k3p1 f32")          # 75 M MACs
    seconds, why = IsolatedExecutor("loop").case_timeout(big, make_arrays(big, 0))
    assert seconds >= DEFAULT_TIMEOUT_FLOOR_S and "torch oracle's" in why


@pytest.mark.parametrize("attr", ["Hangs", "ExitsInterpreter", "AllocatesWithoutBound"])
def test_search_stops_at_the_first_fatal_fault(attr):
    """No shrinking through timeouts and restarts: one case, reported, and the search ends."""
    name = f"tests.faulty.plugins:{attr}"
    start = time.perf_counter()
    with IsolatedExecutor(name, timeout=3, memory_limit=MEMORY_LIMIT) as executor:
        summary = fuzz(registry.load(name), profile="ci", executor=executor)
    assert time.perf_counter() - start < 2 * 3 + 15
    faults = [r for r in summary.results if r.kind in ("hang", "crashed", "memory-limit")]
    assert len(faults) == 1 and faults[0] is summary.results[-1], "the search went on after a fatal fault"
    assert len(summary.failures) == 1 and summary.honesty_examples == 0
    assert summary.stopped_by == summary.failures[0].kind == faults[0].kind


def _address_space(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        return next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmSize:"))


def test_reserved_but_untouched_memory_is_not_charged():
    """The memory limit is on what a worker touches: 8 GiB reserved, one page of each GiB used."""
    name = "tests.faulty.plugins:ReservesUntouched"
    with IsolatedExecutor(name, timeout=30, memory_limit=MEMORY_LIMIT) as executor:
        result = run_case(registry.load(name), SPEC, 0, "normal", executor=executor)
        assert result.ok, result.message()
        assert _address_space(executor._process.pid) > 8 * 2**30 > 30 * MEMORY_LIMIT, "it reserved too little to tell"


def test_onnxruntime_sessions_do_not_run_into_the_memory_limit():
    """ONNX Runtime reserves a 1 MiB arena per session and touches a small part of it: 600
    sessions kept in one worker are 600 MiB of address space, well under 256 MiB resident."""
    pytest.importorskip("onnxruntime", reason="onnxruntime is not installed (pip install 'conv-oracle[frameworks]')")
    name = "tests.faulty.plugins:KeepsOnnxSessions"
    with IsolatedExecutor(name, timeout=120, memory_limit=MEMORY_LIMIT) as executor:
        assert executor._start() == ""                # the worker, ready: its address space before the case
        before = _address_space(executor._process.pid)
        result = run_case(registry.load(name), SPEC, 0, "normal", executor=executor)
        assert result.ok, result.message()
        grown = _address_space(executor._process.pid) - before
        assert grown > 2 * MEMORY_LIMIT, f"the sessions reserved only {grown / 2**20:.0f} MiB: the test shows nothing"


def test_a_worker_still_allocating_at_its_timeout_is_a_memory_fault_not_a_hang():
    """64 MiB per 0.1 s reaches a 1 GiB limit after about 1.6 s, past the 1 s timeout: the worker
    is watched on while its memory grows, and the fault is reported as what it is."""
    name = "tests.faulty.plugins:AllocatesSlowly"
    start = time.perf_counter()
    with IsolatedExecutor(name, timeout=1, memory_limit=2**30) as executor:
        result = run_case(registry.load(name), SPEC, 0, "normal", executor=executor)
    assert result.kind == "memory-limit" and "over a limit of 1.00 GiB" in result.detail, result.message()
    assert time.perf_counter() - start < 60


def test_memory_of_the_processes_a_plugin_starts_is_charged_to_its_worker():
    """A plugin waits on a child process that touches 1 GiB (a library's compiler, say): the worker
    is stopped at its limit as a memory fault, not left to hang, and the child goes with it."""
    import psutil

    from tests.faulty.plugins import HUNGRY_CHILD_MARK

    name = "tests.faulty.plugins:SpawnsHungryChild"
    with IsolatedExecutor(name, timeout=30, memory_limit=MEMORY_LIMIT) as executor:
        result = run_case(registry.load(name), SPEC, 0, "normal", executor=executor)
    assert result.kind == "memory-limit" and "over a limit of 0.25 GiB" in result.detail, result.message()
    time.sleep(0.5)
    left = [p.pid for p in psutil.process_iter(["cmdline"]) if HUNGRY_CHILD_MARK in (p.info["cmdline"] or [])]
    assert not left, f"the plugin's child outlived its worker: {left}"


def test_a_hang_is_still_reported_at_its_timeout():
    start = time.perf_counter()
    with IsolatedExecutor("tests.faulty.plugins:Hangs", timeout=2, memory_limit=2**30) as executor:
        result = run_case(registry.load("tests.faulty.plugins:Hangs"), SPEC, 0, "normal", executor=executor)
    assert result.kind == "hang" and time.perf_counter() - start < 2 + 10, result.message()
