"""Microsoft.Network — NSGs, security rules, virtual networks, subnets — driven by azure-mgmt-network over TLS,
with wire-level checks against the recorded traffic, and `inbound_allows` (the question HDInsight asks)."""

from __future__ import annotations

import json
import re
import time
import types
from pathlib import Path

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.mgmt.network import NetworkManagementClient
from azure.mgmt.network.models import (
    AddressSpace,
    NetworkSecurityGroup,
    SecurityRule,
    Subnet,
    VirtualNetwork,
)
from azure.mgmt.resource.resources import ResourceManagementClient

from provision.emulator.services.arm import core as arm_core
from provision.emulator.services.arm.network import models as network_models
from provision.emulator.services.arm.resources import models as resource_models
from provision.emulator.state import EmulatorState
from provision.emulator.store import Store

API = "2021-03-01"
RG = "rg-net"

RECORDED = Path(__file__).resolve().parents[1] / "data" / "nsg_default_rules.json"


def recorded_default_rules() -> list[tuple]:
    """The six default rules of an NSG exactly as Azure returned them in the az CLI recording (see the file's
    "_about" for where they were observed)."""
    rules = json.loads(RECORDED.read_text())["defaultSecurityRules"]
    return [(r["name"], r["description"], r["sourceAddressPrefix"], r["destinationAddressPrefix"], r["access"],
             r["priority"], r["direction"]) for r in rules]


@pytest.fixture
def group(operator_credential, emulator, arm_kwargs):
    """The resource group every test works in."""
    ResourceManagementClient(operator_credential, emulator.subscription_id, **arm_kwargs).resource_groups \
        .create_or_update(RG, {"location": "westus"})
    return RG


@pytest.fixture
def network(group, operator_credential, emulator, arm_kwargs, admin):
    """A NetworkManagementClient. `Retry-After: 0` (a timing knob) lets the pollers use the client's 0.1 s
    interval instead of waiting a whole second per poll; wire tests check the real header separately."""
    admin.configure(retry_after_seconds=0)
    return NetworkManagementClient(operator_credential, emulator.subscription_id, **arm_kwargs)


def _nsg_path(emulator, name="nsg1", rg=RG):
    return (f"/subscriptions/{emulator.subscription_id}/resourceGroups/{rg}/providers/Microsoft.Network/"
            f"networkSecurityGroups/{name}")


def _vnet_path(emulator, name="vnet1"):
    return f"/subscriptions/{emulator.subscription_id}/resourceGroups/{RG}/providers/Microsoft.Network/" \
           f"virtualNetworks/{name}"


def _rule(priority=300, ports=("443",), direction="Inbound", **kw) -> SecurityRule:
    return SecurityRule(protocol="Tcp", access=kw.pop("access", "Allow"), direction=direction, priority=priority,
                        source_address_prefix=kw.pop("source", "Internet"), source_port_range="*",
                        destination_address_prefix="*", destination_port_ranges=list(ports), **kw)


