"""ARM deployment templates generated from the objects the SDK path sends.

`export(spec)` turns an environment spec into an ARM deployment template (schema 2019-04-01) and its parameters file
for the ARM side of the REST-proxy Kafka setup: the NSG with the 443/9400 rules, the VNet/subnet association, the
storage account + container and the HDInsight Kafka cluster. Nothing here describes those resources a second time:

- the cluster is `hdinsight_kafka.cluster_body(...)`, called with ARM parameter expressions instead of values;
- the NSG rules come from `network.desired_rules(...)`, built into the same `SecurityRule` models `network.apply`
  sends; the VNet, storage account and container are the same SDK models `network.apply` / `storage.apply` build.

So a change to those Python objects changes the template, and tests/templates checks the two stay equal.

The template is cloud-agnostic (the blob host comes from `environment().suffixes.storage`). A spec the template cannot
express faithfully is refused with a SpecError naming the field, never turned into a different template. Secrets are
never written: passwords are `secureString` parameters, left empty in the parameters file (the template's
`minLength` rejects the empty placeholder before anything is deployed) or given as Key Vault references.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from provision.resources import hdinsight_kafka, network, storage
from provision.spec import KAFKA_VERSIONS, Spec, SpecError

SCHEMA = "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#"
PARAMETERS_SCHEMA = "https://schema.management.azure.com/schemas/2019-04-01/deploymentParameters.json#"
TEMPLATE_FILE, PARAMETERS_FILE = "azuredeploy.json", "azuredeploy.parameters.json"
# API versions in the template. The cluster body is the 2021-06-01 wire form (see cluster_body); the others are
# stable versions that accept every property the SDK path sends.
API_CLUSTER = "2021-06-01"
API_NETWORK = "2023-11-01"
API_STORAGE = "2023-05-01"
API_DEPLOYMENTS = "2022-09-01"
SUBNET_DEPLOYMENT = "provision-subnet-nsg"  # the nested deployment that associates an existing subnet
KEY_VAULT_ID = re.compile(r"/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.KeyVault/vaults/[^/]+",
                          re.I)


def ref(name: str) -> str:
    """A parameter's value, as a term inside an expression."""
    return f"parameters('{name}')"


def param(name: str) -> str:
    """A parameter's value, as a whole JSON string value."""
    return f"[{ref(name)}]"


@dataclass(frozen=True)
class Param:
    """One template parameter and the spec field it stands for."""

    name: str
    type: str
    description: str
    key: str | None = None  # the spec field; None: not part of the spec (group id, passwords)
    constraints: tuple[tuple[str, Any], ...] = ()


# -- what can be expressed ----------------------------------------------------------------------------------------
def check_expressible(spec: Spec) -> None:
    """Refuse what only the SDK path can do, naming the field, instead of exporting a different setup."""
    v = spec.values
    if v["network.nsg_id"]:
        raise SpecError("network.nsg_id", "an existing NSG cannot be expressed in a template (the SDK path reads it at "
                                          "run time to reuse equivalent rules and pick free priorities)",
                        "unset it for the template, which creates and owns its own NSG, or use `provision network "
                        "open`")
    subnet_id = v["network.subnet_id"]
    if subnet_id and v["subscription"] and subnet_id.split("/")[2].lower() != v["subscription"].lower():
        raise SpecError("network.subnet_id", f"is in subscription {subnet_id.split('/')[2]}, not in the deployment's "
                                             f"subscription {v['subscription']} (a cluster's VNet must be in its own "
                                             f"subscription)", "use a subnet of that subscription")


