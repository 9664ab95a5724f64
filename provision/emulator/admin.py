"""The emulator's own control plane under /_emulator (operator only), after moto's /moto-api.

GET  /_emulator/health                      liveness, no auth
POST /_emulator/reset                       back to the first-start state (tenant, subscription, operator)
GET  /_emulator/objects[?kind=]             every stored object (private fields included: it is the operator's view)
GET  /_emulator/requests[?since=SEQ]        the request log; DELETE clears it
GET  /_emulator/faults                      fault rules; POST adds one; DELETE clears; DELETE /faults/{id} removes one
GET  /_emulator/config                      timing knobs; PATCH changes them
PUT  /_emulator/replication                 {"seconds": 2, "kinds": ["application", ...]}: Entra replication lag
GET  /_emulator/oidc/.well-known/openid-configuration, /_emulator/oidc/keys   an OpenID issuer for workload
                                            identity federation tests (stands in for GitHub Actions / Kubernetes)
POST /_emulator/oidc/token                  {"subject", "audience"?, "lifetimeSeconds"?} → {"token"}: a federated
                                            token from that issuer (what GitHub's OIDC endpoint hands a job)

Auth: `Authorization: Bearer <admin key>` (the 0600 file `admin-key` in the data directory), or any token the
emulator issued to the operator service principal.
"""

from __future__ import annotations

import time

from starlette.requests import Request
from starlette.routing import Route

from provision import __version__
from provision.emulator import tokens, wire
from provision.emulator.app import emulator_of


def _require_operator(request: Request) -> None:
    state = emulator_of(request)
    auth = request.headers.get("authorization", "")
    scheme, _, value = auth.partition(" ")
    if scheme.lower() == "bearer" and value.strip() == state.admin_key:
        return
    try:
        caller = tokens.validate_bearer(auth, state.signer, audiences=tokens.KNOWN_RESOURCES,
                                        tenant_id=state.boot.tenant_id)
    except tokens.TokenProblem as p:
        raise wire.AdminError(f"Admin API: {p.message} Send 'Bearer <admin key>' (file admin-key in the "
                              f"emulator's data directory).", code="Unauthorized", status=401) from None
    if not state.has_right(caller.object_id, "admin"):
        raise wire.AdminError("Admin API is for the emulator's operator only.", code="Forbidden", status=403)


async def health(request: Request):
    state = emulator_of(request)
    return wire.json_response({
        "status": "ok", "version": __version__, "schemaVersion": state.schema_version, "tenantId": state.boot.tenant_id,
        "subscriptionId": state.boot.subscription_id, "uptimeSeconds": round(time.time() - state.started, 1),
        "pid": __import__("os").getpid(),
    })


async def reset(request: Request):
    _require_operator(request)
    emulator_of(request).reset()
    return wire.empty_response()


async def objects(request: Request):
    _require_operator(request)
    state = emulator_of(request)
    kind = request.query_params.get("kind")
    if kind:
        return wire.json_response({"value": state.store.list(kind)})
    return wire.json_response({"counts": state.store.kinds()})


async def requests_log(request: Request):
    _require_operator(request)
    state = emulator_of(request)
    if request.method == "DELETE":
        state.requests.clear()
        return wire.empty_response()
    try:
        since = int(request.query_params.get("since", "0"))
    except ValueError:
        raise wire.AdminError("'since' must be an integer sequence number.") from None
    return wire.json_response({"value": state.requests.since(since), "lastSeq": state.requests.last_seq()})


async def faults(request: Request):
    _require_operator(request)
    state = emulator_of(request)
    if request.method == "DELETE":
        state.faults.clear()
        return wire.empty_response()
    if request.method == "POST":
        body = await wire.read_json(request, wire.AdminError)
        if not isinstance(body, dict):
            raise wire.AdminError("A fault rule is a JSON object.")
        try:
            rule = state.faults.add(body)
        except (TypeError, ValueError) as e:
            raise wire.AdminError(f"Invalid fault rule: {e}") from None
        return wire.json_response(rule.public(), status=201)
    return wire.json_response({"value": state.faults.list()})


