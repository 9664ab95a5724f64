"""Microsoft Graph as plain JSON: requests through msgraph-sdk's request adapter (its auth, retry and redirect
middleware), answers as the wire's camelCase dicts.

Reads and upserts that need a few fields do not pay for msgraph's model machinery (the first model deserializer
imports ~1,300 modules), and actual state stays in one shape: Graph's own JSON.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote


from provision.errors import ProvisionError


class GraphError(ProvisionError):
    """A Graph error answer: status, code and message from the OData error envelope (one line for the CLI)."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(f"{code}: {message}" if code else message)
        self.response_status_code = status
        self.code, self.message = code, message
        self.error = self  # the shape consistency.is_replication_lag and the CLI's error printer read

    @property
    def details(self) -> list[Any]:
        return []


def key(value: str) -> str:
    """An OData string literal for an alternate key or $filter: quotes doubled, then URL-encoded."""
    return quote("'" + value.replace("'", "''") + "'", safe="'")


async def call(ctx: Any, method: str, path: str, body: Any = None, *, headers: dict[str, str] | None = None,
               ) -> Any:
    """One Graph request; `path` is relative to the v1.0 root (e.g. "/applications?$filter=…"). Returns the
    decoded JSON body, or None for 204. Errors raise GraphError (404 included: callers decide)."""
    from kiota_abstractions.method import Method
    from kiota_abstractions.request_information import RequestInformation

    ri = RequestInformation()
    ri.http_method = Method[method.upper()]
    ri.url = ctx.cloud.graph_v1 + path
    ri.headers.try_add("Accept", "application/json")
    for k, v in (headers or {}).items():
        ri.headers.try_add(k, v)
    if body is not None:
        ri.headers.try_add("Content-Type", "application/json")
        ri.content = json.dumps(body).encode()
    from opentelemetry import trace

    response = await ctx.graph.request_adapter.get_http_response_message(ri, trace.INVALID_SPAN)
    if response.status_code == 204 or not response.content:
        if response.is_success:
            return None
    if not response.is_success:
        try:
            err = response.json().get("error") or {}
        except ValueError:
            err = {}
        raise GraphError(response.status_code, err.get("code") or "", err.get("message") or response.text[:200])
    return response.json()


async def get_or_none(ctx: Any, path: str) -> Any:
    try:
        return await call(ctx, "GET", path)
    except GraphError as e:
        if e.response_status_code == 404:
            return None
        raise


async def list_all(ctx: Any, path: str) -> list[dict[str, Any]]:
    """Every item of a collection, following @odata.nextLink."""
    out: list[dict[str, Any]] = []
    page = await call(ctx, "GET", path)
    while True:
        out.extend(page.get("value") or [])
        nxt = page.get("@odata.nextLink")
        if not nxt:
            return out
        page = await call(ctx, "GET", nxt[len(ctx.cloud.graph_v1):] if nxt.startswith(ctx.cloud.graph_v1) else nxt)



async def purge_deleted(ctx: Any, object_id: str) -> None:
    """Delete permanently an object already soft-deleted (Entra keeps deleted apps and groups for 30 days, holding
    their uniqueName). 404: already gone."""
    try:
        await call(ctx, "DELETE", f"/directory/deletedItems/{object_id}")
    except GraphError as e:
        if e.response_status_code != 404:
            raise


async def upsert(ctx: Any, collection: str, unique_name: str, body: dict[str, Any]) -> dict[str, Any] | None:
    """PATCH /{collection}(uniqueName=…) with create-if-missing: the created object (201) or None (204: it existed).
    A soft-deleted object of ours still holding the uniqueName (after `down`, or deleted by hand) is purged first:
    the name is the environment's, and a deleted object cannot be upserted."""
    path = f"/{collection}(uniqueName={key(unique_name)})"
    try:
        return await call(ctx, "PATCH", path, body, headers={"Prefer": "create-if-missing"})
    except GraphError as e:
        if e.response_status_code != 400:
            raise
        kind = {"applications": "application", "groups": "group"}[collection]
        deleted = (await call(ctx, "GET", f"/directory/deletedItems/microsoft.graph.{kind}"
                                          f"?$filter=uniqueName eq {key(unique_name)}&$select=id")).get("value") or []
        if not deleted:
            raise
        for item in deleted:
            await purge_deleted(ctx, item["id"])
        return await call(ctx, "PATCH", path, body, headers={"Prefer": "create-if-missing"})
