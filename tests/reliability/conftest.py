"""Fixtures of the reliability suite: the CLI pointed at the session emulator (as tests/cli/test_up.py does)."""

from __future__ import annotations

import pytest

from tests.cli.test_up import env  # noqa: F401 — the CLI pointed at the session emulator


# Shorter than the suite's timings (tests/conftest.py TEST_TIMING): a cluster in 0.3 s, other long-running
# operations in 0.05 s — what the reliability tests exercise is the requests, not the waits.
QUICK_TIMING = {"lro_seconds": 0.05, "cluster_create_seconds": 0.3, "cluster_delete_seconds": 0.1}


@pytest.fixture
def quick_timing(admin):
    admin.configure(**QUICK_TIMING)
    return QUICK_TIMING

