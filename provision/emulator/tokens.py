"""Access tokens: RS256 JWTs signed with the emulator's key, and their validation by the resource services.

Shapes follow Entra's app-only tokens: `aud` is the resource of the requested `<resource>/.default` scope,
with `iss`, `tid`, `oid` (the service principal's object id), `appid`/`azp`, `idtyp`, `iat`, `nbf`, `exp`, `ver`.
"""

from __future__ import annotations

import base64
import hashlib
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from provision.emulator.pki import write_private

# Resource URIs a scope may name, and the audience family a service accepts. Several spellings are the same
# resource in Entra (the trailing slash, the legacy management.core URI, first-party app ids).
ARM_AUDIENCES = {
    "https://management.azure.com", "https://management.azure.com/",
    "https://management.core.windows.net", "https://management.core.windows.net/",
}
GRAPH_AUDIENCES = {"https://graph.microsoft.com", "https://graph.microsoft.com/", "00000003-0000-0000-c000-000000000000"}
HIB_APP_ID = "7865c1d2-f040-46cc-875f-831a1ef6a28a"  # HDInsight ID Broker, the REST proxy's resource app
HIB_AUDIENCES = {"https://hib.azurehdinsight.net", "https://hib.azurehdinsight.net/", HIB_APP_ID}
OTHER_RESOURCES = {"https://storage.azure.com", "https://vault.azure.net", "https://database.windows.net"}
KNOWN_RESOURCES = ARM_AUDIENCES | GRAPH_AUDIENCES | HIB_AUDIENCES | OTHER_RESOURCES
LOOPBACK_NAMES = ("127.0.0.1", "localhost")


def own_origins(netloc: str) -> set[str]:
    """The emulator's own origin as a resource URI (`https://127.0.0.1:<port>`, also spelled `localhost`), with
    and without the trailing slash. A sovereign cloud pairs Graph's base URL with Graph's token resource in one
    setting (az's `microsoftGraphResourceId`), so a client configured for the emulator asks for a token for the
    emulator's origin and calls Graph with it: the token service and Graph accept it as Graph's resource."""
    host, _, port = netloc.rpartition(":") if ":" in netloc else (netloc, "", "")
    hosts = {host, *LOOPBACK_NAMES} if host in LOOPBACK_NAMES else {host}
    origins = {f"https://{h}:{port}" if port else f"https://{h}" for h in hosts}
    return origins | {o + "/" for o in origins}


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Signer:
    def __init__(self, data_dir: Path):
        path = data_dir / "token-signing-key.pem"
        if path.exists():
            self.key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        else:
            self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            write_private(path, self.key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
        pub = self.key.public_key()
        der = pub.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        self.kid = _b64url(hashlib.sha1(der).digest())
        self.public_key = pub

    def jwks(self) -> dict[str, Any]:
        nums = self.public_key.public_numbers()
        n = nums.n.to_bytes((nums.n.bit_length() + 7) // 8, "big")
        e = nums.e.to_bytes((nums.e.bit_length() + 7) // 8, "big")
        return {"keys": [{"kty": "RSA", "use": "sig", "kid": self.kid, "x5t": self.kid, "n": _b64url(n),
                          "e": _b64url(e), "alg": "RS256"}]}

    def issue(self, *, issuer: str, tenant_id: str, audience: str, app_id: str, sp_object_id: str,
              lifetime: int, app_display_name: str | None = None, extra: dict | None = None) -> tuple[str, dict]:
        now = int(time.time())
        claims = {
            "aud": audience,
            "iss": issuer,
            "iat": now,
            "nbf": now,
            "exp": now + lifetime,
            "aio": _b64url(uuid.uuid4().bytes),
            "appid": app_id,
            "azp": app_id,
            "appidacr": "1",
            "azpacr": "1",
            "idp": issuer,
            "idtyp": "app",
            "oid": sp_object_id,
            "sub": sp_object_id,
            "tid": tenant_id,
            "uti": _b64url(uuid.uuid4().bytes),
            "ver": "2.0",
        }
        if app_display_name:
            claims["app_displayname"] = app_display_name
        if extra:
            claims.update(extra)
        token = jwt.encode(claims, self.key, algorithm="RS256", headers={"kid": self.kid, "x5t": self.kid})
        return token, claims


@dataclass(frozen=True)
class Caller:
    """Who a validated token says is calling."""

    tenant_id: str
    object_id: str  # service principal object id
    app_id: str
    audience: str
    claims: dict[str, Any]


class TokenProblem(Exception):
    """Why a bearer token was refused; each service maps `reason` onto its own error code and message."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason  # missing | malformed | signature | expired | audience | tenant
        self.message = message


def validate_bearer(authorization: str | None, signer: Signer, *, audiences: set[str],
                    tenant_id: str | None = None) -> Caller:
    if not authorization:
        raise TokenProblem("missing", "The 'Authorization' header is missing.")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise TokenProblem("malformed", "The 'Authorization' header must be 'Bearer <access token>'.")
    try:
        claims = jwt.decode(token.strip(), signer.public_key, algorithms=["RS256"],
                            options={"verify_aud": False, "verify_exp": False, "verify_nbf": False})
    except jwt.InvalidSignatureError:
        raise TokenProblem("signature", "The token signature is invalid.") from None
    except jwt.PyJWTError as e:
        raise TokenProblem("malformed", f"The access token is malformed: {e}.") from None
    now = time.time()
    if claims.get("exp", 0) < now - 300:  # Entra allows five minutes of clock skew
        raise TokenProblem("expired", "Lifetime validation failed, the token is expired.")
    if claims.get("nbf", 0) > now + 300:
        raise TokenProblem("expired", "Lifetime validation failed, the token is not yet valid.")
    aud = claims.get("aud", "")
    if aud not in audiences:
        raise TokenProblem("audience", f"Invalid audience '{aud}'.")
    if tenant_id is not None and claims.get("tid") != tenant_id:
        raise TokenProblem("tenant", f"The token was issued for tenant '{claims.get('tid')}', not '{tenant_id}'.")
    return Caller(tenant_id=claims.get("tid", ""), object_id=claims.get("oid", ""), app_id=claims.get("appid", ""),
                  audience=aud, claims=claims)