# -- NSGs through the SDK --------------------------------------------------------------------------------------------
def test_nsg_lifecycle(network):
    nsg = network.network_security_groups.begin_create_or_update(
        RG, "nsg1", NetworkSecurityGroup(location="westus", tags={"env": "test"},
                                         security_rules=[_rule(name="https")])).result()
    assert nsg.provisioning_state == "Succeeded" and nsg.location == "westus" and nsg.tags == {"env": "test"}
    assert [(r.name, r.priority, r.destination_port_ranges) for r in nsg.security_rules] == [("https", 300, ["443"])]
    assert [(r.name, r.description, r.source_address_prefix, r.destination_address_prefix, r.access, r.priority,
             r.direction) for r in nsg.default_security_rules] == recorded_default_rules()
    assert all(r.provisioning_state == "Succeeded" for r in nsg.default_security_rules + nsg.security_rules)
    assert re.fullmatch(r'W/"[0-9a-f-]{36}"', nsg.etag)

    got = network.network_security_groups.get(RG, "nsg1")
    assert got.resource_guid == nsg.resource_guid and got.etag == nsg.etag
    assert [n.name for n in network.network_security_groups.list(RG)] == ["nsg1"]
    assert [n.name for n in network.network_security_groups.list_all()] == ["nsg1"]
    assert [r.name for r in network.default_security_rules.list(RG, "nsg1")][:3] == [
        "AllowVnetInBound", "AllowAzureLoadBalancerInBound", "DenyAllInBound"]
    assert network.default_security_rules.get(RG, "nsg1", "DenyAllInBound").priority == 65500

    tagged = network.network_security_groups.update_tags(RG, "nsg1", {"tags": {"env": "prod"}})
    assert tagged.tags == {"env": "prod"} and tagged.etag != nsg.etag

    network.network_security_groups.begin_delete(RG, "nsg1").result()
    with pytest.raises(ResourceNotFoundError) as e:
        network.network_security_groups.get(RG, "nsg1")
    assert e.value.error.code == "ResourceNotFound"


def test_nsg_put_replaces_its_rules(network):
    ops = network.network_security_groups
    params = NetworkSecurityGroup(location="westus", security_rules=[
        _rule(300, name="a"), _rule(310, ["9400"], name="b")])
    assert {r.name for r in ops.begin_create_or_update(RG, "nsg1", params).result().security_rules} == {"a", "b"}
    again = ops.begin_create_or_update(RG, "nsg1", NetworkSecurityGroup(
        location="westus", security_rules=[_rule(300, name="a")])).result()
    assert [r.name for r in again.security_rules] == ["a"]
    assert [r.name for r in network.security_rules.list(RG, "nsg1")] == ["a"]


def test_security_rule_lifecycle(network):
    network.network_security_groups.begin_create_or_update(RG, "nsg1", NetworkSecurityGroup(location="westus")) \
        .result()
    rule = network.security_rules.begin_create_or_update(RG, "nsg1", "kafka", _rule(400, ["443", "9400"])).result()
    assert rule.provisioning_state == "Succeeded" and rule.destination_port_ranges == ["443", "9400"]
    assert rule.type == "Microsoft.Network/networkSecurityGroups/securityRules"
    updated = network.security_rules.begin_create_or_update(RG, "nsg1", "kafka", _rule(401, ["9400"])).result()
    assert updated.priority == 401 and network.security_rules.get(RG, "nsg1", "kafka").priority == 401
    nsg = network.network_security_groups.get(RG, "nsg1")
    assert [r.name for r in nsg.security_rules] == ["kafka"] and nsg.security_rules[0].etag == nsg.etag

    network.security_rules.begin_delete(RG, "nsg1", "kafka").result()
    assert list(network.security_rules.list(RG, "nsg1")) == []
    with pytest.raises(ResourceNotFoundError):
        network.security_rules.get(RG, "nsg1", "kafka")
    with pytest.raises(ResourceNotFoundError) as e:
        network.security_rules.get(RG, "no-such-nsg", "kafka")
    assert e.value.error.code == "ParentResourceNotFound"


def test_security_rule_conflict(network):
    network.network_security_groups.begin_create_or_update(RG, "nsg1", NetworkSecurityGroup(location="westus")) \
        .result()
    network.security_rules.begin_create_or_update(RG, "nsg1", "first", _rule(500)).result()
    with pytest.raises(HttpResponseError) as e:
        network.security_rules.begin_create_or_update(RG, "nsg1", "second", _rule(500, ["9400"])).result()
    assert e.value.status_code == 400 and e.value.error.code == "SecurityRuleConflict"
    assert e.value.error.message == ("Security rule first conflicts with rule second. Rules cannot have the same "
                                     "Priority and Direction. To learn more, see aka.ms/nsgrules.")
    # The same priority in the other direction is fine, and so is re-PUTting the same rule.
    network.security_rules.begin_create_or_update(RG, "nsg1", "out", _rule(500, direction="Outbound")).result()
    network.security_rules.begin_create_or_update(RG, "nsg1", "first", _rule(500, ["8443"])).result()
    with pytest.raises(HttpResponseError) as e:
        network.network_security_groups.begin_create_or_update(RG, "nsg2", NetworkSecurityGroup(
            location="westus", security_rules=[_rule(200, name="x"),
                                               _rule(200, name="y")])).result()
    assert e.value.error.code == "SecurityRuleConflict" and e.value.error.message.startswith("Security rule x ")


