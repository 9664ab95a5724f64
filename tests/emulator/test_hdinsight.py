"""Microsoft.HDInsight clusters, driven by azure-mgmt-hdinsight (and plain HTTPS where headers matter).

Prerequisites (resource group, storage account, NSG/VNet, Entra security group) are made through the real SDKs
and Graph over HTTPS, as a user of the emulator would. The helpers here are shared with test_kafkarest.py.
"""

from __future__ import annotations

import copy
import json
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import requests
from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError
from azure.mgmt.hdinsight import HDInsightManagementClient
from azure.mgmt.network import NetworkManagementClient
from azure.mgmt.resource.resources import ResourceManagementClient
from azure.mgmt.storage import StorageManagementClient

# Facts from Microsoft's official example (request body, response key shape): see the file's "_about".
EXAMPLE = json.loads((Path(__file__).resolve().parents[1] / "data" / "hdinsight_kafka_rest_example.json")
                     .read_text())
LOCATION = "southcentralus"
GATEWAY_PASSWORD = "Gatew4y!Passw0rd"
SSH_PASSWORD = "Ssh!Passw0rd1"
API = "2021-06-01"


@pytest.fixture(autouse=True)
def _recorded_era(admin):
    """This module compares the emulator with the 2023 recording and Microsoft's examples, which create HDInsight
    4.0 clusters: retired since 31 March 2025 (refused by default; see tests/emulator/test_hdinsight_network.py)."""
    admin.configure(refuse_retired_versions=0)


# -- shared helpers ---------------------------------------------------------------------------------------------
class Azure:
    """The clients a test needs against one emulator, and small builders for prerequisites."""

    def __init__(self, emulator, credential, arm_kwargs: dict[str, Any]):
        self.emulator = emulator
        self.credential = credential
        self.verify = str(emulator.ca_cert)
        sub = emulator.subscription_id
        self.hdi = HDInsightManagementClient(credential, sub, **arm_kwargs)
        self.resources = ResourceManagementClient(credential, sub, **arm_kwargs)
        self.storage = StorageManagementClient(credential, sub, **arm_kwargs)
        self.network = NetworkManagementClient(credential, sub, **arm_kwargs)
        self.http = requests.Session()

    def close(self) -> None:
        """Drop pooled connections (an emulator being stopped waits for open ones)."""
        for client in (self.hdi, self.resources, self.storage, self.network, self.http):
            client.close()
        self.credential.close()

    # -- raw HTTPS --
    def token(self, scope: str) -> str:
        return self.credential.get_token(scope).token

    def arm(self, method: str, path: str, **kw: Any) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.token('https://management.azure.com/.default')}",
                   **kw.pop("headers", {})}
        return self.http.request(method, f"{self.emulator.url}{path}", headers=headers, verify=self.verify,
                                 params={"api-version": API}, timeout=30, **kw)

    def graph(self, method: str, path: str, body: dict | None = None) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.token('https://graph.microsoft.com/.default')}"}
        r = self.http.request(method, f"{self.emulator.graph_url}{path}", json=body, headers=headers,
                              verify=self.verify, timeout=30)
        assert r.status_code < 300, r.text
        return r

    # -- prerequisites --
    def resource_group(self, name: str = "rg1") -> str:
        self.resources.resource_groups.create_or_update(name, {"location": LOCATION})
        return name

    def storage_account(self, rg: str, name: str = "hdistore1") -> tuple[str, str, str]:
        """(blob host, key, resource id) of a new StorageV2 account."""
        acct = self.storage.storage_accounts.begin_create(
            rg, name, {"location": LOCATION, "kind": "StorageV2", "sku": {"name": "Standard_LRS"}}).result()
        key = self.storage.storage_accounts.list_keys(rg, name).keys_property[0].value
        host = acct.primary_endpoints.blob.split("://", 1)[1].strip("/")
        return host, key, acct.id

    def security_group(self, name: str = "kafka-clients", *, security: bool = True) -> str:
        body = {"displayName": name, "mailEnabled": not security, "mailNickname": name.replace(" ", ""),
                "securityEnabled": security}
        if not security:
            body["groupTypes"] = ["Unified"]
        return self.graph("POST", "/groups", body).json()["id"]

    def add_member(self, group_id: str, object_id: str) -> None:
        self.graph("POST", f"/groups/{group_id}/members/$ref",
                   {"@odata.id": f"{self.emulator.graph_url}/directoryObjects/{object_id}"})

    def operator_sp(self) -> str:
        r = self.http.get(f"{self.emulator.url}/_emulator/objects", params={"kind": "servicePrincipal"},
                          headers={"Authorization": f"Bearer {self.emulator.admin_key}"}, verify=self.verify)
        return next(sp["id"] for sp in r.json()["value"] if sp["appId"] == self.emulator.client_id)

    def client_app(self, name: str) -> tuple[str, str, str]:
        """(appId, service principal object id, secret) of a new app registration."""
        app = self.graph("POST", "/applications", {"displayName": name}).json()
        sp = self.graph("POST", "/servicePrincipals", {"appId": app["appId"]}).json()
        secret = self.graph("POST", f"/applications/{app['id']}/addPassword",
                            {"passwordCredential": {"displayName": "test"}}).json()["secretText"]
        return app["appId"], sp["id"], secret

    def vnet(self, rg: str, *, allow: tuple[int, ...] = (443, 9400)) -> str:
        """A VNet whose subnet's NSG allows inbound `allow` from the HDInsight service tag; the subnet id.
        (azure-mgmt-network sends dict bodies as they are: they are written in the wire form.)"""
        rules = [{"name": f"allow-{port}", "properties": {
            "priority": 100 + i, "direction": "Inbound", "access": "Allow", "protocol": "Tcp",
            "sourceAddressPrefix": "HDInsight", "sourcePortRange": "*", "destinationAddressPrefix": "VirtualNetwork",
            "destinationPortRange": str(port)}} for i, port in enumerate(allow)]
        nsg = self.network.network_security_groups.begin_create_or_update(
            rg, "hdi-nsg", {"location": LOCATION, "properties": {"securityRules": rules}}).result()
        vnet = self.network.virtual_networks.begin_create_or_update(rg, "hdi-vnet", {
            "location": LOCATION, "properties": {
                "addressSpace": {"addressPrefixes": ["10.0.0.0/16"]},
                "subnets": [{"name": "default", "properties": {"addressPrefix": "10.0.0.0/24",
                                                               "networkSecurityGroup": {"id": nsg.id}}}]}}).result()
        return vnet.properties.subnets[0].id


