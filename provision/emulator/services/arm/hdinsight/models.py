"""Microsoft.HDInsight/clusters: the cluster documents and their life cycle.

A cluster is stored as the Cluster body Azure returns (properties as recorded in the 2023 az-cli trace), plus
private "_" fields: the create/delete operation ids, the creation time and duration, the gateway credential (for
getGatewaySettings; never in the cluster body) and the deployment failure decided when the PUT was accepted.

Create walk. The PUT records an ARM operation (`core.start_operation`) lasting `timing.cluster_create_seconds`.
While it runs, every GET computes `clusterState` from the elapsed fraction: Accepted → ClusterStorageProvisioned
→ AzureVMConfiguration → HDInsightConfiguration; when it comes due, the registered completion finalizes the
document as Azure's final GET shows it: provisioningState Succeeded, clusterState Running, the full build in
clusterVersion/clusterHdpVersion, a service-added zookeeper role (3 x standard_a2_v2) when the request had none,
the kafka management node's user replaced by a generated `kmuser` + 5 hex, and connectivity endpoints. A failing
deployment instead ends, when the walk reaches the failing step, with provisioningState Failed, clusterState
Error and `errors[]`.

Kafka REST proxy endpoint mapping. Azure reports `KafkaRestProxyPublicEndpoint` at
`<cluster>-kafkarest.azurehdinsight.net:443`, which cannot resolve here. The emulator reports its own data plane
instead: `location` = `<emulator host>:<emulator port>/kafkarest/<cluster>` and `port` = the emulator port, so a
client building `https://{location}` (as the docs' samples do with the host) reaches
`https://127.0.0.1:<port>/kafkarest/<cluster>/v1/...`. Host and port come from the request's base URL each time a
cluster is rendered — never stored — because the port may change across emulator restarts.
"""

from __future__ import annotations

import copy
import datetime as dt
import secrets
import time
import uuid
from typing import Any

from provision.emulator.services.arm import core
from provision.emulator.services.arm.hdinsight import catalog
from provision.emulator.services.arm.hdinsight import validation as v
from provision.emulator.services.arm.resources import models as resource_groups
from provision.emulator.services.kafkarest import models as kafka
from provision.emulator.state import EmulatorState

KIND = "arm:hdinsight:cluster"
RESOURCE_TYPE = "Microsoft.HDInsight/clusters"
CREATE, DELETE = "hdinsight.create", "hdinsight.delete"
WALK = (("Accepted", 0.0), ("ClusterStorageProvisioned", 0.25), ("AzureVMConfiguration", 0.5),
        ("HDInsightConfiguration", 0.75))
DATA_DISK_SIZE_GB = 1023


def cluster_resource_id(sub: str, rg: str, name: str) -> str:
    return f"{core.rg_id(sub, rg)}/providers/{RESOURCE_TYPE}/{name}"


# -- lookups ----------------------------------------------------------------------------------------------------
def get_cluster(state: EmulatorState, sub: str, rg: str, name: str) -> dict[str, Any] | None:
    return core.get_resource(state, KIND, cluster_resource_id(sub, rg, name))


def all_clusters(state: EmulatorState) -> list[dict[str, Any]]:
    return state.store.list(KIND)


def clusters_in(state: EmulatorState, sub: str, rg: str | None = None) -> list[dict[str, Any]]:
    if rg is not None:
        return state.store.list(KIND, scope=core.scope_of_rg(sub, rg))
    return state.store.list(KIND, scope_prefix=f"/subscriptions/{sub}/".lower())


def cluster_by_name(state: EmulatorState, name: str) -> dict[str, Any] | None:
    """Cluster names are global in Azure (they are DNS names under azurehdinsight.net)."""
    return next((c for c in all_clusters(state) if c["name"].lower() == name.lower()), None)


