"""The template against what the SDK path really sends: run `provision up` against the emulator, capture every ARM
PUT body on the wire, and compare each with the matching template resource evaluated for the same deployment (new
network, and an existing subnet in another resource group). The output expression is evaluated on the cluster the
emulator returns and must give the endpoint `up` printed."""

from __future__ import annotations

import json
import os
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import urlsplit

import pytest
from click.testing import CliRunner

from provision import spec as specmod, template
from provision.cli import cli
from provision.context import Context
from tests.templates.arm_eval import Scope, bind_parameters, evaluate

TEMPLATE_ONLY = ("type", "apiVersion", "name", "dependsOn")


@pytest.fixture
def env(emulator, tmp_path, monkeypatch):
    values = {"PROVISION_CLOUD": "local", "PROVISION_EMULATOR_DIR": str(emulator.data_dir),
              "PROVISION_STATE_DIR": str(tmp_path / "state"), "PROVISION_POLLING_INTERVAL": "0.1",
              "PROVISION_NAME": "tpl-env"}
    for k in list(os.environ):
        if k.startswith("PROVISION_") and not k.startswith("PROVISION_EMULATOR_"):
            monkeypatch.delenv(k)
    for k, v in values.items():
        monkeypatch.setenv(k, v)
    monkeypatch.chdir(tmp_path)
    return values


@pytest.fixture
def puts(monkeypatch) -> dict[str, dict]:
    """ARM PUT bodies the SDK path sends, by resource path (azure-core's raw_request_hook on every ARM client)."""
    sent: dict[str, dict] = {}
    original = Context._arm_kwargs

    def record(request) -> None:
        http = request.http_request
        if http.method == "PUT" and http.body:
            sent[urlsplit(http.url).path.lower()] = json.loads(http.body)  # ARM paths are case-insensitive

    def hooked(self):
        return {**original(self), "raw_request_hook": record}

    monkeypatch.setattr(Context, "_arm_kwargs", hooked)
    return sent


@pytest.fixture
def clients(emulator, operator_credential, arm_kwargs):
    from azure.mgmt.hdinsight import HDInsightManagementClient
    from azure.mgmt.network import NetworkManagementClient
    from azure.mgmt.resource.resources import ResourceManagementClient
    from azure.mgmt.storage import StorageManagementClient

    sub = emulator.subscription_id
    return SimpleNamespace(
        resource=ResourceManagementClient(operator_credential, sub, **arm_kwargs),
        network=NetworkManagementClient(operator_credential, sub, **arm_kwargs),
        storage=StorageManagementClient(operator_credential, sub, **arm_kwargs),
        hdinsight=HDInsightManagementClient(operator_credential, sub, **arm_kwargs))


def up(*flags: str) -> dict:
    result = CliRunner().invoke(cli, ["up", "--output", "json", *flags], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)["outputs"]


def deployment_scope(s: specmod.Spec, tpl: dict, emulator, clients, outputs: dict, state_dir: str,
                     subnet_before: dict | None = None) -> Scope:
    """The template deployed into the same subscription and resource group, with the same secrets and group."""
    passwords = json.loads((Path(state_dir) / s.values["name"] / "passwords.json").read_text())
    v = s.values
    derived = {n: v[k] for n, k in (("clusterName", "cluster.name"), ("storageAccountName", "storage.account"))
               if s.sources[k] == "derived"}

    def list_keys(rid: str, api: str) -> dict:
        return clients.storage.storage_accounts.list_keys(v["resource_group"], v["storage.account"]).as_dict()

    def reference(rid: str, api: str) -> dict:
        if "/subnets/" in rid:
            return subnet_before
        cluster = clients.hdinsight.clusters.get(v["resource_group"], v["cluster.name"])
        return cluster.serialize(keep_readonly=True)["properties"]

    scope = Scope(parameters={}, subscription_id=emulator.subscription_id, resource_group=v["resource_group"],
                  list_keys=list_keys, reference=reference)
    supplied = {"kafkaRestGroupId": outputs["securityGroupId"], "gatewayPassword": passwords["gateway_password"],
                "sshPassword": passwords["ssh_password"], **derived}
    scope.parameters = bind_parameters(tpl["parameters"], supplied, scope)
    return scope


def body(resource: dict, scope: Scope) -> dict:
    return evaluate({k: val for k, val in resource.items() if k not in TEMPLATE_ONLY}, scope)


def by_type(tpl: dict) -> dict[str, dict]:
    return {r["type"]: r for r in tpl["resources"]}


def arm_path(scope: Scope, *parts: str, resource_group: str | None = None) -> str:
    rg = resource_group or scope.resource_group
    return (f"/subscriptions/{scope.subscription_id}/resourceGroups/{rg}/providers/" + "/".join(parts)).lower()