class World:
    """A resource group with a storage account and a security group whose member is the operator."""

    def __init__(self, azure: Azure, rg: str = "rg1", storage_name: str = "hdistore1"):
        self.azure = azure
        self.rg = azure.resource_group(rg)
        self.host, self.key, self.storage_id = azure.storage_account(rg, storage_name)
        self.group = azure.security_group()
        azure.add_member(self.group, azure.operator_sp())

    def body(self, **kw: Any) -> dict[str, Any]:
        return cluster_body(self.host, self.key, self.group, storage_id=self.storage_id, **kw)


def role(name: str, count: int, size: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "targetInstanceCount": count, "hardwareProfile": {"vmSize": size},
            "osProfile": {"linuxOperatingSystemProfile": {"username": "sshuser", "password": SSH_PASSWORD}},
            **extra}


def cluster_body(host: str, key: str, group: str, *, version: str = "4.0", kafka: str = "2.1",
                 storage_id: str | None = None, subnet: str | None = None, rest: bool = True) -> dict[str, Any]:
    """A create body shaped like the recorded az-cli request (no zookeeper role: the service adds it)."""
    roles = [role("headnode", 2, "STANDARD_E4_V3"),
             role("workernode", 3, "STANDARD_E4_V3", dataDisksGroups=[{"disksPerNode": 2}]),
             role("kafkamanagementnode", 2, "Standard_D4_v2")]
    if subnet:
        for r in roles:
            r["virtualNetworkProfile"] = {"id": subnet.split("/subnets/")[0], "subnet": subnet}
    props: dict[str, Any] = {
        "clusterVersion": version, "osType": "Linux",
        "clusterDefinition": {"kind": "kafka", "componentVersion": {"kafka": kafka}, "configurations": {
            "gateway": {"restAuthCredential.isEnabled": "true", "restAuthCredential.username": "admin",
                        "restAuthCredential.password": GATEWAY_PASSWORD}}},
        "computeProfile": {"roles": roles},
        "storageProfile": {"storageaccounts": [{"name": host, "isDefault": True, "container": "default",
                                                "key": key, "resourceId": storage_id}]},
    }
    if rest:
        props["kafkaRestProperties"] = {"clientGroupInfo": {"groupName": "kafka-clients", "groupId": group}}
    return {"location": LOCATION, "properties": props}


