"""The HDInsight Kafka cluster with the Kafka REST proxy (`kafkaRestProperties.clientGroupInfo`).

`cluster_body` is the single source of the cluster's ARM body: the SDK path sends it and the template export
(templates/) is generated from it.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from provision import armapi, secretstore
from provision.context import Context, operation_timeout
from provision.errors import DeploymentFailed, InvalidInput, ProvisionError
from provision.plan import KNOWN_AFTER_APPLY, Change
from provision.resources.base import EXTERNAL, OURS, Resource, arm_owned, conflict, props

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
    rest: dict[str, Any] = {"clientGroupInfo": {"groupName": group_name, "groupId": group_id}}
    if values.get("cluster.rest_proxy_config"):
        rest["configurationOverride"] = values["cluster.rest_proxy_config"]  # (a parameter in the template)
    body = {
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
            "kafkaRestProperties": rest,
            "computeProfile": {"roles": roles},
            "storageProfile": {"storageaccounts": [{
                "name": storage_host, "isDefault": True, "container": values["storage.container"],
                "key": storage_key,
            }]},
            "minSupportedTlsVersion": "1.2",
        },
    }
    network = network_properties(values)
    if network:  # sent only when asked for: the default body (and the template export) stays as it was
        body["properties"]["networkProperties"] = network
    return body


PRIVATE_LINK_DOC = 'Microsoft\'s "Enable Private Link on an HDInsight cluster"'


def private_link_problem(values: dict[str, Any], network: dict[str, Any] | None) -> str | None:
    """Private Link's documented prerequisites on the cluster subnet, read at plan time (before any write):
    privateLinkServiceNetworkPolicies disabled, and an outbound path of its own (a NAT gateway, or a route table
    sending traffic to a firewall), since the standard load balancers Private Link uses give no outbound NAT."""
    if values.get("network.private_link") != "Enabled":
        return None
    subnet = (network or {}).get("subnet")
    if subnet is None:
        return (f"Private Link: subnet {values.get('network.subnet_id')} was not found; name an existing subnet "
                f"prepared for Private Link ({PRIVATE_LINK_DOC})")
    sp = props(subnet)
    if str(sp.get("privateLinkServiceNetworkPolicies") or "Enabled").lower() != "disabled":
        return (f"Private Link needs privateLinkServiceNetworkPolicies disabled on the cluster subnet "
                f"{subnet.get('name')} ({PRIVATE_LINK_DOC}, step 2); run `az network vnet subnet update "
                f"--disable-private-link-service-network-policies true` on it, then plan again")
    if not sp.get("natGateway") and not sp.get("routeTable"):
        return (f"Private Link clusters use standard load balancers, which give no outbound NAT: subnet "
                f"{subnet.get('name')} needs a NAT gateway or a route table to a firewall ({PRIVATE_LINK_DOC}, "
                f"step 3); attach one, then plan again")
    return None


def network_properties(values: dict[str, Any]) -> dict[str, str]:
    """networkProperties as the spec asks: resourceProviderConnection and privateLink, only when not the default."""
    out = {}
    if values.get("network.resource_provider_connection", "Inbound") != "Inbound":
        out["resourceProviderConnection"] = values["network.resource_provider_connection"]
    if values.get("network.private_link", "Disabled") != "Disabled":
        out["resourceProviderConnection"] = values["network.resource_provider_connection"]
        out["privateLink"] = values["network.private_link"]
    return out


def _state(actual: dict[str, Any]) -> tuple[str, str]:
    p = props(actual)
    return str(p.get("provisioningState", "")), str(p.get("clusterState", ""))


def _errors(actual: dict[str, Any]) -> str:
    return "; ".join(f"{e.get('code')}: {e.get('message')}" for e in props(actual).get("errors") or [])


async def read_cluster(ctx: Any) -> dict[str, Any] | None:
    return await armapi.get(ctx, f"{armapi.rg_path(ctx)}/providers/Microsoft.HDInsight/clusters/"
                                 f"{ctx.spec.values['cluster.name']}", armapi.HDINSIGHT)


class HDInsightKafka(Resource):
    key = "cluster"
    kind = RESOURCE
    depends_on = ("group", "storage", "network")
    apply_imports = ("azure.mgmt.hdinsight", "azure.mgmt.hdinsight.models")
    read_after = ()  # reads on its own (a missing resource group reads as absent too)

    def label(self, ctx: Any) -> str:
        return ctx.spec.values["cluster.name"]

    async def read(self, ctx: Any, deps: dict[str, Any]) -> Any:
        if "resource_group" in deps and deps["resource_group"] is None:
            return None
        c = await read_cluster(ctx)
        if c is not None:
            owned = arm_owned(ctx, c.get("tags"))
            c["_ownership"] = OURS if owned else (EXTERNAL if ctx.adopt else "conflict")
        return c

    def diff(self, ctx: Any, actual: Any, deps: dict[str, Any]) -> list[Change]:
        v = ctx.spec.values
        name = v["cluster.name"]
        group_id = (deps.get("group") or {}).get("id")
        if actual is None:
            refused = private_link_problem(v, deps.get("network"))
            if refused:
                return [Change(RESOURCE, name, "failed", note=refused)]
            fields: dict[str, tuple[Any, Any]] = {
                "clusterVersion": (None, v["cluster.version"]), "kafka": (None, v["cluster.kafka_version"]),
                "workers": (None, v["cluster.worker_count"]),
                "clientGroupInfo.groupId": (None, group_id or KNOWN_AFTER_APPLY)}
            for k, want in network_properties(v).items():
                fields[f"networkProperties.{k}"] = (None, want)
            if v.get("cluster.rest_proxy_config"):
                fields["kafkaRestProperties.configurationOverride"] = (None, dict(v["cluster.rest_proxy_config"]))
            return [Change(RESOURCE, name, "create", fields)]
        if actual["_ownership"] == "conflict":
            return [conflict(RESOURCE, name, f"cluster {name} in resource group {v['resource_group']}",
                             rename="cluster.name")]
        provisioning, cluster_state = _state(actual)
        state = provisioning.lower()
        if state == "inprogress":
            return [Change(RESOURCE, name, "wait", actual=actual,
                           note=f"a deployment is in progress (clusterState {cluster_state}); re-attaching")]
        if state == "deleting":
            return [Change(RESOURCE, name, "wait", actual=actual,
                           note="the cluster is being deleted; `up` waits for the deletion to end, then creates it")]
        if state in ("failed", "canceled"):  # reported by plan/status; `up` stops on it (engine)
            return [Change(RESOURCE, name, "failed", actual=actual,
                           note=f"cluster {name} exists in state {provisioning} ({_errors(actual) or 'no details'}"
                                f"); run `provision down` (or delete the cluster) and `provision up` again")]
        p = props(actual)
        have_group = ((p.get("kafkaRestProperties") or {}).get("clientGroupInfo") or {}).get("groupId")
        drift: dict[str, tuple[Any, Any]] = {}
        if group_id and have_group and have_group.lower() != group_id.lower():
            drift["clientGroupInfo.groupId"] = (have_group, group_id)
        workers = next((r for r in (p.get("computeProfile") or {}).get("roles", []) if r.get("name") == "workernode"),
                       {})
        if workers and workers.get("targetInstanceCount") != v["cluster.worker_count"]:
            drift["workers"] = (workers.get("targetInstanceCount"), v["cluster.worker_count"])
        have_net = p.get("networkProperties") or {}
        for k, want in {"resourceProviderConnection": v.get("network.resource_provider_connection") or "Inbound",
                        "privateLink": v.get("network.private_link") or "Disabled"}.items():
            have = have_net.get(k) or {"resourceProviderConnection": "Inbound", "privateLink": "Disabled"}[k]
            if str(have).lower() != str(want).lower():
                drift[f"networkProperties.{k}"] = (have, want)
        have_rest = (p.get("kafkaRestProperties") or {}).get("configurationOverride") or {}
        if have_rest != (v.get("cluster.rest_proxy_config") or {}):
            drift["kafkaRestProperties.configurationOverride"] = (have_rest, v.get("cluster.rest_proxy_config") or {})
        if drift:
            # The REST proxy group cannot change after creation (no ARM update for it); resize is out of scope.
            return [Change(RESOURCE, name, "drift", drift, actual,
                           note="differs from the spec in fields that need the cluster to be recreated; left as is")]
        return [Change(RESOURCE, name, "noop", actual=actual,
                       note="" if actual["_ownership"] == OURS else "external: used as is")]

    async def preflight(self, ctx: Any, actual: Any) -> None:
        if actual is None:
            await preflight_readonly(ctx)

    async def apply(self, ctx: Any, changes: list[Change], actual: Any, deps: dict[str, Any]) -> Any:
        change = changes[0]
        if change.action == "failed":
            raise DeploymentFailed(change.note)
        if change.action == "wait" and _state(actual)[0].lower() == "deleting":
            await _wait_gone(ctx)
            change = Change(RESOURCE, change.name, "create")
        if change.action == "create":
            return await _create(ctx, deps["group"], deps.get("network"))
        if change.action == "wait" and ctx.options.get("wait", True):
            return await _follow(ctx)
        return actual

    async def delete(self, ctx: Any, actual: Any, deps: dict[str, Any]) -> list[Change]:
        if actual is None or actual["_ownership"] != OURS:
            return []
        name = self.label(ctx)
        ctx.event(RESOURCE, "deleting (this takes a while on Azure)")
        try:
            await ctx.lro(ctx.hdinsight.clusters.begin_delete, ctx.spec.values["resource_group"], name,
                          what=f"deleting cluster {name}")
        except Exception as e:  # noqa: BLE001 — HttpResponseError of a failed delete: one line
            if isinstance(e, ProvisionError):
                raise
            raise ProvisionError(f"deleting the cluster failed: {getattr(e, 'message', e)}") from e
        try:  # its generated passwords opened nothing else
            ctx.secret_file("passwords.json").unlink()
        except OSError:
            pass
        return [Change(RESOURCE, name, "delete")]


def _location_path(ctx: Context) -> str:
    return f"{armapi.subscription_path(ctx)}/providers/Microsoft.HDInsight/locations/{ctx.spec.values['location']}"


async def billing_specs(ctx: Context) -> dict[str, Any]:
    """The region's billingSpecs (wire JSON), read once per run: the preflight and the PUT body both need it."""
    if "billingSpecs" not in ctx.results:
        ctx.results["billingSpecs"] = await armapi.get(ctx, f"{_location_path(ctx)}/billingSpecs",
                                                       armapi.HDINSIGHT) or {}
    return ctx.results["billingSpecs"]


