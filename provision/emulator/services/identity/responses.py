"""Entra ID endpoints on the wire: OpenID discovery, JWKS, the v2.0 token endpoint, instance discovery."""

from __future__ import annotations

from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.routing import Route

from provision.emulator import wire
from provision.emulator.app import emulator_of
from provision.emulator.services.identity import models
from provision.emulator.wire import OAuthError

MAX_FORM_BYTES = 64 * 1024


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


async def openid_configuration(request: Request):
    state = emulator_of(request)
    tenant = request.path_params["tenant"]
    tenant_id = models.resolve_tenant(state, tenant)
    base = _base(request)
    return wire.json_response({
        "token_endpoint": f"{base}/{tenant}/oauth2/v2.0/token",
        "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
        "jwks_uri": f"{base}/{tenant}/discovery/v2.0/keys",
        "response_modes_supported": ["query", "fragment", "form_post"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "issuer": f"{base}/{tenant_id}/v2.0",
        "request_uri_parameter_supported": False,
        "userinfo_endpoint": f"{base}/oidc/userinfo",
        "authorization_endpoint": f"{base}/{tenant}/oauth2/v2.0/authorize",
        "device_authorization_endpoint": f"{base}/{tenant}/oauth2/v2.0/devicecode",
        "http_logout_supported": True,
        "frontchannel_logout_supported": True,
        "end_session_endpoint": f"{base}/{tenant}/oauth2/v2.0/logout",
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "nbf", "tid", "oid", "appid", "azp", "ver"],
        "tenant_region_scope": "EU",
        "cloud_instance_name": "emulator.local",
    })


async def jwks(request: Request):
    state = emulator_of(request)
    models.resolve_tenant(state, request.path_params["tenant"])
    return wire.json_response(state.signer.jwks())


async def token(request: Request):
    state = emulator_of(request)
    ctype = request.headers.get("content-type", "")
    raw = await request.body()
    if len(raw) > MAX_FORM_BYTES:
        raise OAuthError("invalid_request", 90014, "The request body is too large.", status=413)
    if "application/x-www-form-urlencoded" not in ctype:
        raise OAuthError("invalid_request", 900144,
                         "The request body must be 'application/x-www-form-urlencoded' and contain the following "
                         "parameter: 'grant_type'.")
    try:
        form = dict(parse_qsl(raw.decode("utf-8"), keep_blank_values=True))
    except UnicodeDecodeError:
        raise OAuthError("invalid_request", 900144, "The request body is not valid UTF-8 form data.") from None
    body = models.issue_for_client_credentials(state, request.path_params["tenant"], form, _base(request))
    return wire.json_response(body, headers={"Cache-Control": "no-store, no-cache", "Pragma": "no-cache"})


async def instance_discovery(request: Request):
    """msal asks login.microsoftonline.com/common/discovery/instance before trusting an unknown authority; answer
    for the emulator's own host so clients that do not disable instance discovery still work."""
    base = _base(request)
    host = request.url.netloc
    return wire.json_response({
        "tenant_discovery_endpoint": f"{base}/{{tenant}}/v2.0/.well-known/openid-configuration",
        "api-version": "1.1",
        "metadata": [{"preferred_network": host, "preferred_cache": host, "aliases": [host]}],
    })


def routes() -> list[Route]:
    return [
        Route("/common/discovery/instance", instance_discovery, methods=["GET"]),
        Route("/{tenant}/v2.0/.well-known/openid-configuration", openid_configuration, methods=["GET"]),
        Route("/{tenant}/.well-known/openid-configuration", openid_configuration, methods=["GET"]),
        Route("/{tenant}/discovery/v2.0/keys", jwks, methods=["GET"]),
        Route("/{tenant}/discovery/keys", jwks, methods=["GET"]),
        Route("/{tenant}/oauth2/v2.0/token", token, methods=["POST"]),
    ]