def cluster_for_rest_proxy(state: EmulatorState, name: str) -> dict[str, Any] | None:
    """The stored cluster of that name, for the Kafka REST proxy data plane (see `rest_proxy_ready`)."""
    core.settle(state)
    return cluster_by_name(state, name)


def rest_proxy_ready(doc: dict[str, Any] | None) -> bool:
    props = (doc or {}).get("properties", {})
    return props.get("clusterState") == "Running" and bool(props.get("kafkaRestProperties"))


def cores_in_use(state: EmulatorState, sub: str, region: str) -> int:
    return sum(c["properties"]["quotaInfo"]["coresUsed"] for c in clusters_in(state, sub)
               if c.get("_region") == region)


# -- building the document --------------------------------------------------------------------------------------
def _created_date() -> str:
    """Azure's createdDate form: UTC, milliseconds, no zone suffix ("2023-02-08T02:43:45.817")."""
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3]


def _role_body(role: dict[str, Any]) -> dict[str, Any]:
    """A requested role as the service echoes it: lower-case VM size, no passwords, data disks filled in."""
    size = (v.obj(role.get("hardwareProfile")).get("vmSize") or v.default_size(role["name"])).lower()
    linux = v.obj(v.obj(role.get("osProfile")).get("linuxOperatingSystemProfile"))
    out: dict[str, Any] = {"name": role["name"], "targetInstanceCount": role.get("targetInstanceCount"),
                           "hardwareProfile": {"vmSize": size},
                           "osProfile": {"linuxOperatingSystemProfile": {"username": linux.get("username")}}}
    for optional in ("autoscale", "virtualNetworkProfile", "scriptActions"):
        if role.get(optional):
            out[optional] = role[optional]
    if v.arr(role.get("dataDisksGroups")):
        tier = catalog.VM_SIZES[size].disk_tier if size in catalog.VM_SIZES else "Standard_LRS"
        out["dataDisksGroups"] = [{"disksPerNode": v.obj(g).get("disksPerNode"), "storageAccountType": tier,
                                   "diskSizeGB": DATA_DISK_SIZE_GB} for g in role["dataDisksGroups"]]
    if "encryptDataDisks" in role:
        out["encryptDataDisks"] = role["encryptDataDisks"]
    return out


def _storage_body(acct: dict[str, Any]) -> dict[str, Any]:
    """Storage accounts come back with `key` (and `saskey`) null, as recorded."""
    return {"name": acct.get("name"), "resourceId": acct.get("resourceId"),
            "msiResourceId": acct.get("msiResourceId"), "key": None, "fileSystem": acct.get("fileSystem"),
            "container": acct.get("container"), "saskey": None, "isDefault": bool(acct.get("isDefault")),
            "fileshare": acct.get("fileshare")}


def _definition(props: dict[str, Any], kind: str, version: catalog.Version) -> dict[str, Any]:
    key, comp = v.component_version(props, kind)
    if key is None and kind == "kafka":
        key, comp = "kafka", version.kafka[0]
    sent_kind = v.obj(props.get("clusterDefinition")).get("kind")
    return {"blueprint": f"https://blueprints.azurehdinsight.net/{kind}-{version.build}.{version.blueprint_stamp}"
                         f".json",
            "kind": sent_kind, "componentVersion": {key: comp} if key else {}}


