"""Microsoft Graph v1.0 groups: create and upsert, validation, members and owners by `$ref` and `@odata.bind`,
member listings, and transitive membership checks."""

from __future__ import annotations

import pytest
from kiota_abstractions.base_request_configuration import RequestConfiguration
from msgraph.generated.groups.groups_request_builder import GroupsRequestBuilder
from msgraph.generated.models.application import Application
from msgraph.generated.models.group import Group
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from msgraph.generated.models.reference_create import ReferenceCreate
from msgraph.generated.models.service_principal import ServicePrincipal
from msgraph.generated.service_principals.item.check_member_groups.check_member_groups_post_request_body import (
    CheckMemberGroupsPostRequestBody,
)

from tests.emulator.test_graph import graph_error, prefer_create, run, token_for, user_body, wire  # noqa: F401

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

ALREADY = ("One or more added object references already exist for the following modified properties: "
           "'{}'.")


def group_body(name: str, **extra) -> dict:
    return {"displayName": name, "mailEnabled": False, "mailNickname": name, "securityEnabled": True,
            "groupTypes": [], **extra}


def new_sp(wire, name: str) -> dict:
    app = wire("POST", "/applications", json={"displayName": name}).json()
    return wire("POST", "/servicePrincipals", json={"appId": app["appId"]}).json()


def ref(emulator_or_host: str, object_id: str, collection: str = "directoryObjects") -> dict:
    return {"@odata.id": f"{emulator_or_host}/v1.0/{collection}/{object_id}"}


GRAPH = "https://graph.microsoft.com"


def test_group_membership_through_sdk(emulator, graph, wire):
    async def scenario():
        app = await graph.applications.post(Application(display_name="member-app"))
        sp = await graph.service_principals.post(ServicePrincipal(app_id=app.app_id))
        group = await graph.groups.post(Group(display_name="readers", mail_enabled=False, mail_nickname="readers",
                                              security_enabled=True, group_types=[]))
        assert group.security_identifier.startswith("S-1-12-1-") and group.created_date_time is not None
        members = graph.groups.by_group_id(group.id).members
        await members.ref.post(ReferenceCreate(odata_id=f"{GRAPH}/v1.0/directoryObjects/{sp.id}"))
        with pytest.raises(ODataError) as e:  # adding again: 400 "already exist", which callers treat as done
            await members.ref.post(ReferenceCreate(odata_id=f"{GRAPH}/v1.0/directoryObjects/{sp.id}"))
        assert e.value.response_status_code == 400 and e.value.error.code == "Request_BadRequest"
        assert e.value.error.message == ALREADY.format("members")

        listed = await members.get()
        assert [(type(m).__name__, m.id) for m in listed.value] == [("ServicePrincipal", sp.id)]
        cast = await members.graph_service_principal.get()
        assert [m.app_id for m in cast.value] == [app.app_id]

        checked = await graph.service_principals.by_service_principal_id(sp.id).check_member_groups.post(
            CheckMemberGroupsPostRequestBody(group_ids=[group.id, "11111111-2222-3333-4444-555555555555"]))
        assert checked.value == [group.id]

        qp = GroupsRequestBuilder.GroupsRequestBuilderGetQueryParameters(filter="displayName eq 'readers'",
                                                                         select=["id", "displayName"], count=True)
        rc = RequestConfiguration(query_parameters=qp)
        rc.headers.add("ConsistencyLevel", "eventual")
        found = await graph.groups.get(request_configuration=rc)
        assert found.odata_count == 1 and found.value[0].id == group.id

        await members.by_directory_object_id(sp.id).ref.delete()
        assert (await members.get()).value == []
        with pytest.raises(ODataError) as e:
            await members.by_directory_object_id(sp.id).ref.delete()
        assert e.value.response_status_code == 404 and e.value.error.code == "Request_ResourceNotFound"
    run(scenario())


