"""Fault injection through the admin API, observed through the real SDKs' retry policies."""

from __future__ import annotations

import time

import pytest
import requests
from azure.mgmt.resource.resources import ResourceManagementClient
from azure.mgmt.resource.resources.models import ResourceGroup


@pytest.fixture
def rm(operator_credential, emulator, arm_kwargs):
    return ResourceManagementClient(operator_credential, emulator.subscription_id, **arm_kwargs)


def statuses(admin, since, fragment):
    return [e["status"] for e in admin.requests(since) if fragment in e["path"] and e["family"] == "arm"]


def test_503_then_success_is_retried_by_azure_core(rm, admin):
    rm.resource_groups.create_or_update("rg-f", ResourceGroup(location="eastus"))
    admin.add_fault(action="status", status=503, path="/resourcegroups/rg-f$", methods=["GET"], count=2)
    seq = admin.last_seq()
    assert rm.resource_groups.get("rg-f").name == "rg-f"
    assert statuses(admin, seq, "/resourcegroups/rg-f") == [503, 503, 200]


def test_429_with_retry_after_is_honoured(rm, admin):
    rm.resource_groups.create_or_update("rg-t", ResourceGroup(location="eastus"))
    admin.add_fault(action="status", status=429, retry_after=1, path="/resourcegroups/rg-t$", count=1)
    seq = admin.last_seq()
    start = time.monotonic()
    rm.resource_groups.get("rg-t")
    assert time.monotonic() - start >= 1.0
    log = [e for e in admin.requests(seq) if "/resourcegroups/rg-t" in e["path"]]
    assert [e["status"] for e in log] == [429, 200]


def test_dropped_connection_is_retried(rm, admin):
    rm.resource_groups.create_or_update("rg-d", ResourceGroup(location="eastus"))
    admin.add_fault(action="drop", path="/resourcegroups/rg-d$", methods=["GET"], count=1)
    seq = admin.last_seq()
    assert rm.resource_groups.get("rg-d").name == "rg-d"
    assert statuses(admin, seq, "/resourcegroups/rg-d") == [0, 200]  # 0: no response was sent


def test_latency_and_skip(rm, admin, emulator):
    rm.resource_groups.create_or_update("rg-l", ResourceGroup(location="eastus"))
    admin.add_fault(action="latency", latency_ms=400, path="/resourcegroups/rg-l$")
    start = time.monotonic()
    rm.resource_groups.get("rg-l")
    assert time.monotonic() - start >= 0.4
    admin.clear_faults()
    admin.add_fault(action="status", status=503, path="/resourcegroups/rg-l$", skip=1, count=1)
    rm.resource_groups.get("rg-l")  # let through
    seq = admin.last_seq()
    rm.resource_groups.get("rg-l")  # fires once, then retried
    assert statuses(admin, seq, "/resourcegroups/rg-l") == [503, 200]


def test_a_request_held_by_latency_is_abandoned_when_the_rule_goes(rm, admin, emulator, operator_credential,
                                                                    arm_kwargs):
    """A long hold must not land later in someone else's state (the next test's, after a reset): when its rule is
    cleared, the held request's connection is closed and nothing is applied."""
    import threading

    rm.resource_groups.create_or_update("rg-held", ResourceGroup(location="eastus"))
    admin.add_fault(action="latency", latency_ms=60_000, path="/resourcegroups/rg-held$", methods=["DELETE"])
    seq = admin.last_seq()
    once = ResourceManagementClient(operator_credential, emulator.subscription_id, retry_total=0, **arm_kwargs)
    outcome: list[object] = []

    def delete() -> None:
        try:
            outcome.append(once.resource_groups.begin_delete("rg-held"))
        except Exception as e:  # noqa: BLE001 — the connection closed under it is the expected outcome
            outcome.append(e)

    worker = threading.Thread(target=delete)
    worker.start()
    deadline = time.monotonic() + 10
    while not any(r["fired"] for r in admin.faults()):
        assert time.monotonic() < deadline, "the DELETE never reached the emulator"
        time.sleep(0.02)  # between polls of the condition
    started = time.monotonic()
    admin.reset()
    worker.join(timeout=10)
    assert not worker.is_alive() and time.monotonic() - started < 5  # let go at once, not after 60 s
    assert isinstance(outcome[0], Exception)  # the caller saw its connection closed, no answer
    held = [e for e in admin.requests(seq) if e["method"] == "DELETE"]
    assert held and held[-1]["status"] == 0 and held[-1]["write"] is False and "abandoned" in held[-1]["fault"]


