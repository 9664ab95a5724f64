"""`provision template export`: the template's cluster is the body the SDK path sends, for many specs; the committed
export is fresh; secrets never land in files; specs a template cannot express are refused. Offline (no emulator)."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from click.testing import CliRunner

from provision import clouds, spec as specmod, template
from provision.cli import cli
from provision.resources import hdinsight_kafka
from tests.templates.arm_eval import (
    FUNCTIONS, Scope, bind_parameters, evaluate, expressions, functions_in, parse,
)

ROOT = Path(__file__).resolve().parents[2]
SUB = "11111111-2222-3333-4444-555555555555"
GROUP_ID = "00000000-0000-0000-0000-0000000000aa"
STORAGE_KEY = "c3RvcmFnZS1rZXk="
PASSWORDS = {"gateway_password": "Gateway-Passw0rd!", "ssh_password": "Node-Passw0rd!x"}
REQUIRED = {"kafkaRestGroupId": GROUP_ID, "gatewayPassword": PASSWORDS["gateway_password"],
            "sshPassword": PASSWORDS["ssh_password"]}
TEMPLATE_ONLY = ("type", "apiVersion", "name", "dependsOn")
SHARED_SUBNET = (f"/subscriptions/{SUB}/resourceGroups/rg-net/providers/Microsoft.Network/virtualNetworks/"
                 f"vnet-shared/subnets/kafka")

# Environment specs (as flags) covering the supported HDInsight version (5.1; 4.0 and 5.0 are retired), new and
# existing networks, default and custom sizes,
# the management node, client CIDRs (none, one, two), tags, and derived vs explicit names (a derived container from an
# explicit, mixed-case cluster name).
SPECS = {
    "5.1-defaults": {},
    "5.1-sizes-management-one-cidr": {
        "cluster_version": "5.1", "cluster_kafka_version": "3.2", "cluster_head_vm_size": "Standard_D13_v2",
        "cluster_worker_vm_size": "Standard_D4_v2", "cluster_zookeeper_vm_size": "Standard_A2_v2",
        "cluster_management_vm_size": "Standard_D4_v2", "network_client_cidrs": "203.0.113.0/24"},
    "5.1-existing-subnet-other-rg": {
        "cluster_version": "5.1", "network_subnet_id": SHARED_SUBNET, "subscription": SUB, "cluster_worker_count": 5,
        "cluster_disks_per_worker": 4, "network_client_cidrs": "203.0.113.0/24,198.51.100.0/25",
        "tags": "team=data,cost-center=42"},
    "5.1-existing-subnet-same-rg-management": {
        "name": "kafka-prod", "location": "westeurope", "cluster_management_vm_size": "Standard_E8_v3",
        "cluster_worker_vm_size": "Standard_E8_v3", "storage_container": "data",
        "network_subnet_id": f"/subscriptions/{SUB}/resourceGroups/rg-kafka-prod/providers/Microsoft.Network/"
                             f"virtualNetworks/vnet-app/subnets/hdi"},
    "5.1-explicit-names": {
        "cluster_version": "5.1", "cluster_name": "My-Kafka-01", "storage_account": "stmykafka01",
        "group_name": "kafka-writers", "cluster_gateway_username": "gwadmin",
        "cluster_ssh_username": "nodeuser", "network_vnet_name": "vnet-x", "network_subnet_name": "snet",
        "network_address_space": "10.20.0.0/16", "network_subnet_prefix": "10.20.1.0/24", "network_nsg_name": "nsg-x",
        "resource_group": "rg-explicit"},
    "5.1-outbound-rest-proxy-settings": {
        "network_resource_provider_connection": "Outbound",
        "cluster_rest_proxy_config": "consumer.request.timeout.ms=30000"},
}


def resolve(flags: dict) -> specmod.Spec:
    return specmod.resolve(None, flags, env={})


def resource(tpl: dict, rtype: str) -> dict:
    (found,) = [r for r in tpl["resources"] if r["type"] == rtype]
    return found


def list_keys(s: specmod.Spec):
    def keys(rid: str, api: str) -> dict:
        assert rid.endswith(f"/providers/Microsoft.Storage/storageAccounts/{s.values['storage.account']}")
        assert api == template.API_STORAGE
        return {"keys": [{"keyName": "key1", "value": STORAGE_KEY}]}

    return keys


def scope_for(s: specmod.Spec, tpl: dict, supplied: dict) -> Scope:
    scope = Scope(parameters={}, subscription_id=SUB, resource_group=s.values["resource_group"],
                  storage_suffix=clouds.PUBLIC.blob_suffix, list_keys=list_keys(s))
    scope.parameters = bind_parameters(tpl["parameters"], supplied, scope)
    return scope


def derived_names(s: specmod.Spec) -> dict:
    """Names the spec derives from the subscription become uniqueString() defaults in the template; to compare
    with the SDK path, deploy with the spec's names (as a user of both paths would)."""
    keys = {"clusterName": "cluster.name", "storageAccountName": "storage.account"}
    return {name: s.values[key] for name, key in keys.items() if s.sources[key] == "derived"}


