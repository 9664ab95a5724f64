"""The smoke test: prove a REST-proxy setup works end to end, the way Microsoft's sample client walks it.

token → create a fresh topic → produce the sample's six records (a string with a key, an integer pinned to
partition 0, a float, an object, a list of objects, a nested object) → read them back and compare exactly →
partition metadata → delete the topic. Each step is timed and reported; a failed step skips the rest, but the
topic is still deleted when it may have been created.
"""

from __future__ import annotations

import json
import secrets
import string
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

from provision.kafkarest import errors as e
from provision.kafkarest.client import KafkaRestClient, token_claims
from provision.kafkarest.models import ConsumedRecord, ProducerRecord

PASS, FAIL, SKIP, WARN = "PASS", "FAIL", "SKIP", "WARN"

# Microsoft's sample (rest-proxy.md) produces these six in one request.
SAMPLE_RECORDS = (
    ProducerRecord("**********", key="key1"),
    ProducerRecord(5, partition=0),
    ProducerRecord(3.14),
    ProducerRecord({"id": 1, "name": "HDInsight Kafka REST proxy"}),
    ProducerRecord([{"id": 1, "name": "HDInsight Kafka REST proxy 1"},
                    {"id": 2, "name": "HDInsight Kafka REST proxy 2"},
                    {"id": 3, "name": "HDInsight Kafka REST proxy 3"}]),
    ProducerRecord({"infomation": {"id": 1, "name": "HDInsight Kafka REST proxy"}, "sort": "true"}),
)
# The sample's topic settings: one partition, so every record lands in partition 0, in order.
SAMPLE_TOPIC_CONFIG = {"retention.ms": 604800000, "min.insync.replicas": "1"}


@dataclass
class Step:
    name: str
    status: str
    seconds: float
    detail: str


@dataclass
class SmokeReport:
    endpoint: str
    topic: str
    steps: list[Step] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(s.status != FAIL for s in self.steps)

    @property
    def seconds(self) -> float:
        return round(sum(s.seconds for s in self.steps), 3)

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "endpoint": self.endpoint, "topic": self.topic, "seconds": self.seconds,
                "steps": [asdict(s) for s in self.steps]}


def canonical(value: Any) -> str:
    """JSON text that tells 5 from 5.0 and "5" from 5, but not key order (objects are unordered)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def compare(sent: tuple[ProducerRecord, ...], got: list[ConsumedRecord]) -> str | None:
    """None when the records came back exactly (same count, order, values and keys), else what differs."""
    if len(got) != len(sent):
        return f"read {len(got)} records back, produced {len(sent)}"
    for i, (want, have) in enumerate(zip(sent, got, strict=True)):
        if canonical(want.value) != canonical(have.value):
            return f"record {i} (offset {have.offset}): sent {canonical(want.value)}, got {canonical(have.value)}"
        if want.key is not None and canonical(want.key) != canonical(have.key):
            return f"record {i} (offset {have.offset}): sent key {want.key!r}, got {have.key!r}"
    offsets = [r.offset for r in got]
    if offsets != list(range(offsets[0], offsets[0] + len(offsets))):
        return f"offsets are not consecutive: {offsets}"
    return None


def new_topic_name(prefix: str = "provision-smoke-") -> str:
    return prefix + "".join(secrets.choice(string.ascii_lowercase + string.digits) for _ in range(8))


class _Runner:
    """Runs steps in order; after a failure the remaining steps are skipped. A `soft` step (the cleanup) cannot
    fail the run: it ends in WARN, or SKIP when the proxy does not offer the operation."""

    def __init__(self, report: SmokeReport, on_step: Callable[[Step], None] | None):
        self.report = report
        self.on_step = on_step
        self.failed = False

    def run(self, name: str, fn: Callable[[], str], *, always: bool = False, soft: bool = False) -> bool:
        if self.failed and not always:
            self.skip(name, "skipped after an earlier failure")
            return False
        started = time.perf_counter()
        try:
            detail, status = fn(), PASS
        except e.Unsupported as exc:
            detail, status = exc.message, SKIP if soft else FAIL
        except (e.KafkaRestError, AssertionError) as exc:
            detail, status = str(exc), WARN if soft else FAIL
        seconds = round(time.perf_counter() - started, 3)
        if status == FAIL:
            self.failed = True
        return self._record(Step(name, status, seconds, detail))

    def skip(self, name: str, detail: str) -> None:
        self._record(Step(name, SKIP, 0.0, detail))

    def _record(self, step: Step) -> bool:
        self.report.steps.append(step)
        if self.on_step:
            self.on_step(step)
        return step.status == PASS


def run_smoke(client: KafkaRestClient, *, topic: str | None = None, timeout: float = 60.0, cleanup: bool = True,
              on_step: Callable[[Step], None] | None = None) -> SmokeReport:
    topic = topic or new_topic_name()
    report = SmokeReport(endpoint=client.endpoint, topic=topic)
    runner = _Runner(report, on_step)
    state: dict[str, Any] = {}

    def token() -> str:
        tok = client.get_token()
        claims = token_claims(tok.token)
        app = claims.get("app_displayname") or claims.get("appid") or "unknown app"
        return f"token for {client.scope}, valid {int(tok.expires_on - time.time())}s, app {app!r}"

    def create() -> str:
        client.create_topic(topic, partitions=1, replication_factor=1, config=SAMPLE_TOPIC_CONFIG, wait=False)
        state["created"] = True  # from here on the topic exists, even if it never gets listed in time
        waited = client.wait_for_topic(topic, timeout=timeout)
        return f"created {topic}, listed after {waited:.2f}s"

    def produce() -> str:
        result = client.produce(topic, SAMPLE_RECORDS)
        return (f"{result.records} records (string with key, int on partition 0, float, object, list, nested) "
                f"in {result.requests} request(s)")

    def consume() -> str:
        # Page size 2 as in the sample, so following NextOffset across pages is part of the test.
        records = list(client.iter_records(topic, 0, 0, page_size=2))
        problem = compare(SAMPLE_RECORDS, records)
        if problem:
            raise AssertionError(f"records differ: {problem}")
        return f"{len(records)} records read back from partition 0 following NextOffset, identical"

    def partitions() -> str:
        parts = client.partitions(topic)
        meta = client.partition(topic, 0)
        held = meta.latest_offset - meta.earliest_offset
        if held < len(SAMPLE_RECORDS):
            raise AssertionError(f"partition 0 holds offsets {meta.earliest_offset}..{meta.latest_offset}, "
                                 f"expected at least {len(SAMPLE_RECORDS)} records")
        leader = f"leader broker {meta.leader.id}" if meta.leader else "no leader reported"
        return f"{len(parts)} partition(s); partition 0 offsets {meta.earliest_offset}..{meta.latest_offset}, {leader}"

    def delete() -> str:
        client.delete_topic(topic)
        return f"deleted {topic}"

    runner.run("token", token)
    runner.run("create-topic", create)
    runner.run("produce", produce)
    runner.run("consume", consume)
    runner.run("partitions", partitions)
    if not state.get("created"):
        runner.skip("delete-topic", "no topic was created")
    elif cleanup:
        runner.run("delete-topic", delete, always=True, soft=True)
    else:
        runner.skip("delete-topic", f"kept {topic} as asked")
    return report
