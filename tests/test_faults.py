"""Faults around the plugin call: bad input is one line and exit 2, import is a fault
boundary, a --trusted run that loses its summary fails, an interrupted or torn stream
resumes with nothing lost and nothing doubled, and nothing is left running when the CLI
is killed (SIGKILL included) or interrupted."""
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from conv_oracle import registry
from conv_oracle.stream import read

CLI = [sys.executable, "-m", "conv_oracle.cli"]
ROOT = Path(__file__).resolve().parents[1]


def cli(*args, env=None, prefix=(), timeout=300):
    environment = dict(os.environ, **(env or {}))
    return subprocess.run([*prefix, *CLI, *args], capture_output=True, text=True, timeout=timeout, env=environment,
                          cwd=ROOT)


def assert_one_line_exit_2(run, message):
    assert run.returncode == 2, (run.returncode, run.stdout[-2000:], run.stderr[-2000:])
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1, run.stderr
    assert lines[0].startswith("conv-oracle: error: ") and message in lines[0], lines[0]
    assert "Traceback" not in run.stderr + run.stdout


# ---- section 3: every bad input is one line and exit 2 ----------------------------------------
BAD_ARGUMENTS = [
    (["check", "loop", "--timeout", "0"], "--timeout: must be a positive, finite number of seconds"),
    (["check", "loop", "--timeout", "-5"], "--timeout: must be a positive, finite number of seconds"),
    (["check", "loop", "--timeout", "nan"], "--timeout: must be a positive, finite number of seconds"),
    (["check", "loop", "--memory-limit", "-1"], "--memory-limit: must be 0 (no limit)"),
    (["check", "loop", "--memory-limit", "1"], "too small to run a worker: give at least 64, or 0 for no limit"),
    (["check", "loop", "--examples", "\u0663"], "give a whole number (ASCII digits)"),
    (["check", "loop", "--case", "n1c1h3w3f1k3", "--seed", "-1"], "--seed: seed '-1'"),
    (["check", "loop", "--jsonl", "/no/such/dir/run.jsonl"], "directory '/no/such/dir' does not exist"),
    (["check", "loop", "--jsonl", "tests"], "'tests' is a directory"),
    (["check", "loop", "--profile", "ci", "--resume", "tests"], "'tests' is a directory, not a file"),
    (["check", "loop", "--profile", "ci", "--resume", "no-such.jsonl"], "no such file 'no-such.jsonl'"),
    (["check", "loop", "--profile", "nope"], "invalid choice: 'nope'"),
    (["report", "--out", "README.md"], "--out: README.md is a file, not a directory"),
    (["report", "--impl", "nosuch"], "unknown implementation 'nosuch'"),
    (["report", "--examples", "0"], "must be at least 1"),
    (["selftest", "--mutant", "nosuch"], "unknown mutant 'nosuch'"),
    (["selftest", "--impl", "loop", "--timeout", "0"], "--timeout: must be a positive, finite number of seconds"),
    (["selftest", "--impl", "loop", "--memory-limit", "1"], "too small to run a worker: give at least 64, or 0"),
    (["selftest", "--timeout", "5"], "--timeout applies to the workers of selftest --impl only"),
    (["selftest", "--impl", "loop", "--trusted", "--memory-limit", "0"],
     "--memory-limit applies to the workers of selftest --impl only"),
    (["bench", "--repeats", "0"], "--repeats: 0: must be at least 1"),
    (["bench", "--from-json", "README.md"], "bench --from-json README.md"),
    (["nosuchcommand"], "invalid choice: 'nosuchcommand'"),
    (["check", "loop", "--case", "n1c1h3w3f1k3" + "9" * 400], "..."),      # a long input is cut
]


@pytest.mark.parametrize("args,message", BAD_ARGUMENTS, ids=[" ".join(a)[:40] for a, _ in BAD_ARGUMENTS])
def test_bad_argument_is_one_line_exit_2(args, message):
    assert_one_line_exit_2(cli(*args), message)


BAD_ENVIRONMENT = [
    ({"CONV_ORACLE_MAX_ELEMENTS": "abc"}, "CONV_ORACLE_MAX_ELEMENTS='abc': give a whole number"),
    ({"CONV_ORACLE_MAX_ELEMENTS": "-5"}, "CONV_ORACLE_MAX_ELEMENTS='-5': give a whole number"),
    ({"CONV_ORACLE_MAX_ELEMENTS": "5"}, "CONV_ORACLE_MAX_ELEMENTS=5: must be at least 10"),
    ({"CONV_ORACLE_PROFILE": "nope"}, "CONV_ORACLE_PROFILE='nope': choose one of ci, dev, thorough"),
    ({"CONV_ORACLE_CACHE": "README.md/cache"}, "README.md is not a directory"),
    ({"CONV_ORACLE_TEST_STALL_AFTER": "soon"}, "CONV_ORACLE_TEST_STALL_AFTER='soon': give a whole number"),
]


