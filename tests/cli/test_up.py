"""`provision up / plan / status / endpoint / down` through the real CLI against the emulator (real SDKs, TLS)."""

from __future__ import annotations

import json
import re
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from provision.cli import cli

WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


@pytest.fixture
def env(emulator, tmp_path, monkeypatch):
    """Point the CLI at the session emulator, with its own state dir and fast consistency retries."""
    values = {
        "PROVISION_CLOUD": "local",
        "PROVISION_EMULATOR_DIR": str(emulator.data_dir),
        "PROVISION_STATE_DIR": str(tmp_path / "state"),
        "PROVISION_POLLING_INTERVAL": "0.1",
        "PROVISION_NAME": "ci-env",
    }
    for k, v in values.items():
        monkeypatch.setenv(k, v)
    for k in list(os.environ):
        if k.startswith("PROVISION_") and k not in values and not k.startswith("PROVISION_EMULATOR_"):
            monkeypatch.delenv(k)
    monkeypatch.chdir(tmp_path)
    return values


def run(*args: str, ok: bool = True):
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    if ok:
        assert result.exit_code == 0, result.output
    return result


def plain(name: str) -> str:
    """A rule name without the environment key provision puts in rules it adds to someone else's NSG."""
    return re.sub(r"^provision-[0-9a-f]{8}-", "provision-", name)


def started(entry: dict) -> float:
    """When a request reached the emulator: its log stamps a request when it was answered."""
    return entry["time"] - entry["durationMs"] / 1000


def writes(admin, since: int) -> list[dict]:
    return [e for e in admin.requests(since) if e["write"] and e["family"] in ("graph", "arm")]


def test_up_from_nothing_then_converged(env, admin):
    plan = json.loads(run("plan", "--output", "json").stdout)
    assert plan["summary"]["create"] >= 9 and plan["summary"]["noop"] == 0

    out = json.loads(run("up", "--output", "json").stdout)
    o = out["outputs"]
    assert o["endpoint"].startswith("https://127.0.0.1:") and o["endpoint"].endswith("/kafkarest/" + o["clusterName"])
    assert o["clusterState"] == "Running"
    assert o["scope"] == "https://hib.azurehdinsight.net/.default"
    assert os.stat(o["clientSecretFile"]).st_mode & 0o777 == 0o600
    secret = json.loads(open(o["clientSecretFile"]).read())["clientSecret"]
    assert secret not in json.dumps(out)  # the secret is in its 0600 file, never on stdout

    seq = admin.last_seq()
    again = json.loads(run("up", "--output", "json").stdout)
    assert again["summary"]["create"] == again["summary"]["update"] == 0
    assert writes(admin, seq) == []  # a converged environment gets zero writes

    plan = json.loads(run("plan", "--output", "json").stdout)
    assert {c["action"] for c in plan["changes"]} == {"noop"}

    status = json.loads(run("status", "--output", "json").stdout)
    cluster = next(r for r in status["resources"] if r["resource"] == "hdinsight kafka cluster")
    assert cluster["state"] == "Succeeded / Running"


def test_network_made_in_one_run_is_not_read_again(env, admin):
    """NSG, VNet and subnet all made by this run: their operations' results are the state handed to the cluster,
    so after the NSG's PUT come only the VNet's PUT and the SDK pollers' own final GETs of the two (the NSG's runs
    alongside the VNet's PUT), no re-read of the three."""
    seq = admin.last_seq()
    out = json.loads(run("network", "open", "--output", "json").stdout)
    assert out["result"]["subnet"].endswith("/subnets/hdinsight") and out["result"]["nsg"]
    log = [e for e in admin.requests(seq) if "/Microsoft.Network/" in e["path"] and "/operations/" not in e["path"]]
    nsg_put = next(i for i, e in enumerate(log) if e["method"] == "PUT" and "/networkSecurityGroups/" in e["path"])
    after = [(e["method"], e["path"].rsplit("/providers/Microsoft.Network/", 1)[1]) for e in log[nsg_put + 1:]]
    assert sorted(after) == [("GET", "networkSecurityGroups/nsg-ci-env"), ("GET", "virtualNetworks/vnet-ci-env"),
                             ("PUT", "virtualNetworks/vnet-ci-env")]
    again = json.loads(run("network", "open", "--output", "json").stdout)
    assert {c["action"] for c in again["changes"]} <= {"noop"} and again["result"] == out["result"]