def new_cluster(sub: str, rg: str, name: str, body: dict[str, Any], cores: int) -> dict[str, Any]:
    """The stored document of a just-accepted cluster: the recorded PUT response body plus private fields."""
    props = body["properties"]
    kind = v.kind_of(props)
    version = v.version_of(props)
    region = catalog.region_key(body["location"])
    doc_props: dict[str, Any] = {
        "clusterVersion": version.build, "clusterHdpVersion": "", "osType": "Linux",
        "clusterDefinition": _definition(props, kind, version),
        "clusterId": uuid.uuid4().hex,
        "computeProfile": {"roles": [_role_body(r) for r in v.roles_of(props)]},
        "provisioningState": "InProgress", "clusterState": "Accepted", "createdDate": _created_date(),
        "quotaInfo": {"coresUsed": cores},
        "tier": props.get("tier") or "standard",
        "encryptionInTransitProperties": props.get("encryptionInTransitProperties")
        or {"isEncryptionInTransitEnabled": False},
    }
    if props.get("kafkaRestProperties") is not None:
        rest = props["kafkaRestProperties"]
        doc_props["kafkaRestProperties"] = {"clientGroupInfo": rest["clientGroupInfo"],
                                            "configurationOverride": rest.get("configurationOverride")}
    doc_props["storageProfile"] = {"storageaccounts": [_storage_body(a) for a in
                                                       props["storageProfile"]["storageaccounts"]]}
    doc_props["excludedServicesConfig"] = {"excludedServicesConfigId": "default", "excludedServicesList": ""}
    doc_props["computeIsolationProperties"] = props.get("computeIsolationProperties") or {
        "enableComputeIsolation": False, "hostSku": None}
    for echoed in ("minSupportedTlsVersion", "networkProperties", "diskEncryptionProperties",
                   "privateLinkConfigurations"):
        if props.get(echoed) is not None:
            doc_props[echoed] = props[echoed]
    doc: dict[str, Any] = {"id": cluster_resource_id(sub, rg, name), "name": name, "type": RESOURCE_TYPE,
                           "location": catalog.REGIONS[region], "etag": str(uuid.uuid4()),
                           "tags": body.get("tags")}
    for echoed in ("zones", "identity"):
        if body.get(echoed):
            doc[echoed] = body[echoed]
    doc["properties"] = doc_props
    gateway = props["clusterDefinition"]["configurations"]["gateway"]
    doc.update({"_region": region, "_fingerprint": fingerprint(body),
                "_gateway": {"restAuthCredential.isEnabled": "true",
                             "restAuthCredential.username": gateway["restAuthCredential.username"],
                             "restAuthCredential.password": gateway["restAuthCredential.password"]}})
    return doc


def fingerprint(body: dict[str, Any]) -> dict[str, Any]:
    """What makes a create request "the same cluster": a repeated PUT with the same fingerprint is idempotent."""
    props = v.obj(body.get("properties"))
    version = v.version_of(props)
    return {
        "location": catalog.region_key(str(body.get("location", ""))),
        "version": version.short if version else None,
        "kind": v.kind_of(props),
        # Lists, not tuples: the stored fingerprint comes back from JSON.
        "roles": sorted([str(r.get("name")), str(r.get("targetInstanceCount")),
                         str(v.obj(r.get("hardwareProfile")).get("vmSize", "")).lower()] for r in v.roles_of(props)),
        "storage": sorted(str(v.obj(a).get("name", "")).lower() for a in
                          v.arr(v.obj(props.get("storageProfile")).get("storageaccounts"))),
        "group": v.obj(v.obj(props.get("kafkaRestProperties")).get("clientGroupInfo")).get("groupId"),
    }


# -- create / delete operations ---------------------------------------------------------------------------------
def _private_addresses(state: EmulatorState, doc: dict[str, Any], body_props: dict[str, Any]) -> None:
    """A cluster with the outbound resource provider connection is reached on private addresses: its GET reports
    each connectivity endpoint's `privateIPAddress` (for the private DNS zone 'Restrict public connectivity in
    Azure HDInsight' describes). They are taken from the cluster subnet (after Azure's 4 reserved addresses)."""
    import ipaddress

    net = v.obj(body_props.get("networkProperties"))
    if str(net.get("resourceProviderConnection")).lower() != "outbound":
        return
    network = v._optional("network")
    subnets = v.subnets_of(body_props)
    found = network.find_subnet(state, subnets[0]) if network and subnets and hasattr(network, "find_subnet") \
        else None
    sp = v.obj((found or {}).get("properties"))
    prefix = sp.get("addressPrefix") or (v.arr(sp.get("addressPrefixes")) or [None])[0]
    try:
        hosts = ipaddress.ip_network(prefix).hosts() if prefix else None
    except ValueError:
        hosts = None
    if hosts is None:
        return
    for _ in range(3):  # .1-.3 are Azure's (gateway, DNS)
        next(hosts, None)
    doc["_privateIPs"] = [str(next(hosts, "")) for _ in range(3)]