@pytest.mark.parametrize("env,message", BAD_ENVIRONMENT, ids=[next(iter(e.items()))[1] for e, _ in BAD_ENVIRONMENT])
def test_bad_environment_is_one_line_exit_2(env, message):
    assert_one_line_exit_2(cli("check", "loop", "--case", "n1c1h3w3f1k3", "--no-jax", env=env), message)


def test_unknown_impl_in_the_environment_is_one_line_exit_2_for_report():
    assert_one_line_exit_2(cli("report", env={"CONV_ORACLE_IMPLS": "nosuch"}),
                           "CONV_ORACLE_IMPLS: unknown implementation 'nosuch'")


def _unprivileged():
    """A command prefix that drops root (root may write anywhere), or () when not root."""
    if os.geteuid() != 0:
        return ()
    if shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv (util-linux): cannot make a directory unwritable")
    return ("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups")


@pytest.fixture
def unwritable():
    """A directory nobody but root may write to, in a directory anyone may enter (pytest's
    own tmp_path lies under a root-only directory)."""
    with tempfile.TemporaryDirectory(prefix="conv-oracle-unwritable-") as top:
        os.chmod(top, 0o755)
        locked = Path(top) / "locked"
        locked.mkdir(mode=0o555)
        yield locked
        locked.chmod(0o755)


@pytest.mark.parametrize("args,env,message", [
    (["check", "loop", "--jsonl", "{d}/run.jsonl"], {}, "is not writable"),
    (["report", "--out", "{d}/reports"], {}, "is not writable"),
    (["check", "loop", "--case", "n1c1h3w3f1k3"], {"CONV_ORACLE_CACHE": "{d}/cache"}, "is not writable"),
], ids=["jsonl", "report-out", "cache"])
def test_unwritable_path_is_one_line_exit_2(unwritable, args, env, message):
    args = [a.format(d=unwritable) for a in args]
    env = {k: v.format(d=unwritable) for k, v in env.items()}
    assert_one_line_exit_2(cli(*args, env=env, prefix=_unprivileged()), message)


def test_full_disk_is_one_line_exit_2():
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full on this system")
    run = cli("check", "loop", "--profile", "ci", "--no-jax", "--jsonl", "/dev/full")
    assert_one_line_exit_2(run, "cannot write to /dev/full: No space left on device")


@pytest.mark.parametrize("content,message", [
    (b"\x00\xffnot json at all\n", "is not a stream of conv-oracle records: line 1"),
    (b'{"impl": "fft", "descriptor": "n1c1h1w1f1k1", "seed": 0, "fill": "normal", "status": "pass", '
     b'"verdicts": []}\n', "holds records of fft, none of loop"),
], ids=["garbage", "another-plugin"])
def test_resume_from_a_wrong_file_is_one_line_exit_2(tmp_path, content, message):
    stream = tmp_path / "run.jsonl"
    stream.write_bytes(content)
    assert_one_line_exit_2(cli("check", "loop", "--profile", "ci", "--no-jax", "--resume", str(stream)), message)


def test_descriptor_error_names_the_field():
    assert_one_line_exit_2(cli("check", "loop", "--case", "n1c1h3w3f1k3s0", "--no-jax"), "stride")


# ---- report exit codes, as check's ----------------------------------------------------------------
def test_report_exits_1_when_a_selected_plugin_fails(tmp_path):
    run = cli("report", "--impl", "tests.faulty.plugins:Raises", "--no-jax", "--no-studies", "--out", str(tmp_path))
    assert run.returncode == 1, run.stderr[-2000:]
    assert (tmp_path / "conformance.json").exists(), "the report is written even when a plugin fails"


# ---- section 2: import is a fault boundary ---------------------------------------------------------
@pytest.mark.parametrize("target,message", [
    ("tests.faulty.import_raises:X", "RuntimeError: cannot find libconv.so"),
    ("tests.faulty.import_exits:X", "its import ended the interpreter with exit code 0"),
    ("tests.faulty.plugins:UnknownDtype", "malformed plugin faulty-unknown-dtype: capabilities.dtypes"),
])
def test_a_plugin_that_fails_at_import_is_unavailable_with_its_cause(target, message):
    assert_one_line_exit_2(cli("check", target, "--no-jax"), message)


