"""`provision access …` against the emulator: real Graph calls through msgraph-sdk, real tokens, real REST proxy."""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

import pytest
import requests
from azure.core.exceptions import ClientAuthenticationError
from azure.identity import CertificateCredential, ClientAssertionCredential, ClientSecretCredential

from tests.cli.test_up import env, run  # noqa: F401 — the `env` fixture points the CLI at the emulator

SCOPE = "https://hib.azurehdinsight.net/.default"


@pytest.fixture
def cluster(env, admin):  # noqa: F811
    return json.loads(run("up", "--output", "json").stdout)["outputs"]


def dotenv(path: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in Path(path).read_text().splitlines() if "=" in line)


def topics_status(emulator, endpoint: str, credential) -> int:
    token = credential.get_token(SCOPE).token
    r = requests.get(f"{endpoint}/v1/metadata/topics", headers={"Authorization": f"Bearer {token}"},
                     verify=str(emulator.ca_cert), timeout=10)
    return r.status_code


def secret_credential(emulator, cfg: dict[str, str]) -> ClientSecretCredential:
    return ClientSecretCredential(cfg["AZURE_TENANT_ID"], cfg["AZURE_CLIENT_ID"], cfg["AZURE_CLIENT_SECRET"],
                                  authority=cfg["AZURE_AUTHORITY_HOST"], disable_instance_discovery=True,
                                  connection_verify=str(emulator.ca_cert))


def wait_status(emulator, endpoint, credential, want: int, timeout: float = 10.0) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if topics_status(emulator, endpoint, credential) == want:
            return time.monotonic() - start
        time.sleep(0.2)
    raise AssertionError(f"status {want} not reached within {timeout}s")


def test_grant_secret_then_revoke(cluster, emulator, admin, tmp_path):
    out = tmp_path / "orders.env"
    res = json.loads(run("access", "grant", "orders", "--out", str(out), "--output", "json").stdout)
    assert res["clients"][0]["status"] == "ok"
    assert os.stat(out).st_mode & 0o777 == 0o600
    cfg = dotenv(str(out))
    assert cfg["KAFKAREST_ENDPOINT"] == cluster["endpoint"]
    assert set(cfg) >= {"AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET", "AZURE_AUTHORITY_HOST"}
    cred = secret_credential(emulator, cfg)
    assert wait_status(emulator, cfg["KAFKAREST_ENDPOINT"], cred, 200) >= 0
    checked = json.loads(run("access", "check", "orders", "--live", "--client-config", str(out), "--output",
                             "json").stdout)
    assert checked["member"] and checked["live"]["ok"]

    # the secret never reaches stdout
    assert cfg["AZURE_CLIENT_SECRET"] not in json.dumps(res)

    run("access", "revoke", "orders")
    bound = 1.0 + 2.0  # membership_propagation_seconds in tests, plus polling slack
    assert wait_status(emulator, cfg["KAFKAREST_ENDPOINT"], cred, 403, timeout=bound) <= bound
    r = run("access", "check", "orders", ok=False)
    assert r.exit_code == 1 and "NOT a member" in r.output


def test_grant_is_idempotent(cluster, admin, tmp_path):
    run("access", "grant", "orders", "--output", "json")
    seq = admin.last_seq()
    res = json.loads(run("access", "grant", "orders", "--output", "json").stdout)
    assert res["clients"][0]["changes"] == []
    assert [e for e in admin.requests(seq) if e["write"] and e["family"] == "graph"] == []


def test_rotate_refuses_old_secret(cluster, emulator, tmp_path):
    out = tmp_path / "c.env"
    run("access", "grant", "billing", "--out", str(out))
    old = dotenv(str(out))
    run("access", "rotate", "billing", "--out", str(out))
    new = dotenv(str(out))
    assert new["AZURE_CLIENT_SECRET"] != old["AZURE_CLIENT_SECRET"]
    with pytest.raises(ClientAuthenticationError, match="AADSTS7000215"):
        secret_credential(emulator, old).get_token(SCOPE)
    wait_status(emulator, new["KAFKAREST_ENDPOINT"], secret_credential(emulator, new), 200)


