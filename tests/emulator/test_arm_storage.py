"""Microsoft.Storage — accounts, keys, name checks, blob containers — driven by azure-mgmt-storage over TLS, with
wire-level checks against the recorded traffic, and the lookups HDInsight uses (`account_by_blob_host`,
`account_keys`)."""

from __future__ import annotations

import base64
import re
import time
import types

import pytest
import requests
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.mgmt.resource.resources import ResourceManagementClient
from azure.mgmt.storage import StorageManagementClient
from azure.mgmt.storage.models import (
    BlobContainer,
    Sku,
    StorageAccountCheckNameAvailabilityParameters,
    StorageAccountCreateParameters,
    StorageAccountRegenerateKeyParameters,
)

from provision.emulator.services.arm.resources import models as resource_models
from provision.emulator.services.arm.storage import models as storage_models
from provision.emulator.state import EmulatorState
from provision.emulator.store import Store
from provision.emulator.wire import ArmError

API = "2021-02-01"
RG = "rg-store"
INVALID_NAME = ("{} is not a valid storage account name. Storage account name must be between 3 and 24 characters "
                "in length and use numbers and lower-case letters only.")


@pytest.fixture
def groups(operator_credential, emulator, arm_kwargs):
    rm = ResourceManagementClient(operator_credential, emulator.subscription_id, **arm_kwargs)
    for name in (RG, "rg-other"):
        rm.resource_groups.create_or_update(name, {"location": "southcentralus"})
    return rm


@pytest.fixture
def storage(groups, operator_credential, emulator, arm_kwargs, admin):
    """A StorageManagementClient; `Retry-After: 0` (a timing knob) lets pollers use the 0.1 s interval."""
    admin.configure(retry_after_seconds=0)
    return StorageManagementClient(operator_credential, emulator.subscription_id, **arm_kwargs)


def _params(sku="Standard_LRS", location="southcentralus") -> StorageAccountCreateParameters:
    return StorageAccountCreateParameters(sku=Sku(name=sku), kind="StorageV2", location=location)


def _account_path(emulator, name, rg=RG):
    return (f"/subscriptions/{emulator.subscription_id}/resourceGroups/{rg}/providers/Microsoft.Storage/"
            f"storageAccounts/{name}")


def _create(storage, name, rg=RG, **kw):
    return storage.storage_accounts.begin_create(rg, name, _params(**kw)).result()


# -- accounts through the SDK ----------------------------------------------------------------------------------------
def test_account_lifecycle(storage):
    acct = _create(storage, "provisiondata01", sku="Standard_RAGRS")
    assert acct.provisioning_state == "Succeeded" and acct.name == "provisiondata01"
    assert acct.sku.name == "Standard_RAGRS" and acct.sku.tier == "Standard" and acct.kind == "StorageV2"
    assert acct.primary_endpoints.blob == "https://provisiondata01.blob.core.windows.net/"
    assert acct.primary_endpoints.dfs == "https://provisiondata01.dfs.core.windows.net/"
    assert acct.secondary_endpoints.blob == "https://provisiondata01-secondary.blob.core.windows.net/"
    assert acct.secondary_location == "northcentralus" and acct.primary_location == "southcentralus"

    got = storage.storage_accounts.get_properties(RG, "provisiondata01")
    assert got.id == acct.id and got.creation_time == acct.creation_time
    assert [a.name for a in storage.storage_accounts.list_by_resource_group(RG)] == ["provisiondata01"]
    assert [a.name for a in storage.storage_accounts.list()] == ["provisiondata01"]

    # A second PUT on the same account is an in-place update (200, no new operation).
    updated = storage.storage_accounts.begin_create(RG, "provisiondata01", StorageAccountCreateParameters(
        sku=Sku(name="Standard_LRS"), kind="StorageV2", location="southcentralus", tags={"a": "b"})).result()
    assert updated.tags == {"a": "b"} and updated.sku.name == "Standard_LRS" and updated.secondary_location is None
    assert storage.storage_accounts.update(RG, "provisiondata01", {"tags": {"c": "d"}}).tags == {"c": "d"}

    storage.storage_accounts.delete(RG, "provisiondata01")
    with pytest.raises(ResourceNotFoundError) as e:
        storage.storage_accounts.get_properties(RG, "provisiondata01")
    assert e.value.error.code == "ResourceNotFound"
    storage.storage_accounts.delete(RG, "provisiondata01")  # 204: nothing to delete