# -- wire shape ------------------------------------------------------------------------------------------------------
def test_nsg_put_and_poll_on_the_wire(group, arm, emulator, admin):
    admin.configure(retry_after_seconds=1)  # the header as Azure sends it (tests default to 0)
    admin.configure(lro_seconds=0.6)
    r = arm("PUT", _nsg_path(emulator), json={"location": "westus"})
    assert r.status_code == 201 and r.headers["Retry-After"] == "1"
    op_url = r.headers["Azure-AsyncOperation"]
    assert re.fullmatch(rf"{re.escape(emulator.url)}/subscriptions/{emulator.subscription_id}/providers/"
                        rf"Microsoft\.Network/locations/westus/operations/[0-9a-f-]{{36}}\?api-version={API}", op_url)
    body = r.json()
    assert list(body) == ["name", "id", "etag", "type", "location", "properties"]
    assert body["properties"]["provisioningState"] == "Updating" and body["properties"]["securityRules"] == []
    first = body["properties"]["defaultSecurityRules"][0]
    assert first == {
        "name": "AllowVnetInBound", "id": body["id"] + "/defaultSecurityRules/AllowVnetInBound", "etag": body["etag"],
        "type": "Microsoft.Network/networkSecurityGroups/defaultSecurityRules",
        "properties": {"provisioningState": "Updating", "description": "Allow inbound traffic from all VMs in VNET",
                       "protocol": "*", "sourcePortRange": "*", "destinationPortRange": "*",
                       "sourceAddressPrefix": "VirtualNetwork", "destinationAddressPrefix": "VirtualNetwork",
                       "access": "Allow", "priority": 65000, "direction": "Inbound", "sourcePortRanges": [],
                       "destinationPortRanges": [], "sourceAddressPrefixes": [], "destinationAddressPrefixes": []}}

    poll = arm("GET", op_url.replace(emulator.url, "").split("?")[0])
    assert poll.status_code == 200 and poll.json() == {"status": "InProgress"} and poll.headers["Retry-After"]
    time.sleep(0.7)
    assert arm("GET", op_url.replace(emulator.url, "").split("?")[0]).json() == {"status": "Succeeded"}
    got = arm("GET", _nsg_path(emulator))
    assert got.json()["properties"]["provisioningState"] == "Succeeded"
    assert got.headers["ETag"] == got.json()["etag"] != body["etag"]
    assert arm("PUT", _nsg_path(emulator), json={"location": "westus"}).status_code == 200