class SdkPathContext:
    """What `hdinsight_kafka.desired_body` needs from a Context, answering like Azure would, without a network."""

    def __init__(self, s: specmod.Spec):
        self.spec, self.cloud = s, clouds.PUBLIC
        # Context's per-run cache (storage key, billingSpecs). billingSpecs without Kafka defaults: default_sizes
        # falls back to the documented defaults, as the template does.
        self.results: dict = {"billingSpecs": {"vmSizeFilters": []}}
        keys = SimpleNamespace(as_dict=lambda: {"keys": [{"keyName": "key1", "value": STORAGE_KEY}]})
        self.storage = SimpleNamespace(storage_accounts=SimpleNamespace(list_keys=lambda rg, account: keys))

    async def arm_call(self, fn, *args, **kwargs):
        return fn(*args, **kwargs)

    def password(self, which: str) -> str:
        return PASSWORDS[which]


def sdk_path_body(s: specmod.Spec) -> dict:
    """The cluster body the SDK path builds (hdinsight_kafka.desired_body) for this spec in subscription SUB."""
    v = s.values
    if v["network.subnet_id"]:
        subnet_id = v["network.subnet_id"]
        vnet_id = subnet_id.rsplit("/subnets/", 1)[0]
    else:
        vnet_id = (f"/subscriptions/{SUB}/resourceGroups/{v['resource_group']}/providers/Microsoft.Network/"
                   f"virtualNetworks/{v['network.vnet_name']}")
        subnet_id = f"{vnet_id}/subnets/{v['network.subnet_name']}"
    network = {"vnet": {"id": vnet_id}, "subnet": {"id": subnet_id}}  # wire JSON, as the network resource reads it
    group = {"id": GROUP_ID, "displayName": v["group.name"]}
    return asyncio.run(hdinsight_kafka.desired_body(SdkPathContext(s), group, network))  # type: ignore[arg-type]


def wire(body: dict) -> dict:
    """The JSON the SDK puts on the wire for a cluster body."""
    from azure.mgmt.hdinsight.models import ClusterCreateParametersExtended

    return ClusterCreateParametersExtended.from_dict(body).serialize()


# -- one source of truth ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("supply", ["template defaults", "parameters file"])
@pytest.mark.parametrize("case", SPECS)
def test_template_cluster_equals_sdk_path_body(case, supply):
    s = resolve(SPECS[case])
    tpl, parameters = template.export(s)
    supplied = {name: p["value"] for name, p in parameters["parameters"].items()} if supply == "parameters file" \
        else {}
    supplied.update({**REQUIRED, **derived_names(s)})
    scope = scope_for(s, tpl, supplied)
    cluster = resource(tpl, "Microsoft.HDInsight/clusters")
    got = evaluate({k: v for k, v in cluster.items() if k not in TEMPLATE_ONLY}, scope)
    want = sdk_path_body(s)
    assert wire(got) == wire(want)
    assert got == want  # and nothing in the template that the SDK model would drop
    roles = {r["name"] for r in got["properties"]["computeProfile"]["roles"]}
    assert ("kafkamanagementnode" in roles) == bool(s.values["cluster.management_vm_size"])


def test_the_cluster_follows_cluster_body(monkeypatch):
    """Changing the Python object changes the template: the template is generated, not a copy."""
    original = hdinsight_kafka.cluster_body

    def changed(*args, **kwargs):
        body = original(*args, **kwargs)
        body["properties"]["minSupportedTlsVersion"] = "1.3"
        return body

    monkeypatch.setattr(hdinsight_kafka, "cluster_body", changed)
    tpl, _ = template.export(resolve({}))
    assert resource(tpl, "Microsoft.HDInsight/clusters")["properties"]["minSupportedTlsVersion"] == "1.3"


