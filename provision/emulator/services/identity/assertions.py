"""Client assertions at the token endpoint (`client_assertion_type=…jwt-bearer`), as Entra checks them.

Two kinds:
- a certificate credential: a JWT the client signed with the private key of a certificate uploaded to the app's
  `keyCredentials` (msal sends PS256 + `x5t#S256`, or RS256 + `x5t`); `iss` = `sub` = the client id, `aud` = the
  token endpoint;
- a federated credential (workload identity federation): a JWT from an external OpenID issuer whose
  (issuer, subject, audience) matches one of the app's `federatedIdentityCredentials`. Entra fetches the issuer's
  signing keys from its discovery document; offline, the emulator can only do that for an issuer it serves itself,
  so it runs one at `/_emulator/oidc` (see `oidc_issuer`) — the stand-in for GitHub Actions' or a Kubernetes
  cluster's issuer. Assertions from any other issuer fail as Entra fails when it cannot fetch the keys.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import time
from typing import Any

import jwt
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from provision.emulator.state import EmulatorState
from provision.emulator.wire import OAuthError

EMULATOR_ISSUER_PATH = "/_emulator/oidc"
ASSERTION_MAX_LIFETIME = 3600 * 24


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _parse_time(value: str | None) -> dt.datetime | None:
    if not value:
        return None
    try:
        return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _certificates(app: dict[str, Any]) -> list[tuple[dict[str, Any], x509.Certificate]]:
    """The app's key credentials with their certificates (`key` is write-only in Graph: kept privately)."""
    out = []
    keys = app.get("_keys", {})
    for cred in app.get("keyCredentials", []):
        material = cred.get("key") or keys.get(cred.get("keyId"))
        if not material:
            continue
        try:
            raw = base64.b64decode(material)
            cert = x509.load_der_x509_certificate(raw) if not raw.startswith(b"-----") else \
                x509.load_pem_x509_certificate(raw)
        except ValueError:
            continue
        out.append((cred, cert))
    return out


def check_client_assertion(state: EmulatorState, app: dict[str, Any], assertion: str, token_url: str) -> None:
    try:
        header = jwt.get_unverified_header(assertion)
        unverified = jwt.decode(assertion, options={"verify_signature": False})
    except jwt.PyJWTError as e:
        raise OAuthError("invalid_client", 50027, f"JWT token is invalid or malformed: {e}.", status=401) from None
    if unverified.get("iss") == app["appId"] and unverified.get("sub") == app["appId"]:
        _check_certificate_assertion(app, assertion, header, unverified, token_url)
    else:
        _check_federated_assertion(state, app, assertion, unverified, token_url)


def _check_certificate_assertion(app: dict[str, Any], assertion: str, header: dict[str, Any],
                                 claims: dict[str, Any], token_url: str) -> None:
    now = dt.datetime.now(dt.timezone.utc)
    x5t256, x5t = header.get("x5t#S256"), header.get("x5t")
    for cred, cert in _certificates(app):
        der = cert.public_bytes(Encoding.DER)
        if x5t256 != _b64url(hashlib.sha256(der).digest()) and x5t != _b64url(hashlib.sha1(der).digest()):
            continue
        end = _parse_time(cred.get("endDateTime"))
        if end and end < now:
            raise OAuthError("invalid_client", 700027, f"Client assertion contains an invalid signature. "
                             f"[Reason - The key used is expired., Thumbprint of key used by client: "
                             f"'{x5t256 or x5t}', Found key 'Start={cred.get('startDateTime')}, End="
                             f"{cred.get('endDateTime')}']", status=401)
        try:
            jwt.decode(assertion, cert.public_key(), algorithms=["RS256", "PS256"],
                       audience=_accepted_audiences(token_url), options={"require": ["exp", "aud", "iss", "sub"]})
        except jwt.InvalidAudienceError:
            raise OAuthError("invalid_client", 700021, f"Client assertion audience claim does not match Realm "
                             f"issuer. Expected '{token_url}'.", status=401) from None
        except jwt.ExpiredSignatureError:
            raise OAuthError("invalid_client", 700024, "Client assertion is not within its valid time range.",
                             status=401) from None
        except jwt.PyJWTError:
            raise OAuthError("invalid_client", 700027, "Client assertion contains an invalid signature. [Reason - "
                             "The provided signature value did not match the expected signature value.]",
                             status=401) from None
        return
    raise OAuthError("invalid_client", 700027,
                     f"Client assertion contains an invalid signature. [Reason - The key was not found., Thumbprint "
                     f"of key used by client: '{x5t256 or x5t}'. Please visit the Azure Portal, Graph Explorer or "
                     f"directly use MS Graph to see configured keys for app Id '{app['appId']}'.]", status=401)


def _accepted_audiences(token_url: str) -> list[str]:
    # Entra accepts the v2 token endpoint and its v1 twin, for the tenant id or an alias.
    return [token_url, token_url.replace("/oauth2/v2.0/token", "/oauth2/token")]


def _check_federated_assertion(state: EmulatorState, app: dict[str, Any], assertion: str, claims: dict[str, Any],
                               token_url: str) -> None:
    issuer, subject = claims.get("iss", ""), claims.get("sub", "")
    auds = claims.get("aud", [])
    auds = [auds] if isinstance(auds, str) else list(auds)
    creds = state.store.list("federatedIdentityCredential", scope=app["id"])
    matching = [c for c in creds if c.get("issuer") == issuer and c.get("subject") == subject]
    if not matching:
        raise OAuthError("invalid_client", 700213,
                         f"No matching federated identity record found for presented assertion subject '{subject}'."
                         f" Please note that the matching is done using a case-sensitive comparison. Check your "
                         f"federated identity credential Subject, Audience and Issuer against the presented "
                         f"assertion. Issuer: '{issuer}'.", status=401)
    if not any(a in c.get("audiences", []) for c in matching for a in auds):
        raise OAuthError("invalid_client", 700212,
                         f"No matching federated identity record found for presented assertion audience "
                         f"'{','.join(auds)}'.", status=401)
    if not issuer.endswith(EMULATOR_ISSUER_PATH) or not token_url.startswith(issuer[: -len(EMULATOR_ISSUER_PATH)]):
        raise OAuthError("invalid_client", 700211,
                         f"AADSTS50166: Request to External OIDC endpoint failed: the emulator cannot fetch signing "
                         f"keys from issuer '{issuer}'. Use the emulator's own issuer ({EMULATOR_ISSUER_PATH}).",
                         status=401)
    try:
        jwt.decode(assertion, state.signer.public_key, algorithms=["RS256"], audience=auds,
                   options={"require": ["exp", "iss", "sub"]})
    except jwt.ExpiredSignatureError:
        raise OAuthError("invalid_client", 700024, "Client assertion is not within its valid time range.",
                         status=401) from None
    except jwt.PyJWTError as e:
        raise OAuthError("invalid_client", 700027, f"Client assertion failed signature validation: {e}.",
                         status=401) from None
    if claims.get("exp", 0) - claims.get("iat", time.time()) > ASSERTION_MAX_LIFETIME:
        raise OAuthError("invalid_client", 700024, "Client assertion lifetime is too long.", status=401)


def oidc_issuer(base_url: str) -> str:
    return f"{base_url}{EMULATOR_ISSUER_PATH}"
