"""Records, metadata and the parsing of the proxy's answers (no HTTP here).

The v1 API's documents disagree with the deployed service in places (reference: kafkarest-api.md §2.9), so the
parsers accept both forms where they differ: consume returns `{"records": [...]}` in practice (the swagger says a
bare array), and `NextOffset` is a response *header*, i.e. a string, that the swagger does not mention at all.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from provision.kafkarest.errors import ProtocolError, ValidationError

# Kafka's own rule for topic names (kafka.common.internals.Topic): legal characters, at most 249 of them.
_TOPIC_RE = re.compile(r"^[A-Za-z0-9._-]{1,249}$")


# -- input validation ---------------------------------------------------------------------------------------------
def check_topic(name: Any, field_name: str = "topic") -> str:
    if not isinstance(name, str) or not _TOPIC_RE.match(name) or name in (".", ".."):
        raise ValidationError(field_name, f"{name!r} is not a valid Kafka topic name",
                              "use 1-249 characters from letters, digits, '.', '_' and '-'")
    return name


def check_non_negative(value: Any, field_name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValidationError(field_name, f"{value!r} is not a non-negative integer", "pass 0 or more")
    return value


def check_positive(value: Any, field_name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValidationError(field_name, f"{value!r} is not a positive integer", "pass 1 or more")
    return value


def check_json(value: Any, field_name: str) -> Any:
    """Refuse what JSON cannot carry (NaN, infinities, sets, bytes...) before it reaches the wire."""
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as e:
        raise ValidationError(field_name, f"is not representable as JSON ({e})",
                              "use strings, numbers (not NaN/Infinity), booleans, null, lists and objects") from None
    return value


# -- produce ------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ProducerRecord:
    """One record to produce. `value` is any JSON value; `key` is optional (any JSON value, usually a string);
    `partition` pins the record to a partition, otherwise the proxy chooses (by key hash, or spreading)."""

    value: Any
    key: Any = None
    partition: int | None = None

    def to_wire(self) -> dict[str, Any]:
        body: dict[str, Any] = {"value": self.value}
        if self.key is not None:
            body["key"] = self.key
        if self.partition is not None:
            body["partition"] = self.partition
        return body


def as_producer_records(items: Iterable[Any], *, key: Any = None,
                        partition: int | None = None) -> list[ProducerRecord]:
    """Anything that is not already a ProducerRecord is a *value* (a dict is a JSON object value, never a record
    description), so every JSON shape can be sent unambiguously. `key`/`partition` are defaults for plain values."""
    if partition is not None:
        check_non_negative(partition, "partition")
    records = []
    for i, item in enumerate(items):
        rec = item if isinstance(item, ProducerRecord) else ProducerRecord(item, key, partition)
        check_json(rec.value, f"records[{i}].value")
        check_json(rec.key, f"records[{i}].key")
        if rec.partition is not None:
            check_non_negative(rec.partition, f"records[{i}].partition")
        records.append(rec)
    return records


def batches(records: list[ProducerRecord], max_records: int, max_bytes: int) -> list[list[dict[str, Any]]]:
    """Split records into request bodies of at most `max_records` records and about `max_bytes` of JSON
    (the proxy documents no limit; keeping requests small keeps a retried request cheap). A single record larger
    than max_bytes still goes, alone, and the proxy decides."""
    out: list[list[dict[str, Any]]] = []
    current: list[dict[str, Any]] = []
    size = 0
    for rec in records:
        wire = rec.to_wire()
        n = len(json.dumps(wire, separators=(",", ":"))) + 1
        if current and (len(current) >= max_records or size + n > max_bytes):
            out.append(current)
            current, size = [], 0
        current.append(wire)
        size += n
    if current:
        out.append(current)
    return out


@dataclass
class ProduceResult:
    """What a produce call did. `responses` are the proxy's bodies, one per request (the v1 API documents only
    `string`); `offsets` lists per-record results when the proxy reports them in Confluent's
    `{"offsets": [{"partition", "offset", ...}]}` form, else it is empty."""

    topic: str
    records: int
    requests: int
    responses: list[Any] = field(default_factory=list)
    offsets: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"topic": self.topic, "records": self.records, "requests": self.requests, "offsets": self.offsets}


# -- consume ------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ConsumedRecord:
    topic: str
    partition: int
    offset: int
    key: Any
    value: Any
    timestamp: int | None = None
    timestamp_type: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"topic": self.topic, "partition": self.partition, "offset": self.offset, "key": self.key,
                "value": self.value, "timestamp": self.timestamp, "timestampType": self.timestamp_type}


@dataclass(frozen=True)
class ConsumeResult:
    """One consume call: the records and the offset to ask for next."""

    records: list[ConsumedRecord]
    next_offset: int


def _int(value: Any, what: str) -> int:
    if isinstance(value, bool):
        raise ProtocolError(f"The proxy sent {what}={value!r}, expected an integer.")
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ProtocolError(f"The proxy sent {what}={value!r}, expected an integer.") from None
    if isinstance(value, float) and not (math.isfinite(value) and value == number):
        raise ProtocolError(f"The proxy sent {what}={value!r}, expected an integer.")
    return number


def parse_consume_body(body: Any, topic: str, partition: int) -> list[ConsumedRecord]:
    """`{"records": [...]}` (what the service and Microsoft's sample use) or a bare array (the swagger)."""
    items = body.get("records") if isinstance(body, dict) else body
    if items is None and isinstance(body, dict):
        items = []
    if not isinstance(items, list):
        raise ProtocolError(f"The consume answer is not a record list: {str(body)[:200]}")
    records = []
    for item in items:
        if not isinstance(item, dict) or "offset" not in item:
            raise ProtocolError(f"A consumed record has no offset: {str(item)[:200]}")
        ts = item.get("timestamp")
        records.append(ConsumedRecord(
            topic=item.get("topic", topic),
            partition=_int(item.get("partition", partition), "partition"),
            offset=_int(item["offset"], "offset"),
            key=item.get("key"),
            value=item.get("value"),
            timestamp=_int(ts, "timestamp") if ts is not None else None,
            timestamp_type=item.get("timestampType", item.get("timestamp_type")),
        ))
    return records


def parse_next_offset(header: str | None, requested: int, records: list[ConsumedRecord]) -> int:
    """The `NextOffset` header is a string (HTTP headers are); Microsoft's sample compares it with an int and never
    matches. Parse it, and never let it move backwards past records already returned (that would loop forever).
    Without a usable header: one past the last record, or the requested offset when nothing came back."""
    after_records = records[-1].offset + 1 if records else requested
    if header is None or not str(header).strip():
        return after_records
    try:
        value = int(str(header).strip())
    except ValueError:
        raise ProtocolError(f"The proxy sent NextOffset={header!r}, expected an integer.") from None
    return max(value, after_records)


# -- metadata -----------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Broker:
    id: int
    host: str | None
    port: int | None
    rack: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "hostName": self.host, "port": self.port, "rack": self.rack}


