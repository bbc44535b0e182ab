"""Property: whatever the argument list and the CONV_ORACLE_* environment, the command line
answers with one of its exit codes (0 pass, 1 fail, 2 bad input, 3 oracles disagree,
4 insufficient), one line on stderr for bad input, and never a traceback. The front end (environment check and parsers, the same objects ``main`` uses)
is driven in process with many lists; whole runs, in a subprocess, with a few mutated ones."""
import os
import subprocess
import sys
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conv_oracle import bench, cli, config
from conv_oracle.report_cli import add_bench_report_options

ROOT = Path(__file__).resolve().parents[1]
OPTIONS = ["--timeout", "--memory-limit", "--examples", "--seed", "--case", "--fill", "--jsonl", "--resume",
           "--profile", "--impl", "--out", "--mutant", "--repeats", "--from-json", "--max-elements", "--gap",
           "--no-jax", "--trusted", "--strict", "--quick", "--no-studies", "--version", "--help", "--"]
ODD_VALUES = ["0", "-1", "-5", "nan", "inf", "-inf", "1e309", "0x10", "\u0663", "\uff11", "", " ", "loop", "nosuch",
              "n1c1h3w3f1k3", "n1c1h3w3f1k3s0", "README.md", "tests", "/dev/full", "/no/such/dir/x", "x" * 500,
              "ci", "nope", "integer", "bias_ignored", "impls.loop:LoopConv", "4096", "7"]
COMMANDS = ["check", "report", "selftest", "list", "env", "bench", "nosuch", "-h", "--version", ""]
VARIABLES = ["CONV_ORACLE_MAX_ELEMENTS", "CONV_ORACLE_PROFILE", "CONV_ORACLE_CACHE", "CONV_ORACLE_DB",
             "CONV_ORACLE_IMPLS"]

values = st.one_of(st.sampled_from(ODD_VALUES), st.text(max_size=12), st.integers(-10**30, 10**30).map(str))
tokens = st.one_of(st.sampled_from(OPTIONS), values)
argument_lists = st.tuples(st.sampled_from(COMMANDS), st.lists(tokens, max_size=8)).map(
    lambda t: ([t[0]] if t[0] else []) + t[1])
environments = st.dictionaries(st.sampled_from(VARIABLES), st.one_of(st.sampled_from(ODD_VALUES), st.text(max_size=8)),
                               max_size=2)


def front_end(argv: list[str]) -> int:
    """What ``cli.main`` does before it runs a command: the environment, then the parser."""
    try:
        config.check_all()
    except config.ConfigError as exc:
        print(f"conv-oracle: error: {exc}", file=sys.stderr)
        return 2
    parser = cli.build_parser()
    if argv[:1] == ["bench"]:          # main() hands bench's options to the bench parser
        parser, argv = add_bench_report_options(bench.build_parser()), argv[1:]
    try:
        parser.parse_args(argv)
    except SystemExit as exc:
        return exc.code
    return 0


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(argv=argument_lists, env=environments)
def test_front_end_answers_every_argument_list(argv, env, monkeypatch, capsys):
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        if "\x00" not in value:
            monkeypatch.setenv(name, value)
    code = front_end(argv)
    out, err = capsys.readouterr()
    assert code in (0, 2), (argv, env, code, err)
    if code == 2:
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("conv-oracle: error: "), (argv, env, err)


BASE = ["check", "loop", "--case", "n1c2h5w5f2k3 f64", "--no-jax"]
CHECK_OPTIONS = [("--seed", values), ("--fill", st.sampled_from(["normal", "integer", "nonfinite", "nope", ""])),
                 ("--timeout", values), ("--memory-limit", values), ("--max-elements", values),
                 ("--trusted", st.none()), ("--profile", st.sampled_from(["ci", "dev", "nope"]))]


@st.composite
def mutated_runs(draw):
    argv = list(BASE)
    descriptor = list(argv[3])
    for _ in range(draw(st.integers(0, 2))):         # character edits of the descriptor
        i = draw(st.integers(0, len(descriptor) - 1))
        descriptor[i] = draw(st.sampled_from("0123456789nchwfksxpdgb, \u0663"))
    argv[3] = "".join(descriptor)
    for option, value in draw(st.lists(st.sampled_from(CHECK_OPTIONS), max_size=3, unique_by=lambda o: o[0])):
        argv.append(option)
        drawn = draw(value)
        if drawn is not None:
            argv.append(drawn)
    return argv


@settings(max_examples=8, deadline=None, derandomize=True, database=None)
@given(argv=mutated_runs(), env=environments)
def test_whole_runs_with_mutated_arguments_never_trace_back(argv, env):
    environment = {k: v for k, v in os.environ.items() if k not in VARIABLES}
    environment.update({k: v for k, v in env.items() if "\x00" not in v})
    run = subprocess.run([sys.executable, "-m", "conv_oracle.cli", *argv], capture_output=True, text=True,
                         timeout=300, env=environment, cwd=ROOT)
    assert run.returncode in (0, 1, 2, 3, 4), (argv, env, run.returncode, run.stderr[-2000:])
    assert "Traceback" not in run.stderr + run.stdout, (argv, env, run.stderr[-3000:])
    if run.returncode == 2:
        assert len(run.stderr.strip().splitlines()) == 1, (argv, env, run.stderr)
