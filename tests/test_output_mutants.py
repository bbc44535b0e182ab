"""Output mutants of a plugin that must run isolated (``selftest --impl NAME``): in its worker,
with its declared settings applied, the mutants are measured; in this process, where the plugin
fails by itself, no detection rate is claimed (principle 4: say, don't guess).

The plugin is a real file plugin (tests/frameworks_files/plugin_with_sibling.py:NeedsSetting):
torch eager that refuses to answer unless its declared environment was applied before it ran.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from conv_oracle import output_mutants, registry

ROOT = Path(__file__).resolve().parent.parent
NEEDS_SETTING = "tests/frameworks_files/plugin_with_sibling.py:NeedsSetting"
MUTANTS = ["drop_bias", "zero_dx"]


@pytest.fixture
def needs_setting(monkeypatch):
    monkeypatch.chdir(ROOT)                  # the worker loads the file plugin by the same relative path
    monkeypatch.delenv("PLANTED_LIBRARY_SETTING", raising=False)   # sibling_helper.ENV_NAME: set only in the worker
    plugin = registry.load(NEEDS_SETTING)
    yield plugin
    registry.clear_cache()


def test_isolated_mutants_run_with_the_plugins_declared_settings(needs_setting):
    found = output_mutants.detect(needs_setting, "ci", MUTANTS, isolated=True)
    assert [d.mutant for d in found] == MUTANTS
    assert all(d.measured and d.detected for d in found), [d.to_dict() for d in found]
    assert all(d.check.startswith("torch oracle: bound") for d in found), [d.check for d in found]
    assert output_mutants.rate(found) == "2/2"


def test_no_rate_is_claimed_when_the_plugin_fails_unmutated(needs_setting):
    """In this process the setting is not applied: the plugin raises on every case, so each
    mutant is 'caught' by the plugin's own failure, which is no detection."""
    found = output_mutants.detect(needs_setting, "ci", MUTANTS)
    assert [(d.detected, d.measured) for d in found] == [(False, False)] * len(MUTANTS)
    assert all("itself fails the case that caught it: raised" in d.evidence for d in found)
    assert output_mutants.rate(found).startswith("not measured")


def test_selftest_impl_says_in_one_line_that_it_did_not_measure(tmp_path):
    """The CLI: --trusted runs the plugin in process, where it fails; one line says so, exit 1."""
    done = subprocess.run([sys.executable, "-m", "conv_oracle.cli", "selftest", "--impl", NEEDS_SETTING,
                           "--trusted", "--profile", "ci"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    lines = [line for line in (done.stdout + done.stderr).splitlines() if "detection rate" in line]
    assert done.returncode == 1, done.stdout + done.stderr
    assert len(lines) == 1 and "detection rate not measured" in lines[0], lines
    assert "detection rate 6/6" not in done.stdout


def test_selftest_impl_runs_its_workers_under_the_given_timeout():
    """``selftest --impl`` takes check's --timeout and --memory-limit (same parsing, same defaults)
    and its workers run under them: a plugin that hangs is stopped after the second given."""
    done = subprocess.run([sys.executable, "-m", "conv_oracle.cli", "selftest", "--impl", "tests.faulty.plugins:Hangs",
                           "--timeout", "1", "--memory-limit", "512", "--profile", "ci"], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 1, done.stdout + done.stderr
    out = " ".join(done.stdout.split())               # the table folds long cells
    assert "detection rate not measured" in out and "hang (no answer within 1 s; the worker was killed" in out, out


def test_selftest_shares_checks_worker_limit_options():
    from conv_oracle import cli

    commands = cli.build_parser()._subparsers._group_actions[0].choices
    for option in ("--timeout", "--memory-limit"):
        check, selftest = (commands[c]._option_string_actions[option] for c in ("check", "selftest"))
        assert (selftest.type, selftest.default) == (check.type, check.default), option
        assert selftest.help.startswith(check.help), option


def test_selftest_trusted_without_impl_is_a_usage_error():
    done = subprocess.run([sys.executable, "-m", "conv_oracle.cli", "selftest", "--trusted"], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 2 and "--trusted applies to selftest --impl only" in done.stderr, done.stderr