def test_recorded_rule_bodies_are_accepted(group, arm, emulator):
    assert arm("PUT", _nsg_path(emulator), json={"location": "westus"}).status_code == 201
    # Recorded: an empty singular field alongside its plural is accepted and echoed back.
    recorded = {"name": "rule1", "properties": {
        "protocol": "*", "destinationPortRange": "4444", "sourceAddressPrefix": "*", "destinationAddressPrefix": "",
        "destinationAddressPrefixes": ["10.0.0.0/24", "11.0.0.0/24"], "sourcePortRanges": ["700-900", "1000-1100"],
        "access": "Allow", "priority": 1000, "direction": "Inbound"}}
    r = arm("PUT", _nsg_path(emulator) + "/securityRules/rule1", json=recorded)
    assert r.status_code == 201 and "Azure-AsyncOperation" in r.headers
    assert r.json()["properties"] == {
        "provisioningState": "Updating", "protocol": "*", "destinationPortRange": "4444", "sourceAddressPrefix": "*",
        "destinationAddressPrefix": "", "access": "Allow", "priority": 1000, "direction": "Inbound",
        "sourcePortRanges": ["700-900", "1000-1100"], "destinationPortRanges": [], "sourceAddressPrefixes": [],
        "destinationAddressPrefixes": ["10.0.0.0/24", "11.0.0.0/24"]}
    update = dict(recorded, properties={
        "protocol": "*", "sourcePortRange": "*", "sourceAddressPrefix": "",
        "sourceAddressPrefixes": ["10.0.0.0/24", "11.0.0.0/24"], "destinationAddressPrefix": "Internet",
        "destinationPortRanges": ["500-1000", "2000", "3000"], "access": "Allow", "priority": 1000,
        "direction": "Inbound"})
    r = arm("PUT", _nsg_path(emulator) + "/securityRules/rule1", json=update)
    assert r.status_code == 200 and r.json()["properties"]["destinationPortRanges"] == ["500-1000", "2000", "3000"]


@pytest.mark.parametrize("change,code", [
    ({"priority": 99}, "SecurityRuleInvalidPriority"),
    ({"priority": 4097}, "SecurityRuleInvalidPriority"),
    ({"priority": None}, "SecurityRuleInvalidPriority"),
    ({"protocol": "Tcpx"}, "InvalidRequestFormat"),
    ({"access": "Maybe"}, "InvalidRequestFormat"),
    ({"direction": None}, "InvalidRequestFormat"),
    ({"destinationPortRange": "70000"}, "SecurityRuleInvalidPortRange"),
    ({"destinationPortRange": "443,9400"}, "SecurityRuleInvalidPortRange"),
    ({"destinationPortRange": "2000-1000"}, "SecurityRuleInvalidPortRange"),
    ({"destinationPortRanges": ["443"]}, "SecurityRuleParameterContainsUnsupportedValue"),
    ({"destinationPortRange": None}, "SecurityRuleParameterContainsUnsupportedValue"),
    ({"sourceAddressPrefix": "not-a-prefix"}, "SecurityRuleInvalidAddressPrefix"),
    ({"sourceAddressPrefix": "300.1.1.1/8"}, "SecurityRuleInvalidAddressPrefix"),
])
def test_rule_validation(group, arm, emulator, change, code):
    assert arm("PUT", _nsg_path(emulator), json={"location": "westus"}).status_code == 201
    props = {"protocol": "Tcp", "sourcePortRange": "*", "destinationPortRange": "443",
             "sourceAddressPrefix": "Internet", "destinationAddressPrefix": "*", "access": "Allow",
             "priority": 300, "direction": "Inbound"}
    props = {k: v for k, v in {**props, **change}.items() if v is not None}
    r = arm("PUT", _nsg_path(emulator) + "/securityRules/r", json={"properties": props})
    assert r.status_code == 400 and r.json()["error"]["code"] == code, r.text
    if code == "SecurityRuleInvalidPriority":
        assert r.json()["error"]["message"].endswith("Allowed range 100-4096.")


def test_network_delete_on_the_wire(group, arm, emulator, admin):
    admin.configure(retry_after_seconds=1)  # the header as Azure sends it (tests default to 0)
    admin.configure(lro_seconds=0.6)
    assert arm("PUT", _nsg_path(emulator), json={"location": "westus"}).status_code == 201
    time.sleep(0.7)
    r = arm("DELETE", _nsg_path(emulator))
    assert r.status_code == 202 and r.headers["Retry-After"] == "1"
    base = f"{emulator.url}/subscriptions/{emulator.subscription_id}/providers/Microsoft.Network/locations/westus"
    assert r.headers["Location"].startswith(base + "/operationResults/")
    assert r.headers["Azure-AsyncOperation"].startswith(base + "/operations/")
    assert arm("GET", _nsg_path(emulator)).json()["properties"]["provisioningState"] == "Deleting"
    location = r.headers["Location"].replace(emulator.url, "")
    assert arm("GET", location.split("?")[0]).status_code == 202
    time.sleep(0.7)
    assert arm("GET", location.split("?")[0]).status_code == 200
    assert arm("GET", _nsg_path(emulator)).status_code == 404
    assert arm("DELETE", _nsg_path(emulator)).status_code == 204
    missing_rg = arm("GET", _nsg_path(emulator, rg="no-such-rg"))
    assert missing_rg.status_code == 404 and missing_rg.json()["error"]["code"] == "ResourceGroupNotFound"
    assert arm("PUT", _nsg_path(emulator), json={"tags": {}}).json()["error"]["code"] == "LocationRequired"
    bad = arm("PUT", _nsg_path(emulator), data=b"{", headers={"Content-Type": "application/json"})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "InvalidRequestContent"