# -- parameters ---------------------------------------------------------------------------------------------------
def _parameters(spec: Spec) -> list[Param]:
    """The template's parameters for this spec: optional parts (existing network, client CIDRs, management node)
    only when the spec has them, as the SDK path sends those parts only then."""
    v = spec.values
    kafka_versions = sorted({k for ks in KAFKA_VERSIONS.values() for k in ks})
    ps = [
        Param("location", "string", "Azure region of every resource.", "location"),
        Param("tags", "object", "Tags on every resource (the spec's tags plus provision's own).", "tags"),
        Param("clusterName", "string", "HDInsight cluster name (globally unique).", "cluster.name",
              (("minLength", 3), ("maxLength", 59))),
        Param("clusterVersion", "string", "HDInsight version.", "cluster.version",
              (("allowedValues", list(KAFKA_VERSIONS)),)),
        Param("kafkaVersion", "string", "Kafka version (3.2 on 5.1).",
              "cluster.kafka_version", (("allowedValues", kafka_versions),)),
        Param("workerNodeCount", "int", "Kafka broker (worker node) count.", "cluster.worker_count"),
        Param("disksPerWorkerNode", "int", "Managed data disks per broker.", "cluster.disks_per_worker"),
        Param("headNodeVmSize", "string", "Head node VM size.", "cluster.head_vm_size"),
        Param("workerNodeVmSize", "string", "Worker node VM size.", "cluster.worker_vm_size"),
        Param("zookeeperNodeVmSize", "string", "ZooKeeper node VM size.", "cluster.zookeeper_vm_size"),
    ]
    if v["cluster.management_vm_size"]:
        ps.append(Param("managementNodeVmSize", "string", "Kafka management node VM size.",
                        "cluster.management_vm_size"))
    ps += [
        Param("gatewayUserName", "string", "Cluster login (gateway) user name.", "cluster.gateway_username"),
        Param("gatewayPassword", "securestring", "Cluster login (gateway) password: at least 10 characters with "
              "upper, lower, digit and a special character.", None, (("minLength", 10),)),
        Param("sshUserName", "string", "SSH user name on the nodes.", "cluster.ssh_username"),
        Param("sshPassword", "securestring", "SSH password on the nodes (same rules as the gateway password).",
              None, (("minLength", 10),)),
        Param("kafkaRestGroupId", "string", "Object id of the Entra security group whose members may call the REST "
              "proxy (`provision group create` prints it).", None, (("minLength", 36), ("maxLength", 36))),
        Param("kafkaRestGroupName", "string", "Display name of that security group.", "group.name"),
        Param("storageAccountName", "string", "Storage account for the cluster (globally unique).",
              "storage.account", (("minLength", 3), ("maxLength", 24))),
        Param("storageContainerName", "string", "Blob container of the cluster.", "storage.container"),
        Param("nsgName", "string", "Network security group created for the cluster subnet.", "network.nsg_name"),
    ]
    if v["network.resource_provider_connection"] != "Inbound":
        ps.append(Param("resourceProviderConnection", "string", "Outbound: the cluster connects out to the HDInsight "
                        "resource provider (networkProperties).", "network.resource_provider_connection",
                        (("allowedValues", ["Inbound", "Outbound"]),)))
    if v["network.private_link"] != "Disabled":
        ps.append(Param("privateLink", "string", "Private Link to the cluster (networkProperties; needs Outbound).",
                        "network.private_link", (("allowedValues", ["Disabled", "Enabled"]),)))
    if v["cluster.rest_proxy_config"]:
        ps.append(Param("kafkaRestConfigurationOverride", "object", "Kafka REST proxy settings "
                        "(kafkaRestProperties.configurationOverride).", "cluster.rest_proxy_config"))
    if v["network.client_cidrs"]:
        ps.append(Param("clientCidrs", "array", "Client networks allowed to reach 443 and 9400.",
                        "network.client_cidrs"))
    if v["network.subnet_id"]:
        ps += [Param("vnetResourceGroup", "string", "Resource group of the existing VNet.", "network.subnet_id"),
               Param("vnetName", "string", "Existing VNet of the cluster.", "network.subnet_id"),
               Param("subnetName", "string", "Existing subnet of the cluster.", "network.subnet_id")]
    else:
        ps += [Param("vnetName", "string", "VNet created for the cluster.", "network.vnet_name"),
               Param("vnetAddressPrefix", "string", "Address space of the VNet.", "network.address_space"),
               Param("subnetName", "string", "Subnet created for the cluster.", "network.subnet_name"),
               Param("subnetPrefix", "string", "Address prefix of the subnet.", "network.subnet_prefix")]
    return ps


SIZE_ROLES = {"cluster.head_vm_size": "headnode", "cluster.worker_vm_size": "workernode",
              "cluster.zookeeper_vm_size": "zookeepernode"}
SUBNET_ID_PARTS = {"vnetResourceGroup": 4, "vnetName": 8, "subnetName": 10}