def test_a_spec_field_without_parameter_fails_the_export(monkeypatch):
    original = hdinsight_kafka.cluster_body

    def reads_more(values, **kwargs):
        values["cluster.something_new"]
        return original(values, **kwargs)

    monkeypatch.setattr(hdinsight_kafka, "cluster_body", reads_more)
    with pytest.raises(KeyError, match="cluster.something_new.*no template parameter"):
        template.export(resolve({}))


@pytest.mark.parametrize("case", SPECS)
def test_nsg_rules_are_desired_rules(case):
    from provision.resources import network

    s = resolve(SPECS[case])
    tpl, _ = template.export(s)
    scope = scope_for(s, tpl, {**REQUIRED, **derived_names(s)})
    rules = evaluate(resource(tpl, "Microsoft.Network/networkSecurityGroups")["properties"]["securityRules"], scope)
    want = network.desired_rules(SimpleNamespace(spec=s))  # type: ignore[arg-type]
    assert [r["name"] for r in rules] == [w.name for w in want]
    for rule, w in zip(rules, want):
        p = rule["properties"]
        sources = p.get("sourceAddressPrefixes") or [p["sourceAddressPrefix"]]
        ports = p.get("destinationPortRanges") or [p["destinationPortRange"]]
        assert (tuple(sources), tuple(ports), p["description"]) == (w.sources, w.ports, w.description)
        assert (p["access"], p["direction"], p["protocol"]) == ("Allow", "Inbound", "Tcp")
    assert [r["properties"]["priority"] for r in rules] == list(range(300, 300 + 10 * len(rules), 10))


# -- template structure -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("case", SPECS)
def test_only_expression_forms_the_evaluator_knows(case):
    tpl, parameters = template.export(resolve(SPECS[case]), key_vault_id=f"/subscriptions/{SUB}/resourceGroups/"
                                      f"rg/providers/Microsoft.KeyVault/vaults/kv")
    used = set().union(*(functions_in(parse(e)) for e in expressions(tpl)))
    assert used <= set(FUNCTIONS), f"teach tests/templates/arm_eval.py {sorted(used - set(FUNCTIONS))}"
    assert expressions(parameters) == []


@pytest.mark.parametrize("case", SPECS)
def test_depends_on(case):
    s = resolve(SPECS[case])
    tpl, _ = template.export(s)
    scope = scope_for(s, tpl, {**REQUIRED, **derived_names(s)})
    rg_id = f"/subscriptions/{SUB}/resourceGroups/{s.values['resource_group']}/providers"

    def rid(r: dict) -> str:
        if r["type"] == "Microsoft.Resources/deployments":
            return evaluate(r["name"], scope)  # lives in another resource group: depended on by name
        namespace, *types = r["type"].split("/")
        names = evaluate(r["name"], scope).split("/")
        return f"{rg_id}/{namespace}/" + "/".join(f"{t}/{n}" for t, n in zip(types, names))

    ids = {r["type"]: rid(r) for r in tpl["resources"]}
    deps = {r["type"]: set(evaluate(r.get("dependsOn", []), scope)) for r in tpl["resources"]}
    assert all(d in ids.values() for ds in deps.values() for d in ds)
    network = ("Microsoft.Resources/deployments" if s.values["network.subnet_id"]
               else "Microsoft.Network/virtualNetworks")
    assert deps["Microsoft.HDInsight/clusters"] == {
        ids["Microsoft.Storage/storageAccounts/blobServices/containers"],
        ids["Microsoft.Network/networkSecurityGroups"], ids[network]}
    assert deps[network] == {ids["Microsoft.Network/networkSecurityGroups"]}
    assert deps["Microsoft.Storage/storageAccounts/blobServices/containers"] == {
        ids["Microsoft.Storage/storageAccounts"]}
    assert set(ids) == {"Microsoft.Network/networkSecurityGroups", network, "Microsoft.Storage/storageAccounts",
                        "Microsoft.Storage/storageAccounts/blobServices/containers", "Microsoft.HDInsight/clusters"}


