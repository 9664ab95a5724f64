"""Key Vault's secrets data plane on the wire, served on each vault's own origin (see listeners.py).

    PUT    /secrets/{name}                         set (a new version)                      SecretBundle
    GET    /secrets/{name}[/{version}]             get (the latest, or one version)         SecretBundle
    PATCH  /secrets/{name}[/{version}]             update properties                        SecretBundle, no value
    DELETE /secrets/{name}                         delete (soft)                            DeletedSecretBundle
    GET    /secrets?maxresults=N                   list (latest of each, no values)         {value, nextLink}
    GET    /secrets/{name}/versions?maxresults=N   list versions                            {value, nextLink}
    GET    /deletedsecrets[/{name}]                list / get deleted                       ...
    POST   /deletedsecrets/{name}/recover          recover                                  SecretBundle, no value
    DELETE /deletedsecrets/{name}                  purge                                    204

As recorded: a request without a token gets 401 `Unauthorized` ("AKV10000: Request is missing a Bearer or PoP
token.") with `WWW-Authenticate: Bearer authorization="<authority>/<tenant>", resource="<resource>"`; pages hold
`maxresults` (1-25, default 25) items and `nextLink` is null on the last page or a URL carrying `$skiptoken`;
errors are `{"error": {"code", "message", "innererror"?}}`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
import uuid
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from provision.emulator import tokens, wire
from provision.emulator.app import emulator_of
from provision.emulator.services.arm import core
from provision.emulator.services.keyvault import models
from provision.emulator.services.keyvault.listeners import Listeners, listeners
from provision.emulator.services.keyvault.models import KeyVaultError
from provision.emulator.state import EmulatorState

log = logging.getLogger("provision.emulator.keyvault")
HEADERS = {"Cache-Control": "no-cache", "x-ms-keyvault-service-version": "1.9.908.1",
           "x-ms-keyvault-region": "emulator"}


# -- the emulator's authority, for the challenge ---------------------------------------------------------------------
def remember_main_url(state: EmulatorState, url: str) -> None:
    """The emulator's main URL (the token service's authority), noted by the ARM side on every vault request."""
    state.keyvault_main_url = url.rstrip("/")


def main_url(state: EmulatorState) -> str:
    url = getattr(state, "keyvault_main_url", None)
    if url:
        return url
    try:
        return json.loads((state.data_dir / "emulator.json").read_text())["url"].rstrip("/")
    except (OSError, ValueError, KeyError):
        return "https://127.0.0.1"


def challenge(state: EmulatorState, vault: dict[str, Any]) -> dict[str, str]:
    resource = models.local_resource(vault["_port"])
    return {"WWW-Authenticate": f'Bearer authorization="{main_url(state)}/{state.boot.tenant_id}", '
                                f'resource="{resource}"'}


# -- request preamble --------------------------------------------------------------------------------------------------
def _vault(request: Request) -> dict[str, Any]:
    state = emulator_of(request)
    vault = models.vault_by_name(state, request.app.state.vault_name)
    if vault is None:  # deleted while its listener was closing
        raise KeyVaultError(f"Vault not found: {request.app.state.vault_name}", code="VaultNotFound", status=404)
    return vault


def authenticate(request: Request, operation: str, secret: str | None = None) -> dict[str, Any]:
    """The vault, after the bearer token (401 with the challenge otherwise) and the caller's right to `operation`."""
    state = emulator_of(request)
    vault = _vault(request)
    header = request.headers.get("authorization")
    try:
        caller = tokens.validate_bearer(header, state.signer, audiences=models.audiences(vault),
                                        tenant_id=state.boot.tenant_id)
    except tokens.TokenProblem as p:
        message = {
            "missing": "AKV10000: Request is missing a Bearer or PoP token.",
            "malformed": "AKV10000: Request is missing a Bearer or PoP token.",
            "signature": "AKV10004: Token signature is invalid.",
            "expired": "AKV10017: The token has expired.",
            "audience": f"AKV10022: Invalid audience. Expected {models.local_resource(vault['_port'])}, found: "
                        f"{_quoted(p.message)}.",
            "tenant": f"AKV10032: Invalid issuer. Expected the tenant {state.boot.tenant_id}.",
        }[p.reason]
        raise KeyVaultError(message, code="Unauthorized", status=401, headers=challenge(state, vault)) from None
    request.scope.setdefault("state", {})["caller"] = caller
    if "api-version" not in request.query_params:
        raise models.bad_parameter("The request URI contains an invalid query: api-version is required.")
    resource = f"{vault['id']}/secrets/{secret}" if secret else vault["id"]
    models.authorize(state, vault, caller, operation, resource)
    return vault


