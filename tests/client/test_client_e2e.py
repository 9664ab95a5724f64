"""KafkaRestClient against the emulator's REST proxy, through the real azure-identity / azure-core stack."""

from __future__ import annotations

import json
import math
import threading
import time

import pytest

from provision.kafkarest import (
    AccessDenied,
    AuthenticationError,
    ConnectionFailed,
    KafkaRestClient,
    NotFound,
    ProducerRecord,
    ServiceUnavailable,
    TokenError,
    TopicExists,
    TopicNotVisible,
)
from provision.kafkarest.smoke import SAMPLE_RECORDS


def kafkarest_requests(admin, since: int, fragment: str = "") -> list[dict]:
    return [r for r in admin.requests(since) if r["family"] == "kafkarest" and fragment in r["path"]]


def token_requests(admin, since: int) -> list[dict]:
    return [r for r in admin.requests(since) if r["path"].endswith("/oauth2/v2.0/token")]


def test_status_brokers_topics_partitions(kr, topic):
    assert kr.status() == {"status": "running"}
    brokers = kr.brokers()
    assert len(brokers) == 3 and all(b.port == 9092 and b.host for b in brokers)
    kr.create_topic(topic, partitions=3, replication_factor=2, config={"retention.ms": 86400000})
    assert topic in kr.list_topics()
    parts = kr.partitions(topic)
    assert [p.partition for p in parts] == [0, 1, 2]
    assert all(p.earliest_offset == p.latest_offset == 0 and len(p.replicas) == 2 and p.leader for p in parts)
    assert kr.partition(topic, 2) == parts[2]
    with pytest.raises(TopicExists, match=topic):
        kr.create_topic(topic)
    kr.create_topic(topic, exist_ok=True)  # the proxy says 400 "already exists": exist_ok absorbs it


def test_six_value_types_round_trip_byte_exact(kr, topic):
    kr.create_topic(topic)
    result = kr.produce(topic, SAMPLE_RECORDS)
    assert (result.records, result.requests) == (6, 1)
    assert [o["offset"] for o in result.offsets] == list(range(6))
    got = kr.consume(topic, 0, 0, count=10)
    assert got.next_offset == 6
    assert [json.dumps(r.value) for r in got.records] == [json.dumps(s.value) for s in SAMPLE_RECORDS]
    assert [type(r.value) for r in got.records] == [str, int, float, dict, list, dict]
    assert got.records[0].key == "key1" and all(r.key is None for r in got.records[1:])
    assert [r.offset for r in got.records] == list(range(6)) and got.records[0].timestamp_type == "CREATE_TIME"


def test_iterator_reads_1000_records_once_in_order_in_ceil_pages(kr, topic, admin):
    kr.create_topic(topic)
    produced = kr.produce(topic, ({"n": i, "pad": "x" * (i % 7)} for i in range(1000)), batch_size=400)
    assert (produced.records, produced.requests) == (1000, 3)
    page = 128
    seq = admin.last_seq()
    records = list(kr.iter_records(topic, page_size=page))
    assert [r.offset for r in records] == list(range(1000))
    assert [r.value["n"] for r in records] == list(range(1000))
    consume_calls = kafkarest_requests(admin, seq, "/consumer/")
    assert len(consume_calls) == math.ceil(1000 / page)  # no trailing empty page
    assert [c["status"] for c in consume_calls] == [200] * len(consume_calls)
    # Caught up: iterating from the end asks the partition's log end and stops, without consuming.
    seq = admin.last_seq()
    assert list(kr.iter_records(topic, offset="latest")) == []
    assert list(kr.iter_records(topic, offset=1000)) == []
    assert kafkarest_requests(admin, seq, "/consumer/") == []
    assert [r.offset for r in kr.iter_records(topic, offset=995, page_size=2)] == [995, 996, 997, 998, 999]
    assert [r.offset for r in kr.iter_records(topic, offset="earliest", limit=3)] == [0, 1, 2]


