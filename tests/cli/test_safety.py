"""Safety on a shared tenant (issue 10), through the real CLI against the emulator: environment identity,
conflicts instead of silent adoption, --adopt and by-id objects left as they were, network rules that take
effect, credentials nobody loses, runs at once, and the emulator left as found after every `down`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import requests

from tests.cli.test_up import _user_nsg, env, plain, run, writes  # noqa: F401 — fixtures and helpers shared with test_up

# The emulator's records of finished long-running operations, and Entra's recycle bin, are history, not objects.
BOOKKEEPING = {"arm:operation"}


def snapshot(admin) -> dict[str, list[str]]:
    """Every object the emulator holds (Entra and ARM, every kind), as comparable JSON with its full content."""
    kinds = [k for k in admin._call("GET", "/objects")["counts"] if k not in BOOKKEEPING and "deleted" not in k.lower()]
    return {kind: sorted(json.dumps(_content(o), sort_keys=True, default=str) for o in admin.objects(kind))
            for kind in kinds}


def _content(o):
    """An object without what changes on every write by design (etag) and the emulator's private fields."""
    if isinstance(o, dict):
        return {k: _content(v) for k, v in o.items() if k != "etag" and not k.startswith("_")}
    if isinstance(o, list):
        return [_content(v) for v in o]
    return o


def clusters(admin) -> list[dict]:
    return admin.objects("arm:hdinsight:cluster")


def graph(emulator, method: str, path: str, **kw) -> requests.Response:
    from azure.identity import ClientSecretCredential

    cred = ClientSecretCredential(emulator.tenant_id, emulator.client_id, emulator.client_secret,
                                  authority=emulator.authority, disable_instance_discovery=True,
                                  connection_verify=str(emulator.ca_cert))
    tok = cred.get_token("https://graph.microsoft.com/.default").token
    return requests.request(method, f"{emulator.graph_url}{path}", verify=str(emulator.ca_cert),
                            headers={"Authorization": f"Bearer {tok}", **kw.pop("headers", {})}, **kw)


def token(env_values: dict, app_id: str, secret: str) -> str:
    from azure.identity import ClientSecretCredential

    from provision.emulator import launcher

    info = launcher.status(env_values["PROVISION_EMULATOR_DIR"])
    cred = ClientSecretCredential(info.tenant_id, app_id, secret, authority=info.authority,
                                  disable_instance_discovery=True, connection_verify=str(info.ca_cert))
    return cred.get_token("https://hib.azurehdinsight.net/.default").token


def held_secret(state: Path, env_dir: str = "ci-env") -> dict:
    return json.loads((state / env_dir / "client-secret.json").read_text())


def j(*args: str) -> dict:
    return json.loads(run(*args, "--output", "json").stdout)


def test_two_environments_with_one_name_in_two_resource_groups(env, admin, emulator):
    start = snapshot(admin)
    a = j("up", "--resource-group", "rg-team-a")["outputs"]
    b = j("up", "--resource-group", "rg-team-b")["outputs"]
    assert a["environmentKey"] != b["environmentKey"]
    for k in ("clientId", "securityGroupId", "clusterName", "endpoint"):
        assert a[k] != b[k], k  # never the same object
    apps = [x for x in admin.objects("application") if x["displayName"] == "ci-env-client"]
    assert len(apps) == 2 and len({x["uniqueName"] for x in apps}) == 2

    state = Path(env["PROVISION_STATE_DIR"])
    secret_a = held_secret(state, "ci-env@rg-team-a")
    out = j("down", "--yes", "--resource-group", "rg-team-b")
    assert {d["resource"] for d in out["deleted"]} >= {"app registration", "security group", "hdinsight kafka cluster"}
    # Team A is untouched: its plan is all noop, its secret still gets a token, its membership is there.
    plan = j("plan", "--resource-group", "rg-team-a")
    assert {c["action"] for c in plan["changes"]} == {"noop"}
    assert token(env, secret_a["appId"], secret_a["clientSecret"])
    status = j("status", "--resource-group", "rg-team-a")
    assert all(r["state"] in ("ok", "Succeeded / Running") for r in status["resources"])
    run("down", "--yes", "--resource-group", "rg-team-a")
    assert snapshot(admin) == start