def _quoted(message: str) -> str:
    """The value a TokenProblem message quotes ("Invalid audience 'X'.")."""
    m = re.search(r"'([^']*)'", message)
    return m.group(1) if m else ""


def _json(data: Any, status: int = 200) -> Response:
    return JSONResponse(data, status_code=status, headers=HEADERS)


async def _body(request: Request) -> dict[str, Any]:
    body = await wire.read_json(request, KeyVaultError, bad_code="BadParameter")
    if not isinstance(body, dict):
        raise models.bad_parameter("The request body must be a JSON object.")
    return body


def _page(request: Request, items: list[dict[str, Any]]) -> Response:
    size = models.page_size(request.query_params.get("maxresults"))
    start = models.offset_of(request.query_params.get("$skiptoken"))
    chunk = items[start:start + size]
    next_link = None
    if start + size < len(items):
        base = str(request.base_url).rstrip("/")
        next_link = (f"{base}{request.url.path}?api-version={request.query_params['api-version']}"
                     f"&$skiptoken={models.skip_token(start + size)}&maxresults={size}")
    return _json({"value": chunk, "nextLink": next_link})


def _p(request: Request, name: str) -> str | None:
    return request.path_params.get(name)


# -- handlers ----------------------------------------------------------------------------------------------------------
async def set_secret(request: Request):
    name = _p(request, "name")
    vault = authenticate(request, "set", name)
    body = await _body(request)
    return _json(models.set_secret(emulator_of(request), vault, name, body))


async def get_secret(request: Request):
    name = _p(request, "name")
    vault = authenticate(request, "get", name)
    return _json(models.get_secret(emulator_of(request), vault, name, _p(request, "version")))


async def update_secret(request: Request):
    name = _p(request, "name")
    vault = authenticate(request, "update", name)
    body = await _body(request)
    return _json(models.update_secret(emulator_of(request), vault, name, _p(request, "version"), body))


async def delete_secret(request: Request):
    name = _p(request, "name")
    vault = authenticate(request, "delete", name)
    return _json(models.delete_secret(emulator_of(request), vault, name))


async def list_secrets(request: Request):
    vault = authenticate(request, "list")
    return _page(request, models.list_secrets(emulator_of(request), vault))


async def list_versions(request: Request):
    name = _p(request, "name")
    vault = authenticate(request, "list", name)
    return _page(request, models.list_versions(emulator_of(request), vault, name))


async def list_deleted(request: Request):
    vault = authenticate(request, "list")
    return _page(request, models.list_deleted(emulator_of(request), vault))


async def get_deleted(request: Request):
    name = _p(request, "name")
    vault = authenticate(request, "list", name)
    return _json(models.get_deleted(emulator_of(request), vault, name))


async def recover(request: Request):
    name = _p(request, "name")
    vault = authenticate(request, "recover", name)
    return _json(models.recover(emulator_of(request), vault, name))


async def purge(request: Request):
    name = _p(request, "name")
    vault = authenticate(request, "purge", name)
    models.purge(emulator_of(request), vault, name)
    return Response(status_code=204, headers=HEADERS)


def routes() -> list[Route]:
    return [
        Route("/secrets", list_secrets, methods=["GET"]),
        Route("/secrets/{name}/versions", list_versions, methods=["GET"]),
        Route("/secrets/{name}", set_secret, methods=["PUT"]),
        Route("/secrets/{name}", get_secret, methods=["GET"]),
        Route("/secrets/{name}", update_secret, methods=["PATCH"]),
        Route("/secrets/{name}", delete_secret, methods=["DELETE"]),
        Route("/secrets/{name}/{version}", get_secret, methods=["GET"]),
        Route("/secrets/{name}/{version}", update_secret, methods=["PATCH"]),
        Route("/deletedsecrets", list_deleted, methods=["GET"]),
        Route("/deletedsecrets/{name}", get_deleted, methods=["GET"]),
        Route("/deletedsecrets/{name}", purge, methods=["DELETE"]),
        Route("/deletedsecrets/{name}/recover", recover, methods=["POST"]),
    ]