async def default_sizes(ctx: Context) -> dict[str, str]:
    """VM sizes from the spec, else the region's defaults from billingSpecs (what az CLI does)."""
    v = ctx.spec.values
    sizes = {"headnode": v["cluster.head_vm_size"], "workernode": v["cluster.worker_vm_size"],
             "zookeepernode": v["cluster.zookeeper_vm_size"]}
    if all(sizes.values()):
        return sizes
    for f in (await billing_specs(ctx)).get("vmSizeFilters") or []:
        if str(f.get("filterMode")).lower() != "default" or not f.get("vmSizes"):
            continue
        if f.get("clusterFlavors") and "kafka" not in [c.lower() for c in f["clusterFlavors"]]:
            continue
        for node_type in f.get("nodeTypes") or []:
            role = BILLING_NODE_TYPES.get(node_type)
            if role in sizes and not sizes[role]:
                sizes[role] = f["vmSizes"][0]
    return {k: s or FALLBACK_SIZES[k] for k, s in sizes.items()}


async def core_usage(ctx: Context) -> dict[str, Any] | None:
    """The region's HDInsight `cores` usage (currentValue, limit), or None when the service reports none."""
    usages = await armapi.get(ctx, f"{_location_path(ctx)}/usages", armapi.HDINSIGHT) or {}
    return next((u for u in usages.get("value") or []
                 if str((u.get("name") or {}).get("value") or "").lower() == "cores"), None)


