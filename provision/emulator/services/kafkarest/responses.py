"""The HDInsight Kafka REST proxy data plane, API v1, at `/kafkarest/{cluster}/v1/...`.

On Azure the proxy lives at `https://<cluster>-kafkarest.azurehdinsight.net/v1/...`; the cluster's
`KafkaRestProxyPublicEndpoint` points here instead (see hdinsight/models.py).

    GET    /v1/status
    GET    /v1/metadata/brokers                                  {"brokers": [{hostName, port, id, rack}]}
    GET    /v1/metadata/topics                                   {"topics": [...]}
    GET    /v1/metadata/topics/{topic}/partitions                {"topic", "partitions": [...]}
    GET    /v1/metadata/topics/{topic}/partitions/{p}            {partition_id, earliest_offset, latest_offset,
                                                                  leader, replicas, isr}
    PUT    /v1/topics/{topic}                                    {partition_count, replication_factor,
                                                                  topic_properties}
    DELETE /v1/topics/{topic}                                    EXTENSION: not in Microsoft's API (no REST
                                                                  delete exists there); offered for tests/cleanup
    POST   /v1/producer/topics/{topic}                           {"records": [{key?, value, partition?}]}
    GET    /v1/consumer/topics/{topic}/partitions/{p}/offsets/{o}?count=N

Choices where Microsoft documents nothing (kafkarest-api.md §2.9), each the least surprising for clients:
- Bodies are JSON objects. PUT topic answers `{"topic", "partition_count", "replication_factor",
  "topic_properties"}`; produce answers Confluent's shape, one entry per record in request order:
  `{"offsets": [{"partition": p, "offset": o}]}`; status answers `{"status": "running"}`. Errors are
  `{"error_code": <http status>, "message"}`.
- Topic defaults: partition_count 1, replication_factor min(3, brokers) (one broker per worker node). A topic
  that already exists is refused with 400 (Kafka's TopicExistsException); creation is not idempotent.
  A new topic is visible (listed, produced to, read) only after `timing.topic_visibility_seconds`.
- Produce: a record with `partition` goes there; with a key, to murmur2(key) like Kafka's default partitioner
  (a string key hashed as its UTF-8 text, any other key as its compact JSON); without either, round-robin.
  `value` is required but may be null (a tombstone). The request body may be at most 6 MiB (413 beyond); one
  record at most the topic's max.message.bytes (Kafka's 1048588 by default; 413 beyond).
- Consume: the records come back as `{"records": [{topic, key, value, partition, offset, timestamp,
  timestampType}]}` (what Microsoft's sample reads; the swagger's bare array is contradicted by it), with the
  produced JSON values unchanged. `count` defaults to 1 and may be 1..10000; a response holds at most 6 MiB of
  keys+values (but always one record when there is one). The `NextOffset` header (a string) is the last returned
  offset + 1, or the requested offset when nothing came back; the reader is done when it no longer moves.
- Access, as on HDInsight: a bearer token issued by the emulator for `https://hib.azurehdinsight.net` (or the HIB
  app id), valid signature, not expired, of this tenant — else 401 with `WWW-Authenticate: Bearer`. The token's
  service principal (`oid`) must be a direct or transitive member of the cluster's
  `kafkaRestProperties.clientGroupInfo.groupId` — else 403 naming the group. The proxy sees membership as it
  stood `timing.membership_propagation_seconds` ago: an added (or removed) member takes effect exactly that long
  after the change — the bound of its membership cache.
- An unknown cluster, one not Running or without kafkaRestProperties: 404 (that endpoint would not exist).
"""

from __future__ import annotations

import json
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from provision.emulator import tokens, wire
from provision.emulator.app import emulator_of
from provision.emulator.services.arm.hdinsight import models as hdinsight
from provision.emulator.services.kafkarest import models
from provision.emulator.state import EmulatorState
from provision.emulator.wire import KafkaRestError

