"""Microsoft.KeyVault through ARM with the real azure-mgmt-keyvault client (and raw HTTPS for the wire shapes):
vaults, name rules and global names, soft delete, recovery and purge.

Facts about Azure's behaviour come from tests/data/keyvault/recorded.json (each notes the recording it was seen in).
"""

from __future__ import annotations

import re
from urllib.parse import urlparse

import pytest
from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError

from tests.emulator.test_keyvault import LOCATION, RECORDED, KeyVaults

API = "2023-02-01"  # the ARM api-version of the recordings (raw calls)


@pytest.fixture
def kv(emulator, operator_credential, arm_kwargs, admin):
    admin.configure(retry_after_seconds=0)  # pollers follow Retry-After: no need to wait a second each
    kv = KeyVaults(emulator, operator_credential, arm_kwargs)
    kv.group()
    yield kv
    kv.close()


def _vault_path(emulator, rg: str, name: str) -> str:
    return f"/subscriptions/{emulator.subscription_id}/resourceGroups/{rg}/providers/Microsoft.KeyVault/vaults/{name}"


def test_create_read_list_update_and_delete(kv, emulator, arm):
    want = RECORDED["vault"]
    r = arm("PUT", _vault_path(emulator, "rg1", "kv-arm-1"), api_version=API, json={
        "location": LOCATION, "properties": {"tenantId": emulator.tenant_id, "sku": want["sku"],
                                             "enableRbacAuthorization": True, "softDeleteRetentionInDays": 7}})
    assert r.status_code == want["create_status"], r.text
    body = r.json()
    assert body["type"] == want["type"] and body["properties"]["provisioningState"] == want["create_provisioning_state"]
    assert all(k in body["properties"] for k in want["property_keys"])

    vault = kv.mgmt.vaults.get("rg1", "kv-arm-1")  # the SDK's own read (the PUT's poller is not in play here)
    props = vault.properties
    assert (props.enable_rbac_authorization, props.enable_soft_delete, props.soft_delete_retention_in_days) == (
        True, True, 7)
    assert re.fullmatch(r"https://127\.0\.0\.1:\d+/", props.vault_uri)
    assert props.tenant_id == emulator.tenant_id and props.sku.name == "standard"

    second = kv.vault("kv-arm-2")  # through the SDK's poller: it reads until Succeeded
    assert second.properties.provisioning_state == "Succeeded"
    assert second.properties.vault_uri != props.vault_uri  # every vault has its own origin
    kv.group("rg2")
    kv.vault("kv-arm-3", rg="rg2")
    assert sorted(v.name for v in kv.mgmt.vaults.list_by_resource_group("rg1")) == ["kv-arm-1", "kv-arm-2"]
    assert sorted(v.name for v in kv.mgmt.vaults.list_by_subscription()) == ["kv-arm-1", "kv-arm-2", "kv-arm-3"]
    # `vaults.list` reads ARM's generic resource listing with a resourceType filter (as recorded).
    assert sorted(v.name for v in kv.mgmt.vaults.list()) == ["kv-arm-1", "kv-arm-2", "kv-arm-3"]

    updated = kv.mgmt.vaults.update("rg1", "kv-arm-1", {"tags": {"env": "test"},
                                                        "properties": {"enabledForDeployment": True}})
    assert updated.tags == {"env": "test"} and updated.properties.enabled_for_deployment is True
    assert updated.properties.vault_uri == props.vault_uri
    again = kv.vault("kv-arm-1", softDeleteRetentionInDays=7)  # a PUT on an existing vault updates it
    assert again.properties.vault_uri == props.vault_uri
    with pytest.raises(HttpResponseError) as e:
        kv.mgmt.vaults.update("rg1", "kv-arm-1", {"properties": {"enableSoftDelete": False}})
    assert e.value.status_code == 400

    r = arm("DELETE", _vault_path(emulator, "rg1", "kv-arm-1"), api_version=API)
    assert r.status_code == want["delete_status"] and r.content == b""
    assert arm("DELETE", _vault_path(emulator, "rg1", "kv-arm-1"), api_version=API).status_code == 204
    with pytest.raises(ResourceNotFoundError) as e:
        kv.mgmt.vaults.get("rg1", "kv-arm-1")
    assert e.value.error.code == want["not_found_code"]


