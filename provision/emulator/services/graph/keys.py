"""An application's certificate credentials (`keyCredentials`), as Graph validates and stores them, and the
proof-of-possession token that `addKey` / `removeKey` demand.

Graph returns a certificate (`key`) only on `$select=keyCredentials` for a single object (everywhere else `key`
reads as null), so each one is kept privately in the application's `_keys` (keyId → base64 DER), where the token
service (identity/assertions.py) finds it to check a client assertion and a single-object `$select` reads it
(responses.with_certificates). A PATCH entry naming a keyId the app already has, without `key`, keeps that
certificate: Graph's documentation does not say what it does here, so clients should not rely on it —
`provision access` always re-sends `key` read with `$select`. `customKeyIdentifier` defaults to the certificate's SHA-1 thumbprint (base64), `displayName` to its
subject, and the validity window to the certificate's own; an `endDateTime` past the certificate's expiry is
refused as Graph refuses it (400 KeyCredentialsInvalidEndDate).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import time
import uuid
from typing import Any

import jwt
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from provision.emulator.services.graph.schema import format_datetime, given_datetime, is_guid, parse_datetime
from provision.emulator.wire import GraphError

KEY_TYPE = "AsymmetricX509Cert"
# The proof's audience: the docs first named AAD Graph's app id, now Microsoft Graph's; Graph accepts both.
PROOF_AUDIENCES = {"00000002-0000-0000-c000-000000000000", "00000003-0000-0000-c000-000000000000"}
PROOF_MAX_LIFETIME = 600  # "exp should be nbf + 10 minutes"
CLOCK_SKEW = 300


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def bad_key(prop: str) -> GraphError:
    return GraphError(f"Invalid value specified for property '{prop}' of resource 'KeyCredential'.",
                      code="Request_BadRequest")


def invalid_end_date() -> GraphError:
    return GraphError("Key credential end date is invalid.", code="KeyCredentialsInvalidEndDate")


def load_certificate(value: Any) -> x509.Certificate | None:
    """`key` is base64 of a DER certificate (or of its PEM text, which some tools send)."""
    if not isinstance(value, str):
        return None
    try:
        raw = base64.b64decode(value, validate=True)
    except ValueError:
        return None
    for loader in (x509.load_der_x509_certificate, x509.load_pem_x509_certificate):
        try:
            return loader(raw)
        except ValueError:
            continue
    return None


def key_credential(cred: Any, stored: dict[str, str]) -> tuple[dict[str, Any], str]:
    """A keyCredential as Graph stores it, and its certificate (base64 DER). An entry naming a keyId the app
    already has, without `key`, keeps that certificate (what clients send back after a GET)."""
    if not isinstance(cred, dict):
        raise bad_key("keyCredentials")
    key_id = cred.get("keyId") or str(uuid.uuid4())
    if not is_guid(key_id):
        raise bad_key("keyId")
    key_id = key_id.lower()
    if cred.get("type", KEY_TYPE) != KEY_TYPE:
        raise bad_key("type")
    if cred.get("usage", "Verify") != "Verify":  # Sign goes with X509CertAndPassword, which the emulator lacks
        raise bad_key("usage")
    if cred.get("key") is None and key_id in stored:
        der = stored[key_id]
    else:
        cert = load_certificate(cred.get("key"))
        if cert is None:
            raise GraphError("Invalid certificate: Key value is invalid certificate", code="Request_BadRequest")
        der = base64.b64encode(cert.public_bytes(Encoding.DER)).decode()
    raw = base64.b64decode(der)
    cert = x509.load_der_x509_certificate(raw)
    start = given_datetime(cred, "startDateTime", bad_key) or cert.not_valid_before_utc
    end = given_datetime(cred, "endDateTime", bad_key) or cert.not_valid_after_utc
    # Graph keeps a credential inside its certificate's validity. Certificates carry whole seconds, so a client
    # that copies the expiry with sub-second precision is compared at the second.
    if end.replace(microsecond=0) > cert.not_valid_after_utc or end <= start:
        raise invalid_end_date()
    display_name = cred.get("displayName")
    if display_name is not None and not isinstance(display_name, str):
        raise bad_key("displayName")
    custom = cred.get("customKeyIdentifier")
    if custom is not None and not isinstance(custom, str):
        raise bad_key("customKeyIdentifier")
    entry = {
        "customKeyIdentifier": custom or base64.b64encode(hashlib.sha1(raw).digest()).decode(),
        "displayName": display_name or cert.subject.rfc4514_string(), "endDateTime": format_datetime(end),
        "key": None, "keyId": key_id, "startDateTime": format_datetime(start), "type": KEY_TYPE,
        "usage": "Verify",
    }
    return entry, der


def key_credentials(creds: Any, stored: dict[str, str]) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """A whole keyCredentials list (PATCH replaces it): the entries and the certificates to keep."""
    if not isinstance(creds, list):
        raise bad_key("keyCredentials")
    out, keys = [], {}
    for cred in creds:
        entry, der = key_credential(cred, stored)
        if entry["keyId"] in keys:
            raise bad_key("keyId")
        out.append(entry)
        keys[entry["keyId"]] = der
    return out, keys


def valid_certificates(app: dict[str, Any], now: dt.datetime | None = None,
                       ) -> list[tuple[dict[str, Any], x509.Certificate]]:
    """The app's certificates whose credential is valid now: the keys a proof of possession may be signed with."""
    now = now or dt.datetime.now(dt.timezone.utc)
    out = []
    for cred in app.get("keyCredentials", []):
        der = app.get("_keys", {}).get(cred.get("keyId"))
        start, end = parse_datetime(cred.get("startDateTime")), parse_datetime(cred.get("endDateTime"))
        if not der or cred.get("usage") != "Verify" or (start and start > now) or (end and end < now):
            continue
        out.append((cred, x509.load_der_x509_certificate(base64.b64decode(der))))
    return out