def cores_needed(values: dict[str, Any], sizes: dict[str, str]) -> int:
    return (HEAD_COUNT * core_count(sizes["headnode"]) + ZOOKEEPER_COUNT * core_count(sizes["zookeepernode"])
            + values["cluster.worker_count"] * core_count(sizes["workernode"])
            + (MANAGEMENT_COUNT * core_count(values["cluster.management_vm_size"])
               if values["cluster.management_vm_size"] else 0))


async def desired_body(ctx: Context, group: dict[str, Any], network: dict[str, Any] | None) -> dict[str, Any]:
    from provision.resources import storage

    vnet_id = subnet_id = None
    if network and network.get("subnet") is not None:
        vnet_id, subnet_id = network["vnet"]["id"], network["subnet"]["id"]
    return cluster_body(
        ctx.spec.values, location=ctx.spec.values["location"], tags=ctx.spec.managed_tags, group_id=group["id"],
        group_name=group["displayName"], vnet_id=vnet_id, subnet_id=subnet_id,
        storage_host=storage.blob_host(ctx), storage_key=await storage.key(ctx),
        gateway_password=await secretstore.password(ctx, "gateway_password"),
        ssh_password=await secretstore.password(ctx, "ssh_password"),
        sizes=await default_sizes(ctx))


async def preflight_readonly(ctx: Context) -> None:
    """Before any write (from `plan`): the cluster name is available and the core quota has room. Plain JSON
    (armapi): importing the HDInsight SDK here would stall the way to the first write."""
    v = ctx.spec.values
    name, loc = v["cluster.name"], v["location"]
    avail, sizes, cores = await asyncio.gather(  # three independent reads, at once
        armapi.action(ctx, f"{_location_path(ctx)}/checkNameAvailability", armapi.HDINSIGHT,
                      {"name": name, "type": "clusters"}),
        default_sizes(ctx), core_usage(ctx))
    if not avail.get("nameAvailable") and await _twin(ctx) is None:
        raise InvalidInput(f"cluster.name: '{name}' is not available ({avail.get('message') or avail.get('reason')}"
                           f"); choose another name")
    need = cores_needed(v, sizes)
    if cores is not None and cores.get("limit") is not None and cores["currentValue"] + need > cores["limit"]:
        raise InvalidInput(f"cluster: needs {need} cores but only {cores['limit'] - cores['currentValue']} of the "
                           f"{cores['limit']}-core HDInsight quota in {loc} are free; request more quota or use "
                           f"smaller sizes / fewer workers")


