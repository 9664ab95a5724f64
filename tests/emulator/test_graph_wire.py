"""Microsoft Graph at the edges: token validation, malformed input, URL quirks of msgraph-sdk, throttling retried
by kiota, and Entra's replication lag seen through the SDK."""

from __future__ import annotations

import asyncio
import time

import pytest
import requests
from msgraph.generated.models.application import Application
from msgraph.generated.models.group import Group
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from msgraph.generated.models.reference_create import ReferenceCreate
from msgraph.generated.models.service_principal import ServicePrincipal

from provision.emulator.tokens import Signer
from tests.emulator.test_graph import Wire, graph_error, prefer_create, run, token_for, wire  # noqa: F401
from tests.emulator.test_graph_groups import GRAPH, group_body, new_sp

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def sdk_group(name: str) -> Group:
    return Group(display_name=name, mail_enabled=False, mail_nickname=name, security_enabled=True, group_types=[])


def test_token_validation(emulator):
    def status(token: str | None, raw_header: str | None = None) -> tuple[int, str]:
        headers = {"Authorization": raw_header} if raw_header else {}
        r = Wire(emulator, token)("GET", "/applications", headers=headers)
        assert r.headers.get("WWW-Authenticate", "").startswith("Bearer") or r.status_code == 200
        return r.status_code, (graph_error(r, 401, "InvalidAuthenticationToken") if r.status_code == 401 else "")

    assert status(None) == (401, "Access token is empty.")
    assert status(None, raw_header="Bearer not-a-jwt")[0] == 401
    arm = token_for(emulator, emulator.client_id, emulator.client_secret, "https://management.azure.com/.default")
    assert status(arm) == (401, "Access token validation failure. Invalid audience.")
    signer = Signer(emulator.data_dir)  # the emulator's own signing key, to mint edge-case tokens
    common = dict(issuer=f"{emulator.url}/{emulator.tenant_id}/v2.0", audience="https://graph.microsoft.com",
                  app_id=emulator.client_id, sp_object_id="x")
    expired, _ = signer.issue(tenant_id=emulator.tenant_id, lifetime=-600, **common)
    assert status(expired) == (401, "Lifetime validation failed, the token is expired.")
    foreign, _ = signer.issue(tenant_id="11111111-2222-3333-4444-555555555555", lifetime=600, **common)
    assert status(foreign)[0] == 401
    good = token_for(emulator, emulator.client_id, emulator.client_secret)
    assert status(good) == (200, "")


def test_bad_input_is_a_graph_400_never_a_500(emulator, wire, admin):
    seq = admin.last_seq()
    json_type = {"Content-Type": "application/json"}
    payload = ("Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of "
               "valid JSON format.")
    assert graph_error(wire("POST", "/applications", data=b"{oops", headers=json_type), 400, "BadRequest") == payload
    assert graph_error(wire("POST", "/applications", data=b"\xff\xfe", headers=json_type), 400,
                       "BadRequest") == payload
    assert graph_error(wire("POST", "/applications", data=b"", headers=json_type), 400, "BadRequest") == payload
    assert "StartArray" in graph_error(wire("POST", "/applications", json=[1, 2]), 400, "BadRequest")
    assert graph_error(wire("POST", "/applications", json={"displayName": 5}), 400, "Request_BadRequest") == \
        "Invalid value specified for property 'displayName' of resource 'Application'."
    assert graph_error(wire("POST", "/applications", json={"displayName": "x", "tags": "t"}), 400,
                       "Request_BadRequest") == "Invalid value specified for property 'tags' of resource 'Application'."
    graph_error(wire("POST", "/applications", json={"displayName": "x", "signInAudience": "Everyone"}), 400,
                "Request_BadRequest")
    assert "'_rights'" in graph_error(wire("PATCH", f"/servicePrincipals(appId='{emulator.client_id}')",
                                           json={"_rights": ["graph"]}), 400, "BadRequest")
    assert graph_error(wire("POST", "/applications", json={}), 400, "Request_BadRequest") == \
        "A value is required for property 'displayName' of resource 'Application'."
    big = b'{"displayName": "' + b"x" * (4 * 1024 * 1024) + b'"}'
    graph_error(wire("POST", "/applications", data=big, headers=json_type), 413, "Request_EntityTooLarge")
    assert graph_error(wire("GET", "/nothingHere"), 400, "BadRequest") == \
        "Resource not found for the segment 'nothingHere'."
    graph_error(wire("GET", "/applications(displayName='x')"), 400, "BadRequest")
    assert graph_error(wire("GET", "/applications/not-a-guid"), 400, "Request_BadRequest") == \
        "Invalid object identifier 'not-a-guid'."
    # The emulator's own operator cannot be deleted out from under its clients.
    graph_error(wire("DELETE", f"/applications(appId='{emulator.client_id}')"), 403, "Authorization_RequestDenied")
    graph_error(wire("DELETE", f"/servicePrincipals(appId='{emulator.client_id}')"), 403,
                "Authorization_RequestDenied")
    assert wire("PUT", "/applications").status_code == 405
    graph_error(wire("GET", "/applications", params={"$expand": "owners"}), 400, "BadRequest")
    graph_error(wire("GET", "/applications", params={"$bogus": "1"}), 400, "BadRequest")
    graph_error(wire("POST", "/groups/11111111-2222-3333-4444-555555555555/members/$ref", data=b"[",
                     headers=json_type), 400, "BadRequest")
    statuses = [e["status"] for e in admin.requests(seq) if e["family"] == "graph"]
    assert statuses and all(400 <= s < 500 for s in statuses)