def test_create_on_the_wire(groups, arm, emulator, admin):
    admin.configure(retry_after_seconds=1)  # the header as Azure sends it (tests default to 0)
    admin.configure(lro_seconds=0.6)
    body = {"sku": {"name": "Standard_RAGRS"}, "kind": "StorageV2", "location": "southcentralus",
            "properties": {"encryption": {"services": {"blob": {}}, "keySource": "Microsoft.Storage"}}}
    r = arm("PUT", _account_path(emulator, "cli000002"), json=body)
    assert r.status_code == 202 and r.content == b"" and r.headers["Retry-After"] == "1"
    location = r.headers["Location"]
    assert re.fullmatch(rf"{re.escape(emulator.url)}/subscriptions/{emulator.subscription_id}/providers/"
                        rf"Microsoft\.Storage/locations/southcentralus/asyncoperations/[0-9a-f-]{{36}}"
                        rf"\?monitor=true&api-version={API}", location)
    assert arm("GET", _account_path(emulator, "cli000002")).json()["properties"]["provisioningState"] == "Creating"
    poll = requests.get(location, headers={"Authorization": r.request.headers["Authorization"]},
                        verify=str(emulator.ca_cert))
    assert poll.status_code == 202 and poll.headers["Location"] == location
    time.sleep(0.7)
    done = requests.get(location, headers={"Authorization": r.request.headers["Authorization"]},
                        verify=str(emulator.ca_cert))
    assert done.status_code == 200
    acct = done.json()
    assert list(acct) == ["sku", "kind", "id", "name", "type", "location", "tags", "properties"]
    assert acct["sku"] == {"name": "Standard_RAGRS", "tier": "Standard"} and acct["tags"] == {}
    props = acct["properties"]
    assert props["provisioningState"] == "Succeeded" and props["statusOfPrimary"] == "available"
    assert props["networkAcls"] == {"bypass": "AzureServices", "virtualNetworkRules": [], "ipRules": [],
                                    "defaultAction": "Allow"}
    assert props["encryption"]["keySource"] == "Microsoft.Storage"
    assert props["encryption"]["services"]["blob"]["enabled"] is True
    assert set(props["keyCreationTime"]) == {"key1", "key2"} and props["accessTier"] == "Hot"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}Z", props["creationTime"])
    assert props["primaryEndpoints"] == {e: f"https://cli000002.{e}.core.windows.net/"
                                         for e in ("dfs", "blob", "queue", "table", "file")} | {
        "web": "https://cli000002.z13.web.core.windows.net/"}
    assert set(props["secondaryEndpoints"]) == {"dfs", "web", "blob", "queue", "table"}
    assert "_keys" not in acct and "keys" not in props

    check = arm("POST", f"/subscriptions/{emulator.subscription_id}/providers/Microsoft.Storage/checkNameAvailability",
                json={"name": "cli000002", "type": "Microsoft.Storage/storageAccounts"})
    assert check.json() == {"nameAvailable": False, "reason": "AlreadyExists",
                            "message": "The storage account named cli000002 is already taken."}


@pytest.mark.parametrize("name", ["ab", "UpperCase1", "has-dash", "a" * 25, "under_score"])
def test_account_name_rules(storage, name):
    with pytest.raises(HttpResponseError) as e:
        storage.storage_accounts.begin_create(RG, name, _params()).result()
    assert e.value.status_code == 400 and e.value.error.code == "AccountNameInvalid"
    assert e.value.error.message == INVALID_NAME.format(name)
    result = storage.storage_accounts.check_name_availability(
        StorageAccountCheckNameAvailabilityParameters(name=name, type="Microsoft.Storage/storageAccounts"))
    assert result.name_available is False and result.reason == "AccountNameInvalid"
    assert result.message == INVALID_NAME.format(name)