def example_body(host: str, key: str, group: str) -> dict[str, Any]:
    """The official example's request, with a location, a real group and a real storage account + key."""
    body = copy.deepcopy(EXAMPLE["request"])
    body["location"] = LOCATION
    props = body["properties"]
    props["clusterDefinition"]["configurations"]["gateway"]["restAuthCredential.password"] = GATEWAY_PASSWORD
    for r in props["computeProfile"]["roles"]:
        r["osProfile"]["linuxOperatingSystemProfile"]["password"] = SSH_PASSWORD
    props["kafkaRestProperties"]["clientGroupInfo"]["groupId"] = group
    props["storageProfile"]["storageaccounts"][0].update({"name": host, "key": key})
    return body


def cluster_path(sub: str, rg: str, name: str) -> str:
    return f"/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.HDInsight/clusters/{name}"


def same_shape(mine: Any, theirs: Any, path: str = "") -> list[str]:
    """Differences in keys and JSON kinds: every key of `theirs` is in `mine` with a value of the same kind
    (null matches anything; numbers match numbers)."""
    def kind(x: Any) -> str:
        return "number" if isinstance(x, (int, float)) and not isinstance(x, bool) else type(x).__name__

    if theirs is None or mine is None:
        return []
    if kind(mine) != kind(theirs):
        return [f"{path}: {kind(mine)} != {kind(theirs)}"]
    if isinstance(theirs, dict):
        out = [f"{path}.{k}: missing" for k in theirs if k not in mine]
        return out + [d for k in theirs if k in mine for d in same_shape(mine[k], theirs[k], f"{path}.{k}")]
    if isinstance(theirs, list) and theirs and mine:
        return [d for item in mine for d in same_shape(item, theirs[0], f"{path}[]")]
    return []


def _from_shape(shape: Any) -> Any:
    """A value of each recorded JSON kind ("str", "number", "bool", null) for `same_shape`."""
    if isinstance(shape, dict):
        return {k: _from_shape(v) for k, v in shape.items()}
    if isinstance(shape, list):
        return [_from_shape(v) for v in shape]
    return {"str": "", "number": 0, "bool": False}.get(shape) if shape is not None else None


@pytest.fixture
def azure(emulator, operator_credential, arm_kwargs, admin):
    # Quick operations: no Retry-After (the SDKs then poll at arm_kwargs' 0.1 s), short cluster creation.
    admin.configure(retry_after_seconds=0, cluster_create_seconds=0.4)
    azure = Azure(emulator, operator_credential, arm_kwargs)
    yield azure
    azure.close()


@pytest.fixture
def world(azure) -> World:
    return World(azure)


# -- create -----------------------------------------------------------------------------------------------------
def test_official_example_creates_a_cluster_shaped_like_the_example_response(azure, world):
    body = example_body(world.host, world.key, world.group)
    cluster = azure.hdi.clusters.begin_create(world.rg, "cluster1", body).result()
    assert cluster.properties.provisioning_state == "Succeeded" and cluster.properties.cluster_state == "Running"

    raw = azure.arm("GET", cluster_path(azure.emulator.subscription_id, world.rg, "cluster1")).json()
    assert same_shape(raw, _from_shape(EXAMPLE["responseShape"])) == []
    assert sorted(r["name"] for r in raw["properties"]["computeProfile"]["roles"]) == sorted(EXAMPLE["responseRoles"])
    assert [e["name"] for e in raw["properties"]["connectivityEndpoints"]] == [
        "SSH", "HTTPS", "KafkaRestProxyPublicEndpoint"]
    # 2 x Large + 3 x Large + 3 x Small + 2 x Standard_D4_v2 = 8 + 12 + 3 + 16
    assert raw["properties"]["quotaInfo"]["coresUsed"] == 39


