"""The Kafka REST proxy data plane (API v1), driven with `requests` and azure-identity tokens, as Microsoft's
sample client does it."""

from __future__ import annotations

import os
import signal
import time
import uuid
from pathlib import Path
from typing import Any

import jwt
import pytest
import requests
from azure.identity import ClientSecretCredential
from cryptography.hazmat.primitives.asymmetric import rsa

from provision.emulator import launcher
from provision.emulator.services.kafkarest.models import murmur2
from tests.conftest import TEST_TIMING
from tests.emulator.test_hdinsight import Azure, World

HIB = "https://hib.azurehdinsight.net/.default"
CURRENT = {"version": "5.1", "kafka": "3.2"}  # the supported version (4.0 and 5.0 were retired on 31 March 2025)
# The six records of Microsoft's sample client (rest-proxy.md): one request, mixed value types.
SAMPLE_RECORDS = [
    {"key": "key1", "value": "**********"},
    {"value": 5, "partition": 0},
    {"value": 3.14},
    {"value": {"id": 1, "name": "HDInsight Kafka REST proxy"}},
    {"value": [{"id": 1, "name": "HDInsight Kafka REST proxy 1"}, {"id": 2, "name": "HDInsight Kafka REST proxy 2"}]},
    {"value": {"id": 1, "name": "HDInsight Kafka REST proxy", "details": {"nested": {"level": 3, "ok": True}}}},
]
SAMPLE_TOPIC = {"partition_count": 1, "replication_factor": 1,
                "topic_properties": {"retention.ms": 604800000, "min.insync.replicas": "1"}}


def credential(emulator, client_id: str, secret: str) -> ClientSecretCredential:
    return ClientSecretCredential(emulator.tenant_id, client_id, secret, authority=emulator.authority,
                                  disable_instance_discovery=True, connection_verify=str(emulator.ca_cert))


class Proxy:
    """A REST proxy client for one cluster, reaching it through the cluster's KafkaRestProxyPublicEndpoint."""

    def __init__(self, azure: Azure, rg: str, cluster: str, cred=None):
        self.azure = azure
        self.cluster = cluster
        endpoint = next(e for e in azure.hdi.clusters.get(rg, cluster).properties.connectivity_endpoints
                        if e.name == "KafkaRestProxyPublicEndpoint")
        self.base = f"https://{endpoint.location}/v1"
        self.cred = cred or azure.credential
        self.http = requests.Session()

    def close(self) -> None:
        self.http.close()

    def call(self, method: str, path: str, *, token: str | None | bool = True, **kw: Any) -> requests.Response:
        headers = kw.pop("headers", {})
        if token is True:
            token = self.cred.get_token(HIB).token
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return self.http.request(method, f"{self.base}{path}", headers=headers, verify=self.azure.verify,
                                 timeout=30, **kw)

    def create_topic(self, topic: str, body: dict | None = None, wait: bool = True) -> requests.Response:
        r = self.call("PUT", f"/topics/{topic}", json=body if body is not None else SAMPLE_TOPIC)
        assert r.status_code == 200, r.text
        while wait and topic not in self.call("GET", "/metadata/topics").json()["topics"]:
            time.sleep(0.05)
        return r

    def consume_all(self, topic: str, partition: int = 0, count: int = 2) -> list[dict[str, Any]]:
        """The sample's loop: follow NextOffset until it stops moving."""
        offset, records = 0, []
        while True:
            r = self.call("GET", f"/consumer/topics/{topic}/partitions/{partition}/offsets/{offset}",
                          params={"count": count})
            assert r.status_code == 200, r.text
            records += r.json()["records"]
            next_offset = r.headers["NextOffset"]
            if int(next_offset) == offset:
                return records
            offset = int(next_offset)


def running_cluster(azure: Azure, world: World, name: str = "kafka1", **kw: Any) -> Proxy:
    azure.hdi.clusters.begin_create(world.rg, name, world.body(**{**CURRENT, **kw})).result()
    return Proxy(azure, world.rg, name)


