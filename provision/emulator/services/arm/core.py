"""Azure Resource Manager's front door, shared by every emulated resource provider.

- Authentication and authorization (an ARM token for the bootstrap subscription; the operator is Owner).
- `api-version` is required (any value accepted: the SDKs each send their own).
- Resource ids: ARM ids are case-insensitive, so documents are keyed by the lower-cased id, with the resource
  group's id as scope — deleting a resource group deletes its contents by scope prefix.
- Long-running operations: `start_operation` records an operation that is InProgress for a configured time and
  then Succeeded or Failed; `settle` (run at the start of every ARM request) applies the effects of operations
  that have come due, through completion callbacks each provider registers — e.g. flipping provisioningState
  or actually removing a deleted resource. So state follows time, survives restarts, and needs no background
  thread (moto's ManagedState "time" progression).
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from typing import Any, Callable

from starlette.requests import Request
from starlette.responses import Response

from provision.emulator import tokens, wire
from provision.emulator.app import emulator_of
from provision.emulator.state import EmulatorState
from provision.emulator.wire import ArmError

OPERATION = "arm:operation"
Completion = Callable[[EmulatorState, dict[str, Any]], None]
_completions: dict[str, Completion] = {}


def register_completion(name: str) -> Callable[[Completion], Completion]:
    def deco(fn: Completion) -> Completion:
        _completions[name] = fn
        return fn

    return deco


def now_iso() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat().replace("+00:00", "Z")


# -- request preamble -------------------------------------------------------------------------------------------
def authenticate(request: Request, *, action: str | None = None, require_right: bool = True) -> tokens.Caller:
    """Validate the ARM bearer token, the api-version and the subscription; settle due operations.

    `require_right=False`: any valid ARM token will do (tenant-level reads such as `GET /tenants`, and
    `GET /subscriptions`, which lists only what the caller has a role on)."""
    state = emulator_of(request)
    try:
        caller = tokens.validate_bearer(request.headers.get("authorization"), state.signer,
                                        audiences=tokens.ARM_AUDIENCES)
    except tokens.TokenProblem as p:
        code, msg = {
            "missing": ("AuthenticationFailed", "Authentication failed. The 'Authorization' header is missing."),
            "malformed": ("InvalidAuthenticationToken", "The access token is invalid."),
            "signature": ("InvalidAuthenticationToken", "The access token is invalid."),
            "expired": ("ExpiredAuthenticationToken",
                        f"The access token expiry UTC time is earlier than current UTC time '{now_iso()}'."),
            "audience": ("InvalidAuthenticationTokenAudience",
                         "The access token has been obtained for wrong audience or resource. It should exactly "
                         "match with one of the allowed audiences 'https://management.core.windows.net/',"
                         "'https://management.core.windows.net','https://management.azure.com/',"
                         "'https://management.azure.com'."),
            "tenant": ("InvalidAuthenticationTokenTenant",
                       "The access token is from the wrong issuer. It must match the tenant associated with this "
                       "subscription. Please use the authority (URL) that matches the tenant."),
        }[p.reason]
        raise ArmError(msg, code=code, status=401) from None
    request.scope.setdefault("state", {})["caller"] = caller
    if caller.tenant_id != state.boot.tenant_id:
        raise ArmError("The access token is from the wrong issuer. It must match the tenant associated with this "
                       "subscription.", code="InvalidAuthenticationTokenTenant", status=401)
    if "api-version" not in request.query_params:
        raise ArmError("The api-version query parameter (?api-version=) is required for all requests.",
                       code="MissingApiVersionParameter")
    sub = request.path_params.get("subscription")
    if sub is not None and sub.lower() != state.boot.subscription_id:
        raise ArmError(f"The subscription '{sub}' could not be found.", code="SubscriptionNotFound", status=404)
    if require_right and not state.has_right(caller.object_id, "arm"):
        act = action or f"{request.method} {request.url.path}"
        raise ArmError(
            f"The client '{caller.object_id}' with object id '{caller.object_id}' does not have authorization to "
            f"perform action '{act}' over scope '{request.url.path}' or the scope is invalid. If access was "
            f"recently granted, please refresh your credentials.", code="AuthorizationFailed", status=403)
    settle(state)
    return caller


def base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def api_version(request: Request) -> str:
    return request.query_params.get("api-version", "")


# -- ids and documents ------------------------------------------------------------------------------------------
def rg_id(sub: str, rg: str) -> str:
    return f"/subscriptions/{sub}/resourceGroups/{rg}"


def key(resource_id: str) -> str:
    return resource_id.lower()


def scope_of_rg(sub: str, rg: str) -> str:
    return key(rg_id(sub, rg))


def get_resource(state: EmulatorState, kind: str, resource_id: str) -> dict[str, Any] | None:
    return state.store.get(kind, key(resource_id))


def put_resource(state: EmulatorState, kind: str, doc: dict[str, Any], sub: str, rg: str | None) -> None:
    state.store.put(kind, key(doc["id"]), doc, scope=scope_of_rg(sub, rg) if rg else f"/subscriptions/{sub}".lower())


def delete_resource(state: EmulatorState, kind: str, resource_id: str) -> bool:
    return state.store.delete(kind, key(resource_id))


def require_resource_group(state: EmulatorState, sub: str, rg: str) -> dict[str, Any]:
    doc = state.store.get("arm:resourceGroup", key(rg_id(sub, rg)))
    if doc is None:
        raise ArmError(f"Resource group '{rg}' could not be found.", code="ResourceGroupNotFound", status=404)
    return doc


def not_found(resource_type: str, name: str, rg: str | None = None) -> ArmError:
    where = f" under resource group '{rg}'" if rg else ""
    return ArmError(f"The Resource '{resource_type}/{name}'{where} was not found. For more details please go to "
                    f"https://aka.ms/ARMResourceNotFoundFix", code="ResourceNotFound", status=404)


def public(doc: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if not k.startswith("_")}


async def read_body(request: Request) -> dict[str, Any]:
    body = await wire.read_json(request, ArmError, bad_code="InvalidRequestContent")
    if not isinstance(body, dict):
        raise ArmError("The request content was invalid and could not be deserialized: the body must be a JSON "
                       "object.", code="InvalidRequestContent")
    return body


# -- long-running operations ------------------------------------------------------------------------------------
def start_operation(state: EmulatorState, *, duration: float, completion: str, args: dict[str, Any],
                    error: dict[str, Any] | None = None, name: str | None = None) -> dict[str, Any]:
    """Record an operation that is InProgress for `duration` seconds, then Succeeded (or Failed with `error`).

    `completion` names the callback that applies its effect when it comes due."""
    op_id = name or str(uuid.uuid4())
    now = time.time()
    op = {"id": op_id, "name": op_id, "status": "InProgress", "startTime": now_iso(), "_start": now,
          "_until": now + max(0.0, duration), "_completion": completion, "_args": args, "_error": error}
    state.store.put(OPERATION, op_id, op)
    return op


def settle(state: EmulatorState) -> None:
    """Apply every operation whose time has come. Cheap: only InProgress operations are looked at."""
    now = time.time()
    for op in state.store.list(OPERATION):
        if op["status"] != "InProgress" or op["_until"] > now:
            continue
        with state.store.transaction():
            current = state.store.get(OPERATION, op["id"])
            if current is None or current["status"] != "InProgress":
                continue
            fn = _completions.get(op["_completion"])
            if fn is not None:
                fn(state, op)
            current["status"] = "Failed" if op.get("_error") else "Succeeded"
            current["endTime"] = now_iso()
            if op.get("_error"):
                current["error"] = op["_error"]
            state.store.put(OPERATION, op["id"], current)


def get_operation(state: EmulatorState, op_id: str) -> dict[str, Any] | None:
    settle(state)
    return state.store.get(OPERATION, op_id)


def operation_status_body(op: dict[str, Any]) -> dict[str, Any]:
    """The body of an Azure-AsyncOperation poll: {"status": ..., "error": {...}} (plus times, as Network adds)."""
    body: dict[str, Any] = {"status": op["status"]}
    if op["status"] == "Failed" and op.get("error"):
        body["error"] = op["error"]
    return body


def retry_after(state: EmulatorState) -> dict[str, str]:
    return {"Retry-After": str(int(state.timing.retry_after_seconds))}


def operation_status_response(request: Request, op_id: str, *, extra: dict[str, Any] | None = None) -> Response:
    state = emulator_of(request)
    op = get_operation(state, op_id)
    if op is None:
        raise ArmError(f"The operation '{op_id}' could not be found.", code="OperationNotFound", status=404)
    body = operation_status_body(op)
    if extra:
        body.update(extra)
    headers = retry_after(state) if op["status"] == "InProgress" else {}
    return wire.json_response(body, headers=headers)


def operation_result_response(request: Request, op_id: str) -> Response:
    """A Location-header poll: 202 while running; 200/204 when done; the ARM error when it failed."""
    state = emulator_of(request)
    op = get_operation(state, op_id)
    if op is None:
        raise ArmError(f"The operation '{op_id}' could not be found.", code="OperationNotFound", status=404)
    if op["status"] == "InProgress":
        return wire.empty_response(202, headers={"Location": str(request.url), **retry_after(state)})
    if op["status"] == "Failed":
        err = op.get("error") or {"code": "InternalServerError", "message": "The operation failed."}
        raise ArmError(err.get("message", ""), code=err.get("code"), status=400, details=err.get("details", []))
    return wire.empty_response(200 if op.get("_result") is None else 200)


async def operation_status_handler(request: Request) -> Response:
    """Azure-AsyncOperation poll on `{operation}`: {"status": "InProgress" | "Succeeded" | "Failed", "error"?}."""
    authenticate(request)
    return operation_status_response(request, request.path_params["operation"])


async def operation_result_handler(request: Request) -> Response:
    """Location poll on `{operation}`: 202 while running, 200 when done."""
    authenticate(request)
    return operation_result_response(request, request.path_params["operation"])


# -- helpers shared by the resource providers (resource groups, Network, Storage, ...) ----------------------------
# Imported here rather than at the top so this section stays a pure addition to the module.
import re  # noqa: E402

from starlette.routing import Route  # noqa: E402


class _ArmRoute(Route):
    """A route matched case-insensitively, as ARM matches paths: the SDKs send `resourcegroups` (resources) and
    `resourceGroups` (network, storage), `providers/microsoft.network` from some tools. Path parameters keep the
    caller's spelling; ids are compared by `key()`."""

    def __init__(self, path: str, endpoint: Callable, *, methods: list[str]):
        super().__init__(path, endpoint, methods=methods)
        self.path_regex = re.compile(self.path_regex.pattern, re.IGNORECASE)