def test_existing_group_is_a_conflict_then_adopted_and_left_as_it_was(env, admin, emulator):
    start = snapshot(admin)
    r = graph(emulator, "POST", "/groups", json={"displayName": "ci-env-clients", "mailEnabled": False,
                                                  "mailNickname": "theirs", "securityEnabled": True,
                                                  "description": "owned by the data team"})
    assert r.status_code == 201
    theirs = r.json()
    with_group = snapshot(admin)
    seq = admin.last_seq()
    plan = json.loads(run("plan", "--output", "json", ok=False).stdout)
    conflict = next(c for c in plan["changes"] if c["resource"] == "security group")
    assert conflict["action"] == "conflict" and theirs["id"] in conflict["note"]
    failed = run("up", ok=False)
    assert failed.exit_code == 1 and "--adopt" in failed.output and "group.id" in failed.output
    assert writes(admin, seq) == []  # refused before any write

    out = j("up", "--adopt")
    assert out["outputs"]["securityGroupId"] == theirs["id"]
    group = next(g for g in admin.objects("group") if g["id"] == theirs["id"])
    assert group["description"] == "owned by the data team" and group["displayName"] == "ci-env-clients"
    assert j("plan", "--adopt")["summary"]["create"] == 0

    # down from a fresh machine (empty state dir): the group is kept exactly as it was before adoption
    os.environ["PROVISION_STATE_DIR"] = str(Path(env["PROVISION_STATE_DIR"]).parent / "fresh")
    deleted = j("down", "--yes", "--adopt")["deleted"]
    assert "security group" not in {d["resource"] for d in deleted}
    assert snapshot(admin) == with_group
    graph(emulator, "DELETE", f"/groups/{theirs['id']}")
    assert {k: v for k, v in snapshot(admin).items() if k != "group"} == {
        k: v for k, v in start.items() if k != "group"}


def test_group_named_by_id_gets_only_our_member(env, admin, emulator):
    theirs = graph(emulator, "POST", "/groups", json={"displayName": "kafka-readers", "mailEnabled": False,
                                                       "mailNickname": "readers", "securityEnabled": True}).json()
    before = next(g for g in admin.objects("group") if g["id"] == theirs["id"])
    out = j("up", "--group-id", theirs["id"])
    assert out["outputs"]["securityGroupId"] == theirs["id"]
    j("down", "--yes", "--group-id", theirs["id"])
    after = next(g for g in admin.objects("group") if g["id"] == theirs["id"])
    assert after == before  # same name, description, members (ours removed with our app)


def test_existing_app_and_nsg_with_default_names_are_conflicts(env, admin, emulator, operator_credential,
                                                               arm_kwargs):
    from azure.mgmt.network import NetworkManagementClient
    from azure.mgmt.network.models import NetworkSecurityGroup
    from azure.mgmt.resource.resources import ResourceManagementClient
    from azure.mgmt.resource.resources.models import ResourceGroup

    app = graph(emulator, "POST", "/applications", json={"displayName": "ci-env-client"}).json()
    rm = ResourceManagementClient(operator_credential, emulator.subscription_id, **arm_kwargs)
    rm.resource_groups.create_or_update("rg-ci-env", ResourceGroup(location="eastus", tags={
        "managed-by": "provision", "provision-environment": "ci-env"}))
    net = NetworkManagementClient(operator_credential, emulator.subscription_id, **arm_kwargs)
    net.network_security_groups.begin_create_or_update("rg-ci-env", "nsg-ci-env", NetworkSecurityGroup(
        location="eastus", tags={"team": "net"})).result()
    before = snapshot(admin)
    seq = admin.last_seq()
    r = run("up", ok=False)
    assert r.exit_code == 1 and "application 'ci-env-client'" in r.output and "nsg-ci-env" in r.output
    assert writes(admin, seq) == []

    j("up", "--adopt")
    nsg = net.network_security_groups.get("rg-ci-env", "nsg-ci-env")
    assert nsg.tags == {"team": "net"} and {plain(r.name) for r in nsg.security_rules} >= {"provision-hdinsight-443"}
    adopted = next(a for a in admin.objects("application") if a["id"] == app["id"])
    assert adopted["displayName"] == "ci-env-client" and not adopted.get("tags")  # never rewritten
    assert len(adopted["passwordCredentials"]) == 1  # only our secret added

    j("down", "--yes", "--adopt")
    after = next(a for a in admin.objects("application") if a["id"] == app["id"])
    assert after["passwordCredentials"] == []  # our secret taken back, the app kept
    nsg = net.network_security_groups.get("rg-ci-env", "nsg-ci-env")
    assert nsg.tags == {"team": "net"} and not [r for r in nsg.security_rules or [] if r.name.startswith("provision-")]
    assert rm.resource_groups.check_existence("rg-ci-env")  # it holds the user's NSG: kept
    assert snapshot(admin) == before  # exactly as before adoption, on both sides