@pytest.fixture
def azure(emulator, operator_credential, arm_kwargs, admin):
    admin.configure(retry_after_seconds=0, cluster_create_seconds=0.3, membership_propagation_seconds=0.3)
    azure = Azure(emulator, operator_credential, arm_kwargs)
    yield azure
    azure.close()


@pytest.fixture
def world(azure) -> World:
    return World(azure)


@pytest.fixture
def proxy(azure, world):
    proxy = running_cluster(azure, world)
    time.sleep(0.3)  # the operator's membership reaches the proxy
    yield proxy
    proxy.close()


# -- the sample client's walk -----------------------------------------------------------------------------------
def test_microsoft_sample_records_round_trip_exactly(proxy):
    created = proxy.create_topic("hello_topic_abcdefg").json()
    assert created == {"topic": "hello_topic_abcdefg", **SAMPLE_TOPIC}
    r = proxy.call("POST", "/producer/topics/hello_topic_abcdefg", json={"records": SAMPLE_RECORDS})
    assert r.status_code == 200, r.text
    assert r.json() == {"offsets": [{"partition": 0, "offset": i} for i in range(6)]}

    records = proxy.consume_all("hello_topic_abcdefg", count=2)
    assert [rec["value"] for rec in records] == [s["value"] for s in SAMPLE_RECORDS]
    assert [type(rec["value"]) for rec in records] == [str, int, float, dict, list, dict]
    assert [rec["key"] for rec in records] == ["key1", None, None, None, None, None]
    assert [rec["offset"] for rec in records] == list(range(6))
    first = records[0]
    assert set(first) == {"topic", "key", "value", "partition", "offset", "timestamp", "timestampType"}
    assert first["topic"] == "hello_topic_abcdefg" and first["partition"] == 0
    assert abs(first["timestamp"] / 1000 - time.time()) < 60 and first["timestampType"] == "CREATE_TIME"

    # count defaults to 1; past the end there is nothing and NextOffset stays put.
    one = proxy.call("GET", "/consumer/topics/hello_topic_abcdefg/partitions/0/offsets/4")
    assert [x["offset"] for x in one.json()["records"]] == [4] and one.headers["NextOffset"] == "5"
    end = proxy.call("GET", "/consumer/topics/hello_topic_abcdefg/partitions/0/offsets/6", params={"count": 5})
    assert end.json() == {"records": []} and end.headers["NextOffset"] == "6"

    parts = proxy.call("GET", "/metadata/topics/hello_topic_abcdefg/partitions").json()
    assert parts["topic"] == "hello_topic_abcdefg" and len(parts["partitions"]) == 1
    part = proxy.call("GET", "/metadata/topics/hello_topic_abcdefg/partitions/0").json()
    assert part == parts["partitions"][0]
    assert (part["partition_id"], part["earliest_offset"], part["latest_offset"]) == (0, 0, 6)
    assert set(part["leader"]) == {"hostName", "port", "id", "rack"} and part["replicas"] == part["isr"] == [
        part["leader"]]
    brokers = proxy.call("GET", "/metadata/brokers").json()["brokers"]
    assert len(brokers) == 3 and [b["id"] for b in brokers] == [1001, 1002, 1003]
    assert proxy.call("GET", "/status").status_code == 200


