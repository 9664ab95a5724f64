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

Errors, as Entra writes them (all `invalid_client`, HTTP 401): 50027 malformed JWT; 700027 unknown key, bad
signature, or an expired / not yet valid key credential; 700021 wrong audience; 700024 outside its time range;
700211 / 700213 / 700212 no federated record for the issuer / subject / audience; 50166 an issuer whose keys
cannot be fetched.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import re
import time
from typing import Any
from urllib.parse import urlsplit

import jwt
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from provision.emulator.state import EmulatorState
from provision.emulator.wire import OAuthError

EMULATOR_ISSUER_PATH = "/_emulator/oidc"
ASSERTION_MAX_LIFETIME = 3600 * 24
CLOCK_SKEW = 300  # seconds Entra tolerates on nbf / exp
FIC_DOCS = "https://learn.microsoft.com/entra/workload-id/workload-identity-federation"
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
_TOKEN_URL = re.compile(r"^(?P<base>.*)/(?P<tenant>[^/]+)/oauth2/v2\.0/token$")


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _parse_time(value: str | None) -> dt.datetime | None:
    if not value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.timezone.utc)


def _iso(epoch: Any) -> str:
    try:
        return dt.datetime.fromtimestamp(float(epoch), dt.timezone.utc).strftime("%m/%d/%Y %H:%M:%S")
    except (TypeError, ValueError, OverflowError):
        return "unknown"


def _invalid_client(aadsts: int, message: str) -> OAuthError:
    return OAuthError("invalid_client", aadsts, message, status=401)


def _malformed(reason: str) -> OAuthError:
    return _invalid_client(50027, f"JWT token is invalid or malformed: {reason}.")


def _out_of_time_range(claims: dict[str, Any]) -> OAuthError:
    return _invalid_client(700024, f"Client assertion is not within its valid time range. Current time: "
                                   f"{_iso(time.time())}, assertion valid from {_iso(claims.get('nbf'))}, expiry "
                                   f"time of assertion {_iso(claims.get('exp'))}. Review the documentation at "
                                   f"https://learn.microsoft.com/entra/identity-platform/certificate-credentials .")


def _certificates(app: dict[str, Any]) -> list[tuple[dict[str, Any], x509.Certificate]]:
    """The app's certificate credentials with their certificates (`key` is write-only in Graph: the graph service
    keeps each certificate privately in `_keys`, keyId → base64 DER). Only `Verify` keys authenticate a client."""
    out = []
    keys = app.get("_keys", {})
    for cred in app.get("keyCredentials", []):
        if cred.get("usage", "Verify") != "Verify":
            continue
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
        raise _malformed(str(e).rstrip(".")) from None
    audiences = _accepted_audiences(token_url, state.boot.tenant_id)
    app_id = app["appId"].lower()
    if str(unverified.get("iss", "")).lower() == app_id and str(unverified.get("sub", "")).lower() == app_id:
        _check_certificate_assertion(app, assertion, header, unverified, audiences)
    else:
        _check_federated_assertion(state, app, assertion, header, unverified, token_url)


def _check_certificate_assertion(app: dict[str, Any], assertion: str, header: dict[str, Any],
                                 claims: dict[str, Any], audiences: list[str]) -> None:
    now = dt.datetime.now(dt.timezone.utc)
    # msal pads its base64url thumbprints ("...BQ="), RFC 7515 does not: compare without the padding.
    x5t256, x5t = (str(header[h]).rstrip("=") if header.get(h) else None for h in ("x5t#S256", "x5t"))
    thumbprint = x5t256 or x5t or header.get("kid")
    for cred, cert in _certificates(app):
        der = cert.public_bytes(Encoding.DER)
        if (x5t256 or x5t) and x5t256 != _b64url(hashlib.sha256(der).digest()) and \
                x5t != _b64url(hashlib.sha1(der).digest()):
            continue
        try:
            jwt.decode(assertion, cert.public_key(), algorithms=["RS256", "PS256"],
                       options={"verify_aud": False, "verify_exp": False, "verify_nbf": False,
                                "verify_iat": False})
        except jwt.InvalidSignatureError:
            if x5t256 or x5t:  # the key the client named: a wrong signature, not a missing key
                raise _invalid_client(700027, "Client assertion contains an invalid signature. [Reason - The "
                                              "provided signature value did not match the expected signature "
                                              f"value., Thumbprint of key used by client: '{thumbprint}']") \
                    from None
            continue  # no thumbprint header: try the app's other certificates
        except jwt.PyJWTError as e:
            raise _malformed(str(e).rstrip(".")) from None
        start, end = _parse_time(cred.get("startDateTime")), _parse_time(cred.get("endDateTime"))
        if (end and end < now) or (start and start > now):
            when = "expired" if end and end < now else "not yet valid"
            raise _invalid_client(700027, f"Client assertion contains an invalid signature. [Reason - The key "
                                          f"used is {when}., Thumbprint of key used by client: '{thumbprint}', "
                                          f"Found key 'Start={cred.get('startDateTime')}, "
                                          f"End={cred.get('endDateTime')}']")
        _check_claims(assertion, cert.public_key(), claims, audiences)
        return
    raise _invalid_client(700027, f"Client assertion contains an invalid signature. [Reason - The key was not "
                                  f"found., Thumbprint of key used by client: '{thumbprint}'. Please visit the "
                                  f"Azure Portal, Graph Explorer or directly use MS Graph to see configured keys "
                                  f"for app Id '{app['appId']}'. Review the documentation at "
                                  f"https://learn.microsoft.com/en-us/graph/deployments to determine the "
                                  f"corresponding service endpoint and https://learn.microsoft.com/en-us/graph/api/"
                                  f"application-get?view=graph-rest-1.0&tabs=http to build a query request URL, "
                                  f"such as 'https://graph.microsoft.com/beta/applications/{app['id']}']")


