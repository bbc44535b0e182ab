"""The command line: one-line errors with exit code 2 for bad input, resumable runs,
failures kept in the example database and replayed first."""
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from conv_oracle import config, mutants
from conv_oracle.fuzz import fuzz
from conv_oracle.stream import read
from impls.loop import LoopConv

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
    (["check", "loop", "--resume", "README.md", "--profile", "dev"], "--resume needs a reproducible run"),
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
    """The verdict part of `check`'s output: everything but rates, times and the resume note."""
    return [line for line in stdout.splitlines() if "examples/s" not in line and not line.startswith("resumed:")]


class StallsMidway(LoopConv):
    """The loop reference; with CONV_ORACLE_TEST_STALL_AFTER=k its k-th forward call never
    returns, so a run is interrupted midway whatever the machine's speed."""

    name = "loop-stalls-midway"
    description = "loop that stalls at the k-th forward call when told to"
    calls = 0

    def forward(self, x, w, b, spec):
        StallsMidway.calls += 1
        if StallsMidway.calls == config.test_stall_after():
            threading.Event().wait()
        return super().forward(x, w, b, spec)


def test_interrupted_run_resumes_to_the_same_summary(tmp_path):
    """SIGKILL mid-run with JAX on, then --resume: the same summary, cross-checked count included."""
    common = ["check", "tests.test_cli:StallsMidway", "--profile", "ci", "--trusted"]
    full = cli(*common, "--jsonl", str(tmp_path / "full.jsonl"))
    assert full.returncode == 0, full.stderr
    assert "cross-checked against JAX" in full.stdout and " 0 cross-checked" not in full.stdout, full.stdout
    stream = tmp_path / "partial.jsonl"
    proc = subprocess.Popen(CLI + common + ["--jsonl", str(stream)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True,
                            env={**os.environ, "CONV_ORACLE_TEST_STALL_AFTER": "120"})
    try:
        deadline = time.time() + 120
        while time.time() < deadline and (not stream.exists() or len(read(stream)) < 20):
            time.sleep(0.05)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)      # the CLI and its JAX worker
        proc.wait()
    partial = read(stream)
    assert 20 <= len(partial) < len(read(tmp_path / "full.jsonl")), "the run was not interrupted midway"
    assert any(r.get("jax", {}) and r["jax"]["status"] == "agree" for r in partial), "records lack the JAX verdict"
    resumed = cli(*common, "--resume", str(stream), "--jsonl", str(stream))
    assert resumed.returncode == 0, resumed.stderr
    assert f"resumed: {len(partial)} case records reused" in resumed.stdout
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
    """A distribution registering a plugin whose module does not exist: listed as unavailable
    with its cause, and the built-ins still listed as ok."""
    dist = tmp_path / "broken_conv_plugin-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-conv-plugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[conv_oracle.impls]\nbroken-one = no_such_module_xyz:Plugin\n")
    run = cli("list", env={**os.environ, "PYTHONPATH": str(tmp_path)})
    assert run.returncode == 0, run.stderr
    for name in ("loop", "im2col", "fft", "winograd-f4"):
        assert f"{name}  ok" in run.stdout, run.stdout
    broken = run.stdout.split("broken-one", 1)[1].splitlines()
    assert "unavailable" in broken[0] and "no_such_module_xyz:Plugin" in broken[0]
    assert "ModuleNotFoundError" in broken[1]
