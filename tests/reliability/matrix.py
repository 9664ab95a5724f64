"""The fault matrix shared by tests/reliability (a representative sample) and bench/bench_reliability.py (every
request kind): the request kinds `provision up`, `access grant`, `access rotate` and `down` make, the faults to
inject at each, and the checks that a command survived them — no duplicate object, exactly the one client secret
the tool holds, one membership. Checks return a list of problems (empty: all good), so the tests assert it is
empty and the bench counts them."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

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

COMMANDS = {"up": UP_REQUESTS, "grant": GRANT_REQUESTS, "rotate": ROTATE_REQUESTS, "down": DOWN_REQUESTS}

DROP_BEFORE = {"action": "drop"}
DROP_AFTER = {"action": "drop", "after": True}
STATUS_503_AFTER = {"action": "status", "status": 503, "after": True}


def faults_for(rid: str, method: str) -> list[tuple[str, dict[str, Any]]]:
    """A drop before the request for every kind; for writes also a drop after it was applied, and for the one
    non-idempotent call also a 503 after it was applied (the answer replaced by an error)."""
    out = [("drop-before", DROP_BEFORE)]
    if method != "GET":
        out.append(("drop-after", DROP_AFTER))
    if rid == "graph-addpassword-post":
        out.append(("503-after", STATUS_503_AFTER))
    return out


def all_cases(requests: list[tuple[str, str, str]]) -> list[tuple[str, str, str, dict[str, Any]]]:
    """(case id, method, path, fault) for every request kind and fault of a command's table."""
    return [(f"{rid}-{phase}", method, path, fault)
            for rid, method, path in requests for phase, fault in faults_for(rid, method)]


def request_kind(requests: list[tuple[str, str, str]], rid: str) -> tuple[str, str]:
    return next((m, p) for r, m, p in requests if r == rid)


# -- checks ---------------------------------------------------------------------------------------------------------
def fired(admin: Any, since: int) -> list[dict]:
    return [e for e in admin.requests(since) if e["fault"]]


def graph_objects(admin: Any, kind: str, **match: str) -> list[dict]:
    return [o for o in admin.objects(kind) if all(o.get(k) == v for k, v in match.items())]


def client_problems(admin: Any, display_name: str, app_id: str, held_key_id: str) -> tuple[list[str], dict | None]:
    """Exactly one app (and service principal) of that name, the one in use, with exactly one secret: the one held
    locally (an orphan whose secret was lost with a response would be a second one). (problems, the SP)."""
    problems = []
    apps = graph_objects(admin, "application", displayName=display_name)
    if [a["appId"] for a in apps] != [app_id]:
        return [f"duplicate or missing app {display_name}: {[a['appId'] for a in apps]} (held {app_id})"], None
    creds = [c["keyId"] for c in apps[0].get("passwordCredentials", [])]
    if creds != [held_key_id]:
        problems.append(f"secrets of {display_name}: {creds}, held {held_key_id}")
    sps = graph_objects(admin, "servicePrincipal", appId=app_id)
    if len(sps) != 1:
        problems.append(f"{len(sps)} service principals of {display_name}")
    return problems, (sps[0] if sps else None)


def member_ids(emulator: Any, group_id: str) -> list[str]:
    import requests

    from azure.identity import ClientSecretCredential

    cred = ClientSecretCredential(emulator.tenant_id, emulator.client_id, emulator.client_secret,
                                  authority=emulator.authority, disable_instance_discovery=True,
                                  connection_verify=str(emulator.ca_cert))
    token = cred.get_token("https://graph.microsoft.com/.default").token
    r = requests.get(f"{emulator.graph_url}/groups/{group_id}/members",
                     headers={"Authorization": f"Bearer {token}"}, verify=str(emulator.ca_cert), timeout=10)
    r.raise_for_status()
    return [m["id"] for m in r.json()["value"]]


def member_problems(emulator: Any, group_id: str, sp_id: str) -> list[str]:
    """The group lists the service principal as its only member (memberships are a set: listed once or not)."""
    got = member_ids(emulator, group_id)
    return [] if got == [sp_id] else [f"members of the group: {got}, expected [{sp_id}]"]