def test_records_are_spread_by_key_hash_or_round_robin(proxy):
    proxy.create_topic("spread", {"partition_count": 3, "replication_factor": 3})
    keyed = [{"key": f"user-{i % 4}", "value": i} for i in range(12)]
    placed = proxy.call("POST", "/producer/topics/spread", json={"records": keyed}).json()["offsets"]
    by_key: dict[str, set[int]] = {}
    for rec, where in zip(keyed, placed):
        by_key.setdefault(rec["key"], set()).add(where["partition"])
    assert all(len(parts) == 1 for parts in by_key.values())  # one key, one partition
    for key, parts in by_key.items():  # where Kafka's default partitioner puts it
        assert parts == {(murmur2(key.encode()) & 0x7FFFFFFF) % 3}
    keyless = proxy.call("POST", "/producer/topics/spread", json={"records": [{"value": i} for i in range(6)]})
    assert sorted(o["partition"] for o in keyless.json()["offsets"]) == [0, 0, 1, 1, 2, 2]
    meta = proxy.call("GET", "/metadata/topics/spread/partitions").json()["partitions"]
    assert sum(p["latest_offset"] for p in meta) == 18 and all(len(p["replicas"]) == 3 for p in meta)


def test_murmur2_matches_kafka():
    # Test vectors of Kafka's UtilsTest.testMurmur2, as signed 32-bit integers.
    vectors = {"21": -973932308, "foobar": -790332482, "a-little-bit-long-string": -985981536,
               "a-little-bit-longer-string": -1486304829, "lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
               "abc": 479470107}
    for text, expected in vectors.items():
        value = murmur2(text.encode())
        assert (value - (1 << 32) if value >= 1 << 31 else value) == expected, text


def test_new_topics_become_visible_after_the_configured_delay(proxy, admin):
    admin.configure(topic_visibility_seconds=1.0)
    started = time.time()
    proxy.create_topic("slow", wait=False)
    if time.time() - started < 0.8:
        assert "slow" not in proxy.call("GET", "/metadata/topics").json()["topics"]
        assert proxy.call("POST", "/producer/topics/slow", json={"records": [{"value": 1}]}).status_code == 404
    time.sleep(max(0.0, 1.05 - (time.time() - started)))
    assert proxy.call("GET", "/metadata/topics").json() == {"topics": ["slow"]}
    assert proxy.call("POST", "/producer/topics/slow", json={"records": [{"value": 1}]}).status_code == 200


def test_delete_topic_extension_and_cluster_delete_removes_the_data(azure, world, proxy):
    proxy.create_topic("gone")
    proxy.call("POST", "/producer/topics/gone", json={"records": [{"value": "x"}]})
    assert proxy.call("DELETE", "/topics/gone").status_code == 200
    assert proxy.call("GET", "/metadata/topics").json() == {"topics": []}
    assert proxy.call("DELETE", "/topics/gone").status_code == 404

    proxy.create_topic("kept")
    azure.hdi.clusters.begin_delete(world.rg, "kafka1").result()
    assert proxy.call("GET", "/metadata/topics").status_code == 404
    again = running_cluster(azure, world)
    time.sleep(0.3)
    assert again.call("GET", "/metadata/topics").json() == {"topics": []}



def _proxy_rows(emulator) -> dict[str, int]:
    """Rows per clusterId in the REST proxy's tables, read from the emulator's SQLite file (the data plane cannot
    show data of a cluster that no longer exists)."""
    import sqlite3

    db = sqlite3.connect(f"file:{Path(emulator.data_dir) / 'state.sqlite3'}?mode=ro", uri=True)
    try:
        counts: dict[str, int] = {}
        for table in ("kafka_topics", "kafka_records"):
            for cluster_id, n in db.execute(f"SELECT cluster_id, COUNT(*) FROM {table} GROUP BY cluster_id"):
                counts[cluster_id] = counts.get(cluster_id, 0) + n
        return counts
    finally:
        db.close()


