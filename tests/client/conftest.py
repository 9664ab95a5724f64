"""Fixtures for the REST-proxy client tests: one Kafka cluster with the REST proxy, built once through the real SDKs.

The world: a resource group, a storage account, an Entra security group, two client apps (one a member of the
group, one not) and an HDInsight Kafka cluster whose REST proxy trusts that group — created with msgraph-sdk,
azure-mgmt-resource, azure-mgmt-storage and azure-mgmt-hdinsight against the emulator, as a user would.

Building it takes a few seconds (cluster creation and membership propagation are timed, even when shortened), so
these tests share one world instead of resetting the emulator before each test: this folder overrides the
top-level `_fresh_emulator` fixture to clear only faults and timing between tests. Tests use fresh topic names.
If another test folder reset the emulator in between (pytest-xdist can interleave), the world is rebuilt.
"""

from __future__ import annotations

import asyncio
import secrets
import string
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import TEST_TIMING

LOCATION = "eastus"
PASSWORD = "Em-" + secrets.token_urlsafe(12) + "9a!"  # HDInsight's rules: upper, lower, digit, symbol, 10+


@dataclass(frozen=True)
class Identity:
    name: str
    app_id: str
    sp_id: str
    secret: str


@dataclass
class World:
    endpoint: str
    cluster: str
    group_id: str
    group_name: str
    member: Identity
    outsider: Identity
    tenant_id: str
    authority: str
    ca_cert: str

    def settings(self, who: Identity | None = None) -> dict[str, str]:
        """The client configuration, as `provision access grant --out` writes it."""
        who = who or self.member
        return {"KAFKAREST_ENDPOINT": self.endpoint, "AZURE_TENANT_ID": self.tenant_id,
                "AZURE_CLIENT_ID": who.app_id, "AZURE_CLIENT_SECRET": who.secret,
                "AZURE_AUTHORITY_HOST": self.authority, "PROVISION_CA_BUNDLE": self.ca_cert}

    def write_config(self, path: Path, who: Identity | None = None) -> Path:
        path.write_text("".join(f"{k}={v}\n" for k, v in self.settings(who).items()))
        return path

    def credential(self, who: Identity | None = None):
        from azure.identity import ClientSecretCredential

        who = who or self.member
        return ClientSecretCredential(self.tenant_id, who.app_id, who.secret, authority=self.authority,
                                      disable_instance_discovery=True, connection_verify=self.ca_cert)

    def client(self, who: Identity | None = None, **kwargs):
        from provision.kafkarest import KafkaRestClient

        kwargs.setdefault("retry_backoff_factor", 0.05)
        return KafkaRestClient(self.endpoint, self.credential(who), ca_bundle=self.ca_cert, owns_credential=True,
                               **kwargs)


_worlds: dict[str, World] = {}


@pytest.fixture(autouse=True)
def _fresh_emulator(request: pytest.FixtureRequest):
    """Overrides tests/conftest.py's per-test reset (see the module docstring): faults and timing only."""
    if "emulator" in request.fixturenames:
        adm = request.getfixturevalue("admin")
        adm.clear_faults()
        adm.configure(**TEST_TIMING)
    yield


@pytest.fixture(autouse=True)
def _no_managed_identity_probe(monkeypatch: pytest.MonkeyPatch):
    """Should a test ever fall through to DefaultAzureCredential, keep it to local developer credentials: its
    managed-identity step would probe the IMDS address, and tests talk to nothing but loopback."""
    monkeypatch.setenv("AZURE_TOKEN_CREDENTIALS", "dev")


@pytest.fixture
def world(emulator, admin, graph_client_factory, operator_credential, arm_kwargs) -> World:
    cached = _worlds.get(emulator.url)
    if cached is not None and any(g["id"] == cached.group_id for g in admin.objects("group")):
        return cached
    admin.reset()
    admin.configure(**TEST_TIMING)
    # A Graph client of its own: msgraph's async client is bound to the event loop of the asyncio.run it first
    # ran in, so a test that also uses the `graph` fixture must not share it.
    built = _build_world(emulator, graph_client_factory(operator_credential), operator_credential, arm_kwargs)
    _worlds[emulator.url] = built
    return built


@pytest.fixture
def member_config(world: World, tmp_path: Path) -> Path:
    return world.write_config(tmp_path / "client.env")


@pytest.fixture
def outsider_config(world: World, tmp_path: Path) -> Path:
    return world.write_config(tmp_path / "outsider.env", world.outsider)


@pytest.fixture
def topic() -> str:
    return "t-" + "".join(secrets.choice(string.ascii_lowercase + string.digits) for _ in range(10))


@pytest.fixture
def kr(world: World):
    with world.client() as client:
        yield client


# -- building the world -------------------------------------------------------------------------------------------
def _build_world(emulator, graph, operator_credential, arm_kwargs) -> World:
    suffix = uuid.uuid4().hex[:8]
    group_name = f"kafka-clients-{suffix}"
    member, outsider, group_id = asyncio.run(_directory(graph, group_name, suffix))
    cluster = f"kc{suffix}"
    endpoint = _create_cluster(emulator, operator_credential, arm_kwargs, cluster, group_id, group_name, suffix)
    built = World(endpoint=endpoint, cluster=cluster, group_id=group_id, group_name=group_name, member=member,
                  outsider=outsider, tenant_id=emulator.tenant_id, authority=emulator.authority,
                  ca_cert=str(emulator.ca_cert))
    _wait_until_member_is_admitted(built)
    return built