def test_deny_rule_on_9400_is_refused_before_any_write(env, admin, operator_credential, arm_kwargs, emulator):
    from azure.mgmt.network.models import SecurityRule

    deny = SecurityRule(protocol="Tcp", access="Deny", direction="Inbound", priority=200, source_port_range="*",
                        source_address_prefix="Internet", destination_address_prefix="*",
                        destination_port_range="9000-9500")
    _, nsg_id = _user_nsg(operator_credential, arm_kwargs, emulator, "rg-deny", ("deny-high-ports", deny))
    seq = admin.last_seq()
    r = run("up", "--network-nsg-id", nsg_id, ok=False)
    assert r.exit_code == 1 and "deny-high-ports" in r.output and "9400" in r.output
    assert writes(admin, seq) == []
    plan = json.loads(run("plan", "--network-nsg-id", nsg_id, "--output", "json", ok=False).stdout)
    assert any(c["action"] == "conflict" and "deny-high-ports" in c["note"] for c in plan["changes"])


def test_rule_semantics():
    """Azure's NSG semantics on the wire form: priority order, tags, CIDRs, ranges, `*`."""
    from provision.resources.network import first_match

    def rule(name, access, priority, source, ports, protocol="Tcp", dest="*"):
        return {"name": name, "properties": {"access": access, "direction": "Inbound", "priority": priority,
                                             "protocol": protocol, "sourceAddressPrefix": source,
                                             "destinationPortRange": ports, "destinationAddressPrefix": dest}}

    rules = [rule("allow-hdi", "Allow", 100, "HDInsight", "443"), rule("deny-all-9400", "Deny", 150, "*", "9400"),
             rule("deny-udp", "Deny", 90, "*", "*", protocol="Udp"),
             rule("deny-other-subnet", "Deny", 95, "*", "*", dest="192.168.0.0/24"),
             rule("allow-clients", "Allow", 160, "203.0.113.0/24", "443-9400")]
    assert first_match(rules, "HDInsight", "443", "10.0.0.0/24")["name"] == "allow-hdi"
    assert first_match(rules, "HDInsight.EastUS", "443", "10.0.0.0/24")["name"] == "allow-hdi"  # regional tag
    assert first_match(rules, "203.0.113.0/25", "9400", "10.0.0.0/24")["name"] == "deny-all-9400"
    assert first_match(rules, "203.0.113.0/25", "8080", "10.0.0.0/24")["name"] == "allow-clients"
    assert first_match(rules, "198.51.100.0/24", "8080", "10.0.0.0/24") is None
    assert first_match([rule("internet", "Deny", 100, "Internet", "*")], "10.1.0.0/16", "443", None) is None
    assert first_match([rule("internet", "Deny", 100, "Internet", "*")], "HDInsight", "443", None)["name"] == \
        "internet"
    # an Allow must admit all of the sources; a Deny blocks when it touches any of them
    assert first_match([rule("half", "Allow", 100, "203.0.113.0/25", "443")], "203.0.113.0/24", "443", None) is None
    assert first_match([rule("half", "Deny", 100, "203.0.113.0/25", "443")], "203.0.113.0/24", "443",
                       None)["name"] == "half"


