"""Former home of the fuzzing driver; the one driver is now :mod:`conv_oracle.engine`.

``fuzz`` keeps its old call (torch differential and honesty search, no relations) for
callers written against it; new code calls :func:`conv_oracle.engine.run_campaign`.
"""
from __future__ import annotations

from .engine import CampaignSummary as FuzzSummary  # noqa: F401
from .engine import CaseFailure, has_limits, run_campaign  # noqa: F401 (the old names)
from .runner import HONESTY, ORACLE

_has_limits = has_limits


def fuzz(plugin, *, honesty: bool = True, **options) -> FuzzSummary:
    return run_campaign(plugin, searches=[ORACLE, HONESTY] if honesty else [ORACLE], **options)