async def validate_request(ctx: Context, body: dict[str, Any], *, fresh_group: bool = False) -> None:
    """validateCreateRequest needs the full body (group, storage key), so it runs just before the PUT. A group this
    run just created may not have replicated to HDInsight yet (ClientGroupValidationFailed): that alone is waited
    out, within the consistency bound."""
    from azure.mgmt.hdinsight.models import ClusterCreateRequestValidationParameters

    from provision.consistency import default_timeout

    v = ctx.spec.values
    params = ClusterCreateRequestValidationParameters.from_dict(
        {**body, "name": v["cluster.name"], "type": "Microsoft.HDInsight/clusters", "tenantId": ctx.tenant_id,
         "fetchAaddsResource": False})
    deadline = time.monotonic() + default_timeout()
    delay = 0.5
    while True:
        result = await ctx.arm_call(ctx.hdinsight.locations.validate_cluster_create_request, v["location"], params)
        problems = result.validation_errors or []
        lag = problems and all(e.code == "ClientGroupValidationFailed" for e in problems)
        if lag and fresh_group and time.monotonic() + delay < deadline:
            ctx.event(RESOURCE, "waiting for the new security group to reach HDInsight (Entra replication)")
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)
            continue
        if problems:
            raise ProvisionError("cluster: the service would refuse this cluster: " + "; ".join(
                f"{e.code}: {e.message}" for e in problems))
        return


CORES = {"standard_a2_v2": 2, "standard_a4_v2": 4, "standard_a8_v2": 8, "standard_d3_v2": 4, "standard_d4_v2": 8,
         "standard_d5_v2": 16, "standard_d12_v2": 4, "standard_d13_v2": 8, "standard_d14_v2": 16,
         "standard_e2_v3": 2, "standard_e4_v3": 4, "standard_e8_v3": 8, "standard_e16_v3": 16,
         "standard_e4s_v3": 4, "standard_e8s_v3": 8, "large": 4, "small": 1, "medium": 2, "extralarge": 8}


def core_count(size: str) -> int:
    return CORES.get(size.lower(), 4)