def test_create_group_validation(wire):
    assert wire("POST", "/groups", json=group_body("ok-group")).status_code == 201
    for prop in ("displayName", "mailEnabled", "mailNickname", "securityEnabled"):
        body = {k: v for k, v in group_body("g").items() if k != prop}
        msg = graph_error(wire("POST", "/groups", json=body), 400, "Request_BadRequest")
        assert msg == f"A value is required for property '{prop}' of resource 'Group'."
    for nickname in ("has space", "a@b", "semi;colon", "x" * 65, "ünicode", "paren(", "brack]", 'quo"te', ""):
        msg = graph_error(wire("POST", "/groups", json=group_body("g", mailNickname=nickname)), 400,
                          "Request_BadRequest")
        assert msg == "Invalid value specified for property 'mailNickname' of resource 'Group'."
    msg = graph_error(wire("POST", "/groups", json=group_body("g", displayName=5)), 400, "Request_BadRequest")
    assert msg == "Invalid value specified for property 'displayName' of resource 'Group'."
    graph_error(wire("POST", "/groups", json=group_body("g", securityEnabled="yes")), 400, "Request_BadRequest")
    graph_error(wire("POST", "/groups", json=group_body("g", groupTypes="Unified")), 400, "Request_BadRequest")
    msg = graph_error(wire("POST", "/groups", json=group_body("g", color="blue")), 400, "BadRequest")
    assert msg.startswith("Property 'color' does not exist on type 'microsoft.graph.group'.")
    # Groups may share a display name and a nickname (only uniqueName is a key).
    assert wire("POST", "/groups", json=group_body("ok-group")).status_code == 201


def test_create_group_with_members_and_owners_bind(emulator, wire):
    sps = [new_sp(wire, f"bind-{i}") for i in range(3)]
    user = wire("POST", "/users", json=user_body("owner")).json()
    body = group_body("bound", **{
        "members@odata.bind": [f"{GRAPH}/v1.0/directoryObjects/{sps[0]['id']}",
                               f"{emulator.url}/v1.0/servicePrincipals/{sps[1]['id']}"],
        "owners@odata.bind": [f"{GRAPH}/v1.0/users/{user['id']}"],
    })
    r = wire("POST", "/groups", json=body)
    assert r.status_code == 201, r.text
    gid = r.json()["id"]
    members = wire("GET", f"/groups/{gid}/members").json()
    assert members["@odata.context"] == f"{emulator.graph_url}/$metadata#directoryObjects"
    assert [(m["@odata.type"], m["id"]) for m in members["value"]] == [
        ("#microsoft.graph.servicePrincipal", sps[0]["id"]), ("#microsoft.graph.servicePrincipal", sps[1]["id"])]
    owners = wire("GET", f"/groups/{gid}/owners").json()["value"]
    assert [(o["@odata.type"], o["id"]) for o in owners] == [("#microsoft.graph.user", user["id"])]

    # PATCH binds are all-or-nothing: one unknown object and nobody is added.
    missing = "11111111-2222-3333-4444-555555555555"
    r = wire("PATCH", f"/groups/{gid}", json={"members@odata.bind": [
        f"{GRAPH}/v1.0/directoryObjects/{sps[2]['id']}", f"{GRAPH}/v1.0/directoryObjects/{missing}"]})
    assert f"'{missing}'" in graph_error(r, 404, "Request_ResourceNotFound")
    assert len(wire("GET", f"/groups/{gid}/members").json()["value"]) == 2
    r = wire("PATCH", f"/groups/{gid}", json={"members@odata.bind": [f"{GRAPH}/v1.0/directoryObjects/{sps[0]['id']}"]})
    assert graph_error(r, 400, "Request_BadRequest") == ALREADY.format("members")
    r = wire("PATCH", f"/groups/{gid}", json={"description": "d", "members@odata.bind": [
        f"{GRAPH}/v1.0/directoryObjects/{sps[2]['id']}"]})
    assert r.status_code == 204
    assert len(wire("GET", f"/groups/{gid}/members").json()["value"]) == 3
    assert wire("GET", f"/groups/{gid}").json()["description"] == "d"

    # At most 20 relationships per request; a create that fails leaves no group behind.
    many = [f"{GRAPH}/v1.0/directoryObjects/{sps[0]['id']}"] * 21
    graph_error(wire("POST", "/groups", json=group_body("too-many", **{"members@odata.bind": many})), 400,
                "Request_BadRequest")
    graph_error(wire("POST", "/groups", json=group_body("ghost", **{
        "members@odata.bind": [f"{GRAPH}/v1.0/directoryObjects/{missing}"]})), 404, "Request_ResourceNotFound")
    assert wire("GET", "/groups", params={"$filter": "displayName eq 'ghost'"}).json()["value"] == []
    graph_error(wire("POST", "/groups", json=group_body("badurl", **{"members@odata.bind": ["not a url"]})), 400,
                "BadRequest")
    app = wire("POST", "/applications", json={"displayName": "not-a-member"}).json()
    graph_error(wire("POST", "/groups", json=group_body("appmember", **{
        "members@odata.bind": [f"{GRAPH}/v1.0/directoryObjects/{app['id']}"]})), 400, "Request_BadRequest")