def test_put_answers_like_the_recorded_trace_and_walks_cluster_states(azure, world, admin):
    admin.configure(cluster_create_seconds=1.5)
    sub = azure.emulator.subscription_id
    path = cluster_path(sub, world.rg, "kafka1")
    r = azure.arm("PUT", path, json=world.body())
    assert r.status_code == 200, r.text
    assert r.headers["Azure-AsyncOperation"] == (
        f"{azure.emulator.url}{path}/azureasyncoperations/create?api-version={API}")
    assert "Location" not in r.headers and "Retry-After" not in r.headers
    body = r.json()
    props = body["properties"]
    assert r.headers["ETag"] == f'"{body["etag"]}"'
    assert (props["provisioningState"], props["clusterState"]) == ("InProgress", "Accepted")
    assert body["location"] == "South Central US" and body["tags"] is None
    assert props["quotaInfo"] == {"coresUsed": 36} and props["createdDate"] and props["clusterHdpVersion"] == ""
    assert "connectivityEndpoints" not in props and props["tier"] == "standard"
    assert [x["name"] for x in props["computeProfile"]["roles"]] == ["headnode", "workernode",
                                                                       "kafkamanagementnode"]

    seen, status = [], None
    deadline = time.time() + 20
    while time.time() < deadline:
        status = azure.arm("GET", f"{path}/azureasyncoperations/create").json()["status"]
        state = azure.arm("GET", path).json()["properties"]["clusterState"]
        if not seen or seen[-1] != state:
            seen.append(state)
        if status != "InProgress":
            break
        time.sleep(0.05)
    assert status == "Succeeded"
    assert seen[0] == "Accepted" and seen[-1] == "Running"
    assert set(seen[1:-1]) & {"ClusterStorageProvisioned", "AzureVMConfiguration", "HDInsightConfiguration"}
    order = ["Accepted", "ClusterStorageProvisioned", "AzureVMConfiguration", "HDInsightConfiguration", "Running"]
    assert seen == sorted(seen, key=order.index)

    final = azure.arm("GET", path).json()["properties"]
    assert final["clusterVersion"] == "4.0.3000.1" and final["clusterHdpVersion"]
    assert final["clusterDefinition"]["blueprint"].startswith("https://blueprints.azurehdinsight.net/kafka-4.0.3000.1.")
    roles = {x["name"]: x for x in final["computeProfile"]["roles"]}
    assert list(roles) == ["headnode", "workernode", "zookeepernode", "kafkamanagementnode"]
    assert roles["zookeepernode"]["targetInstanceCount"] == 3
    assert roles["zookeepernode"]["hardwareProfile"]["vmSize"] == "standard_a2_v2"
    assert roles["headnode"]["hardwareProfile"]["vmSize"] == "standard_e4_v3"
    kmuser = roles["kafkamanagementnode"]["osProfile"]["linuxOperatingSystemProfile"]["username"]
    assert kmuser.startswith("kmuser") and len(kmuser) == 11 and int(kmuser[6:], 16) >= 0
    assert roles["workernode"]["dataDisksGroups"] == [{"disksPerNode": 2, "storageAccountType": "Standard_LRS",
                                                       "diskSizeGB": 1023}]
    assert final["storageProfile"]["storageaccounts"][0]["key"] is None
    assert GATEWAY_PASSWORD not in json.dumps(final) and SSH_PASSWORD not in json.dumps(final)
    endpoints = {e["name"]: e for e in final["connectivityEndpoints"]}
    assert endpoints["SSH"] == {"name": "SSH", "protocol": "TCP", "location": "kafka1-ssh.azurehdinsight.net",
                                "port": 22}
    assert endpoints["HTTPS"]["location"] == "kafka1.azurehdinsight.net" and endpoints["HTTPS"]["port"] == 443
    rest = endpoints["KafkaRestProxyPublicEndpoint"]
    assert rest == {"name": "KafkaRestProxyPublicEndpoint", "protocol": "TCP",
                    "location": f"127.0.0.1:{azure.emulator.port}/kafkarest/kafka1", "port": azure.emulator.port}
    op = azure.hdi.clusters.get_azure_async_operation_status(world.rg, "kafka1", "create")
    assert op.status == "Succeeded"


