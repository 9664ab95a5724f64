"""The emulator's HDInsight provider (issue 14): retired versions refused at creation as Azure does since 31 March
2025, and the network properties — the outbound resource provider connection and Private Link with the
prerequisites Microsoft documents — through azure-mgmt-hdinsight over TLS."""

from __future__ import annotations

import pytest
from azure.core.exceptions import HttpResponseError

from tests.emulator.test_hdinsight import azure, world  # noqa: F401 — fixtures shared with test_hdinsight


@pytest.mark.parametrize("version,kafka", [("4.0", "2.4"), ("5.0", "2.4"), ("4.0.3000.1", "2.1")])
def test_retired_versions_are_refused(azure, world, version, kafka):
    with pytest.raises(HttpResponseError) as e:
        azure.hdi.clusters.begin_create(world.rg, "retired1", world.body(version=version, kafka=kafka))
    assert e.value.status_code == 400
    assert "was retired on 31 March 2025" in str(e.value) and "Use version 5.1" in str(e.value)
    assert azure.arm("GET", f"/subscriptions/{azure.emulator.subscription_id}/resourceGroups/{world.rg}/providers/"
                            f"Microsoft.HDInsight/clusters/retired1?api-version=2021-06-01").status_code == 404
    r = azure.arm("POST", f"/subscriptions/{azure.emulator.subscription_id}/providers/Microsoft.HDInsight/locations/"
                          f"southcentralus/validateCreateRequest?api-version=2021-06-01",
                  json={**world.body(version=version, kafka=kafka), "name": "retired1",
                        "type": "Microsoft.HDInsight/clusters", "tenantId": azure.emulator.tenant_id})
    assert "RetiredClusterVersion" in [p["code"] for p in r.json()["validationErrors"]]


def test_supported_version_is_created(azure, world):
    cluster = azure.hdi.clusters.begin_create(world.rg, "current1", world.body(version="5.1", kafka="3.2")).result()
    assert cluster.properties.cluster_version == "5.1.3000.0" and cluster.properties.cluster_state == "Running"


def test_outbound_connection_reports_private_addresses(azure, world):
    subnet = azure.vnet(world.rg, allow=(9400,))  # no inbound 443 from HDInsight: not needed with Outbound
    body = world.body(version="5.1", kafka="3.2", subnet=subnet)
    body["properties"]["networkProperties"] = {"resourceProviderConnection": "Outbound"}
    cluster = azure.hdi.clusters.begin_create(world.rg, "outbound1", body).result()
    assert cluster.properties.cluster_state == "Running"
    assert cluster.properties.network_properties.resource_provider_connection == "Outbound"
    private = {e.name: e.private_ip_address for e in cluster.properties.connectivity_endpoints}
    assert all(ip and ip.startswith("10.0.0.") for ip in private.values()), private
    assert "KafkaRestProxyPublicEndpoint" in private


def test_private_link_needs_outbound_and_a_virtual_network(azure, world):
    body = world.body(version="5.1", kafka="3.2")
    body["properties"]["networkProperties"] = {"resourceProviderConnection": "Inbound", "privateLink": "Enabled"}
    with pytest.raises(HttpResponseError) as e:
        azure.hdi.clusters.begin_create(world.rg, "pl1", body)
    assert e.value.status_code == 400 and "Private Link can be enabled only when" in str(e.value)
    body["properties"]["networkProperties"]["resourceProviderConnection"] = "Outbound"
    with pytest.raises(HttpResponseError) as e:
        azure.hdi.clusters.begin_create(world.rg, "pl1", body)
    assert "must be deployed into a virtual network" in str(e.value)


def test_private_link_subnet_prerequisites_fail_the_deployment(azure, world):
    subnet = azure.vnet(world.rg)  # privateLinkServiceNetworkPolicies Enabled (the default), no NAT gateway
    body = world.body(version="5.1", kafka="3.2", subnet=subnet)
    body["properties"]["networkProperties"] = {"resourceProviderConnection": "Outbound", "privateLink": "Enabled"}
    with pytest.raises(HttpResponseError) as e:
        azure.hdi.clusters.begin_create(world.rg, "pl2", body).result()
    assert "privateLinkServiceNetworkPolicies disabled" in str(e.value)
    rg, vnet, name = subnet.split("/")[4], subnet.split("/")[8], subnet.split("/")[10]
    current = azure.network.subnets.get(rg, vnet, name)
    azure.network.subnets.begin_create_or_update(rg, vnet, name, {"properties": {
        "addressPrefix": current.address_prefix, "networkSecurityGroup": {"id": current.network_security_group.id},
        "privateLinkServiceNetworkPolicies": "Disabled"}}).result()
    with pytest.raises(HttpResponseError) as e:
        azure.hdi.clusters.begin_create(world.rg, "pl3", body).result()
    assert "NAT gateway" in str(e.value)
    nat = f"/subscriptions/{azure.emulator.subscription_id}/resourceGroups/{rg}/providers/Microsoft.Network/" \
          f"natGateways/nat1"
    azure.network.subnets.begin_create_or_update(rg, vnet, name, {"properties": {
        "addressPrefix": current.address_prefix, "networkSecurityGroup": {"id": current.network_security_group.id},
        "privateLinkServiceNetworkPolicies": "Disabled", "natGateway": {"id": nat}}}).result()
    cluster = azure.hdi.clusters.begin_create(world.rg, "pl4", body).result()
    assert cluster.properties.network_properties.private_link == "Enabled"
