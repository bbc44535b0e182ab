"""pytest integration: implementation selection, profiles, report header, shared fixtures.

Select implementations with ``--impl NAME`` (repeatable, or comma-separated) or the
``CONV_ORACLE_IMPLS`` environment variable; unknown names fail the run and list the
known ones. The Hypothesis profile comes from ``--hypothesis-profile`` or
``CONV_ORACLE_PROFILE`` (default ``dev``).
"""
from __future__ import annotations

from importlib.metadata import version

import pytest
from hypothesis import settings

from . import config as settings_from_env
from . import profiles, registry, strategies


def pytest_addoption(parser):
    parser.addoption("--impl", action="append", default=[],
                     help="implementation(s) to test: entry-point names or module:attr (default: all)")


def selected_impls(config) -> list[str]:
    raw = config.getoption("--impl") or [",".join(settings_from_env.impls())]
    names = [n.strip() for item in raw for n in item.split(",") if n.strip()]
    return names or registry.family_names("")   # framework candidates only when named


def pytest_configure(config):
    try:
        profile = config.getoption("--hypothesis-profile", None) or settings_from_env.profile()
    except settings_from_env.ConfigError as exc:
        raise pytest.UsageError(str(exc)) from None
    profiles.load(profile)
    config.conv_oracle_impls = selected_impls(config)
    for name in config.conv_oracle_impls:
        if ":" not in name and name not in registry.names():
            raise pytest.UsageError(
                f"unknown implementation {name!r} in --impl/CONV_ORACLE_IMPLS; known: {', '.join(registry.names())}")
    # the same profile draws the same cases, whatever the session has imported
    config._conv_oracle_draws = profiles.import_independent_draws()
    config._conv_oracle_draws.__enter__()


def pytest_unconfigure(config):
    draws = getattr(config, "_conv_oracle_draws", None)
    if draws is not None:
        draws.__exit__(None, None, None)


def pytest_report_header(config):
    from .oracles import torch_oracle

    t = torch_oracle.settings()
    return [
        f"conv-oracle: implementations under test: {', '.join(config.conv_oracle_impls)}",
        f"conv-oracle: hypothesis profile {settings._current_profile} "
        f"(max_examples={settings().max_examples}, derandomize={settings().derandomize})",
        f"conv-oracle: torch {t['torch']} float64 oracle, threads {t['threads']}, "
        f"float32 matmul precision {t['float32_matmul_precision']}, tf32 cuda/cudnn "
        f"{t['cuda_matmul_allow_tf32']}/{t['cudnn_allow_tf32']}; jax {version('jax')} cross-check "
        f"(x64, precision HIGHEST, worker process)",
        f"conv-oracle: {strategies.describe_draws()}",
    ]


def pytest_generate_tests(metafunc):
    if "impl_name" in metafunc.fixturenames:
        names = metafunc.config.conv_oracle_impls
        metafunc.parametrize("impl_name", names, ids=names)


@pytest.fixture
def plugin(impl_name):
    return registry.load(impl_name)       # an unavailable plugin fails here, with its cause


@pytest.fixture(scope="session")
def jax_worker():
    from .oracles.worker import JaxWorker

    worker = JaxWorker()
    worker.settings()
    yield worker
    worker.close()


def assert_case_ok(result) -> None:
    """Fail with the case's full report: impl, descriptor, output, error vs bound, replay."""
    __tracebackhide__ = True
    if not result.ok:
        error = AssertionError(result.message())
        error.add_note(f"replay: {result.replay()}")
        raise error


def assert_campaign_ok(summary, *, insufficient_ok: bool = False) -> None:
    """Fail with every distinct failure (shrunk, with its first case and replay), every oracle
    disagreement, or the reason the campaign was insufficient."""
    __tracebackhide__ = True
    problems = []
    for finding in summary.findings:
        text = f"[{finding.search}] {finding.shrunk.message()}"
        if finding.first.key != finding.shrunk.key:
            text += f"\nfirst failing case before shrinking: {finding.first.replay()}"
        problems.append(text)
    problems += [d.message() for d in summary.disagreements]
    if summary.insufficient and not insufficient_ok:
        problems.append(f"insufficient: {summary.insufficient}")
    if problems:
        error = AssertionError(f"{summary.line()}\n\n" + "\n\n".join(problems))
        for finding in summary.findings:
            error.add_note(f"replay: {finding.shrunk.replay()}")
        raise error
