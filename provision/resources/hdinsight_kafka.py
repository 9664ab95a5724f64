"""The HDInsight Kafka cluster with the Kafka REST proxy (`kafkaRestProperties.clientGroupInfo`).

`cluster_body` is the single source of the cluster's ARM body: the SDK path sends it and the template export
(templates/) is generated from it.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from provision.context import Context
from provision.errors import DeploymentFailed, InvalidInput, ProvisionError
from provision.plan import KNOWN_AFTER_APPLY, Change

RESOURCE = "hdinsight kafka cluster"
REST_PROXY_ENDPOINT = "KafkaRestProxyPublicEndpoint"
# billingSpecs node types → our role names (the service's own defaults, read when the spec sets no size)
BILLING_NODE_TYPES = {"HeadNodeRole": "headnode", "WorkerNodeRole": "workernode",
                      "ZookeeperRole": "zookeepernode", "KafkaManagementNodeRole": "kafkamanagementnode"}
FALLBACK_SIZES = {"headnode": "Standard_E4_v3", "workernode": "Standard_E4_v3", "zookeepernode": "Standard_A4_v2"}
# Fixed node counts on HDInsight Kafka (Terraform's FixedTargetInstanceCount)
HEAD_COUNT, ZOOKEEPER_COUNT, MANAGEMENT_COUNT = 2, 3, 2


def cluster_body(values: dict[str, Any], *, location: str, tags: dict[str, str], group_id: str, group_name: str,
                 vnet_id: str | None, subnet_id: str | None, storage_host: str, storage_key: str,
                 gateway_password: str, ssh_password: str, sizes: dict[str, str]) -> dict[str, Any]:
    """The HDInsight PUT body (2021-06-01 wire form) for a Kafka cluster with the REST proxy."""
    ssh_user = values["cluster.ssh_username"]

    def role(name: str, count: int, size: str, **extra: Any) -> dict[str, Any]:
        r: dict[str, Any] = {
            "name": name, "targetInstanceCount": count, "hardwareProfile": {"vmSize": size},
            "osProfile": {"linuxOperatingSystemProfile": {"username": ssh_user, "password": ssh_password}},
        }
        if vnet_id and subnet_id:
            r["virtualNetworkProfile"] = {"id": vnet_id, "subnet": subnet_id}
        r.update(extra)
        return r

    roles = [
        role("headnode", HEAD_COUNT, sizes["headnode"]),
        role("workernode", values["cluster.worker_count"], sizes["workernode"],
             dataDisksGroups=[{"disksPerNode": values["cluster.disks_per_worker"]}]),
        role("zookeepernode", ZOOKEEPER_COUNT, sizes["zookeepernode"]),
    ]
    # The service manages the management node now; send it only when the spec asks for a size.
    if values["cluster.management_vm_size"]:
        roles.append(role("kafkamanagementnode", MANAGEMENT_COUNT, values["cluster.management_vm_size"]))
    return {
        "location": location,
        "tags": tags,
        "properties": {
            "clusterVersion": values["cluster.version"],
            "osType": "Linux",
            "tier": "Standard",
            "clusterDefinition": {
                "kind": "kafka",
                "componentVersion": {"kafka": values["cluster.kafka_version"]},
                "configurations": {"gateway": {
                    "restAuthCredential.isEnabled": True,
                    "restAuthCredential.username": values["cluster.gateway_username"],
                    "restAuthCredential.password": gateway_password,
                }},
            },
            "kafkaRestProperties": {"clientGroupInfo": {"groupName": group_name, "groupId": group_id}},
            "computeProfile": {"roles": roles},
            "storageProfile": {"storageaccounts": [{
                "name": storage_host, "isDefault": True, "container": values["storage.container"],
                "key": storage_key,
            }]},
            "minSupportedTlsVersion": "1.2",
        },
    }


async def read(ctx: Context) -> dict[str, Any] | None:
    from azure.core.exceptions import ResourceNotFoundError

    try:
        c = await ctx.arm_call(ctx.hdinsight.clusters.get, ctx.spec.values["resource_group"],
                               ctx.spec.values["cluster.name"])
    except ResourceNotFoundError:
        return None
    return c.as_dict(keep_readonly=True)


def _state(actual: dict[str, Any]) -> tuple[str, str]:
    props = actual.get("properties", {})
    return str(props.get("provisioning_state", "")), str(props.get("cluster_state", ""))


def diff(ctx: Context, actual: dict[str, Any] | None, group_id: str | None) -> Change:
    v = ctx.spec.values
    name = v["cluster.name"]
    if actual is None:
        return Change(RESOURCE, name, "create", {
            "clusterVersion": (None, v["cluster.version"]), "kafka": (None, v["cluster.kafka_version"]),
            "workers": (None, v["cluster.worker_count"]),
            "clientGroupInfo.groupId": (None, group_id or KNOWN_AFTER_APPLY)})
    props = actual.get("properties", {})
    provisioning, cluster_state = _state(actual)
    if provisioning.lower() == "inprogress":
        return Change(RESOURCE, name, "wait", actual=actual,
                      note=f"a deployment is in progress (clusterState {cluster_state}); re-attaching")
    if provisioning.lower() == "failed":  # reported by plan/status; `up` stops on it (engine)
        errors = "; ".join(f"{e.get('code')}: {e.get('message')}" for e in props.get("errors") or [])
        return Change(RESOURCE, name, "failed", actual=actual,
                      note=f"cluster {name} exists in state Failed ({errors or 'no details'}); run `provision "
                           f"down` (or delete the cluster) and `provision up` again")
    have_group = ((props.get("kafka_rest_properties") or {}).get("client_group_info") or {}).get("group_id")
    drift: dict[str, tuple[Any, Any]] = {}
    if group_id and have_group and have_group.lower() != group_id.lower():
        drift["clientGroupInfo.groupId"] = (have_group, group_id)
    workers = next((r for r in props.get("compute_profile", {}).get("roles", []) if r["name"] == "workernode"), {})
    if workers and workers.get("target_instance_count") != v["cluster.worker_count"]:
        drift["workers"] = (workers.get("target_instance_count"), v["cluster.worker_count"])
    if drift:
        # The REST proxy group cannot change after creation (no ARM update for it); resize is out of scope.
        return Change(RESOURCE, name, "drift", drift, actual,
                      note="differs from the spec in fields that need the cluster to be recreated; left as is")
    return Change(RESOURCE, name, "noop", actual=actual)


async def default_sizes(ctx: Context) -> dict[str, str]:
    """VM sizes from the spec, else the region's defaults from billingSpecs (what az CLI does)."""
    v = ctx.spec.values
    sizes = {"headnode": v["cluster.head_vm_size"], "workernode": v["cluster.worker_vm_size"],
             "zookeepernode": v["cluster.zookeeper_vm_size"]}
    if all(sizes.values()):
        return sizes
    specs = await ctx.arm_call(ctx.hdinsight.locations.list_billing_specs, v["location"])
    for f in specs.vm_size_filters or []:
        if str(getattr(f.filter_mode, "value", f.filter_mode)).lower() != "default" or not f.vm_sizes:
            continue
        if f.cluster_flavors and "kafka" not in [c.lower() for c in f.cluster_flavors]:
            continue
        for node_type in f.node_types or []:
            role = BILLING_NODE_TYPES.get(node_type)
            if role in sizes and not sizes[role]:
                sizes[role] = f.vm_sizes[0]
    return {k: s or FALLBACK_SIZES[k] for k, s in sizes.items()}


