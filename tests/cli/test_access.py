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
    from provision.clientconfig import parse_dotenv

    return parse_dotenv(Path(path).read_text())


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
    # (client names are tenant-wide: a grant from a machine holding no secret removes the others' secrets)
    run("access", "grant", "orders-again", "--output", "json")
    seq = admin.last_seq()
    res = json.loads(run("access", "grant", "orders-again", "--output", "json").stdout)
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
    assert r.exit_code == 1 and "not created by this environment" in r.output and "--adopt" in r.output
    r = run("access", "grant", "someone", "--group-name", "m365-team", "--adopt", ok=False)
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


# -- review findings --------------------------------------------------------------------------------------------

def _app(admin, app_id: str) -> dict:
    return next(a for a in admin.objects("application") if a["appId"] == app_id)


def _own_cert(tmp_path, name="mine"):
    import base64

    from provision.access import make_certificate

    _, der, _, _ = make_certificate(name, 30)
    return base64.b64encode(der).decode()


def test_certificate_grant_and_rotate_keep_other_certificates(cluster, emulator, admin, tmp_path):
    """A user's own certificate on an app taken with --app-id survives grant and rotate; rotate (no --credential)
    stays a certificate client and removes the old keyCredential from Entra."""
    app = _graph(emulator, "POST", "/applications", json={"displayName": "byo-cert"}).json()
    r = _graph(emulator, "PATCH", f"/applications/{app['id']}", json={"keyCredentials": [
        {"type": "AsymmetricX509Cert", "usage": "Verify", "key": _own_cert(tmp_path)}]})
    assert r.status_code == 204, r.text
    [mine] = [k["keyId"] for k in _app(admin, app["appId"])["keyCredentials"]]
    out = tmp_path / "byo.env"
    run("access", "grant", "--app-id", app["appId"], "--credential", "certificate", "--out", str(out))
    keys = [k["keyId"] for k in _app(admin, app["appId"])["keyCredentials"]]
    assert mine in keys and len(keys) == 2
    first = dotenv(str(out))["AZURE_CLIENT_CERTIFICATE_PATH"]
    meta = json.loads((Path(first).parent / f"{app['appId']}.credential.json").read_text())

    res = json.loads(run("access", "rotate", "--app-id", app["appId"], "--out", str(out), "--output",
                         "json").stdout)
    assert res["credential"] == "certificate"
    cfg = dotenv(str(out))
    assert "AZURE_CLIENT_SECRET" not in cfg and "AZURE_CLIENT_CERTIFICATE_PATH" in cfg
    keys = [k["keyId"] for k in _app(admin, app["appId"])["keyCredentials"]]
    assert mine in keys and meta["keyId"] not in keys and len(keys) == 2
    assert _app(admin, app["appId"])["passwordCredentials"] == []
    cred = CertificateCredential(cfg["AZURE_TENANT_ID"], cfg["AZURE_CLIENT_ID"],
                                 certificate_path=cfg["AZURE_CLIENT_CERTIFICATE_PATH"],
                                 authority=cfg["AZURE_AUTHORITY_HOST"], disable_instance_discovery=True,
                                 connection_verify=str(emulator.ca_cert))
    wait_status(emulator, cfg["KAFKAREST_ENDPOINT"], cred, 200)


def test_second_federated_subject_is_added(cluster, emulator, admin, tmp_path):
    issuer = admin.oidc_issuer
    for subject in ("repo:contoso/a:environment:prod", "repo:contoso/b:environment:prod"):
        run("access", "grant", "fed2", "--credential", "federated", "--federated-subject", subject,
            "--federated-issuer", issuer, "--out", str(tmp_path / "fed2.env"))
    cfg = dotenv(str(tmp_path / "fed2.env"))
    cred = ClientAssertionCredential(cfg["AZURE_TENANT_ID"], cfg["AZURE_CLIENT_ID"],
                                     lambda: admin.federated_token("repo:contoso/b:environment:prod"),
                                     authority=cfg["AZURE_AUTHORITY_HOST"], disable_instance_discovery=True,
                                     connection_verify=str(emulator.ca_cert))
    wait_status(emulator, cfg["KAFKAREST_ENDPOINT"], cred, 200)


