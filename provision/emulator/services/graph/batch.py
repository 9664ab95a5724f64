"""JSON batching: POST /v1.0/$batch with up to 20 requests, each answered on its own.

Inner requests run through the same Starlette routes as direct calls (a sub-request with the caller's token),
so they get identical validation, errors and replication behaviour. Like Graph's front end, the emulator also
throttles each inner request on its own: fault rules match inner paths and come back as inner 429/503s.
The batch itself is one entry in the request log, a write only if some inner request is one.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import string
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from starlette.requests import Request
from starlette.responses import Response

from provision.emulator.app import error_for
from provision.emulator.services.graph.responses import Call, ODataResponse, endpoint
from provision.emulator.wire import GraphError

log = logging.getLogger("provision.emulator.graph")

MAX_REQUESTS = 20
METHODS = {"GET", "POST", "PATCH", "PUT", "DELETE"}
BODY_METHODS = {"POST", "PATCH", "PUT"}
# Response headers an inner response carries, in Graph's spelling.
INNER_HEADERS = {"content-type": "Content-Type", "odata-version": "OData-Version", "location": "Location",
                 "retry-after": "Retry-After", "cache-control": "Cache-Control",
                 "www-authenticate": "WWW-Authenticate"}


def invalid(message: str) -> GraphError:
    return GraphError(message, code="BadRequest", status=400)


@dataclass
class Item:
    id: str
    method: str
    url: str
    headers: dict[str, str]
    body: Any
    has_body: bool
    depends_on: list[str]


def parse_batch(body: Any) -> list[Item]:
    """The batch envelope, checked as a whole: any problem fails the batch with 400, before anything runs."""
    if not isinstance(body, dict) or not isinstance(body.get("requests"), list):
        raise invalid("Invalid batch payload format: a JSON object with a 'requests' array is required.")
    raw = body["requests"]
    if not raw:
        raise invalid("Invalid batch payload format: the batch contains no requests.")
    if len(raw) > MAX_REQUESTS:
        raise invalid(f"The batch contains {len(raw)} requests; a batch can contain at most {MAX_REQUESTS}.")
    items = [_parse_item(entry) for entry in raw]
    seen: set[str] = set()
    for item in items:
        if item.id.lower() in seen:  # ids are not case-sensitive
            raise invalid(f"Batch request ids must be unique; '{item.id}' is used more than once.")
        seen.add(item.id.lower())
    for item in items:
        for dep in item.depends_on:
            if dep.lower() not in seen or dep.lower() == item.id.lower():
                raise invalid(f"Request '{item.id}' depends on '{dep}', which is not another request in the batch.")
    return items


def _parse_item(entry: Any) -> Item:
    if not isinstance(entry, dict):
        raise invalid("Invalid batch payload format: each request must be a JSON object.")
    rid = entry.get("id")
    if isinstance(rid, int) and not isinstance(rid, bool):
        rid = str(rid)
    if not isinstance(rid, str) or not rid:
        raise invalid("Invalid batch payload format: every request needs an 'id'.")
    method = entry.get("method")
    if not isinstance(method, str) or method.upper() not in METHODS:
        raise invalid(f"Request '{rid}' has an invalid or missing 'method'.")
    url = entry.get("url")
    if not isinstance(url, str) or not url.strip():
        raise invalid(f"Request '{rid}' has an invalid or missing 'url'.")
    headers = entry.get("headers") or {}
    if not isinstance(headers, dict) or not all(isinstance(k, str) and isinstance(v, str) and _latin1(k + v)
                                                for k, v in headers.items()):
        raise invalid(f"Request '{rid}' has invalid 'headers': an object of strings is required.")
    has_body = entry.get("body") is not None
    has_type = any(k.lower() == "content-type" for k in headers)
    if (has_body and not has_type) or (method.upper() in BODY_METHODS and not has_body):
        raise invalid(f"Write request id : {rid} does not contain Content-Type header or body.")
    depends = entry.get("dependsOn") or []
    if not isinstance(depends, list) or not all(isinstance(x, (str, int)) for x in depends):
        raise invalid(f"Request '{rid}' has an invalid 'dependsOn': an array of request ids is required.")
    return Item(rid, method.upper(), url.strip(), headers, entry.get("body"), has_body, [str(x) for x in depends])


def _latin1(text: str) -> bool:
    """HTTP header text is Latin-1; anything else cannot travel in a header."""
    try:
        text.encode("latin-1")
    except UnicodeEncodeError:
        return False
    return True


def execution_order(items: list[Item]) -> list[Item]:
    """Requests in batch order, except that each waits for the requests it depends on."""
    done: set[str] = set()
    order: list[Item] = []
    pending = list(items)
    while pending:
        ready = next((i for i in pending if all(d.lower() in done for d in i.depends_on)), None)
        if ready is None:
            raise invalid("The batch's dependsOn references form a cycle.")
        pending.remove(ready)
        done.add(ready.id.lower())
        order.append(ready)
    return order


@endpoint(write=False)  # reading a batch is not a write; its inner requests each check their own rights
async def handler(call: Call) -> Response:
    items = parse_batch(await call.body())
    call.request.scope["state"]["write"] = any(item.method != "GET" for item in items)
    results: dict[str, dict[str, Any]] = {}
    for item in execution_order(items):
        failed = [dep for dep in item.depends_on if results[dep.lower()]["status"] >= 400]
        results[item.id.lower()] = _failed_dependency(call, item, failed[0]) if failed else await run(call, item)
    return ODataResponse({"responses": [results[item.id.lower()] for item in items]})


def _failed_dependency(call: Call, item: Item, dep: str) -> dict[str, Any]:
    err = GraphError(f"The request could not be run because request '{dep}', on which it depends, failed.",
                     code="FailedDependency", status=424)
    return {"id": item.id, "status": 424, "headers": {"Content-Type": "application/json"},
            "body": err.body(call.request)}


def inner_path(url: str) -> tuple[str, str]:
    """An inner request's URL — relative (`/groups/x`, `groups/x`) or absolute, as msgraph-sdk sends it — as
    (path under /v1.0, query string)."""
    parts = urlsplit(url if "://" in url else "/" + url.lstrip("/"))
    segments = [unquote(s) for s in parts.path.split("/") if s]
    if segments and segments[0] in ("v1.0", "beta"):
        segments = segments[1:]
    # Batch URLs are often written unencoded (`$filter=displayName eq 'x'`): encode what a URL cannot carry.
    return "/" + "/".join(segments), quote(parts.query, safe=string.punctuation)


async def run(call: Call, item: Item) -> dict[str, Any]:
    path, query = inner_path(item.url)
    full_path = "/v1.0" + path
    scope = _sub_scope(call.request, item, full_path, query)
    if path == "/$batch":
        return _error_item(item, scope, invalid("A batch request cannot contain another batch request."))
    injected, after = await _inner_fault(call, item, scope, full_path)
    if injected is not None and not after:
        return injected
    status, headers, body = await _dispatch(call.request, scope, _body_bytes(item))
    if injected is not None:  # an `after` rule: the request was applied, its answer is lost or replaced
        return injected
    return _response_item(item, status, headers, body)


def _sub_scope(outer: Request, item: Item, path: str, query: str) -> dict[str, Any]:
    headers = [(b"authorization", outer.headers.get("authorization", "").encode("latin-1")),
               (b"host", outer.headers.get("host", "").encode("latin-1"))]
    headers += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in item.headers.items()
                if k.lower() not in ("authorization", "host", "content-length")]
    return {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": item.method,
        "scheme": outer.url.scheme, "server": outer.scope.get("server"), "client": outer.scope.get("client"),
        "root_path": "", "path": path, "raw_path": quote(path).encode(), "query_string": query.encode(),
        "headers": headers, "state": {"request_id": str(uuid.uuid4())}, "extensions": {},
    }


def _body_bytes(item: Item) -> bytes:
    """JSON bodies come as objects; anything else is base64 (how Graph batches carry binary content)."""
    if not item.has_body:
        return b""
    if isinstance(item.body, str):
        try:
            return base64.b64decode(item.body, validate=True)
        except ValueError:
            return item.body.encode()
    return json.dumps(item.body).encode()


async def _inner_fault(call: Call, item: Item, scope: dict[str, Any], path: str,
                       ) -> tuple[dict[str, Any] | None, bool]:
    """Fault rules apply to each inner request as Graph throttles each one separately: (the inner answer to send
    instead, whether the request runs first). An `after` rule lets the inner request run and commit, then replaces
    its answer — a backend that applied a write and timed out answering (504 for `drop`): the ambiguous case."""
    rules = call.state.faults.match(item.method, path)
    for rule in rules:
        if rule.action == "latency":
            await asyncio.sleep(rule.latency_ms / 1000)
    terminal = next((r for r in rules if r.action != "latency"), None)
    if terminal is None:
        return None, False
    if terminal.action == "drop":  # the backend connection died: the batch front end reports a timeout
        return _error_item(item, scope, GraphError("The request timed out.", code="GatewayTimeout", status=504)), \
            terminal.after
    headers = {"Retry-After": str(terminal.retry_after)} if terminal.retry_after is not None else {}
    message = terminal.message or ("Too many requests. Please retry after the time given in the Retry-After "
                                   "header." if terminal.status == 429 else f"Injected fault: HTTP {terminal.status}.")
    err = error_for("graph", terminal.status, message, terminal.code, headers)
    return _error_item(item, scope, err), terminal.after


def _error_item(item: Item, scope: dict[str, Any], err: GraphError) -> dict[str, Any]:
    return {"id": item.id, "status": err.status, "headers": {"Content-Type": "application/json", **err.headers},
            "body": err.body(Request(scope))}


async def _dispatch(outer: Request, scope: dict[str, Any], body: bytes) -> tuple[int, dict[str, str], bytes]:
    """Run a sub-request through the app's routes and capture the response."""
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return {"type": "http.disconnect"}

    start: dict[str, Any] = {}
    chunks: list[bytes] = []

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            start.update(message)
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    try:
        await outer.app(scope, receive, send)
    except Exception:  # a handler bug: this inner request fails in Graph's envelope, the batch goes on
        log.exception("unhandled error in batch request %s %s", scope["method"], scope["path"])
        err = GraphError("An internal server error occurred in the emulator.", code="generalException", status=500)
        return 500, {"content-type": "application/json"}, json.dumps(err.body(Request(scope))).encode()
    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in start.get("headers", [])}
    return start.get("status", 500), headers, b"".join(chunks)


def _response_item(item: Item, status: int, headers: dict[str, str], body: bytes) -> dict[str, Any]:
    out: dict[str, Any] = {"id": item.id, "status": status,
                           "headers": {INNER_HEADERS[k]: v for k, v in headers.items() if k in INNER_HEADERS}}
    if body:
        if headers.get("content-type", "").startswith("application/json"):
            out["body"] = json.loads(body)
        else:
            out["body"] = base64.b64encode(body).decode()
    return out