def test_newer_versions_and_either_spelling_of_the_component_key(azure, world):
    pollers = {}
    for version, kafka, key in [("5.0", "2.4", "Kafka"), ("5.1", "3.2", "kafka")]:
        body = world.body(version=version, kafka=kafka)
        body["properties"]["clusterDefinition"]["componentVersion"] = {key: kafka}
        pollers[(version, kafka, key)] = azure.hdi.clusters.begin_create(
            world.rg, f"kafka{version.replace('.', '')}", body)
    for (version, kafka, key), poller in pollers.items():
        cluster = poller.result()
        assert cluster.properties.cluster_version == f"{version}.3000.0"
        assert cluster.properties.cluster_definition.component_version == {key: kafka}


# -- synchronous validation -------------------------------------------------------------------------------------
def _set(path: str, value: Any):
    def apply(body: dict[str, Any]) -> None:
        target = body
        keys = path.split("/")
        for k in keys[:-1]:
            target = target[int(k)] if isinstance(target, list) else target[k]
        if value is _DELETE:
            del target[keys[-1]]
        else:
            target[int(keys[-1]) if isinstance(target, list) else keys[-1]] = value
    return apply


_DELETE = object()
ROLES = "properties/computeProfile/roles"
GATEWAY = "properties/clusterDefinition/configurations/gateway"


INVALID_REQUESTS = [
    (_set("properties/clusterVersion", "3.6"), "Cluster version '3.6' is not supported"),
    (_set("properties/clusterDefinition/componentVersion", {"kafka": "3.2"}),
     "HDI Version '4.0' is supported for clusterType 'Kafka'"),
    (_set("properties/clusterVersion", "5.0"), "HDI Version '5.0' is supported for clusterType 'Kafka' and "
                                              "component Version '2.4'"),
    (_set("properties/clusterDefinition/kind", "spark"), "only be enabled on clusters of type 'Kafka'"),
    (_set(f"{ROLES}/0/targetInstanceCount", 3), "Role 'headnode' has targetInstanceCount 3"),
    (_set(f"{ROLES}/2/targetInstanceCount", 1), "Role 'kafkamanagementnode' has targetInstanceCount 1"),
    (_set(ROLES, [role("workernode", 3, "Standard_E4_v3", dataDisksGroups=[{"disksPerNode": 2}])]),
     "Role 'headnode' is required"),
    (_set(f"{ROLES}/1/dataDisksGroups", _DELETE), "dataDisksGroups[0].disksPerNode must be between 1 and 8"),
    (_set(f"{ROLES}/1/dataDisksGroups", [{"disksPerNode": 9}]), "must be between 1 and 8 (got 9)"),
    (_set(f"{ROLES}/0/hardwareProfile/vmSize", "Standard_Z99"),
     "VM size 'Standard_Z99' provided in the CSM document is invalid or not supported for role 'headnode'"),
    (_set(f"{ROLES}/1/hardwareProfile/vmSize", "Small"), "VM size 'Small' provided in the CSM document"),
    (_set(f"{GATEWAY}/restAuthCredential.password", "short1!A"), "gateway password must be at least 10"),
    (_set(f"{GATEWAY}/restAuthCredential.password", "alllowercase1!"), "one uppercase letter"),
    (_set(f"{GATEWAY}/restAuthCredential.password", "NoSpecials123"), "one non-alphanumeric character"),
    (_set("properties/clusterDefinition/configurations", {}), "Gateway configuration is required"),
    (_set("properties/storageProfile/storageaccounts/0/name", ""),
     "Storage account 'name' in storage profile cannot be null or empty"),
    (_set("properties/kafkaRestProperties/clientGroupInfo/groupId", "not-a-guid"), "groupId, a GUID"),
    (_set("location", "atlantis"), "The provided location 'atlantis' is not available"),
]


def test_invalid_create_requests_are_refused_with_400(azure, world):
    for mutate, fragment in INVALID_REQUESTS:
        body = world.body()
        mutate(body)
        with pytest.raises(HttpResponseError) as err:
            azure.hdi.clusters.begin_create(world.rg, "badcluster", body)
        assert err.value.status_code == 400, fragment
        assert err.value.error.code == "BadRequest" and fragment in err.value.error.message, (
            fragment, err.value.error.message)
    with pytest.raises(ResourceNotFoundError):
        azure.hdi.clusters.get(world.rg, "badcluster")


