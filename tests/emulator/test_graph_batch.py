"""Microsoft Graph JSON batching: POST /v1.0/$batch through msgraph_core's BatchRequestContent and raw."""

from __future__ import annotations

import pytest
from msgraph.generated.models.reference_create import ReferenceCreate

from tests.emulator.test_graph import graph_error, run, wire  # noqa: F401
from tests.emulator.test_graph_groups import GRAPH, group_body, new_sp

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def test_batch_of_twenty_through_sdk(graph, wire, admin):
    # msgraph_core's batch classes import `deprecated` without declaring it: the test extra installs it.
    from msgraph_core.requests.batch_request_content import BatchRequestContent
    from msgraph_core.requests.batch_request_item import BatchRequestItem

    gid = wire("POST", "/groups", json=group_body("batched")).json()["id"]
    sps = [new_sp(wire, f"batch-{i}") for i in range(19)]
    seq = admin.last_seq()

    async def scenario():
        content = BatchRequestContent()
        members = graph.groups.by_group_id(gid).members
        for i, sp in enumerate(sps):  # 19 member additions ...
            info = members.ref.to_post_request_information(
                ReferenceCreate(odata_id=f"{GRAPH}/v1.0/directoryObjects/{sp['id']}"))
            content.add_request(str(i), BatchRequestItem(request_information=info, id=str(i)))
        # ... and one read that waits for the first of them.
        read = BatchRequestItem(request_information=members.to_get_request_information(), id="read",
                                depends_on=["0"])
        content.add_request("read", read)
        assert len(content.requests) == 20
        return await graph.batch.post(content)
    response = run(scenario())
    statuses = response.get_response_status_codes()
    assert statuses == {**{str(i): 204 for i in range(19)}, "read": 200}
    # The batch is one request in the log, and a write.
    batches = [e for e in admin.requests(seq) if e["family"] == "graph"]
    assert [(e["path"], e["status"], e["write"]) for e in batches] == [("/v1.0/$batch", 200, True)]
    listed = wire("GET", f"/groups/{gid}/members", params={"$top": "999"}).json()["value"]
    assert sorted(m["id"] for m in listed) == sorted(sp["id"] for sp in sps)


def test_batch_limits_and_envelope_errors(wire):
    get = {"method": "GET", "url": "/groups"}
    r = wire("POST", "/$batch", json={"requests": [{**get, "id": str(i)} for i in range(21)]})
    assert "20" in graph_error(r, 400, "BadRequest")
    r = wire("POST", "/$batch", json={"requests": [{**get, "id": str(i)} for i in range(20)]})
    assert r.status_code == 200 and [x["status"] for x in r.json()["responses"]] == [200] * 20
    graph_error(wire("POST", "/$batch", json={"requests": [{**get, "id": "a"}, {**get, "id": "A"}]}), 400,
                "BadRequest")  # ids are unique, case-insensitively
    r = wire("POST", "/$batch", json={"requests": [
        {"id": "1", "method": "POST", "url": "/groups", "body": group_body("no-headers")}]})
    assert graph_error(r, 400, "BadRequest") == "Write request id : 1 does not contain Content-Type header or body."
    graph_error(wire("POST", "/$batch", json={"requests": [{**get, "id": "1", "dependsOn": ["9"]}]}), 400,
                "BadRequest")
    graph_error(wire("POST", "/$batch", json={"requests": [{"id": "1", "method": "FETCH", "url": "/groups"}]}), 400,
                "BadRequest")
    graph_error(wire("POST", "/$batch", json={"nope": []}), 400, "BadRequest")
    graph_error(wire("POST", "/$batch", data=b"{not json", headers={"Content-Type": "application/json"}), 400,
                "BadRequest")


