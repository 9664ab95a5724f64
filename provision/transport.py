"""Transient faults at the transport: one retry policy for the ARM SDK clients and one for the msgraph client.

A dropped connection, a reset, a timeout or a 408/429/5xx is retried with exponential backoff, honouring
`Retry-After`, when the request is safe to send again:

- reads (GET/HEAD), idempotent writes (PUT, DELETE, PATCH — ARM PUT/PATCH and Graph upserts by alternate key
  converge to the same state however often they land);
- POST actions that read and change nothing (ARM `checkNameAvailability`, `validateCreateRequest`, `listKeys`,
  `billingSpecs`, `usages` …; Graph `checkMemberGroups`, `getByIds` …), and Graph POSTs whose repeat the service
  refuses without a second object (`members/$ref`: "already exist", which the callers count as success;
  `removePassword`/`removeKey`: "not found", counted as already removed).

Never retried here: non-idempotent creates — Graph `addPassword`, `addKey`, plain `POST` collections. After an
ambiguous failure those are reconciled by their callers (read back, then try again: see
`provision.resources.graph_util.add_secret`). A 429 is retried for every method: a throttled request was not
applied.

Azure SDKs are imported inside the functions, as everywhere in provision.
"""

from __future__ import annotations

import asyncio
import email.utils
import random
import time
from typing import Any
from urllib.parse import urlsplit

# ARM POST actions that read and change nothing (an ARM "action" is the last path segment of a POST).
ARM_READ_ONLY_ACTIONS = frozenset(a.lower() for a in (
    "checkNameAvailability", "validateCreateRequest", "listKeys", "billingSpecs", "usages", "getGatewaySettings",
    "listAccountSas", "listServiceSas", "listAvailableProviders", "checkDnsNameAvailability",
))
# Graph POST actions safe to send again (see the module docstring).
GRAPH_SAFE_POST_ACTIONS = frozenset(a.lower() for a in (
    "checkMemberGroups", "checkMemberObjects", "getMemberGroups", "getMemberObjects", "getByIds",
    "validateProperties", "removePassword", "removeKey",
))
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "PATCH"})
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})

MAX_RETRIES = 4
BACKOFF_FACTOR = 0.5  # seconds: 0, 0.5, 1, 2 … (the first retry is immediate, as azure-core's)
BACKOFF_MAX = 30.0
RETRY_AFTER_MAX = 120.0


def _last_segment(url: str) -> str:
    return urlsplit(str(url)).path.rstrip("/").rsplit("/", 1)[-1].lower()


def arm_request_is_safe(method: str, url: str) -> bool:
    """True when an ARM request may be sent again after a dropped connection or a 5xx."""
    method = method.upper()
    return method in IDEMPOTENT_METHODS or (method == "POST" and _last_segment(url) in ARM_READ_ONLY_ACTIONS)


def graph_request_is_safe(method: str, url: str) -> bool:
    """True when a Graph request may be sent again after a dropped connection or a 5xx."""
    method = method.upper()
    if method in IDEMPOTENT_METHODS:
        return True
    if method != "POST":
        return False
    path = urlsplit(str(url)).path.rstrip("/")
    return _last_segment(path) in GRAPH_SAFE_POST_ACTIONS or path.endswith("/members/$ref")


def retry_after_seconds(value: str | None) -> float | None:
    """A Retry-After header (seconds or an HTTP date) in seconds, or None."""
    if not value:
        return None
    try:
        return max(0.0, min(float(value), RETRY_AFTER_MAX))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, min(when.timestamp() - time.time(), RETRY_AFTER_MAX))


def backoff(attempt: int) -> float:
    """Delay before retry number `attempt` (0-based): immediate first, then exponential with jitter."""
    if attempt <= 0:
        return 0.0
    base = min(BACKOFF_FACTOR * 2 ** (attempt - 1), BACKOFF_MAX)
    return base * (0.8 + 0.4 * random.random())


# -- ARM (azure-core) ---------------------------------------------------------------------------------------------
def arm_retry_policy(**kwargs: Any) -> Any:
    """An azure-core RetryPolicy for the azure-mgmt-* clients (`retry_policy=`): azure-core's own policy (backoff,
    Retry-After, connect/read/status budgets) that also retries PATCH and the read-only POST actions on dropped
    connections, resets, timeouts and 408/429/5xx."""
    from azure.core.pipeline.policies import RetryPolicy

    class ArmRetryPolicy(RetryPolicy):
        def _is_method_retryable(self, settings: Any, request: Any, response: Any = None) -> bool:
            if arm_request_is_safe(request.method, request.url):
                return True
            return super()._is_method_retryable(settings, request, response)

    kwargs.setdefault("retry_on_status_codes", sorted(RETRY_STATUSES))
    kwargs.setdefault("retry_total", 8)
    kwargs.setdefault("retry_read", MAX_RETRIES)
    kwargs.setdefault("retry_connect", MAX_RETRIES)
    return ArmRetryPolicy(**kwargs)