def test_up_goes_on_once_azure_reports_an_operation_succeeded(env, admin):
    """A subnet may reference an NSG, and a cluster may be placed in a subnet, once Azure reports their operations
    Succeeded; the SDK pollers' final reads of the NSG and the VNet go on meanwhile. With those reads slowed by
    1.5 s, the VNet's PUT and the cluster's validation are sent while they are still out. The storage account and
    container this run made are not read again (their operations' answers are the state)."""
    for name in ("networkSecurityGroups/nsg-ci-env", "virtualNetworks/vnet-ci-env"):
        admin.add_fault(action="latency", latency_ms=1500, methods=["GET"], path=f"/{name}$")
    seq = admin.last_seq()
    run("up", "--output", "json")
    log = sorted((e for e in admin.requests(seq) if e["family"] == "arm"), key=started)

    def first(method: str, path: str, after: float = 0.0) -> dict:
        return next(e for e in log if e["method"] == method and re.search(path, e["path"]) and started(e) > after)

    nsg_put = first("PUT", r"/networkSecurityGroups/nsg-ci-env$")
    nsg_read = first("GET", r"/networkSecurityGroups/nsg-ci-env$", started(nsg_put))  # the poller's final GET
    vnet_put = first("PUT", r"/virtualNetworks/vnet-ci-env$")
    vnet_read = first("GET", r"/virtualNetworks/vnet-ci-env$", started(vnet_put))
    validate = first("POST", r"/validateCreateRequest$")
    assert started(vnet_put) < nsg_read["time"], "the VNet's PUT waited for the NSG's final read"
    assert started(validate) < vnet_read["time"], "the cluster waited for the VNet's final read"
    account_put = first("PUT", r"/storageAccounts/[^/]+$")
    rereads = [e["path"] for e in log if e["method"] == "GET" and started(e) > started(account_put)
               and re.search(r"/storageAccounts/[^/]+(/blobServices/default/containers/[^/]+)?$", e["path"])]
    assert rereads == []


def test_endpoint_formats(env, admin):
    run("up", "--output", "json")
    text = run("endpoint").stdout
    assert "Kafka REST proxy endpoint: https://127.0.0.1" in text
    j = json.loads(run("endpoint", "--output", "json").stdout)
    assert j["endpoint"] and j["clientId"] and j["tenantId"]
    dotenv = dict(line.split("=", 1) for line in run("endpoint", "--format", "dotenv").stdout.splitlines())
    assert dotenv["KAFKAREST_ENDPOINT"] == j["endpoint"] and dotenv["AZURE_CLIENT_ID"] == j["clientId"]
    assert "AZURE_CLIENT_SECRET" not in dotenv and dotenv["AZURE_AUTHORITY_HOST"].startswith("https://127.0.0.1")
    gh = dict(line.split("=", 1) for line in run("endpoint", "--format", "github").stdout.splitlines())
    assert gh["endpoint"] == j["endpoint"] and gh["scope"] == "https://hib.azurehdinsight.net/.default"
    shown = dict(line.split("=", 1) for line in run("endpoint", "--format", "dotenv", "--show-secret").stdout.splitlines())
    assert len(shown["AZURE_CLIENT_SECRET"]) >= 16


