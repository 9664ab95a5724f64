"""Operator features (issue 14), through the real CLI against the emulator (real SDKs, TLS): doctor for the
operator and for one client, `access grant/rotate/revoke --wait`, `smoke` where `up` ran, credential expiry,
supported versions only, private networking (outbound resource provider connection, Private Link) and the REST
proxy's settings."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from tests.cli.test_up import env, run, writes  # noqa: F401 — fixtures and helpers shared with test_up


def _client_file(path: Path, **changes: str) -> Path:
    """A copy of a dotenv client configuration with some keys changed."""
    lines = dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    lines.update(changes)
    out = path.with_name(f"{path.stem}-{uuid.uuid4().hex[:6]}.env")
    out.write_text("".join(f"{k}={v}\n" for k, v in lines.items()))
    return out


def _checks(result) -> dict[str, dict]:
    return {c["check"]: c for c in json.loads(result.stdout)["checks"]}


# -- supported versions ---------------------------------------------------------------------------------------------
def test_retired_versions_are_refused_before_any_write(env, admin):
    seq = admin.last_seq()
    for version in ("4.0", "5.0"):
        r = run("up", "--cluster-version", version, ok=False)
        assert r.exit_code == 2, r.output
        assert f"HDInsight {version} was retired on 31 March 2025" in r.output and "5.1" in r.output
    Path("provision.toml").write_text('[cluster]\nversion = "4.0"\n')
    r = run("plan", ok=False)
    assert r.exit_code == 2 and "cluster.version" in r.output and "5.1 (Kafka 3.2)" in r.output
    assert writes(admin, seq) == []
    assert "5.1" in run("init", "--path", "example.toml").stdout or "5.1" in Path("example.toml").read_text()


# -- doctor -----------------------------------------------------------------------------------------------------------
def test_doctor_on_a_healthy_environment(env, admin):
    run("up", "--output", "json")
    seq = admin.last_seq()
    text = run("doctor").stdout
    assert "FAIL" not in text.split("doctor:")[0]
    for name in ("credential", "tenant", "subscription", "resource providers", "graph permissions", "arm rights",
                 "quota", "environment"):
        assert any(line.split()[1:2] and line[6:].startswith(name) for line in text.splitlines()), (name, text)
    checks = _checks(run("doctor", "--output", "json"))
    assert checks["environment"]["status"] == "PASS" and "Running" in checks["environment"]["detail"]
    assert checks["resource providers"]["status"] == "PASS"
    # the operator's Graph token carries its application permissions; its ARM rights are listed by
    # Microsoft.Authorization/permissions
    assert checks["graph permissions"]["status"] == "PASS", checks["graph permissions"]
    assert checks["arm rights"]["status"] == "PASS", checks["arm rights"]
    assert writes(admin, seq) == []  # doctor only reads


def test_doctor_for_a_client_healthy_revoked_other_tenant_wrong_scope(env, admin):
    run("up", "--output", "json")
    run("access", "grant", "orders", "--out", "orders.env", "--wait")
    ok = _checks(run("doctor", "--config", "orders.env", "--output", "json"))
    assert all(c["status"] == "PASS" for c in ok.values()), ok
    assert {"token", "token claims", "membership", "group type", "cluster group", "network rules", "endpoint dns",
            "endpoint tls", "live call"} <= set(ok)
    assert "aud https://hib.azurehdinsight.net" in ok["token claims"]["detail"]

    # another tenant: the cause is the tenant, and Entra's refusal is named
    other = _client_file(Path("orders.env"), AZURE_TENANT_ID=str(uuid.uuid4()))
    r = run("doctor", "--config", str(other), "--output", "json", ok=False)
    assert r.exit_code == 1
    c = _checks(r)
    assert c["tenant"]["status"] == "FAIL" and "cluster's tenant" in c["tenant"]["detail"]
    assert c["token"]["status"] == "FAIL"

    # a wrong scope: the token's audience is not the REST proxy's
    wrong = _client_file(Path("orders.env"), KAFKAREST_SCOPE="https://graph.microsoft.com/.default")
    r = run("doctor", "--config", str(wrong), "--output", "json", ok=False)
    c = _checks(r)
    assert r.exit_code == 1 and c["scope"]["status"] == "FAIL"
    assert c["token claims"]["status"] == "FAIL" and "audience" in c["token claims"]["detail"]
    assert "https://hib.azurehdinsight.net/.default" in c["token claims"]["fix"]

    # revoked: the membership is named, with the grant that fixes it
    run("access", "revoke", "orders", "--wait", "--client-config", "orders.env")
    r = run("doctor", "--config", "orders.env", ok=False)
    assert r.exit_code == 1
    line = next(x for x in r.stdout.splitlines() if x[6:].startswith("membership"))
    assert line.startswith("FAIL") and "not a member" in line
    assert "fix: provision access grant orders" in r.stdout


# -- access --wait ----------------------------------------------------------------------------------------------------
@pytest.mark.long
def test_grant_wait_means_the_client_works_at_once(env, admin):
    run("up", "--output", "json")
    admin.configure(membership_propagation_seconds=2)  # longer than a command takes: without --wait, a 403
    out = json.loads(run("access", "grant", "orders", "--wait", "--out", "orders.env", "--output", "json").stdout)
    assert out["clients"][0]["wait"]["ok"] is True and out["clients"][0]["wait"]["attempts"] >= 1
    r = run("kafka", "topics", "list", "--config", "orders.env")
    assert r.exit_code == 0

    rotated = json.loads(run("access", "rotate", "orders", "--out", "orders.env", "--wait", "--output",
                             "json").stdout)
    assert rotated["status"] == "ok"
    run("kafka", "topics", "list", "--config", "orders.env")  # the new secret works at once too

    revoked = json.loads(run("access", "revoke", "orders", "--wait", "--client-config", "orders.env", "--output",
                             "json").stdout)
    assert revoked["wait"]["ok"] is True and revoked["wait"]["answer"] == 403
    r = run("kafka", "topics", "list", "--config", "orders.env", ok=False)
    assert r.exit_code == 1 and "403" in r.output


def test_wait_is_bounded_with_a_clear_message(env, admin):
    run("up", "--output", "json")
    admin.configure(membership_propagation_seconds=30)
    r = run("access", "grant", "slow", "--wait", "--wait-timeout", "1", "--out", "slow.env", ok=False)
    assert r.exit_code == 1
    assert "did not answer 200 (access)" in r.output and "after 1s" in r.output and "--wait-timeout" in r.output
    assert "403" in r.output  # the last answer is named


# -- smoke where up ran -----------------------------------------------------------------------------------------------
def test_smoke_without_arguments_where_up_ran(env, admin, monkeypatch):
    for k in ("KAFKAREST_ENDPOINT", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET"):
        monkeypatch.delenv(k, raising=False)
    run("up", "--output", "json")
    r = run("smoke")
    assert "smoke test PASSED" in r.stdout
    report = json.loads(run("smoke", "--output", "json").stdout)
    assert report["ok"] is True


def test_smoke_elsewhere_says_what_is_missing(env, tmp_path, monkeypatch):
    monkeypatch.delenv("KAFKAREST_ENDPOINT", raising=False)
    r = run("smoke", ok=False)
    assert r.exit_code == 2 and "KAFKAREST_ENDPOINT" in r.output and "--config" in r.output


# -- expiry -----------------------------------------------------------------------------------------------------------
def test_expiring_credentials_listed_and_rotated(env, admin):
    run("up", "--output", "json")
    run("access", "grant", "orders", "--days", "30")
    r = run("access", "list", "--expiring-within", "3650", "--output", "json", ok=False)
    assert r.exit_code == 3
    listed = json.loads(r.stdout)
    orders = next(m for m in listed["members"] if m["displayName"] == "orders")
    assert orders["credentials"] and orders["credentials"][0]["kind"] == "secret"
    assert run("access", "list", "--expiring-within", "1").exit_code == 0
    r = run("access", "list", "--expiring-within", "31", "--output", "json", ok=False)
    assert r.exit_code == 3 and [m["displayName"] for m in json.loads(r.stdout)["members"]] == ["orders"]
    text = run("access", "list").stdout
    assert "secret" in text and "ends 20" in text

    before = orders["credentialExpires"]
    out = json.loads(run("access", "rotate", "--expiring-within", "31", "--output", "json").stdout)
    assert [c["name"] for c in out["clients"]] == ["orders"] and out["clients"][0]["status"] == "ok"
    after = next(m for m in json.loads(run("access", "list", "--output", "json").stdout)["members"]
                 if m["displayName"] == "orders")
    assert after["credentialExpires"] > before and len(after["credentials"]) == 1
    assert run("access", "list", "--expiring-within", "31").exit_code == 0  # the default lifetime is 180 days


# -- private networking and REST proxy settings ---------------------------------------------------------------------
def test_outbound_connection_and_rest_proxy_settings(env, admin):
    out = json.loads(run("up", "--network-resource-provider-connection", "Outbound", "--cluster-rest-proxy-config",
                         "consumer.request.timeout.ms=30000", "--output", "json").stdout)
    cluster = next(c for c in admin.objects("arm:hdinsight:cluster") if c["name"] == out["outputs"]["clusterName"])
    assert cluster["properties"]["networkProperties"] == {"resourceProviderConnection": "Outbound"}
    assert cluster["properties"]["kafkaRestProperties"]["configurationOverride"] == {
        "consumer.request.timeout.ms": "30000"}
    status = json.loads(run("status", "--network-resource-provider-connection", "Outbound",
                            "--cluster-rest-proxy-config", "consumer.request.timeout.ms=30000", "--output",
                            "json").stdout)
    row = next(r for r in status["resources"] if r["resource"] == "hdinsight kafka cluster")
    assert row["state"] == "Succeeded / Running"
    assert row["details"] == {"restProxyConfig": {"consumer.request.timeout.ms": "30000"},
                              "resourceProviderConnection": "Outbound", "privateLink": "Disabled"}
    text = run("status", "--network-resource-provider-connection", "Outbound", "--cluster-rest-proxy-config",
               "consumer.request.timeout.ms=30000").stdout
    assert "REST proxy settings: consumer.request.timeout.ms=30000" in text
    # the connectivity endpoints carry the private addresses of a restricted cluster; the proxy still answers
    endpoints = json.loads(run("endpoint", "--output", "json").stdout)
    assert endpoints["endpoint"]
    run("smoke")
    # a spec that no longer asks for it is drift (networkProperties cannot change after creation), not a write
    plan = json.loads(run("plan", "--output", "json").stdout)
    c = next(c for c in plan["changes"] if c["resource"] == "hdinsight kafka cluster")
    assert c["action"] == "drift" and "networkProperties.resourceProviderConnection" in c["fields"]


def test_private_link_prerequisites(env, admin, operator_credential, arm_kwargs, emulator):
    from azure.mgmt.network import NetworkManagementClient
    from azure.mgmt.network.models import AddressSpace, SubResource, Subnet, VirtualNetwork
    from azure.mgmt.resource.resources import ResourceManagementClient
    from azure.mgmt.resource.resources.models import ResourceGroup

    r = run("plan", "--network-private-link", "Enabled", ok=False)
    assert r.exit_code == 2 and "Outbound" in r.output and "Enable Private Link on an HDInsight cluster" in r.output
    r = run("plan", "--network-private-link", "Enabled", "--network-resource-provider-connection", "Outbound",
            ok=False)
    assert r.exit_code == 2 and "network.subnet_id" in r.output and "NAT gateway" in r.output

    ResourceManagementClient(operator_credential, emulator.subscription_id, **arm_kwargs).resource_groups \
        .create_or_update("rg-net", ResourceGroup(location="eastus"))
    net = NetworkManagementClient(operator_credential, emulator.subscription_id, **arm_kwargs)
    nat = f"/subscriptions/{emulator.subscription_id}/resourceGroups/rg-net/providers/Microsoft.Network/natGateways/nat"
    net.virtual_networks.begin_create_or_update("rg-net", "vnet-pl", VirtualNetwork(
        location="eastus", address_space=AddressSpace(address_prefixes=["10.20.0.0/16"]), subnets=[
            Subnet(name="unprepared", address_prefix="10.20.1.0/24"),
            Subnet(name="no-nat", address_prefix="10.20.2.0/24", private_link_service_network_policies="Disabled"),
            Subnet(name="ready", address_prefix="10.20.3.0/24", private_link_service_network_policies="Disabled",
                   nat_gateway=SubResource(id=nat))])).result()
    subnet = net.subnets.get("rg-net", "vnet-pl", "unprepared").id.rsplit("/", 1)[0]
    args = ("--network-private-link", "Enabled", "--network-resource-provider-connection", "Outbound")

    seq = admin.last_seq()
    r = run("up", *args, "--network-subnet-id", f"{subnet}/unprepared", ok=False)
    assert r.exit_code == 1 and "privateLinkServiceNetworkPolicies" in r.output
    r = run("plan", *args, "--network-subnet-id", f"{subnet}/no-nat", ok=False)
    assert r.exit_code == 1 and "NAT gateway" in r.output and "Enable Private Link" in r.output
    assert writes(admin, seq) == []

    out = json.loads(run("up", *args, "--network-subnet-id", f"{subnet}/ready", "--output", "json").stdout)
    cluster = next(c for c in admin.objects("arm:hdinsight:cluster") if c["name"] == out["outputs"]["clusterName"])
    assert cluster["properties"]["networkProperties"] == {"resourceProviderConnection": "Outbound",
                                                          "privateLink": "Enabled"}
    assert out["outputs"]["clusterState"] == "Running"