# -- virtual networks, subnets, association ----------------------------------------------------------------------
def _vnet(network, subnets=()) -> VirtualNetwork:
    return network.virtual_networks.begin_create_or_update(RG, "vnet1", VirtualNetwork(
        location="westus", address_space=AddressSpace(address_prefixes=["10.0.0.0/16"]),
        subnets=list(subnets))).result()


def test_vnet_subnet_and_nsg_association(network):
    nsg = network.network_security_groups.begin_create_or_update(
        RG, "nsg1", NetworkSecurityGroup(location="westus")).result()
    vnet = _vnet(network, [Subnet(name="default", address_prefix="10.0.0.0/24")])
    assert vnet.provisioning_state == "Succeeded" and vnet.address_space.address_prefixes == ["10.0.0.0/16"]
    assert [(s.name, s.address_prefix, s.provisioning_state) for s in vnet.subnets] == [
        ("default", "10.0.0.0/24", "Succeeded")]

    subnet = network.subnets.begin_create_or_update(RG, "vnet1", "cluster", Subnet(
        address_prefix="10.0.1.0/24", network_security_group=NetworkSecurityGroup(id=nsg.id.upper()))).result()
    assert subnet.network_security_group.id == nsg.id and subnet.provisioning_state == "Succeeded"
    assert network.subnets.get(RG, "vnet1", "cluster").address_prefix == "10.0.1.0/24"
    assert [s.name for s in network.subnets.list(RG, "vnet1")] == ["default", "cluster"]
    assert [s.id for s in network.network_security_groups.get(RG, "nsg1").subnets] == [subnet.id]
    assert [v.name for v in network.virtual_networks.list(RG)] == ["vnet1"]
    assert [v.name for v in network.virtual_networks.list_all()] == ["vnet1"]

    with pytest.raises(HttpResponseError) as e:
        network.network_security_groups.begin_delete(RG, "nsg1").result()
    assert e.value.status_code == 400 and e.value.error.code == "InUseNetworkSecurityGroupCannotBeDeleted"
    assert subnet.id in e.value.error.message

    network.subnets.begin_create_or_update(RG, "vnet1", "cluster", Subnet(address_prefix="10.0.1.0/24")).result()
    assert not network.network_security_groups.get(RG, "nsg1").subnets
    network.network_security_groups.begin_delete(RG, "nsg1").result()

    network.subnets.begin_delete(RG, "vnet1", "cluster").result()
    assert [s.name for s in network.subnets.list(RG, "vnet1")] == ["default"]
    network.virtual_networks.begin_delete(RG, "vnet1").result()
    with pytest.raises(ResourceNotFoundError):
        network.virtual_networks.get(RG, "vnet1")