def secret_works(emulator: Any, app_id: str, secret: str) -> bool:
    """The secret gets a token from the emulator's token service (a secret that no longer works does not)."""
    from azure.core.exceptions import ClientAuthenticationError
    from azure.identity import ClientSecretCredential

    cred = ClientSecretCredential(emulator.tenant_id, app_id, secret, authority=emulator.authority,
                                  disable_instance_discovery=True, connection_verify=str(emulator.ca_cert))
    try:
        cred.get_token("https://hib.azurehdinsight.net/.default")
        return True
    except ClientAuthenticationError:
        return False
    finally:
        cred.close()


def up_problems(admin: Any, emulator: Any, outputs: dict[str, Any]) -> list[str]:
    """After `up`: one app with exactly the held secret (which works), one group, one membership."""
    problems = []
    if outputs.get("clusterState") != "Running":
        problems.append(f"clusterState {outputs.get('clusterState')}")
    held = json.loads(Path(outputs["clientSecretFile"]).read_text())
    more, sp = client_problems(admin, APP, outputs["clientId"], held["keyId"])
    problems += more
    if not secret_works(emulator, outputs["clientId"], held["clientSecret"]):
        problems.append("the held client secret gets no token (secret lost)")
    groups = graph_objects(admin, "group", displayName=GROUP)
    if len(groups) != 1:
        problems.append(f"{len(groups)} groups named {GROUP}")
    if sp is not None:
        problems += member_problems(emulator, outputs["securityGroupId"], sp["id"])
    return problems


# -- secrets in outputs and files -----------------------------------------------------------------------------------
JWT = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.")
SECRET_KEYS = ("AZURE_CLIENT_SECRET", "clientSecret", "secret")


def held_secrets(path: Path) -> list[str]:
    """Secret values a file the tool wrote holds: a client config (dotenv or JSON), a credential record, the
    environment's client-secret.json, passwords.json (gateway and SSH passwords). Key Vault references are not
    values."""
    text = path.read_text(errors="replace")
    found = re.findall(r"^AZURE_CLIENT_SECRET=(.+)$", text, re.M)
    try:
        doc = json.loads(text)
    except ValueError:
        doc = None
    if isinstance(doc, dict):
        found += [doc[k] for k in SECRET_KEYS if isinstance(doc.get(k), str)]
        if path.name == "passwords.json":
            found += [v for v in doc.values() if isinstance(v, str)]
    return [s.strip("'\"") for s in found if not s.startswith("@Microsoft.KeyVault")]


def secrets_under(root: Path) -> set[str]:
    return {s for p in root.rglob("*") if p.is_file() for s in held_secrets(p) if s}


def storage_keys(admin: Any, emulator: Any) -> set[str]:
    """The storage account keys `up` read (ARM listKeys, asked again with the operator's token)."""
    import requests

    from azure.identity import ClientSecretCredential

    paths = {e["path"] for e in admin.requests() if e["method"] == "POST" and e["path"].endswith("/listKeys")}
    if not paths:
        return set()
    cred = ClientSecretCredential(emulator.tenant_id, emulator.client_id, emulator.client_secret,
                                  authority=emulator.authority, disable_instance_discovery=True,
                                  connection_verify=str(emulator.ca_cert))
    token = cred.get_token("https://management.azure.com/.default").token
    keys = set()
    for path in paths:
        r = requests.post(f"{emulator.url}{path}?api-version=2023-01-01", headers={"Authorization": f"Bearer {token}"},
                          verify=str(emulator.ca_cert), timeout=10)
        if r.status_code == 200:
            keys |= {k["value"] for k in r.json().get("keys", [])}
    return keys


def leaks(text: str, secrets: set[str]) -> list[str]:
    """Tokens and secret values in `text` (shown by their first three characters only)."""
    found = ["a token"] if JWT.search(text) else []
    return found + [f"secret {s[:3]}…" for s in secrets if s and s in text]


def operator_secrets(emulator: Any) -> set[str]:
    return {emulator.client_secret, emulator.admin_key}