def test_resource_group_delete_removes_its_clusters_proxy_data_at_once(azure, world, proxy):
    """No cluster delete, no later cluster create: the group's deletion alone removes the data."""
    other = World(azure, rg="rg2", storage_name="hdistore2")
    kept = running_cluster(azure, other, "kafka2")
    time.sleep(0.3)
    for p in (proxy, kept):
        p.create_topic("orders")
        assert p.call("POST", "/producer/topics/orders", json={"records": SAMPLE_RECORDS}).status_code == 200
    gone_id = azure.hdi.clusters.get(world.rg, "kafka1").properties.cluster_id
    kept_id = azure.hdi.clusters.get(other.rg, "kafka2").properties.cluster_id
    assert _proxy_rows(azure.emulator) == {gone_id: 1 + len(SAMPLE_RECORDS), kept_id: 1 + len(SAMPLE_RECORDS)}

    azure.resources.resource_groups.begin_delete(world.rg).result()
    assert _proxy_rows(azure.emulator) == {kept_id: 1 + len(SAMPLE_RECORDS)}
    assert proxy.call("GET", "/metadata/topics").status_code == 404
    assert [r["value"] for r in kept.consume_all("orders", count=10)] == [s["value"] for s in SAMPLE_RECORDS]
    kept.close()


# -- access -----------------------------------------------------------------------------------------------------
def _signed(emulator, **claims: Any) -> str:
    """A token signed with the emulator's own key (read from its data directory), for lifetimes and tenants a
    token service would never issue."""
    from cryptography.hazmat.primitives import serialization

    key = serialization.load_pem_private_key((Path(emulator.data_dir) / "token-signing-key.pem").read_bytes(),
                                             password=None)
    now = int(time.time())
    body = {"aud": "https://hib.azurehdinsight.net", "iss": f"{emulator.url}/{emulator.tenant_id}/v2.0",
            "tid": emulator.tenant_id, "oid": str(uuid.uuid4()), "appid": emulator.client_id, "iat": now,
            "nbf": now, "exp": now + 3600, **claims}
    header = jwt.get_unverified_header(credential(emulator, emulator.client_id, emulator.client_secret)
                                       .get_token(HIB).token)
    return jwt.encode(body, key, algorithm="RS256", headers={"kid": header["kid"]})


def test_unauthenticated_calls_get_401(proxy, azure):
    emulator = azure.emulator
    missing = proxy.call("GET", "/metadata/topics", token=None)
    assert missing.status_code == 401 and missing.headers["WWW-Authenticate"].startswith("Bearer")
    assert missing.json()["error_code"] == 401 and "hib.azurehdinsight.net/.default" in missing.json()["message"]
    arm_token = azure.token("https://management.azure.com/.default")
    wrong_audience = proxy.call("GET", "/metadata/topics", token=arm_token)
    assert wrong_audience.status_code == 401 and "audience" in wrong_audience.json()["message"]
    assert proxy.call("GET", "/metadata/topics", token="not-a-jwt").status_code == 401
    stranger = jwt.encode({"aud": "https://hib.azurehdinsight.net", "exp": time.time() + 600},
                          rsa.generate_private_key(public_exponent=65537, key_size=2048), algorithm="RS256")
    assert proxy.call("GET", "/metadata/topics", token=stranger).status_code == 401
    expired = _signed(emulator, exp=int(time.time()) - 3600)
    assert "expired" in proxy.call("GET", "/metadata/topics", token=expired).json()["message"]
    other_tenant = _signed(emulator, tid=str(uuid.uuid4()))
    assert "tenant" in proxy.call("GET", "/metadata/topics", token=other_tenant).json()["message"]
    assert proxy.call("GET", "/status", token=None).status_code == 401