@pytest.mark.parametrize("prefix,nsg_id,code", [
    ("10.1.0.0/24", None, "NetcfgSubnetRangeOutsideVnet"),
    ("10.0.0.128/25", None, "NetcfgSubnetRangesOverlap"),
    ("10.0.2.1/24", None, "InvalidCIDRNotation"),
    ("10.0.2.0", None, "InvalidAddressPrefixFormat"),
    (None, None, "NetcfgInvalidSubnet"),
    ("10.0.2.0/24", "/subscriptions/{sub}/resourceGroups/rg-net/providers/Microsoft.Network/"
                    "networkSecurityGroups/missing", "InvalidResourceReference"),
])
def test_subnet_validation(network, emulator, prefix, nsg_id, code):
    _vnet(network, [Subnet(name="default", address_prefix="10.0.0.0/24")])
    subnet = Subnet(address_prefix=prefix)
    if nsg_id:
        subnet.network_security_group = NetworkSecurityGroup(id=nsg_id.format(sub=emulator.subscription_id))
    with pytest.raises(HttpResponseError) as e:
        network.subnets.begin_create_or_update(RG, "vnet1", "bad", subnet).result()
    assert e.value.status_code == 400 and e.value.error.code == code


def test_subnet_nsg_must_be_in_the_vnet_region(network):
    nsg = network.network_security_groups.begin_create_or_update(
        RG, "nsg-east", NetworkSecurityGroup(location="eastus")).result()
    _vnet(network)
    with pytest.raises(HttpResponseError) as e:
        network.subnets.begin_create_or_update(RG, "vnet1", "s", Subnet(
            address_prefix="10.0.0.0/24", network_security_group=NetworkSecurityGroup(id=nsg.id))).result()
    assert e.value.error.code == "InvalidResourceReference"
    with pytest.raises(ResourceNotFoundError) as e:
        network.subnets.get(RG, "no-vnet", "s")
    assert e.value.error.code == "ParentResourceNotFound"


# -- inbound_allows -----------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def local_state(tmp_path_factory):
    """An in-process emulator state (no server) to drive the models directly; its operations end at once."""
    state = EmulatorState(tmp_path_factory.mktemp("netstate"))
    state.timing.lro_seconds = 0
    return state


def _subnet_with(state, name: str, rules: list[dict] | None, *, dest_prefix: str = "10.0.1.0/24") -> str:
    """A fresh group holding an NSG with `rules` (None: no NSG) on subnet 10.0.1.0/24; returns the subnet id."""
    sub = state.boot.subscription_id
    resource_models.put_group(state, sub, name, {"location": "westus"})
    body: dict = {"location": "westus", "properties": {"addressSpace": {"addressPrefixes": ["10.0.0.0/16"]},
                                                       "subnets": [{"name": "s", "properties": {
                                                           "addressPrefix": dest_prefix}}]}}
    if rules is not None:
        nsg = network_models.put_nsg(state, sub, name, "nsg", {"location": "westus", "properties": {
            "securityRules": [{"name": f"r{i}", "properties": r} for i, r in enumerate(rules)]}})
        body["properties"]["subnets"][0]["properties"]["networkSecurityGroup"] = {"id": nsg.resource["id"]}
        arm_core.settle(state)  # a subnet may reference the NSG once its operation has ended
    vnet = network_models.put_vnet(state, sub, name, "vnet", body)
    return vnet.resource["properties"]["subnets"][0]["id"]


def _allow(priority, ports, source="*", protocol="Tcp", access="Allow", dest="*"):
    key = "destinationPortRanges" if isinstance(ports, list) else "destinationPortRange"
    return {"protocol": protocol, "access": access, "direction": "Inbound", "priority": priority,
            "sourcePortRange": "*", "sourceAddressPrefix": source, "destinationAddressPrefix": dest, key: ports}


