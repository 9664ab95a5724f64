"""Entra soft delete: deleted applications, service principals, groups and users go to directory/deletedItems
(list by type, get, restore, permanent delete), as the recorded az traffic shows (`DELETE /applications/{id}`
then `DELETE /directory/deletedItems/{id}`, both 204)."""

from __future__ import annotations

import asyncio

import pytest

from tests.emulator.test_graph import graph_error, token_for, wire  # noqa: F401  (fixture)


def _app(wire, name: str, **extra) -> dict:
    r = wire("PATCH", f"/applications(uniqueName='{name}')", json={"displayName": name, **extra},
             headers={"Prefer": "create-if-missing"})
    assert r.status_code == 201, r.text
    return r.json()


def test_a_deleted_application_waits_in_deleted_items(wire):
    app = _app(wire, "soft-app")
    sp = wire("POST", "/servicePrincipals", json={"appId": app["appId"]}).json()
    assert wire("DELETE", f"/applications/{app['id']}").status_code == 204
    graph_error(wire("GET", f"/applications/{app['id']}"), 404, "Request_ResourceNotFound")
    graph_error(wire("GET", f"/servicePrincipals/{sp['id']}"), 404, "Request_ResourceNotFound")

    listed = wire("GET", "/directory/deletedItems/microsoft.graph.application").json()
    assert listed["@odata.context"].endswith("$metadata#directory/deletedItems/microsoft.graph.application")
    [item] = listed["value"]
    assert item["id"] == app["id"] and item["uniqueName"] == "soft-app" and item["deletedDateTime"]
    # The service principal went with it; each type is listed by its own cast.
    sps = wire("GET", "/directory/deletedItems/microsoft.graph.servicePrincipal").json()["value"]
    assert [s["id"] for s in sps] == [sp["id"]]
    one = wire("GET", f"/directory/deletedItems/{app['id']}").json()
    assert one["@odata.type"] == "#microsoft.graph.application" and one["appId"] == app["appId"]
    filtered = wire("GET", "/directory/deletedItems/microsoft.graph.application",
                    params={"$filter": "uniqueName eq 'soft-app'", "$count": "true"},
                    headers={"ConsistencyLevel": "eventual"}).json()
    assert filtered["@odata.count"] == 1
    graph_error(wire("GET", "/directory/deletedItems"), 400, "Request_BadRequest")


def test_a_deleted_object_holds_its_unique_name_until_purged(wire):
    app = _app(wire, "held-name")
    assert wire("DELETE", f"/applications/{app['id']}").status_code == 204
    # The upsert address finds no live application; creating one would reuse a name the deleted one holds.
    graph_error(wire("PATCH", "/applications(uniqueName='held-name')", json={"displayName": "again"}), 404,
                "Request_ResourceNotFound")
    msg = graph_error(wire("PATCH", "/applications(uniqueName='held-name')", json={"displayName": "again"},
                           headers={"Prefer": "create-if-missing"}), 400, "Request_BadRequest")
    assert "uniqueName" in msg and app["id"] in msg
    # Permanently deleted (what az does after `az ad app delete`): the name is free again.
    assert wire("DELETE", f"/directory/deletedItems/{app['id']}").status_code == 204
    graph_error(wire("GET", f"/directory/deletedItems/{app['id']}"), 404, "Request_ResourceNotFound")
    graph_error(wire("DELETE", f"/directory/deletedItems/{app['id']}"), 404, "Request_ResourceNotFound")
    again = _app(wire, "held-name")
    assert again["id"] != app["id"]


def test_restore_brings_back_the_application_with_its_secrets(emulator, wire):
    app = _app(wire, "restored-app")
    secret = wire("POST", f"/applications/{app['id']}/addPassword", json={}).json()["secretText"]
    sp = wire("POST", "/servicePrincipals", json={"appId": app["appId"]}).json()
    wire("DELETE", f"/applications/{app['id']}")
    r = wire("POST", f"/directory/deletedItems/{app['id']}/restore")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["@odata.type"] == "#microsoft.graph.application" and body["deletedDateTime"] is None
    assert wire("GET", f"/applications(uniqueName='restored-app')").json()["id"] == app["id"]
    # As in Entra, the service principal is restored separately; then the old secret signs in again.
    assert wire("POST", f"/directory/deletedItems/{sp['id']}/restore").status_code == 200
    token_for(emulator, app["appId"], secret, "https://management.azure.com/.default")
    assert wire("GET", "/directory/deletedItems/microsoft.graph.application").json()["value"] == []


