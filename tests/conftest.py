"""Hypothesis profiles: ``ci`` (derandomized, reproducible) under CI, ``dev`` otherwise.

Pick one explicitly with ``HYPOTHESIS_PROFILE=ci pytest``.  Neither has
deadlines: these machines are shared, and a timing-dependent failure is
not a gradient bug.
"""
from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    derandomize=True,  # the same examples on every run: failures reproduce
    deadline=None,
    database=None,  # no state carried between runs
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", deadline=None, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev"))
