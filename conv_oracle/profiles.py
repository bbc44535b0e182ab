"""Hypothesis profiles: ``ci`` (derandomized, bounded, fast), ``dev`` and ``thorough``.

Failing examples are kept in the directory database under ``.hypothesis/examples``
(``CONV_ORACLE_DB`` overrides it) and replayed first on the next run.
"""
from __future__ import annotations

import os

from hypothesis import HealthCheck, Phase, settings
from hypothesis.database import DirectoryBasedExampleDatabase

PROFILES = ("ci", "dev", "thorough")
EXAMPLES = {"ci": 60, "dev": 300, "thorough": 3000}


def database() -> DirectoryBasedExampleDatabase:
    return DirectoryBasedExampleDatabase(os.environ.get("CONV_ORACLE_DB", ".hypothesis/examples"))


def register() -> None:
    common = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                                         HealthCheck.data_too_large])
    settings.register_profile("ci", max_examples=EXAMPLES["ci"], derandomize=True, database=None,
                              print_blob=True, **common)
    settings.register_profile("dev", max_examples=EXAMPLES["dev"], database=database(), print_blob=True, **common)
    settings.register_profile("thorough", max_examples=EXAMPLES["thorough"], database=database(),
                              print_blob=True, **common)


def load(name: str) -> None:
    if name not in PROFILES:
        raise ValueError(f"unknown profile {name!r}; choose one of {', '.join(PROFILES)}")
    register()
    settings.load_profile(name)


register()
