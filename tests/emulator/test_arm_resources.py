"""Resource groups, subscriptions and providers, driven by azure-mgmt-resource over TLS, plus wire-level checks."""

from __future__ import annotations

import re
import time

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.mgmt.resource.resources import ResourceManagementClient

from provision.emulator.state import EmulatorState

API = "2021-04-01"


@pytest.fixture
def resources(operator_credential, emulator, arm_kwargs, admin):
    """A ResourceManagementClient. `Retry-After: 0` (a timing knob) lets pollers use the client's 0.1 s interval;
    the wire tests check the real header."""
    admin.configure(retry_after_seconds=0)
    return ResourceManagementClient(operator_credential, emulator.subscription_id, **arm_kwargs)


def _rg_path(emulator, name: str) -> str:
    return f"/subscriptions/{emulator.subscription_id}/resourcegroups/{name}"


def test_resource_group_lifecycle(resources):
    rg = resources.resource_groups.create_or_update("rg-life", {"location": "West US", "tags": {"a": "b", "c": ""}})
    assert rg.name == "rg-life" and rg.location == "westus" and rg.tags == {"a": "b", "c": ""}
    assert rg.properties.provisioning_state == "Succeeded"
    assert rg.type == "Microsoft.Resources/resourceGroups"
    assert rg.id.endswith("/resourceGroups/rg-life")
    assert resources.resource_groups.check_existence("rg-life") is True
    assert resources.resource_groups.check_existence("rg-absent") is False

    updated = resources.resource_groups.create_or_update("rg-life", {"location": "westus", "tags": {"k": "v"}})
    assert updated.tags == {"k": "v"}
    patched = resources.resource_groups.update("rg-life", {"tags": {"k": "w"}})
    assert patched.tags == {"k": "w"} and resources.resource_groups.get("rg-life").tags == {"k": "w"}

    resources.resource_groups.create_or_update("rg-other", {"location": "eastus"})
    names = {g.name for g in resources.resource_groups.list()}
    assert {"rg-life", "rg-other"} <= names
    tagged = [g.name for g in resources.resource_groups.list(filter="tagName eq 'k' and tagValue eq 'w'")]
    assert tagged == ["rg-life"]
    assert [g.name for g in resources.resource_groups.list(filter="tagname eq 'K'")] == ["rg-life"]

    resources.resource_groups.begin_delete("rg-life").result()
    assert resources.resource_groups.check_existence("rg-life") is False
    with pytest.raises(ResourceNotFoundError) as e:
        resources.resource_groups.get("rg-life")
    assert e.value.error.code == "ResourceGroupNotFound"


def test_group_delete_removes_its_contents_only(resources, arm, emulator):
    sub = emulator.subscription_id
    for name in ("rg", "rg2"):
        resources.resource_groups.create_or_update(name, {"location": "westus"})
        nsg = f"/subscriptions/{sub}/resourceGroups/{name}/providers/Microsoft.Network/networkSecurityGroups/nsg"
        assert arm("PUT", nsg, json={"location": "westus"}).status_code == 201
    listed = list(resources.resources.list_by_resource_group("rg"))
    assert [(r.name, r.type) for r in listed] == [("nsg", "Microsoft.Network/networkSecurityGroups")]

    resources.resource_groups.begin_delete("rg").result()
    resources.resource_groups.create_or_update("rg", {"location": "westus"})
    assert list(resources.resources.list_by_resource_group("rg")) == []
    # A group whose name merely starts the same way keeps its resources.
    assert [r.name for r in resources.resources.list_by_resource_group("rg2")] == ["nsg"]


def test_group_delete_on_the_wire(arm, emulator, admin):
    admin.configure(retry_after_seconds=1)  # the header as Azure sends it (tests default to 0)
    admin.configure(lro_seconds=0.6)
    path = _rg_path(emulator, "rg-wire")
    assert arm("PUT", path, json={"location": "westus"}).status_code == 201
    r = arm("DELETE", path)
    assert r.status_code == 202 and r.content == b""
    location = r.headers["Location"]
    assert re.fullmatch(rf"{re.escape(emulator.url)}/subscriptions/{emulator.subscription_id}/operationresults/"
                        rf"[A-Za-z0-9_-]+\?api-version={API}", location)
    assert arm("GET", path).json()["properties"]["provisioningState"] == "Deleting"
    assert arm("HEAD", path).status_code == 204
    conflict = arm("PUT", path, json={"location": "westus"})
    assert conflict.status_code == 409 and conflict.json()["error"]["code"] == "ResourceGroupBeingDeleted"

    poll = arm("GET", location.replace(emulator.url, ""), api_version=None)
    assert poll.status_code == 202 and poll.headers["Location"] == location and poll.headers["Retry-After"] == "1"
    time.sleep(0.7)
    assert arm("GET", location.replace(emulator.url, ""), api_version=None).status_code == 200
    gone = arm("GET", path)
    assert gone.status_code == 404 and gone.json()["error"]["code"] == "ResourceGroupNotFound"
    assert gone.headers["x-ms-failure-cause"] == "gateway"
    assert arm("HEAD", path).status_code == 404


def test_recorded_group_body_and_paths_are_case_insensitive(arm, emulator):
    sub = emulator.subscription_id
    r = arm("PUT", f"/subscriptions/{sub}/resourceGroups/Cli_Rg.1",
            json={"location": "westus", "managedBy": "test_admin", "tags": {"a": "b", "c": ""}})
    assert r.status_code == 201
    assert r.json() == {"id": f"/subscriptions/{sub}/resourceGroups/Cli_Rg.1", "name": "Cli_Rg.1",
                        "type": "Microsoft.Resources/resourceGroups", "location": "westus",
                        "managedBy": "test_admin", "tags": {"a": "b", "c": ""},
                        "properties": {"provisioningState": "Succeeded"}}
    again = arm("GET", f"/SUBSCRIPTIONS/{sub}/RESOURCEGROUPS/cli_rg.1")
    assert again.status_code == 200 and again.json()["name"] == "Cli_Rg.1"
    assert arm("PUT", f"/subscriptions/{sub}/resourcegroups/cli_rg.1", json={"location": "westus"}).status_code == 200