def test_restore_refuses_what_cannot_come_back(wire):
    # A service principal cannot come back without its application.
    sp_app = _app(wire, "sp-owner")
    sp = wire("POST", "/servicePrincipals", json={"appId": sp_app["appId"]}).json()
    wire("DELETE", f"/applications/{sp_app['id']}")
    graph_error(wire("POST", f"/directory/deletedItems/{sp['id']}/restore"), 400, "Request_BadRequest")
    # A group's uniqueName stays held while it is deleted; once deleted permanently, there is nothing to restore.
    g = wire("PATCH", "/groups(uniqueName='grp-clash')", headers={"Prefer": "create-if-missing"}, json={
        "displayName": "g", "mailEnabled": False, "mailNickname": "g", "securityEnabled": True}).json()
    wire("DELETE", f"/groups/{g['id']}")
    graph_error(wire("PATCH", "/groups(uniqueName='grp-clash')", headers={"Prefer": "create-if-missing"}, json={
        "displayName": "g", "mailEnabled": False, "mailNickname": "g", "securityEnabled": True}), 400,
        "Request_BadRequest")
    wire("DELETE", f"/directory/deletedItems/{g['id']}")
    assert wire("POST", f"/directory/deletedItems/{g['id']}/restore").status_code == 404


def test_a_restored_group_gets_its_members_back(wire):
    group = wire("POST", "/groups", json={"displayName": "kafka-clients", "mailEnabled": False,
                                          "mailNickname": "kc", "securityEnabled": True}).json()
    app = _app(wire, "member-app")
    sp = wire("POST", "/servicePrincipals", json={"appId": app["appId"]}).json()
    ref = {"@odata.id": f"https://graph.microsoft.com/v1.0/directoryObjects/{sp['id']}"}
    assert wire("POST", f"/groups/{group['id']}/members/$ref", json=ref).status_code == 204
    wire("DELETE", f"/groups/{group['id']}")
    check = wire("POST", f"/servicePrincipals/{sp['id']}/checkMemberGroups", json={"groupIds": [group["id"]]})
    assert check.json()["value"] == []
    groups = wire("GET", "/directory/deletedItems/microsoft.graph.group").json()["value"]
    assert [g["displayName"] for g in groups] == ["kafka-clients"]
    assert wire("POST", f"/directory/deletedItems/{group['id']}/restore").status_code == 200
    check = wire("POST", f"/servicePrincipals/{sp['id']}/checkMemberGroups", json={"groupIds": [group["id"]]})
    assert check.json()["value"] == [group["id"]]


def test_deleted_items_through_msgraph_sdk(graph, wire):
    app = _app(wire, "sdk-deleted")
    wire("DELETE", f"/applications/{app['id']}")

    async def scenario():
        page = await graph.directory.deleted_items.graph_application.get()
        names = [a.unique_name for a in page.value]
        item = await graph.directory.deleted_items.by_directory_object_id(app["id"]).get()
        restored = await graph.directory.deleted_items.by_directory_object_id(app["id"]).restore.post()
        return names, item.id, restored.id

    names, got, restored = asyncio.run(scenario())
    assert names == ["sdk-deleted"] and got == restored == app["id"]
    assert wire("GET", f"/applications/{app['id']}").status_code == 200


def test_only_writers_restore_or_purge(emulator, wire):
    app = _app(wire, "writer-only")
    wire("POST", "/servicePrincipals", json={"appId": app["appId"]})
    secret = wire("POST", f"/applications/{app['id']}/addPassword", json={}).json()["secretText"]
    other = _app(wire, "victim")
    wire("DELETE", f"/applications/{other['id']}")
    from tests.emulator.test_graph import Wire

    weak = Wire(emulator, token_for(emulator, app["appId"], secret))
    graph_error(weak("DELETE", f"/directory/deletedItems/{other['id']}"), 403, "Authorization_RequestDenied")
    graph_error(weak("POST", f"/directory/deletedItems/{other['id']}/restore"), 403, "Authorization_RequestDenied")


@pytest.mark.parametrize("path", ["/directory/deletedItems/not-a-guid"])
def test_bad_ids(wire, path):
    graph_error(wire("GET", path), 400, "Request_BadRequest")


def test_a_deleted_application_keeps_its_identifier_uris_reserved(wire):
    app = _app(wire, "uri-holder", identifierUris=["api://kafka-orders"])
    wire("DELETE", f"/applications/{app['id']}")
    graph_error(wire("POST", "/applications", json={"displayName": "x", "identifierUris": ["api://kafka-orders"]}),
                400, "Request_BadRequest")
    wire("DELETE", f"/directory/deletedItems/{app['id']}")
    assert wire("POST", "/applications", json={"displayName": "x", "identifierUris": ["api://kafka-orders"]}
                ).status_code == 201