def test_malformed_bodies_are_400_never_500(azure, world):
    path = cluster_path(azure.emulator.subscription_id, world.rg, "weird1")
    weird: list[Any] = [{}, {"location": 5}, {"location": LOCATION, "properties": []},
                        {"location": LOCATION, "properties": {"computeProfile": "x"}}, {"tags": "x"}]
    for field, value in [("computeProfile", {"roles": [1, "a", {"name": {"x": 1}}, {"name": "headnode"}]}),
                         ("storageProfile", {"storageaccounts": "x"}), ("clusterDefinition", None),
                         ("kafkaRestProperties", "x"), ("clusterVersion", 4.0)]:
        body = world.body()
        body["properties"][field] = value
        weird.append(body)
    body = world.body()
    body["properties"]["computeProfile"]["roles"][0].update(
        targetInstanceCount="2", hardwareProfile=[], osProfile=3, dataDisksGroups=5, virtualNetworkProfile="x")
    weird.append(body)
    for body in weird:
        r = azure.arm("PUT", path, json=body)
        assert r.status_code == 400 and r.json()["error"]["message"], (body, r.text)
    for raw in ['{"location": NaN}', "[" * 100_000 + "]" * 100_000, "{not json"]:
        r = azure.arm("PUT", path, data=raw, headers={"Content-Type": "application/json"})
        assert r.status_code == 400, (raw[:30], r.text[:200])


def test_cluster_name_rules(azure, world):
    for name in ["ab", "-kafka", "kafka-", "kafka_1", "k" * 60, "apps"]:
        r = azure.arm("PUT", cluster_path(azure.emulator.subscription_id, world.rg, name), json=world.body())
        assert r.status_code == 400 and "The cluster name" in r.json()["error"]["message"], name
        check = azure.hdi.locations.check_name_availability(LOCATION, {"name": name, "type": "clusters"})
        assert check.name_available is False and check.reason == "Invalid", name


def test_names_are_global_and_checked_by_check_name_availability(azure, world):
    first = azure.hdi.clusters.begin_create(world.rg, "unique1", world.body())
    other_rg = azure.resource_group("rg2")
    with pytest.raises(ResourceExistsError) as err:
        azure.hdi.clusters.begin_create(other_rg, "UNIQUE1", world.body())
    assert err.value.status_code == 409 and "Cluster name 'UNIQUE1' is unavailable" in err.value.message
    taken = azure.hdi.locations.check_name_availability(LOCATION, {"name": "unique1", "type": "clusters"})
    assert (taken.name_available, taken.reason, taken.message) == (
        False, "AlreadyExists", "Cluster name 'unique1' is unavailable")
    assert azure.hdi.locations.check_name_availability(LOCATION, {"name": "free-name", "type": "clusters"}
                                                       ).name_available is True
    # A repeated PUT of the same cluster is idempotent; a different one conflicts.
    again = azure.arm("PUT", cluster_path(azure.emulator.subscription_id, world.rg, "unique1"), json=world.body())
    assert again.status_code == 200 and "azureasyncoperations/create" in again.headers["Azure-AsyncOperation"]
    changed = world.body()
    changed["properties"]["computeProfile"]["roles"][1]["targetInstanceCount"] = 5
    assert azure.arm("PUT", cluster_path(azure.emulator.subscription_id, world.rg, "unique1"),
                     json=changed).status_code == 409
    assert first.result().properties.cluster_state == "Running"


def test_core_quota_is_enforced_and_reported_by_usages(azure, world, admin):
    admin.configure(core_quota=60)
    first = azure.hdi.clusters.begin_create(world.rg, "quota1", world.body())  # 36 cores
    usage = list(azure.hdi.locations.list_usages(LOCATION).value)
    assert [(u.name.value, u.unit, u.current_value, u.limit) for u in usage] == [("cores", "Count", 36, 60)]
    with pytest.raises(HttpResponseError) as err:
        azure.hdi.clusters.begin_create(world.rg, "quota2", world.body())
    assert err.value.status_code == 400 and err.value.error.code == "BadRequest"
    assert err.value.error.message == (
        f"User SubscriptionId '{azure.emulator.subscription_id}' does not have cores left to create resource "
        f"'quota2'. Required: 36, Available: 24.")
    first.result()


