"""One dropped connection on one request, in turn on every kind of Graph and ARM request `provision up`,
`provision access grant`, `provision access rotate` and `provision down` make — before the request is applied and
after it (the emulator's `after` rules: the write commits, the answer is lost). The command must succeed and leave no
duplicate: one app, one service principal, one group, one membership, exactly the one client secret the tool holds,
and a plan with nothing left to do (or, after `down`, everything to create again). A request kind that no longer
occurs fails the test (the fault must fire once), so the table follows the engine."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from provision.cli import cli

ENV = "ci-env"
APP = f"{ENV}-client"
GROUP = f"{ENV}-clients"

# (id, method, path regex searched in the request path) — every request kind of `up` on a fresh environment.
UP_REQUESTS = [
    ("arm-rg-get", "GET", r"(?i)/resourcegroups/rg-ci-env$"),
    ("arm-rg-put", "PUT", r"(?i)/resourcegroups/rg-ci-env$"),
    ("arm-nsg-get", "GET", r"/networkSecurityGroups/nsg-ci-env$"),
    ("arm-nsg-put", "PUT", r"/networkSecurityGroups/nsg-ci-env$"),
    ("arm-vnet-get", "GET", r"/virtualNetworks/vnet-ci-env$"),
    ("arm-vnet-put", "PUT", r"/virtualNetworks/vnet-ci-env$"),
    ("arm-subnet-get", "GET", r"/subnets/hdinsight$"),
    ("arm-network-operation-get", "GET", r"Microsoft\.Network/locations/[^/]+/operations/"),
    ("arm-storage-name-post", "POST", r"Microsoft\.Storage/checkNameAvailability$"),
    ("arm-storage-get", "GET", r"/storageAccounts/[a-z0-9]+$"),
    ("arm-storage-put", "PUT", r"/storageAccounts/[a-z0-9]+$"),
    ("arm-storage-operation-get", "GET", r"Microsoft\.Storage/locations/[^/]+/asyncoperations/"),
    ("arm-container-put", "PUT", r"/containers/[^/]+$"),
    ("arm-listkeys-post", "POST", r"/listKeys$"),
    ("arm-cluster-name-post", "POST", r"Microsoft\.HDInsight/locations/[^/]+/checkNameAvailability$"),
    ("arm-billingspecs-get", "GET", r"/billingSpecs$"),
    ("arm-usages-get", "GET", r"Microsoft\.HDInsight/locations/[^/]+/usages$"),
    ("arm-validate-post", "POST", r"/validateCreateRequest$"),
    ("arm-cluster-put", "PUT", r"/clusters/[^/]+$"),
    ("arm-cluster-get", "GET", r"/clusters/[^/]+$"),
    ("graph-app-get", "GET", r"^/v1\.0/applications\(uniqueName="),
    ("graph-app-patch", "PATCH", r"^/v1\.0/applications\(uniqueName="),
    ("graph-apps-list-get", "GET", r"^/v1\.0/applications$"),
    ("graph-sp-patch", "PATCH", r"^/v1\.0/servicePrincipals\(appId="),
    ("graph-group-get", "GET", r"^/v1\.0/groups\(uniqueName="),
    ("graph-groups-list-get", "GET", r"^/v1\.0/groups$"),
    ("graph-group-patch", "PATCH", r"^/v1\.0/groups\(uniqueName="),
    ("graph-addpassword-post", "POST", r"/addPassword$"),
    ("graph-member-post", "POST", r"/members/\$ref$"),
    ("graph-checkmembergroups-post", "POST", r"/checkMemberGroups$"),
]

# `access grant orders` on an environment whose group exists.
GRANT_REQUESTS = [
    ("graph-group-get", "GET", r"^/v1\.0/groups\(uniqueName="),
    ("graph-app-get", "GET", r"^/v1\.0/applications\(uniqueName="),
    ("graph-app-patch", "PATCH", r"^/v1\.0/applications\(uniqueName="),
    ("graph-sp-get", "GET", r"^/v1\.0/servicePrincipals\(appId="),
    ("graph-sp-patch", "PATCH", r"^/v1\.0/servicePrincipals\(appId="),
    ("graph-addpassword-post", "POST", r"/addPassword$"),
    ("graph-members-get", "GET", r"^/v1\.0/groups/[^/(]+/members$"),
    ("graph-members-bind-patch", "PATCH", r"^/v1\.0/groups/[0-9a-f-]+$"),
    ("arm-cluster-get", "GET", r"/clusters/[^/]+$"),
]


def cases(requests: list[tuple[str, str, str]]) -> list:
    """A drop before the request for every kind; for writes also a drop after it was applied, and for the one
    non-idempotent call also a 503 after it was applied (the answer replaced by an error)."""
    out = []
    for rid, method, path in requests:
        out.append(pytest.param(method, path, {"action": "drop"}, id=f"{rid}-drop-before"))
        if method != "GET":
            out.append(pytest.param(method, path, {"action": "drop", "after": True}, id=f"{rid}-drop-after"))
        if rid == "graph-addpassword-post":
            out.append(pytest.param(method, path, {"action": "status", "status": 503, "after": True},
                                    id=f"{rid}-503-after"))
    return out


def run(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def fired(admin, since: int) -> list[dict]:
    return [e for e in admin.requests(since) if e["fault"]]


def graph_objects(admin, kind: str, **match: str) -> list[dict]:
    return [o for o in admin.objects(kind) if all(o.get(k) == v for k, v in match.items())]


def assert_one_client(admin, display_name: str, app_id: str, held_key_id: str) -> dict:
    """Exactly one app (and service principal) of that name, the one in use, with exactly one secret: the one held
    locally (an orphan whose secret was lost with a response would be a second one)."""
    apps = graph_objects(admin, "application", displayName=display_name)
    assert [a["appId"] for a in apps] == [app_id]
    creds = apps[0].get("passwordCredentials", [])
    assert [c["keyId"] for c in creds] == [held_key_id], creds
    sps = graph_objects(admin, "servicePrincipal", appId=app_id)
    assert len(sps) == 1
    return sps[0]


def assert_member_once(emulator, operator_credential, group_id: str, sp_id: str) -> None:
    """The group lists the service principal as its only member (memberships are a set: listed once or not)."""
    import requests

    token = operator_credential.get_token("https://graph.microsoft.com/.default").token
    r = requests.get(f"{emulator.graph_url}/groups/{group_id}/members",
                     headers={"Authorization": f"Bearer {token}"}, verify=str(emulator.ca_cert), timeout=10)
    assert r.status_code == 200, r.text
    assert [m["id"] for m in r.json()["value"]] == [sp_id]


@pytest.mark.parametrize(("method", "path", "fault"), cases(UP_REQUESTS))
def test_up_survives_one_fault(env, admin, emulator, operator_credential, method, path, fault):
    admin.add_fault(methods=[method], path=path, count=1, **fault)
    seq = admin.last_seq()
    result = run("up", "--output", "json")
    assert result.exit_code == 0, result.output
    hits = fired(admin, seq)
    assert len(hits) == 1, [(e["method"], e["path"]) for e in hits]  # the fault did fire, once
    admin.clear_faults()

    out = json.loads(result.stdout)["outputs"]
    assert out["clusterState"] == "Running"
    held = json.loads(Path(out["clientSecretFile"]).read_text())
    sp = assert_one_client(admin, APP, out["clientId"], held["keyId"])
    assert_member_once(emulator, operator_credential, out["securityGroupId"], sp["id"])

    plan = json.loads(run("plan", "--output", "json").stdout)
    assert {c["action"] for c in plan["changes"]} == {"noop"}, plan["changes"]


@pytest.mark.parametrize(("method", "path", "fault"), cases(GRANT_REQUESTS))
def test_grant_survives_one_fault(env, admin, emulator, operator_credential, method, path, fault):
    assert run("group", "create").exit_code == 0
    admin.add_fault(methods=[method], path=path, count=1, **fault)
    seq = admin.last_seq()
    result = run("access", "grant", "orders", "--output", "json")
    assert result.exit_code == 0, result.output
    assert len(fired(admin, seq)) == 1
    admin.clear_faults()

    meta = json.loads(next(Path(env["PROVISION_STATE_DIR"]).rglob("orders.credential.json")).read_text())
    sp = assert_one_client(admin, "orders", meta["appId"], meta["keyId"])
    groups = graph_objects(admin, "group", displayName=GROUP)
    assert len(groups) == 1
    assert_member_once(emulator, operator_credential, groups[0]["id"], sp["id"])

    seq = admin.last_seq()
    again = run("access", "grant", "orders", "--output", "json")
    assert again.exit_code == 0, again.output
    assert [e for e in admin.requests(seq) if e["write"] and e["family"] in ("graph", "arm")] == []


# `access rotate orders` on a granted client: a new secret, then the old one removed.
ROTATE_REQUESTS = [
    ("graph-app-get", "GET", r"^/v1\.0/applications\(uniqueName="),
    ("graph-sp-get", "GET", r"^/v1\.0/servicePrincipals\(appId="),
    ("graph-addpassword-post", "POST", r"/addPassword$"),
    ("graph-removepassword-post", "POST", r"/removePassword$"),
    ("arm-cluster-get", "GET", r"/clusters/[^/]+$"),
]

# `down --yes` on a converged environment.
DOWN_REQUESTS = [
    ("graph-app-get", "GET", r"^/v1\.0/applications\(uniqueName="),
    ("graph-group-get", "GET", r"^/v1\.0/groups\(uniqueName="),
    ("graph-checkmembergroups-post", "POST", r"/checkMemberGroups$"),
    ("arm-cluster-delete", "DELETE", r"/clusters/[^/]+$"),
    ("arm-cluster-operation-get", "GET", r"/clusters/[^/]+/operationresults/"),
    ("graph-member-delete", "DELETE", r"/members/[^/]+/\$ref$"),
    ("graph-app-delete", "DELETE", r"^/v1\.0/applications/[0-9a-f-]+$"),
    ("graph-group-delete", "DELETE", r"^/v1\.0/groups/[0-9a-f-]+$"),
    ("arm-storage-delete", "DELETE", r"/storageAccounts/[a-z0-9]+$"),
    ("arm-vnet-delete", "DELETE", r"/virtualNetworks/vnet-ci-env$"),
    ("arm-nsg-delete", "DELETE", r"/networkSecurityGroups/nsg-ci-env$"),
    ("arm-rg-resources-get", "GET", r"(?i)/resourcegroups/rg-ci-env/resources$"),
    ("arm-rg-delete", "DELETE", r"(?i)/resourcegroups/rg-ci-env$"),
    ("arm-rg-operation-get", "GET", r"^/subscriptions/[^/]+/operationresults/"),
]


@pytest.mark.parametrize(("method", "path", "fault"), cases(ROTATE_REQUESTS))
def test_rotate_survives_one_fault(env, admin, method, path, fault):
    assert run("group", "create").exit_code == 0
    assert run("access", "grant", "orders").exit_code == 0
    admin.add_fault(methods=[method], path=path, count=1, **fault)
    seq = admin.last_seq()
    result = run("access", "rotate", "orders", "--output", "json")
    assert result.exit_code == 0, result.output
    assert len(fired(admin, seq)) == 1
    admin.clear_faults()
    meta = json.loads(next(Path(env["PROVISION_STATE_DIR"]).rglob("orders.credential.json")).read_text())
    assert_one_client(admin, "orders", meta["appId"], meta["keyId"])  # the new secret only, the old one gone


@pytest.mark.parametrize(("method", "path", "fault"), cases(DOWN_REQUESTS))
def test_down_survives_one_fault(env, admin, method, path, fault):
    assert run("up", "--output", "json").exit_code == 0
    admin.add_fault(methods=[method], path=path, count=1, **fault)
    seq = admin.last_seq()
    result = run("down", "--yes", "--output", "json")
    assert result.exit_code == 0, result.output
    assert len(fired(admin, seq)) == 1
    admin.clear_faults()
    assert graph_objects(admin, "application", displayName=APP) == []
    assert graph_objects(admin, "group", displayName=GROUP) == []
    plan = json.loads(run("plan", "--output", "json").stdout)
    assert {c["action"] for c in plan["changes"]} == {"create"}, plan["changes"]