def test_subnet_with_its_own_nsg_keeps_it(env, admin, operator_credential, arm_kwargs, emulator):
    from azure.mgmt.network import NetworkManagementClient
    from azure.mgmt.network.models import (
        AddressSpace, NetworkSecurityGroup, SecurityRule, Subnet, VirtualNetwork,
    )

    net, nsg_id = _user_nsg(operator_credential, arm_kwargs, emulator, "rg-net", ("user-ssh", SecurityRule(
        protocol="Tcp", access="Allow", direction="Inbound", priority=300, source_port_range="*",
        source_address_prefix="10.0.0.0/8", destination_address_prefix="*", destination_port_range="22")))
    net = NetworkManagementClient(operator_credential, emulator.subscription_id, **arm_kwargs)
    net.virtual_networks.begin_create_or_update("rg-net", "vnet-user", VirtualNetwork(
        location="eastus", address_space=AddressSpace(address_prefixes=["10.20.0.0/16"]),
        subnets=[Subnet(name="apps", address_prefix="10.20.1.0/24",
                        network_security_group=NetworkSecurityGroup(id=nsg_id))])).result()
    subnet_id = net.subnets.get("rg-net", "vnet-user", "apps").id
    user_rules = {r.name for r in net.network_security_groups.get("rg-net", "nsg-user").security_rules}

    out = j("up", "--network-subnet-id", subnet_id)
    assert out["outputs"]["clusterState"] == "Running"
    assert net.subnets.get("rg-net", "vnet-user", "apps").network_security_group.id.lower() == nsg_id.lower()
    rules = {plain(r.name) for r in net.network_security_groups.get("rg-net", "nsg-user").security_rules}
    assert rules >= user_rules | {"provision-hdinsight-443", "provision-kafkarest-9400"}
    assert not [e for e in admin.requests(0) if e["method"] == "PUT" and "networkSecurityGroups/nsg-ci-env" in
                e["path"]]  # no NSG of our own was made

    j("down", "--yes", "--network-subnet-id", subnet_id)
    assert {r.name for r in net.network_security_groups.get("rg-net", "nsg-user").security_rules} == user_rules
    assert net.subnets.get("rg-net", "vnet-user", "apps").network_security_group.id.lower() == nsg_id.lower()


def test_credentials_from_fresh_machines_all_keep_working(env, admin, monkeypatch, tmp_path):
    state = Path(env["PROVISION_STATE_DIR"])
    j("up")
    first = held_secret(state)
    machine2 = tmp_path / "machine2"
    monkeypatch.setenv("PROVISION_STATE_DIR", str(machine2))
    out = j("up")
    note = next(c for c in out["changes"] if c["resource"] == "app registration")
    assert note["action"] == "update" and "no local copy" in note["note"]
    second = held_secret(machine2)
    assert second["keyId"] != first["keyId"]
    for held in (first, second):  # every earlier secret can still get a token
        assert token(env, held["appId"], held["clientSecret"])
    assert j("plan")["summary"] == {"create": 0, "update": 0, "delete": 0, "noop": j("plan")["summary"]["noop"]}

    # rotate (asked for): the new secret proves itself, then this environment's older ones go
    seq = admin.last_seq()
    j("app", "register", "--rotate")
    third = held_secret(machine2)
    log = admin.requests(seq)
    add = next(i for i, e in enumerate(log) if e["path"].endswith("/addPassword"))
    token_at = next(i for i, e in enumerate(log) if i > add and e["family"] == "identity" and "token" in e["path"])
    remove = next(i for i, e in enumerate(log) if e["path"].endswith("/removePassword"))
    assert add < token_at < remove  # removed only after the new one got a token
    app = next(a for a in admin.objects("application") if a["appId"] == first["appId"])
    assert [c["keyId"] for c in app["passwordCredentials"]] == [third["keyId"]]