@pytest.mark.parametrize("rules,port,expected", [
    (None, 443, True),                                                      # no NSG: nothing filters
    ([], 443, False),                                                       # defaults only: DenyAllInBound
    ([_allow(300, "443", "Internet")], 443, True),
    ([_allow(300, "443", "Internet")], 9400, False),
    ([_allow(300, ["443", "9400"], "HDInsight")], 9400, True),
    ([_allow(300, "1000-2000", "HDInsight.WestUS")], 1500, True),
    ([_allow(300, "*", "203.0.113.7/32")], 9400, True),                     # a client CIDR
    ([_allow(300, "443", "*", protocol="Udp")], 443, False),
    ([_allow(300, "443", "*", protocol="*")], 443, True),
    ([_allow(300, "443", "VirtualNetwork")], 443, False),                   # internal source only
    ([_allow(300, "443", "*", dest="192.168.0.0/24")], 443, False),         # does not reach the subnet
    ([_allow(300, "443", "*", dest="10.0.0.0/16")], 443, True),
    ([_allow(100, "443", "*", access="Deny"), _allow(200, "443")], 443, False),   # lower-numbered Deny wins
    ([_allow(200, "443", "*", access="Deny"), _allow(100, "443")], 443, True),
    ([_allow(100, "443", "Internet", access="Deny"), _allow(200, "*")], 443, False),
    ([_allow(100, "443", "198.51.100.0/24", access="Deny"), _allow(200, "443")], 443, True),  # narrow Deny
    ([_allow(100, "80", "*", access="Deny"), _allow(200, "*")], 443, True),  # Deny for another port
])
def test_inbound_allows(local_state, rules, port, expected, request):
    group = re.sub(r"[^a-z0-9]", "", request.node.callspec.id.lower())[:40] or "g"
    subnet_id = _subnet_with(local_state, group, rules)
    assert network_models.inbound_allows(local_state, subnet_id, port) is expected


def test_inbound_allows_unknown_subnet_is_unfiltered(local_state):
    sub = local_state.boot.subscription_id
    missing = f"/subscriptions/{sub}/resourceGroups/none/providers/Microsoft.Network/virtualNetworks/v/subnets/s"
    assert network_models.inbound_allows(local_state, missing, 443) is True


def test_inbound_allows_reads_what_the_sdk_wrote(network, emulator):
    """End to end: NSG and subnet made through the SDK, the question asked of the emulator's own store."""
    nsg = network.network_security_groups.begin_create_or_update(RG, "nsg1", NetworkSecurityGroup(
        location="westus", security_rules=[_rule(300, ["443", "9400"], name="rest")]
    )).result()
    _vnet(network)
    subnet = network.subnets.begin_create_or_update(RG, "vnet1", "s", Subnet(
        address_prefix="10.0.0.0/24", network_security_group=NetworkSecurityGroup(id=nsg.id))).result()
    view = types.SimpleNamespace(store=Store(emulator.data_dir / "state.sqlite3"))
    try:
        assert network_models.inbound_allows(view, subnet.id, 9400) is True
        assert network_models.inbound_allows(view, subnet.id.upper(), 443) is True
        assert network_models.inbound_allows(view, subnet.id, 22) is False
    finally:
        view.store.close()


def test_a_subnet_cannot_reference_an_nsg_still_updating(network, admin, emulator):
    """Azure refuses a reference to an NSG whose operation has not ended: 400 ReferencedResourceNotProvisioned,
    "Cannot proceed with operation because resource … used by resource … is not in Succeeded state …" (code and
    wording as public error reports quote Azure's answer). Once the NSG's operation has succeeded it is accepted
    (this is what `provision up` waits for before the VNet's PUT)."""
    admin.configure(lro_seconds=1)
    creating = network.network_security_groups.begin_create_or_update(
        RG, "nsg-new", NetworkSecurityGroup(location="westus"))
    nsg_id = _nsg_path(emulator, "nsg-new")
    subnet = Subnet(name="s", address_prefix="10.0.0.0/24", network_security_group=NetworkSecurityGroup(id=nsg_id))
    with pytest.raises(HttpResponseError) as e:
        _vnet(network, [subnet])
    assert e.value.status_code == 400 and e.value.error.code == "ReferencedResourceNotProvisioned"
    assert f"{nsg_id} used by resource" in e.value.error.message and "Updating state" in e.value.error.message
    assert creating.result().provisioning_state == "Succeeded"
    vnet = _vnet(network, [subnet])
    assert vnet.subnets[0].network_security_group.id.lower() == nsg_id.lower()