def test_probability_is_seeded_and_deterministic(emulator, admin):
    def pattern() -> list[int]:
        admin.clear_faults()
        admin.add_fault(action="status", status=503, path="/_probe$", probability=0.5, seed=42)
        out = []
        for _ in range(12):
            r = requests.get(f"{emulator.url}/v1.0/_probe", verify=str(emulator.ca_cert), timeout=5)
            out.append(r.status_code)
        return out

    first, second = pattern(), pattern()
    assert first == second and 503 in first and any(s != 503 for s in first)


def test_fault_errors_use_each_service_envelope(emulator, admin):
    admin.add_fault(action="status", status=429, retry_after=2, path="^/v1.0/groups$", count=1)
    r = requests.get(f"{emulator.graph_url}/groups", verify=str(emulator.ca_cert), timeout=5)
    assert r.status_code == 429 and r.headers["Retry-After"] == "2"
    assert r.json()["error"]["code"] == "TooManyRequests" and "innerError" in r.json()["error"]
    admin.add_fault(action="status", status=503, path="/resourcegroups$", count=1)
    r = requests.get(f"{emulator.url}/subscriptions/{emulator.subscription_id}/resourcegroups",
                     verify=str(emulator.ca_cert), timeout=5)
    assert r.status_code == 503 and r.json()["error"]["code"] == "ServiceUnavailable"


def test_bad_fault_rules_are_refused(admin):
    from provision.emulator.launcher import EmulatorError

    for rule in ({"action": "explode"}, {"action": "status", "status": 200}, {"action": "status", "probability": 2},
                 {"action": "status", "path": "("}, {"action": "status", "nonsense": 1}):
        with pytest.raises(EmulatorError, match="400"):
            admin.add_fault(**rule)


def test_admin_api_is_operator_only(emulator):
    r = requests.get(f"{emulator.url}/_emulator/requests", verify=str(emulator.ca_cert), timeout=5)
    assert r.status_code == 401
    r = requests.post(f"{emulator.url}/_emulator/reset", headers={"Authorization": "Bearer nope"},
                      verify=str(emulator.ca_cert), timeout=5)
    assert r.status_code == 401


def test_unknown_routes_and_bad_bodies_never_500(emulator, operator_credential):
    tok = operator_credential.get_token("https://management.azure.com/.default").token
    h = {"Authorization": f"Bearer {tok}", "Content-Type": "application/json"}
    ca = str(emulator.ca_cert)
    cases = [
        ("GET", f"{emulator.url}/nothing/here", None),
        ("PUT", f"{emulator.url}/subscriptions/{emulator.subscription_id}/resourcegroups/x?api-version=1", "{bad"),
        ("PUT", f"{emulator.url}/subscriptions/{emulator.subscription_id}/resourcegroups/x?api-version=1", "[]"),
        ("POST", f"{emulator.graph_url}/applications", "{\"displayName\": 5}"),
        ("POST", f"{emulator.graph_url}/applications", "x" * (5 * 1024 * 1024)),
        ("GET", f"{emulator.graph_url}/nonexistentCollection", None),
    ]
    for method, url, body in cases:
        r = requests.request(method, url, data=body, headers=h, verify=ca, timeout=20)
        assert 400 <= r.status_code < 500, (method, url, r.status_code, r.text[:200])
        assert "Traceback" not in r.text


