"""KafkaRestClient: the HDInsight Kafka REST proxy's v1 API over an azure-core pipeline.

Why azure-core rather than bare requests: its BearerTokenCredentialPolicy caches the token and asks the credential
for a new one before it expires (azure-identity itself refreshes within five minutes of expiry), and its RetryPolicy
retries 429/5xx and dropped connections with exponential backoff, honouring Retry-After. That is exactly the
behaviour a long-running producer or a `--follow` consumer needs, and it works with any azure-identity credential
(secret, certificate, federated assertion, managed identity, DefaultAzureCredential).
"""

from __future__ import annotations

import base64
import json
import re
import time
from typing import Any, Iterable, Iterator, Mapping
from urllib.parse import quote

from provision import __version__
from provision.clouds import KAFKAREST_SCOPE as DEFAULT_SCOPE
from provision.kafkarest import errors as e
from provision.kafkarest import models as m

DEFAULT_PAGE_SIZE = 100
DEFAULT_BATCH_SIZE = 500
DEFAULT_BATCH_BYTES = 1_000_000  # no documented limit; one consume answer is capped at 6 MB, stay well below


def normalize_endpoint(endpoint: Any) -> str:
    """`https://<cluster>-kafkarest.azurehdinsight.net` (or the emulator's `https://127.0.0.1:P/kafkarest/<c>`),
    without a trailing slash or `/v1`: callers paste all three forms."""
    if not isinstance(endpoint, str) or not endpoint.strip():
        raise e.ValidationError("KAFKAREST_ENDPOINT", "is empty",
                                "pass the REST proxy URL, e.g. https://<cluster>-kafkarest.azurehdinsight.net")
    url = endpoint.strip().rstrip("/")
    if not url.lower().startswith("https://") or len(url) <= len("https://"):
        raise e.ValidationError("KAFKAREST_ENDPOINT", f"{url!r} is not an https:// URL",
                                "the proxy only serves HTTPS, and bearer tokens must never travel in clear text")
    return re.sub(r"/v1$", "", url)


def token_claims(token: str) -> dict[str, Any]:
    """The (unverified) claims of a JWT access token, for diagnostics only; {} when it is not a JWT."""
    try:
        payload = token.split(".")[1]
        return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        return {}


def _first_line(text: str, limit: int = 300) -> str:
    line = " ".join(str(text).split())  # one line: Entra's messages carry \r\n Trace ID: ... tails
    line = re.sub(r"\s*Trace ID:.*$", "", line)
    return line if len(line) <= limit else line[: limit - 3] + "..."