def _check_claims(assertion: str, key: Any, claims: dict[str, Any], audiences: list[str]) -> None:
    """A certificate assertion's claims, once its signature holds: audience, then time range."""
    try:
        jwt.decode(assertion, key, algorithms=["RS256", "PS256"], audience=audiences, leeway=CLOCK_SKEW,
                   options={"require": ["exp", "aud", "iss", "sub"]})
    except jwt.InvalidAudienceError:
        raise _invalid_client(700021, f"Client assertion audience claim does not match Realm issuer. Review the "
                                      f"documentation at https://learn.microsoft.com/entra/identity-platform/"
                                      f"certificate-credentials . Expected '{audiences[0]}'.") from None
    except (jwt.ExpiredSignatureError, jwt.ImmatureSignatureError):
        raise _out_of_time_range(claims) from None
    except jwt.MissingRequiredClaimError as e:
        raise _malformed(f"the assertion has no '{e.claim}' claim") from None
    except jwt.PyJWTError as e:
        raise _malformed(str(e).rstrip(".")) from None


def _accepted_audiences(token_url: str, tenant_id: str) -> list[str]:
    """Entra accepts the v2 token endpoint and its v1 twin, for the tenant id or the alias the client used."""
    m = _TOKEN_URL.match(token_url)
    if m is None:
        return [token_url]
    out = [token_url]
    for tenant in dict.fromkeys([m.group("tenant"), tenant_id]):
        for path in ("oauth2/v2.0/token", "oauth2/token"):
            url = f"{m.group('base')}/{tenant}/{path}"
            if url not in out:
                out.append(url)
    return out


def _check_federated_assertion(state: EmulatorState, app: dict[str, Any], assertion: str, header: dict[str, Any],
                               claims: dict[str, Any], token_url: str) -> None:
    """Entra's order: a record for the issuer, then the subject, then the audience; only then does it fetch the
    issuer's keys and check the signature and the time range."""
    issuer, subject = str(claims.get("iss", "")), str(claims.get("sub", ""))
    auds = claims.get("aud", [])
    auds = [auds] if isinstance(auds, str) else [str(a) for a in auds]
    creds = state.store.list("federatedIdentityCredential", scope=app["id"])
    by_issuer = [c for c in creds if c.get("issuer") == issuer]
    if not by_issuer:
        raise _invalid_client(700211, f"No matching federated identity record found for presented assertion issuer "
                                      f"'{issuer}'. Please check your federated identity credential Subject, "
                                      f"Audience and Issuer against the presented assertion. {FIC_DOCS}")
    matching = [c for c in by_issuer if c.get("subject") == subject]  # case-sensitive, as Entra compares
    if not matching:
        raise _invalid_client(700213, f"No matching federated identity record found for presented assertion "
                                      f"subject '{subject}'. Please note that the matching is done using a "
                                      f"case-sensitive comparison. Check your federated identity credential "
                                      f"Subject, Audience and Issuer against the presented assertion. {FIC_DOCS}")
    if not any(a in c.get("audiences", []) for c in matching for a in auds):
        raise _invalid_client(700212, f"No matching federated identity record found for presented assertion "
                                      f"audience '{','.join(auds)}'. Please check your federated identity "
                                      f"credential Subject, Audience and Issuer against the presented assertion. "
                                      f"{FIC_DOCS}")
    if not _is_emulator_issuer(issuer, token_url):
        raise _invalid_client(50166, f"Request to External OIDC endpoint failed. The emulator cannot fetch "
                                     f"signing keys from issuer '{issuer}': it is offline and only knows its own "
                                     f"issuer (<emulator url>{EMULATOR_ISSUER_PATH}).")
    if header.get("kid") not in (None, state.signer.kid):
        raise _invalid_client(700027, f"Client assertion failed signature validation. [Reason - The key was not "
                                      f"found., Key id used by client: '{header.get('kid')}', issuer '{issuer}']")
    try:
        jwt.decode(assertion, state.signer.public_key, algorithms=["RS256"], audience=auds, leeway=CLOCK_SKEW,
                   options={"require": ["exp", "iss", "sub"]})
    except (jwt.ExpiredSignatureError, jwt.ImmatureSignatureError):
        raise _out_of_time_range(claims) from None
    except jwt.InvalidSignatureError:
        raise _invalid_client(700027, "Client assertion failed signature validation. [Reason - The provided "
                                      "signature value did not match the expected signature value.]") from None
    except jwt.MissingRequiredClaimError as e:
        raise _malformed(f"the assertion has no '{e.claim}' claim") from None
    except jwt.PyJWTError as e:
        raise _malformed(str(e).rstrip(".")) from None
    if claims.get("exp", 0) - claims.get("iat", claims.get("nbf", time.time())) > ASSERTION_MAX_LIFETIME:
        raise _out_of_time_range(claims)


def _is_emulator_issuer(issuer: str, token_url: str) -> bool:
    """The emulator's own issuer, as reached at the token endpoint's origin (or another loopback name for it)."""
    iss, tok = urlsplit(issuer), urlsplit(token_url)
    if iss.scheme != "https" or iss.path.rstrip("/") != EMULATOR_ISSUER_PATH:
        return False
    if iss.netloc == tok.netloc:
        return True
    return iss.hostname in LOOPBACK and tok.hostname in LOOPBACK and iss.port == tok.port


def oidc_issuer(base_url: str) -> str:
    return f"{base_url}{EMULATOR_ISSUER_PATH}"