def test_non_members_get_403_until_added_within_the_propagation_bound(azure, proxy, world, admin):
    propagation = 1.0
    admin.configure(membership_propagation_seconds=propagation)
    app_id, sp_id, secret = azure.client_app("kafka-client-2")
    outsider = Proxy(azure, world.rg, "kafka1", credential(azure.emulator, app_id, secret))
    denied = outsider.call("GET", "/metadata/topics")
    assert denied.status_code == 403
    message = denied.json()["message"]
    assert "'kafka-clients'" in message and world.group in message and sp_id in message

    added = time.time()
    azure.add_member(world.group, sp_id)
    first = outsider.call("GET", "/metadata/topics")
    if time.time() - added < propagation:  # the proxy's view still trails the directory
        assert first.status_code == 403
    while outsider.call("GET", "/metadata/topics").status_code != 200:
        assert time.time() - added < propagation + 2, "membership did not reach the proxy in time"
        time.sleep(0.05)
    assert time.time() - added >= propagation * 0.9

    nested = azure.security_group("nested-clients")  # transitive membership counts too
    app2, sp2, secret2 = azure.client_app("kafka-client-3")
    azure.add_member(nested, sp2)
    azure.add_member(world.group, nested)
    time.sleep(propagation + 0.1)
    inner = Proxy(azure, world.rg, "kafka1", credential(azure.emulator, app2, secret2))
    assert inner.call("GET", "/metadata/topics").status_code == 200


# -- bad input --------------------------------------------------------------------------------------------------
def test_bad_requests(proxy):
    proxy.create_topic("t1", {"partition_count": 2, "replication_factor": 1})
    cases = [
        ("GET", "/metadata/topics/nope/partitions", {}, 404),
        ("GET", "/metadata/topics/t1/partitions/2", {}, 404),
        ("GET", "/metadata/topics/t1/partitions/x", {}, 400),
        ("GET", "/consumer/topics/nope/partitions/0/offsets/0", {}, 404),
        ("GET", "/consumer/topics/t1/partitions/5/offsets/0", {}, 404),
        ("GET", "/consumer/topics/t1/partitions/-1/offsets/0", {}, 400),
        ("GET", "/consumer/topics/t1/partitions/0/offsets/-1", {}, 400),
        ("GET", "/consumer/topics/t1/partitions/0/offsets/0", {"params": {"count": 0}}, 400),
        ("GET", "/consumer/topics/t1/partitions/0/offsets/0", {"params": {"count": 10001}}, 400),
        ("GET", "/consumer/topics/t1/partitions/0/offsets/0", {"params": {"count": "many"}}, 400),
        ("POST", "/producer/topics/nope", {"json": {"records": [{"value": 1}]}}, 404),
        ("POST", "/producer/topics/t1", {"data": "{not json", "headers": {"Content-Type": "application/json"}}, 400),
        ("POST", "/producer/topics/t1", {"json": {"records": [{"key": "k"}]}}, 400),
        ("POST", "/producer/topics/t1", {"json": {"records": []}}, 400),
        ("POST", "/producer/topics/t1", {"json": [{"value": 1}]}, 400),
        ("POST", "/producer/topics/t1", {"json": {"records": [{"value": 1, "partition": 7}]}}, 404),
        ("POST", "/producer/topics/t1", {"json": {"records": [{"value": 1, "partition": "0"}]}}, 400),
        ("POST", "/producer/topics/t1", {"json": {"records": [{"value": "x" * (1024 * 1024 + 100)}]}}, 413),
        ("POST", "/producer/topics/t1", {"data": b"[" + b"1," * (3 * 1024 * 1024) + b"1]",
                                          "headers": {"Content-Type": "application/json"}}, 413),
        ("PUT", "/topics/bad%20name", {"json": {}}, 400),
        ("PUT", "/topics/%2E%2E", {"json": {}}, 400),
        ("PUT", "/topics/" + "a" * 250, {"json": {}}, 400),
        ("PUT", "/topics/t2", {"json": {"partition_count": 0}}, 400),
        ("PUT", "/topics/t2", {"json": {"replication_factor": 4}}, 400),
        ("PUT", "/topics/t2", {"json": {"partition_count": "one"}}, 400),
        ("PUT", "/topics/t2", {"json": {"topic_properties": {"no.such.config": 1}}}, 400),
        ("PUT", "/topics/t1", {"json": {}}, 400),
        ("DELETE", "/topics/nope", {}, 404),
        ("GET", "/consumer/topics/t1/partitions/0/offsets/" + "9" * 30, {}, 400),
        ("GET", "/consumer/topics/t1/partitions/" + "9" * 30 + "/offsets/0", {}, 400),
        ("POST", "/producer/topics/t1", {"data": '{"records": [{"value": NaN}]}',
                                          "headers": {"Content-Type": "application/json"}}, 400),
        ("POST", "/producer/topics/t1", {"data": "[" * 100_000 + "]" * 100_000,
                                          "headers": {"Content-Type": "application/json"}}, 400),
        ("PUT", "/topics/t2", {"json": {"topic_properties": {"retention.ms": "a week"}}}, 400),
    ]
    for method, path, kw, status in cases:
        r = proxy.call(method, path, **kw)
        assert r.status_code == status, (method, path, r.status_code, r.text[:300])
        assert r.json()["error_code"] == status and r.json()["message"], (method, path)
    # Nothing was written by the refused requests.
    assert proxy.call("GET", "/metadata/topics").json() == {"topics": ["t1"]}
    assert proxy.call("GET", "/metadata/topics/t1/partitions/0").json()["latest_offset"] == 0
    # Kafka's messages for bad names and replication factors.
    assert "larger than available brokers: 3" in proxy.call("PUT", "/topics/t3", json={
        "replication_factor": 4}).json()["message"]
    assert "already exists" in proxy.call("PUT", "/topics/t1", json={}).json()["message"]
    # A topic may be created without a body: 1 partition, replication min(3, brokers).
    assert proxy.call("PUT", "/topics/t4").json() == {"topic": "t4", "partition_count": 1, "replication_factor": 3,
                                                      "topic_properties": {}}