def test_account_names_are_global(storage):
    check = storage.storage_accounts.check_name_availability
    free = check(StorageAccountCheckNameAvailabilityParameters(name="sharedname1",
                                                               type="Microsoft.Storage/storageAccounts"))
    assert free.name_available is True and free.reason is None
    _create(storage, "sharedname1")
    taken = check(StorageAccountCheckNameAvailabilityParameters(name="sharedname1",
                                                                type="Microsoft.Storage/storageAccounts"))
    assert taken.name_available is False and taken.reason == "AlreadyExists"
    with pytest.raises(HttpResponseError) as e:
        _create(storage, "sharedname1", rg="rg-other")
    assert e.value.status_code == 409 and e.value.error.code == "StorageAccountInAnotherResourceGroup"
    with pytest.raises(HttpResponseError) as e:
        _create(storage, "sharedname1", location="westus")
    assert e.value.error.code == "InvalidResourceLocation"


def test_name_held_in_another_subscription_is_taken(tmp_path):
    """The emulator serves one subscription, so "taken elsewhere in Azure" is exercised on the models."""
    state = EmulatorState(tmp_path)
    other, mine = "11111111-1111-1111-1111-111111111111", state.boot.subscription_id
    for sub in (other, mine):
        resource_models.put_group(state, sub, "rg", {"location": "westus"})
    body = {"sku": {"name": "Standard_LRS"}, "kind": "StorageV2", "location": "westus"}
    storage_models.put_account(state, other, "rg", "globalname", body)
    with pytest.raises(ArmError) as e:
        storage_models.put_account(state, mine, "rg", "globalname", body)
    assert e.value.status == 409 and e.value.code == "StorageAccountAlreadyTaken"
    assert e.value.message == "The storage account named globalname is already taken."
    state.store.close()


def test_keys(storage, emulator):
    _create(storage, "keyed01")
    keys = storage.storage_accounts.list_keys(RG, "keyed01").keys_property
    assert [k.key_name for k in keys] == ["key1", "key2"] and all(k.permissions == "FULL" for k in keys)
    assert all(len(k.value) == 88 and len(base64.b64decode(k.value)) == 64 for k in keys)
    assert keys[0].value != keys[1].value
    again = storage.storage_accounts.list_keys(RG, "keyed01").keys_property
    assert [k.value for k in again] == [k.value for k in keys]  # stable until regenerated

    renewed = storage.storage_accounts.regenerate_key(
        RG, "keyed01", StorageAccountRegenerateKeyParameters(key_name="key1")).keys_property
    assert renewed[0].value != keys[0].value and renewed[1].value == keys[1].value
    assert renewed[0].creation_time > keys[0].creation_time
    with pytest.raises(HttpResponseError) as e:
        storage.storage_accounts.regenerate_key(RG, "keyed01", StorageAccountRegenerateKeyParameters(key_name="k3"))
    assert e.value.status_code == 400 and e.value.error.code == "InvalidValuesForRequestParameters"

    # What HDInsight checks: the blob host names the account, and `key` must be one of its current keys.
    view = types.SimpleNamespace(store=Store(emulator.data_dir / "state.sqlite3"))
    try:
        found = storage_models.account_by_blob_host(view, "keyed01.blob.core.windows.net")
        assert found["name"] == "keyed01" and "_keys" not in found
        assert storage_models.account_by_blob_host(view, "https://KEYED01.blob.core.windows.net/") == found
        assert storage_models.account_by_blob_host(view, "keyed01.dfs.core.windows.net") is None
        assert storage_models.account_by_blob_host(view, "nobody.blob.core.windows.net") is None
        assert storage_models.account_keys(view, found) == [k.value for k in renewed]
    finally:
        view.store.close()