def test_existing_subnet_keeps_its_properties_and_gets_the_nsg():
    s = resolve(SPECS["5.1-existing-subnet-other-rg"])
    tpl, _ = template.export(s)
    before = {"addressPrefix": "10.1.2.0/24", "serviceEndpoints": [{"service": "Microsoft.Storage"}],
              "networkSecurityGroup": {"id": "/old/nsg"}}
    seen = []

    def reference(rid: str, api: str) -> dict:
        seen.append(rid)
        return before

    scope = scope_for(s, tpl, {**REQUIRED, **derived_names(s)})
    scope.reference = reference
    nested = resource(tpl, "Microsoft.Resources/deployments")
    assert evaluate(nested["resourceGroup"], scope) == "rg-net"
    outer = {k: v["value"] for k, v in evaluate(nested["properties"]["parameters"], scope).items()}
    inner = nested["properties"]["template"]
    inner_scope = Scope(parameters=bind_parameters(inner["parameters"], outer, scope), subscription_id=SUB,
                        resource_group="rg-net")
    (subnet,) = evaluate(inner["resources"], inner_scope)
    assert seen == [SHARED_SUBNET]
    assert subnet["name"] == "vnet-shared/kafka"
    nsg_id = f"/subscriptions/{SUB}/resourceGroups/rg-kafkarest/providers/Microsoft.Network/networkSecurityGroups/" \
             f"nsg-kafkarest"
    assert subnet["properties"] == {**before, "networkSecurityGroup": {"id": nsg_id}}


def test_output_is_the_rest_proxy_endpoint():
    s = resolve({})
    tpl, _ = template.export(s)
    name = s.values["cluster.name"]
    endpoints = [{"name": "SSH", "protocol": "TCP", "location": f"{name}-ssh.azurehdinsight.net", "port": 22},
                 {"name": "HTTPS", "protocol": "TCP", "location": f"{name}.azurehdinsight.net", "port": 443},
                 {"name": "KafkaRestProxyPublicEndpoint", "protocol": "TCP",
                  "location": f"{name}-kafkarest.azurehdinsight.net", "port": 443}]
    scope = scope_for(s, tpl, {**REQUIRED, **derived_names(s)})
    scope.reference = lambda rid, api: {"connectivityEndpoints": endpoints} if rid.endswith(f"/clusters/{name}") \
        else None
    out = evaluate(tpl["outputs"], scope)
    sdk = hdinsight_kafka.rest_proxy_endpoint({"properties": {"connectivityEndpoints": endpoints}})
    assert out["kafkaRestEndpoint"]["value"] == sdk == f"https://{name}-kafkarest.azurehdinsight.net"


def test_derived_global_names_are_unique_per_resource_group_and_valid():
    s = resolve({})
    tpl, _ = template.export(s)
    names = []
    for rg in ("rg-a", "rg-b"):
        scope = Scope(parameters={}, subscription_id=SUB, resource_group=rg)
        bound = bind_parameters(tpl["parameters"], REQUIRED, scope)
        assert re.fullmatch(r"kafkarest-[a-z0-9]{6}", bound["clusterName"])
        assert re.fullmatch(r"stkafkarest[a-z0-9]{13}", bound["storageAccountName"])
        assert bound["storageContainerName"] == bound["clusterName"].lower()
        names.append(bound["clusterName"])
    assert names[0] != names[1]


def test_schema_and_parameter_types():
    tpl, parameters = template.export(resolve(SPECS["5.1-sizes-management-one-cidr"]))
    assert tpl["$schema"] == "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#"
    assert parameters["$schema"].endswith("/2019-04-01/deploymentParameters.json#")
    p = tpl["parameters"]
    assert p["gatewayPassword"]["type"] == p["sshPassword"]["type"] == "securestring"
    assert "defaultValue" not in p["gatewayPassword"] and "defaultValue" not in p["sshPassword"]
    assert p["managementNodeVmSize"]["defaultValue"] == "Standard_D4_v2"
    assert p["clientCidrs"] == {**p["clientCidrs"], "type": "array", "defaultValue": ["203.0.113.0/24"]}
    assert p["kafkaRestGroupName"]["defaultValue"] == "kafkarest-clients" and "kafkaRestGroupId" in p
    defaults = resolve({})
    p = template.export(defaults)[0]["parameters"]
    assert "managementNodeVmSize" not in p and "clientCidrs" not in p
    assert (p["headNodeVmSize"]["defaultValue"], p["workerNodeVmSize"]["defaultValue"],
            p["zookeeperNodeVmSize"]["defaultValue"]) == ("Standard_E4_v3", "Standard_E4_v3", "Standard_A4_v2")


def test_export_is_deterministic_across_processes(clean_env):
    """The SDK models order their keys by set iteration, which changes with the hash seed: the export sorts them."""
    outputs = []
    for seed in ("1", "2"):
        env = {k: v for k, v in os.environ.items() if not k.startswith("PROVISION_")}
        subprocess.run([sys.executable, "-m", "provision", "template", "export", "--out", f"out{seed}",
                        "--network-subnet-id", SHARED_SUBNET, "--network-client-cidrs", "203.0.113.0/24"],
                       env={**env, "PYTHONHASHSEED": seed}, check=True, capture_output=True)
        outputs.append([(clean_env / f"out{seed}" / n).read_text()
                        for n in (template.TEMPLATE_FILE, template.PARAMETERS_FILE)])
    assert outputs[0] == outputs[1]