def _malformed(reason: str) -> GraphError:
    # What Graph answers for a proof it does not accept (with the emulator's reason appended).
    return GraphError(f"Access Token missing or malformed. ({reason})", code="Authentication_MissingOrMalformed",
                      status=401)


def check_proof(app: dict[str, Any], proof: Any, action: str) -> None:
    """The proof of possession addKey / removeKey require: a JWT signed with one of the app's valid certificates,
    `aud` Graph, `iss` the application's object id, `nbf` and `exp` at most ten minutes apart."""
    if proof is None or proof == "":
        raise GraphError(f"A value is required for property 'proof' of resource '{action}'.",
                         code="Request_BadRequest")
    if not isinstance(proof, str):
        raise GraphError(f"Invalid value specified for property 'proof' of resource '{action}'.",
                         code="Request_BadRequest")
    candidates = valid_certificates(app)
    if not candidates:
        raise GraphError(f"Application '{app['appId']}' has no valid certificate to verify the proof of "
                         f"possession; add the first certificate with Update application instead of {action}.",
                         code="Request_BadRequest")
    try:
        header = jwt.get_unverified_header(proof)
    except jwt.PyJWTError:
        raise _malformed("the proof is not a JWT") from None
    # msal pads its base64url thumbprints ("...BQ="), RFC 7515 does not: compare without the padding.
    x5t256, x5t = (str(header[h]).rstrip("=") if header.get(h) else None for h in ("x5t#S256", "x5t"))
    if x5t256 or x5t:
        candidates = [(c, cert) for c, cert in candidates
                      if x5t256 == _b64url(hashlib.sha256(cert.public_bytes(Encoding.DER)).digest())
                      or x5t == _b64url(hashlib.sha1(cert.public_bytes(Encoding.DER)).digest())]
    claims = None
    for _cred, cert in candidates:
        try:
            claims = jwt.decode(proof, cert.public_key(), algorithms=["RS256", "PS256"],
                                options={"verify_aud": False, "verify_exp": False, "verify_nbf": False,
                                         "verify_iat": False})
            break
        except jwt.InvalidSignatureError:
            continue
        except jwt.PyJWTError as e:
            raise _malformed(f"the proof cannot be read: {e}") from None
    if claims is None:
        raise _malformed("the proof is not signed by any valid certificate of the application")
    aud = claims.get("aud")
    auds = [aud] if isinstance(aud, str) else list(aud or [])
    if not any(a in PROOF_AUDIENCES for a in auds):
        raise _malformed(f"the proof's aud must be {' or '.join(sorted(PROOF_AUDIENCES))}")
    if str(claims.get("iss", "")).lower() != app["id"]:
        raise _malformed("the proof's iss must be the application's object id (not its appId)")
    nbf, exp = claims.get("nbf"), claims.get("exp")
    if not isinstance(nbf, (int, float)) or not isinstance(exp, (int, float)):
        raise _malformed("the proof must carry nbf and exp")
    if exp - nbf > PROOF_MAX_LIFETIME:
        raise _malformed("the proof's lifetime (exp - nbf) must not exceed 10 minutes")
    now = time.time()
    if now < nbf - CLOCK_SKEW or now > exp + CLOCK_SKEW:
        raise _malformed("the proof is expired or not yet valid")
