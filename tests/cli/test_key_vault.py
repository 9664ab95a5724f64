"""Key Vault as the system of record for every secret (issue 11), through the real CLI and the real
azure-keyvault-secrets SecretClient against the emulator (TLS and challenge verification on)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli.test_safety import held_secret, token  # noqa: F401
from tests.cli.test_up import env, run, writes  # noqa: F401 — fixtures and helpers shared with test_up

VAULT = "kv-ci-env"


def j(*args: str) -> dict:
    return json.loads(run(*args, "--secrets-key-vault", VAULT, "--output", "json").stdout)


def secrets(emulator, operator_credential) -> dict[str, object]:
    from azure.keyvault.secrets import SecretClient
    from azure.mgmt.keyvault import KeyVaultManagementClient

    kv = KeyVaultManagementClient(operator_credential, emulator.subscription_id, base_url=emulator.arm_url,
                                  connection_verify=str(emulator.ca_cert))
    uri = kv.vaults.get("rg-ci-env", VAULT).properties.vault_uri
    client = SecretClient(uri, operator_credential, connection_verify=str(emulator.ca_cert))
    return {p.name: client.get_secret(p.name) for p in client.list_properties_of_secrets()}


def files_hold(root: Path, values: list[str]) -> list[str]:
    return [str(f) for f in root.rglob("*") if f.is_file() and any(v in f.read_text(errors="ignore") for v in values)]


def test_up_keeps_every_secret_in_the_vault_and_fresh_machines_add_none(env, admin, emulator, operator_credential,
                                                                         monkeypatch, tmp_path):
    out = j("up")
    assert out["outputs"]["clusterState"] == "Running"
    held = secrets(emulator, operator_credential)
    assert set(held) == {"ci-env-client-secret", "ci-env-gateway-password", "ci-env-ssh-password"}
    client = held["ci-env-client-secret"]
    assert client.properties.tags["appId"] == out["outputs"]["clientId"] and client.properties.expires_on
    assert client.properties.content_type.startswith("client secret")
    assert token(env, out["outputs"]["clientId"], client.value)
    assert files_hold(Path(env["PROVISION_STATE_DIR"]), [s.value for s in held.values()]) == []

    for machine in ("ci-runner-2", "ci-runner-3"):  # fresh state directories: no credential is added
        monkeypatch.setenv("PROVISION_STATE_DIR", str(tmp_path / machine))
        seq = admin.last_seq()
        again = j("up")
        assert again["summary"]["create"] == again["summary"]["update"] == 0
        r = run("plan", "--secrets-key-vault", VAULT, "--detailed-exitcode")
        assert r.exit_code == 0
        assert [e for e in writes(admin, seq) if "Password" in e["path"] or "/applications" in e["path"]] == []

    from provision.clientconfig import parse_dotenv

    dotenv = parse_dotenv(run("endpoint", "--secrets-key-vault", VAULT, "--format", "dotenv", "--show-secret").stdout)
    assert dotenv["AZURE_CLIENT_SECRET"] == client.value

    j("app", "register", "--rotate")
    latest = secrets(emulator, operator_credential)["ci-env-client-secret"]
    assert latest.value != client.value
    app = next(a for a in admin.objects("application") if a["appId"] == out["outputs"]["clientId"])
    assert [c["keyId"] for c in app["passwordCredentials"]] == [latest.properties.tags["keyId"]]
    assert token(env, out["outputs"]["clientId"], latest.value)

    deleted = {d["resource"] for d in j("down", "--yes")["deleted"]}
    assert "key vault" in deleted


def test_smoke_with_the_vault_writes_no_secret_file(env, emulator, operator_credential):
    out = j("up", "--smoke")
    assert out["smoke"]["ok"] is True
    values = [s.value for s in secrets(emulator, operator_credential).values()]
    assert files_hold(Path(env["PROVISION_STATE_DIR"]), values) == []


def test_grant_keeps_client_secrets_in_the_vault_and_references_resolve(env, admin, emulator, operator_credential,
                                                                         emulator_env, monkeypatch, tmp_path):
    from provision.clientconfig import read_config_file

    j("up")
    ref = tmp_path / "orders.env"
    run("access", "grant", "orders", "--secrets-key-vault", VAULT, "--out", str(ref), "--secret-reference",
        "--wait")
    stored = secrets(emulator, operator_credential)["client-orders"]
    assert stored.properties.expires_on and stored.properties.tags["kind"] == "secret"
    doc = read_config_file(ref)
    assert doc["AZURE_CLIENT_SECRET"].startswith("@Microsoft.KeyVault(SecretUri=https://127.0.0.1:")
    assert doc["AZURE_CLIENT_SECRET"].endswith("/secrets/client-orders)")
    assert files_hold(tmp_path, [stored.value]) == []  # no file anywhere holds the value

    # another machine: no state directory; the grant adds no credential, the reference works with the caller's
    # own identity (here the operator's, from `provision emulator env`)
    monkeypatch.setenv("PROVISION_STATE_DIR", str(tmp_path / "other-machine"))
    seq = admin.last_seq()
    run("access", "grant", "orders", "--secrets-key-vault", VAULT)
    assert [e for e in writes(admin, seq) if "addPassword" in e["path"]] == []
    r = run("kafka", "topics", "list", "--config", str(ref))
    assert r.exit_code == 0

    # rotate: a new version of the same secret, and exactly one valid credential — the vault's latest
    run("access", "rotate", "orders", "--secrets-key-vault", VAULT, "--wait")
    latest = secrets(emulator, operator_credential)["client-orders"]
    assert latest.value != stored.value and latest.properties.version != stored.properties.version
    app = next(a for a in admin.objects("application") if a["appId"] == doc["AZURE_CLIENT_ID"])
    assert [c["keyId"] for c in app["passwordCredentials"]] == [latest.properties.tags["keyId"]]
    assert run("kafka", "topics", "list", "--config", str(ref)).exit_code == 0  # the reference follows

    run("access", "revoke", "orders", "--delete-app", "--secrets-key-vault", VAULT)
    assert "client-orders" not in secrets(emulator, operator_credential)


def test_certificate_client_key_pair_lives_in_the_vault(env, admin, emulator, operator_credential, monkeypatch,
                                                        tmp_path):
    """A certificate client's PEM key pair is the vault's `client-<name>`; a fresh machine restores it from there
    (0600) instead of minting another certificate."""
    run("group", "create")
    run("app", "register", "--secrets-key-vault", VAULT)  # the step that makes the vault (with its resource group)
    run("access", "grant", "billing", "--credential", "certificate", "--secrets-key-vault", VAULT)
    stored = secrets(emulator, operator_credential)["client-billing"]
    assert stored.properties.content_type == "application/x-pem-file" and "PRIVATE KEY" in stored.value
    app_id = stored.properties.tags["appId"]
    monkeypatch.setenv("PROVISION_STATE_DIR", str(tmp_path / "fresh"))
    seq = admin.last_seq()
    run("access", "grant", "billing", "--credential", "certificate", "--secrets-key-vault", VAULT)
    assert [e for e in writes(admin, seq) if "/applications" in e["path"]] == []  # no new certificate
    pem = next((tmp_path / "fresh").rglob("billing.pem"))
    assert pem.read_text() == stored.value and pem.stat().st_mode & 0o777 == 0o600
    app = next(a for a in admin.objects("application") if a["appId"] == app_id)
    assert len(app["keyCredentials"]) == 1