def test_rotate_keep_old_keeps_both(cluster, emulator, tmp_path):
    out = tmp_path / "c.env"
    run("access", "grant", "keeper", "--out", str(out))
    old = dotenv(str(out))
    run("access", "rotate", "keeper", "--keep-old", "--out", str(out))
    new = dotenv(str(out))
    for cfg in (old, new):  # (membership reaches the proxy within the propagation bound)
        wait_status(emulator, new["KAFKAREST_ENDPOINT"], secret_credential(emulator, cfg), 200)


def test_grant_certificate(cluster, emulator, tmp_path):
    out = tmp_path / "cert.env"
    run("access", "grant", "certclient", "--credential", "certificate", "--out", str(out))
    cfg = dotenv(str(out))
    assert "AZURE_CLIENT_SECRET" not in cfg
    pem = Path(cfg["AZURE_CLIENT_CERTIFICATE_PATH"])
    assert os.stat(pem).st_mode & 0o777 == 0o600 and b"PRIVATE KEY" in pem.read_bytes()
    cred = CertificateCredential(cfg["AZURE_TENANT_ID"], cfg["AZURE_CLIENT_ID"], certificate_path=str(pem),
                                 authority=cfg["AZURE_AUTHORITY_HOST"], disable_instance_discovery=True,
                                 connection_verify=str(emulator.ca_cert))
    wait_status(emulator, cfg["KAFKAREST_ENDPOINT"], cred, 200)


def test_grant_federated(cluster, emulator, admin, tmp_path):
    out = tmp_path / "fed.env"
    subject = "repo:contoso/orders:environment:prod"
    run("access", "grant", "fedclient", "--credential", "federated", "--federated-subject", subject,
        "--federated-issuer", admin.oidc_issuer, "--out", str(out))
    cfg = dotenv(str(out))
    assert "AZURE_CLIENT_SECRET" not in cfg and "AZURE_CLIENT_CERTIFICATE_PATH" not in cfg
    cred = ClientAssertionCredential(cfg["AZURE_TENANT_ID"], cfg["AZURE_CLIENT_ID"],
                                     lambda: admin.federated_token(subject), authority=cfg["AZURE_AUTHORITY_HOST"],
                                     disable_instance_discovery=True, connection_verify=str(emulator.ca_cert))
    wait_status(emulator, cfg["KAFKAREST_ENDPOINT"], cred, 200)


def test_bulk_grant_two_hundred(cluster, admin, tmp_path):
    rows = ["name,credential"] + [f"client-{i:03d},secret" for i in range(200)]
    src = tmp_path / "clients.csv"
    src.write_text("\n".join(rows) + "\n")
    group_id = cluster["securityGroupId"]
    seq = admin.last_seq()
    res = json.loads(run("access", "grant", "--from", str(src), "--output", "json").stdout)
    assert res["summary"] == {"ok": 200, "failed": 0}
    membership = [e for e in admin.requests(seq) if e["family"] == "graph"
                  and re.search(rf"/groups/{group_id}(/members|$)", e["path"])]
    assert len(membership) <= 12, [(e["method"], e["path"]) for e in membership]

    seq = admin.last_seq()
    again = json.loads(run("access", "grant", "--from", str(src), "--output", "json").stdout)
    assert again["summary"] == {"ok": 200, "failed": 0}
    assert [e for e in admin.requests(seq) if e["write"] and e["family"] == "graph"] == []

    listed = json.loads(run("access", "list", "--output", "json").stdout)
    names = {m["displayName"] for m in listed["members"]}
    assert {f"client-{i:03d}" for i in range(200)} <= names and listed["count"] == 201  # + the env's own app