async def _directory(graph, group_name: str, suffix: str) -> tuple[Identity, Identity, str]:
    from msgraph.generated.models.group import Group
    from msgraph.generated.models.reference_create import ReferenceCreate

    member = await _client_app(graph, f"kafka-client-{suffix}")
    outsider = await _client_app(graph, f"kafka-outsider-{suffix}")
    group = await graph.groups.post(Group(display_name=group_name, mail_enabled=False, mail_nickname=group_name,
                                          security_enabled=True))
    ref = ReferenceCreate(odata_id=f"https://graph.microsoft.com/v1.0/directoryObjects/{member.sp_id}")
    await graph.groups.by_group_id(group.id).members.ref.post(ref)
    return member, outsider, group.id


async def _client_app(graph, name: str) -> Identity:
    from msgraph.generated.applications.item.add_password.add_password_post_request_body import (
        AddPasswordPostRequestBody,
    )
    from msgraph.generated.models.application import Application
    from msgraph.generated.models.password_credential import PasswordCredential
    from msgraph.generated.models.service_principal import ServicePrincipal

    app = await graph.applications.post(Application(display_name=name))
    sp = await graph.service_principals.post(ServicePrincipal(app_id=app.app_id))
    pw = await graph.applications.by_application_id(app.id).add_password.post(
        AddPasswordPostRequestBody(password_credential=PasswordCredential(display_name="tests")))
    return Identity(name=name, app_id=app.app_id, sp_id=sp.id, secret=pw.secret_text)


def _create_cluster(emulator, credential, arm_kwargs, name: str, group_id: str, group_name: str,
                    suffix: str) -> str:
    from azure.mgmt.hdinsight import HDInsightManagementClient
    from azure.mgmt.hdinsight import models as hdi
    from azure.mgmt.resource.resources import ResourceManagementClient
    from azure.mgmt.storage import StorageManagementClient
    from azure.mgmt.storage import models as st

    sub, rg, account = emulator.subscription_id, f"rg-kafka-{suffix}", f"st{suffix}"
    ResourceManagementClient(credential, sub, **arm_kwargs).resource_groups.create_or_update(
        rg, {"location": LOCATION})
    storage = StorageManagementClient(credential, sub, **arm_kwargs)
    storage.storage_accounts.begin_create(rg, account, st.StorageAccountCreateParameters(
        sku=st.Sku(name="Standard_LRS"), kind="StorageV2", location=LOCATION)).result()
    # azure-mgmt-storage 25's models are mappings: `.keys` is the dict method, so read the wire field.
    key = storage.storage_accounts.list_keys(rg, account).as_dict()["keys"][0]["value"]

    login = hdi.OsProfile(linux_operating_system_profile=hdi.LinuxOperatingSystemProfile(
        username="sshuser", password=PASSWORD))

    def role(role_name: str, count: int, size: str, **extra) -> hdi.Role:
        return hdi.Role(name=role_name, target_instance_count=count, hardware_profile=hdi.HardwareProfile(vm_size=size),
                        os_profile=login, **extra)

    params = hdi.ClusterCreateParametersExtended(location=LOCATION, properties=hdi.ClusterCreateProperties(
        cluster_version="5.1", os_type=hdi.OSType.LINUX, tier=hdi.Tier.STANDARD,
        cluster_definition=hdi.ClusterDefinition(kind="kafka", component_version={"Kafka": "3.2"}, configurations={
            "gateway": {"restAuthCredential.isEnabled": True, "restAuthCredential.username": "admin",
                        "restAuthCredential.password": PASSWORD}}),
        kafka_rest_properties=hdi.KafkaRestProperties(
            client_group_info=hdi.ClientGroupInfo(group_id=group_id, group_name=group_name)),
        compute_profile=hdi.ComputeProfile(roles=[
            role("headnode", 2, "Standard_E4_v3"),
            role("workernode", 3, "Standard_E4_v3", data_disks_groups=[hdi.DataDisksGroups(disks_per_node=2)]),
            role("zookeepernode", 3, "Standard_A4_v2"),
            role("kafkamanagementnode", 2, "Standard_D4_v2"),
        ]),
        storage_profile=hdi.StorageProfile(storageaccounts=[hdi.StorageAccount(
            name=f"{account}.blob.core.windows.net", is_default=True, container=name, key=key)]),
        min_supported_tls_version="1.2"))
    client = HDInsightManagementClient(credential, sub, **arm_kwargs)
    cluster = client.clusters.begin_create(rg, name, params).result()
    location = next(e.location for e in cluster.properties.connectivity_endpoints
                    if e.name == "KafkaRestProxyPublicEndpoint")
    return f"https://{location}"


def _wait_until_member_is_admitted(world: World, timeout: float = 15.0) -> None:
    """The proxy sees group membership as it stood `membership_propagation_seconds` ago."""
    from provision.kafkarest import AccessDenied

    deadline = time.monotonic() + timeout
    with world.client() as client:
        while True:
            try:
                client.status()
                return
            except AccessDenied:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
