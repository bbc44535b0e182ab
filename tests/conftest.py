"""Opt-in tests: ``-m tox`` runs the tox tests, which install a fresh shared virtualenv
(torch, JAX, the frameworks: minutes), too slow for the 20-minute CI budget."""
import pytest


def pytest_configure(config):
    config.addinivalue_line("markers", "tox: runs tox envs in a fresh work dir (minutes; opt-in with -m tox)")


def pytest_collection_modifyitems(config, items):
    if "tox" in (config.option.markexpr or ""):
        return
    skip = pytest.mark.skip(reason="opt-in: installs a fresh virtualenv with tox (minutes); run with -m tox")
    for item in items:
        if "tox" in item.keywords:
            item.add_marker(skip)