# -- deployment failures (the operation fails) ------------------------------------------------------------------
def _fails(azure: Azure, rg: str, name: str, body: dict[str, Any], fragment: str) -> None:
    poller = azure.hdi.clusters.begin_create(rg, name, body)
    with pytest.raises(HttpResponseError) as err:
        poller.result()
    assert fragment in str(err.value)
    props = azure.hdi.clusters.get(rg, name).properties
    assert (props.provisioning_state, props.cluster_state) == ("Failed", "Error")
    assert props.errors[0].code == "InvalidDocumentErrorCode" and fragment in props.errors[0].message
    status = azure.arm("GET", cluster_path(azure.emulator.subscription_id, rg, name) + "/azureasyncoperations/create")
    assert status.json()["status"] == "Failed" and status.json()["error"]["code"] == "InvalidDocumentErrorCode"


def test_wrong_storage_key_fails_the_deployment(azure, world):
    body = world.body()
    body["properties"]["storageProfile"]["storageaccounts"][0]["key"] = "d3Jvbmcta2V5"
    _fails(azure, world.rg, "badkey", body, "the storage account key is invalid")


def test_missing_storage_account_fails_the_deployment(azure, world):
    body = world.body()
    body["properties"]["storageProfile"]["storageaccounts"][0]["name"] = "nosuchacct.blob.core.windows.net"
    _fails(azure, world.rg, "nostore", body, "Storage account 'nosuchacct.blob.core.windows.net' could not be found")


def test_rest_proxy_group_must_exist_and_be_a_security_group(azure, world):
    body = world.body()
    body["properties"]["kafkaRestProperties"]["clientGroupInfo"]["groupId"] = str(uuid.uuid4())
    _fails(azure, world.rg, "nogroup", body, "was not found in the directory")
    m365 = azure.security_group("m365-group", security=False)
    body["properties"]["kafkaRestProperties"]["clientGroupInfo"]["groupId"] = m365
    _fails(azure, world.rg, "notsecurity", body, "is not a security group")


def test_nsg_must_allow_inbound_9400_for_the_rest_proxy(azure, world):
    blocked = azure.vnet(world.rg, allow=(443,))
    _fails(azure, world.rg, "blocked9400", world.body(subnet=blocked),
           "Kafka REST proxy enabled cluster must allow inbound traffic on port 9400")


def test_nsg_allowing_443_and_9400_lets_the_cluster_run(azure, world):
    subnet = azure.vnet(world.rg)
    cluster = azure.hdi.clusters.begin_create(world.rg, "vnetok", world.body(subnet=subnet)).result()
    assert cluster.properties.cluster_state == "Running"
    roles = {r.name: r for r in cluster.properties.compute_profile.roles}
    assert roles["zookeepernode"].virtual_network_profile.subnet == subnet


# -- validateCreateRequest, billing specs, capabilities ---------------------------------------------------------
def test_validate_create_request(azure, world):
    good = dict(world.body(), name="valid1", type="Microsoft.HDInsight/clusters", tenantId=azure.emulator.tenant_id)
    result = azure.hdi.locations.validate_cluster_create_request(LOCATION, good)
    assert result.validation_errors == [] and result.aadds_resources_details == []
    assert result.estimated_creation_duration.total_seconds() > 0

    bad = copy.deepcopy(good)
    bad["name"] = "-bad"
    bad["properties"]["clusterDefinition"]["configurations"]["gateway"]["restAuthCredential.password"] = "weak"
    bad["properties"]["computeProfile"]["roles"][1]["dataDisksGroups"] = [{"disksPerNode": 0}]
    raw = azure.arm("POST", f"/subscriptions/{azure.emulator.subscription_id}/providers/Microsoft.HDInsight/"
                            f"locations/{LOCATION}/validateCreateRequest", json=bad).json()
    codes = [e["code"] for e in raw["validationErrors"]]
    assert codes == ["InvalidClusterName", "InvalidGatewayPassword", "DataDisksRequired"]
    assert set(raw["validationErrors"][0]) == {"code", "message", "errorResource", "messageArguments"}
    assert raw["aaddsResourcesDetails"] == [] and raw["estimatedCreationDuration"].startswith("PT")

    wrong_key = copy.deepcopy(good)
    wrong_key["properties"]["storageProfile"]["storageaccounts"][0]["key"] = "bm9wZQ=="
    errors = azure.hdi.locations.validate_cluster_create_request(LOCATION, wrong_key).validation_errors
    assert [e.code for e in errors] == ["StorageAccountValidationFailed"]