def test_unknown_creating_or_plain_clusters_have_no_proxy(azure, world, admin):
    base = f"{azure.emulator.url}/kafkarest"
    token = azure.token(HIB)

    def status(name: str) -> int:
        return requests.get(f"{base}/{name}/v1/metadata/topics", headers={"Authorization": f"Bearer {token}"},
                            verify=azure.verify).status_code

    assert status("nosuchcluster") == 404
    admin.configure(cluster_create_seconds=30)
    azure.hdi.clusters.begin_create(world.rg, "creating1", world.body(**CURRENT))
    assert status("creating1") == 404  # not Running yet
    admin.configure(cluster_create_seconds=0.3)
    azure.hdi.clusters.begin_create(world.rg, "plain1", world.body(rest=False, **CURRENT)).result()
    assert status("plain1") == 404
    plain = azure.hdi.clusters.get(world.rg, "plain1").properties.connectivity_endpoints
    assert [e.name for e in plain] == ["SSH", "HTTPS"]
    unknown_route = requests.get(f"{base}/plain1/v2/topics", verify=azure.verify)
    assert unknown_route.status_code == 404 and unknown_route.json()["error_code"] == 404


# -- durability -------------------------------------------------------------------------------------------------

def _crash(info: launcher.EmulatorInfo) -> None:
    """Kill the emulator we started, as a crash would: no shutdown, no flush."""
    os.kill(info.pid, signal.SIGKILL)
    try:
        os.waitpid(info.pid, 0)  # our child: reap it
    except ChildProcessError:
        pass


def _own_emulator_env() -> dict[str, str]:
    """Quick timings for a test that runs an emulator of its own (restarts need their own data directory)."""
    return {f"PROVISION_EMULATOR_{k.upper()}": str(v) for k, v in
            {**TEST_TIMING, "retry_after_seconds": 0, "cluster_create_seconds": 0.3,
             "membership_propagation_seconds": 0.2}.items()}


def _connect(info: launcher.EmulatorInfo) -> Azure:
    kwargs = {"base_url": info.arm_url, "connection_verify": str(info.ca_cert), "polling_interval": 0.1,
              "retry_backoff_factor": 0.05}
    return Azure(info, credential(info, info.client_id, info.client_secret), kwargs)