BASE = "/kafkarest/{cluster}/v1"
MAX_REQUEST_BYTES = 6 * 1024 * 1024
MAX_RESPONSE_BYTES = 6 * 1024 * 1024
MAX_COUNT = 10_000
HIB_SCOPE = "https://hib.azurehdinsight.net/.default"


# -- access -----------------------------------------------------------------------------------------------------
def _unauthorized(reason: str, detail: str) -> KafkaRestError:
    messages = {
        "missing": "Unauthorized: no bearer token. Send 'Authorization: Bearer <token>' with a token for scope "
                   f"'{HIB_SCOPE}'.",
        "malformed": f"Unauthorized: the bearer token is malformed ({detail})",
        "signature": "Unauthorized: the bearer token's signature is invalid.",
        "expired": f"Unauthorized: the bearer token is expired or not yet valid ({detail})",
        "audience": f"Unauthorized: {detail} The Kafka REST proxy accepts tokens issued for scope '{HIB_SCOPE}'.",
        "tenant": f"Unauthorized: the token is from another tenant ({detail})",
    }
    challenge = 'Bearer' if reason == "missing" else 'Bearer error="invalid_token"'
    return KafkaRestError(messages[reason], status=401, headers={"WWW-Authenticate": challenge})


def _caller(state: EmulatorState, request: Request) -> tokens.Caller:
    try:
        caller = tokens.validate_bearer(request.headers.get("authorization"), state.signer,
                                        audiences=tokens.HIB_AUDIENCES, tenant_id=state.boot.tenant_id)
    except tokens.TokenProblem as p:
        raise _unauthorized(p.reason, p.message) from None
    request.scope.setdefault("state", {})["caller"] = caller
    return caller


def _authorize(state: EmulatorState, cluster: dict[str, Any], caller: tokens.Caller) -> None:
    """Group membership as the proxy's cache knows it: as of `membership_propagation_seconds` ago."""
    info = cluster["properties"]["kafkaRestProperties"]["clientGroupInfo"]
    group_id = str(info.get("groupId"))
    as_of = time.time() - float(state.timing.membership_propagation_seconds)
    if state.directory.was_member_at(group_id, caller.object_id, as_of):
        return
    group = state.directory.get("group", group_id, consistent=True) or {}
    raise KafkaRestError(
        f"Forbidden: the service principal '{caller.object_id}' (app '{caller.app_id}') is not a member of the "
        f"Kafka REST proxy client security group '{group.get('displayName') or info.get('groupName')}' "
        f"({group_id}). Add it to the group; membership changes reach the proxy within "
        f"{state.timing.membership_propagation_seconds:g} seconds.", status=403)


def _open(request: Request) -> tuple[EmulatorState, dict[str, Any]]:
    """The cluster this request is for, once the caller is authenticated and authorized."""
    state = emulator_of(request)
    name = request.path_params["cluster"]
    cluster = hdinsight.cluster_for_rest_proxy(state, name)
    if not hdinsight.rest_proxy_ready(cluster):
        raise KafkaRestError(f"Kafka REST proxy endpoint '{name}' not found: no running HDInsight Kafka cluster "
                             f"with the REST proxy enabled has this name.", status=404)
    _authorize(state, cluster, _caller(state, request))
    return state, cluster


def _cluster_id(cluster: dict[str, Any]) -> str:
    return cluster["properties"]["clusterId"]


# -- parameters -------------------------------------------------------------------------------------------------
INT32, INT64 = 2**31 - 1, 2**63 - 1  # Kafka's partition ids are int32, offsets int64


def _int(value: str, what: str, limit: int) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise KafkaRestError(f"{what} must be an integer; got '{value}'.") from None
    if number < 0 or number > limit:
        raise KafkaRestError(f"{what} must be between 0 and {limit}; got {number}.")
    return number


def _partition(request: Request) -> int:
    return _int(request.path_params["partition"], "The partition", INT32)