def parameter_values(spec: Spec) -> dict[str, Any]:
    """The value of each spec-backed parameter that makes the template deploy what the SDK path deploys."""
    out: dict[str, Any] = {}
    for p in _parameters(spec):
        if p.key is None:
            continue
        value = spec.values[p.key]
        if p.key == "tags":
            value = spec.managed_tags  # what the SDK path puts on every resource
        elif p.key in SIZE_ROLES and not value:
            # The SDK path asks billingSpecs at run time; the export uses the service's documented defaults.
            value = hdinsight_kafka.FALLBACK_SIZES[SIZE_ROLES[p.key]]
        elif p.key == "network.subnet_id":  # the existing subnet's id, split into its resource group and names
            value = value.split("/")[SUBNET_ID_PARTS[p.name]]
        out[p.name] = value
    return out


def _default(spec: Spec, p: Param, value: Any) -> Any:
    """A literal default, except for names the spec derives from the subscription: those become expressions unique
    per resource group, so the export is deterministic and two deployers never collide on a global name."""
    if spec.sources.get(p.key) != "derived":
        return value
    env = spec.values["name"]
    unique = "uniqueString(resourceGroup().id)"
    if p.key == "cluster.name":
        return f"[concat('{env}-', take({unique}, 6))]"
    if p.key == "storage.account":
        return f"[take(concat('st{re.sub(r'[^a-z0-9]', '', env)}', {unique}), 24)]"
    if p.key == "storage.container":
        return f"[toLower({ref('clusterName')})]"
    return value


def _parameters_section(spec: Spec) -> dict[str, Any]:
    values = parameter_values(spec)
    section: dict[str, Any] = {}
    for p in _parameters(spec):
        d: dict[str, Any] = {"type": p.type}
        if p.name in values:
            d["defaultValue"] = _default(spec, p, values[p.name])
        d.update(p.constraints)
        d["metadata"] = {"description": p.description}
        section[p.name] = d
    return section


def parameters_file(spec: Spec, key_vault_id: str | None = None) -> dict[str, Any]:
    """What the spec sets (flag, env or file; defaults stay in the template), plus what the spec cannot hold: the
    group id as an empty placeholder, the passwords as Key Vault references or empty placeholders."""
    values = parameter_values(spec)
    out: dict[str, Any] = {}
    for p in _parameters(spec):
        if p.key is not None and spec.sources.get(p.key) in ("flag", "env", "file"):
            out[p.name] = {"value": values[p.name]}
    out["kafkaRestGroupId"] = {"value": ""}
    for name, secret in (("gatewayPassword", "gateway-password"), ("sshPassword", "ssh-password")):
        if key_vault_id:
            out[name] = {"reference": {"keyVault": {"id": key_vault_id},
                                       "secretName": f"{spec.values['name']}-{secret}"}}
        else:
            out[name] = {"value": ""}
    return {"$schema": PARAMETERS_SCHEMA, "contentVersion": "1.0.0.0", "parameters": out}


# -- resources ----------------------------------------------------------------------------------------------------
def _id(*args: str) -> str:
    """resourceId(...) of terms (a resource group term may come first, then the type, then the names)."""
    return f"resourceId({', '.join(args)})"


NSG_ID = _id("'Microsoft.Network/networkSecurityGroups'", ref("nsgName"))
VNET_ID = _id("'Microsoft.Network/virtualNetworks'", ref("vnetName"))
STORAGE_ID = _id("'Microsoft.Storage/storageAccounts'", ref("storageAccountName"))
CLUSTER_ID = _id("'Microsoft.HDInsight/clusters'", ref("clusterName"))
CONTAINER_ID = _id("'Microsoft.Storage/storageAccounts/blobServices/containers'", ref("storageAccountName"),
                   "'default'", ref("storageContainerName"))


def _subnet_ids(spec: Spec) -> tuple[str, str]:
    """(VNet id, subnet id) terms: in the deployment's resource group, or in the existing VNet's."""
    rg = (ref("vnetResourceGroup"),) if spec.values["network.subnet_id"] else ()
    return (_id(*rg, "'Microsoft.Network/virtualNetworks'", ref("vnetName")),
            _id(*rg, "'Microsoft.Network/virtualNetworks/subnets'", ref("vnetName"), ref("subnetName")))


def _wire(model: Any) -> dict[str, Any]:
    """An SDK model's JSON, as the SDK sends it, with keys sorted: the models' own order varies from run to run
    (it follows set iteration), and the committed export must not."""

    def ordered(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: ordered(value[k]) for k in sorted(value)}
        if isinstance(value, list):
            return [ordered(v) for v in value]
        return value

    return ordered(model.as_dict())


