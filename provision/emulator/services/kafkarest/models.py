"""The Kafka side of the REST proxy: topics, partitions and records, kept in the emulator's SQLite file.

Two tables of our own (emptied by the emulator's reset like every service table):
- `kafka_topics`: one row per topic of a cluster (keyed by the cluster's `clusterId`, so a cluster deleted and
  created again under the same name starts empty).
- `kafka_records`: the log. Offsets are per partition, from 0, +1 per record, assigned inside one SQLite
  transaction per produce request — so a restart (or a crash) loses nothing that was acknowledged.
Keys and values are stored as JSON text and returned as the same JSON value (string, number, object, list...).

No HTTP here: functions raise `KafkaRestError` with the status the proxy answers.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from typing import Any

from provision.emulator.state import EmulatorState
from provision.emulator.store import register_schema
from provision.emulator.wire import KafkaRestError

SCHEMA = """
CREATE TABLE IF NOT EXISTS kafka_topics (
    cluster_id  TEXT NOT NULL,
    name        TEXT NOT NULL,
    partitions  INTEGER NOT NULL,
    replication INTEGER NOT NULL,
    config      TEXT NOT NULL,
    created     REAL NOT NULL,
    PRIMARY KEY (cluster_id, name)
);
CREATE TABLE IF NOT EXISTS kafka_records (
    cluster_id TEXT NOT NULL,
    topic      TEXT NOT NULL,
    partition  INTEGER NOT NULL,
    "offset"   INTEGER NOT NULL,
    key        TEXT,
    value      TEXT,
    timestamp  INTEGER NOT NULL,
    size       INTEGER NOT NULL,
    PRIMARY KEY (cluster_id, topic, partition, "offset")
) WITHOUT ROWID;
"""

TOPIC_NAME = re.compile(r"^[a-zA-Z0-9._-]+$")
MAX_TOPIC_NAME = 249
MAX_PARTITIONS = 10_000  # the emulator's cap on partition_count
DEFAULT_MAX_MESSAGE_BYTES = 1_048_588  # Kafka's message.max.bytes default
BROKER_PORT = 9092
# Topic-level configs Kafka accepts (Kafka 2.x-3.x `kafka-configs --entity-type topics`); others are refused.
TOPIC_CONFIGS = {
    "cleanup.policy", "compression.type", "delete.retention.ms", "file.delete.delay.ms", "flush.messages",
    "flush.ms", "follower.replication.throttled.replicas", "index.interval.bytes",
    "leader.replication.throttled.replicas", "local.retention.bytes", "local.retention.ms",
    "max.compaction.lag.ms", "max.message.bytes", "message.downconversion.enable", "message.format.version",
    "message.timestamp.difference.max.ms", "message.timestamp.type", "message.timestamp.before.max.ms",
    "message.timestamp.after.max.ms", "min.cleanable.dirty.ratio", "min.compaction.lag.ms", "min.insync.replicas",
    "preallocate", "remote.storage.enable", "retention.bytes", "retention.ms", "segment.bytes",
    "segment.index.bytes", "segment.jitter.ms", "segment.ms", "unclean.leader.election.enable",
}

LONG_CONFIGS = {
    "delete.retention.ms", "file.delete.delay.ms", "flush.messages", "flush.ms", "index.interval.bytes",
    "local.retention.bytes", "local.retention.ms", "max.compaction.lag.ms", "max.message.bytes",
    "message.timestamp.difference.max.ms", "message.timestamp.before.max.ms", "message.timestamp.after.max.ms",
    "min.compaction.lag.ms", "min.insync.replicas", "retention.bytes", "retention.ms", "segment.bytes",
    "segment.index.bytes", "segment.jitter.ms", "segment.ms",
}

register_schema("kafkarest", SCHEMA)  # created by EmulatorState at startup, never on first use
_round_robin: dict[tuple[str, str], int] = {}  # keyless records spread over partitions (not durable: no need)


def _store(state: EmulatorState):
    return state.store


# -- topics -----------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Topic:
    name: str
    partitions: int
    replication: int
    config: dict[str, Any]
    created: float

    def public(self) -> dict[str, Any]:
        return {"topic": self.name, "partition_count": self.partitions, "replication_factor": self.replication,
                "topic_properties": self.config}


def check_topic_name(name: str) -> None:
    """Kafka's own rules (org.apache.kafka.common.internals.Topic.validate), with its messages."""
    if not name:
        raise KafkaRestError("Topic name is illegal, it can't be empty")
    if name in (".", ".."):
        raise KafkaRestError("Topic name cannot be \".\" or \"..\"")
    if len(name) > MAX_TOPIC_NAME:
        raise KafkaRestError(f"Topic name is illegal, it can't be longer than {MAX_TOPIC_NAME} characters, topic "
                             f"name: {name}")
    if not TOPIC_NAME.match(name):
        raise KafkaRestError(f"Topic name \"{name}\" is illegal, it contains a character other than ASCII "
                             f"alphanumerics, '.', '_' and '-'")