@pytest.mark.parametrize("body,status,code", [
    ({"tags": {}}, 400, "LocationRequired"),
    ({"location": "eastus"}, 409, "InvalidResourceGroupLocation"),
    ([1, 2], 400, "InvalidRequestContent"),
])
def test_group_put_errors(arm, emulator, body, status, code):
    path = _rg_path(emulator, "rg-err")
    assert arm("PUT", path, json={"location": "westus"}).status_code == 201
    r = arm("PUT", path, json=body)
    assert r.status_code == status and r.json()["error"]["code"] == code
    assert r.json()["error"]["details"] == []


def test_front_door_errors(arm, emulator):
    path = _rg_path(emulator, "rg-x")
    r = arm("PUT", path, data=b"{not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "InvalidRequestContent"
    r = arm("GET", path, auth=False)
    assert r.status_code == 401 and r.json()["error"]["code"] == "AuthenticationFailed"
    r = arm("GET", "/subscriptions/00000000-0000-0000-0000-000000000000/resourcegroups/rg-x")
    assert r.status_code == 404 and r.json()["error"]["code"] == "SubscriptionNotFound"
    r = arm("GET", path, api_version=None)
    assert r.status_code == 400 and r.json()["error"]["code"] == "MissingApiVersionParameter"
    r = arm("PUT", _rg_path(emulator, "bad name!"), json={"location": "westus"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "InvalidResourceGroupName"
    r = arm("GET", f"/subscriptions/{emulator.subscription_id}/resourcegroups", params={"$filter": "name eq 'x'"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "InvalidFilterInQueryString"
    r = arm("DELETE", path)
    assert r.status_code == 404 and r.json()["error"]["code"] == "ResourceGroupNotFound"


def test_subscriptions_and_providers(resources, arm, emulator):
    sub = emulator.subscription_id
    doc = arm("GET", f"/subscriptions/{sub}").json()
    assert doc["subscriptionId"] == sub and doc["tenantId"] == emulator.tenant_id and doc["state"] == "Enabled"
    listed = arm("GET", "/subscriptions").json()
    assert [s["subscriptionId"] for s in listed["value"]] == [sub] and listed["count"]["value"] == 1

    network = resources.providers.get("microsoft.network")
    assert network.namespace == "Microsoft.Network" and network.registration_state == "Registered"
    assert "networkSecurityGroups" in {t.resource_type for t in network.resource_types}
    assert resources.providers.register("Microsoft.Storage").registration_state == "Registered"
    assert {"Microsoft.Network", "Microsoft.Storage", "Microsoft.HDInsight"} <= {
        p.namespace for p in resources.providers.list()}
    with pytest.raises(HttpResponseError) as e:
        resources.providers.get("Microsoft.Nothing")
    assert e.value.status_code == 404 and e.value.error.code == "InvalidResourceNamespace"


# -- providers' group-deletion cleanups (on the models: the emulator under test runs in another process) ---------
def test_group_deletion_runs_cleanups_before_the_contents_go(tmp_path):
    from provision.emulator.config import Timing
    from provision.emulator.services.arm import core
    from provision.emulator.services.arm.resources import models

    state = EmulatorState(tmp_path, Timing(lro_seconds=0))
    sub = state.boot.subscription_id
    seen: list[tuple[str, str, list[str]]] = []

    def cleanup(st, s: str, rg: str) -> None:
        # Still readable: what the provider kept in the group.
        seen.append((s, rg, [d["name"] for d in st.store.list("test:thing", scope=core.scope_of_rg(s, rg))]))

    try:
        models.on_group_deleted("test.cleanup")(cleanup)
        models.on_group_deleted("test.cleanup")(cleanup)  # the same name again replaces, never runs twice
        for rg in ("rg", "rg2"):
            models.put_group(state, sub, rg, {"location": "westus"})
            doc = {"id": f"{core.rg_id(sub, rg)}/providers/Test/things/t-{rg}", "name": f"t-{rg}", "type": "Test"}
            core.put_resource(state, "test:thing", doc, sub, rg)
        models.begin_delete_group(state, sub, "rg")
        assert seen == []  # only when the deletion comes due
        core.settle(state)
        assert seen == [(sub, "rg", ["t-rg"])]
        assert models.find_group(state, sub, "rg") is None
        assert state.store.list("test:thing", scope=core.scope_of_rg(sub, "rg")) == []
        assert [d["name"] for d in state.store.list("test:thing", scope=core.scope_of_rg(sub, "rg2"))] == ["t-rg2"]

        # A cleanup that fails leaves the group (and its contents) as they were; the next settle tries again.
        def failing(st, s: str, rg: str) -> None:
            raise RuntimeError("cleanup failed")

        models.on_group_deleted("test.cleanup")(failing)
        models.begin_delete_group(state, sub, "rg2")
        with pytest.raises(RuntimeError):
            core.settle(state)
        assert models.find_group(state, sub, "rg2")["properties"]["provisioningState"] == "Deleting"
        assert len(state.store.list("test:thing", scope=core.scope_of_rg(sub, "rg2"))) == 1
        models.on_group_deleted("test.cleanup")(cleanup)
        core.settle(state)
        assert seen[-1] == (sub, "rg2", ["t-rg2"]) and models.find_group(state, sub, "rg2") is None
    finally:
        models._group_cleanups.pop("test.cleanup", None)
        state.store.close()