def _rules(spec: Spec) -> list[dict[str, Any]]:
    """The NSG rules from network.desired_rules, with the client CIDRs as the `clientCidrs` array parameter."""
    cidrs = param("clientCidrs")
    # desired_rules reads only ctx.spec.values; one placeholder element stands for the whole list.
    values = {**spec.values, "network.client_cidrs": [cidrs] if spec.values["network.client_cidrs"] else []}
    specs = network.desired_rules_for(values)
    # On a new NSG the SDK path takes the first free priorities in this order: the same ones.
    priorities = network.free_priorities([], len(specs))
    rules = []
    for rs, priority in zip(specs, priorities):
        rule = {"name": rs.name, **_wire(network.security_rule(rs, priority))}  # inline rules carry their name
        props = rule["properties"]
        if props.get("sourceAddressPrefix") == cidrs:  # the list parameter is an array: the plural field
            props["sourceAddressPrefixes"] = props.pop("sourceAddressPrefix")
        if cidrs in props.get("sourceAddressPrefixes", ()) and props["sourceAddressPrefixes"] != cidrs:
            raise RuntimeError(f"rule {rs.name} mixes client CIDRs with other sources; extend _rules for it")
        rules.append(rule)
    return rules


def _nsg(spec: Spec) -> dict[str, Any]:
    from azure.mgmt.network.models import NetworkSecurityGroup

    body = _wire(NetworkSecurityGroup(location=param("location"), tags=param("tags")))
    # Rules inline: the template owns this NSG, so a redeploy restores exactly these rules.
    body.setdefault("properties", {})["securityRules"] = _rules(spec)
    return {"type": "Microsoft.Network/networkSecurityGroups", "apiVersion": API_NETWORK, "name": param("nsgName"),
            **body}


def _vnet() -> dict[str, Any]:
    """The VNet `network.apply` creates when there is none: one subnet, associated with the NSG."""
    body = _wire(network.new_vnet({}, param("location"), param("tags"), f"[{NSG_ID}]",
                                  subnet_name=param("subnetName"), address_space=param("vnetAddressPrefix"),
                                  subnet_prefix=param("subnetPrefix")))
    return {"type": "Microsoft.Network/virtualNetworks", "apiVersion": API_NETWORK, "name": param("vnetName"),
            "dependsOn": [f"[{NSG_ID}]"], **body}


def _subnet_association(spec: Spec) -> dict[str, Any]:
    """An existing subnet gets the NSG as `network.apply` does it: read the subnet, set its NSG, write it back.

    In ARM that is a nested deployment (it may target the VNet's resource group): the outer scope reads the
    subnet with reference(), the inner template PUTs those properties merged with the association."""
    from azure.mgmt.network.models import NetworkSecurityGroup, Subnet

    association = _wire(Subnet(network_security_group=NetworkSecurityGroup(id=f"[{NSG_ID}]")))["properties"]
    _, subnet_id = _subnet_ids(spec)
    inner = {
        "$schema": SCHEMA, "contentVersion": "1.0.0.0",
        "parameters": {"vnetName": {"type": "string"}, "subnetName": {"type": "string"},
                       "subnetProperties": {"type": "object"}, "association": {"type": "object"}},
        "resources": [{
            "type": "Microsoft.Network/virtualNetworks/subnets", "apiVersion": API_NETWORK,
            "name": f"[concat({ref('vnetName')}, '/', {ref('subnetName')})]",
            "properties": "[union(parameters('subnetProperties'), parameters('association'))]",
        }],
    }
    return {
        "type": "Microsoft.Resources/deployments", "apiVersion": API_DEPLOYMENTS, "name": SUBNET_DEPLOYMENT,
        "resourceGroup": param("vnetResourceGroup"), "dependsOn": [f"[{NSG_ID}]"],
        "properties": {
            "mode": "Incremental", "expressionEvaluationOptions": {"scope": "inner"},
            "parameters": {
                "vnetName": {"value": param("vnetName")}, "subnetName": {"value": param("subnetName")},
                "subnetProperties": {"value": f"[reference({subnet_id}, '{API_NETWORK}')]"},
                "association": {"value": association},
            },
            "template": inner,
        },
    }


def _storage() -> list[dict[str, Any]]:
    """The account and container `storage.apply` creates (same models, same arguments)."""
    account = _wire(storage.account_parameters(param("location"), param("tags")))
    return [
        {"type": "Microsoft.Storage/storageAccounts", "apiVersion": API_STORAGE, "name": param("storageAccountName"),
         **account},
        {"type": "Microsoft.Storage/storageAccounts/blobServices/containers", "apiVersion": API_STORAGE,
         "name": f"[concat({ref('storageAccountName')}, '/default/', {ref('storageContainerName')})]",
         "dependsOn": [f"[{STORAGE_ID}]"], **_wire(storage.container_body())},
    ]