@pytest.mark.parametrize("name,valid", [
    ("abc", True), ("a-b-c-1", True), ("A" + "b" * 23, True), ("ab", False), ("a" * 25, False),
    ("1abc", False), ("-abc", False), ("abc-", False), ("ab--c", False), ("ab_c", False), ("ab.c", False),
])
def test_name_rules(kv, name, valid):
    result = kv.mgmt.vaults.check_name_availability({"name": name, "type": "Microsoft.KeyVault/vaults"})
    assert result.name_available is valid
    if not valid:
        assert result.reason == "AccountNameInvalid" and f"The vault name '{name}' is invalid" in result.message
        with pytest.raises(HttpResponseError) as e:
            kv.vault(name)
        assert e.value.status_code == 400 and e.value.error.code == "VaultNameNotValid"


def test_names_are_global(kv):
    kv.vault("kv-global-1")
    kv.group("rg2")
    taken = kv.mgmt.vaults.check_name_availability({"name": "KV-GLOBAL-1", "type": "Microsoft.KeyVault/vaults"})
    assert taken.name_available is False and taken.reason == "AlreadyExists"
    with pytest.raises(ResourceExistsError) as e:
        kv.vault("kv-global-1", rg="rg2")
    assert e.value.status_code == 409 and e.value.error.code == "VaultAlreadyExists"


def test_soft_delete_keeps_the_name_and_the_secrets_until_purged(kv, emulator, arm):
    vault = kv.vault("kv-soft-1")
    kv.secrets(vault).set_secret("kept", "value-1")
    kv.mgmt.vaults.delete("rg1", "kv-soft-1")

    deleted = [d for d in kv.mgmt.vaults.list_deleted() if d.name == "kv-soft-1"]
    assert len(deleted) == 1
    want = RECORDED["deleted_vault"]
    r = arm("GET", f"/subscriptions/{emulator.subscription_id}/providers/Microsoft.KeyVault/deletedVaults",
            api_version=API)
    item = r.json()["value"][0]
    assert item["type"] == want["type"] and re.match(want["id_pattern"], item["id"])
    assert list(item["properties"]) == want["property_keys"]
    assert item["properties"]["location"] == "East US"  # a display name, as recorded
    assert item["properties"]["vaultId"] == vault.id
    got = kv.mgmt.vaults.get_deleted("kv-soft-1", LOCATION)
    assert got.properties.vault_id == vault.id

    assert kv.mgmt.vaults.check_name_availability({"name": "kv-soft-1", "type": "Microsoft.KeyVault/vaults"}
                                                  ).name_available is False
    with pytest.raises(ResourceExistsError) as e:
        kv.vault("kv-soft-1")
    assert e.value.error.code == "ConflictError" and "already exists in deleted state" in e.value.error.message

    recovered = kv.vault("kv-soft-1", createMode="recover")
    assert recovered.properties.vault_uri and not list(kv.mgmt.vaults.list_deleted())
    assert kv.secrets(recovered).get_secret("kept").value == "value-1"

    kv.mgmt.vaults.delete("rg1", "kv-soft-1")
    kv.mgmt.vaults.begin_purge_deleted("kv-soft-1", LOCATION).result()
    assert list(kv.mgmt.vaults.list_deleted()) == []
    assert kv.mgmt.vaults.check_name_availability({"name": "kv-soft-1", "type": "Microsoft.KeyVault/vaults"}
                                                  ).name_available is True
    fresh = kv.vault("kv-soft-1")
    assert list(kv.secrets(fresh).list_properties_of_secrets()) == []  # purged with the vault