def parse_broker(doc: Any) -> Broker:
    """BrokerEndpoint: `{"hostName", "port", "id", "rack"}` (camelCase hostName, unlike everything else)."""
    if not isinstance(doc, Mapping) or "id" not in doc:
        raise ProtocolError(f"A broker entry has no id: {str(doc)[:200]}")
    port = doc.get("port")
    return Broker(id=_int(doc["id"], "id"), host=doc.get("hostName", doc.get("host")),
                  port=_int(port, "port") if port is not None else None, rack=doc.get("rack"))


@dataclass(frozen=True)
class PartitionMetadata:
    """`latest_offset` is the log-end offset (the offset the next record gets), as Kafka's ListOffsets(latest)
    reports it; so a partition holds `latest_offset - earliest_offset` records."""

    topic: str
    partition: int
    earliest_offset: int
    latest_offset: int
    leader: Broker | None
    replicas: list[Broker]
    isr: list[Broker]

    def to_dict(self) -> dict[str, Any]:
        return {"topic": self.topic, "partition_id": self.partition, "earliest_offset": self.earliest_offset,
                "latest_offset": self.latest_offset, "leader": self.leader.to_dict() if self.leader else None,
                "replicas": [b.to_dict() for b in self.replicas], "isr": [b.to_dict() for b in self.isr]}


def parse_partition(doc: Any, topic: str) -> PartitionMetadata:
    if not isinstance(doc, Mapping) or "partition_id" not in doc:
        raise ProtocolError(f"Partition metadata without partition_id: {str(doc)[:200]}")
    leader = doc.get("leader")
    return PartitionMetadata(
        topic=topic,
        partition=_int(doc["partition_id"], "partition_id"),
        earliest_offset=_int(doc.get("earliest_offset", 0), "earliest_offset"),
        latest_offset=_int(doc.get("latest_offset", 0), "latest_offset"),
        leader=parse_broker(leader) if leader else None,
        replicas=[parse_broker(b) for b in doc.get("replicas") or []],
        isr=[parse_broker(b) for b in doc.get("isr") or []],
    )


def parse_partitions(body: Any, topic: str) -> list[PartitionMetadata]:
    """`{"topic": ..., "partitions": [PartitionMetadataResponse...]}` (the swagger's TopicMetadaResponse)."""
    items = body.get("partitions") if isinstance(body, Mapping) else body
    if not isinstance(items, list):
        raise ProtocolError(f"The partitions answer has no partition list: {str(body)[:200]}")
    return sorted((parse_partition(p, topic) for p in items), key=lambda p: p.partition)


def parse_topics(body: Any) -> list[str]:
    items = body.get("topics") if isinstance(body, Mapping) else body
    if not isinstance(items, list) or not all(isinstance(t, str) for t in items):
        raise ProtocolError(f"The topics answer is not a list of names: {str(body)[:200]}")
    return sorted(items)


def parse_brokers(body: Any) -> list[Broker]:
    items = body.get("brokers") if isinstance(body, Mapping) else body
    if not isinstance(items, list):
        raise ProtocolError(f"The brokers answer has no broker list: {str(body)[:200]}")
    return sorted((parse_broker(b) for b in items), key=lambda b: b.id)