def test_iterator_follow_picks_up_new_records(kr, world, topic):
    kr.create_topic(topic)
    kr.produce(topic, [0, 1])

    def later():
        time.sleep(0.4)
        with world.client() as other:
            other.produce(topic, [2, 3, 4])

    writer = threading.Thread(target=later)
    writer.start()
    started = time.monotonic()
    values = [r.value for r in kr.iter_records(topic, follow=True, poll_interval=0.1, limit=5)]
    writer.join()
    assert values == [0, 1, 2, 3, 4] and time.monotonic() - started < 5


def test_partitioning_keys_and_explicit_partitions(kr, topic):
    kr.create_topic(topic, partitions=4)
    kr.produce(topic, ["a", "b", "c"], key="same-key")
    kr.produce(topic, [ProducerRecord("pinned", partition=3)])
    counts = {p.partition: p.latest_offset for p in kr.partitions(topic)}
    assert sorted(counts.values())[-1] >= 3 and sum(counts.values()) == 4 and counts[3] >= 1
    keyed = [p for p, n in counts.items() if n >= 3]
    assert len(keyed) == 1  # one key, one partition
    assert [r.value for r in kr.iter_records(topic, keyed[0])][:3] == ["a", "b", "c"]


def test_create_waits_for_visibility_by_polling(kr, admin, topic):
    admin.configure(topic_visibility_seconds=0.8)
    seq = admin.last_seq()
    started = time.monotonic()
    kr.create_topic(topic)
    waited = time.monotonic() - started
    assert 0.7 < waited < 4  # polled until listed, not a fixed sleep
    assert len(kafkarest_requests(admin, seq, "/metadata/topics")) >= 3
    admin.configure(topic_visibility_seconds=30)
    with pytest.raises(TopicNotVisible, match="within 0.3s"):
        kr.create_topic(topic + "-slow", timeout=0.3)


def test_delete_topic(kr, topic):
    kr.create_topic(topic)
    kr.produce(topic, [1])
    kr.delete_topic(topic, wait=True)
    assert topic not in kr.list_topics()
    with pytest.raises(NotFound) as info:
        kr.delete_topic(topic)
    assert info.value.topic == topic and f"Topic {topic!r} not found" in str(info.value)


def test_404_names_the_topic_or_partition(kr, topic):
    with pytest.raises(NotFound, match="Topic 'no-such-topic' not found"):
        kr.partitions("no-such-topic")
    with pytest.raises(NotFound, match="Topic 'no-such-topic' not found"):
        list(kr.iter_records("no-such-topic", offset=0))
    kr.create_topic(topic, partitions=2)
    with pytest.raises(NotFound) as info:
        kr.partition(topic, 7)
    assert (info.value.topic, info.value.partition, info.value.status) == (topic, 7, 404)
    assert f"Partition 7 of topic {topic!r} not found" in str(info.value)
    with pytest.raises(NotFound, match="Partition 5 of topic"):
        kr.consume(topic, 5, 0)


def test_token_is_cached_then_renewed_before_expiry(world, admin, topic):
    """Default lifetime: one token for many calls. A short lifetime: azure-identity and the pipeline renew the token
    before it expires (both refresh within five minutes of expiry), so no call ever fails."""

    class Recorder:  # records what the real credential hands out; adds nothing else
        def __init__(self, inner):
            self.inner, self.issued = inner, []

        def get_token(self, *scopes, **kwargs):
            token = self.inner.get_token(*scopes, **kwargs)
            self.issued.append(token)
            return token

    seq = admin.last_seq()
    with KafkaRestClient(world.endpoint, world.credential(), ca_bundle=world.ca_cert) as client:
        client.create_topic(topic)
        for _ in range(5):
            client.list_topics()
    assert len(token_requests(admin, seq)) == 1

    admin.configure(token_lifetime_seconds=2)
    seq = admin.last_seq()
    recorder = Recorder(world.credential())
    with KafkaRestClient(world.endpoint, recorder, ca_bundle=world.ca_cert) as client:
        client.produce(topic, [1])
        first = recorder.issued[-1]
        time.sleep(2.3)  # the first token has now expired
        client.produce(topic, [2])
        assert [r.value for r in client.iter_records(topic)] == [1, 2]
    second = recorder.issued[-1]
    assert second.token != first.token and second.expires_on > first.expires_on
    assert first.expires_on < time.time()
    calls = kafkarest_requests(admin, seq)
    assert calls and all(c["status"] == 200 for c in calls)  # renewed before use: no 401, no retry
    assert len(token_requests(admin, seq)) >= 2


