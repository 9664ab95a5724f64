"""Entra ID token issuance: who the client is, whether its credential holds, and what token it gets.

No HTTP here: functions take parsed form fields and raise OAuthError with Entra's own AADSTS codes.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from provision.emulator import directory as d
from provision.emulator import tokens
from provision.emulator.state import EmulatorState
from provision.emulator.wire import OAuthError

RESERVED_SCOPES = {"openid", "profile", "offline_access", "email"}
GRANT_CLIENT_CREDENTIALS = "client_credentials"
ASSERTION_TYPE_JWT = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def resolve_tenant(state: EmulatorState, tenant: str) -> str:
    """The tenant path segment: the tenant id, or one of Entra's aliases that mean 'the home tenant'."""
    if tenant == state.boot.tenant_id:
        return tenant
    if tenant.lower() in ("common", "organizations", "emulator.onmicrosoft.com"):
        return state.boot.tenant_id
    raise OAuthError("invalid_request", 90002,
                     f"Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are "
                     f"signing into the correct cloud.", status=400)


GRAPH_RESOURCE = "https://graph.microsoft.com"
OPERATOR_GRAPH_ROLES = ("Application.ReadWrite.All", "Group.ReadWrite.All", "GroupMember.ReadWrite.All",
                        "Directory.Read.All")


def resource_of_scope(state: EmulatorState, tenant_id: str, scope: str | None, own: set[str] | frozenset = frozenset(),
                      ) -> str:
    """`<resource>/.default` → the token audience. Client credentials accept exactly one resource. `own`: the
    emulator's own origins, which name Microsoft Graph (see `tokens.own_origins`)."""
    if not scope:
        raise OAuthError("invalid_request", 900144, "The request body must contain the following parameter: "
                         "'scope'.")
    scopes = [s for s in scope.split() if s.lower() not in RESERVED_SCOPES]
    if len(scopes) != 1 or not scopes[0].endswith("/.default"):
        raise OAuthError("invalid_scope", 1002012,
                         f"The provided value for scope {scope} is not valid. Client credential flows must have a "
                         f"scope value with /.default suffixed to the resource identifier (application ID URI).")
    resource = scopes[0][: -len("/.default")]
    if resource in own or resource.rstrip("/") in own:
        return resource.rstrip("/")
    if resource in tokens.KNOWN_RESOURCES or resource.rstrip("/") in tokens.KNOWN_RESOURCES:
        return resource.rstrip("/") if resource.startswith("https://") else resource
    from provision.emulator.services.keyvault import models as keyvault

    if keyvault.is_vault_resource(state, resource):  # a vault's own resource, https://0.0.1:<vault port>
        return resource.rstrip("/")
    # An app of the tenant exposing an API: by appId, or by one of its identifierUris.
    for app in state.store.list(d.APPLICATION, scope=tenant_id):
        if resource == app.get("appId") or resource in app.get("identifierUris", []):
            return app["appId"]
    raise OAuthError("invalid_resource", 500011,
                     f"The resource principal named {resource} was not found in the tenant named {tenant_id}. "
                     f"This can happen if the application has not been installed by the administrator of the "
                     f"tenant or consented to by any user in the tenant. You might have sent your authentication "
                     f"request to the wrong tenant.")


def _parse_time(value: str | None) -> dt.datetime | None:
    if not value:
        return None
    try:
        return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def check_client_secret(app: dict[str, Any], secret: str) -> None:
    now = dt.datetime.now(dt.timezone.utc)
    matched_expired = False
    for cred in app.get("passwordCredentials", []):
        stored = app.get("_secrets", {}).get(cred.get("keyId"))
        if not stored or not d.secret_matches(secret, stored):
            continue
        start, end = _parse_time(cred.get("startDateTime")), _parse_time(cred.get("endDateTime"))
        if (start and start > now + dt.timedelta(minutes=5)) or (end and end < now):
            matched_expired = True
            continue
        return
    if matched_expired:
        raise OAuthError("invalid_client", 7000222,
                         f"The provided client secret keys for app '{app['appId']}' are expired. Visit the Azure "
                         f"portal to create new keys for your app.", status=401)
    raise OAuthError("invalid_client", 7000215,
                     "Invalid client secret provided. Ensure the secret being sent in the request is the client "
                     f"secret value, not the client secret ID, for a secret added to app '{app['appId']}'.",
                     status=401)


def issue_for_client_credentials(state: EmulatorState, tenant: str, form: dict[str, str], issuer_base: str,
                                 ) -> dict[str, Any]:
    grant = form.get("grant_type")
    if not grant:
        raise OAuthError("invalid_request", 900144,
                         "The request body must contain the following parameter: 'grant_type'.")
    if grant != GRANT_CLIENT_CREDENTIALS:
        raise OAuthError("unsupported_grant_type", 70003,
                         f"The app requested an unsupported grant type '{grant}'. The emulator supports "
                         f"'client_credentials'.")
    tenant_id = resolve_tenant(state, tenant)
    client_id = form.get("client_id")
    if not client_id:
        raise OAuthError("invalid_request", 900144,
                         "The request body must contain the following parameter: 'client_id'.")
    app = state.directory.app_by_app_id(tenant_id, client_id)
    if app is None:
        raise OAuthError("unauthorized_client", 700016,
                         f"Application with identifier '{client_id}' was not found in the directory "
                         f"'{tenant_id}'. This can happen if the application has not been installed by the "
                         f"administrator of the tenant or consented to by any user in the tenant. You may have sent "
                         f"your authentication request to the wrong tenant.")
    audience = resource_of_scope(state, tenant_id, form.get("scope"),
                                 tokens.own_origins(issuer_base.split("://", 1)[-1]))
    if "client_secret" in form:
        check_client_secret(app, form["client_secret"])
    elif form.get("client_assertion"):
        from provision.emulator.services.identity import assertions

        if form.get("client_assertion_type") != ASSERTION_TYPE_JWT:
            raise OAuthError("invalid_request", 50027,
                             f"client_assertion_type must be '{ASSERTION_TYPE_JWT}'.")
        assertions.check_client_assertion(state, app, form["client_assertion"],
                                          f"{issuer_base}/{tenant}/oauth2/v2.0/token")
    else:
        raise OAuthError("invalid_client", 7000218,
                         "The request body must contain the following parameter: 'client_assertion' or "
                         "'client_secret'.", status=401)
    sp = state.directory.sp_by_app_id(tenant_id, client_id)
    if sp is None:
        raise OAuthError("unauthorized_client", 7000229,
                         f"The client application {client_id} is missing service principal in the tenant "
                         f"{tenant_id}.")
    lifetime = int(state.timing.token_lifetime_seconds)
    own = tokens.own_origins(issuer_base.split("://", 1)[-1])
    graph = audience.rstrip("/") == GRAPH_RESOURCE or audience in own
    # App-only Graph tokens carry the application permissions granted to the app as `roles`, as Entra's do; the
    # operator stands for an app granted what provision documents it needs.
    extra = {"roles": list(OPERATOR_GRAPH_ROLES)} if graph and "graph" in sp.get("_rights", []) else None
    token, _claims = state.signer.issue(
        issuer=f"{issuer_base}/{tenant_id}/v2.0", tenant_id=tenant_id, audience=audience, app_id=client_id,
        sp_object_id=sp["id"], lifetime=lifetime, app_display_name=app.get("displayName"), extra=extra,
    )
    return {"token_type": "Bearer", "expires_in": lifetime, "ext_expires_in": lifetime, "access_token": token}