def test_a_vnet_waits_for_an_nsg_another_run_is_updating(env, admin, operator_credential, arm_kwargs):
    """A twin run (another machine) PUTs our NSG again just as this run references it from the VNet: Azure answers
    400 ReferencedResourceNotProvisioned while the NSG is Updating (the emulator too). `network open` waits for the
    NSG to read Succeeded and sends the VNet's PUT again — it converges instead of failing."""
    from azure.mgmt.network import NetworkManagementClient

    j("network", "open")
    net = NetworkManagementClient(operator_credential, admin.info.subscription_id, **arm_kwargs)
    net.virtual_networks.begin_delete("rg-ci-env", "vnet-ci-env").result()
    admin.configure(lro_seconds=1.5)
    nsg = net.network_security_groups.get("rg-ci-env", "nsg-ci-env")
    twin = net.network_security_groups.begin_create_or_update("rg-ci-env", "nsg-ci-env", nsg)  # Updating for 1.5 s
    seq = admin.last_seq()
    r = run("network", "open")
    twin.result()
    assert "is being updated by another operation" in r.output
    puts = [(e["status"], e["path"].rsplit("/", 1)[1]) for e in admin.requests(seq)
            if e["method"] == "PUT" and "/virtualNetworks/" in e["path"]]
    assert puts[0] == (400, "vnet-ci-env") and puts[-1] == (201, "vnet-ci-env"), puts
    assert {c["action"] for c in j("network", "open")["changes"]} == {"noop"}