def _topic(row) -> Topic:
    return Topic(row["name"], row["partitions"], row["replication"], json.loads(row["config"]), row["created"])


def find_topic(state: EmulatorState, cluster_id: str, name: str, *, visible_only: bool = True) -> Topic | None:
    row = _store(state).execute("SELECT * FROM kafka_topics WHERE cluster_id=? AND name=?",
                                (cluster_id, name)).fetchone()
    if row is None:
        return None
    topic = _topic(row)
    return topic if not visible_only or is_visible(state, topic) else None


def is_visible(state: EmulatorState, topic: Topic) -> bool:
    """A new topic shows up after `timing.topic_visibility_seconds` (the proxy's metadata cache, per the docs)."""
    return time.time() - topic.created >= float(state.timing.topic_visibility_seconds)


def require_topic(state: EmulatorState, cluster_id: str, name: str) -> Topic:
    check_topic_name(name)
    topic = find_topic(state, cluster_id, name)
    if topic is None:
        raise KafkaRestError(f"Topic '{name}' not found.", status=404)
    return topic


def list_topics(state: EmulatorState, cluster_id: str) -> list[str]:
    rows = _store(state).execute("SELECT * FROM kafka_topics WHERE cluster_id=? ORDER BY name",
                                 (cluster_id,)).fetchall()
    return [t.name for t in map(_topic, rows) if is_visible(state, t)]


def _int_field(body: dict[str, Any], field: str, default: int) -> int:
    value = body.get(field, default)
    if value is None:
        return default
    if not isinstance(value, int) or isinstance(value, bool):
        raise KafkaRestError(f"'{field}' must be an integer.")
    return value


def topic_settings(body: Any, brokers: int) -> tuple[int, int, dict[str, Any]]:
    """partition_count (default 1), replication_factor (default min(3, brokers)) and topic_properties."""
    body = body or {}
    if not isinstance(body, dict):
        raise KafkaRestError("The topic creation record must be a JSON object.")
    partitions = _int_field(body, "partition_count", 1)
    replication = _int_field(body, "replication_factor", min(3, brokers))
    if not 1 <= partitions <= MAX_PARTITIONS:
        raise KafkaRestError(f"Number of partitions must be between 1 and {MAX_PARTITIONS}; got {partitions}.")
    if replication < 1:
        raise KafkaRestError(f"Replication factor must be larger than 0; got {replication}.")
    if replication > brokers:
        raise KafkaRestError(f"Replication factor: {replication} larger than available brokers: {brokers}.")
    config = body.get("topic_properties") or {}
    if not isinstance(config, dict):
        raise KafkaRestError("'topic_properties' must be a JSON object of topic configuration values.")
    for name, value in config.items():
        check_config(name, value)
    return partitions, replication, config


def check_config(name: str, value: Any) -> None:
    """Kafka's own checks on a topic config (ConfigDef): a known name, and a number where Kafka wants a LONG."""
    if name not in TOPIC_CONFIGS:
        raise KafkaRestError(f"Unknown topic config name: {name}")
    if not isinstance(value, (str, int, float, bool)):
        raise KafkaRestError(f"Invalid value {json.dumps(value)} for configuration {name}: a string or a number "
                             f"is expected.")
    if name in LONG_CONFIGS and _as_long(value) is None:
        raise KafkaRestError(f"Invalid value {value} for configuration {name}: Not a number of type LONG")


