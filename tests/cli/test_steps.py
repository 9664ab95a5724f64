"""The single steps of `up`, one command at a time, against the emulator."""

from __future__ import annotations

import json
import os

from tests.cli.test_up import env, run, writes  # noqa: F401 — `env` points the CLI at the emulator


def j(*args: str) -> dict:
    return json.loads(run(*args, "--output", "json").stdout)


def test_app_register_converges_and_rotates(env, admin):  # noqa: F811
    first = j("app", "register")
    res = first["result"]
    assert res["appId"] and res["servicePrincipalId"] and res["secretKeyId"]
    assert os.stat(res["secretFile"]).st_mode & 0o777 == 0o600
    assert "clientSecret" not in res
    secret = json.loads(open(res["secretFile"]).read())["clientSecret"]
    assert secret not in json.dumps(first)

    seq = admin.last_seq()
    again = j("app", "register")
    assert again["changes"][0]["action"] == "noop" and writes(admin, seq) == []
    assert again["result"]["secretKeyId"] == res["secretKeyId"]

    rotated = j("app", "register", "--rotate")["result"]
    assert rotated["secretKeyId"] != res["secretKeyId"]
    app = next(a for a in admin.objects("application") if a["appId"] == res["appId"])
    assert [c["keyId"] for c in app["passwordCredentials"]] == [rotated["secretKeyId"]]  # the old one removed

    shown = j("app", "register", "--show-secret")["result"]
    assert len(shown["clientSecret"]) >= 16


def test_group_create_and_add_member(env, admin):  # noqa: F811
    r = run("group", "add-member", ok=False)
    assert r.exit_code == 1 and "group create" in r.output
    group = j("group", "create")["result"]
    assert group["securityEnabled"] is True and group["mailEnabled"] is False
    r = run("group", "add-member", ok=False)
    assert r.exit_code == 1 and "app register" in r.output
    app = j("app", "register")["result"]
    added = j("group", "add-member")
    assert added["changes"][0]["action"] == "create"
    assert added["result"] == {"group": group["id"], "member": app["servicePrincipalId"]}
    seq = admin.last_seq()
    assert j("group", "add-member")["changes"][0]["action"] == "noop"
    assert writes(admin, seq) == []


def test_storage_ensure_then_cluster_deploy_no_wait(env, admin):  # noqa: F811
    r = run("cluster", "deploy", ok=False)
    assert r.exit_code == 1 and "group create" in r.output
    j("group", "create")
    r = run("cluster", "deploy", ok=False)
    assert r.exit_code == 1 and "storage ensure" in r.output
    st = j("storage", "ensure")
    assert {c["resource"] for c in st["changes"]} >= {"storage account", "blob container"}
    assert all(c["action"] == "noop" for c in j("storage", "ensure")["changes"])
    j("network", "open")
    admin.configure(cluster_create_seconds=3)
    deployed = j("cluster", "deploy", "--no-wait")["result"]
    assert deployed["provisioningState"] == "InProgress"
    done = j("cluster", "deploy")  # re-attaches
    assert done["changes"][0]["action"] == "wait"
    assert done["result"]["clusterState"] == "Running" and done["result"]["endpoint"].startswith("https://")


def test_app_register_on_a_new_machine_keeps_older_secrets_until_rotate(env, admin):  # noqa: F811
    """No secret held locally (new machine, CI runner): a new secret is added and the older one — which someone may
    hold — keeps working; `--rotate` proves the new one with a token, then removes this environment's older ones."""
    import json as _json

    res = j("app", "register")["result"]
    first = _json.loads(open(res["secretFile"]).read())["clientSecret"]
    os.unlink(res["secretFile"])
    again = j("app", "register")["result"]
    app = next(a for a in admin.objects("application") if a["appId"] == res["appId"])
    assert {c["keyId"] for c in app["passwordCredentials"]} == {res["secretKeyId"], again["secretKeyId"]}
    assert token_for(env, res["appId"], first)  # the first machine's secret still works
    rotated = j("app", "register", "--rotate")["result"]
    app = next(a for a in admin.objects("application") if a["appId"] == res["appId"])
    assert [c["keyId"] for c in app["passwordCredentials"]] == [rotated["secretKeyId"]]


def token_for(env, app_id: str, secret: str) -> bool:
    from azure.identity import ClientSecretCredential

    from provision.emulator import launcher

    info = launcher.status(env["PROVISION_EMULATOR_DIR"])
    cred = ClientSecretCredential(info.tenant_id, app_id, secret, authority=info.authority,
                                  disable_instance_discovery=True, connection_verify=str(info.ca_cert))
    return bool(cred.get_token("https://hib.azurehdinsight.net/.default").token)