def start_create(state: EmulatorState, doc: dict[str, Any], failure: v.Failure | None, sub: str, rg: str,
                 body_props: dict[str, Any] | None = None) -> None:
    _private_addresses(state, doc, body_props or {})
    total = float(state.timing.cluster_create_seconds)
    duration = total * (failure.at if failure else 1.0)
    op = core.start_operation(state, duration=duration, completion=CREATE, args={"id": core.key(doc["id"])},
                              error=failure.error() if failure else None)
    doc.update({"_createOp": op["id"], "_createStart": op["_start"], "_createSeconds": total})
    core.put_resource(state, KIND, doc, sub, rg)


@core.register_completion(CREATE)
def _finish_create(state: EmulatorState, op: dict[str, Any]) -> None:
    doc = state.store.get(KIND, op["_args"]["id"])
    if doc is None or doc.get("_createOp") != op["id"] or doc["properties"]["provisioningState"] != "InProgress":
        return  # deleted meanwhile (or its resource group was)
    props = doc["properties"]
    if op.get("_error"):
        props.update({"provisioningState": "Failed", "clusterState": "Error", "errors": [op["_error"]]})
    else:
        version = catalog.version_of(props["clusterVersion"])
        props.update({"provisioningState": "Succeeded", "clusterState": "Running",
                      "clusterHdpVersion": version.hdp if version else ""})
        props["computeProfile"]["roles"] = _service_roles(props)
    state.store.put(KIND, op["_args"]["id"], doc, scope=_scope_of(doc))


def _service_roles(props: dict[str, Any]) -> list[dict[str, Any]]:
    """Roles as the finished cluster reports them: the service adds zookeepers (and, with the REST proxy, the
    management nodes) and manages the management nodes' login."""
    roles = [r for r in props["computeProfile"]["roles"]]
    names = [r["name"] for r in roles]
    head = next(r for r in roles if r["name"] == "headnode")
    user = head["osProfile"]["linuxOperatingSystemProfile"]["username"]
    if "zookeepernode" not in names:
        roles.insert(names.index("workernode") + 1, _added_role(
            "zookeepernode", catalog.SERVICE_ZOOKEEPER["count"], catalog.SERVICE_ZOOKEEPER["size"], user, head))
    if props.get("kafkaRestProperties") and "kafkamanagementnode" not in names:
        roles.append(_added_role("kafkamanagementnode", 2, catalog.KAFKA_MANAGEMENT_DEFAULT_SIZE, user, head))
    for role in roles:
        if role["name"] == "kafkamanagementnode":
            role["osProfile"] = {"linuxOperatingSystemProfile": {"username": f"kmuser{secrets.token_hex(3)[:5]}"}}
    return roles


def _added_role(name: str, count: int, size: str, user: str, head: dict[str, Any]) -> dict[str, Any]:
    role = {"name": name, "targetInstanceCount": count, "hardwareProfile": {"vmSize": size},
            "osProfile": {"linuxOperatingSystemProfile": {"username": user}}}
    if head.get("virtualNetworkProfile"):
        role["virtualNetworkProfile"] = head["virtualNetworkProfile"]
    if "encryptDataDisks" in head:
        role["encryptDataDisks"] = False
    return role


def _scope_of(doc: dict[str, Any]) -> str:
    sub, rg = doc["id"].split("/")[2], doc["id"].split("/")[4]
    return core.scope_of_rg(sub, rg)