def test_records_survive_a_crash_and_a_restart(tmp_path):
    """A separate emulator (its own data directory): killed after producing, started again, stopped, started."""
    data_dir, env = tmp_path / "emulator", _own_emulator_env()
    info = launcher.start(data_dir, env=env)
    try:
        azure = _connect(info)
        proxy = running_cluster(azure, World(azure))
        time.sleep(0.25)
        proxy.create_topic("durable")
        assert proxy.call("POST", "/producer/topics/durable", json={"records": SAMPLE_RECORDS}).status_code == 200
        proxy.close()
        azure.close()
    finally:
        _crash(info)
    for _ in range(2):  # after the crash, and after a clean stop
        info = launcher.start(data_dir, env=env)
        try:
            azure = _connect(info)
            proxy = Proxy(azure, "rg1", "kafka1")
            assert proxy.base == f"https://127.0.0.1:{info.port}/kafkarest/kafka1/v1"
            assert [r["value"] for r in proxy.consume_all("durable", count=4)] == [s["value"] for s in SAMPLE_RECORDS]
            # Responses are not kept: a live one holds its connection, and a stopping emulator waits for those.
            proxy.close()
            azure.close()
        finally:
            launcher.stop(data_dir)


def test_deletes_right_after_a_restart_purge_the_proxy_data_without_a_500(tmp_path):
    """The first use of the proxy's tables after a restart can be a purge inside `settle`'s transaction (a cluster
    or resource group deleted): the tables must exist from startup, not be created there (executescript COMMITs)."""
    data_dir, env = tmp_path / "emulator", _own_emulator_env()
    info = launcher.start(data_dir, env=env)
    try:
        azure = _connect(info)
        worlds = [World(azure), World(azure, rg="rg2", storage_name="hdistore2")]
        proxies = [running_cluster(azure, worlds[0], "kafka1"), running_cluster(azure, worlds[1], "kafka2")]
        time.sleep(0.25)
        for p in proxies:
            p.create_topic("orders")
            assert p.call("POST", "/producer/topics/orders", json={"records": SAMPLE_RECORDS}).status_code == 200
            p.close()
        ids = [azure.hdi.clusters.get(rg, name).properties.cluster_id for rg, name in (("rg1", "kafka1"),
                                                                                        ("rg2", "kafka2"))]
        azure.close()
    finally:
        launcher.stop(data_dir)
    deletes = [lambda azure: azure.hdi.clusters.begin_delete("rg1", "kafka1").result(),
               lambda azure: azure.resources.resource_groups.begin_delete("rg2").result()]
    for n, delete in enumerate(deletes):  # each one the first use of the proxy's tables since a restart
        info = launcher.start(data_dir, env=env)
        try:
            azure = _connect(info)
            delete(azure)
            errors = [e for e in launcher.Admin(info).requests() if e["status"] >= 500]
            assert errors == [], errors
            assert _proxy_rows(info) == ({ids[1]: 1 + len(SAMPLE_RECORDS)} if n == 0 else {})
            azure.close()
        finally:
            launcher.stop(data_dir)
    assert "cannot commit" not in (data_dir / "emulator.log").read_text()


def test_store_refuses_a_script_inside_a_transaction(tmp_path):
    from provision.emulator.state import EmulatorState

    state = EmulatorState(tmp_path)
    try:
        tables = {r["name"] for r in state.store.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert {"kafka_topics", "kafka_records"} <= tables  # created when the state opens, not on first use
        with pytest.raises(RuntimeError, match="inside a transaction"):
            with state.store.transaction():
                state.store.put("thing", "1", {"a": 1})
                state.store.executescript("CREATE TABLE IF NOT EXISTS t (x)")
        assert state.store.get("thing", "1") is None  # rolled back as a whole
    finally:
        state.store.close()
