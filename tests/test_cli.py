"""The command line: one-line errors with exit code 2 for bad input, resumable runs,
failures kept in the example database and replayed first."""
import signal
import subprocess
import sys
import time

import pytest

from conv_oracle import mutants
from conv_oracle.fuzz import fuzz
from conv_oracle.stream import read

CLI = [sys.executable, "-m", "conv_oracle.cli"]


def cli(*args, timeout=300, **kwargs):
    return subprocess.run(CLI + list(args), capture_output=True, text=True, timeout=timeout, **kwargs)


@pytest.mark.parametrize("args,message", [
    (["check", "loop", "--case", "n2c3h9w7f4"], "malformed descriptor"),
    (["check", "loop", "--case", "n1c3h5w5f4k3g2"], "c=3 is not divisible by groups=2"),
    (["check", "loop", "--case", "n1c1h2w2f1k5"], "effective kernel 5 along h"),
    (["check", "nosuchimpl"], "unknown implementation 'nosuchimpl'; known: "),
    (["check", "no_such_module_xyz:Thing"], "is unavailable: ModuleNotFoundError"),
    (["check", "impls.loop:np"], "is unavailable: TypeError"),
    (["check", "loop", "--fill", "integer"], "--fill only applies to a single --case"),
    (["check", "loop", "--case", "n1c1h3w3f1k3", "--examples", "5"], "does not combine"),
    (["check", "loop", "--resume", "x.jsonl", "--profile", "dev"], "--resume needs a reproducible run"),
])
def test_bad_input_is_one_line_exit_2(args, message):
    run = cli(*args)
    assert run.returncode == 2, run.stdout + run.stderr
    lines = [line for line in run.stderr.splitlines() if line.startswith("conv-oracle: error:")]
    assert len(lines) == 1 and message in lines[0], run.stderr
    assert "Traceback" not in run.stderr


def test_work_budget_is_checked_before_allocation():
    start = time.perf_counter()
    run = cli("check", "loop", "--case", "n4096c4096h4096w4096f4096k3 f64", "--no-jax", "--trusted")
    assert run.returncode == 2 and "over the budget" in run.stderr
    assert time.perf_counter() - start < 60      # 2 TB of arrays were never allocated


def _summary_lines(stdout: str) -> list[str]:
    """The verdict part of `check`'s output: everything but rates and times."""
    return [line for line in stdout.splitlines() if "examples/s" not in line]


def test_interrupted_run_resumes_to_the_same_summary(tmp_path):
    common = ["check", "loop", "--profile", "ci", "--no-jax", "--trusted"]
    full = cli(*common, "--jsonl", str(tmp_path / "full.jsonl"))
    assert full.returncode == 0, full.stderr
    stream = tmp_path / "partial.jsonl"
    proc = subprocess.Popen(CLI + common + ["--jsonl", str(stream)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and (not stream.exists() or len(read(stream)) < 20):
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done_before = len(read(stream))
    assert 20 <= done_before < len(read(tmp_path / "full.jsonl")), "the run was not interrupted midway"
    resumed = cli(*common, "--resume", str(stream), "--jsonl", str(stream))
    assert resumed.returncode == 0, resumed.stderr
    assert _summary_lines(resumed.stdout) == _summary_lines(full.stdout)


def test_failures_are_kept_and_replayed_first(tmp_path, monkeypatch):
    monkeypatch.setenv("CONV_ORACLE_DB", str(tmp_path / "db"))
    plugin = mutants.build("bias_ignored")()
    first = fuzz(plugin, profile="dev", examples=200, honesty=False)
    assert first.failures and any((tmp_path / "db").rglob("*"))
    again = fuzz(plugin, profile="dev", examples=200, honesty=False)
    assert not again.results[0].ok, "the stored failing example was not replayed first"
    assert again.results[0].descriptor == first.failures[0].descriptor


def test_list_shows_builtins_and_a_broken_plugin(tmp_path):
    run = cli("list")
    assert run.returncode == 0
    for name in ("loop", "im2col", "fft", "winograd-f4"):
        assert name in run.stdout
