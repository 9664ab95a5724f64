"""Key Vault's secrets data plane, driven with the real azure-keyvault-secrets SecretClient (challenge-resource
verification on, TLS verified against the emulator's CA) and with raw HTTPS where the wire itself is the point.

Facts about Azure's behaviour come from tests/data/keyvault/recorded.json (each notes the recording it was seen in).
"""

from __future__ import annotations

import json
import os
import re
import stat
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
import requests
from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError
from azure.identity import ClientSecretCredential
from azure.keyvault.secrets import SecretClient
from azure.mgmt.keyvault import KeyVaultManagementClient
from azure.mgmt.resource.resources import ResourceManagementClient

RECORDED = json.loads((Path(__file__).parents[1] / "data" / "keyvault" / "recorded.json").read_text())
LOCATION = "eastus"
API = "7.4"  # the data-plane api-version of the recordings (raw calls); the SDK sends its own


class KeyVaults:
    """The clients a Key Vault test needs against one emulator."""

    def __init__(self, emulator, credential, arm_kwargs: dict[str, Any]):
        self.emulator = emulator
        self.credential = credential
        self.verify = str(emulator.ca_cert)
        self.resources = ResourceManagementClient(credential, emulator.subscription_id, **arm_kwargs)
        self.mgmt = KeyVaultManagementClient(credential, emulator.subscription_id, **arm_kwargs)
        self.http = requests.Session()
        self._closing: list[Any] = [self.resources, self.mgmt, self.http]

    def close(self) -> None:
        for c in self._closing:
            c.close()

    def group(self, name: str = "rg1") -> str:
        self.resources.resource_groups.create_or_update(name, {"location": LOCATION})
        return name

    def vault(self, name: str, rg: str = "rg1", **props: Any):
        """A new vault (azure-mgmt-keyvault sends dict bodies as they are: wire names)."""
        properties = {"tenantId": self.emulator.tenant_id, "sku": {"family": "A", "name": "standard"},
                      "enableRbacAuthorization": True, "enableSoftDelete": True, "softDeleteRetentionInDays": 7,
                      **props}
        return self.mgmt.vaults.begin_create_or_update(rg, name, {"location": LOCATION,
                                                                  "properties": properties}).result()

    def secrets(self, vault_or_url: Any, credential: Any = None) -> SecretClient:
        url = vault_or_url if isinstance(vault_or_url, str) else vault_or_url.properties.vault_uri
        client = SecretClient(url, credential or self.credential, connection_verify=self.verify, retry_total=0)
        self._closing.append(client)
        return client

    def token(self, scope: str, credential: Any = None) -> str:
        return (credential or self.credential).get_token(scope).token

    def raw(self, method: str, url: str, *, token: str | None = None, **kw: Any) -> requests.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        headers.update(kw.pop("headers", {}))
        params = kw.pop("params", {"api-version": API})
        return self.http.request(method, url, headers=headers, params=params, verify=self.verify, timeout=30, **kw)

    def graph(self, method: str, path: str, body: dict | None = None) -> dict:
        r = self.http.request(method, f"{self.emulator.graph_url}{path}", json=body, verify=self.verify, timeout=30,
                              headers={"Authorization": f"Bearer {self.token('https://graph.microsoft.com/.default')}"})
        assert r.status_code < 300, r.text
        return r.json()

    def client_app(self, name: str) -> tuple[ClientSecretCredential, str]:
        """The credential and service principal id of a new app registration that holds no role anywhere."""
        app = self.graph("POST", "/applications", {"displayName": name})
        sp = self.graph("POST", "/servicePrincipals", {"appId": app["appId"]})
        secret = self.graph("POST", f"/applications/{app['id']}/addPassword",
                            {"passwordCredential": {"displayName": "test"}})["secretText"]
        cred = ClientSecretCredential(self.emulator.tenant_id, app["appId"], secret,
                                      authority=self.emulator.authority, disable_instance_discovery=True,
                                      connection_verify=self.verify)
        self._closing.append(cred)
        return cred, sp["id"]


@pytest.fixture
def kv(emulator, operator_credential, arm_kwargs):
    kv = KeyVaults(emulator, operator_credential, arm_kwargs)
    kv.group()
    yield kv
    kv.close()