# -- blob containers -------------------------------------------------------------------------------------------------
def test_container_lifecycle(storage, arm, emulator):
    _create(storage, "containers01")
    c = storage.blob_containers.create(RG, "containers01", "kafka-logs", BlobContainer(metadata={"team": "data"}))
    assert c.name == "kafka-logs" and c.public_access == "None" and c.metadata == {"team": "data"}
    assert c.type == "Microsoft.Storage/storageAccounts/blobServices/containers"
    assert c.id.endswith("/storageAccounts/containers01/blobServices/default/containers/kafka-logs")
    assert storage.blob_containers.get(RG, "containers01", "kafka-logs").etag == c.etag
    assert [i.name for i in storage.blob_containers.list(RG, "containers01")] == ["kafka-logs"]
    updated = storage.blob_containers.update(RG, "containers01", "kafka-logs", BlobContainer(metadata={"x": "y"}))
    assert updated.metadata == {"x": "y"} and updated.etag != c.etag

    path = _account_path(emulator, "containers01") + "/blobServices/default/containers/other"
    assert arm("PUT", path, json={}).status_code == 201
    assert arm("PUT", path, json={"properties": {}}).status_code == 200
    assert arm("DELETE", path).status_code == 200 and arm("DELETE", path).status_code == 204
    missing = arm("GET", path)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "ContainerNotFound"

    public = arm("PUT", path, json={"properties": {"publicAccess": "Blob"}})
    assert public.status_code == 409 and public.json()["error"]["code"] == "ContainerOperationFailure"
    orphan = arm("PUT", _account_path(emulator, "noaccount") + "/blobServices/default/containers/c", json={})
    assert orphan.status_code == 404 and orphan.json()["error"]["code"] == "ParentResourceNotFound"

    # Deleting the account takes its containers with it.
    storage.storage_accounts.delete(RG, "containers01")
    _create(storage, "containers01")
    assert list(storage.blob_containers.list(RG, "containers01")) == []


@pytest.mark.parametrize("name,fragment", [
    ("ab", "length is not within the permissible limits"),
    ("a" * 64, "length is not within the permissible limits"),
    ("Upper", "contains invalid characters"),
    ("a--b", "contains invalid characters"),
    ("-abc", "contains invalid characters"),
    ("abc-", "contains invalid characters"),
    ("a_b_c", "contains invalid characters"),
])
def test_container_name_rules(storage, name, fragment):
    _create(storage, "names01")
    with pytest.raises(HttpResponseError) as e:
        storage.blob_containers.create(RG, "names01", name, BlobContainer())
    assert e.value.status_code == 400 and e.value.error.code == "ContainerOperationFailure"
    assert fragment in e.value.error.message and "RequestId:" in e.value.error.message


def test_storage_request_errors(groups, arm, emulator):
    path = _account_path(emulator, "errors01")
    for body, code in [({"kind": "StorageV2", "location": "westus"}, "InvalidValuesForRequestParameters"),
                       ({"sku": {"name": "Standard_XYZ"}, "kind": "StorageV2", "location": "westus"},
                        "InvalidValuesForRequestParameters"),
                       ({"sku": {"name": "Standard_LRS"}, "kind": "StorageV2"}, "LocationRequired")]:
        r = arm("PUT", path, json=body)
        assert r.status_code == 400 and r.json()["error"]["code"] == code
    r = arm("PUT", path, data=b"[", headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "InvalidRequestContent"
    r = arm("GET", _account_path(emulator, "errors01", rg="no-such-rg"))
    assert r.status_code == 404 and r.json()["error"]["code"] == "ResourceGroupNotFound"
    r = arm("POST", path + "/listKeys")
    assert r.status_code == 404 and r.json()["error"]["code"] == "ResourceNotFound"
    r = requests.get(emulator.url + path, params={"api-version": API}, verify=str(emulator.ca_cert))
    assert r.status_code == 401
