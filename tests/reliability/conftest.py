"""Fixtures of the reliability suite: the CLI pointed at the session emulator (as tests/cli/test_up.py does)."""

from __future__ import annotations

import os

import pytest


@pytest.fixture
def env(emulator, tmp_path, monkeypatch):
    """Point the CLI at the session emulator, with its own state dir and fast consistency retries."""
    values = {
        "PROVISION_CLOUD": "local",
        "PROVISION_EMULATOR_DIR": str(emulator.data_dir),
        "PROVISION_STATE_DIR": str(tmp_path / "state"),
        "PROVISION_POLLING_INTERVAL": "0.1",
        "PROVISION_NAME": "ci-env",
    }
    for k, v in values.items():
        monkeypatch.setenv(k, v)
    for k in list(os.environ):
        if k.startswith("PROVISION_") and k not in values and not k.startswith("PROVISION_EMULATOR_"):
            monkeypatch.delenv(k)
    monkeypatch.chdir(tmp_path)
    return values


# Shorter than the suite's timings (tests/conftest.py TEST_TIMING): a cluster in 0.3 s, other long-running
# operations in 0.05 s — what the reliability tests exercise is the requests, not the waits.
QUICK_TIMING = {"lro_seconds": 0.05, "cluster_create_seconds": 0.3, "cluster_delete_seconds": 0.1}


@pytest.fixture
def quick_timing(admin):
    admin.configure(**QUICK_TIMING)
    return QUICK_TIMING