def test_purge_is_a_long_running_operation_as_recorded(kv, emulator, arm, admin):
    want = RECORDED["purge"]
    base = f"/subscriptions/{emulator.subscription_id}/providers/Microsoft.KeyVault/locations/{LOCATION}"

    def purge(name: str) -> str:
        kv.mgmt.vaults.delete("rg1", name)
        r = arm("POST", f"{base}/deletedVaults/{name}/purge")
        assert r.status_code == want["status"] and r.content == b""
        assert want["location_pattern"] in r.headers["Location"]
        return urlparse(r.headers["Location"]).path

    kv.vault("kv-purge-1")
    kv.vault("kv-purge-2")
    admin.configure(lro_seconds=30)  # long enough to see it running
    running = purge("kv-purge-1")
    r = arm("GET", running)
    assert r.status_code == 202 and list(r.json()) == want["running_body_keys"]
    assert r.json()["status"] == want["running_status"] and want["location_pattern"] in r.headers["Location"]
    assert [d.name for d in kv.mgmt.vaults.list_deleted()] == ["kv-purge-1"]  # still there while it runs
    with pytest.raises(ResourceExistsError):
        kv.vault("kv-purge-1")
    again = arm("POST", f"{base}/deletedVaults/kv-purge-1/purge")  # the same operation, not a second one
    assert urlparse(again.headers["Location"]).path == running

    admin.configure(lro_seconds=0)
    done = purge("kv-purge-2")
    r = arm("GET", done)
    assert r.status_code == 200 and list(r.json()) == want["done_body_keys"]
    assert r.json()["status"] == want["done_status"]
    assert [d.name for d in kv.mgmt.vaults.list_deleted()] == ["kv-purge-1"]


def test_purge_of_unknown_deleted_vault_is_404(kv):
    with pytest.raises(ResourceNotFoundError):
        kv.mgmt.vaults.get_deleted("nope-vault", LOCATION)
    with pytest.raises(ResourceNotFoundError):
        kv.mgmt.vaults.begin_purge_deleted("nope-vault", LOCATION).result()


def test_deleting_the_resource_group_soft_deletes_its_vaults(kv):
    kv.group("rg-gone")
    vault = kv.vault("kv-in-group", rg="rg-gone")
    kv.secrets(vault).set_secret("s", "v")
    kv.resources.resource_groups.begin_delete("rg-gone").result()
    assert [d.name for d in kv.mgmt.vaults.list_deleted()] == ["kv-in-group"]
    kv.group("rg-new")
    recovered = kv.vault("kv-in-group", rg="rg-new", createMode="recover")
    assert recovered.id.lower().endswith("/resourcegroups/rg-new/providers/microsoft.keyvault/vaults/kv-in-group")
    assert kv.secrets(recovered).get_secret("s").value == "v"


def test_bad_bodies(kv, emulator, arm):
    path = _vault_path(emulator, "rg1", "kv-bad-1")
    cases = [
        {"location": LOCATION, "properties": {"sku": {"family": "A", "name": "standard"}}},  # no tenantId
        {"location": LOCATION, "properties": {"tenantId": emulator.tenant_id, "sku": {"family": "A", "name": "x"}}},
        {"location": LOCATION, "properties": {"tenantId": emulator.tenant_id, "sku": {"family": "A",
                                                                                      "name": "standard"},
                                              "softDeleteRetentionInDays": 5}},
        {"properties": {"tenantId": emulator.tenant_id, "sku": {"family": "A", "name": "standard"}}},  # no location
    ]
    for body in cases:
        r = arm("PUT", path, api_version=API, json=body)
        assert r.status_code == 400, (body, r.text)
        assert set(r.json()["error"]) >= {"code", "message"}
    assert arm("PUT", _vault_path(emulator, "nope-rg", "kv-bad-1"), api_version=API, json={
        "location": LOCATION, "properties": {"tenantId": emulator.tenant_id, "sku": {"family": "A",
                                                                                    "name": "standard"}}},
               ).json()["error"]["code"] == "ResourceGroupNotFound"