class _ClusterValues(dict):
    """The spec values cluster_body reads, as parameter expressions. A field without a parameter is an error here,
    at export, rather than a spec value frozen into the template."""

    def __missing__(self, key: str) -> Any:
        raise KeyError(f"cluster_body reads spec field {key!r}, which has no template parameter; add one in "
                       f"provision/template.py")


def _cluster(spec: Spec) -> dict[str, Any]:
    ps = {p.key: param(p.name) for p in _parameters(spec) if p.key and p.key.startswith(
        ("cluster.", "storage.", "network.resource_provider_connection", "network.private_link"))}
    values = _ClusterValues(ps)
    values.setdefault("cluster.management_vm_size", None)  # no parameter: the role is not sent
    vnet_id, subnet_id = _subnet_ids(spec)
    body = hdinsight_kafka.cluster_body(
        values, location=param("location"), tags=param("tags"), group_id=param("kafkaRestGroupId"),
        group_name=param("kafkaRestGroupName"), vnet_id=f"[{vnet_id}]", subnet_id=f"[{subnet_id}]",
        storage_host=f"[concat({ref('storageAccountName')}, '.blob.', environment().suffixes.storage)]",
        storage_key=f"[listKeys({STORAGE_ID}, '{API_STORAGE}').keys[0].value]",
        gateway_password=param("gatewayPassword"), ssh_password=param("sshPassword"),
        sizes={role: ps[key] for key, role in SIZE_ROLES.items()})
    # A nested deployment may live in another resource group: depend on it by name (unique in this template).
    network_dependency = SUBNET_DEPLOYMENT if spec.values["network.subnet_id"] else f"[{VNET_ID}]"
    # The NSG (with 443/9400) must exist before the cluster: HDInsight checks inbound reachability at create.
    return {"type": "Microsoft.HDInsight/clusters", "apiVersion": API_CLUSTER, "name": param("clusterName"),
            "dependsOn": [f"[{CONTAINER_ID}]", f"[{NSG_ID}]", network_dependency], **body}


def _outputs() -> dict[str, Any]:
    endpoints = f"reference({CLUSTER_ID}, '{API_CLUSTER}').connectivityEndpoints"
    rest = (f"first(filter({endpoints}, lambda('endpoint', equals(lambdaVariables('endpoint').name, "
            f"'{hdinsight_kafka.REST_PROXY_ENDPOINT}'))))")
    return {"kafkaRestEndpoint": {"type": "string", "value": f"[concat('https://', {rest}.location)]"},
            "clusterName": {"type": "string", "value": param("clusterName")}}


def build(spec: Spec) -> dict[str, Any]:
    """The deployment template for a spec (raises SpecError when the spec cannot be expressed as one)."""
    check_expressible(spec)
    network_resource = _subnet_association(spec) if spec.values["network.subnet_id"] else _vnet()
    return {
        "$schema": SCHEMA,
        "contentVersion": "1.0.0.0",
        "metadata": {"description": "HDInsight Kafka with the Kafka REST proxy: NSG (443, 9400), subnet, storage "
                                    "and cluster. Generated by `provision template export`; do not edit by hand."},
        "parameters": _parameters_section(spec),
        "resources": [_nsg(spec), network_resource, *_storage(), _cluster(spec)],
        "outputs": _outputs(),
    }


def check_key_vault_id(key_vault_id: str | None) -> None:
    if key_vault_id and not KEY_VAULT_ID.fullmatch(key_vault_id):
        raise SpecError("--key-vault-id", f"'{key_vault_id}' is not a Key Vault resource id",
                        "copy it from `az keyvault show --name <vault> --query id`")


def export(spec: Spec, key_vault_id: str | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """(template, parameters file) for a spec."""
    check_key_vault_id(key_vault_id)
    return build(spec), parameters_file(spec, key_vault_id)


def render(document: dict[str, Any]) -> str:
    """Stable text: the committed export is compared byte for byte with a fresh one."""
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def write(out_dir: str | Path, template: dict[str, Any], parameters: dict[str, Any]) -> tuple[Path, Path]:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = out / TEMPLATE_FILE, out / PARAMETERS_FILE
    for path, document in zip(paths, (template, parameters)):
        path.write_text(render(document))
    return paths