def test_config_follows_endpoint_and_keeps_secret(env, admin, tmp_path):  # noqa: F811
    """A grant before the cluster exists, then after: the endpoint is filled in and the secret kept; a deleted
    config file is written again with the secret held in the 0600 record (no new credential); JSON too."""
    run("group", "create")
    out = tmp_path / "early.env"
    run("access", "grant", "early", "--out", str(out))
    before = dotenv(str(out))
    assert before["KAFKAREST_ENDPOINT"] == "" and before["AZURE_CLIENT_SECRET"]
    endpoint = json.loads(run("up", "--output", "json").stdout)["outputs"]["endpoint"]
    run("access", "grant", "early", "--out", str(out))
    after = dotenv(str(out))
    assert after["KAFKAREST_ENDPOINT"] == endpoint and after["AZURE_CLIENT_SECRET"] == before["AZURE_CLIENT_SECRET"]

    out.unlink()
    run("access", "grant", "early", "--out", str(out))
    again = dotenv(str(out))
    assert again["AZURE_CLIENT_SECRET"] == before["AZURE_CLIENT_SECRET"]
    assert len(_app(admin, again["AZURE_CLIENT_ID"])["passwordCredentials"]) == 1

    js = tmp_path / "early.json"
    run("access", "grant", "early", "--out", str(js), "--format", "json")  # another file: the same secret
    secret = json.loads(js.read_text())["AZURE_CLIENT_SECRET"]
    assert secret == before["AZURE_CLIENT_SECRET"]
    seq = admin.last_seq()
    run("access", "grant", "early", "--out", str(js), "--format", "json")
    assert json.loads(js.read_text())["AZURE_CLIENT_SECRET"] == secret
    assert [e for e in admin.requests(seq) if e["write"] and e["family"] == "graph"] == []


def test_revoke_is_idempotent(cluster, emulator):
    run("access", "grant", "gone")
    run("access", "revoke", "gone", "--delete-app")
    r = run("access", "revoke", "gone", "--delete-app")
    assert r.exit_code == 0 and "nothing to do" in r.output
    r = run("access", "revoke", "never-granted")
    assert r.exit_code == 0 and "nothing to do" in r.output
    r = run("access", "revoke", "--app-id", "00000000-0000-0000-0000-0000000000ac")
    assert r.exit_code == 0 and "nothing to do" in r.output


def test_new_machine_grant_keeps_every_earlier_secret(cluster, admin, tmp_path):
    """A fresh state directory: the secret in an existing --out file is recognised (no new credential); with no
    copy anywhere a new secret is added and the earlier one keeps working for whoever holds it."""
    run("access", "grant", "roamer", "--out", str(tmp_path / "r.env"))
    first = dotenv(str(tmp_path / "r.env"))
    for f in (tmp_path / "state").rglob("roamer.*"):  # another machine: nothing held locally
        f.unlink()
    run("access", "grant", "roamer", "--out", str(tmp_path / "r.env"))
    assert dotenv(str(tmp_path / "r.env"))["AZURE_CLIENT_SECRET"] == first["AZURE_CLIENT_SECRET"]
    assert len(_app(admin, first["AZURE_CLIENT_ID"])["passwordCredentials"]) == 1

    for f in (tmp_path / "state").rglob("roamer.*"):
        f.unlink()
    run("access", "grant", "roamer", "--out", str(tmp_path / "other.env"))
    second = dotenv(str(tmp_path / "other.env"))
    assert second["AZURE_CLIENT_SECRET"] != first["AZURE_CLIENT_SECRET"]
    assert len(_app(admin, first["AZURE_CLIENT_ID"])["passwordCredentials"]) == 2
    for doc in (first, second):  # both holders can still get a token
        assert _token(doc)