class KafkaRestClient:
    """A client for one cluster's REST proxy.

    >>> from azure.identity import DefaultAzureCredential
    >>> with KafkaRestClient("https://mycluster-kafkarest.azurehdinsight.net", DefaultAzureCredential()) as kr:
    ...     kr.create_topic("orders")
    ...     kr.produce("orders", [{"id": 1}, {"id": 2}])
    ...     for record in kr.iter_records("orders"):
    ...         print(record.offset, record.value)
    """

    def __init__(self, endpoint: str, credential: Any, *, scope: str = DEFAULT_SCOPE,
                 ca_bundle: str | None = None, retry_total: int = 6, retry_backoff_factor: float = 0.8,
                 retry_backoff_max: float = 30.0, connection_timeout: float = 10.0, read_timeout: float = 60.0,
                 owns_credential: bool = False, **transport_kwargs: Any):
        from azure.core import PipelineClient
        from azure.core.pipeline import policies

        self.endpoint = normalize_endpoint(endpoint)
        self.scope = scope
        self.credential = credential
        self._owns_credential = owns_credential
        self._retry_total = retry_total
        pipeline_policies = [
            policies.RequestIdPolicy(),
            policies.HeadersPolicy({"Accept": "application/json"}),
            policies.UserAgentPolicy(sdk_moniker=f"provision-kafkarest/{__version__}"),
            policies.RetryPolicy(retry_total=retry_total, retry_connect=3, retry_read=3, retry_status=retry_total,
                                 retry_backoff_factor=retry_backoff_factor, retry_backoff_max=retry_backoff_max),
            # After the retry policy, so every retry is authorized with a token that is still fresh.
            policies.BearerTokenCredentialPolicy(credential, scope),
            policies.HttpLoggingPolicy(),  # redacts Authorization; silent unless logging is configured
        ]
        self._pipeline = PipelineClient(
            base_url=self.endpoint, policies=pipeline_policies,
            # A CA file pins trust to that CA (the emulator's); True keeps requests' default (incl. REQUESTS_CA_BUNDLE).
            connection_verify=ca_bundle or True, connection_timeout=connection_timeout, read_timeout=read_timeout,
            **transport_kwargs)

    # -- lifecycle ------------------------------------------------------------------------------------------------
    def close(self) -> None:
        self._pipeline.close()
        if self._owns_credential and hasattr(self.credential, "close"):
            self.credential.close()

    def __enter__(self) -> "KafkaRestClient":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"KafkaRestClient({self.endpoint!r}, scope={self.scope!r})"

    # -- token ----------------------------------------------------------------------------------------------------
    def get_token(self) -> Any:
        """An access token for the proxy's scope (the credential caches it). Raises TokenError with the reason."""
        try:
            return self.credential.get_token(self.scope)
        except Exception as exc:  # azure-identity raises ClientAuthenticationError and friends
            raise self._token_error(exc) from exc

    def _token_error(self, exc: Exception) -> e.TokenError:
        # By name: azure-identity need not be imported (or even be the credential's library) to tell this case.
        if type(exc).__name__ == "CredentialUnavailableError":
            return e.TokenError(
                "No credential is configured for the REST proxy: set AZURE_TENANT_ID, AZURE_CLIENT_ID and "
                "AZURE_CLIENT_SECRET (or AZURE_CLIENT_CERTIFICATE_PATH, AZURE_FEDERATED_TOKEN_FILE), or pass "
                "--config FILE "
                f"({_first_line(str(exc), 160)})")
        reason = _first_line(getattr(exc, "message", None) or str(exc)).rstrip(".")
        return e.TokenError(
            f"Could not get an access token for {self.scope} from Entra ID: {reason}. Check AZURE_TENANT_ID, "
            "AZURE_CLIENT_ID, the client secret or certificate, and AZURE_AUTHORITY_HOST for clouds other than "
            "Azure public.")

    def _caller(self) -> dict[str, Any]:
        """Who we are, from our own token's claims: names the app in 401/403 messages."""
        try:
            return token_claims(self.credential.get_token(self.scope).token)
        except Exception:  # diagnostics must never mask the original error
            return {}

    # -- HTTP -----------------------------------------------------------------------------------------------------
    def _url(self, *segments: Any) -> str:
        return "/".join([self.endpoint, "v1", *(quote(str(s), safe="") for s in segments)])

    def _send(self, method: str, segments: tuple, *, json_body: Any = None, params: dict | None = None,
              operation: str, topic: str | None = None, partition: int | None = None) -> tuple[Any, Any]:
        """Send one request; return (parsed body: JSON, text or None; the response). Raise a typed error for any
        failure that is left after the pipeline's retries."""
        from azure.core.exceptions import ClientAuthenticationError, ServiceRequestError, ServiceResponseError
        from azure.core.rest import HttpRequest

        kwargs: dict[str, Any] = {"params": params} if params else {}
        if json_body is not None:
            kwargs["json"] = json_body
        request = HttpRequest(method, self._url(*segments), **kwargs)
        try:
            response = self._pipeline.send_request(request)
        except ClientAuthenticationError as exc:  # raised by the credential inside the auth policy
            raise self._token_error(exc) from exc
        except (ServiceRequestError, ServiceResponseError) as exc:
            raise e.ConnectionFailed(
                f"Could not reach the REST proxy at {self.endpoint} ({operation}): {_first_line(str(exc), 200)}. "
                "Check the endpoint, the network path (port 443) and, for a private CA, PROVISION_CA_BUNDLE."
            ) from exc
        if response.status_code >= 400:
            raise self._error(response, operation, topic, partition)
        return _body(response), response

    def _error(self, response: Any, operation: str, topic: str | None, partition: int | None) -> e.KafkaRestError:
        status = response.status_code
        server = _server_message(response) or response.reason or f"HTTP {status}"
        kw = {"status": status, "server_message": server,
              "request_id": response.headers.get("x-ms-request-id") or response.headers.get("request-id")}
        if status == 401:
            return e.AuthenticationError(self._rejected_message(server), **kw)
        if status == 403:
            return e.AccessDenied(self._denied_message(server), **kw)
        if status == 404:
            return e.NotFound(self._not_found_message(server, operation, topic, partition),
                              topic=topic, partition=partition, **kw)
        # Kafka's TopicExistsException: 409 where the proxy maps it, 400 where it passes Kafka's message through.
        if status == 409 or (status == 400 and operation == "create topic" and "already exists" in server.lower()):
            return e.TopicExists(_with_server(f"Topic {topic!r} already exists.", server), **kw)
        if status in (405, 501):
            return e.Unsupported(_with_server(f"This REST proxy does not support {operation} ({status}).", server),
                                 **kw)
        if status in (400, 413, 422):
            return e.BadRequest(_with_server(f"The REST proxy refused the {operation} request ({status}).", server),
                                **kw)
        if status == 429:
            return e.Throttled(_with_server(f"The REST proxy is still throttling {operation} after "
                                            f"{self._retry_total} retries (429); slow down or retry later.", server),
                               **kw)
        if status >= 500:
            return e.ServiceUnavailable(_with_server(f"The REST proxy failed {operation} ({status}) after "
                                                     f"{self._retry_total} retries; retry later.", server), **kw)
        return e.KafkaRestError(_with_server(f"The REST proxy answered {operation} with {status}.", server), **kw)

    def _rejected_message(self, server: str) -> str:
        claims = self._caller()
        seen = (f" The token sent has audience {claims.get('aud')!r} and tenant {claims.get('tid')!r}."
                if claims else "")
        scope = "" if self.scope == DEFAULT_SCOPE else f" (this client asks for {self.scope!r}: fix KAFKAREST_SCOPE)"
        return _with_server(
            f"The REST proxy rejected the access token (401).{seen} It must be issued by the cluster's tenant "
            f"(AZURE_TENANT_ID, AZURE_AUTHORITY_HOST) for scope {DEFAULT_SCOPE}{scope} and be current: check the "
            "tenant, the scope and the client secret or certificate.", server)

    def _denied_message(self, server: str) -> str:
        claims = self._caller()
        app = claims.get("app_displayname") or claims.get("appid") or "<client-app>"
        who = (f"client app {app!r} (appId {claims.get('appid')}, service principal {claims.get('oid')})"
               if claims else "this client app")
        member = claims.get("oid") or "<service-principal-object-id>"
        return _with_server(
            f"Access denied (403): the token is valid, but {who} is not a member of the cluster's Kafka REST proxy "
            f"security group. Grant access with `provision access grant {app}` or `az ad group member add --group "
            f"<cluster security group> --member-id {member}`; a new membership can take a few minutes to reach the "
            "proxy.", server)

    def _not_found_message(self, server: str, operation: str, topic: str | None, partition: int | None) -> str:
        if topic is not None and partition is not None and self._topic_listed(topic):
            lead = (f"Partition {partition} of topic {topic!r} not found: the topic has fewer partitions; see "
                    f"`provision kafka partitions {topic}`.")
        elif topic is not None:
            lead = (f"Topic {topic!r} not found; see `provision kafka topics list` (a topic created moments ago can "
                    "take a few seconds to appear).")
        else:
            lead = (f"Not found ({operation}): check the endpoint {self.endpoint} "
                    "(https://<cluster>-kafkarest.azurehdinsight.net).")
        return _with_server(lead, server)

    def _topic_listed(self, topic: str) -> bool:
        """Whether a 404 on a partition means the partition (True) or the whole topic: the proxy's message need
        not say, so ask the topic list (on the error path only). On any doubt, blame the partition."""
        try:
            return topic in self.list_topics()
        except e.KafkaRestError:
            return True

    # -- metadata -------------------------------------------------------------------------------------------------
    def status(self) -> Any:
        """GET /v1/status: the proxy's own health answer (a string or JSON, as it sends it)."""
        body, _ = self._send("GET", ("status",), operation="status")
        return body

    def brokers(self) -> list[m.Broker]:
        body, _ = self._send("GET", ("metadata", "brokers"), operation="list brokers")
        return m.parse_brokers(body)

    def list_topics(self) -> list[str]:
        body, _ = self._send("GET", ("metadata", "topics"), operation="list topics")
        return m.parse_topics(body)

    def partitions(self, topic: str) -> list[m.PartitionMetadata]:
        m.check_topic(topic)
        body, _ = self._send("GET", ("metadata", "topics", topic, "partitions"), operation="list partitions",
                             topic=topic)
        return m.parse_partitions(body, topic)

    def partition(self, topic: str, partition: int) -> m.PartitionMetadata:
        m.check_topic(topic)
        m.check_non_negative(partition, "partition")
        body, _ = self._send("GET", ("metadata", "topics", topic, "partitions", partition),
                             operation="get partition", topic=topic, partition=partition)
        return m.parse_partition(body, topic)

    # -- topics ---------------------------------------------------------------------------------------------------
    def create_topic(self, topic: str, *, partitions: int = 1, replication_factor: int | None = None,
                     config: Mapping[str, Any] | None = None, wait: bool = True, timeout: float = 60.0,
                     exist_ok: bool = False) -> None:
        """PUT /v1/topics/{topic}. The proxy answers before the topic is usable ("wait a few seconds"), so by
        default this polls the topic list until the topic shows up, or raises TopicNotVisible after `timeout`."""
        m.check_topic(topic)
        m.check_positive(partitions, "partitions")
        body: dict[str, Any] = {"partition_count": partitions}
        if replication_factor is not None:
            body["replication_factor"] = m.check_positive(replication_factor, "replication_factor")
        if config:
            body["topic_properties"] = m.check_json(dict(config), "topic_properties")
        try:
            self._send("PUT", ("topics", topic), json_body=body, operation="create topic", topic=topic)
        except e.TopicExists:
            if not exist_ok:
                raise
        if wait:
            self.wait_for_topic(topic, timeout=timeout)

    def delete_topic(self, topic: str, *, wait: bool = False, timeout: float = 60.0) -> None:
        """DELETE /v1/topics/{topic}. Not in Microsoft's v1 reference: a proxy without it answers 404/405, which
        raises NotFound/Unsupported."""
        m.check_topic(topic)
        self._send("DELETE", ("topics", topic), operation="delete topic", topic=topic)
        if wait:
            self.wait_for_topic(topic, timeout=timeout, present=False)

    def wait_for_topic(self, topic: str, *, timeout: float = 60.0, present: bool = True) -> float:
        """Poll the topic list (0.1 s, growing to 2 s) until `topic` is listed (or gone, with present=False).
        Returns the seconds waited."""
        started = time.monotonic()
        deadline = started + timeout
        interval = 0.1
        while True:
            if (topic in self.list_topics()) == present:
                return time.monotonic() - started
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                state = "appear in" if present else "disappear from"
                raise e.TopicNotVisible(f"Topic {topic!r} did not {state} the proxy's topic list within "
                                        f"{timeout:g}s; retry later or raise the timeout.")
            time.sleep(min(interval, remaining))
            interval = min(interval * 1.5, 2.0)

    # -- produce --------------------------------------------------------------------------------------------------
    def produce(self, topic: str, records: Iterable[Any], *, key: Any = None, partition: int | None = None,
                batch_size: int = DEFAULT_BATCH_SIZE, max_batch_bytes: int = DEFAULT_BATCH_BYTES) -> m.ProduceResult:
        """POST /v1/producer/topics/{topic}, in batches. Each item is a JSON value to send, or a ProducerRecord
        for a per-record key/partition; `key`/`partition` apply to plain values.

        A 5xx or a 429 with Retry-After is retried, so a record can (rarely) be written twice: Kafka's
        at-least-once. A connection dropped mid-request is not retried for produce (the write may have happened)."""
        m.check_topic(topic)
        m.check_positive(batch_size, "batch_size")
        prepared = m.as_producer_records(records, key=key, partition=partition)
        result = m.ProduceResult(topic=topic, records=0, requests=0)
        for batch in m.batches(prepared, batch_size, max_batch_bytes):
            try:
                body, _ = self._send("POST", ("producer", "topics", topic), json_body={"records": batch},
                                     operation="produce", topic=topic)
            except e.KafkaRestError as exc:
                if result.records:
                    _add_note(exc, f"{result.records} of {len(prepared)} records were produced before this failure")
                raise
            result.records += len(batch)
            result.requests += 1
            result.responses.append(body)
            if isinstance(body, dict) and isinstance(body.get("offsets"), list):
                result.offsets.extend(body["offsets"])
        return result

    # -- consume --------------------------------------------------------------------------------------------------
    def consume(self, topic: str, partition: int = 0, offset: int = 0, count: int = 1) -> m.ConsumeResult:
        """GET /v1/consumer/topics/{topic}/partitions/{partition}/offsets/{offset}?count=N: one page of at most
        `count` records (the proxy also stops at 6 MB), and the offset to read next."""
        m.check_topic(topic)
        m.check_non_negative(partition, "partition")
        m.check_non_negative(offset, "offset")
        m.check_positive(count, "count")
        body, response = self._send(
            "GET", ("consumer", "topics", topic, "partitions", partition, "offsets", offset),
            params={"count": count}, operation="consume", topic=topic, partition=partition)
        records = m.parse_consume_body(body, topic, partition)
        return m.ConsumeResult(records, m.parse_next_offset(response.headers.get("NextOffset"), offset, records))

    def resolve_offset(self, topic: str, partition: int, offset: int | str) -> int:
        """An integer offset, or "earliest"/"latest" read from the partition's metadata."""
        if isinstance(offset, str) and offset.strip().lower() in ("earliest", "latest"):
            meta = self.partition(topic, partition)
            return meta.earliest_offset if offset.strip().lower() == "earliest" else meta.latest_offset
        if isinstance(offset, str) and offset.strip().isdigit():
            return int(offset.strip())
        if isinstance(offset, str):
            raise e.ValidationError("offset", f"{offset!r} is not an offset", "pass a number, earliest or latest")
        return m.check_non_negative(offset, "offset")

    def iter_records(self, topic: str, partition: int = 0, offset: int | str = 0, *,
                     page_size: int = DEFAULT_PAGE_SIZE, follow: bool = False, poll_interval: float = 1.0,
                     limit: int | None = None) -> Iterator[m.ConsumedRecord]:
        """Every record from `offset` on, once each and in order, following NextOffset page by page.

        Without `follow` it stops when caught up: it reads the partition's log-end offset first, so it needs no
        trailing empty page (N records cost ceil(N / page_size) consume calls), and checks the end once more
        before stopping in case records arrived meanwhile. With `follow` it keeps polling every `poll_interval`
        seconds for new records until `limit` records were yielded (or forever)."""
        m.check_positive(page_size, "page_size")
        if limit is not None:
            m.check_non_negative(limit, "limit")
        position = self.resolve_offset(topic, partition, offset)
        end: int | None = None
        yielded = 0
        while limit is None or yielded < limit:
            if not follow and (end is None or position >= end):
                end = self.partition(topic, partition).latest_offset
                if position >= end:
                    return
            count = page_size if limit is None else min(page_size, limit - yielded)
            page = self.consume(topic, partition, position, count)
            for record in page.records:
                if limit is not None and yielded >= limit:  # a proxy that sends more than `count` asked for
                    return
                yield record
                yielded += 1
            if page.records or page.next_offset > position:
                position = page.next_offset
                continue
            # An empty page that does not move on: nothing there yet (follow), or a hole below the log start
            # (retention removed it): skip to the earliest offset instead of asking again forever.
            if follow:
                time.sleep(poll_interval)
                continue
            earliest = self.partition(topic, partition).earliest_offset
            if earliest <= position:
                return
            position = earliest