def test_msgraph_url_quirks(emulator, wire):
    # msgraph-sdk 1.65 sends `v1.0//applications` and percent-encodes the `$` of query options.
    app = wire("POST", "/applications", json={"displayName": "quirk"}).json()
    r = wire("GET", f"{emulator.url}/v1.0//applications?%24filter=displayName%20eq%20%27quirk%27&%24select=id")
    assert r.status_code == 200 and r.json()["value"] == [{"id": app["id"]}]
    # Graph v1.0 also takes the options without their `$`.
    r = wire("GET", "/applications", params={"filter": "displayName eq 'quirk'", "select": "appId"})
    assert r.json()["value"] == [{"appId": app["appId"]}]
    assert wire("GET", f"/applications/{app['id']}/").status_code == 200
    assert wire("GET", f"/applications/{app['id'].upper()}").json()["id"] == app["id"]  # GUIDs ignore case


def test_throttled_member_add_is_retried_by_kiota(graph, wire, admin):
    sp = new_sp(wire, "retried")
    gid = wire("POST", "/groups", json=group_body("retried")).json()["id"]
    admin.add_fault(action="status", status=429, retry_after=1, path="members/\\$ref", count=1)
    seq = admin.last_seq()

    async def scenario():
        started = time.monotonic()
        await graph.groups.by_group_id(gid).members.ref.post(
            ReferenceCreate(odata_id=f"{GRAPH}/v1.0/directoryObjects/{sp['id']}"))
        return time.monotonic() - started
    elapsed = run(scenario())
    assert elapsed >= 1.0  # kiota honoured Retry-After: 1
    log = [(e["status"], e["fault"]) for e in admin.requests(seq) if e["path"].endswith("members/$ref")]
    assert log == [(429, "status 429"), (204, None)]
    assert [m["id"] for m in wire("GET", f"/groups/{gid}/members").json()["value"]] == [sp["id"]]


def test_replication_lag_seen_through_sdk(graph, admin):
    async def scenario():
        # Warm up first: msgraph imports its models lazily, and parsing the first Group takes seconds.
        warm = await graph.applications.post(Application(display_name="warm-app"))
        await graph.service_principals.post(ServicePrincipal(app_id=warm.app_id))
        await graph.groups.post(sdk_group("warm"))
        admin.set_replication_lag(1.0)

        group = await graph.groups.post(sdk_group("young"))  # the creating call returns the object
        assert group.id
        app = await graph.applications.post(Application(display_name="young-app"))
        with pytest.raises(ODataError) as e:
            await graph.groups.by_group_id(group.id).get()
        assert e.value.response_status_code == 404 and e.value.error.code == "Request_ResourceNotFound"
        with pytest.raises(ODataError) as e:
            await graph.service_principals.post(ServicePrincipal(app_id=app.app_id))
        assert e.value.response_status_code == 400
        assert e.value.error.details[0].code == "NoBackingApplicationObject"
        # Upserts see everything: a retried upsert during the lag still makes one object.
        first = await graph.groups_with_unique_name("young-key").patch(sdk_group("y"),
                                                                      request_configuration=prefer_create())
        second = await graph.groups_with_unique_name("young-key").patch(sdk_group("y"),
                                                                       request_configuration=prefer_create())
        assert first is not None and second is None

        await asyncio.sleep(1.1)
        assert (await graph.groups.by_group_id(group.id).get()).display_name == "young"
        sp = await graph.service_principals.post(ServicePrincipal(app_id=app.app_id))
        # A reference to the brand-new service principal is not found until it replicates.
        members = graph.groups.by_group_id(group.id).members.ref
        with pytest.raises(ODataError) as e:
            await members.post(ReferenceCreate(odata_id=f"{GRAPH}/v1.0/directoryObjects/{sp.id}"))
        assert e.value.response_status_code == 404
        await asyncio.sleep(1.1)
        await members.post(ReferenceCreate(odata_id=f"{GRAPH}/v1.0/directoryObjects/{sp.id}"))
    run(scenario())


def test_non_graph_callers_and_request_log_caller(emulator, wire, admin):
    seq = admin.last_seq()
    assert wire("GET", "/groups").status_code == 200
    [entry] = [e for e in admin.requests(seq) if e["family"] == "graph"]
    assert entry["clientId"] == emulator.client_id and entry["write"] is False
    r = requests.get(f"{emulator.url}/v1.0/groups", verify=str(emulator.ca_cert),
                     headers={"Authorization": f"Bearer {emulator.admin_key}"})
    graph_error(r, 401, "InvalidAuthenticationToken")  # the admin key is not a Graph token