def _token(doc: dict) -> str:
    from azure.identity import ClientSecretCredential

    cred = ClientSecretCredential(doc["AZURE_TENANT_ID"], doc["AZURE_CLIENT_ID"], doc["AZURE_CLIENT_SECRET"],
                                  authority=doc["AZURE_AUTHORITY_HOST"], disable_instance_discovery=True,
                                  connection_verify=doc["REQUESTS_CA_BUNDLE"])
    return cred.get_token(doc["KAFKAREST_SCOPE"]).token


def test_dotenv_quotes_values_round_trip(tmp_path):
    import subprocess

    from provision.access import dotenv_text
    from provision.clientconfig import parse_dotenv

    doc = {"REQUESTS_CA_BUNDLE": "/Users/a/Library/Application Support/provision/ca.pem", "EMPTY": "",
           "AZURE_CLIENT_SECRET": "a~b.c_d-e", "ID": "abc-123", "ODD": "it's $HOME \\ \"q\" `x`", "PLAIN": "https://h/x?y=1"}
    text = dotenv_text(doc)
    assert "ID=abc-123\n" in text and "EMPTY=''\n" in text
    f = tmp_path / "c.env"
    f.write_text(text)
    shell = subprocess.run(["sh", "-c", f"set -a; . '{f}'; env -0"], capture_output=True, text=True, check=True)
    env_out = dict(x.split("=", 1) for x in shell.stdout.split("\0") if "=" in x)
    for k in ("REQUESTS_CA_BUNDLE", "EMPTY", "AZURE_CLIENT_SECRET", "ID", "ODD", "PLAIN"):
        assert env_out[k] == doc[k], k
    parsed = parse_dotenv(text)
    for k in ("REQUESTS_CA_BUNDLE", "EMPTY", "AZURE_CLIENT_SECRET", "PLAIN"):
        assert parsed[k] == doc[k], k


def test_add_members_already_member_in_fallback(cluster, emulator, admin, tmp_path):
    """Someone adds a client to the group between our member listing and our bind: the chunk fails with 400
    'already exist', the one-by-one retry meets it again for that client — which counts as success."""
    import threading
    import time as _time

    group_id = cluster["securityGroupId"]
    src = tmp_path / "race.csv"
    src.write_text("name,credential\nrace-a,none\nrace-b,none\n")
    # hold our bind PATCH for 3 s so the concurrent add lands between the listing and the bind
    admin.add_fault(action="latency", latency_ms=3000, path=rf"^/v1\.0/groups/{group_id}$", methods=["PATCH"],
                    count=1)

    def someone_else_adds_race_a() -> None:
        deadline = _time.monotonic() + 30
        while _time.monotonic() < deadline:
            apps = [a for a in admin.objects("application") if a.get("uniqueName") == "race-a"]
            sps = [sp for sp in admin.objects("servicePrincipal") if apps and sp["appId"] == apps[0]["appId"]]
            if sps and any(e["method"] == "GET" and e["path"].endswith(f"/groups/{group_id}/members")
                           for e in admin.requests(0)):
                r = _graph(emulator, "POST", f"/groups/{group_id}/members/$ref",
                           json={"@odata.id": f"{emulator.graph_url}/directoryObjects/{sps[0]['id']}"})
                assert r.status_code == 204
                return
            _time.sleep(0.05)

    t = threading.Thread(target=someone_else_adds_race_a)
    t.start()
    res = json.loads(run("access", "grant", "--from", str(src), "--output", "json").stdout)
    t.join()
    assert {c["name"]: c["status"] for c in res["clients"]} == {"race-a": "ok", "race-b": "ok"}
    patches = [e for e in admin.requests(0) if e["method"] == "PATCH" and e["path"].endswith(f"/groups/{group_id}")]
    assert [e["status"] for e in patches][:2] == [400, 400]  # the chunk, then race-a alone: both 'already exist'