def test_committed_templates_are_a_fresh_export():
    tpl, parameters = template.export(resolve({}))
    for name, document in ((template.TEMPLATE_FILE, tpl), (template.PARAMETERS_FILE, parameters)):
        committed = (ROOT / "templates" / name).read_text()
        assert committed == template.render(document), (
            f"templates/{name} drifted from the code; regenerate it with `provision template export --out templates` "
            f"(no provision.toml, no PROVISION_* variables set)")


# -- the CLI: files, secrets, refusals ------------------------------------------------------------------------------
@pytest.fixture
def clean_env(tmp_path, monkeypatch):
    for k in list(os.environ):
        if k.startswith("PROVISION_"):
            monkeypatch.delenv(k)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run(*args: str):
    return CliRunner().invoke(cli, ["template", "export", *args], catch_exceptions=False)


def test_cli_writes_both_files_and_never_a_secret(clean_env, monkeypatch):
    for which, env_name in specmod.SECRET_ENV.items():
        monkeypatch.setenv(env_name, PASSWORDS[which])
    (clean_env / "provision.toml").write_text('[cluster]\nversion = "5.1"\nworker_count = 4\n')
    result = run("--out", "out", "--network-client-cidrs", "203.0.113.0/24", "--output", "json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["required"] == ["kafkaRestGroupId", "gatewayPassword", "sshPassword"]
    assert "--resource-group rg-kafkarest" in report["deploy"]
    files = {p.name: p.read_text() for p in (clean_env / "out").iterdir()}
    assert set(files) == {"azuredeploy.json", "azuredeploy.parameters.json"}
    for text in [*files.values(), result.output]:
        assert all(pw not in text for pw in PASSWORDS.values())
    params = json.loads(files["azuredeploy.parameters.json"])["parameters"]
    # what the spec sets (file, flag), and empty placeholders the template's minLength rejects
    assert params == {"clusterVersion": {"value": "5.1"}, "workerNodeCount": {"value": 4},
                      "clientCidrs": {"value": ["203.0.113.0/24"]}, "kafkaRestGroupId": {"value": ""},
                      "gatewayPassword": {"value": ""}, "sshPassword": {"value": ""}}
    tpl = json.loads(files["azuredeploy.json"])
    assert tpl["parameters"]["gatewayPassword"]["minLength"] == 10


def test_cli_key_vault_references(clean_env):
    vault = f"/subscriptions/{SUB}/resourceGroups/rg-sec/providers/Microsoft.KeyVault/vaults/kv-kafka"
    result = run("--out", ".", "--name", "kafka-dev", "--key-vault-id", vault)
    assert result.exit_code == 0, result.output
    params = json.loads((clean_env / "azuredeploy.parameters.json").read_text())["parameters"]
    assert params["gatewayPassword"] == {"reference": {"keyVault": {"id": vault},
                                                       "secretName": "kafka-dev-gateway-password"}}
    assert params["sshPassword"]["reference"]["secretName"] == "kafka-dev-ssh-password"
    assert "gatewayPassword" not in result.output.split("still needed")[-1].split("deploy with")[0]


@pytest.mark.parametrize("args,toml,field", [
    (["--network-nsg-id", f"/subscriptions/{SUB}/resourceGroups/rg-x/providers/Microsoft.Network/"
                          f"networkSecurityGroups/nsg-x"], None, "network.nsg_id"),
    (["--subscription", SUB, "--network-subnet-id", "/subscriptions/99999999-2222-3333-4444-555555555555/"
      "resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v/subnets/s"], None, "network.subnet_id"),
    ([], "[tags]\nowner = 7\n", "tags.owner"),
    (["--key-vault-id", "kv-kafka"], None, "--key-vault-id"),
    (["--cluster-version", "5.1", "--cluster-kafka-version", "2.4"], None, "cluster.kafka_version"),
])
def test_cli_refuses_what_a_template_cannot_express(clean_env, args, toml, field):
    if toml:
        (clean_env / "provision.toml").write_text(toml)
    result = run("--out", "out", *args)
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"Error: {field}:"), result.output
    assert not (clean_env / "out").exists()  # never a silently different (or partial) template