@pytest.fixture
def vault(kv):
    return kv.vault("kv-secrets-1")


def _error(exc: HttpResponseError) -> dict[str, Any]:
    return json.loads(exc.response.text())["error"]


# -- the challenge and the vault's origin ----------------------------------------------------------------------------
def test_a_request_without_a_token_gets_the_recorded_401_challenge(kv, vault, emulator):
    url = vault.properties.vault_uri
    port = urlparse(url).port
    assert url == f"https://127.0.0.1:{port}/" and port != emulator.port
    r = kv.raw("PUT", f"{url}secrets/secret1", headers={"Content-Length": "0"})
    want = RECORDED["challenge"]
    assert r.status_code == want["status"]
    assert r.json() == want["body"]
    m = re.match(want["www_authenticate_pattern"], r.headers["WWW-Authenticate"])
    assert m, r.headers["WWW-Authenticate"]
    assert re.match(want["www_authenticate_pattern"], want["www_authenticate"])  # the pattern fits the recording
    assert m["authority"] == emulator.url and m["tenant"] == emulator.tenant_id
    # The resource is the vault host without its first label, as vault.azure.net is for <vault>.vault.azure.net;
    # so the vault's host ends with "." + the resource's host, which the SDK verifies.
    assert m["resource"] == f"https://0.0.1:{port}"
    assert urlparse(url).netloc.endswith("." + urlparse(m["resource"]).netloc)


def test_the_sdk_verifies_the_challenge_resource(kv, vault):
    """Verification is on (the default): the same vault reached under another host name is refused by the SDK."""
    port = urlparse(vault.properties.vault_uri).port
    with pytest.raises(ValueError, match="does not match the requested domain"):
        kv.secrets(f"https://localhost:{port}/").set_secret("s", "v")
    assert kv.secrets(vault).set_secret("s", "v").value == "v"


def test_tokens_for_the_vault_resource_or_vault_azure_net_work_others_get_401(kv, vault):
    url, port = vault.properties.vault_uri, urlparse(vault.properties.vault_uri).port
    for scope in (f"https://0.0.1:{port}/.default", "https://vault.azure.net/.default"):
        r = kv.raw("GET", f"{url}secrets", token=kv.token(scope))
        assert r.status_code == 200, r.text
    r = kv.raw("GET", f"{url}secrets", token=kv.token("https://management.azure.com/.default"))
    assert r.status_code == 401 and r.json()["error"]["code"] == "Unauthorized"
    assert "AKV10022: Invalid audience" in r.json()["error"]["message"]
    assert r.headers["WWW-Authenticate"].startswith("Bearer authorization=")


# -- secrets ----------------------------------------------------------------------------------------------------------
def test_set_get_versions_and_update_properties(kv, vault):
    client = kv.secrets(vault)
    first = client.set_secret("secret1", "ABC123", tags={"file-encoding": "utf-8"})
    second = client.set_secret("secret1", "DEF456", content_type="test type", tags={"test": "foo"})
    assert first.name == second.name == "secret1" and first.properties.version != second.properties.version
    assert first.id == f"{vault.properties.vault_uri}secrets/secret1/{first.properties.version}"
    assert first.properties.vault_url == vault.properties.vault_uri.rstrip("/")
    latest = client.get_secret("secret1")
    assert (latest.value, latest.properties.content_type, latest.properties.tags) == ("DEF456", "test type",
                                                                                      {"test": "foo"})
    assert client.get_secret("secret1", first.properties.version).value == "ABC123"
    assert [p.version for p in client.list_properties_of_secret_versions("secret1")] == [
        first.properties.version, second.properties.version]

    # The recorded wire shape of a bundle.
    token = kv.token("https://vault.azure.net/.default")
    r = kv.raw("GET", f"{vault.properties.vault_uri}secrets/secret1/", token=token)
    body, want = r.json(), RECORDED["secret_bundle"]
    assert list(body) == want["keys"] and list(body["attributes"]) == want["attribute_keys"]
    assert body["attributes"]["recoveryLevel"] == want["recovery_level_7_days"]
    assert body["attributes"]["recoverableDays"] == want["recoverable_days"]

    updated = client.update_secret_properties("secret1", enabled=False, tags={"k": "v"})
    assert updated.enabled is False and updated.tags == {"k": "v"} and updated.version == second.properties.version
    with pytest.raises(HttpResponseError) as e:
        client.get_secret("secret1")
    assert e.value.status_code == 403
    assert _error(e.value) == {"code": "Forbidden", "message": "Operation get is not allowed on a disabled secret.",
                               "innererror": {"code": "SecretDisabled"}}
    assert client.get_secret("secret1", first.properties.version).value == "ABC123"  # other versions unaffected
    expires = int(time.time()) + 3600
    r = kv.raw("PATCH", f"{vault.properties.vault_uri}secrets/secret1/{first.properties.version}",
               token=kv.token("https://vault.azure.net/.default"), json={"attributes": {"exp": expires}})
    assert r.status_code == 200 and "value" not in r.json() and r.json()["attributes"]["exp"] == expires