def vm_sizes_folded(cluster: dict) -> dict:
    folded = json.loads(json.dumps(cluster))
    for role in folded["properties"]["computeProfile"]["roles"]:
        role["hardwareProfile"]["vmSize"] = role["hardwareProfile"]["vmSize"].lower()
    return folded


def check_common(tpl: dict, scope: Scope, puts: dict, s: specmod.Spec, outputs: dict) -> None:
    v, r = s.values, by_type(tpl)
    nsg = body(r["Microsoft.Network/networkSecurityGroups"], scope)
    nsg_path = arm_path(scope, "Microsoft.Network/networkSecurityGroups", v["network.nsg_name"])
    # The SDK path creates a new NSG with its rules in one PUT, as the template has them inline.
    assert puts[nsg_path] == nsg

    account = arm_path(scope, "Microsoft.Storage/storageAccounts", v["storage.account"])
    assert puts[account] == body(r["Microsoft.Storage/storageAccounts"], scope)
    container = body(r["Microsoft.Storage/storageAccounts/blobServices/containers"], scope)
    assert puts[f"{account}/blobservices/default/containers/{v['storage.container']}".lower()] == container

    cluster = body(r["Microsoft.HDInsight/clusters"], scope)
    sent = puts[arm_path(scope, "Microsoft.HDInsight/clusters", v["cluster.name"])]
    # Sizes the spec leaves unset come from billingSpecs on the SDK path (the emulator, like Azure, answers in upper
    # case) and from the documented defaults in the template: equal as VM size names, which ignore case.
    assert vm_sizes_folded(sent) == vm_sizes_folded(cluster)

    assert evaluate(tpl["outputs"], scope)["kafkaRestEndpoint"]["value"] == outputs["endpoint"]


def test_new_network_template_sends_what_the_sdk_path_sends(env, emulator, clients, puts):
    flags = ["--network-client-cidrs", "203.0.113.0/24,198.51.100.0/25", "--cluster-management-vm-size",
             "Standard_D4_v2", "--tags", "team=data"]
    outputs = up(*flags)
    s = specmod.resolve(None, {"network_client_cidrs": flags[1], "cluster_management_vm_size": flags[3],
                               "tags": flags[5]})
    tpl, _ = template.export(s)
    scope = deployment_scope(s, tpl, emulator, clients, outputs, env["PROVISION_STATE_DIR"])
    check_common(tpl, scope, puts, s, outputs)
    vnet = body(by_type(tpl)["Microsoft.Network/virtualNetworks"], scope)
    assert puts[arm_path(scope, "Microsoft.Network/virtualNetworks", s.values["network.vnet_name"])] == vnet


def test_existing_subnet_template_sends_what_the_sdk_path_sends(env, emulator, clients, puts):
    from azure.mgmt.network.models import AddressSpace, Subnet, VirtualNetwork
    from azure.mgmt.resource.resources.models import ResourceGroup

    clients.resource.resource_groups.create_or_update("rg-net", ResourceGroup(location="eastus"))
    clients.network.virtual_networks.begin_create_or_update("rg-net", "vnet-shared", VirtualNetwork(
        location="eastus", address_space=AddressSpace(address_prefixes=["10.50.0.0/16"]),
        subnets=[Subnet(name="kafka", address_prefix="10.50.1.0/24")])).result()
    subnet = clients.network.subnets.get("rg-net", "vnet-shared", "kafka")
    before = subnet.as_dict()["properties"]  # what reference() reads when the template deploys
    puts.clear()

    outputs = up("--network-subnet-id", subnet.id)
    s = specmod.resolve(None, {"network_subnet_id": subnet.id})
    tpl, _ = template.export(s)
    scope = deployment_scope(s, tpl, emulator, clients, outputs, env["PROVISION_STATE_DIR"], before)
    check_common(tpl, scope, puts, s, outputs)

    nested = by_type(tpl)["Microsoft.Resources/deployments"]
    outer = {k: p["value"] for k, p in evaluate(nested["properties"]["parameters"], scope).items()}
    inner = nested["properties"]["template"]
    inner_scope = Scope(parameters=bind_parameters(inner["parameters"], outer, scope),
                        subscription_id=scope.subscription_id, resource_group=evaluate(nested["resourceGroup"], scope))
    (association,) = evaluate(inner["resources"], inner_scope)
    sent = puts[arm_path(scope, "Microsoft.Network/virtualNetworks/vnet-shared/subnets/kafka", resource_group="rg-net")]
    assert association["name"] == "vnet-shared/kafka"
    # reference() also returns read-only properties (provisioningState...), which ARM ignores in a PUT and the SDK
    # does not send: compare what the service acts on.
    writable = Subnet({"properties": association["properties"]}).as_dict(exclude_readonly=True)["properties"]
    assert sent["properties"] == writable
    assert writable["networkSecurityGroup"]["id"].lower() == arm_path(
        scope, "Microsoft.Network/networkSecurityGroups", s.values["network.nsg_name"])