def test_two_ups_at_once_both_succeed_with_one_of_each(env, admin, tmp_path):
    """Two processes from two state directories (two machines): both exit 0, one app, one group, one cluster, and
    both runs' secrets work."""
    start = snapshot(admin)
    results = {}

    def go(name: str) -> None:
        e = {**os.environ, "PROVISION_STATE_DIR": str(tmp_path / name)}
        results[name] = subprocess.run([sys.executable, "-m", "provision", "up", "--output", "json"], env=e,
                                       capture_output=True, text=True, timeout=240, cwd=tmp_path)

    threads = [threading.Thread(target=go, args=(n,)) for n in ("m1", "m2")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for name, r in results.items():
        assert r.returncode == 0, (name, r.stderr[-2000:])
    assert len([a for a in admin.objects("application") if a["displayName"] == "ci-env-client"]) == 1
    assert len([g for g in admin.objects("group") if g["displayName"] == "ci-env-clients"]) == 1
    assert len(clusters(admin)) == 1
    for name in ("m1", "m2"):
        held = held_secret(tmp_path / name)
        assert token(env, held["appId"], held["clientSecret"])
    run("down", "--yes")
    assert snapshot(admin) == start


def test_deleting_cluster_plans_as_wait(env, admin, operator_credential, arm_kwargs, emulator):
    from azure.mgmt.hdinsight import HDInsightManagementClient

    out = j("up")["outputs"]
    admin.configure(cluster_delete_seconds=30)
    hdi = HDInsightManagementClient(operator_credential, emulator.subscription_id, **arm_kwargs)
    hdi.clusters.begin_delete(out["resourceGroup"], out["clusterName"])
    plan = j("plan")
    cluster = next(c for c in plan["changes"] if c["resource"] == "hdinsight kafka cluster")
    assert cluster["action"] == "wait" and "being deleted" in cluster["note"]


def test_a_real_not_found_is_not_waited_out_as_lag(env, admin, monkeypatch):
    """`group add-member --sp-object-id` of a service principal that does not exist: Graph's 404 is reported at
    once — one request, not retried for the consistency bound (only objects this run wrote can be lagging)."""
    monkeypatch.setenv("PROVISION_CONSISTENCY_TIMEOUT", "60")
    run("group", "create")
    seq = admin.last_seq()
    r = run("group", "add-member", "--sp-object-id", "00000000-0000-0000-0000-0000000000aa", ok=False)
    assert r.exit_code == 1 and "Traceback" not in r.output and len(r.output.strip().splitlines()) <= 2
    about = [e for e in admin.requests(seq) if "0000000000aa" in e["path"] or e["path"].endswith("/members/$ref")]
    assert len(about) == 1 and about[0]["status"] == 404  # asked once, answered NotFound, reported


def test_an_early_failure_stops_waiting_for_long_running_operations(env, admin):
    """The storage account is refused while the NSG's long-running operation still runs: `up` fails at once, and
    the NSG's operation is still in progress when it has returned (nobody waited for it)."""
    admin.configure(lro_seconds=30)
    # the refusal comes half a second late, so the NSG's PUT (sent at the same time) has certainly arrived
    admin.add_fault(action="latency", latency_ms=500, path=r"/storageAccounts/[^/]+$", methods=["PUT"], count=1)
    admin.add_fault(action="status", status=400, code="InvalidRequest", message="refused for the test",
                    path=r"/storageAccounts/[^/]+$", methods=["PUT"], count=1)
    r = run("up", ok=False)
    assert r.exit_code == 1 and "refused for the test" in r.output
    nsgs = [o for o in admin.objects("network:networkSecurityGroup") if o.get("name") == "nsg-ci-env"]
    assert nsgs, "the NSG's creation had started"
    assert nsgs[0]["properties"]["provisioningState"] != "Succeeded"


def test_down_then_up_again_and_revoke_then_grant_again(env, admin):
    """Entra soft-deletes applications and groups, and a deleted object keeps its uniqueName: `down` and `revoke
    --delete-app` delete permanently what they made, so the same environment and client come back cleanly."""
    start = snapshot(admin)
    first = j("up")["outputs"]
    run("access", "grant", "orders")
    run("access", "revoke", "orders", "--delete-app")
    run("access", "grant", "orders")
    run("access", "revoke", "orders", "--delete-app")
    j("down", "--yes")
    again = j("up")
    assert again["summary"]["create"] >= 9 and again["outputs"]["clientId"] != first["clientId"]
    j("down", "--yes")
    assert snapshot(admin) == start


def test_two_grants_at_once_on_one_machine_make_one_client(env, admin, tmp_path):
    """The environment lock: the second grant waits, then finds the first one's app and credential held."""
    run("group", "create")
    results = []

    def go() -> None:
        results.append(subprocess.run([sys.executable, "-m", "provision", "access", "grant", "orders", "--output",
                                       "json"], env=dict(os.environ), capture_output=True, text=True, timeout=240,
                                      cwd=tmp_path))

    threads = [threading.Thread(target=go) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [r.returncode for r in results] == [0, 0], [r.stderr[-1000:] for r in results]
    apps = [a for a in admin.objects("application") if a["displayName"] == "orders"]
    assert len(apps) == 1 and len(apps[0]["passwordCredentials"]) == 1


def test_down_leaves_no_local_file_with_a_secret_that_is_gone(env, admin):
    """After `down`, the state directory holds no secret of the deleted app, nor the deleted cluster's passwords."""
    state = Path(env["PROVISION_STATE_DIR"]) / "ci-env"
    j("up", "--smoke")
    assert (state / "client.env").exists() and (state / "passwords.json").exists()
    j("down", "--yes")
    left = [p.name for p in state.rglob("*") if p.is_file() and p.name != ".lock"]
    assert left == []


def test_two_environments_share_one_external_nsg(env, admin, operator_credential, arm_kwargs, emulator):
    """Rules added to someone else's NSG carry the environment's key: two environments using one NSG by id each
    add and remove only their own."""
    net, nsg_id = _user_nsg(operator_credential, arm_kwargs, emulator, "rg-hub")
    for rg in ("rg-team-a", "rg-team-b"):
        run("network", "open", "--resource-group", rg, "--network-nsg-id", nsg_id)
    names = sorted(r.name for r in net.network_security_groups.get("rg-hub", "nsg-user").security_rules)
    assert len(names) == 4 and len({n.split("-")[1] for n in names}) == 2  # two environments' keys
    assert {plain(n) for n in names} == {"provision-hdinsight-443", "provision-kafkarest-9400"}
    run("down", "--yes", "--resource-group", "rg-team-b", "--network-nsg-id", nsg_id)
    left = sorted(r.name for r in net.network_security_groups.get("rg-hub", "nsg-user").security_rules)
    assert len(left) == 2 and {plain(n) for n in left} == {"provision-hdinsight-443", "provision-kafkarest-9400"}
    assert all(n in names for n in left)
    assert json.loads(run("plan", "--resource-group", "rg-team-a", "--network-nsg-id", nsg_id, "--output",
                          "json").stdout)["summary"]["create"] > 0  # team A's plan still works (its rules: noop)
