"""Shared fixtures: one emulator process per test session (per xdist worker), reset before every test.

The emulator runs as a real background process started through the same launcher the CLI uses, over TLS with its
own CA; tests drive it with the real, unmodified Azure SDKs. Timing knobs are shortened here (not code paths).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from provision.emulator import launcher

# Short, test-friendly timings: long-running operations take a fraction of a second.
TEST_TIMING = {
    "lro_seconds": 0.1,
    "cluster_create_seconds": 0.6,
    "cluster_delete_seconds": 0.2,
    # 0: no wait advised, so azure-core's pollers use the client's own polling interval (0.1 s in tests) instead
    # of a whole second per long-running operation
    "retry_after_seconds": 0,
    "membership_propagation_seconds": 0.5,
    "topic_visibility_seconds": 0.1,
    "refuse_retired_versions": 1,  # as Azure (tests/fidelity turns it off to replay 2023 recordings)
}


@pytest.fixture(scope="session")
def emulator_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("emulator")


@pytest.fixture(scope="session")
def emulator(emulator_dir: Path):
    env = {f"PROVISION_EMULATOR_{k.upper()}": str(v) for k, v in TEST_TIMING.items()}
    info = launcher.start(emulator_dir, env=env)
    yield info
    launcher.stop(emulator_dir)


@pytest.fixture(scope="session")
def admin(emulator) -> launcher.Admin:
    return launcher.Admin(emulator)


@pytest.fixture(autouse=True)
def _fresh_emulator(request: pytest.FixtureRequest):
    """Reset the emulator before each test that uses it (moto's /moto-api/reset pattern)."""
    if "emulator" in request.fixturenames:
        adm = request.getfixturevalue("admin")
        adm.reset()
        adm.configure(**TEST_TIMING)
    yield


@pytest.fixture
def emulator_env(emulator, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The variables `provision emulator env` prints, set in this test's environment."""
    values = emulator.env()
    for k, v in values.items():
        monkeypatch.setenv(k, v)
    return values


@pytest.fixture
def operator_credential(emulator):
    from azure.identity import ClientSecretCredential

    return ClientSecretCredential(emulator.tenant_id, emulator.client_id, emulator.client_secret,
                                  authority=emulator.authority, disable_instance_discovery=True,
                                  connection_verify=str(emulator.ca_cert))


@pytest.fixture
def graph_client_factory(emulator):
    """Build a msgraph-sdk GraphServiceClient against the emulator for any azure-identity credential.

    msgraph-sdk is async-only: use the client inside one `asyncio.run(...)` per test."""

    def make(credential):
        import ssl

        import httpx
        from kiota_authentication_azure.azure_identity_authentication_provider import (
            AzureIdentityAuthenticationProvider,
        )
        from kiota_http.middleware.options import RetryHandlerOption
        from msgraph import GraphRequestAdapter, GraphServiceClient
        from msgraph_core import GraphClientFactory

        http = httpx.AsyncClient(verify=ssl.create_default_context(cafile=str(emulator.ca_cert)), timeout=30)
        options = {RetryHandlerOption.get_key(): RetryHandlerOption(delay=0, max_retries=3)}
        http = GraphClientFactory.create_with_default_middleware(client=http, options=options)
        auth = AzureIdentityAuthenticationProvider(credential, scopes=["https://graph.microsoft.com/.default"])
        adapter = GraphRequestAdapter(auth, client=http)
        adapter.base_url = emulator.graph_url
        return GraphServiceClient(request_adapter=adapter)

    return make


@pytest.fixture
def graph(graph_client_factory, operator_credential):
    return graph_client_factory(operator_credential)


@pytest.fixture
def arm_kwargs(emulator) -> dict:
    """Keyword arguments for any azure-mgmt-* client: the emulator's base URL and CA, quick polling."""
    return {"base_url": emulator.arm_url, "connection_verify": str(emulator.ca_cert), "polling_interval": 0.1,
            "retry_backoff_factor": 0.05}


os.environ.setdefault("PROVISION_NO_COLOR", "1")


def pytest_collection_modifyitems(config, items):  # noqa: ARG001 — pytest's hook signature
    """Tests marked `long` (they mostly wait: replication lag, kills, whole CI scripts) run first, so that with
    `-n` they overlap the short ones instead of finishing last alone (longest-first scheduling)."""
    items.sort(key=lambda item: item.get_closest_marker("long") is None)  # stable: the rest keep their order


# Here, not in tests/reliability/conftest.py: with xdist only the root conftest's hooks run in the controller.
def pytest_terminal_summary(terminalreporter, exitstatus, config):  # noqa: ARG001 — pytest's hook signature
    """The reliability figures (tests/reliability/), printed by the suite itself (bench/bench_reliability.py has
    the heavier ones): each passing case asserted convergence, no duplicate and no lost or leaked secret, so passes
    are those counts."""
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
