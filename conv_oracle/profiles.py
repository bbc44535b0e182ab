"""Hypothesis profiles: ``ci`` (derandomized, bounded, fast), ``dev`` and ``thorough``.

Failing examples are kept in the directory database under ``.hypothesis/examples``
(``CONV_ORACLE_DB`` overrides it) and replayed first on the next run.
"""
from __future__ import annotations

import contextlib

from hypothesis import HealthCheck, settings
from hypothesis.database import DirectoryBasedExampleDatabase

from . import config
from .config import PROFILES
EXAMPLES = {"ci": 60, "dev": 300, "thorough": 3000}


def database() -> DirectoryBasedExampleDatabase:
    return DirectoryBasedExampleDatabase(config.database_dir())


def register() -> None:
    common = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                                         HealthCheck.data_too_large])
    settings.register_profile("ci", max_examples=EXAMPLES["ci"], derandomize=True, database=None,
                              print_blob=True, **common)
    # derandomize stated: a profile registered without it inherits the one loaded at the time (ci's True)
    settings.register_profile("dev", max_examples=EXAMPLES["dev"], database=database(), print_blob=True,
                              derandomize=False, **common)
    settings.register_profile("thorough", max_examples=EXAMPLES["thorough"], database=database(),
                              print_blob=True, derandomize=False, **common)


@contextlib.contextmanager
def import_independent_draws():
    """Hypothesis mixes into its draws the constants of every *local* module in ``sys.modules``
    (``hypothesis.internal.conjecture.providers._get_local_constants``, with a time limit on
    collecting them), so the same profile and seed would draw different cases once another
    module has been imported (a plugin, a study, a test file). Pin that pool to empty, so that
    a run depends on its profile and seed alone: replays, resumed runs and reports agree.
    (Private Hypothesis API: if it moves, runs still work, only this guarantee weakens.)"""
    try:
        from hypothesis.internal.conjecture import providers
        original = providers._get_local_constants
        empty = providers.Constants()
    except (ImportError, AttributeError, TypeError):
        yield
        return
    providers._get_local_constants = lambda: empty
    try:
        yield
    finally:
        providers._get_local_constants = original


def load(name: str) -> None:
    if name not in PROFILES:
        raise ValueError(f"unknown profile {name!r}; choose one of {', '.join(PROFILES)}")
    register()
    settings.load_profile(name)


register()
