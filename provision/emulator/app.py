"""The emulator's ASGI application: one TLS endpoint, routed by path prefix to each emulated service.

    /{tenant}/v2.0/.well-known/openid-configuration, /{tenant}/oauth2/v2.0/token, ...   Entra ID (identity)
    /v1.0/...                                                                             Microsoft Graph
    /subscriptions/..., /providers/...                                                    Azure Resource Manager
    /kafkarest/{cluster}/v1/...                                                           Kafka REST proxy
    /_emulator/...                                                                        admin API (operator only)

The outer `Front` middleware does what real Azure's front doors do for every service: request ids, path
normalisation (msgraph-sdk sends `v1.0//applications`), fault injection, the request log, and turning every
error — even an unexpected one — into the service's own error envelope. No traceback ever reaches a client.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from provision.emulator import wire
from provision.emulator.state import EmulatorState

log = logging.getLogger("provision.emulator")

# ARM POST actions that read and change nothing: the request log does not count them as writes.
_ARM_READ_ACTIONS = re.compile(r"/(checkNameAvailability|validateCreateRequest|listKeys|getGatewaySettings|"
                               r"exportTemplate)$",
                               re.IGNORECASE)


def family_of(path: str) -> str:
    if path.startswith("/_emulator"):
        return "admin"
    if path.startswith(("/v1.0", "/beta")):
        return "graph"
    if path.startswith(("/subscriptions", "/providers", "/tenants", "/metadata/endpoints")):
        return "arm"
    if path.startswith("/kafkarest/"):
        return "kafkarest"
    return "identity"


def error_for(family: str, status: int, message: str, code: str | None = None,
              headers: dict[str, str] | None = None) -> wire.ServiceError:
    """An error in the envelope of the service that owns the path."""
    if family == "graph":
        default = {400: "BadRequest", 401: "InvalidAuthenticationToken", 403: "Authorization_RequestDenied",
                   404: "Request_ResourceNotFound", 405: "Request_BadRequest", 413: "Request_EntityTooLarge",
                   429: "TooManyRequests", 503: "ServiceNotAvailable", 504: "GatewayTimeout"}
        return wire.GraphError(message, code=code or default.get(status, "generalException"), status=status,
                               headers=headers)
    if family == "arm":
        default = {400: "BadRequest", 404: "NotFound", 405: "MethodNotAllowed", 413: "RequestEntityTooLarge",
                   429: "TooManyRequests", 503: "ServiceUnavailable", 504: "GatewayTimeout"}
        return wire.ArmError(message, code=code or default.get(status, "InternalServerError"), status=status,
                             headers=headers)
    if family == "kafkarest":
        return wire.KafkaRestError(message, status=status, headers=headers)
    if family == "identity":
        oauth = {429: ("temporarily_unavailable", 90025), 503: ("temporarily_unavailable", 90033),
                 404: ("invalid_request", 90002), 405: ("invalid_request", 90056)}
        err, num = oauth.get(status, ("server_error", 90000))
        e = wire.OAuthError(code or err, num, message, status=status)
        e.headers = headers or {}
        return e
    return wire.AdminError(message, code=code or "BadRequest", status=status, headers=headers)


class Front:
    """Pure ASGI middleware around the Starlette app (see module docstring)."""

    def __init__(self, app: Any, state: EmulatorState):
        self.app = app
        self.state = state

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        scope, path = wire.normalized_scope(scope)
        family = family_of(path)
        method = scope["method"]
        rid = str(uuid.uuid4())
        scope.setdefault("state", {})["request_id"] = rid
        started = time.perf_counter()
        status_box = {"status": 0}

        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        echo_headers = [(b"request-id", rid.encode()), (b"x-ms-request-id", rid.encode())]
        if "client-request-id" in headers:
            echo_headers.append((b"client-request-id", headers["client-request-id"].encode("latin-1")))

        async def send_wrapped(message: dict) -> None:
            if message["type"] == "http.response.start":
                status_box["status"] = message["status"]
                message = dict(message, headers=list(message.get("headers", [])) + echo_headers)
            await send(message)

        fault_note = None
        try:
            rules = self.state.faults.match(method, path) if family != "admin" else []
            for rule in rules:
                if rule.action == "latency" and not await self.state.faults.hold(rule):
                    fault_note = "abandoned (its latency rule was removed during the hold)"
                    scope.setdefault("state", {})["write"] = False  # nothing was applied
                    await _drop_connection(send)
                    return
            terminal = next((r for r in rules if r.action != "latency"), None)
            if terminal is not None and terminal.after:
                # Applied, then the answer is lost: the handler runs and commits, its response goes nowhere.
                applied = {"status": 0}

                async def swallow(message: dict) -> None:
                    if message["type"] == "http.response.start":
                        applied["status"] = message["status"]

                await self.app(scope, receive, swallow)
                status_box["applied"] = applied["status"]
            if terminal is not None and terminal.action == "drop":
                fault_note = "drop after" if terminal.after else "drop"
                await _drop_connection(send)
                return
            if terminal is not None:
                fault_note = f"status {terminal.status}" + (" after" if terminal.after else "")
                hdrs = {"Retry-After": str(terminal.retry_after)} if terminal.retry_after is not None else {}
                err = error_for(family, terminal.status, terminal.message or _fault_message(terminal.status),
                                terminal.code, hdrs)
                await err.response(Request(scope, receive))(scope, receive, send_wrapped)
                return
            await self.app(scope, receive, send_wrapped)
        except Exception:  # a bug in a handler: answer in the service's envelope, never with a traceback
            log.exception("unhandled error serving %s %s", method, path)
            if status_box["status"] == 0:
                err = error_for(family, 500, "An internal server error occurred in the emulator.")
                await err.response(Request(scope, receive))(scope, receive, send_wrapped)
        finally:
            caller = scope.get("state", {}).get("caller")
            self.state.requests.add({
                "time": time.time(),
                "method": method,
                "path": path,
                "query": scope.get("query_string", b"").decode("latin-1"),
                "status": status_box["status"] if not (fault_note or "").startswith(("drop", "abandoned")) else 0,
                "appliedStatus": status_box.get("applied"),  # an `after` fault: what the handler answered
                "durationMs": round((time.perf_counter() - started) * 1000, 2),
                "family": family,
                "clientId": getattr(caller, "app_id", None),
                "fault": fault_note,
                "write": scope.get("state", {}).get("write", method in ("POST", "PUT", "PATCH", "DELETE")
                                                    and not (family == "arm" and _ARM_READ_ACTIONS.search(path))),
            })


def _fault_message(status: int) -> str:
    return {429: "Too many requests. Please retry after the time given in the Retry-After header.",
            503: "The service is temporarily unavailable. Please retry later."}.get(
        status, f"Injected fault: HTTP {status}.")


async def _drop_connection(send: Any) -> None:
    """Close the TCP connection without answering, as a reset load balancer would."""
    transport = getattr(getattr(send, "__self__", None), "transport", None)
    if transport is None:  # wrapped by another layer: reach the uvicorn cycle through the closure
        for cell in getattr(send, "__closure__", None) or ():
            inner = cell.cell_contents
            transport = getattr(getattr(inner, "__self__", None), "transport", None)
            if transport is not None:
                break
    if transport is not None:
        transport.close()
        return
    raise ConnectionAbortedError("injected connection drop")


# Microsoft Graph v1.0's entity sets and singletons: a path under one of these names a real Graph resource, so a
# path the emulator does not route there is an operation it lacks (501), not a segment Graph does not know (400).
GRAPH_ROOTS = frozenset(s.lower() for s in (
    "admin", "agreementAcceptances", "agreements", "appCatalogs", "applications", "applicationTemplates",
    "auditLogs", "authenticationMethodConfigurations", "authenticationMethodsPolicy",
    "certificateBasedAuthConfiguration", "chats", "communications", "compliance", "connections", "contacts", "contracts", "deviceAppManagement",
    "deviceManagement", "devices", "directory", "directoryObjects", "directoryRoles", "directoryRoleTemplates",
    "domainDnsRecords", "domains", "drives", "education", "employeeExperience", "external", "groupLifecyclePolicies",
    "groups", "groupSettings", "groupSettingTemplates", "identity", "identityGovernance", "identityProtection",
    "identityProviders", "informationProtection", "invitations", "me", "oauth2PermissionGrants", "organization",
    "permissionGrants", "places", "planner", "policies", "print", "privacy", "reports", "roleManagement",
    "schemaExtensions", "search", "security", "servicePrincipals", "shares", "sites", "solutions", "storage",
    "subscribedSkus", "subscriptions", "teams", "teamsTemplates", "teamwork", "tenantRelationships", "users",
    "$metadata"))
NOT_EMULATED_CODE = "NotImplementedInEmulator"


def _not_emulated(family: str, request: Request) -> wire.ServiceError:
    """501 naming the operation: the real service has it, this emulator does not."""
    op = f"{request.method} {request.url.path}"
    version = request.query_params.get("api-version")
    msg = (f"The local Azure emulator does not implement '{op}'{f' (api-version {version})' if version else ''}. "
           f"This is a gap in the emulator, not an answer from Azure: see `provision emulator coverage` for the "
           f"operations it emulates.")
    return error_for(family, 501, msg, NOT_EMULATED_CODE)


def _graph_root(path: str) -> str:
    parts = path.split("/")
    return re.split(r"[(]", parts[2], maxsplit=1)[0].lower() if len(parts) > 2 else ""


async def _http_exception(request: Request, exc: HTTPException) -> Response:
    family = family_of(request.url.path)
    if exc.status_code == 404:
        msg = f"No {family} API matches '{request.method} {request.url.path}'."
        if family == "graph":
            if _graph_root(request.url.path) in GRAPH_ROOTS:
                return _not_emulated(family, request).response(request)
            msg = f"Resource not found for the segment '{request.url.path.rsplit('/', 1)[-1]}'."
            return error_for(family, 400, msg, "BadRequest").response(request)
        if family == "arm":
            return _not_emulated(family, request).response(request)
        return error_for(family, 404, msg).response(request)
    if exc.status_code == 405:
        if family == "arm" or (family == "graph" and request.method in ("PATCH", "POST", "DELETE", "GET")):
            return _not_emulated(family, request).response(request)
        return error_for(family, 405, f"The HTTP method '{request.method}' is not supported for this resource.",
                         ).response(request)
    return error_for(family, exc.status_code, str(exc.detail)).response(request)


async def _service_error(request: Request, exc: wire.ServiceError) -> Response:
    return exc.response(request)


def create_app(state: EmulatorState) -> Any:
    from provision.emulator import admin
    from provision.emulator.services import arm, graph, identity, kafkarest

    routes = [*admin.routes(), *graph.routes(), *arm.routes(), *kafkarest.routes(), *identity.routes()]
    app = Starlette(routes=routes, exception_handlers={HTTPException: _http_exception,
                                                       wire.ServiceError: _service_error})
    app.state.emulator = state
    from provision.emulator.services import keyvault  # each vault's data plane: its own listener (see there)

    keyvault.attach(state)
    return Front(app, state)


def emulator_of(request: Request) -> EmulatorState:
    return request.app.state.emulator