def test_a_plugin_that_hangs_at_import_is_unavailable_within_the_timeout():
    start = time.perf_counter()
    found = registry.probe_imports(["tests.faulty.import_hangs:X", "loop", "tests.faulty.import_exits:X"], 5.0)
    assert time.perf_counter() - start < 5 + 20
    assert found["tests.faulty.import_hangs:X"] == "its import did not finish within 5 s (killed)"
    assert found["loop"] is None, "the plugins after a hanging one are still probed"
    assert "exit code 0" in found["tests.faulty.import_exits:X"]


def test_list_shows_a_malformed_plugin_as_unavailable_in_one_line():
    found = registry.probe_imports(["tests.faulty.plugins:UnknownDtype"], 30.0)
    assert "malformed" in found["tests.faulty.plugins:UnknownDtype"]
    assert "\n" not in found["tests.faulty.plugins:UnknownDtype"]


def test_trusted_run_that_the_plugin_ends_with_exit_0_fails():
    run = cli("check", "tests.faulty.plugins:ExitsZero", "--trusted", "--profile", "ci", "--no-jax")
    assert run.returncode == 1, (run.stdout[-1000:], run.stderr[-1000:])
    assert "the run ended (exit code 0) before its summary" in run.stderr


# ---- section 4: nothing lost ----------------------------------------------------------------------
COMMON = ["check", "loop", "--profile", "ci", "--no-jax", "--trusted"]


def _case_keys(records):
    return [(r["search"], r["relation"], r["descriptor"], r["seed"], r["fill"]) for r in records
            if r.get("record", "case") == "case"]


def _verdict_lines(stdout):
    return [line for line in stdout.splitlines() if "examples/s" not in line and not line.startswith("resumed")]


