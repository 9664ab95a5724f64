"""Client configuration for the Kafka REST proxy: where the proxy is, and who calls it.

Read from a dotenv file or a JSON file (what `provision endpoint --format dotenv` and `provision access grant --out`
write), from command-line flags, and from the environment:

    KAFKAREST_ENDPOINT              https://<cluster>-kafkarest.azurehdinsight.net
    AZURE_TENANT_ID                 the directory (tenant) id
    AZURE_CLIENT_ID                 the client app's application id
    AZURE_CLIENT_SECRET             its secret, or
    AZURE_CLIENT_CERTIFICATE_PATH   a PEM/PKCS12 certificate with private key (+ AZURE_CLIENT_CERTIFICATE_PASSWORD), or
    AZURE_FEDERATED_TOKEN_FILE      a workload identity token (GitHub Actions, Kubernetes) federated with the app
    AZURE_AUTHORITY_HOST            Entra ID host for other clouds and the emulator (default login.microsoftonline.com)
    PROVISION_CA_BUNDLE             a CA bundle to trust (the emulator's); REQUESTS_CA_BUNDLE is read as a fallback
    KAFKAREST_SCOPE                 default https://hib.azurehdinsight.net/.default

JSON files use the same keys, or camelCase ones (`endpoint`, `tenantId`, `clientId`, `clientSecret`, `scope`, ...).

Precedence is flags, then the file, then the environment, key by key, with one exception: a secret or certificate
is only taken from a place that names no client id or the same client id as the one chosen. So the file of
`provision endpoint --format dotenv` (client id, no secret) pairs with an AZURE_CLIENT_SECRET exported for that app,
but never with the secret the environment holds for another app (e.g. the emulator operator's, after
`eval "$(provision emulator env)"`), which would fail at Entra ID with a misleading "invalid client secret".

Secrets are never printed: `ClientConfig.public()` says only whether and where one was found.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from provision.kafkarest.client import DEFAULT_SCOPE, KafkaRestClient, normalize_endpoint
from provision.kafkarest.errors import ValidationError

ENDPOINT, SCOPE = "KAFKAREST_ENDPOINT", "KAFKAREST_SCOPE"
TENANT, CLIENT_ID, SECRET = "AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET"
CERT, CERT_PASSWORD = "AZURE_CLIENT_CERTIFICATE_PATH", "AZURE_CLIENT_CERTIFICATE_PASSWORD"
TOKEN_FILE = "AZURE_FEDERATED_TOKEN_FILE"
AUTHORITY, CA, REQUESTS_CA = "AZURE_AUTHORITY_HOST", "PROVISION_CA_BUNDLE", "REQUESTS_CA_BUNDLE"
KEYS = (ENDPOINT, TENANT, CLIENT_ID, SECRET, CERT, CERT_PASSWORD, TOKEN_FILE, AUTHORITY, CA, REQUESTS_CA, SCOPE)
PATH_KEYS = (CERT, TOKEN_FILE, CA, REQUESTS_CA)
CREDENTIAL_KEYS = (SECRET, CERT, TOKEN_FILE)  # one of them authenticates the client app


# camelCase spellings accepted in JSON files (compared case-insensitively).
ALIASES = {
    "endpoint": ENDPOINT, "kafkarestendpoint": ENDPOINT, "restproxyendpoint": ENDPOINT,
    "tenantid": TENANT, "tenant": TENANT,
    "clientid": CLIENT_ID, "appid": CLIENT_ID,
    "clientsecret": SECRET, "secret": SECRET,
    "clientcertificatepath": CERT, "certificatepath": CERT,
    "clientcertificatepassword": CERT_PASSWORD, "certificatepassword": CERT_PASSWORD,
    "federatedtokenfile": TOKEN_FILE,
    "authorityhost": AUTHORITY, "authority": AUTHORITY,
    "cabundle": CA, "cacert": CA, "capath": CA,
    "scope": SCOPE,
}

# Hosts msal knows; for any other authority (the emulator, a proxy) instance discovery must be off, or msal asks
# login.microsoftonline.com whether the host is legitimate and fails.
WELL_KNOWN_AUTHORITIES = frozenset({
    "login.microsoftonline.com", "login.microsoft.com", "login.windows.net", "sts.windows.net",
    "login.microsoftonline.us", "login.usgovcloudapi.net", "login.chinacloudapi.cn",
    "login.partner.microsoftonline.cn",
})

_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_TENANT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.-]*$")
_DOTENV_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")


# -- files --------------------------------------------------------------------------------------------------------
def parse_dotenv(text: str, origin: str = "dotenv") -> dict[str, str]:
    """KEY=value lines; `export`, comments, blank lines, single quotes (literal) and double quotes (with \\n, \\t,
    \\" and \\\\ escapes) as shells and python-dotenv understand them. Multi-line values are not supported."""
    values: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export "):].lstrip()
        key, sep, rest = line.partition("=")
        key = key.strip()
        if not sep or not _DOTENV_KEY.match(key):
            raise ValidationError(f"{origin} line {number}", "is not KEY=value",
                                  "write one KEY=value per line (# starts a comment)")
        values[key] = _dotenv_value(rest.strip(), f"{origin} line {number}")
    return values


def _dotenv_value(rest: str, where: str) -> str:
    if rest[:1] in ("'", '"'):
        quote = rest[0]
        end = _closing_quote(rest, quote)
        if end < 0:
            raise ValidationError(where, f"has an unterminated {quote} quote", "close the quote on the same line")
        tail = rest[end + 1:].strip()
        if tail and not tail.startswith("#"):
            raise ValidationError(where, "has text after the closing quote", "quote the whole value")
        inner = rest[1:end]
        if quote == "'":
            return inner
        escapes = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\", "$": "$"}
        return re.sub(r"\\(.)", lambda mt: escapes.get(mt.group(1), "\\" + mt.group(1)), inner)
    # Unquoted: an inline comment starts at whitespace followed by '#' (a '#' inside a secret is kept).
    return re.split(r"\s+#", rest, maxsplit=1)[0].strip()


def _closing_quote(text: str, quote: str) -> int:
    i = 1
    while i < len(text):
        if quote == '"' and text[i] == "\\":
            i += 2
            continue
        if text[i] == quote:
            return i
        i += 1
    return -1


def parse_json_config(text: str, origin: str = "JSON") -> dict[str, str]:
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise ValidationError(origin, f"is not valid JSON ({exc})",
                              "fix the file or write it as KEY=value lines") from None
    if not isinstance(doc, dict):
        raise ValidationError(origin, "is not a JSON object", 'write {"KAFKAREST_ENDPOINT": "https://...", ...}')
    values: dict[str, str] = {}
    for key, value in doc.items():
        name = key if key in KEYS else ALIASES.get(str(key).replace("_", "").lower())
        if name is None or value is None:
            continue  # other keys (subscription, resource names...) belong to other tools
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            raise ValidationError(f"{origin} key {key!r}", "must be a string", f'write "{key}": "<value>"')
        values[name] = str(value)
    return values


def read_config_file(path: str | os.PathLike) -> dict[str, str]:
    """A dotenv or JSON file (by extension, else by whether it starts with '{'); only the keys this module knows
    are kept, and relative paths inside are resolved against the file's folder."""
    p = Path(path).expanduser()
    try:
        text = p.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValidationError("--config", f"{str(p)!r} is not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at "
                                          f"offset {exc.start})", "save it as UTF-8") from None
    except OSError as exc:
        raise ValidationError("--config", f"cannot read {str(p)!r} ({exc.strerror or exc})",
                              "pass an existing dotenv or JSON file") from None
    is_json = p.suffix.lower() == ".json" or text.lstrip().startswith("{")
    raw = parse_json_config(text, str(p)) if is_json else parse_dotenv(text, str(p))
    values = {k: v for k, v in raw.items() if k in KEYS}
    for key in PATH_KEYS:
        if values.get(key) and not Path(values[key]).expanduser().is_absolute():
            values[key] = str((p.parent / values[key]).resolve())
    return values


# -- the configuration --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ClientConfig:
    endpoint: str
    tenant_id: str | None = None
    client_id: str | None = None
    client_secret: str | None = field(default=None, repr=False)
    certificate_path: str | None = None
    certificate_password: str | None = field(default=None, repr=False)
    federated_token_file: str | None = None
    authority_host: str | None = None
    ca_bundle: str | None = None
    scope: str = DEFAULT_SCOPE
    sources: Mapping[str, str] = field(default_factory=dict, compare=False)
    # True when the environment names another client app: DefaultAzureCredential must then not sign in as it.
    exclude_environment_credential: bool = False

    @property
    def credential_kind(self) -> str:
        if self.client_id and self.client_secret:
            return "client-secret"
        if self.client_id and self.certificate_path:
            return "certificate"
        if self.client_id and self.federated_token_file:
            return "workload-identity"
        return "default"

    @property
    def instance_discovery(self) -> bool:
        host = _host(self.authority_host) if self.authority_host else "login.microsoftonline.com"
        return host in WELL_KNOWN_AUTHORITIES

    def public(self) -> dict[str, Any]:
        """Everything but secrets, and where each value came from."""
        credential = {"client-secret": "client secret", "certificate": f"certificate {self.certificate_path}",
                      "workload-identity": f"federated token {self.federated_token_file}",
                      "default": "DefaultAzureCredential"}[self.credential_kind]
        return {"endpoint": self.endpoint, "tenantId": self.tenant_id, "clientId": self.client_id,
                "credential": credential, "authorityHost": self.authority_host, "caBundle": self.ca_bundle,
                "scope": self.scope, "sources": dict(self.sources)}

    def credential_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {}
        if self.authority_host:
            kwargs["authority"] = self.authority_host
        if not self.instance_discovery:
            kwargs["disable_instance_discovery"] = True
        if self.ca_bundle:
            kwargs["connection_verify"] = self.ca_bundle
        return kwargs

    def build_credential(self) -> Any:
        """ClientSecretCredential, CertificateCredential or WorkloadIdentityCredential (a federated client
        assertion) for an explicit identity, else DefaultAzureCredential (managed identity, Azure CLI...).

        Built explicitly rather than left to DefaultAzureCredential so the authority, instance discovery and CA
        reach them: DefaultAzureCredential passes `authority` to only some of its credentials."""
        from azure.identity import (
            CertificateCredential,
            ClientSecretCredential,
            DefaultAzureCredential,
            WorkloadIdentityCredential,
        )

        kwargs = self.credential_kwargs()
        if self.credential_kind == "client-secret":
            return ClientSecretCredential(self.tenant_id, self.client_id, self.client_secret, **kwargs)
        if self.credential_kind == "certificate":
            return CertificateCredential(self.tenant_id, self.client_id, certificate_path=self.certificate_path,
                                         password=self.certificate_password, **kwargs)
        if self.credential_kind == "workload-identity":
            return WorkloadIdentityCredential(tenant_id=self.tenant_id, client_id=self.client_id,
                                              token_file_path=self.federated_token_file, **kwargs)
        if self.client_id:  # an identity without a credential of its own: a managed identity of that client id
            kwargs.update(managed_identity_client_id=self.client_id,
                          exclude_environment_credential=self.exclude_environment_credential)
        return DefaultAzureCredential(**kwargs)

    def build_client(self, **kwargs: Any) -> KafkaRestClient:
        """A KafkaRestClient that owns (and closes) the credential built here."""
        return KafkaRestClient(self.endpoint, self.build_credential(), scope=self.scope, ca_bundle=self.ca_bundle,
                               owns_credential=True, **kwargs)


def load(config_file: str | os.PathLike | None = None, overrides: Mapping[str, Any] | None = None,
         environ: Mapping[str, str] | None = None) -> ClientConfig:
    """Merge flags (`overrides`, keyed like the environment variables), the file and the environment, and
    validate. Raises ValidationError naming the key, the rule and the fix."""
    environ = os.environ if environ is None else environ
    file_origin = f"file {config_file}" if config_file else ""
    layers = [
        ("flag", {k: str(v) for k, v in (overrides or {}).items() if k in KEYS and v not in (None, "")}),
        (file_origin, read_config_file(config_file) if config_file else {}),
        ("environment", {k: environ[k] for k in KEYS if environ.get(k)}),
    ]
    merged, sources = _merge(layers)
    if merged.get(SECRET, "").strip().startswith("@Microsoft.KeyVault("):
        merged[SECRET] = _resolve_secret_reference(merged, sources.get(SECRET, ""))
    env_client = layers[2][1].get(CLIENT_ID)
    return _validate(merged, sources, exclude_environment_credential=bool(
        env_client and merged.get(CLIENT_ID) and env_client != merged[CLIENT_ID]))


def _resolve_secret_reference(values: dict[str, str], origin: str) -> str:
    """`AZURE_CLIENT_SECRET=@Microsoft.KeyVault(SecretUri=…)` (Azure's reference syntax, as App Service and
    Functions resolve it): read with the caller's own credential — DefaultAzureCredential (az login, the
    environment's service principal, managed identity) against the same authority and CA as the client."""
    from provision import secretstore

    if not secretstore.REFERENCE.fullmatch(values[SECRET].strip()):
        raise ValidationError(f"{SECRET} ({origin})", "is not a Key Vault reference",
                              "write @Microsoft.KeyVault(SecretUri=https://<vault>/secrets/<name>)")
    from azure.identity import DefaultAzureCredential

    ca = values.get(CA) or values.get(REQUESTS_CA)
    authority = _authority(values.get(AUTHORITY))
    kwargs: dict[str, Any] = {}
    if authority:
        kwargs["authority"] = authority
        if _host(authority) not in WELL_KNOWN_AUTHORITIES:
            kwargs["disable_instance_discovery"] = True
    if ca:
        kwargs["connection_verify"] = ca
    try:
        with DefaultAzureCredential(**kwargs) as credential:
            return secretstore.resolve_reference(values[SECRET], credential, ca)
    except Exception as e:  # noqa: BLE001 — any failure to read the vault is one line naming the reference
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise ValidationError(f"{SECRET} ({origin})", f"the Key Vault reference could not be read ({first[:200]})",
                              "sign in with an identity that has Key Vault Secrets User on the vault (az login, "
                              "or AZURE_CLIENT_ID/AZURE_CLIENT_SECRET of the operator)") from None


def _merge(layers: list[tuple[str, dict[str, str]]]) -> tuple[dict[str, str], dict[str, str]]:
    merged: dict[str, str] = {}
    sources: dict[str, str] = {}
    for origin, values in layers:
        for key, value in values.items():
            if key not in merged:
                merged[key], sources[key] = value, origin
    file_origin, file_values = layers[1]
    stray = [k for k in CREDENTIAL_KEYS if file_values.get(k) and not file_values.get(CLIENT_ID)]
    if stray:
        raise ValidationError(stray[0], f"is set in {file_origin[len('file '):]} without AZURE_CLIENT_ID",
                              "add the client app's AZURE_CLIENT_ID to the same file")
    # The credential (a secret, a certificate and its password, or a federated token file) comes whole from the
    # first place that has one and names no client id or the chosen one.
    client_id = merged.get(CLIENT_ID)
    for key in (*CREDENTIAL_KEYS, CERT_PASSWORD):
        merged.pop(key, None)
        sources.pop(key, None)
    for origin, values in layers:
        if any(values.get(k) for k in CREDENTIAL_KEYS) and values.get(CLIENT_ID, client_id) == client_id:
            for key in (*CREDENTIAL_KEYS, CERT_PASSWORD):
                if values.get(key):
                    merged[key], sources[key] = values[key], origin
            return merged, sources
    # None for the chosen app, but one for another app: surely a mix-up, not a managed identity.
    for origin, values in layers:
        key = next((k for k in CREDENTIAL_KEYS if values.get(k)), None)
        if key:
            where = origin[len("file "):] if origin.startswith("file ") else f"the {origin}"
            raise ValidationError(key, f"in {where} belongs to client app {values[CLIENT_ID]}, not to "
                                  f"{client_id} ({sources[CLIENT_ID]})",
                                  f"give {client_id}'s own secret or certificate, or use {values[CLIENT_ID]}")
    return merged, sources


def _validate(values: dict[str, str], sources: dict[str, str], exclude_environment_credential: bool) -> ClientConfig:
    def where(key: str) -> str:
        return f" (from {sources[key]})" if key in sources else ""

    if not values.get(ENDPOINT):
        raise ValidationError(ENDPOINT, "is not set", "pass --endpoint, set KAFKAREST_ENDPOINT, or use --config FILE "
                              "(`provision endpoint --format dotenv > kafka.env`)")
    endpoint = normalize_endpoint(values[ENDPOINT])
    client_id, tenant = values.get(CLIENT_ID), values.get(TENANT)
    if client_id and not _GUID.match(client_id):
        raise ValidationError(CLIENT_ID, f"{client_id!r}{where(CLIENT_ID)} is not an application (client) id",
                              "use the app's appId, a GUID like 00000000-0000-0000-0000-000000000000")
    if tenant and not _TENANT.match(tenant):
        raise ValidationError(TENANT, f"{tenant!r}{where(TENANT)} is not a tenant id",
                              "use the directory id (a GUID) or its domain, e.g. contoso.onmicrosoft.com")
    secret, cert, token_file = values.get(SECRET), values.get(CERT), values.get(TOKEN_FILE)
    given = next((k for k in CREDENTIAL_KEYS if values.get(k)), None)
    if given and not client_id:
        raise ValidationError(CLIENT_ID, f"is not set, but {given} is{where(given)}",
                              "set AZURE_CLIENT_ID to the application (client) id the credential is for")
    if given and not tenant:
        raise ValidationError(TENANT, f"is not set, but {given} needs it",
                              "set AZURE_TENANT_ID (the directory id) next to AZURE_CLIENT_ID")
    # Like azure-identity's EnvironmentCredential: a secret wins over a certificate, which wins over a token file.
    cert = cert if not secret else None
    token_file = token_file if not (secret or cert) else None
    if cert and not Path(cert).expanduser().is_file():
        raise ValidationError(CERT, f"{cert!r}{where(CERT)} is not a file",
                              "point it at the PEM or PKCS12 file holding the certificate and its private key")
    if token_file and not Path(token_file).expanduser().is_file():
        raise ValidationError(TOKEN_FILE, f"{token_file!r}{where(TOKEN_FILE)} is not a file",
                              "point it at the file where the platform writes the workload's OIDC token")
    ca = values.get(CA) or values.get(REQUESTS_CA)
    ca_key = CA if values.get(CA) else REQUESTS_CA
    if ca and not Path(ca).expanduser().is_file():
        raise ValidationError(ca_key, f"{ca!r}{where(ca_key)} is not a file",
                              "point it at a PEM CA bundle (the emulator's is ca.pem in its data directory)")
    scope = values.get(SCOPE) or DEFAULT_SCOPE
    if not scope.endswith("/.default"):
        raise ValidationError(SCOPE, f"{scope!r}{where(SCOPE)} does not end in /.default",
                              f"client credentials need a resource's /.default scope; the proxy's is {DEFAULT_SCOPE}")
    return ClientConfig(
        endpoint=endpoint, tenant_id=tenant, client_id=client_id, client_secret=secret,
        certificate_path=str(Path(cert).expanduser()) if cert else None,
        certificate_password=values.get(CERT_PASSWORD),
        federated_token_file=str(Path(token_file).expanduser()) if token_file else None,
        authority_host=_authority(values.get(AUTHORITY)),
        ca_bundle=str(Path(ca).expanduser()) if ca else None, scope=scope,
        sources={k: v for k, v in sources.items() if k in values},
        exclude_environment_credential=exclude_environment_credential)


def _authority(value: str | None) -> str | None:
    """azure-identity accepts a bare host and adds https://; anything but https is refused there too."""
    if not value:
        return None
    url = value.strip().rstrip("/")
    if "://" not in url:
        url = f"https://{url}"
    if not url.lower().startswith("https://"):
        raise ValidationError(AUTHORITY, f"{value!r} is not an https URL or host",
                              "use a host like login.microsoftonline.us or the emulator's https:// URL")
    return url


def _host(url: str) -> str:
    from urllib.parse import urlsplit

    return (urlsplit(url if "://" in url else f"https://{url}").hostname or "").lower()