def test_down_removes_what_it_created_and_keeps_user_rules(env, admin, operator_credential, arm_kwargs, emulator):
    from azure.mgmt.network import NetworkManagementClient
    from azure.mgmt.network.models import NetworkSecurityGroup, SecurityRule
    from azure.mgmt.resource.resources import ResourceManagementClient
    from azure.mgmt.resource.resources.models import ResourceGroup

    # A user-owned resource group and NSG with their own rule: provision must use them and leave the rule alone.
    rm = ResourceManagementClient(operator_credential, emulator.subscription_id, **arm_kwargs)
    net = NetworkManagementClient(operator_credential, emulator.subscription_id, **arm_kwargs)
    rm.resource_groups.create_or_update("rg-user", ResourceGroup(location="eastus"))
    net.network_security_groups.begin_create_or_update("rg-user", "nsg-user",
                                                       NetworkSecurityGroup(location="eastus")).result()
    net.security_rules.begin_create_or_update("rg-user", "nsg-user", "user-ssh", SecurityRule(
        protocol="Tcp", access="Allow", direction="Inbound", priority=300, source_address_prefix="10.0.0.0/8",
        source_port_range="*", destination_address_prefix="*", destination_port_range="22")).result()
    nsg_id = net.network_security_groups.get("rg-user", "nsg-user").id
    run("up", "--resource-group", "rg-user", "--network-nsg-id", nsg_id, "--output", "json")
    rules = {plain(r.name) for r in net.network_security_groups.get("rg-user", "nsg-user").security_rules}
    assert {"user-ssh", "provision-hdinsight-443", "provision-kafkarest-9400"} <= rules

    out = json.loads(run("down", "--yes", "--resource-group", "rg-user", "--network-nsg-id", nsg_id,
                         "--output", "json").stdout)
    deleted = {(d["resource"], d["name"]) for d in out["deleted"]}
    assert ("hdinsight kafka cluster", out["deleted"][0]["name"]) in deleted
    rules = {r.name for r in net.network_security_groups.get("rg-user", "nsg-user").security_rules}
    assert rules == {"user-ssh"}  # ours gone, the user's kept
    assert rm.resource_groups.check_existence("rg-user")  # not ours: kept
    plan = json.loads(run("plan", "--resource-group", "rg-user", "--network-nsg-id", nsg_id, "--output",
                          "json").stdout)
    created = {c["resource"] for c in plan["changes"] if c["action"] == "create"}
    assert {"app registration", "security group", "hdinsight kafka cluster"} <= created


def test_down_of_own_resource_group(env, admin):
    run("up", "--output", "json")
    run("down", "--yes")
    objs = admin.objects("arm:resourceGroup")
    assert all(o["name"] != "rg-ci-env" for o in objs)
    assert not [a for a in admin.objects("application") if a.get("uniqueName") == "ci-env-client"]


def test_down_needs_yes_without_a_terminal(env):
    r = run("down", ok=False)
    assert r.exit_code == 2 and "--yes" in r.output


@pytest.mark.parametrize("args,field", [
    (["--cluster-name", "bad_name!"], "cluster.name"),
    (["--storage-account", "UPPER"], "storage.account"),
    (["--group-mail-nickname", "a b"], "group.mail_nickname"),
    (["--network-client-cidrs", "10.0.0.0/33"], "network.client_cidrs"),
    (["--cluster-version", "5.1", "--cluster-kafka-version", "2.4"], "cluster.kafka_version"),
    (["--cluster-version", "5.0"], "cluster.version"),
])
def test_bad_input_exit_2_before_any_write(env, admin, args, field):
    seq = admin.last_seq()
    r = run("up", *args, ok=False)
    assert r.exit_code == 2
    lines = [line for line in r.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"Error: {field}:")
    assert [e for e in admin.requests(seq) if e["family"] != "admin"] == []  # not even a read


def test_weak_gateway_password_refused_before_writes(env, admin, monkeypatch):
    monkeypatch.setenv("PROVISION_GATEWAY_PASSWORD", "weak")
    seq = admin.last_seq()
    r = run("up", ok=False)
    assert r.exit_code == 2 and "gateway_password" in r.output
    assert writes(admin, seq) == []


def test_converges_through_replication_lag_and_throttling(env, admin, monkeypatch):
    monkeypatch.setenv("PROVISION_CONSISTENCY_TIMEOUT", "30")
    admin.set_replication_lag(1.5)
    admin.add_fault(action="status", status=429, retry_after=1, path=r"/v1\.0/groups/.*/members/\$ref", count=1)
    admin.add_fault(action="status", status=429, retry_after=1, path=r"/networkSecurityGroups/", methods=["PUT"],
                    count=1)
    out = json.loads(run("up", "--output", "json").stdout)
    assert out["outputs"]["clusterState"] == "Running"
    log = admin.requests(0)
    assert any(e["status"] == 429 for e in log)
    assert any(e["status"] == 404 or e["status"] == 400 for e in log if e["family"] == "graph")