def test_missing_secrets_and_bad_names_answer_in_key_vaults_envelope(kv, vault):
    client = kv.secrets(vault)
    with pytest.raises(ResourceNotFoundError) as e:
        client.get_secret("nope")
    assert _error(e.value)["code"] == "SecretNotFound"
    assert "A secret with (name/id) nope was not found in this key vault" in _error(e.value)["message"]
    client.set_secret("there", "x")
    with pytest.raises(ResourceNotFoundError) as e:
        client.get_secret("there", "0" * 32)
    assert _error(e.value)["code"] == "SecretNotFound"
    with pytest.raises(HttpResponseError) as e:
        client.set_secret("bad_name", "x")
    assert e.value.status_code == 400 and _error(e.value)["code"] == "BadParameter"


def test_list_pages_follow_next_link(kv, vault):
    client = kv.secrets(vault)
    names = [f"secret{i}" for i in range(5)]
    for n in names:
        client.set_secret(n, n.upper())
    client.set_secret("secret0", "again")  # a second version: still one item
    assert [p.name for p in client.list_properties_of_secrets(max_page_size=2)] == names
    assert [p.name for p in client.list_properties_of_secrets()] == names

    token = kv.token("https://vault.azure.net/.default")
    r = kv.raw("GET", f"{vault.properties.vault_uri}secrets", token=token,
               params={"api-version": API, "maxresults": 2})
    page = r.json()
    assert [i["id"].rsplit("/", 1)[1] for i in page["value"]] == names[:2]
    assert all("value" not in i for i in page["value"])
    link = urlparse(page["nextLink"])
    assert sorted(parse_qs(link.query)) == sorted(RECORDED["list"]["next_link_params"])
    seen = list(page["value"])
    while page["nextLink"]:
        page = kv.raw("GET", page["nextLink"], token=token, params={}).json()
        seen += page["value"]
    assert page["nextLink"] is RECORDED["list"]["last_page_next_link"]
    assert [i["id"].rsplit("/", 1)[1] for i in seen] == names
    r = kv.raw("GET", f"{vault.properties.vault_uri}secrets", token=token,
               params={"api-version": API, "maxresults": 26})
    assert r.status_code == 400 and r.json()["error"]["code"] == "BadParameter"
    versions = list(client.list_properties_of_secret_versions("secret0", max_page_size=1))
    assert len(versions) == 2