async def _create(ctx: Any, group: dict[str, Any], network: dict[str, Any] | None) -> dict[str, Any]:
    """validateCreateRequest, then the PUT (not polled by the SDK: _follow polls once, by GET). A 409 means a
    twin run's deployment got there first: re-attach to it."""
    from azure.core.exceptions import HttpResponseError
    from azure.mgmt.hdinsight.models import ClusterCreateParametersExtended

    v = ctx.spec.values
    rg, name = v["resource_group"], v["cluster.name"]
    body = await desired_body(ctx, group, network)
    try:
        await validate_request(ctx, body, fresh_group=group["id"] in ctx.created)
        await ctx.arm_call(ctx.hdinsight.clusters.begin_create, rg, name,
                           ClusterCreateParametersExtended.from_dict(body), polling=False)
    except (ProvisionError, HttpResponseError) as e:
        # A twin run of this environment (another machine) got there first: its deployment is ours to follow.
        taken = "ClusterNameUnavailable" in str(e) or getattr(e, "status_code", None) == 409
        if not taken or await _twin(ctx) is None:
            raise
    else:
        ctx.event(RESOURCE, f"deployment of {name} accepted")
    if not ctx.options.get("wait", True):
        return {**(await read_cluster(ctx) or {}), "_ownership": OURS}
    return await _follow(ctx)


async def _twin(ctx: Any) -> dict[str, Any] | None:
    """The cluster of this name, if this environment made it (a racing run's deployment), else None."""
    c = await read_cluster(ctx)
    if c is None or not arm_owned(ctx, c.get("tags")):
        return None
    ctx.event(RESOURCE, f"another run of this environment is deploying {c['name']}: following it")
    return c


async def _wait_gone(ctx: Any) -> None:
    name = ctx.spec.values["cluster.name"]
    ctx.event(RESOURCE, f"waiting for the deletion of {name} to end")
    deadline = time.monotonic() + operation_timeout()
    while await read_cluster(ctx) is not None:
        if time.monotonic() > deadline:
            raise ProvisionError(f"cluster {name} is still being deleted; run `provision up` again later")
        await asyncio.sleep(ctx.polling_interval)


async def _follow(ctx: Any) -> dict[str, Any]:
    """Report clusterState transitions until the deployment ends (bounded)."""
    started = time.monotonic()
    limit = operation_timeout()
    last = None
    name = ctx.spec.values["cluster.name"]
    while True:
        actual = await read_cluster(ctx)
        if actual is None:
            raise DeploymentFailed(f"cluster {name} disappeared during deployment")
        provisioning, cluster_state = _state(actual)
        if cluster_state != last:
            ctx.event(RESOURCE, f"clusterState {cluster_state} ({time.monotonic() - started:.0f}s)")
            last = cluster_state
        if provisioning.lower() != "inprogress":
            break
        if time.monotonic() - started > limit:
            raise ProvisionError(f"cluster {name}: deployment not finished after {limit:.0f}s (clusterState "
                                 f"{cluster_state}); it goes on in Azure — run `provision up` again to re-attach")
        await asyncio.sleep(ctx.polling_interval)
    if provisioning.lower() != "succeeded":
        raise DeploymentFailed(f"cluster deployment ended {provisioning}: {_errors(actual) or 'no details'}")
    return {**actual, "_ownership": OURS}


def rest_proxy_endpoint(actual: dict[str, Any]) -> str | None:
    for ep in props(actual).get("connectivityEndpoints") or []:
        if ep.get("name") == REST_PROXY_ENDPOINT:
            loc, port = ep.get("location", ""), ep.get("port")
            if port and port != 443 and ":" not in loc.split("/")[0]:
                loc = f"{loc}:{port}"
            return f"https://{loc}"
    return None


HDINSIGHT_KAFKA = HDInsightKafka()


def status_details(actual: dict[str, Any] | None) -> dict[str, Any]:
    """What `provision status` shows of a cluster beyond its state: the REST proxy's settings
    (kafkaRestProperties.configurationOverride) and the network properties."""
    p = props(actual)
    net = p.get("networkProperties") or {}
    return {"restProxyConfig": (p.get("kafkaRestProperties") or {}).get("configurationOverride") or {},
            "resourceProviderConnection": net.get("resourceProviderConnection") or "Inbound",
            "privateLink": net.get("privateLink") or "Disabled"}
