"""Parsing and validation in provision.kafkarest.models: no server needed."""

from __future__ import annotations

import json

import pytest

from provision.kafkarest import ProducerRecord, ProtocolError, ValidationError
from provision.kafkarest import models as m
from provision.kafkarest.client import normalize_endpoint, token_claims


def test_consume_body_records_object_and_bare_array():
    item = {"key": "k", "value": {"a": [1, 2.5]}, "partition": 0, "offset": 7, "timestamp": 1700000000000,
            "timestampType": "CREATE_TIME"}
    for body in ({"records": [item]}, [item]):
        (rec,) = m.parse_consume_body(body, "t", 0)
        assert (rec.topic, rec.partition, rec.offset, rec.key, rec.value) == ("t", 0, 7, "k", {"a": [1, 2.5]})
        assert rec.timestamp == 1700000000000 and rec.timestamp_type == "CREATE_TIME"
    assert m.parse_consume_body({"records": []}, "t", 0) == []
    assert m.parse_consume_body({}, "t", 0) == []


@pytest.mark.parametrize("body", ["oops", {"records": "x"}, {"records": [{"value": 1}]}, [{"offset": "x"}]])
def test_consume_body_malformed(body):
    with pytest.raises(ProtocolError):
        m.parse_consume_body(body, "t", 0)


def _recs(*offsets):
    return [m.ConsumedRecord("t", 0, o, None, o) for o in offsets]


@pytest.mark.parametrize("header,requested,offsets,expected", [
    ("12", 10, (10, 11), 12),  # the header is a string: parsed
    (" 12 ", 10, (10, 11), 12),
    (None, 10, (10, 11), 12),  # no header: one past the last record
    (None, 10, (), 10),  # nothing came back: stay
    ("10", 10, (), 10),
    ("3", 10, (10, 11), 12),  # a header behind the records must not make the reader loop
    ("20", 10, (10, 11), 20),  # gaps (compaction, transaction markers) are the proxy's call
])
def test_next_offset(header, requested, offsets, expected):
    assert m.parse_next_offset(header, requested, _recs(*offsets)) == expected


def test_next_offset_not_a_number():
    with pytest.raises(ProtocolError, match="NextOffset"):
        m.parse_next_offset("abc", 0, [])


def test_partition_metadata_and_brokers():
    broker = {"hostName": "wn0", "port": 9092, "id": 1001, "rack": "/fd0/ud0"}
    doc = {"topic": "t", "partitions": [
        {"partition_id": 1, "earliest_offset": 0, "latest_offset": 4, "leader": broker, "replicas": [broker],
         "isr": [broker]},
        {"partition_id": 0, "earliest_offset": 2, "latest_offset": 9, "leader": None, "replicas": [], "isr": []}]}
    parts = m.parse_partitions(doc, "t")
    assert [p.partition for p in parts] == [0, 1]
    assert parts[1].leader == m.Broker(1001, "wn0", 9092, "/fd0/ud0") and parts[0].leader is None
    assert parts[1].to_dict()["leader"]["hostName"] == "wn0"
    assert m.parse_brokers({"brokers": [broker]}) == [m.Broker(1001, "wn0", 9092, "/fd0/ud0")]
    assert m.parse_topics({"topics": ["b", "a"]}) == ["a", "b"]
    with pytest.raises(ProtocolError):
        m.parse_partition({"earliest_offset": 0}, "t")


@pytest.mark.parametrize("name", ["", ".", "..", "a b", "x" * 250, "ü", None, "a/b"])
def test_bad_topic_names(name):
    with pytest.raises(ValidationError, match="topic"):
        m.check_topic(name)


def test_good_topic_names():
    for name in ("a", "A.b_c-1", "x" * 249):
        assert m.check_topic(name) == name


def test_producer_records_are_unambiguous():
    """A dict is a JSON object value, never a record description; ProducerRecord carries key/partition."""
    recs = m.as_producer_records([{"value": 1}, ProducerRecord(2, key="k", partition=1), "s"], key="d")
    assert [r.to_wire() for r in recs] == [
        {"value": {"value": 1}, "key": "d"}, {"value": 2, "key": "k", "partition": 1}, {"value": "s", "key": "d"}]
    assert ProducerRecord(None).to_wire() == {"value": None}


@pytest.mark.parametrize("value", [float("nan"), float("inf"), {1, 2}, b"raw"])
def test_values_must_be_json(value):
    with pytest.raises(ValidationError, match=r"records\[0\]\.value"):
        m.as_producer_records([value])


def test_batches_by_count_and_bytes():
    recs = m.as_producer_records(range(7))
    assert [len(b) for b in m.batches(recs, 3, 10**6)] == [3, 3, 1]
    big = m.as_producer_records(["x" * 100] * 5)
    sizes = [len(b) for b in m.batches(big, 100, 250)]
    assert sizes == [2, 2, 1]
    # one record larger than the byte budget still goes, alone
    assert [len(b) for b in m.batches(m.as_producer_records(["y" * 1000, 1]), 10, 100)] == [1, 1]


def test_endpoint_forms():
    base = "https://c-kafkarest.azurehdinsight.net"
    for form in (base, base + "/", base + "/v1", base + "/v1/", f"  {base}  "):
        assert normalize_endpoint(form) == base
    assert normalize_endpoint("https://127.0.0.1:8443/kafkarest/c1/") == "https://127.0.0.1:8443/kafkarest/c1"
    for bad in ("", "http://c-kafkarest.azurehdinsight.net", "c-kafkarest.azurehdinsight.net", None, "https://"):
        with pytest.raises(ValidationError, match="KAFKAREST_ENDPOINT"):
            normalize_endpoint(bad)


def test_token_claims_for_diagnostics():
    import base64

    payload = base64.urlsafe_b64encode(json.dumps({"aud": "x", "tid": "t"}).encode()).rstrip(b"=").decode()
    assert token_claims(f"h.{payload}.s") == {"aud": "x", "tid": "t"}
    assert token_claims("opaque") == {}