# -- "applied, then the response is lost": the handler runs and commits, the caller never hears ------------------
def _bearer(credential, scope: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {credential.get_token(scope).token}", "Content-Type": "application/json"}


def test_drop_after_apply_commits_the_write_and_loses_the_answer(emulator, admin, operator_credential):
    h = _bearer(operator_credential, "https://graph.microsoft.com/.default")
    ca = str(emulator.ca_cert)
    app = requests.patch(f"{emulator.graph_url}/applications(uniqueName='fault-after')", headers={
        **h, "Prefer": "create-if-missing"}, json={"displayName": "fault-after"}, verify=ca, timeout=10).json()
    admin.add_fault(action="drop", after=True, path=r"/addPassword$", methods=["POST"], count=1)
    seq = admin.last_seq()
    with pytest.raises(requests.ConnectionError):
        requests.post(f"{emulator.graph_url}/applications/{app['id']}/addPassword", headers=h,
                      json={"passwordCredential": {"displayName": "lost"}}, verify=ca, timeout=10)
    creds = requests.get(f"{emulator.graph_url}/applications/{app['id']}", headers=h, verify=ca,
                         timeout=10).json()["passwordCredentials"]
    assert [c["displayName"] for c in creds] == ["lost"]  # applied although the caller got no answer
    entry = next(e for e in admin.requests(seq) if e["path"].endswith("/addPassword"))
    assert (entry["status"], entry["fault"], entry["appliedStatus"], entry["write"]) == (0, "drop after", 200, True)


def test_status_after_apply_answers_5xx_for_a_committed_write(emulator, admin, operator_credential):
    h = _bearer(operator_credential, "https://management.azure.com/.default")
    url = f"{emulator.url}/subscriptions/{emulator.subscription_id}/resourcegroups/rg-after"
    admin.add_fault(action="status", status=503, after=True, path="/resourcegroups/rg-after$", methods=["PUT"],
                    count=1)
    seq = admin.last_seq()
    r = requests.put(url, params={"api-version": "2021-04-01"}, headers=h, json={"location": "eastus"},
                     verify=str(emulator.ca_cert), timeout=10)
    assert r.status_code == 503 and r.json()["error"]["code"] == "ServiceUnavailable"
    got = requests.get(url, params={"api-version": "2021-04-01"}, headers=h, verify=str(emulator.ca_cert),
                       timeout=10)
    assert got.status_code == 200  # the PUT was applied
    entry = next(e for e in admin.requests(seq) if e["method"] == "PUT")
    assert (entry["status"], entry["fault"], entry["appliedStatus"]) == (503, "status 503 after", 201)


def test_fault_before_apply_changes_nothing(emulator, admin, operator_credential):
    h = _bearer(operator_credential, "https://management.azure.com/.default")
    url = f"{emulator.url}/subscriptions/{emulator.subscription_id}/resourcegroups/rg-before"
    admin.add_fault(action="drop", path="/resourcegroups/rg-before$", methods=["PUT"], count=1)
    with pytest.raises(requests.ConnectionError):
        requests.put(url, params={"api-version": "2021-04-01"}, headers=h, json={"location": "eastus"},
                     verify=str(emulator.ca_cert), timeout=10)
    got = requests.get(url, params={"api-version": "2021-04-01"}, headers=h, verify=str(emulator.ca_cert),
                       timeout=10)
    assert got.status_code == 404


def test_after_rules_are_validated(admin):
    from provision.emulator.launcher import EmulatorError

    for rule in ({"action": "latency", "latency_ms": 10, "after": True}, {"action": "drop", "after": "yes"}):
        with pytest.raises(EmulatorError, match="400"):
            admin.add_fault(**rule)
    assert admin.add_fault(action="drop", after=True, count=1)["after"] is True