# -- the vault's app ---------------------------------------------------------------------------------------------------
async def _http_exception(request: Request, exc: HTTPException) -> Response:
    if exc.status_code == 405:
        return KeyVaultError(f"The HTTP method '{request.method}' is not supported for this resource.",
                             code="BadParameter", status=405).response(request)
    return KeyVaultError(f"The request URI '{request.url.path}' is not a Key Vault API.", code="NotFound",
                         status=exc.status_code).response(request)


async def _service_error(request: Request, exc: wire.ServiceError) -> Response:
    return exc.response(request)


class VaultFront:
    """What the emulator's `Front` does for the other services, for one vault's origin: path normalisation (the SDK
    sends `secrets/{name}/` for the latest version), request ids, fault rules, the request log, and Key Vault's
    envelope for any unexpected error."""

    def __init__(self, app: Any, state: EmulatorState, vault_name: str):
        self.app = app
        self.state = state
        self.vault_name = vault_name

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        scope, path = wire.normalized_scope(scope)
        rid = str(uuid.uuid4())
        scope.setdefault("state", {})["request_id"] = rid
        started = time.perf_counter()
        status = {"status": 0}

        async def send_wrapped(message: dict) -> None:
            if message["type"] == "http.response.start":
                status["status"] = message["status"]
                message = dict(message, headers=list(message.get("headers", []))
                               + [(b"x-ms-request-id", rid.encode())])
            await send(message)

        method = scope["method"]
        fault = None
        try:
            rules = self.state.faults.match(method, path)
            for rule in rules:
                if rule.action == "latency":
                    await asyncio.sleep(rule.latency_ms / 1000)
            terminal = next((r for r in rules if r.action == "status"), None)
            if terminal is not None:
                fault = f"status {terminal.status}"
                hdrs = {"Retry-After": str(terminal.retry_after)} if terminal.retry_after is not None else {}
                err = KeyVaultError(terminal.message or f"Injected fault: HTTP {terminal.status}.",
                                    code=terminal.code or ("Throttled" if terminal.status == 429
                                                           else "ServiceUnavailable"),
                                    status=terminal.status, headers=hdrs)
                await err.response(Request(scope, receive))(scope, receive, send_wrapped)
                return
            await self.app(scope, receive, send_wrapped)
        except Exception:
            log.exception("unhandled error serving %s %s", method, path)
            if status["status"] == 0:
                err = KeyVaultError("An internal server error occurred in the emulator.", code="InternalError",
                                    status=500)
                await err.response(Request(scope, receive))(scope, receive, send_wrapped)
        finally:
            caller = scope.get("state", {}).get("caller")
            self.state.requests.add({
                "time": time.time(), "method": method, "path": path,
                "query": scope.get("query_string", b"").decode("latin-1"), "status": status["status"],
                "durationMs": round((time.perf_counter() - started) * 1000, 2), "family": "keyvault",
                "vault": self.vault_name, "clientId": getattr(caller, "app_id", None), "fault": fault,
                "write": method in ("PUT", "PATCH", "DELETE", "POST"),
            })


def vault_app(state: EmulatorState, vault_name: str) -> Any:
    app = Starlette(routes=routes(), exception_handlers={HTTPException: _http_exception,
                                                         wire.ServiceError: _service_error})
    app.state.emulator = state
    app.state.vault_name = vault_name
    return VaultFront(app, state, vault_name)


# -- lifecycle (called by the app at start and by the ARM side) -----------------------------------------------------
def attach(state: EmulatorState) -> Listeners:
    """Give the state its vault listeners and open one for every live vault (on its previous port when free)."""
    existing = listeners(state)
    if existing is not None:
        return existing
    lst = Listeners(state, vault_app)
    state.keyvault_listeners = lst
    state.reset_hooks.append(lst.close_all)
    for vault in state.store.list(models.VAULT):
        port = lst.open(vault["name"], vault.get("_port", 0))
        if port != vault.get("_port"):
            vault["_port"] = port
            vault["properties"]["vaultUri"] = models.vault_uri(port)
            core.save_resource(state, models.VAULT, vault)
    return lst


def open_vault(state: EmulatorState, vault_name: str, port: int = 0) -> int:
    return attach(state).open(vault_name, port)


def close_vault(state: EmulatorState, vault_name: str) -> None:
    lst = listeners(state)
    if lst is not None:
        lst.close(vault_name)