def test_billing_specs_give_the_recorded_kafka_defaults(azure):
    specs = azure.hdi.locations.list_billing_specs(LOCATION)
    defaults = {f.node_types[0]: f.vm_sizes[0] for f in specs.vm_size_filters
                if f.filter_mode == "Default" and f.cluster_flavors == ["Kafka"]}
    assert defaults == {"HeadNodeRole": "STANDARD_E4_V3", "WorkerNodeRole": "STANDARD_E4_V3",
                        "ZookeeperRole": "STANDARD_A4_V2", "KafkaManagementNodeRole": "STANDARD_E8_V3"}
    props = {p.name: p for p in specs.vm_size_properties}
    assert props["STANDARD_E4_V3"].cores == 4 and props["STANDARD_D4_V2"].cores == 8
    assert "STANDARD_E8_V3" in specs.vm_sizes and specs.billing_resources[0].region == LOCATION
    caps = azure.hdi.locations.get_capabilities(LOCATION)
    assert caps.quota.max_cores_allowed == 400 and "5.1" in [v.friendly_name for v in caps.versions["iaas"].available]
    with pytest.raises(HttpResponseError) as err:
        azure.hdi.locations.list_usages("atlantis")
    assert err.value.status_code == 400


# -- read, list, update, delete ---------------------------------------------------------------------------------
def test_list_patch_gateway_settings_and_delete(azure, world):
    azure.hdi.clusters.begin_create(world.rg, "life1", world.body()).result()
    assert [c.name for c in azure.hdi.clusters.list_by_resource_group(world.rg)] == ["life1"]
    assert [c.name for c in azure.hdi.clusters.list()] == ["life1"]
    raw = azure.arm("GET", f"/subscriptions/{azure.emulator.subscription_id}/providers/Microsoft.HDInsight/clusters")
    assert set(raw.json()) == {"value"}

    patched = azure.hdi.clusters.update(world.rg, "life1", {"tags": {"env": "test"}})
    assert patched.tags == {"env": "test"} and azure.hdi.clusters.get(world.rg, "life1").tags == {"env": "test"}
    settings = azure.hdi.clusters.get_gateway_settings(world.rg, "life1")
    assert (settings.is_credential_enabled, settings.user_name, settings.password) == ("true", "admin",
                                                                                        GATEWAY_PASSWORD)

    path = cluster_path(azure.emulator.subscription_id, world.rg, "life1")
    r = azure.arm("DELETE", path)
    assert r.status_code == 202 and "/operationresults/" in r.headers["Location"]
    during = azure.arm("GET", path).json()["properties"]
    assert (during["provisioningState"], during["clusterState"]) == ("Deleting", "Deleting")
    poll = requests.get(r.headers["Location"], verify=azure.verify,
                        headers={"Authorization": f"Bearer {azure.token('https://management.azure.com/.default')}"})
    assert poll.status_code == 202
    op_id = r.headers["Location"].split("/operationresults/")[1].split("?")[0]
    assert azure.hdi.locations.get_azure_async_operation_status(LOCATION, op_id).status == "InProgress"
    azure.hdi.clusters.begin_delete(world.rg, "life1").result()  # joins the running delete
    with pytest.raises(ResourceNotFoundError):
        azure.hdi.clusters.get(world.rg, "life1")
    assert azure.arm("DELETE", path).status_code == 204
    assert azure.hdi.locations.get_azure_async_operation_status(LOCATION, op_id).status == "Succeeded"
    assert azure.hdi.locations.list_usages(LOCATION).value[0].current_value == 0
    assert azure.hdi.locations.check_name_availability(LOCATION, {"name": "life1"}).name_available is True


def test_missing_resource_group_and_cluster(azure):
    with pytest.raises(ResourceNotFoundError) as err:
        azure.hdi.clusters.get("nosuchrg", "c1")
    assert err.value.error.code == "ResourceGroupNotFound"
    azure.resource_group("rg1")
    with pytest.raises(ResourceNotFoundError) as err:
        azure.hdi.clusters.get("rg1", "c1")
    assert err.value.error.code == "ResourceNotFound"
    r = azure.arm("GET", f"/subscriptions/{azure.emulator.subscription_id}/providers/Microsoft.HDInsight/locations/"
                         f"{LOCATION}/azureasyncoperations/{uuid.uuid4()}")
    assert r.status_code == 404
