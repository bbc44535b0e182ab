"""Hypothesis profiles: ``ci`` (derandomized, bounded, fast), ``dev`` and ``thorough``.

Failing examples are kept in the directory database under ``.hypothesis/examples``
(``CONV_ORACLE_DB`` overrides it) and replayed first on the next run.

Every profile leaves out Hypothesis's explain phase: once a test has failed, Hypothesis traces
every later call (``sys.settrace`` on Python 3.11) to report which lines only failing examples
ran. That made finding and shrinking a loop plugin's failure 1.4-3x slower (the two dispatch
mutants, dev, budget 3000: 1.8 s -> 1.3 s and 0.8 s -> 0.3 s) for the same calls and the same
shrunk case; our records already say what failed.
"""
from __future__ import annotations

import contextlib

from hypothesis import HealthCheck, Phase, settings
from hypothesis.database import DirectoryBasedExampleDatabase

from . import config
from .config import PROFILES
EXAMPLES = {"ci": 60, "dev": 300, "thorough": 3000}
# Work budget per drawn case, in elements of x + w + y (``CONV_ORACLE_MAX_ELEMENTS`` overrides
# it). ci admits the layers of a small network: 16-33 channels, 3x3 kernels, images to ~16x16
# (n1c33h16w16f33k3p1 is 26,697); dev and thorough reach 32-64 channels on larger images.
MAX_ELEMENTS = {"ci": 30_000, "dev": 60_000, "thorough": 250_000}
# Largest image side of a realistic layer (a boundary move may add one or two): direct loops
# cost groups x output pixels, so ci stays at the ~16x16 of a small network's later stages.
MAX_SIDE = {"ci": 16, "dev": 33, "thorough": 64}
# Share of drawn specs from each generator family (conv_oracle.strategies); printed by pytest,
# check and the report, and checked by tests/meta/test_strategies.py.
FAMILY_SHARES = {
    "ci": {"realistic": 0.4, "boundary": 0.3, "adversarial": 0.3},
    "dev": {"realistic": 0.4, "boundary": 0.3, "adversarial": 0.3},
    "thorough": {"realistic": 0.4, "boundary": 0.3, "adversarial": 0.3},
}


# Hypothesis's phases less explain (see the module docstring).
PHASES = tuple(phase for phase in Phase if phase is not Phase.explain)


def database() -> DirectoryBasedExampleDatabase:
    return DirectoryBasedExampleDatabase(config.database_dir())


def register() -> None:
    common = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                                         HealthCheck.data_too_large],
                  phases=PHASES)
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