def route(path: str, endpoint: Callable, methods: list[str]) -> Route:
    """A Starlette route for an ARM path; use `{subscription}` for the subscription id so `authenticate` checks it."""
    return _ArmRoute(path, endpoint, methods=methods)


def normalize_location(location: str) -> str:
    """ARM stores regions by their short name: "West US" and "westus" are the same region."""
    return location.replace(" ", "").lower()


def new_etag() -> str:
    """A weak entity tag in Network's shape: W/"<guid>", new on every change."""
    return f'W/"{uuid.uuid4()}"'


def delete_under(state: EmulatorState, scope: str) -> int:
    """Delete every document whose scope is `scope` or lies below it (`scope/...`).

    Never a sibling whose name merely starts the same way: deleting group `rg` must not touch `rg2`."""
    scope = scope.lower().rstrip("/")
    with state.store.transaction():
        n = state.store.execute("DELETE FROM objects WHERE scope=?", (scope,)).rowcount
        return n + state.store.delete_scope(scope + "/")


def require_writable_resource_group(state: EmulatorState, sub: str, rg: str) -> dict[str, Any]:
    """The resource group, refusing writes while it is being deleted (as ARM does)."""
    doc = require_resource_group(state, sub, rg)
    if doc.get("properties", {}).get("provisioningState") == "Deleting":
        raise ArmError(f"The resource group '{doc['name']}' is in deprovisioning state and cannot perform this "
                       f"operation.", code="ResourceGroupBeingDeleted", status=409)
    return doc