def test_member_refs_on_the_wire(emulator, wire):
    sp = new_sp(wire, "wire-member")
    gid = wire("POST", "/groups", json=group_body("wire-group")).json()["id"]
    r = wire("POST", f"/groups/{gid}/members/$ref", json=ref(GRAPH, sp["id"]))
    assert r.status_code == 204 and r.content == b""
    assert graph_error(wire("POST", f"/groups/{gid}/members/$ref", json=ref(emulator.url, sp["id"])), 400,
                       "Request_BadRequest") == ALREADY.format("members")
    missing = "11111111-2222-3333-4444-555555555555"
    assert graph_error(wire("POST", f"/groups/{gid}/members/$ref", json=ref(GRAPH, missing)), 404,
                       "Request_ResourceNotFound") == (f"Resource '{missing}' does not exist or one of its queried "
                                                       f"reference-property objects are not present.")
    graph_error(wire("POST", f"/groups/{missing}/members/$ref", json=ref(GRAPH, sp["id"])), 404,
                "Request_ResourceNotFound")
    graph_error(wire("POST", f"/groups/{gid}/members/$ref", json={"@odata.id": "nonsense"}), 400,
                "Request_BadRequest")
    graph_error(wire("POST", f"/groups/{gid}/members/$ref", json={}), 400, "BadRequest")
    # A user instead of a service principal is a member too, and shows with its own type.
    user = wire("POST", "/users", json=user_body("member-user")).json()
    assert wire("POST", f"/groups/{gid}/members/$ref", json=ref(GRAPH, user["id"], "users")).status_code == 204
    types = [m["@odata.type"] for m in wire("GET", f"/groups/{gid}/members").json()["value"]]
    assert types == ["#microsoft.graph.servicePrincipal", "#microsoft.graph.user"]
    cast = wire("GET", f"/groups/{gid}/members/microsoft.graph.user").json()
    assert cast["@odata.context"] == f"{emulator.graph_url}/$metadata#users"
    assert [m["id"] for m in cast["value"]] == [user["id"]]
    one = wire("GET", f"/groups/{gid}/members/{sp['id']}").json()
    assert one["@odata.type"] == "#microsoft.graph.servicePrincipal" and one["id"] == sp["id"]
    # Paging over members.
    page = wire("GET", f"/groups/{gid}/members", params={"$top": "1"}).json()
    assert len(page["value"]) == 1 and page["@odata.nextLink"].startswith(f"{emulator.graph_url}/groups/{gid}/members?")
    assert [m["id"] for m in wire("GET", page["@odata.nextLink"]).json()["value"]] == [user["id"]]

    assert wire("DELETE", f"/groups/{gid}/members/{sp['id']}/$ref").status_code == 204
    graph_error(wire("DELETE", f"/groups/{gid}/members/{sp['id']}/$ref"), 404, "Request_ResourceNotFound")
    # Owners: users and service principals; groups cannot own groups.
    assert wire("POST", f"/groups/{gid}/owners/$ref", json=ref(GRAPH, sp["id"])).status_code == 204
    assert graph_error(wire("POST", f"/groups/{gid}/owners/$ref", json=ref(GRAPH, sp["id"])), 400,
                       "Request_BadRequest") == ALREADY.format("owners")
    other = wire("POST", "/groups", json=group_body("other")).json()
    graph_error(wire("POST", f"/groups/{gid}/owners/$ref", json=ref(GRAPH, other["id"])), 400, "Request_BadRequest")
    assert wire("DELETE", f"/groups/{gid}/owners/{sp['id']}/$ref").status_code == 204
    assert wire("GET", f"/groups/{gid}/owners").json()["value"] == []