def test_401_explains_the_token_problem(world, admin):
    wrong_scope = KafkaRestClient(world.endpoint, world.credential(), scope="https://management.azure.com/.default",
                                  ca_bundle=world.ca_cert)
    with wrong_scope, pytest.raises(AuthenticationError) as info:
        wrong_scope.list_topics()
    msg = str(info.value)
    assert info.value.status == 401 and "Invalid audience" in msg
    assert "audience 'https://management.azure.com'" in msg and "https://hib.azurehdinsight.net/.default" in msg
    assert "tenant" in msg and "secret" in msg and "KAFKAREST_SCOPE" in msg
    # A wrong secret never reaches the proxy: Entra ID refuses the token, and the error says so.
    from azure.identity import ClientSecretCredential

    bad = ClientSecretCredential(world.tenant_id, world.member.app_id, "wrong-secret", authority=world.authority,
                                 disable_instance_discovery=True, connection_verify=world.ca_cert)
    with KafkaRestClient(world.endpoint, bad, ca_bundle=world.ca_cert) as client:
        with pytest.raises(TokenError, match=r"AADSTS7000215.*AZURE_CLIENT_ID") as info:
            client.status()
    assert "\n" not in str(info.value) and "Trace ID" not in str(info.value)


def test_403_says_who_is_not_in_the_group_and_how_to_fix_it(world):
    with world.client(world.outsider) as client, pytest.raises(AccessDenied) as info:
        client.list_topics()
    msg = str(info.value)
    assert info.value.status == 403
    assert world.outsider.name in msg and world.outsider.app_id in msg and world.outsider.sp_id in msg
    assert f"provision access grant {world.outsider.name}" in msg
    assert f"az ad group member add --group <cluster security group> --member-id {world.outsider.sp_id}" in msg
    assert world.group_name in msg  # the proxy's own message names the group


@pytest.mark.parametrize("status", [429, 503])
def test_throttling_and_outages_are_retried(kr, admin, topic, status):
    kr.create_topic(topic)
    admin.add_fault(action="status", status=status, retry_after=1, path="/kafkarest/", count=1)
    seq = admin.last_seq()
    started = time.monotonic()
    assert topic in kr.list_topics()
    assert time.monotonic() - started >= 0.9  # Retry-After honoured
    assert [c["status"] for c in kafkarest_requests(admin, seq)] == [status, 200]
    # produce is a POST: retried on 429 with Retry-After and on 503 as well
    admin.add_fault(action="status", status=status, retry_after=1, path="/producer/", count=1)
    seq = admin.last_seq()
    assert kr.produce(topic, ["once"]).records == 1
    assert [c["status"] for c in kafkarest_requests(admin, seq, "/producer/")] == [status, 200]
    assert [r.value for r in kr.iter_records(topic)] == ["once"]


def test_dropped_connection_retried_and_persistent_outage_reported(world, admin, topic):
    with world.client(retry_total=2) as client:
        client.create_topic(topic)
        admin.add_fault(action="drop", path="/metadata/", methods=["GET"], count=1)
        assert topic in client.list_topics()
        admin.add_fault(action="status", status=503, path="/kafkarest/")
        with pytest.raises(ServiceUnavailable, match=r"failed list topics \(503.*after 2 retries"):
            client.list_topics()


def test_unreachable_endpoint(world):
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with KafkaRestClient(f"https://127.0.0.1:{port}/kafkarest/x", world.credential(), ca_bundle=world.ca_cert,
                         retry_backoff_factor=0.01) as client:
        with pytest.raises(ConnectionFailed, match=f"Could not reach the REST proxy at https://127.0.0.1:{port}"):
            client.status()