async def desired_body(ctx: Context, group: dict[str, Any], network: dict[str, Any] | None) -> dict[str, Any]:
    from provision.resources import storage

    vnet_id = subnet_id = None
    if network and network.get("subnet") is not None:
        vnet_id, subnet_id = network["vnet"].id, network["subnet"].id
    return cluster_body(
        ctx.spec.values, location=ctx.spec.values["location"], tags=ctx.spec.managed_tags, group_id=group["id"],
        group_name=group["displayName"], vnet_id=vnet_id, subnet_id=subnet_id,
        storage_host=storage.blob_host(ctx), storage_key=await storage.key(ctx),
        gateway_password=ctx.password("gateway_password"), ssh_password=ctx.password("ssh_password"),
        sizes=await default_sizes(ctx))


async def preflight_readonly(ctx: Context) -> None:
    """Before any write (from `plan`): the cluster name is available and the core quota has room."""
    from azure.mgmt.hdinsight.models import NameAvailabilityCheckRequestParameters

    v = ctx.spec.values
    name, loc = v["cluster.name"], v["location"]
    avail = await ctx.arm_call(ctx.hdinsight.locations.check_name_availability, loc,
                               NameAvailabilityCheckRequestParameters(name=name, type="clusters"))
    if not avail.name_available:
        raise InvalidInput(f"cluster.name: '{name}' is not available ({avail.message or avail.reason}); choose "
                           f"another name")
    sizes = await default_sizes(ctx)
    need = (HEAD_COUNT * core_count(sizes["headnode"]) + ZOOKEEPER_COUNT * core_count(sizes["zookeepernode"])
            + v["cluster.worker_count"] * core_count(sizes["workernode"])
            + (MANAGEMENT_COUNT * core_count(v["cluster.management_vm_size"]) if v["cluster.management_vm_size"]
               else 0))
    usages = await ctx.arm_call(ctx.hdinsight.locations.list_usages, loc)
    cores = next((u for u in usages.value or [] if (u.name and u.name.value or "").lower() == "cores"), None)
    if cores is not None and cores.limit is not None and cores.current_value + need > cores.limit:
        raise InvalidInput(f"cluster: needs {need} cores but only {cores.limit - cores.current_value} of the "
                           f"{cores.limit}-core HDInsight quota in {loc} are free; request more quota or use "
                           f"smaller sizes / fewer workers")