def _as_long(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return None


def create_topic(state: EmulatorState, cluster_id: str, name: str, body: Any, brokers: int) -> Topic:
    """Create a topic. One that exists already (even not yet visible) is refused with 400, as Kafka refuses it
    (TopicExistsException): creation is not idempotent."""
    check_topic_name(name)
    partitions, replication, config = topic_settings(body, brokers)
    store = _store(state)
    with store.transaction():
        if find_topic(state, cluster_id, name, visible_only=False) is not None:
            raise KafkaRestError(f"Topic '{name}' already exists.")
        now = time.time()
        store.execute("INSERT INTO kafka_topics(cluster_id, name, partitions, replication, config, created) "
                      "VALUES (?,?,?,?,?,?)", (cluster_id, name, partitions, replication, json.dumps(config), now))
    return Topic(name, partitions, replication, config, now)


def delete_topic(state: EmulatorState, cluster_id: str, name: str) -> None:
    require_topic(state, cluster_id, name)
    store = _store(state)
    with store.transaction():
        store.execute("DELETE FROM kafka_records WHERE cluster_id=? AND topic=?", (cluster_id, name))
        store.execute("DELETE FROM kafka_topics WHERE cluster_id=? AND name=?", (cluster_id, name))


def purge_cluster(state: EmulatorState, cluster_id: str) -> None:
    """Drop a cluster's topics and records: when the cluster is deleted, or its resource group is."""
    store = _store(state)
    with store.transaction():
        store.execute("DELETE FROM kafka_records WHERE cluster_id=?", (cluster_id,))
        store.execute("DELETE FROM kafka_topics WHERE cluster_id=?", (cluster_id,))


# -- partitions and brokers -------------------------------------------------------------------------------------
def brokers(cluster: dict[str, Any]) -> list[dict[str, Any]]:
    """One broker per worker node, named as HDInsight names its workers (wn<i>-<prefix>.<dns suffix>)."""
    roles = cluster["properties"]["computeProfile"]["roles"]
    count = next((r["targetInstanceCount"] for r in roles if r["name"] == "workernode"), 1)
    prefix, suffix = cluster["name"][:6].lower(), cluster["properties"]["clusterId"][:22]
    return [{"hostName": f"wn{i}-{prefix}.{suffix}.cx.internal.cloudapp.net", "port": BROKER_PORT, "id": 1001 + i,
             "rack": f"/fd{i % 3}/ud{i % 5}"} for i in range(count)]


def offsets(state: EmulatorState, cluster_id: str, topic: str, partition: int) -> tuple[int, int]:
    """(earliest, latest) — latest is the log-end offset: the offset the next record will get."""
    row = _store(state).execute(
        'SELECT MIN("offset") AS lo, MAX("offset") AS hi FROM kafka_records WHERE cluster_id=? AND topic=? '
        "AND partition=?", (cluster_id, topic, partition)).fetchone()
    return (row["lo"] or 0, (row["hi"] + 1) if row["hi"] is not None else 0)


def partition_metadata(state: EmulatorState, cluster: dict[str, Any], topic: Topic, partition: int) -> dict:
    nodes = brokers(cluster)
    replicas = [nodes[(partition + i) % len(nodes)] for i in range(min(topic.replication, len(nodes)))]
    earliest, latest = offsets(state, cluster["properties"]["clusterId"], topic.name, partition)
    return {"partition_id": partition, "earliest_offset": earliest, "latest_offset": latest,
            "leader": replicas[0], "replicas": replicas, "isr": replicas}


def require_partition(topic: Topic, partition: int) -> None:
    if not 0 <= partition < topic.partitions:
        raise KafkaRestError(f"Partition {partition} of topic '{topic.name}' not found.", status=404)


# -- produce ----------------------------------------------------------------------------------------------------
def murmur2(data: bytes) -> int:
    """Kafka's murmur2 (org.apache.kafka.common.utils.Utils.murmur2), so keys land where Kafka would put them."""
    m, r, mask = 0x5BD1E995, 24, 0xFFFFFFFF
    length = len(data)
    h = (0x9747B28C ^ length) & mask
    for i in range(0, length - length % 4, 4):
        k = int.from_bytes(data[i:i + 4], "little")
        k = (k * m) & mask
        k ^= k >> r
        k = (k * m) & mask
        h = (h * m) & mask
        h ^= k
    rest = length % 4
    tail = length - rest
    if rest == 3:
        h ^= data[tail + 2] << 16
    if rest >= 2:
        h ^= data[tail + 1] << 8
    if rest >= 1:
        h ^= data[tail]
        h = (h * m) & mask
    h ^= h >> 13
    h = (h * m) & mask
    h ^= h >> 15
    return h


def key_bytes(key: Any) -> bytes:
    """A string key is hashed as its UTF-8 text; any other JSON key as its compact JSON."""
    return key.encode() if isinstance(key, str) else json.dumps(key, separators=(",", ":")).encode()


def choose_partition(cluster_id: str, topic: Topic, record: dict[str, Any]) -> int:
    if record.get("partition") is not None:
        return record["partition"]
    if record.get("key") is not None:
        return (murmur2(key_bytes(record["key"])) & 0x7FFFFFFF) % topic.partitions
    slot = (cluster_id, topic.name)
    _round_robin[slot] = (_round_robin.get(slot, -1) + 1) % topic.partitions
    return _round_robin[slot]


def check_records(body: Any, topic: Topic) -> list[dict[str, Any]]:
    """Validate a whole produce request before writing anything: one bad record refuses the request."""
    if not isinstance(body, dict) or not isinstance(body.get("records"), list):
        raise KafkaRestError("The request body must be a JSON object with a 'records' array.")
    if not body["records"]:
        raise KafkaRestError("'records' is empty: give at least one record.")
    limit = _as_long(topic.config.get("max.message.bytes", DEFAULT_MAX_MESSAGE_BYTES))
    for i, rec in enumerate(body["records"]):
        if not isinstance(rec, dict):
            raise KafkaRestError(f"Record {i} is not a JSON object.")
        if "value" not in rec:
            raise KafkaRestError(f"Record {i} has no 'value': a value is required for every producer record.")
        part = rec.get("partition")
        if part is not None and (not isinstance(part, int) or isinstance(part, bool) or part < 0):
            raise KafkaRestError(f"Record {i}: 'partition' must be a non-negative integer.")
        if part is not None:
            require_partition(topic, part)
        size = record_size(rec.get("key"), rec["value"])
        if size > limit:
            raise KafkaRestError(f"Record {i}: the message is {size} bytes when serialized which is larger than "
                                 f"{limit}, the maximum message size of topic '{topic.name}'.", status=413)
    return body["records"]


def record_size(key: Any, value: Any) -> int:
    return len(_dump(key) or "") + len(_dump(value) or "")


def _dump(value: Any) -> str | None:
    return None if value is None else json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def produce(state: EmulatorState, cluster_id: str, topic: Topic, records: list[dict[str, Any]]) -> list[dict]:
    """Append records; returns one {partition, offset} per record, in request order."""
    store = _store(state)
    now_ms = int(time.time() * 1000)
    results = []
    with store.transaction():
        next_offset: dict[int, int] = {}
        for rec in records:
            part = choose_partition(cluster_id, topic, rec)
            if part not in next_offset:
                next_offset[part] = offsets(state, cluster_id, topic.name, part)[1]
            off = next_offset[part]
            next_offset[part] = off + 1
            key, value = _dump(rec.get("key")), _dump(rec["value"])
            store.execute('INSERT INTO kafka_records(cluster_id, topic, partition, "offset", key, value, timestamp, '
                          "size) VALUES (?,?,?,?,?,?,?,?)",
                          (cluster_id, topic.name, part, off, key, value, now_ms,
                           len(key or "") + len(value or "")))
            results.append({"partition": part, "offset": off})
    return results


# -- consume ----------------------------------------------------------------------------------------------------
def consume(state: EmulatorState, cluster_id: str, topic: Topic, partition: int, offset: int, count: int,
            max_bytes: int) -> list[dict[str, Any]]:
    """Up to `count` records from `offset` on, at most `max_bytes` of keys+values — but always at least one record
    when there is one (as a Kafka fetch does, so an oversized record cannot block a reader)."""
    rows = _store(state).execute(
        'SELECT * FROM kafka_records WHERE cluster_id=? AND topic=? AND partition=? AND "offset">=? '
        'ORDER BY "offset" LIMIT ?', (cluster_id, topic.name, partition, offset, count)).fetchall()
    ts_type = "LOG_APPEND_TIME" if topic.config.get("message.timestamp.type") == "LogAppendTime" else "CREATE_TIME"
    out, used = [], 0
    for row in rows:
        used += row["size"]
        if out and used > max_bytes:
            break
        out.append({"topic": topic.name, "key": _load(row["key"]), "value": _load(row["value"]),
                    "partition": row["partition"], "offset": row["offset"], "timestamp": row["timestamp"],
                    "timestampType": ts_type})
    return out


def _load(text: str | None) -> Any:
    return None if text is None else json.loads(text)
