"""Microsoft Graph JSON batching: many requests in `POST /$batch` envelopes of 20, as plain JSON through
provision.graphapi.call (msgraph-sdk's request adapter: auth, redirects, the transport's retry middleware).

Each inner request is answered on its own and retried on its own:
- 429 (throttled: not applied) for every method, after the largest Retry-After of the round (or a backoff);
- 5xx/408 and a batch lost as a whole (dropped connection, 5xx of the envelope) for requests safe to send again
  (reads, upserts, PATCH, DELETE, the safe POST actions — see provision.transport); a non-idempotent request
  (`addPassword`, a plain POST create) is not resent but marked `ambiguous`: its caller reconciles by reading back
  before sending it again (see provision.access.add_secrets);
- replication lag (404, NoBackingApplicationObject) for requests marked `lag` (they touch objects this run just
  wrote), within the consistency bound.
Requests that depend on others (`after`) travel in the same envelope with `dependsOn`; a request retried without
its dependency (which succeeded before) is sent on its own.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

from provision import graphapi, transport

MAX_REQUESTS = 20  # Graph: at most 20 requests per $batch
CONCURRENCY = 4  # envelopes in flight at once
IN_CHUNK = 15  # Graph: at most 15 values in one `in (...)` of a directory $filter
THROTTLE_RETRIES = 8


@dataclass(eq=False)
class Req:
    """One inner request (`url` relative to the v1.0 root) and, once sent, its answer."""

    method: str
    url: str
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    after: list[Req] = field(default_factory=list)  # dependsOn
    safe: bool | None = None  # may be sent again after an ambiguous failure (default: by method and URL)
    lag: bool = False  # retry replication-lag answers
    status: int = 0
    answer: Any = None
    answer_headers: dict[str, str] = field(default_factory=dict)
    ambiguous: bool = False  # unsafe and failed after it may have been applied: reconcile before resending
    tries: int = 0

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def is_safe(self) -> bool:
        if self.safe is not None:
            return self.safe
        return transport.graph_request_is_safe(self.method, self.url.split("?", 1)[0])

    def error(self) -> graphapi.GraphError:
        err = (self.answer or {}).get("error") if isinstance(self.answer, dict) else None
        err = err or {}
        return graphapi.GraphError(self.status, err.get("code") or "",
                                   err.get("message") or f"HTTP {self.status or 'no answer'} for {self.method} "
                                                         f"{self.url.split('?', 1)[0]}")


def _lagging(r: Req) -> bool:
    if not r.lag:
        return False
    err = (r.answer or {}).get("error") if isinstance(r.answer, dict) else None
    err = err or {}
    message = err.get("message") or ""
    codes = {d.get("code") for d in err.get("details") or [] if isinstance(d, dict)}
    return r.status == 404 or err.get("code") == "Request_ResourceNotFound" or (
        r.status == 400 and ("NoBackingApplicationObject" in codes or "does not reference a valid application "
                             "object" in message))


def _envelopes(pending: list[Req]) -> list[list[Req]]:
    """Pending requests in envelopes of at most 20, each request with the pending requests it depends on (a
    request that depends on several joins their groups into one; a group is at most 20 requests)."""
    ids = {id(r) for r in pending}
    groups: dict[int, list[Req]] = {}
    group_of: dict[int, int] = {}
    for n, r in enumerate(pending):
        deps = list(dict.fromkeys(group_of[id(d)] for d in r.after if id(d) in ids and id(d) in group_of))
        home = deps[0] if deps else n
        groups.setdefault(home, [])
        for g in deps[1:]:
            for member in groups.pop(g):
                group_of[id(member)] = home
                groups[home].append(member)
        groups[home].append(r)
        group_of[id(r)] = home
    out: list[list[Req]] = []
    for _, g in sorted(groups.items()):  # keyed by the position of the group's first request
        if len(g) > MAX_REQUESTS:
            raise ValueError(f"{len(g)} requests depend on each other: more than one $batch holds")
        if out and len(out[-1]) + len(g) <= MAX_REQUESTS:
            out[-1].extend(g)
        else:
            out.append(list(g))
    return out


async def _send_envelope(ctx: Any, reqs: list[Req]) -> None:
    index = {id(r): str(n) for n, r in enumerate(reqs)}
    body = []
    for r in reqs:
        item: dict[str, Any] = {"id": index[id(r)], "method": r.method, "url": r.url}
        headers = dict(r.headers)
        if r.body is not None:
            item["body"] = r.body
            headers.setdefault("Content-Type", "application/json")
        if headers:
            item["headers"] = headers
        deps = [index[id(d)] for d in r.after if id(d) in index]
        if deps:
            item["dependsOn"] = deps
        body.append(item)
    for r in reqs:
        r.tries += 1
    try:
        answer = await graphapi.call(ctx, "POST", "/$batch", {"requests": body})
    except graphapi.GraphError as e:
        for r in reqs:  # the envelope failed: a 4xx is every request's answer; else none of them is known
            r.status = e.response_status_code if 400 <= e.response_status_code < 500 else 0
            r.answer, r.answer_headers = {"error": {"code": e.code, "message": e.message}}, {}
        return
    except Exception as e:  # a dropped connection: nothing is known about any inner request
        if not transport.is_transient(e):
            raise
        for r in reqs:
            r.status, r.answer, r.answer_headers = 0, {"error": {"code": "", "message": str(e)}}, {}
        return
    by_id = {str(x.get("id")): x for x in (answer or {}).get("responses") or []}
    for r in reqs:
        x = by_id.get(index[id(r)]) or {}
        r.status = int(x.get("status") or 0)
        r.answer = x.get("body")
        r.answer_headers = {k.lower(): v for k, v in (x.get("headers") or {}).items()}


async def send(ctx: Any, reqs: list[Req], *, concurrency: int = CONCURRENCY) -> list[Req]:
    """Send every request (see the module docstring for what is retried); returns `reqs`, each with its answer."""
    from provision.consistency import default_timeout

    lag_deadline = time.monotonic() + default_timeout()
    lag_delay = 0.5
    pending = [r for r in reqs]
    rounds = 0
    sem = asyncio.Semaphore(concurrency)

    async def one(envelope: list[Req]) -> None:
        async with sem:
            await _send_envelope(ctx, envelope)

    while pending:
        await asyncio.gather(*(one(e) for e in _envelopes(pending)))
        rounds += 1
        again: list[Req] = []
        wait = 0.0
        for r in pending:
            if r.status == 429 or (r.status in (503,) and "retry-after" in r.answer_headers and r.is_safe()):
                if r.tries <= THROTTLE_RETRIES:
                    delay = transport.retry_after_seconds(r.answer_headers.get("retry-after"))
                    wait = max(wait, transport.backoff(rounds) if delay is None else delay)
                    again.append(r)
            elif r.status == 0 or r.status == 408 or r.status >= 500:
                if not r.is_safe():
                    r.ambiguous = True
                elif r.tries <= transport.MAX_RETRIES:
                    wait = max(wait, transport.backoff(rounds))
                    again.append(r)
            elif _lagging(r) and time.monotonic() + lag_delay < lag_deadline:
                wait = max(wait, lag_delay)
                again.append(r)
        if any(_lagging(r) for r in again):
            lag_delay = min(lag_delay * 2, 10.0)
        # a request whose dependency is retried goes again with it (424 FailedDependency meanwhile)
        for r in pending:
            if r not in again and not r.ok and any(d in again for d in r.after):
                again.append(r)
        pending = again
        if pending and wait:
            await asyncio.sleep(wait)
    return reqs


async def list_in(ctx: Any, collection: str, prop: str, values: list[str], select: str | None = None,
                  ) -> list[dict[str, Any]]:
    """The objects of `collection` whose `prop` is one of `values`: `$filter=prop in (…)` queries of 15 values,
    20 queries per $batch (300 values per request), pages followed. Duplicates and empty values are dropped."""
    unique = list(dict.fromkeys(v for v in values if v))
    if not unique:
        return []
    extra = f"&$select={select}" if select else ""
    reqs = [Req("GET", f"/{collection}?$filter={prop}%20in%20({','.join(graphapi.key(v) for v in chunk)})"
                       f"{extra}")
            for chunk in (unique[i:i + IN_CHUNK] for i in range(0, len(unique), IN_CHUNK))]
    await send(ctx, reqs)
    out: list[dict[str, Any]] = []
    for r in reqs:
        if not r.ok:
            raise r.error()
        out.extend(r.answer.get("value") or [])
        nxt = r.answer.get("@odata.nextLink")
        if nxt:
            base = ctx.cloud.graph_v1
            out.extend(await graphapi.list_all(ctx, nxt.removeprefix(base)))
    return out