def test_batch_inner_responses_and_dependencies(emulator, wire, admin):
    sp = new_sp(wire, "dep-sp")
    json_headers = {"Content-Type": "application/json"}
    seq = admin.last_seq()
    r = wire("POST", "/$batch", json={"requests": [
        {"id": "create", "method": "POST", "url": "/groups", "headers": json_headers,
         "body": group_body("from-batch", uniqueName="batch-key")},
        {"id": "bad", "method": "POST", "url": "/groups", "headers": json_headers, "body": {"displayName": 5}},
        {"id": "after-bad", "method": "GET", "url": "/groups", "dependsOn": ["bad"]},
        {"id": "missing", "method": "GET", "url": f"{emulator.graph_url}/groups/11111111-2222-3333-4444-555555555555"},
        {"id": "read", "method": "GET", "url": "groups?$filter=uniqueName eq 'batch-key'&$select=id,displayName",
         "dependsOn": ["create"]},
        {"id": "add", "method": "PATCH", "url": "/groups(uniqueName='batch-key')", "headers": json_headers,
         "body": {"members@odata.bind": [f"{GRAPH}/v1.0/directoryObjects/{sp['id']}"]}, "dependsOn": ["create"]},
        {"id": "check", "method": "POST", "url": f"/servicePrincipals/{sp['id']}/getMemberGroups",
         "headers": json_headers, "body": {"securityEnabledOnly": False}, "dependsOn": ["add"]},
        {"id": "nested", "method": "POST", "url": "/$batch", "headers": json_headers, "body": {"requests": []}},
    ]})
    assert r.status_code == 200
    out = {x["id"]: x for x in r.json()["responses"]}
    assert [x["id"] for x in r.json()["responses"]] == ["create", "bad", "after-bad", "missing", "read", "add",
                                                        "check", "nested"]
    created = out["create"]
    assert created["status"] == 201 and created["headers"]["OData-Version"] == "4.0"
    assert created["body"]["@odata.context"] == f"{emulator.graph_url}/$metadata#groups/$entity"
    assert created["headers"]["Location"].endswith("Microsoft.DirectoryServices.Group")
    assert out["bad"]["status"] == 400 and out["bad"]["body"]["error"]["code"] == "Request_BadRequest"
    assert out["after-bad"]["status"] == 424
    assert out["missing"]["status"] == 404
    assert out["missing"]["body"]["error"]["code"] == "Request_ResourceNotFound"
    assert out["read"]["status"] == 200
    assert out["read"]["body"]["value"] == [{"id": created["body"]["id"], "displayName": "from-batch"}]
    assert out["add"]["status"] == 204 and "body" not in out["add"]
    assert out["check"]["status"] == 200 and out["check"]["body"]["value"] == [created["body"]["id"]]
    assert out["nested"]["status"] == 400
    # Only the outer request is logged; it wrote.
    assert [(e["path"], e["write"]) for e in admin.requests(seq) if e["family"] == "graph"] == [("/v1.0/$batch", True)]


def test_batch_of_reads_is_not_a_write_and_inner_throttling(wire, admin):
    gid = wire("POST", "/groups", json=group_body("throttled")).json()["id"]
    sp = new_sp(wire, "throttled-sp")
    admin.add_fault(action="status", status=429, retry_after=1, path="members/\\$ref", count=1)
    seq = admin.last_seq()
    r = wire("POST", "/$batch", json={"requests": [
        {"id": "1", "method": "GET", "url": f"/groups/{gid}"},
        {"id": "2", "method": "GET", "url": f"/groups/{gid}/members"},
    ]})
    assert [x["status"] for x in r.json()["responses"]] == [200, 200]
    assert [e["write"] for e in admin.requests(seq) if e["family"] == "graph"] == [False]
    body = {"@odata.id": f"{GRAPH}/v1.0/directoryObjects/{sp['id']}"}
    add = {"method": "POST", "url": f"/groups/{gid}/members/$ref", "headers": {"Content-Type": "application/json"},
           "body": body}
    r = wire("POST", "/$batch", json={"requests": [{**add, "id": "1"}]})
    [throttled] = r.json()["responses"]
    assert throttled["status"] == 429 and throttled["headers"]["Retry-After"] == "1"
    assert throttled["body"]["error"]["code"] == "TooManyRequests"
    r = wire("POST", "/$batch", json={"requests": [{**add, "id": "1"}]})  # the rule fired once
    assert r.json()["responses"][0]["status"] == 204


def test_inner_fault_after_applies_then_loses_the_answer(wire, admin):
    """An `after` rule inside a batch: the inner write commits, its answer is replaced (504 for a drop, the status
    for a status rule) — the ambiguous case a caller of a non-idempotent addPassword must reconcile."""
    app = wire("POST", "/applications", json={"displayName": "ambiguous-batch"}).json()
    admin.add_fault(action="drop", after=True, path=r"/addPassword$", methods=["POST"], count=1)
    admin.add_fault(action="status", status=500, after=True, path=r"/addPassword$", methods=["POST"], count=1)
    add = {"method": "POST", "url": f"/applications/{app['id']}/addPassword",
           "headers": {"Content-Type": "application/json"}, "body": {"passwordCredential": {"displayName": "x"}}}
    r = wire("POST", "/$batch", json={"requests": [{**add, "id": "1"}, {**add, "id": "2"}, {**add, "id": "3"}]})
    statuses = {x["id"]: x["status"] for x in r.json()["responses"]}
    assert statuses == {"1": 504, "2": 500, "3": 200}
    creds = wire("GET", f"/applications/{app['id']}?$select=passwordCredentials").json()["passwordCredentials"]
    assert len(creds) == 3  # all three were applied; only the last answer was seen