def test_killed_run_reattaches(env, admin):
    """`up --no-wait` stands in for a run killed after the PUT: the next `up` re-attaches instead of a new PUT."""
    admin.configure(cluster_create_seconds=4)
    run("up", "--no-wait", "--output", "json")
    seq = admin.last_seq()
    out = json.loads(run("up", "--output", "json").stdout)
    cluster = next(c for c in out["changes"] if c["resource"] == "hdinsight kafka cluster")
    assert cluster["action"] == "wait"
    assert out["outputs"]["clusterState"] == "Running"
    puts = [e for e in admin.requests(seq) if e["method"] == "PUT" and "/clusters/" in e["path"]]
    assert puts == []


@pytest.mark.long
def test_killed_process_mid_deployment_reattaches(env, admin):
    admin.configure(cluster_create_seconds=6)
    proc = subprocess.Popen([sys.executable, "-m", "provision", "up", "--output", "json"], env=dict(os.environ),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    import time

    deadline = time.time() + 60
    while time.time() < deadline:
        if any(e["method"] == "PUT" and "/clusters/" in e["path"] for e in admin.requests(0)):
            break
        time.sleep(0.2)
    proc.kill()
    proc.wait()
    out = json.loads(run("up", "--output", "json").stdout)
    assert out["outputs"]["clusterState"] == "Running"
    puts = [e for e in admin.requests(0) if e["method"] == "PUT" and "/clusters/" in e["path"]]
    assert len(puts) == 1


def test_help_imports_no_azure_sdk():
    code = ("import sys; from provision.cli import cli\n"
            "try:\n    cli(['up', '--help'])\nexcept SystemExit: pass\n"
            "bad = [m for m in sys.modules if m.startswith(('azure', 'msgraph', 'kiota'))]\n"
            "assert not bad, bad")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_verbose_logs_requests_without_secrets(env, emulator, capfd):
    run("up", "--output", "json")
    secret = json.loads((Path(env["PROVISION_STATE_DIR"]) / "ci-env" / "client-secret.json").read_text())[
        "clientSecret"]
    result = run("status", "-v")
    logs = capfd.readouterr().err + result.stderr
    assert "Request URL:" in logs and "/v1.0/" in logs  # ARM/identity via azure-core, Graph via httpx
    assert emulator.client_secret not in logs and secret not in logs
    assert "Bearer ey" not in logs and "client_secret=" not in logs


def test_network_open_reuses_equivalent_user_rules(env, operator_credential, arm_kwargs, emulator):
    from azure.mgmt.network import NetworkManagementClient
    from azure.mgmt.network.models import NetworkSecurityGroup, SecurityRule
    from azure.mgmt.resource.resources import ResourceManagementClient
    from azure.mgmt.resource.resources.models import ResourceGroup

    rm = ResourceManagementClient(operator_credential, emulator.subscription_id, **arm_kwargs)
    net = NetworkManagementClient(operator_credential, emulator.subscription_id, **arm_kwargs)
    rm.resource_groups.create_or_update("rg-net", ResourceGroup(location="eastus"))
    net.network_security_groups.begin_create_or_update("rg-net", "nsg-net", NetworkSecurityGroup(
        location="eastus")).result()
    # The user already allows 443 from the HDInsight tag (any protocol) at our first priority.
    net.security_rules.begin_create_or_update("rg-net", "nsg-net", "allow-hdi", SecurityRule(
        protocol="*", access="Allow", direction="Inbound", priority=300, source_address_prefix="HDInsight",
        source_port_range="*", destination_address_prefix="*", destination_port_range="443")).result()
    nsg_id = net.network_security_groups.get("rg-net", "nsg-net").id
    out = json.loads(run("network", "open", "--resource-group", "rg-net", "--network-nsg-id", nsg_id,
                         "--network-client-cidrs", "203.0.113.0/24", "--output", "json").stdout)
    rules = {plain(r.name): r for r in net.network_security_groups.get("rg-net", "nsg-net").security_rules}
    assert "provision-hdinsight-443" not in rules  # reused the user's equivalent rule
    assert rules["allow-hdi"].priority == 300 and rules["allow-hdi"].protocol == "*"  # untouched
    assert rules["provision-kafkarest-9400"].priority != 300
    assert sorted(rules["provision-clients-443-9400"].destination_port_ranges) == ["443", "9400"]
    assert out["result"]["subnet"].endswith("/subnets/hdinsight")
    again = json.loads(run("network", "open", "--resource-group", "rg-net", "--network-nsg-id", nsg_id,
                           "--network-client-cidrs", "203.0.113.0/24", "--output", "json").stdout)
    assert all(c["action"] == "noop" for c in again["changes"])


def test_up_with_smoke(env):
    out = json.loads(run("up", "--smoke", "--output", "json").stdout)
    assert out["smoke"]["ok"] is True
    assert [s["status"] for s in out["smoke"]["steps"]][:5] == ["PASS"] * 5
    client_env = Path(env["PROVISION_STATE_DIR"]) / "ci-env" / "client.env"
    assert os.stat(client_env).st_mode & 0o777 == 0o600


def test_up_smoke_waits_for_membership_to_reach_the_proxy(env, admin):
    # membership takes longer to reach the REST proxy than the cluster takes to deploy: smoke must not race it
    admin.configure(membership_propagation_seconds=4, cluster_create_seconds=0.5)
    out = json.loads(run("up", "--smoke", "--output", "json").stdout)
    assert out["smoke"]["ok"] is True


def _user_nsg(operator_credential, arm_kwargs, emulator, rg: str, *rules):
    from azure.mgmt.network import NetworkManagementClient
    from azure.mgmt.network.models import NetworkSecurityGroup
    from azure.mgmt.resource.resources import ResourceManagementClient
    from azure.mgmt.resource.resources.models import ResourceGroup

    ResourceManagementClient(operator_credential, emulator.subscription_id, **arm_kwargs).resource_groups \
        .create_or_update(rg, ResourceGroup(location="eastus"))
    net = NetworkManagementClient(operator_credential, emulator.subscription_id, **arm_kwargs)
    net.network_security_groups.begin_create_or_update(rg, "nsg-user", NetworkSecurityGroup(
        location="eastus", tags={"owner": "me"})).result()
    for name, rule in rules:
        net.security_rules.begin_create_or_update(rg, "nsg-user", name, rule).result()
    return net, net.network_security_groups.get(rg, "nsg-user").id


def test_user_nsg_in_another_group_is_never_replaced(env, operator_credential, arm_kwargs, emulator):
    from azure.mgmt.network.models import SecurityRule

    ssh = SecurityRule(protocol="Tcp", access="Allow", direction="Inbound", priority=300, source_port_range="*",
                       source_address_prefix="10.0.0.0/8", destination_address_prefix="*",
                       destination_port_range="22")
    net, nsg_id = _user_nsg(operator_credential, arm_kwargs, emulator, "rg-shared-net", ("user-ssh", ssh))
    # the environment's own resource group does not exist yet: the NSG named by id must still be read, not created
    run("up", "--network-nsg-id", nsg_id, "--output", "json")
    nsg = net.network_security_groups.get("rg-shared-net", "nsg-user")
    assert {plain(r.name) for r in nsg.security_rules} >= {"user-ssh", "provision-hdinsight-443"}
    assert nsg.tags == {"owner": "me"}  # a user's NSG keeps its tags
    out = json.loads(run("down", "--yes", "--network-nsg-id", nsg_id, "--output", "json").stdout)
    assert ("resource group", "rg-ci-env") in {(d["resource"], d["name"]) for d in out["deleted"]}
    assert {r.name for r in net.network_security_groups.get("rg-shared-net", "nsg-user").security_rules} == {
        "user-ssh"}  # our rules removed from the user's NSG even though our own group went too


def test_client_cidr_changes_update_and_remove_our_rule(env, admin, operator_credential, arm_kwargs, emulator):
    from azure.mgmt.network import NetworkManagementClient

    run("up", "--network-client-cidrs", "203.0.113.0/24", "--output", "json")
    net = NetworkManagementClient(operator_credential, emulator.subscription_id, **arm_kwargs)
    rule = net.security_rules.get("rg-ci-env", "nsg-ci-env", "provision-clients-443-9400")
    assert rule.source_address_prefix == "203.0.113.0/24"
    plan = json.loads(run("plan", "--network-client-cidrs", "203.0.113.0/24,198.51.100.0/24", "--output",
                          "json").stdout)
    change = next(c for c in plan["changes"] if c["name"] == "provision-clients-443-9400")
    assert change["action"] == "update"
    run("up", "--network-client-cidrs", "203.0.113.0/24,198.51.100.0/24", "--output", "json")
    rule = net.security_rules.get("rg-ci-env", "nsg-ci-env", "provision-clients-443-9400")
    assert sorted(rule.source_address_prefixes) == ["198.51.100.0/24", "203.0.113.0/24"]
    out = json.loads(run("up", "--output", "json").stdout)  # no client CIDRs any more
    assert any(c["name"] == "provision-clients-443-9400" and c["action"] == "delete" for c in out["changes"])
    names = {r.name for r in net.network_security_groups.get("rg-ci-env", "nsg-ci-env").security_rules}
    assert "provision-clients-443-9400" not in names and "provision-hdinsight-443" in names


def test_down_in_a_users_resource_group_deletes_only_tagged_resources(env, admin, operator_credential, arm_kwargs,
                                                                       emulator):
    from azure.mgmt.resource.resources import ResourceManagementClient
    from azure.mgmt.resource.resources.models import ResourceGroup

    rm = ResourceManagementClient(operator_credential, emulator.subscription_id, **arm_kwargs)
    rm.resource_groups.create_or_update("rg-mine", ResourceGroup(location="eastus"))
    run("up", "--resource-group", "rg-mine", "--output", "json")
    deleted = {d["resource"] for d in json.loads(run("down", "--yes", "--resource-group", "rg-mine", "--output",
                                                     "json").stdout)["deleted"]}
    assert {"network security group", "storage account", "hdinsight kafka cluster"} <= deleted
    assert rm.resource_groups.check_existence("rg-mine")
    left = [r.name for r in rm.resources.list_by_resource_group("rg-mine")]
    assert left == []


def test_quota_and_taken_name_stop_before_any_write(env, admin):
    admin.configure(core_quota=8)
    seq = admin.last_seq()
    r = run("up", ok=False)
    assert r.exit_code == 2 and "quota" in r.output
    assert writes(admin, seq) == []


def test_blocked_port_9400_is_refused_before_the_cluster_put(env, admin, operator_credential, arm_kwargs,
                                                             emulator):
    from azure.mgmt.network.models import SecurityRule

    deny = SecurityRule(protocol="*", access="Deny", direction="Inbound", priority=200, source_port_range="*",
                        source_address_prefix="*", destination_address_prefix="*", destination_port_range="9400")
    _, nsg_id = _user_nsg(operator_credential, arm_kwargs, emulator, "rg-deny", ("deny-9400", deny))
    r = run("up", "--network-nsg-id", nsg_id, ok=False)
    assert r.exit_code == 1 and "9400" in r.output  # validateCreateRequest, before the PUT
    assert not [e for e in admin.requests(0) if e["method"] == "PUT" and "/clusters/" in e["path"]]


def test_failed_cluster_is_reported_not_crashed(env, admin, operator_credential, arm_kwargs, emulator):
    """A cluster whose deployment failed (here: made outside provision with a group that does not exist)."""
    import uuid

    from azure.mgmt.hdinsight import HDInsightManagementClient
    from azure.mgmt.hdinsight.models import ClusterCreateParametersExtended
    from azure.mgmt.storage import StorageManagementClient

    from provision import spec as specmod
    from provision.resources import hdinsight_kafka

    run("storage", "ensure")
    run("network", "open")
    values = specmod.resolve(None).values
    st = StorageManagementClient(operator_credential, emulator.subscription_id, **arm_kwargs)
    key = st.storage_accounts.list_keys(values["resource_group"], values["storage.account"]).as_dict()["keys"][0]
    body = hdinsight_kafka.cluster_body(  # as a deployment of this environment's would be tagged
        values, location="eastus", tags={"managed-by": "provision", "provision-environment": values["name"]},
        group_id=str(uuid.uuid4()), group_name="ghost", vnet_id=None,
        subnet_id=None, storage_host=f"{values['storage.account']}.blob.core.windows.net",
        storage_key=key["value"], gateway_password="Gw-Passw0rd!x", ssh_password="Ssh-Passw0rd!y",
        sizes=dict(hdinsight_kafka.FALLBACK_SIZES))
    hdi = HDInsightManagementClient(operator_credential, emulator.subscription_id, **arm_kwargs)
    with pytest.raises(Exception):
        hdi.clusters.begin_create(values["resource_group"], values["cluster.name"],
                                  ClusterCreateParametersExtended.from_dict(body)).result()
    status = json.loads(run("status", "--output", "json").stdout)
    assert next(x for x in status["resources"] if x["resource"] == "hdinsight kafka cluster")["state"].startswith(
        "Failed")
    r = run("plan", ok=False)
    assert r.exit_code == 1 and "state Failed" in r.output
    r = run("up", ok=False)
    assert r.exit_code == 1 and "state Failed" in r.output


def test_bad_numeric_env_is_one_line(env, monkeypatch):
    monkeypatch.setenv("PROVISION_POLLING_INTERVAL", "soon")
    r = run("status", ok=False)
    assert r.exit_code == 2 and "PROVISION_POLLING_INTERVAL" in r.output and "Traceback" not in r.output


def test_rule_priority_taken_meanwhile_is_retried(env, admin):
    """Another writer takes the priority we picked (SecurityRuleConflict): provision re-reads and takes the next."""
    admin.add_fault(action="status", status=400, code="SecurityRuleConflict",
                    message="Security rule someone-else conflicts with rule provision-hdinsight-443. Rules cannot "
                            "have the same Priority and Direction. To learn more, see aka.ms/nsgrules.",
                    path=r"/securityRules/provision-hdinsight-443$", methods=["PUT"], count=1)
    out = json.loads(run("network", "open", "--output", "json").stdout)
    assert "provision-hdinsight-443" in out["result"]["rules"]


def test_a_final_read_that_fails_after_dependants_went_on_fails_the_run(env, admin):
    """The cluster may start once the VNet's operation succeeded, but the network step is not done until the
    poller's final read of the VNet is: when that read fails, the run fails and says so (and the next run
    converges)."""
    admin.add_fault(action="status", status=400, code="InvalidRequestFormat", methods=["GET"],
                    path=r"/virtualNetworks/vnet-ci-env$", skip=1)  # the plan's read goes through
    result = run("up", ok=False)
    assert result.exit_code == 1, result.output
    assert "InvalidRequestFormat" in result.output and "Traceback" not in result.output
    admin.clear_faults()
    again = json.loads(run("up", "--output", "json").stdout)
    assert again["outputs"]["clusterState"] == "Running"


def test_preflight_checks_run_alongside_the_other_reads(env, admin):
    """A kind's read-only checks (the cluster name's availability, the core quota) start as soon as that kind's
    own read is done, not after the slowest read of the plan: with Graph's reads slowed by 1 s, the cluster's
    checkNameAvailability is sent while they are still out."""
    admin.add_fault(action="latency", latency_ms=1000, methods=["GET"], path=r"^/v1\.0/(applications|groups)")
    seq = admin.last_seq()
    run("plan", "--output", "json")
    log = admin.requests(seq)
    check = next(e for e in log if e["method"] == "POST" and e["path"].endswith(
        "/Microsoft.HDInsight/locations/eastus/checkNameAvailability"))
    graph_reads = [e for e in log if e["family"] == "graph" and e["method"] == "GET"]
    assert graph_reads and started(check) < max(e["time"] for e in graph_reads) - 0.5