def test_resume_after_a_torn_last_line_loses_nothing_and_doubles_nothing(tmp_path):
    full = tmp_path / "full.jsonl"
    whole = cli(*COMMON, "--jsonl", str(full))
    assert whole.returncode == 0, whole.stderr
    lines = full.read_bytes().splitlines(keepends=True)
    kept = 17
    stream = tmp_path / "torn.jsonl"
    stream.write_bytes(b"".join(lines[:kept]) + lines[kept][: len(lines[kept]) // 2])   # killed mid-write
    resumed = cli(*COMMON, "--resume", str(stream), "--jsonl", str(stream))
    assert resumed.returncode == 0, resumed.stderr
    assert f"resumed: {kept} case records reused" in resumed.stdout
    records = read(stream)                       # every line is a whole record: the torn one was cut
    assert len(stream.read_bytes().splitlines()) == len(records) == len(lines)
    assert _case_keys(records) == _case_keys(read(full)), "a resumed record was written again, or one is missing"
    assert _verdict_lines(resumed.stdout) == _verdict_lines(whole.stdout)


def _wait_for_records(path, count, proc, limit=180):
    deadline = time.time() + limit
    while time.time() < deadline and proc.poll() is None:
        if path.exists() and len(read(path)) >= count:
            return
        time.sleep(0.1)
    raise AssertionError(f"{path} never reached {count} records")


def test_ctrl_c_says_what_was_saved_and_how_to_resume(tmp_path):
    """Ctrl-C mid-run (the plugin's worker stalls at its 60th call, so the run cannot end first):
    no traceback from any worker, the count of saved records, and a resume command that works."""
    stream = tmp_path / "run.jsonl"
    args = ["check", "tests.test_cli:StallsMidway", "--profile", "ci", "--timeout", "120", "--jsonl", str(stream)]
    proc = subprocess.Popen(CLI + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
                            start_new_session=True, env={**os.environ, "CONV_ORACLE_TEST_STALL_AFTER": "60"})
    _wait_for_records(stream, 3, proc)
    os.killpg(proc.pid, signal.SIGINT)           # as a terminal does: the whole process group, workers too
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, (out[-1000:], err[-2000:])
    assert "Traceback" not in err, err[-3000:]
    saved = sum(r.get("record", "case") == "case" for r in read(stream))
    assert f"{saved} case records are saved in {stream}; resume with: conv-oracle " in err, err
    command = shlex.split(err.split("resume with: ", 1)[1].splitlines()[0])
    assert command[0] == "conv-oracle"
    resumed = cli(*command[1:])                  # without the stall
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert f"resumed: {saved} case records reused" in resumed.stdout


# ---- section 5: nothing left running ----------------------------------------------------------------
def _children():
    """{pid: parent pid} of every process, from /proc."""
    out = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            fields = stat.rsplit(")", 1)[1].split()
            if fields[0] != "Z":                 # a zombie has exited
                out[int(entry.name)] = int(fields[1])
    return out


def _descendants(pid):
    parents = _children()
    found, frontier = set(), {pid}
    while frontier:
        frontier = {p for p, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


@pytest.mark.parametrize("mode", [[], ["--trusted"]], ids=["isolated", "trusted"])
def test_sigkill_of_the_cli_leaves_no_process_running(mode):
    if not sys.platform.startswith("linux"):
        pytest.skip("the parent-death signal is Linux's")
    proc = subprocess.Popen(CLI + ["check", "tests.faulty.plugins:Hangs", "--profile", "ci", *mode],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT, start_new_session=True)
    wanted = 3      # the JAX worker, its resource tracker, and the plugin's worker (isolated) or the run (trusted)
    deadline = time.time() + 120
    while time.time() < deadline and len(_descendants(proc.pid)) < wanted:
        time.sleep(0.2)
    time.sleep(2)                            # into the hanging call
    running = _descendants(proc.pid)
    assert len(running) >= wanted, f"the CLI started only {running}"
    proc.kill()
    proc.wait()
    deadline = time.time() + 10
    while time.time() < deadline and running & set(_children()):
        time.sleep(0.2)
    left = running & set(_children())
    assert not left, "still running after the CLI was killed: " + "; ".join(
        Path(f"/proc/{p}/cmdline").read_bytes().replace(b"\0", b" ").decode()[:120] for p in left)


def test_failure_index_is_given_in_the_plugins_own_layout_too():
    from conv_oracle.runner import run_case
    from conv_oracle.spec import ConvSpec

    result = run_case(registry.load("tests.faulty.plugins:WrongElementNHWC"), ConvSpec.parse("n1c2h3w3f3k1 f64"), 0)
    assert result.kind == "bound", result.message()
    assert "at index (0, 2, 0, 0) (NHWC (0, 0, 0, 2) in the plugin's layout)" in result.message(), result.message()


# ---- the README says what the tool does -------------------------------------------------------------
README = (ROOT / "README.md").read_text()


def _settings_table() -> list[list[str]]:
    section = README.split("### Settings", 1)[1].split("\n### ", 1)[0]
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in section.splitlines()
            if line.startswith("| ") and not line.startswith("| setting")]


def test_readme_settings_table_names_real_options_and_variables():
    import re

    from conv_oracle import cli
    from conv_oracle import config as settings

    parser = cli.build_parser()
    commands = parser._subparsers._group_actions[0].choices
    cli_options = {o for name in ("check", "report", "selftest") for o in commands[name]._option_string_actions}
    rows = _settings_table()
    assert rows, "no settings table in the README"
    for row in rows:
        for flag in re.findall(r"--[a-z-]+", row[1]):
            assert flag in cli_options, f"README lists {flag} as a conv-oracle option: {row}"
        assert "--hypothesis-profile" not in row[1], "a pytest flag in the conv-oracle column"
    source = Path(settings.__file__).read_text()
    for name in set(re.findall(r"CONV_ORACLE_[A-Z_]+", README)) - {"CONV_ORACLE_VENV"}:
        assert f'"{name}"' in source or f"{name}=" in source, f"README names {name}, which config.py does not read"


def test_readme_sample_failure_has_the_shape_the_tool_prints():
    """Each line of the README's sample failure starts as the tool's own line does (values aside)."""
    import re

    block = README.split("$ conv-oracle check conv_oracle.mutants:dw_averaged_over_batch --profile ci\n...\n", 1)[1]
    sample = [line for line in block.split("\n...\n```", 1)[0].splitlines()]
    run = cli("check", "conv_oracle.mutants:dw_averaged_over_batch", "--profile", "ci")
    assert run.returncode == 1, run.stderr[-2000:]
    printed = run.stdout.splitlines()
    start = printed.index(next(line for line in printed if line.startswith("FAIL [oracle]")))

    def shape(line):
        return re.split(r"[\d']", line, maxsplit=1)[0]

    assert [shape(line) for line in printed[start:start + len(sample)]] == [shape(line) for line in sample]