async def validate_request(ctx: Context, body: dict[str, Any]) -> None:
    """validateCreateRequest needs the full body (group, storage key), so it runs just before the PUT."""
    from azure.mgmt.hdinsight.models import ClusterCreateRequestValidationParameters

    v = ctx.spec.values
    params = ClusterCreateRequestValidationParameters.from_dict(
        {**body, "name": v["cluster.name"], "type": "Microsoft.HDInsight/clusters", "tenantId": ctx.tenant_id,
         "fetchAaddsResource": False})
    result = await ctx.arm_call(ctx.hdinsight.locations.validate_cluster_create_request, v["location"], params)
    errors = [f"{e.code}: {e.message}" for e in (result.validation_errors or [])]
    if errors:
        raise ProvisionError("cluster: the service would refuse this cluster: " + "; ".join(errors))


CORES = {"standard_a2_v2": 2, "standard_a4_v2": 4, "standard_a8_v2": 8, "standard_d3_v2": 4, "standard_d4_v2": 8,
         "standard_d5_v2": 16, "standard_d12_v2": 4, "standard_d13_v2": 8, "standard_d14_v2": 16,
         "standard_e2_v3": 2, "standard_e4_v3": 4, "standard_e8_v3": 8, "standard_e16_v3": 16,
         "standard_e4s_v3": 4, "standard_e8s_v3": 8, "large": 4, "small": 1, "medium": 2, "extralarge": 8}


def core_count(size: str) -> int:
    return CORES.get(size.lower(), 4)


async def apply(ctx: Context, change: Change, group: dict[str, Any], network: dict[str, Any] | None, *,
                wait: bool = True) -> dict[str, Any]:
    from azure.mgmt.hdinsight.models import ClusterCreateParametersExtended

    v = ctx.spec.values
    rg, name = v["resource_group"], v["cluster.name"]
    if change.action == "failed":
        raise DeploymentFailed(change.note)
    if change.action == "create":
        body = await desired_body(ctx, group, network)
        await validate_request(ctx, body)
        poller = await ctx.arm_call(ctx.hdinsight.clusters.begin_create, rg, name,
                                    ClusterCreateParametersExtended.from_dict(body))
        ctx.event(RESOURCE, f"deployment of {name} accepted")
        if not wait:
            return await read(ctx) or {}
        return await _follow(ctx, poller)
    if change.action == "wait":
        if not wait:
            return change.actual
        return await _follow(ctx, None)
    return change.actual


async def _follow(ctx: Context, poller: Any) -> dict[str, Any]:
    """Report clusterState transitions until the deployment ends (via the SDK poller, or by GET on re-attach)."""
    started = time.monotonic()
    last = None
    interval = ctx.polling_interval
    while True:
        actual = await read(ctx)
        if actual is None:
            raise DeploymentFailed(f"cluster {ctx.spec.values['cluster.name']} disappeared during deployment")
        provisioning, cluster_state = _state(actual)
        if cluster_state != last:
            ctx.event(RESOURCE, f"clusterState {cluster_state} ({time.monotonic() - started:.0f}s)")
            last = cluster_state
        if provisioning.lower() != "inprogress" and (poller is None or poller.done()):
            break
        await asyncio.sleep(interval)
    if poller is not None:
        try:
            await ctx.arm_call(poller.result)
        except Exception as e:  # HttpResponseError from a Failed operation
            raise DeploymentFailed(f"cluster deployment failed: {getattr(e, 'message', e)}") from e
    if provisioning.lower() != "succeeded":
        errors = "; ".join(f"{e.get('code')}: {e.get('message')}"
                           for e in actual.get("properties", {}).get("errors") or [])
        raise DeploymentFailed(f"cluster deployment ended {provisioning}: {errors or 'no details'}")
    return actual


def rest_proxy_endpoint(actual: dict[str, Any]) -> str | None:
    for ep in actual.get("properties", {}).get("connectivity_endpoints") or []:
        if ep.get("name") == REST_PROXY_ENDPOINT:
            loc, port = ep.get("location", ""), ep.get("port")
            if port and port != 443 and ":" not in loc.split("/")[0]:
                loc = f"{loc}:{port}"
            return f"https://{loc}"
    return None


async def delete(ctx: Context) -> None:
    poller = await ctx.arm_call(ctx.hdinsight.clusters.begin_delete, ctx.spec.values["resource_group"],
                                ctx.spec.values["cluster.name"])
    ctx.event(RESOURCE, "deleting (this takes a while on Azure)")
    try:
        await ctx.arm_call(poller.result)
    except Exception as e:
        raise ProvisionError(f"deleting the cluster failed: {getattr(e, 'message', e)}") from e