async def _json(request: Request, *, required: bool) -> Any:
    try:
        body = await wire.read_json(request, KafkaRestError, required=required, max_bytes=MAX_REQUEST_BYTES)
        json.dumps(body, allow_nan=False)  # NaN/Infinity are not JSON: they could never be read back
    except (ValueError, RecursionError):
        raise KafkaRestError("The request body is not valid JSON: numbers must be finite and nesting "
                             "reasonable.") from None
    return body


# -- handlers ---------------------------------------------------------------------------------------------------
async def status(request: Request) -> Response:
    _open(request)
    return wire.json_response({"status": "running"})


async def brokers(request: Request) -> Response:
    _, cluster = _open(request)
    return wire.json_response({"brokers": models.brokers(cluster)})


async def topics(request: Request) -> Response:
    state, cluster = _open(request)
    return wire.json_response({"topics": models.list_topics(state, _cluster_id(cluster))})


async def topic_partitions(request: Request) -> Response:
    state, cluster = _open(request)
    topic = models.require_topic(state, _cluster_id(cluster), request.path_params["topic"])
    return wire.json_response({"topic": topic.name, "partitions": [
        models.partition_metadata(state, cluster, topic, p) for p in range(topic.partitions)]})


async def topic_partition(request: Request) -> Response:
    state, cluster = _open(request)
    topic = models.require_topic(state, _cluster_id(cluster), request.path_params["topic"])
    part = _partition(request)
    models.require_partition(topic, part)
    return wire.json_response(models.partition_metadata(state, cluster, topic, part))


async def create_topic(request: Request) -> Response:
    state, cluster = _open(request)
    body = await _json(request, required=False)
    topic = models.create_topic(state, _cluster_id(cluster), request.path_params["topic"], body,
                                len(models.brokers(cluster)))
    return wire.json_response(topic.public())


async def delete_topic(request: Request) -> Response:
    """Extension: Microsoft's v1 API has no topic delete."""
    state, cluster = _open(request)
    models.delete_topic(state, _cluster_id(cluster), request.path_params["topic"])
    return wire.json_response({"topic": request.path_params["topic"]})


async def produce(request: Request) -> Response:
    state, cluster = _open(request)
    topic = models.require_topic(state, _cluster_id(cluster), request.path_params["topic"])
    records = models.check_records(await _json(request, required=True), topic)
    return wire.json_response({"offsets": models.produce(state, _cluster_id(cluster), topic, records)})


async def consume(request: Request) -> Response:
    state, cluster = _open(request)
    topic = models.require_topic(state, _cluster_id(cluster), request.path_params["topic"])
    part = _partition(request)
    offset = _int(request.path_params["offset"], "The offset", INT64)
    count = _int(request.query_params.get("count", "1"), "count", MAX_COUNT)
    if count < 1:
        raise KafkaRestError(f"count must be between 1 and {MAX_COUNT}; got {count}.")
    models.require_partition(topic, part)
    records = models.consume(state, _cluster_id(cluster), topic, part, offset, count, MAX_RESPONSE_BYTES)
    next_offset = records[-1]["offset"] + 1 if records else offset
    return wire.json_response({"records": records}, headers={"NextOffset": str(next_offset)})


def routes() -> list[Route]:
    return [
        Route(BASE + "/status", status, methods=["GET"]),
        Route(BASE + "/metadata/brokers", brokers, methods=["GET"]),
        Route(BASE + "/metadata/topics", topics, methods=["GET"]),
        Route(BASE + "/metadata/topics/{topic}/partitions", topic_partitions, methods=["GET"]),
        Route(BASE + "/metadata/topics/{topic}/partitions/{partition}", topic_partition, methods=["GET"]),
        Route(BASE + "/topics/{topic}", create_topic, methods=["PUT"]),
        Route(BASE + "/topics/{topic}", delete_topic, methods=["DELETE"]),
        Route(BASE + "/producer/topics/{topic}", produce, methods=["POST"]),
        Route(BASE + "/consumer/topics/{topic}/partitions/{partition}/offsets/{offset}", consume, methods=["GET"]),
    ]