def test_bulk_json_and_one_failure_does_not_stop_others(cluster, admin, tmp_path):
    src = tmp_path / "clients.json"
    src.write_text(json.dumps([{"name": "good-one"}, {"name": "ghost", "app_id": "00000000-0000-0000-0000-0000000000aa"},
                               {"name": "good-two", "credential": "certificate"}]))
    r = run("access", "grant", "--from", str(src), "--output", "json", ok=False)
    assert r.exit_code == 1
    res = {c["name"]: c for c in json.loads(r.stdout)["clients"]}
    assert res["good-one"]["status"] == res["good-two"]["status"] == "ok"
    assert res["ghost"]["status"] == "failed" and "app id" in res["ghost"]["message"]


def _graph(emulator, method, path, **kw):
    tok = ClientSecretCredential(emulator.tenant_id, emulator.client_id, emulator.client_secret,
                                 authority=emulator.authority, disable_instance_discovery=True,
                                 connection_verify=str(emulator.ca_cert)).get_token(
        "https://graph.microsoft.com/.default").token
    return requests.request(method, f"{emulator.graph_url}{path}", headers={"Authorization": f"Bearer {tok}",
                                                                            **kw.pop("headers", {})},
                            verify=str(emulator.ca_cert), timeout=10, **kw)


def test_bad_input_is_refused_cleanly(cluster, emulator, admin, tmp_path):
    seq = admin.last_seq()
    r = run("access", "grant", "--app-id", "00000000-0000-0000-0000-0000000000ab", ok=False)
    assert r.exit_code == 1 and "no application or service principal with app id" in r.output

    user = _graph(emulator, "POST", "/users", json={
        "accountEnabled": True, "displayName": "Ann", "mailNickname": "ann",
        "userPrincipalName": "ann@emulator.onmicrosoft.com",
        "passwordProfile": {"password": "Xy12!abcdefg", "forceChangePasswordNextSignIn": False}}).json()
    r = run("access", "grant", "--sp-object-id", user["id"], "--credential", "none", ok=False)
    assert r.exit_code == 1 and "is a user, not a service principal" in r.output

    bad = tmp_path / "bad.csv"
    bad.write_text("name,credential\nok-client,secret\nbad client!,secret\n")
    r = run("access", "grant", "--from", str(bad), ok=False)
    assert r.exit_code == 2 and "line 3" in r.output and "name" in r.output
    assert [e for e in admin.requests(seq) if e["write"] and e["family"] == "graph" and "/users" not in e["path"]] == []

    _graph(emulator, "PATCH", "/groups(uniqueName='m365-team')", headers={"Prefer": "create-if-missing"}, json={
        "displayName": "m365-team", "mailEnabled": True, "mailNickname": "m365team", "securityEnabled": False,
        "groupTypes": ["Unified"]})
    r = run("access", "grant", "someone", "--group-name", "m365-team", ok=False)
    assert r.exit_code == 2 and "not a security group" in r.output


def test_grant_existing_service_principal_by_object_id(cluster, emulator, admin):
    """A managed identity (or any existing service principal) is granted by its principal id, no credential."""
    app = _graph(emulator, "POST", "/applications", json={"displayName": "existing-workload"}).json()
    sp = _graph(emulator, "POST", "/servicePrincipals", json={"appId": app["appId"]}).json()
    res = json.loads(run("access", "grant", "--sp-object-id", sp["id"], "--credential", "none", "--output",
                         "json").stdout)["clients"][0]
    assert res["status"] == "ok" and res["servicePrincipalId"] == sp["id"] and res["changes"] == ["membership"]
    assert json.loads(run("access", "check", "--sp-object-id", sp["id"], "--output", "json").stdout)["member"]
    run("access", "revoke", "--sp-object-id", sp["id"])
    assert run("access", "check", "--sp-object-id", sp["id"], ok=False).exit_code == 1