async def fault_item(request: Request):
    _require_operator(request)
    try:
        rule_id = int(request.path_params["id"])
    except ValueError:
        raise wire.AdminError("Fault ids are integers.") from None
    if not emulator_of(request).faults.remove(rule_id):
        raise wire.AdminError(f"No fault rule {rule_id}.", code="NotFound", status=404)
    return wire.empty_response()


async def config(request: Request):
    _require_operator(request)
    state = emulator_of(request)
    if request.method == "PATCH":
        body = await wire.read_json(request, wire.AdminError)
        if not isinstance(body, dict):
            raise wire.AdminError("Send a JSON object of timing settings.")
        try:
            state.timing.update(body)
        except KeyError as e:
            raise wire.AdminError(f"Unknown setting {e}; known: {', '.join(state.timing.as_dict())}.") from None
        except (TypeError, ValueError) as e:
            raise wire.AdminError(f"Invalid value: {e}") from None
        state.save_timing()
    return wire.json_response(state.timing.as_dict())


async def replication(request: Request):
    _require_operator(request)
    state = emulator_of(request)
    if request.method == "PUT":
        body = await wire.read_json(request, wire.AdminError)
        if not isinstance(body, dict) or not isinstance(body.get("seconds"), (int, float)):
            raise wire.AdminError("Send {\"seconds\": <number>, \"kinds\": [...]}.")
        state.directory.set_replication(body["seconds"], body.get("kinds"))
    return wire.json_response(state.directory.replication())


def _issuer(request: Request) -> str:
    return f"{str(request.base_url).rstrip('/')}/_emulator/oidc"


async def oidc_configuration(request: Request):
    issuer = _issuer(request)
    return wire.json_response({"issuer": issuer, "jwks_uri": f"{issuer}/keys",
                               "subject_types_supported": ["public"], "response_types_supported": ["id_token"],
                               "id_token_signing_alg_values_supported": ["RS256"],
                               "claims_supported": ["sub", "aud", "exp", "iat", "iss", "jti", "nbf"]})


async def oidc_keys(request: Request):
    return wire.json_response(emulator_of(request).signer.jwks())


async def oidc_token(request: Request):
    _require_operator(request)
    state = emulator_of(request)
    body = await wire.read_json(request, wire.AdminError)
    if not isinstance(body, dict) or not isinstance(body.get("subject"), str) or not body["subject"]:
        raise wire.AdminError('Send {"subject": "repo:org/repo:environment:prod", "audience": '
                              '"api://AzureADTokenExchange"}.')
    lifetime = body.get("lifetimeSeconds", 600)
    if isinstance(lifetime, bool) or not isinstance(lifetime, int) or not -86400 <= lifetime <= 86400 * 7:
        raise wire.AdminError("lifetimeSeconds must be a whole number of seconds (negative: already expired).")
    import jwt

    now = int(time.time())
    claims = {"iss": _issuer(request), "sub": body["subject"],
              "aud": body.get("audience", "api://AzureADTokenExchange"), "iat": now, "nbf": now,
              "exp": now + lifetime, "jti": __import__("uuid").uuid4().hex}
    token = jwt.encode(claims, state.signer.key, algorithm="RS256", headers={"kid": state.signer.kid})
    return wire.json_response({"token": token, "issuer": claims["iss"]})


def routes() -> list[Route]:
    return [
        Route("/_emulator/health", health, methods=["GET"]),
        Route("/_emulator/reset", reset, methods=["POST"]),
        Route("/_emulator/objects", objects, methods=["GET"]),
        Route("/_emulator/requests", requests_log, methods=["GET", "DELETE"]),
        Route("/_emulator/faults", faults, methods=["GET", "POST", "DELETE"]),
        Route("/_emulator/faults/{id}", fault_item, methods=["DELETE"]),
        Route("/_emulator/config", config, methods=["GET", "PATCH"]),
        Route("/_emulator/replication", replication, methods=["GET", "PUT"]),
        Route("/_emulator/oidc/.well-known/openid-configuration", oidc_configuration, methods=["GET"]),
        Route("/_emulator/oidc/keys", oidc_keys, methods=["GET"]),
        Route("/_emulator/oidc/token", oidc_token, methods=["POST"]),
    ]