def test_soft_delete_recover_and_purge(kv, vault):
    client = kv.secrets(vault)
    created = client.set_secret("secret1", "ABC123")
    client.set_secret("secret1", "DEF456")
    deleted = client.begin_delete_secret("secret1").result()
    assert deleted.recovery_id == f"{vault.properties.vault_uri}deletedsecrets/secret1"
    assert (deleted.scheduled_purge_date - deleted.deleted_date).days == 7
    with pytest.raises(ResourceNotFoundError):
        client.get_secret("secret1")
    assert [s.name for s in client.list_properties_of_secrets()] == []
    assert [s.name for s in client.list_deleted_secrets()] == ["secret1"]
    assert client.get_deleted_secret("secret1").name == "secret1"

    # The name is held while the secret is deleted but recoverable (recorded).
    with pytest.raises(ResourceExistsError) as e:
        client.set_secret("secret1", "ABC123")
    want = RECORDED["name_held_by_deleted_secret"]
    assert e.value.status_code == want["status"] and json.loads(e.value.response.text()) == want["body"]

    recovered = client.begin_recover_deleted_secret("secret1").result()
    assert recovered.name == "secret1"
    assert client.get_secret("secret1").value == "DEF456"
    assert client.get_secret("secret1", created.properties.version).value == "ABC123"
    assert list(client.list_deleted_secrets()) == []

    client.begin_delete_secret("secret1").result()
    r = kv.raw("DELETE", f"{vault.properties.vault_uri}deletedsecrets/secret1",
               token=kv.token("https://vault.azure.net/.default"))
    assert r.status_code == RECORDED["deleted_secret"]["purge_status"]
    with pytest.raises(ResourceNotFoundError):
        client.get_deleted_secret("secret1")
    fresh = client.set_secret("secret1", "new")  # purged: the name is free, the old versions are gone
    assert [p.version for p in client.list_properties_of_secret_versions("secret1")] == [fresh.properties.version]


def test_delete_answers_the_recorded_deleted_bundle(kv, vault):
    client = kv.secrets(vault)
    client.set_secret("secret2", "123456")
    token = kv.token("https://vault.azure.net/.default")
    r = kv.raw("DELETE", f"{vault.properties.vault_uri}secrets/secret2", token=token)
    body = r.json()
    assert r.status_code == 200
    assert list(body)[:3] == RECORDED["deleted_secret"]["extra_keys"] and "value" not in body
    assert body["scheduledPurgeDate"] - body["deletedDate"] == 7 * 86400


def test_a_vault_without_soft_delete_removes_secrets_at_once(kv):
    client = kv.secrets(kv.vault("kv-nosoft-1", enableSoftDelete=False))
    client.set_secret("s", "v")
    client.begin_delete_secret("s")  # nothing to poll for: there is no deleted secret
    with pytest.raises(ResourceNotFoundError):
        client.get_deleted_secret("s")
    assert client.set_secret("s", "again").value == "again"


# -- who may do what ---------------------------------------------------------------------------------------------------
def test_an_app_without_a_role_gets_403_forbidden(kv, vault):
    kv.secrets(vault).set_secret("secret1", "v")
    stranger, _ = kv.client_app("no-role-app")
    client = kv.secrets(vault, stranger)
    for call in (lambda: client.get_secret("secret1"), lambda: client.set_secret("secret1", "x"),
                 lambda: list(client.list_properties_of_secrets())):
        with pytest.raises(HttpResponseError) as e:
            call()
        err = _error(e.value)
        assert e.value.status_code == 403 and err["code"] == "Forbidden"
        assert err["innererror"] == {"code": "ForbiddenByRbac"}
        assert err["message"].startswith("Caller is not authorized to perform action on resource.")
    assert kv.secrets(vault).get_secret("secret1").value == "v"  # the creator (operator): Secrets Officer


def test_role_assignments_on_the_vault_grant_data_roles(kv, vault, emulator, arm):
    kv.secrets(vault).set_secret("client-app1", "v1")
    reader, reader_sp = kv.client_app("reader-app")
    client = kv.secrets(vault, reader)
    scope = urlparse(vault.id).path
    listed = arm("GET", f"{scope}/providers/Microsoft.Authorization/roleAssignments", api_version="2022-04-01")
    creator = listed.json()["value"]
    assert [a["properties"]["roleDefinitionId"].rsplit("/", 1)[1] for a in creator] == [
        "b86a8fe4-44ce-4948-aee5-eccb2c155cd7"]  # Key Vault Secrets Officer, held by the vault's creator
    name = "5c3a9e0b-1f6e-4a8e-9a9e-0d7f1f2b3c4d"
    path = f"{scope}/providers/Microsoft.Authorization/roleAssignments/{name}"
    secrets_user = (f"/subscriptions/{emulator.subscription_id}/providers/Microsoft.Authorization/roleDefinitions/"
                    f"4633458b-17de-408a-b874-0445c86b69e6")
    body = {"properties": {"roleDefinitionId": secrets_user, "principalId": reader_sp,
                           "principalType": "ServicePrincipal"}}
    r = arm("PUT", path, api_version="2022-04-01", json=body)
    assert r.status_code == 201, r.text
    assert r.json()["properties"]["scope"] == vault.id and r.json()["name"] == name
    assert arm("PUT", path, api_version="2022-04-01", json=body).status_code == 200  # idempotent
    other = arm("PUT", f"{scope}/providers/Microsoft.Authorization/roleAssignments/{uuid.uuid4()}",
                api_version="2022-04-01", json=body)
    assert other.status_code == 409 and other.json()["error"]["code"] == "RoleAssignmentExists"

    assert client.get_secret("client-app1").value == "v1"  # Secrets User: read
    with pytest.raises(HttpResponseError) as e:
        client.set_secret("client-app1", "x")  # but not write
    assert e.value.status_code == 403
    assert arm("DELETE", path, api_version="2022-04-01").status_code == 200
    with pytest.raises(HttpResponseError) as e:
        kv.secrets(vault, reader).get_secret("client-app1")
    assert e.value.status_code == 403


