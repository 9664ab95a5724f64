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


def pytest_terminal_summary(terminalreporter, exitstatus, config):  # noqa: ARG001 — pytest's hook signature
    """The reliability figures, printed by the suite itself (bench/bench_reliability.py has the heavier ones): each
    passing case asserted convergence, no duplicate and no lost or leaked secret, so passes are those counts."""
    groups = {"test_faults_matrix.py": "fault runs converged on the first try, no duplicate, no secret lost",
              "test_kill.py": "SIGKILL runs whose re-run converged, no duplicate, no secret lost",
              "test_lag.py": "runs converged under replication lag",
              "test_bad_input.py": "bad inputs refused cleanly (exit 2, one line, no write, no traceback)",
              "test_secrets.py": "secret scans and dead-secret checks clean"}
    counts = {name: [0, 0] for name in groups}
    for outcome in ("passed", "failed", "error"):
        for report in terminalreporter.stats.get(outcome, []):
            if getattr(report, "when", "call") != "call" and outcome != "error":
                continue
            for name in groups:
                if f"tests/reliability/{name}::" in getattr(report, "nodeid", ""):
                    counts[name][1] += 1
                    counts[name][0] += outcome == "passed"
    if not any(total for _, total in counts.values()):
        return
    terminalreporter.section("reliability figures")
    for name, label in groups.items():
        ok, total = counts[name]
        if total:
            terminalreporter.write_line(f"{label}: {ok} of {total}")