# -- Microsoft Graph (msgraph-sdk → kiota → httpx) ----------------------------------------------------------------
def graph_retry_handler() -> Any:
    """A kiota middleware that takes the place of kiota's RetryHandler (which resends every method on 503/504,
    `addPassword` included): transport errors and 408/5xx are retried for safe requests only, 429 for all."""
    import httpx
    from kiota_http.middleware.middleware import BaseMiddleware

    class GraphRetryHandler(BaseMiddleware):
        async def send(self, request: httpx.Request, transport: httpx.AsyncBaseTransport) -> httpx.Response:
            safe = graph_request_is_safe(request.method, str(request.url))
            attempt = 0
            while True:
                try:
                    response = await super().send(request, transport)
                except httpx.TransportError as e:
                    # Nothing was sent when the connection could not be made: safe for every method.
                    unsent = isinstance(e, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout))
                    if attempt >= MAX_RETRIES or not (safe or unsent):
                        raise
                    await asyncio.sleep(backoff(attempt))
                    attempt += 1
                    continue
                if response.status_code in RETRY_STATUSES and attempt < MAX_RETRIES and (
                        safe or response.status_code == 429):
                    delay = retry_after_seconds(response.headers.get("Retry-After"))
                    await response.aclose()
                    await asyncio.sleep(backoff(attempt) if delay is None else delay)
                    attempt += 1
                    request.headers["Retry-Attempt"] = str(attempt)
                    continue
                return response

    return GraphRetryHandler()


def graph_http_client(verify: Any, timeout: float = 60) -> Any:
    """The httpx client msgraph-sdk uses: Graph's default middleware with GraphRetryHandler in place of kiota's
    RetryHandler."""
    import httpx
    from kiota_http.kiota_client_factory import KiotaClientFactory
    from kiota_http.middleware import RetryHandler
    from msgraph_core import GraphClientFactory

    middleware = [graph_retry_handler() if isinstance(m, RetryHandler) else m
                  for m in KiotaClientFactory.get_default_middleware(None)]
    middleware.append(GraphClientFactory._get_telemetry_handler(None))
    return GraphClientFactory.create_with_custom_middleware(middleware,
                                                            client=httpx.AsyncClient(verify=verify, timeout=timeout))


def is_ambiguous(exc: BaseException) -> bool:
    """A failure after which a non-idempotent request may or may not have been applied: the connection dropped
    or timed out after sending, or the service answered 5xx/408."""
    try:
        import httpx
    except ImportError:  # pragma: no cover
        httpx = None  # type: ignore[assignment]
    if httpx is not None and isinstance(exc, httpx.TransportError):
        return not isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout))
    status = getattr(exc, "response_status_code", None) or getattr(exc, "status_code", None)
    return isinstance(status, int) and (status >= 500 or status == 408)


def is_transient(exc: BaseException) -> bool:
    """Worth trying again at all: ambiguous, refused before sending, or throttled."""
    try:
        import httpx
    except ImportError:  # pragma: no cover
        return False
    status = getattr(exc, "response_status_code", None) or getattr(exc, "status_code", None)
    return isinstance(exc, httpx.TransportError) or status in RETRY_STATUSES


def describe_failure(exc: BaseException) -> str | None:
    """One line for a transient failure that outlived the retries — the request, what happened and that running
    the command again is safe — or None for any other error. For the CLI's error handler."""
    try:
        import httpx
        from azure.core.exceptions import HttpResponseError, ServiceRequestError, ServiceResponseError
    except ImportError:  # pragma: no cover
        return None
    method = url = None
    if isinstance(exc, httpx.TransportError):
        try:
            method, url = exc.request.method, str(exc.request.url)
        except RuntimeError:  # no request attached
            pass
        what = ("could not connect" if isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout)) else
                "timed out" if isinstance(exc, httpx.TimeoutException) else "the connection dropped without an answer")
    elif isinstance(exc, ServiceRequestError):
        what = "could not connect"
    elif isinstance(exc, ServiceResponseError):
        what = "the connection dropped without an answer"
    elif isinstance(exc, HttpResponseError) and exc.status_code in RETRY_STATUSES:
        request = getattr(getattr(exc, "response", None), "request", None)
        method, url = getattr(request, "method", None), getattr(request, "url", None)
        what = f"answered {exc.status_code}"
    elif getattr(exc, "response_status_code", None) in RETRY_STATUSES:  # msgraph (kiota) APIError
        what = f"Microsoft Graph answered {exc.response_status_code}"  # type: ignore[attr-defined]
    else:
        return None
    target = ""
    if method and url:
        parts = urlsplit(str(url))
        service = "Microsoft Graph" if "graph" in parts.netloc or parts.path.startswith("/v1.0") else "Azure"
        target = f"{service} {method} {parts.path}: "
    return (f"{target}{what} (after {MAX_RETRIES} retries); nothing is left half-done that a re-run cannot finish — "
            f"run the same command again")