def test_every_config_the_tool_wrote_follows_rotation_and_deletion(cluster, admin, emulator, tmp_path):
    """`grant --out` to two places, then a rotation from a third: every file the tool wrote holds the new secret (no
    dead secret left behind); a secret removed behind the tool's back shows as a stale config in `access list`;
    `revoke --delete-app` removes the configs it wrote."""
    a, b = tmp_path / "a.env", tmp_path / "b.json"
    run("access", "grant", "ledger", "--out", str(a))
    run("access", "grant", "ledger", "--out", str(b), "--format", "json")
    run("access", "rotate", "ledger", "--out", str(tmp_path / "c.env"))
    new = dotenv(str(tmp_path / "c.env"))["AZURE_CLIENT_SECRET"]
    assert dotenv(str(a))["AZURE_CLIENT_SECRET"] == new
    assert json.loads(b.read_text())["AZURE_CLIENT_SECRET"] == new
    assert len(_app(admin, dotenv(str(a))["AZURE_CLIENT_ID"])["passwordCredentials"]) == 1

    app = _app(admin, dotenv(str(a))["AZURE_CLIENT_ID"])  # someone removes the secret in the portal
    r = _graph(emulator, "POST", f"/applications/{app['id']}/removePassword",
               json={"keyId": app["passwordCredentials"][0]["keyId"]})
    assert r.status_code == 204
    listed = json.loads(run("access", "list", "--output", "json").stdout)["members"]
    row = next(m for m in listed if m["displayName"] == "ledger")
    assert set(row["localConfigs"].values()) == {"stale"} and str(a.resolve()) in row["localConfigs"]

    run("access", "revoke", "ledger", "--delete-app")
    assert not a.exists() and not b.exists() and not (tmp_path / "c.env").exists()


def test_rotate_leaves_exactly_one_secret_of_ours(cluster, admin, emulator, tmp_path):
    """A secret of ours nobody here holds (another machine's grant, or one a killed rotate made and never saved)
    is gone after a rotation; a secret someone else added under another name stays."""
    run("access", "grant", "audit", "--out", str(tmp_path / "a.env"))
    app = _app(admin, dotenv(str(tmp_path / "a.env"))["AZURE_CLIENT_ID"])
    for name in ("provision-access", "added-by-a-person"):
        r = _graph(emulator, "POST", f"/applications/{app['id']}/addPassword",
                   json={"passwordCredential": {"displayName": name}})
        assert r.status_code == 200
    run("access", "rotate", "audit", "--out", str(tmp_path / "a.env"))
    left = _app(admin, app["appId"])["passwordCredentials"]
    assert sorted(c["displayName"] for c in left) == ["added-by-a-person", "provision-access"]


def test_bulk_revoke_in_batches(cluster, admin, tmp_path):
    """`revoke --from`: 60 clients out of the group (and deleted for good with --delete-app) in a handful of Graph
    requests; a second run changes nothing; the environment's own app stays a member."""
    src = tmp_path / "clients.csv"
    src.write_text("name,credential\n" + "".join(f"gone-{i:02d},none\n" for i in range(60)))
    run("access", "grant", "--from", str(src))
    seq = admin.last_seq()
    res = json.loads(run("access", "revoke", "--from", str(src), "--delete-app", "--output", "json").stdout)
    assert res["summary"] == {"ok": 60, "failed": 0}
    graph = [e for e in admin.requests(seq) if e["family"] == "graph"]
    assert len(graph) <= 20, [(e["method"], e["path"]) for e in graph]  # $batch envelopes, not 180 requests
    listed = json.loads(run("access", "list", "--output", "json").stdout)["members"]
    assert [m["displayName"] for m in listed] == ["ci-env-client"]
    assert not [a for a in admin.objects("application") if a["displayName"].startswith("gone-")]
    seq = admin.last_seq()
    again = json.loads(run("access", "revoke", "--from", str(src), "--output", "json").stdout)
    assert again["summary"] == {"ok": 60, "failed": 0}
    assert [e for e in admin.requests(seq) if e["write"] and e["family"] == "graph"] == []