def start_delete(state: EmulatorState, doc: dict[str, Any]) -> str:
    """Mark the cluster Deleting and record the delete operation; a second DELETE joins the first."""
    if doc.get("_deleteOp"):
        return doc["_deleteOp"]
    op = core.start_operation(state, duration=float(state.timing.cluster_delete_seconds), completion=DELETE,
                              args={"id": core.key(doc["id"]), "clusterId": doc["properties"]["clusterId"]})
    doc["properties"].update({"provisioningState": "Deleting", "clusterState": "Deleting"})
    doc["properties"].pop("connectivityEndpoints", None)
    doc["_deleteOp"] = op["id"]
    state.store.put(KIND, core.key(doc["id"]), doc, scope=_scope_of(doc))
    return op["id"]


@core.register_completion(DELETE)
def _finish_delete(state: EmulatorState, op: dict[str, Any]) -> None:
    state.store.delete(KIND, op["_args"]["id"])
    kafka.purge_cluster(state, op["_args"]["clusterId"])  # the REST proxy's topics and records go with it


@resource_groups.on_group_deleted("hdinsight.clusters")
def _group_deleted(state: EmulatorState, sub: str, rg: str) -> None:
    """A resource group's deletion came due: its clusters' REST proxy data goes now (the cluster documents go
    with the group's other documents right after this)."""
    for cluster in clusters_in(state, sub, rg):
        kafka.purge_cluster(state, cluster["properties"]["clusterId"])


def operation_of(state: EmulatorState, op_id: str) -> dict[str, Any] | None:
    """An HDInsight operation (create or delete) by id, settled."""
    op = core.get_operation(state, op_id)
    return op if op is not None and str(op.get("_completion", "")).startswith("hdinsight.") else None


# -- rendering --------------------------------------------------------------------------------------------------
def walk_state(doc: dict[str, Any], now: float | None = None) -> str:
    """clusterState of a cluster still being created, from the elapsed fraction of its create time."""
    total = doc.get("_createSeconds") or 1.0
    fraction = ((now or time.time()) - doc.get("_createStart", 0.0)) / total
    return [name for name, start in WALK if fraction >= start][-1] if fraction >= 0 else WALK[0][0]


def endpoints(doc: dict[str, Any], host: str, port: int) -> list[dict[str, Any]]:
    name = doc["name"]
    found = [{"name": "SSH", "protocol": "TCP", "location": f"{name}-ssh.azurehdinsight.net", "port": 22},
             {"name": "HTTPS", "protocol": "TCP", "location": f"{name}.azurehdinsight.net", "port": 443}]
    if doc["properties"].get("kafkaRestProperties"):
        found.append({"name": "KafkaRestProxyPublicEndpoint", "protocol": "TCP",
                      "location": f"{host}:{port}/kafkarest/{name}", "port": port})
    private = doc.get("_privateIPs")
    if private:  # outbound resource provider connection: the endpoints' private addresses
        found[0]["privateIPAddress"] = private[1]
        found[1]["privateIPAddress"] = private[0]
        if len(found) > 2:
            found[2]["privateIPAddress"] = private[2]
    return found


def render(doc: dict[str, Any], host: str, port: int) -> dict[str, Any]:
    """The Cluster body for the wire. `host`/`port`: the emulator as the client reached it (see the docstring)."""
    out = copy.deepcopy(core.public(doc))
    props = out["properties"]
    if props["provisioningState"] == "InProgress":
        props["clusterState"] = walk_state(doc)
    if props["clusterState"] == "Running":
        # After quotaInfo, where the recorded final GET has them.
        ordered: dict[str, Any] = {}
        for k, val in props.items():
            ordered[k] = val
            if k == "quotaInfo":
                ordered["connectivityEndpoints"] = endpoints(doc, host, port)
        out["properties"] = ordered
    return out


def gateway_settings(doc: dict[str, Any]) -> dict[str, str]:
    return dict(doc["_gateway"])