def test_transitive_membership_checks(emulator, wire, admin):
    sp = new_sp(wire, "nested")
    outer = wire("POST", "/groups", json=group_body("outer")).json()["id"]
    inner = wire("POST", "/groups", json=group_body("inner")).json()["id"]
    unrelated = wire("POST", "/groups", json=group_body("unrelated", securityEnabled=False)).json()["id"]
    assert wire("POST", f"/groups/{outer}/members/$ref", json=ref(GRAPH, inner)).status_code == 204
    assert wire("POST", f"/groups/{inner}/members/$ref", json=ref(GRAPH, sp["id"])).status_code == 204
    assert wire("POST", f"/groups/{unrelated}/members/$ref", json=ref(GRAPH, sp["id"])).status_code == 204

    seq = admin.last_seq()
    r = wire("POST", f"/directoryObjects/{sp['id']}/checkMemberGroups", json={"groupIds": [outer, inner]})
    assert r.status_code == 200 and r.json() == {
        "@odata.context": f"{emulator.graph_url}/$metadata#Collection(Edm.String)", "value": [outer, inner]}
    r = wire("POST", f"/servicePrincipals/{sp['id']}/checkMemberObjects", json={"ids": [outer]})
    assert r.json()["value"] == [outer]
    r = wire("POST", f"/servicePrincipals/{sp['id']}/getMemberGroups", json={"securityEnabledOnly": True})
    assert sorted(r.json()["value"]) == sorted([outer, inner])
    r = wire("POST", f"/servicePrincipals/{sp['id']}/getMemberGroups", json={"securityEnabledOnly": False})
    assert sorted(r.json()["value"]) == sorted([outer, inner, unrelated])
    # Membership checks read only: the request log does not count them as writes.
    assert [e["write"] for e in admin.requests(seq) if e["family"] == "graph"] == [False] * 4
    transitive = wire("GET", f"/groups/{outer}/transitiveMembers").json()["value"]
    assert [m["id"] for m in transitive] == [inner, sp["id"]]
    member_of = wire("GET", f"/servicePrincipals/{sp['id']}/transitiveMemberOf").json()["value"]
    assert sorted(g["id"] for g in member_of) == sorted([outer, inner, unrelated])
    too_many = ["11111111-2222-3333-4444-%012d" % i for i in range(21)]
    graph_error(wire("POST", f"/servicePrincipals/{sp['id']}/checkMemberGroups", json={"groupIds": too_many}), 400,
                "Request_BadRequest")
    graph_error(wire("POST", f"/servicePrincipals/{sp['id']}/checkMemberGroups", json={"groupIds": "x"}), 400,
                "Request_BadRequest")
    graph_error(wire("POST", f"/servicePrincipals/{inner}/checkMemberGroups", json={"groupIds": [outer]}), 404,
                "Request_ResourceNotFound")  # typed path: a group is not a service principal
    assert wire("POST", f"/groups/{inner}/checkMemberGroups", json={"groupIds": [outer]}).json()["value"] == [outer]
    # Deleting a group drops its memberships.
    assert wire("DELETE", f"/groups/{inner}").status_code == 204
    r = wire("POST", f"/directoryObjects/{sp['id']}/checkMemberGroups", json={"groupIds": [outer, inner]})
    assert r.json()["value"] == []


def test_upsert_group_twice_creates_one(graph, wire):
    async def scenario():
        group = Group(display_name="team", mail_enabled=False, mail_nickname="team", security_enabled=True)
        first = await graph.groups_with_unique_name("team-key").patch(group, request_configuration=prefer_create())
        second = await graph.groups_with_unique_name("team-key").patch(Group(description="again"),
                                                                     request_configuration=prefer_create())
        return first, second
    first, second = run(scenario())
    assert first is not None and first.unique_name == "team-key" and second is None
    found = wire("GET", "/groups", params={"$filter": "uniqueName eq 'team-key'"}).json()["value"]
    assert len(found) == 1 and found[0]["description"] == "again"
    graph_error(wire("PATCH", "/groups(uniqueName='nope')", json={"description": "x"}), 404,
                "Request_ResourceNotFound")
    # Creating through upsert requires the same four properties as POST.
    graph_error(wire("PATCH", "/groups(uniqueName='half')", json={"displayName": "half"},
                     headers={"Prefer": "create-if-missing"}), 400, "Request_BadRequest")
    r = wire("GET", "/groups", params={"$filter": "securityEnabled eq true and mailNickname eq 'team'"})
    assert [g["id"] for g in r.json()["value"]] == [first.id]
    assert wire("DELETE", "/groups(uniqueName='team-key')").status_code == 204
    assert wire("GET", "/groups", params={"$filter": "uniqueName eq 'team-key'"}).json()["value"] == []


def test_apps_without_graph_rights_read_but_cannot_write(emulator, wire):
    app = wire("POST", "/applications", json={"displayName": "plain-app"}).json()
    wire("POST", "/servicePrincipals", json={"appId": app["appId"]})
    secret = wire("POST", f"/applications/{app['id']}/addPassword", json={}).json()["secretText"]
    plain = type(wire)(emulator, token_for(emulator, app["appId"], secret))
    assert plain("GET", "/groups").status_code == 200
    r = plain("POST", "/groups", json=group_body("nope"))
    assert graph_error(r, 403, "Authorization_RequestDenied") == "Insufficient privileges to complete the operation."
    # Checking its own memberships is a read.
    me = wire("GET", f"/servicePrincipals(appId='{app['appId']}')").json()["id"]
    assert plain("POST", f"/servicePrincipals/{me}/checkMemberGroups", json={"groupIds": []}).status_code == 200