def test_access_policy_vaults_follow_their_policies(kv, emulator):
    vault = kv.vault("kv-policy-1", enableRbacAuthorization=False)
    client = kv.secrets(vault)
    with pytest.raises(HttpResponseError) as e:
        client.set_secret("s", "v")
    assert e.value.status_code == 403 and _error(e.value)["innererror"] == {"code": "AccessDenied"}
    oid = json.loads(_jwt_payload(kv.token("https://vault.azure.net/.default")))["oid"]
    kv.mgmt.vaults.update("rg1", "kv-policy-1", {"properties": {"accessPolicies": [
        {"tenantId": emulator.tenant_id, "objectId": oid, "permissions": {"secrets": ["get", "set"]}}]}})
    assert client.set_secret("s", "v").value == "v" and client.get_secret("s").value == "v"
    with pytest.raises(HttpResponseError) as e:
        client.begin_delete_secret("s")
    assert "does not have secrets delete permission" in _error(e.value)["message"]


def _jwt_payload(token: str) -> str:
    import base64

    part = token.split(".")[1]
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)).decode()


# -- where the values live ---------------------------------------------------------------------------------------------
def test_the_store_holding_values_is_private(kv, vault, emulator):
    kv.secrets(vault).set_secret("secret1", "do-not-leak")
    data_dir = Path(emulator.data_dir)
    assert stat.S_IMODE(os.stat(data_dir).st_mode) == 0o700
    files = [p for p in data_dir.iterdir() if p.name.startswith("state.sqlite3")]
    assert any(p.name.endswith("-wal") for p in files)
    for p in files:
        assert stat.S_IMODE(os.stat(p).st_mode) == 0o600, p


# -- restarts -------------------------------------------------------------------------------------------------------
def test_a_vault_keeps_its_uri_and_secrets_across_a_restart(tmp_path):
    """A separate emulator (its own data directory): stopped and started again, the vault answers at the same URI."""
    from provision.emulator import launcher
    from tests.conftest import TEST_TIMING

    data_dir = tmp_path / "emulator"
    env = {f"PROVISION_EMULATOR_{k.upper()}": str(v) for k, v in TEST_TIMING.items()}

    def connect(info) -> KeyVaults:
        cred = ClientSecretCredential(info.tenant_id, info.client_id, info.client_secret, authority=info.authority,
                                      disable_instance_discovery=True, connection_verify=str(info.ca_cert))
        return KeyVaults(info, cred, {"base_url": info.arm_url, "connection_verify": str(info.ca_cert),
                                      "polling_interval": 0.1})

    info = launcher.start(data_dir, env=env)
    try:
        kv = connect(info)
        kv.group()
        uri = kv.vault("kv-restart-1").properties.vault_uri
        kv.secrets(uri).set_secret("durable", "still-here")
        kv.close()
    finally:
        launcher.stop(data_dir)
    info = launcher.start(data_dir, env=env)
    try:
        kv = connect(info)
        assert kv.mgmt.vaults.get("rg1", "kv-restart-1").properties.vault_uri == uri
        assert kv.secrets(uri).get_secret("durable").value == "still-here"
        kv.close()
    finally:
        launcher.stop(data_dir)