def require_resource(state: EmulatorState, kind: str, resource_type: str, sub: str, rg: str, name: str,
                     resource_id: str) -> dict[str, Any]:
    """A resource in an existing group, or 404 (ResourceGroupNotFound, then ResourceNotFound)."""
    require_resource_group(state, sub, rg)
    doc = get_resource(state, kind, resource_id)
    if doc is None:
        raise not_found(resource_type, name, rg)
    return doc


def require_parent(state: EmulatorState, kind: str, child_type: str, sub: str, rg: str, parent_id: str,
                   action: str, *, write: bool = False) -> dict[str, Any]:
    """The parent of a nested resource (`write`: in a group not being deleted), or 404 ParentResourceNotFound."""
    if write:
        require_writable_resource_group(state, sub, rg)
    else:
        require_resource_group(state, sub, rg)
    doc = get_resource(state, kind, parent_id)
    if doc is None:
        raise parent_not_found(action, child_type, parent_id)
    return doc


def list_resources(state: EmulatorState, kind: str, sub: str, rg: str | None = None) -> list[dict[str, Any]]:
    """A kind's resources in one (existing) group, or with no group in the whole subscription."""
    if rg is not None:
        require_resource_group(state, sub, rg)
        return state.store.list(kind, scope=scope_of_rg(sub, rg))
    return state.store.list(kind, scope_prefix=f"/subscriptions/{sub}/".lower())


def save_resource(state: EmulatorState, kind: str, doc: dict[str, Any]) -> None:
    """`put_resource`, with the subscription and group read from the document's id."""
    parts = doc["id"].split("/")
    put_resource(state, kind, doc, parts[2], parts[4])


def require_same_location(existing: dict[str, Any] | None, location: str, rg: str) -> None:
    """A PUT on an existing resource cannot move it to another region."""
    if existing is not None and existing["location"] != location:
        raise ArmError(f"The resource '{existing['name']}' already exists in location '{existing['location']}' in "
                       f"resource group '{rg}'. A resource with the same name cannot be created in location "
                       f"'{location}'. Please select a new resource name.", code="InvalidResourceLocation")


def require_location(body: dict[str, Any]) -> str:
    """The body's `location`, normalized; tracked resources cannot be created without one."""
    location = body.get("location")
    if not isinstance(location, str) or not location.strip():
        raise ArmError("The location property is required for this definition.", code="LocationRequired")
    return normalize_location(location)


def parent_not_found(action: str, child_type: str, parent_id: str) -> ArmError:
    """ARM's answer for a nested resource (securityRules, subnets, containers) whose parent does not exist."""
    return ArmError(f"Failed to perform '{action}' on resource(s) of type '{child_type}', because the parent "
                    f"resource '{parent_id}' could not be found.", code="ParentResourceNotFound", status=404)