def _body(response: Any) -> Any:
    raw = response.content
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return response.text()


def _server_message(response: Any) -> str:
    """The proxy's explanation: `{"error_code", "message"}` (Confluent's shape, the emulator's), ARM-style
    `{"error": {"message"}}`, or plain text."""
    try:
        body = _body(response)
    except Exception:
        return ""
    if isinstance(body, dict):
        msg = body.get("message") or body.get("error_description")
        if msg is None and isinstance(body.get("error"), dict):
            msg = body["error"].get("message")
        if msg is None and isinstance(body.get("error"), str):
            msg = body["error"]
        return _first_line(msg if msg is not None else json.dumps(body))
    return _first_line(body) if body else ""


def _with_server(lead: str, server: str, limit: int = 240) -> str:
    """Our explanation first, then the proxy's own words, unless they only repeat it (the proxy's message can
    name what we cannot know, such as the cluster's security group)."""
    def words(text: str) -> str:
        return " ".join(re.sub(r"[^a-z0-9']+", " ", text.lower()).split())

    said = server.strip()
    if not said or words(said) in words(lead):
        return lead
    if len(said) > limit:
        said = said[: limit - 3].rstrip() + "..."
    return f"{lead} Proxy said: {said}"


def _add_note(exc: e.KafkaRestError, note: str) -> None:
    exc.message = f"{exc.message} ({note})"
    exc.args = (exc.message,)
