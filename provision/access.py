"""Client access to the REST proxy: which applications' service principals are members of the cluster's security
group, and the credentials they use — grant, revoke, list, check, rotate; one client or a thousand.

A client is an Entra app (found again by its `uniqueName`, the client's name) + service principal + one
credential: a client secret, a certificate (key pair made here; only the public part is uploaded), or a federated
identity credential (no secret at all). Its configuration — endpoint, tenant, client id, scope, credential or
credential file — is written as dotenv or JSON, mode 0600.
"""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
import json
import re
import shlex
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from provision import secretstore
from provision.consistency import retry_lag
from provision.context import Context, write_private
from provision.errors import InvalidInput, ProvisionError
from provision.resources import graph_util
from provision.resources.graph_util import (
    get_or_none, is_already_member, is_not_found, odata_message, valid_until,
)

CREDENTIAL_KINDS = ("secret", "certificate", "federated", "none")
CLIENT_TAG = "provision-client"
CREDENTIAL_NAME = "provision-access"
GITHUB_ISSUER = "https://token.actions.githubusercontent.com"
FEDERATED_AUDIENCE = "api://AzureADTokenExchange"
NAME_RULE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,119}")
BIND_CHUNK = 20  # Graph: at most 20 members@odata.bind references per request


@dataclass
class ClientRequest:
    """One client to grant access to, as parsed from arguments or a bulk file."""

    name: str
    app_id: str | None = None
    sp_object_id: str | None = None
    credential: str = "secret"
    federated_subject: str | None = None
    federated_issuer: str = GITHUB_ISSUER
    line: int | None = None


@dataclass
class ClientResult:
    name: str
    status: str = "pending"  # ok | failed
    app_id: str | None = None
    sp_object_id: str | None = None
    credential: str | None = None
    credential_expires: str | None = None
    config_file: str | None = None
    message: str = ""
    wrote: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "status": self.status, "appId": self.app_id, "servicePrincipalId":
                self.sp_object_id, "credential": self.credential, "credentialExpires": self.credential_expires,
                "configFile": self.config_file, "changes": self.wrote, "message": self.message}


# -- input ----------------------------------------------------------------------------------------------------------
def validate_request(req: ClientRequest, where: str) -> None:
    if not NAME_RULE.fullmatch(req.name or ""):
        raise InvalidInput(f"{where}name: '{req.name}' is not a valid client name (1–120 letters, digits, '.', '_', "
                           f"'-', starting with a letter or digit); rename it")
    if req.credential not in CREDENTIAL_KINDS:
        raise InvalidInput(f"{where}credential: '{req.credential}' is not one of {', '.join(CREDENTIAL_KINDS)}; "
                           f"pick one")
    for label, value in (("app_id", req.app_id), ("sp_object_id", req.sp_object_id)):
        if value:
            try:
                uuid.UUID(value)
            except ValueError:
                raise InvalidInput(f"{where}{label}: '{value}' is not a GUID; copy the id from the portal or "
                                   f"`az ad sp show`") from None
    if req.credential == "federated" and not req.federated_subject:
        raise InvalidInput(f"{where}federated_subject: required for a federated credential; e.g. "
                           f"repo:org/repo:environment:prod")
    if req.credential == "federated" and req.sp_object_id and not req.app_id:
        raise InvalidInput(f"{where}credential: a federated credential needs an app registration, not only a "
                           f"service principal; pass the app id instead")


def parse_bulk(path: str | Path, default_credential: str = "secret") -> list[ClientRequest]:
    """A CSV with a header row or a JSON list of objects; keys: name, and optionally app_id, credential (and
    sp_object_id, federated_subject, federated_issuer). Every row is checked before anything is written."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8-sig")  # Excel's "CSV UTF-8" starts with a byte-order mark
    except UnicodeDecodeError as e:
        raise InvalidInput(f"--from: {p} is not UTF-8 text (byte 0x{e.object[e.start]:02x} at offset {e.start}); "
                           f"save it as UTF-8 (Excel: CSV UTF-8)") from None
    except OSError as e:
        raise InvalidInput(f"--from: cannot read {p} ({e.strerror or e}); check the path") from None
    allowed = {"name", "app_id", "sp_object_id", "credential", "federated_subject", "federated_issuer"}
    rows: list[tuple[int, dict[str, Any]]] = []
    if p.suffix.lower() == ".json" or text.lstrip().startswith("["):
        try:
            data = json.loads(text)
        except ValueError as e:
            raise InvalidInput(f"--from: {p} is not valid JSON ({e}); fix the file") from None
        if not isinstance(data, list) or not all(isinstance(x, dict) for x in data):
            raise InvalidInput(f"--from: {p} must hold a JSON list of objects; e.g. [{{\"name\": \"orders\"}}]")
        rows = list(enumerate(data, start=1))
    else:
        reader = csv.DictReader(io.StringIO(text))
        if not reader.fieldnames or "name" not in [f.strip() for f in reader.fieldnames]:
            raise InvalidInput(f"--from: {p} needs a CSV header row with a 'name' column; add one")
        for n, row in enumerate(reader, start=2):
            if None in row:
                raise InvalidInput(f"--from: {p} line {n} has more fields than the header; quote values "
                                   f"containing commas")
            rows.append((n, {k.strip(): (v or "").strip() for k, v in row.items()}))
    out, seen = [], set()
    for n, row in rows:
        where = f"--from {p.name} {'line' if p.suffix.lower() != '.json' else 'item'} {n}: "
        unknown = set(row) - allowed
        if unknown:
            raise InvalidInput(f"{where}unknown key(s) {', '.join(sorted(unknown))}; allowed: "
                               f"{', '.join(sorted(allowed))}")
        for key, value in row.items():  # JSON: every value a string (or null); 5 or {} is no name, id or subject
            if value is not None and not isinstance(value, str):
                kind = {bool: "true/false", int: "a number", float: "a number", dict: "an object",
                        list: "a list"}.get(type(value), type(value).__name__)
                raise InvalidInput(f"{where}{key}: {json.dumps(value)[:40]} is {kind}, not a string; write it in "
                                   f"quotes, e.g. \"{key}\": \"...\"")
        req = ClientRequest(name=str(row.get("name") or ""), app_id=row.get("app_id") or None,
                            sp_object_id=row.get("sp_object_id") or None,
                            credential=row.get("credential") or default_credential,
                            federated_subject=row.get("federated_subject") or None,
                            federated_issuer=row.get("federated_issuer") or GITHUB_ISSUER, line=n)
        validate_request(req, where)
        if req.name in seen:
            raise InvalidInput(f"{where}name: '{req.name}' appears twice; each client once")
        seen.add(req.name)
        out.append(req)
    if not out:
        raise InvalidInput(f"--from: {p} lists no clients")
    return out


# -- the security group -----------------------------------------------------------------------------------------
async def target_group(ctx: Context) -> dict[str, Any]:
    from provision.resources import security_group

    group = await security_group.find(ctx)
    if group is None:
        raise ProvisionError(f"security group {ctx.spec.values['group.name']} of environment "
                             f"{ctx.spec.values['name']} does not exist; run `provision up` (or `provision group "
                             f"create`) first, or name an existing group with group.id")
    if not group.get("securityEnabled") or group.get("mailEnabled"):
        raise InvalidInput(f"group.name: {group['displayName']} is not a security group (securityEnabled="
                           f"{group.get('securityEnabled')}, mailEnabled={group.get('mailEnabled')}); the REST "
                           f"proxy only honours security groups")
    return group


async def member_ids(ctx: Context, group_id: str) -> dict[str, dict[str, Any]]:
    """Direct members of the group (one request per 999), keyed by object id."""
    from provision import graphapi

    out: dict[str, dict[str, Any]] = {}
    for m in await graphapi.list_all(ctx, f"/groups/{group_id}/members?$top=999&$select=id,displayName,appId,"
                                          f"servicePrincipalType"):
        out[m["id"]] = {"id": m["id"], "type": (m.get("@odata.type") or "").replace("#microsoft.graph.", ""),
                        "displayName": m.get("displayName"), "appId": m.get("appId"),
                        "servicePrincipalType": m.get("servicePrincipalType")}
    return out


class View:
    """Graph's JSON for an object read as msgraph's models are (snake_case attributes, datetimes parsed), so the
    credential helpers take either: `View({"appId": …}).app_id`."""

    def __init__(self, doc: dict[str, Any]):
        self._doc = doc

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        camel = re.sub(r"_([a-z])", lambda m: m.group(1).upper(), name)
        value = self._doc.get(camel)
        if isinstance(value, dict):
            return View(value)
        if isinstance(value, list):
            return [View(v) if isinstance(v, dict) else v for v in value]
        if camel.endswith("DateTime") and isinstance(value, str):
            return _when(value)
        return value


# -- the client's identity ------------------------------------------------------------------------------------------
async def _service_principal_by_object_id(ctx: Context, object_id: str) -> Any:
    """A service principal (app or managed identity) by object id; refuses users and groups clearly."""
    sp = await get_or_none(lambda: ctx.graph.service_principals.by_service_principal_id(object_id).get())
    if sp is not None:
        return sp
    obj = await get_or_none(lambda: ctx.graph.directory_objects.by_directory_object_id(object_id).get())
    if obj is None:
        raise InvalidInput(f"sp_object_id: no directory object {object_id} in tenant {ctx.tenant_id}; check the id")
    kind = (obj.odata_type or "").replace("#microsoft.graph.", "")
    raise InvalidInput(f"sp_object_id: {object_id} is a {kind}, not a service principal; the REST proxy admits "
                       f"applications and managed identities only")


async def resolve_client(ctx: Context, req: ClientRequest, result: ClientResult, *, create: bool) -> tuple[Any, Any]:
    """(application or None, service principal) for a request; creates the app + SP for a new client."""
    from msgraph.generated.models.application import Application

    if req.sp_object_id:
        sp = await _service_principal_by_object_id(ctx, req.sp_object_id)
        app = await get_or_none(lambda: ctx.graph.applications_with_app_id(sp.app_id).get())
        return app, sp
    if req.app_id:
        app = await get_or_none(lambda: ctx.graph.applications_with_app_id(req.app_id).get())
        if app is None and await get_or_none(lambda: ctx.graph.service_principals_with_app_id(req.app_id).get()) \
                is None:
            raise InvalidInput(f"app_id: no application or service principal with app id {req.app_id} in tenant "
                               f"{ctx.tenant_id}; check the id")
        app_id = req.app_id
    else:
        app = await get_or_none(lambda: ctx.graph.applications_with_unique_name(req.name).get())
        if app is None:
            if not create:
                raise InvalidInput(f"name: no client app named {req.name}; grant access first")
            app, created = await graph_util.upsert_application(ctx.graph, req.name, Application(
                display_name=req.name, sign_in_audience="AzureADMyOrg",
                tags=["provision", CLIENT_TAG, f"provision-environment:{ctx.spec.values['name']}"]))
            if created:
                result.wrote.append("application")
                ctx.created.add(app.id)
        app_id = app.app_id
    if not create:
        sp = await get_or_none(lambda: ctx.graph.service_principals_with_app_id(app_id).get())
        if sp is None:
            raise ProvisionError(f"client {req.name} (app {app_id}) has no service principal")
        return app, sp
    sp, created = await graph_util.ensure_service_principal(
        ctx.graph, app_id, what=f"service principal of {req.name}",
        fresh_app=app is not None and getattr(app, "id", None) in ctx.created)
    if created:
        result.wrote.append("service principal")
        ctx.created.add(sp.id)
    return app, sp


async def find_client(ctx: Context, req: ClientRequest) -> tuple[Any, Any]:
    """(application or None, service principal or None) without creating anything; a client that is gone reads as
    (None, None). A directory object that is not a service principal is still refused."""
    if req.sp_object_id:
        sp = await get_or_none(lambda: ctx.graph.service_principals.by_service_principal_id(req.sp_object_id).get())
        if sp is None:
            obj = await get_or_none(lambda: ctx.graph.directory_objects.by_directory_object_id(req.sp_object_id)
                                    .get())
            if obj is not None:
                await _service_principal_by_object_id(ctx, req.sp_object_id)  # raises: not a service principal
            return None, None
        return await get_or_none(lambda: ctx.graph.applications_with_app_id(sp.app_id).get()), sp
    if req.app_id:
        app = await get_or_none(lambda: ctx.graph.applications_with_app_id(req.app_id).get())
        app_id = req.app_id
    else:
        app = await get_or_none(lambda: ctx.graph.applications_with_unique_name(req.name).get())
        if app is None:
            return None, None
        app_id = app.app_id
    return app, await get_or_none(lambda: ctx.graph.service_principals_with_app_id(app_id).get())


# -- credentials ----------------------------------------------------------------------------------------------------
def client_dir(ctx: Context) -> Path:
    return ctx.state_dir / "clients"


def _held(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _meta_path(ctx: Context, name: str) -> Path:
    return client_dir(ctx) / f"{name}.credential.json"


# A client's credential record: kind, appId, keyId, endDateTime and the secret (or, for a certificate, the path of
# its PEM). Kept in the vault as `client-<name>` when secrets.key_vault is set (the value is the secret or the PEM,
# the rest in tags), else in <name>.credential.json (0600).
RECORD_TAGS = ("kind", "appId", "keyId", "issuer", "subject")


def _from_vault(ctx: Context, name: str, s: dict[str, Any] | None) -> dict[str, Any] | None:
    if s is None:
        return None
    meta = {k: s["tags"][k] for k in RECORD_TAGS if k in s["tags"]}
    meta["endDateTime"] = s["expires"]
    if meta.get("kind") == "secret":
        meta["secret"] = s["value"]
    elif meta.get("kind") == "certificate":  # the key pair lives in the vault; the client's config needs a file
        path = client_dir(ctx) / f"{name}.pem"
        if not path.exists() or path.read_text() != s["value"]:
            write_private(path, s["value"])
        meta["certificatePath"] = str(path.resolve())
    return meta


def _record(ctx: Context, name: str) -> dict[str, Any] | None:
    if not secretstore.configured(ctx):
        return _held(_meta_path(ctx, name))
    cache = ctx.results.setdefault("clientRecords", {})
    if name not in cache:
        cache[name] = _from_vault(ctx, name, secretstore.get_sync(ctx, secretstore.client_secret_name(name)))
    return cache[name]


async def load_records(ctx: Context, names: list[str]) -> None:
    """Read the vault's records of these clients at once (a bulk grant reads them concurrently, not one by one)."""
    if not secretstore.configured(ctx):
        return
    got = await asyncio.gather(*(secretstore.get(ctx, secretstore.client_secret_name(n)) for n in names))
    cache = ctx.results.setdefault("clientRecords", {})
    for n, s in zip(names, got):
        cache[n] = _from_vault(ctx, n, s)


async def _save_record(ctx: Context, name: str, meta: dict[str, Any]) -> None:
    if not secretstore.configured(ctx):
        # 0600 like the configs, and it keeps the secret, so a second grant with any --out reuses it
        write_private(_meta_path(ctx, name), json.dumps(meta, indent=2))
        return
    kind = meta.get("kind")
    value = (meta.get("secret") if kind == "secret" else
             Path(meta["certificatePath"]).read_text() if kind == "certificate" else meta.get("subject") or kind)
    content = {"secret": f"client secret of app {meta.get('appId')}",
               "certificate": "application/x-pem-file"}.get(kind, f"{kind} credential record")
    await secretstore.put(ctx, secretstore.client_secret_name(name), value, content_type=content,
                          expires=meta.get("endDateTime") if kind in ("secret", "certificate") else None,
                          tags={k: str(meta[k]) for k in RECORD_TAGS if meta.get(k)})
    ctx.results.setdefault("clientRecords", {})[name] = {k: v for k, v in meta.items() if k != "replaced"}


async def _drop_record(ctx: Context, name: str) -> None:
    if secretstore.configured(ctx):
        await secretstore.delete(ctx, secretstore.client_secret_name(name))
        ctx.results.setdefault("clientRecords", {})[name] = None


def recorded_kind(ctx: Context, name: str) -> str | None:
    """The credential kind recorded for a client (None when nothing is held)."""
    meta = _record(ctx, name)
    return meta.get("kind") if meta else None


def held_credential(ctx: Context, req: ClientRequest, app: Any) -> dict[str, Any] | None:
    """The secret or certificate we hold for this client, if the app still has it and it is not about to expire.
    Federated credentials are never "held": add_federated compares issuer and subject with the app's (one GET)."""
    meta = _record(ctx, req.name)
    if not meta or app is None or meta.get("appId") != app.app_id or meta.get("kind") != req.credential:
        return None
    if req.credential == "secret":
        ok = any(str(c.key_id) == meta["keyId"] and valid_until(c.end_date_time)
                 for c in app.password_credentials or [])
    elif req.credential == "certificate":
        ok = any(str(c.key_id) == meta["keyId"] and valid_until(c.end_date_time) for c in app.key_credentials or [])
        ok = ok and Path(meta.get("certificatePath", "")).exists()
    else:
        ok = False
    return meta if ok else None


async def add_secret(ctx: Context, app: Any, days: int) -> dict[str, Any]:
    pw = await graph_util.add_secret(ctx.graph, app.id, CREDENTIAL_NAME, days,
                                     what=f"client secret of {app.display_name}")
    return {"kind": "secret", "keyId": str(pw.key_id), "endDateTime": pw.end_date_time.isoformat(),
            "secret": pw.secret_text}


def make_certificate(name: str, days: int) -> tuple[bytes, bytes, dt.datetime, dt.datetime]:
    """A key pair and self-signed certificate made locally; the private key never leaves this machine."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    # whole seconds: the certificate keeps no fractions, and Graph refuses an endDateTime past its notAfter
    start = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=5)).replace(microsecond=0)
    end = start + dt.timedelta(days=days)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(start).not_valid_after(end)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()) + cert.public_bytes(serialization.Encoding.PEM)
    return pem, cert.public_bytes(serialization.Encoding.DER), start, end


async def add_certificate(ctx: Context, app: Any, name: str, days: int, drop: set[str]) -> dict[str, Any]:
    """Upload the public certificate to keyCredentials. PATCH replaces the whole list, so the app's current
    certificates are read with their keys (`$select=keyCredentials`) and re-sent, all but the key ids in `drop`."""
    from msgraph.generated.models.application import Application
    from msgraph.generated.models.key_credential import KeyCredential

    current = await graph_util.key_credentials_with_keys(ctx.graph, app.id)
    keep = [c for c in current if str(c.key_id) not in drop]
    pem, der, start, end = make_certificate(name, days)
    key_id = uuid.uuid4()
    new = KeyCredential(key_id=key_id, type="AsymmetricX509Cert", usage="Verify", key=der,
                        display_name=f"CN={name}", start_date_time=start, end_date_time=end)
    await retry_lag(lambda: ctx.graph.applications.by_application_id(app.id).patch(
        Application(key_credentials=[*keep, new])), what=f"certificate of {name}")
    path = client_dir(ctx) / f"{name}.pem"
    write_private(path, pem.decode())
    return {"kind": "certificate", "keyId": str(key_id), "endDateTime": end.isoformat(),
            "certificatePath": str(path.resolve())}


async def remove_certificate(ctx: Context, app: Any, key_id: str) -> bool:
    """PATCH keyCredentials without one certificate (the others re-sent with their keys); False if it was gone."""
    from msgraph.generated.models.application import Application

    current = await graph_util.key_credentials_with_keys(ctx.graph, app.id)
    keep = [c for c in current if str(c.key_id) != key_id]
    if len(keep) == len(current):
        return False
    await retry_lag(lambda: ctx.graph.applications.by_application_id(app.id).patch(
        Application(key_credentials=keep)), what="removing a certificate")
    return True


async def add_federated(ctx: Context, app: Any, req: ClientRequest) -> dict[str, Any]:
    """The federated credential with this issuer and subject, added when the app has none (others are kept: one
    app may trust several subjects)."""
    from msgraph.generated.models.federated_identity_credential import FederatedIdentityCredential

    existing = await ctx.graph.applications.by_application_id(app.id).federated_identity_credentials.get()
    for c in existing.value or []:
        if c.issuer == req.federated_issuer and c.subject == req.federated_subject:
            return {"kind": "federated", "keyId": c.id, "issuer": c.issuer, "subject": c.subject, "unchanged": True}
    fic_name = re.sub(r"[^A-Za-z0-9-]", "-", f"provision-{req.federated_subject}")[:120]
    fic = await graph_util.add_federated_credential(
        ctx.graph, app.id, FederatedIdentityCredential(name=fic_name, issuer=req.federated_issuer,
                                                       subject=req.federated_subject, audiences=[FEDERATED_AUDIENCE],
                                                       description="Kafka REST proxy client (provision)"),
        what=f"federated credential of {req.name}")
    return {"kind": "federated", "keyId": fic.id, "issuer": fic.issuer, "subject": fic.subject}


def client_config(ctx: Context, endpoint: str | None, app_id: str, meta: dict[str, Any]) -> dict[str, str]:
    """The client's configuration: the shared client document plus its credential (or credential file)."""
    from provision.engine import client_document

    doc = client_document(ctx, endpoint, app_id)
    if meta.get("kind") == "secret" and (meta.get("reference") or meta.get("secret")):
        doc["AZURE_CLIENT_SECRET"] = meta.get("reference") or meta["secret"]
    elif meta.get("kind") == "certificate":
        doc["AZURE_CLIENT_CERTIFICATE_PATH"] = meta["certificatePath"]
    return doc


async def with_reference(ctx: Context, name: str, meta: dict[str, Any]) -> dict[str, Any]:
    """The record with `reference`: the config then names the vault's secret instead of holding its value."""
    if meta.get("kind") != "secret":
        return meta
    return {**meta, "reference": secretstore.reference(await secretstore.vault_uri(ctx),
                                                       secretstore.client_secret_name(name))}


def dotenv_value(value: str) -> str:
    """A value as `. file` in a POSIX shell and provision.clientconfig.parse_dotenv both read it back: bare when
    safe, else single-quoted (literal), else — a value holding a single quote — double-quoted with escapes."""
    value = str(value)
    quoted = shlex.quote(value)
    if quoted == value or "'" not in value:
        return quoted
    return '"' + re.sub(r'([\\"$`])', r"\\\1", value) + '"'


def dotenv_text(doc: dict[str, Any]) -> str:
    """KEY=value lines for a configuration document (None values left out): the one dotenv writer."""
    return "".join(f"{k}={dotenv_value(v)}\n" for k, v in doc.items() if v is not None)


def config_text(doc: dict[str, str], fmt: str) -> str:
    return json.dumps(doc, indent=2) + "\n" if fmt == "json" else dotenv_text(doc)


def write_config(path: Path, doc: dict[str, str], fmt: str, ctx: Context | None = None) -> None:
    write_private(path, config_text(doc, fmt))
    if ctx is not None:
        _track(ctx, path, doc)


# Every configuration file the tool writes is noted (path → client id) in an index beside the records, so a later
# rotation rewrites each one and an app's deletion removes them: no file the tool wrote keeps a dead secret.
def _index(ctx: Context) -> Path:
    return client_dir(ctx) / ".configs.json"


def _track(ctx: Context, path: Path, doc: dict[str, str]) -> None:
    if not doc.get("AZURE_CLIENT_ID"):
        return
    files = _held(_index(ctx)) or {}
    key = str(Path(path).resolve())
    if files.get(key) != doc["AZURE_CLIENT_ID"]:
        files[key] = doc["AZURE_CLIENT_ID"]
        write_private(_index(ctx), json.dumps(files, indent=2))


def configs_of(ctx: Context, app_id: str) -> list[Path]:
    return [Path(p) for p, a in (_held(_index(ctx)) or {}).items() if a == app_id and Path(p).exists()]


def refresh_configs(ctx: Context, app_id: str, doc: dict[str, str], written: list[Path]) -> None:
    """After a rotation: every other config of this client that holds a secret value gets the new document (a Key
    Vault reference follows the vault by itself)."""
    done = {Path(w).resolve() for w in written}
    for path in configs_of(ctx, app_id):
        if path in done:
            continue
        current = existing_secret(path)
        if current is None or current.startswith("@Microsoft.KeyVault("):
            continue
        write_config(path, doc, "json" if path.suffix == ".json" else "dotenv", ctx)


def forget_configs(ctx: Context, app_id: str) -> list[str]:
    """The app is gone: remove every config the tool wrote for it (they hold nothing that works any more)."""
    removed = []
    for path in configs_of(ctx, app_id):
        path.unlink(missing_ok=True)
        removed.append(str(path))
    files = {p: a for p, a in (_held(_index(ctx)) or {}).items() if a != app_id}
    if files or _index(ctx).exists():
        write_private(_index(ctx), json.dumps(files, indent=2))
    return removed


def existing_secret(path: Path) -> str | None:
    """AZURE_CLIENT_SECRET from a configuration file written before (dotenv or JSON), if it is readable."""
    from provision.clientconfig import read_config_file

    try:
        return read_config_file(path).get("AZURE_CLIENT_SECRET") or None
    except Exception:  # noqa: BLE001 — unreadable or hand-broken: treated as not holding the secret
        return None


def sync_config(target: Path, doc: dict[str, str], fmt: str) -> bool:
    """Write the configuration when the file is missing or differs from `doc`; True when written."""
    text = config_text(doc, fmt)
    try:
        if target.read_text() == text:
            return False
    except OSError:
        pass
    write_private(target, text)
    return True


def secret_in_file(ctx: Context, req: ClientRequest, app: Any, target: Path | None) -> dict[str, Any] | None:
    """A valid secret of this app found in an existing config file (no local record: a fresh state directory). It
    is matched to its credential by Graph's `hint` (the secret's first three characters)."""
    from provision.clientconfig import read_config_file

    if target is None or req.credential != "secret":
        return None
    try:
        doc = read_config_file(target)
    except Exception:  # noqa: BLE001 — unreadable or hand-broken: not a held secret
        return None
    secret = doc.get("AZURE_CLIENT_SECRET")
    if not secret or doc.get("AZURE_CLIENT_ID") != app.app_id:
        return None
    matches = [c for c in app.password_credentials or [] if c.display_name == CREDENTIAL_NAME
               and (c.hint or "") == secret[:3] and valid_until(c.end_date_time)]
    if len(matches) != 1:
        return None
    c = matches[0]
    return {"kind": "secret", "keyId": str(c.key_id), "endDateTime": c.end_date_time.isoformat(), "secret": secret,
            "appId": app.app_id}


async def ensure_credential(ctx: Context, req: ClientRequest, app: Any, result: ClientResult, *, days: int,
                            rotate: bool = False, keep_old: bool = False, target: Path | None = None,
                            ) -> dict[str, Any]:
    """Reuse the credential we hold, or make a new one (then remove the old one unless keep_old)."""
    if req.credential == "none":
        return {"kind": "none"}
    if app is None:
        raise InvalidInput(f"credential: {req.name} is a service principal without an app registration in this "
                           f"tenant (e.g. a managed identity); use --credential none")
    held = held_credential(ctx, req, app)
    if held and not rotate:
        return held
    found = None if rotate else secret_in_file(ctx, req, app, target)
    if found is not None:
        await _save_record(ctx, req.name, found)
        return found
    old = _previous(ctx, req, app)
    if req.credential == "secret":
        # Secrets granted elsewhere (another machine, another --out) stay: someone may hold them.
        meta = await add_secret(ctx, app, days)
    elif req.credential == "certificate":
        drop = {old["keyId"]} if old and old.get("kind") == "certificate" and not keep_old else set()
        meta = await add_certificate(ctx, app, req.name, days, drop)
    else:
        meta = await add_federated(ctx, app, req)
        if meta.get("unchanged") and old and old.get("kind") == "federated" and old.get("keyId") == meta["keyId"]:
            return meta
    return await _adopt_credential(ctx, req, app, result, meta, old, keep_old=keep_old)


def _previous(ctx: Context, req: ClientRequest, app: Any) -> dict[str, Any] | None:
    """The credential recorded for this client's app (None when none, or it was for another app)."""
    old = _record(ctx, req.name)
    return old if old and old.get("appId") == app.app_id else None


async def _adopt_credential(ctx: Context, req: ClientRequest, app: Any, result: ClientResult, meta: dict[str, Any],
                            old: dict[str, Any] | None, *, keep_old: bool = False) -> dict[str, Any]:
    """A credential just made becomes the client's record; the one it replaces is named in `replaced` (removed by
    the caller once the new one is written out)."""
    meta["appId"] = app.app_id
    if not meta.pop("unchanged", False):
        result.wrote.append(f"{req.credential} credential")
    await _save_record(ctx, req.name, meta)
    if old and old.get("keyId") != meta["keyId"] and old.get("kind") != "federated" and not keep_old:
        meta["replaced"] = {k: v for k, v in old.items()  # the new .pem may have been written over the old one
                            if not (k == "certificatePath" and v == meta.get("certificatePath"))}
    return meta


async def remove_old_credential(ctx: Context, app: Any, old: dict[str, Any]) -> None:
    if old.get("kind") == "secret":
        await graph_util.remove_secret(ctx.graph, app.id, old["keyId"])
    elif old.get("kind") == "certificate":
        # Usually the PATCH that added the new certificate already left the old one out; not when the client
        # moved to another kind of credential.
        await remove_certificate(ctx, app, old["keyId"])
        try:
            Path(old["certificatePath"]).unlink()
        except (OSError, KeyError):
            pass


async def write_client_config(ctx: Context, req: ClientRequest, app: Any, sp: Any, meta: dict[str, Any],
                              result: ClientResult, target: Path, fmt: str, endpoint: str | None, *,
                              days: int) -> dict[str, Any]:
    """Bring the configuration file up to date (endpoint, ids, credential); a secret held nowhere — not returned
    just now, not in the existing file — is replaced by a new one (the old one removed)."""
    doc = client_config(ctx, endpoint, sp.app_id, meta)
    if meta.get("kind") == "secret" and not meta.get("secret"):
        secret = existing_secret(target) or next(
            (s for s in (existing_secret(client_dir(ctx) / f"{req.name}.{ext}") for ext in ("env", "json")) if s),
            None)
        if secret is None:  # held nowhere here: a new one, the old one left to whoever holds it
            meta = await ensure_credential(ctx, req, app, result, days=days, rotate=True, keep_old=True)
            doc = client_config(ctx, endpoint, sp.app_id, meta)
        else:
            doc["AZURE_CLIENT_SECRET"] = secret
            doc = {k: doc[k] for k in client_config(ctx, endpoint, sp.app_id, {**meta, "secret": secret})}
    sync_config(target, doc, fmt)
    _track(ctx, target, doc)
    return meta


# -- operations -----------------------------------------------------------------------------------------------------
async def endpoint_or_none(ctx: Context) -> str | None:
    from provision.resources import hdinsight_kafka

    try:
        cluster = await hdinsight_kafka.read_cluster(ctx)
    except Exception:  # noqa: BLE001 — access management must work without ARM rights
        return None
    return hdinsight_kafka.rest_proxy_endpoint(cluster) if cluster else None


APP_SELECT = "id,appId,uniqueName,displayName,tags,passwordCredentials,keyCredentials"
SP_SELECT = "id,appId,displayName,servicePrincipalType"


async def _apps_by_unique_name(ctx: Context, names: list[str]) -> list[dict[str, Any]]:
    """Applications by uniqueName: `$filter=uniqueName in (…)` listings; where Graph refuses that filter (400,
    e.g. Request_UnsupportedQuery), each app by its alternate key `GET /applications(uniqueName=…)`, still 20 per
    $batch (a 404 is an app that does not exist)."""
    from provision import graphapi
    from provision.graphbatch import Req, list_in, send

    try:
        return await list_in(ctx, "applications", "uniqueName", names, APP_SELECT)
    except graphapi.GraphError as e:
        if e.response_status_code != 400:
            raise
    reads = [Req("GET", f"/applications(uniqueName={graphapi.key(n)})?$select={APP_SELECT}")
             for n in dict.fromkeys(names)]
    await send(ctx, reads)
    out = []
    for q in reads:
        if q.ok:
            out.append(q.answer)
        elif q.status != 404:
            raise q.error()
    return out


def _fail(results: dict[str, ClientResult], name: str, message: str) -> None:
    results[name].status, results[name].message = "failed", message


async def resolve_bulk(ctx: Context, requests: list[ClientRequest], results: dict[str, ClientResult],
                       members: dict[str, dict[str, Any]] | None = None) -> dict[str, tuple[Any, Any]]:
    """(application View or None, service principal View) per client, for many clients at once: the apps by
    `uniqueName in (…)` / `appId in (…)` and their service principals by `appId in (…)` (15 values a query, 20
    queries a $batch) — those already in the group are taken from its member listing (`members`) — then the
    missing apps and service principals upserted 20 per $batch. A client that fails is marked in `results` and
    left out."""
    from provision import graphapi
    from provision.graphbatch import Req, list_in, send

    named = [r for r in requests if not r.app_id]
    by_app_id = [r for r in requests if r.app_id]
    apps_by_name = {(a.get("uniqueName") or "").casefold(): a
                    for a in await _apps_by_unique_name(ctx, [r.name for r in named])}
    apps_by_id = {a["appId"].casefold(): a
                  for a in await list_in(ctx, "applications", "appId", [r.app_id for r in by_app_id], APP_SELECT)}
    known_app_ids = [a["appId"] for a in apps_by_name.values()] + [r.app_id for r in by_app_id]

    tags = ["provision", CLIENT_TAG, f"provision-environment:{ctx.spec.values['name']}"]
    upserts = {r.name: Req("PATCH", f"/applications(uniqueName={graphapi.key(r.name)})",
                           {"displayName": r.name, "signInAudience": "AzureADMyOrg", "tags": tags},
                           headers={"Prefer": "create-if-missing"})
               for r in named if r.name.casefold() not in apps_by_name}
    await send(ctx, list(upserts.values()))
    reread = []
    for name, q in upserts.items():
        if q.status == 201 and isinstance(q.answer, dict):
            apps_by_name[name.casefold()] = q.answer
            results[name].wrote.append("application")
        elif q.ok:  # 204: made meanwhile (another run)
            reread.append(name)
        else:
            _fail(results, name, odata_message(q.error()))
    if reread:
        for a in await _apps_by_unique_name(ctx, reread):
            apps_by_name[(a.get("uniqueName") or "").casefold()] = a
            known_app_ids.append(a["appId"])
    sps = {m["appId"].casefold(): {"id": m["id"], "appId": m["appId"], "displayName": m["displayName"]}
           for m in (members or {}).values() if m.get("appId") and m.get("type") == "servicePrincipal"}
    sps.update({sp["appId"].casefold(): sp for sp in await list_in(
        ctx, "servicePrincipals", "appId", [a for a in known_app_ids if a.casefold() not in sps], SP_SELECT)})

    found: dict[str, tuple[Any, str]] = {}
    for r in requests:
        if results[r.name].status == "failed":
            continue
        app = apps_by_id.get(r.app_id.casefold()) if r.app_id else apps_by_name.get(r.name.casefold())
        if r.app_id and app is None and r.app_id.casefold() not in sps:
            _fail(results, r.name, f"app_id: no application or service principal with app id {r.app_id} in "
                                   f"tenant {ctx.tenant_id}; check the id")
        elif app is None and not r.app_id:
            _fail(results, r.name, f"application {r.name}: not visible after creating it (Entra replication?); "
                                   f"run again")
        else:
            found[r.name] = (app, r.app_id or app["appId"])
    creates = {name: Req("PATCH", f"/servicePrincipals(appId={graphapi.key(app_id)})", {},
                         headers={"Prefer": "create-if-missing"}, lag=True)
               for name, (app, app_id) in found.items() if app_id.casefold() not in sps}
    await send(ctx, list(creates.values()))
    reread = []
    for name, q in creates.items():
        if q.status == 201 and isinstance(q.answer, dict):
            sps[q.answer["appId"].casefold()] = q.answer
            results[name].wrote.append("service principal")
        elif q.ok:
            reread.append(found[name][1])
        else:
            _fail(results, name, odata_message(q.error()))
    if reread:
        for sp in await list_in(ctx, "servicePrincipals", "appId", reread, SP_SELECT):
            sps[sp["appId"].casefold()] = sp
    out: dict[str, tuple[Any, Any]] = {}
    for name, (app, app_id) in found.items():
        if results[name].status == "failed":
            continue
        sp = sps.get(app_id.casefold())
        if sp is None:
            _fail(results, name, f"client {name} (app {app_id}) has no service principal yet (Entra "
                                 f"replication?); run again")
            continue
        out[name] = (View(app) if app is not None else None, View(sp))
    return out


async def add_secrets(ctx: Context, items: list[tuple[str, str]], days: int) -> dict[str, Any]:
    """addPassword for many apps ((key, app object id) pairs) in $batch requests of 20: per key the new secret's
    record (kind, keyId, endDateTime, secret) or the exception that stopped it.

    As graph_util.add_secret, one credential per call even after an ambiguous failure: each request carries an
    `endDateTime` of its own (whole seconds, a random offset under an hour) and a sub-request that failed after it
    may have been applied (5xx, 504, the batch lost) is reconciled before it is sent again — the app read back, and
    a credential with our displayName and that end time (its secret was never seen) removed by a removePassword
    the resent addPassword depends on (`dependsOn`, same batch) — and once more after success, keeping only the
    one whose secret we hold. Throttled sub-requests (429) are simply sent again."""
    import random

    from provision import transport
    from provision.graphbatch import Req, send

    if not items:
        return {}
    now = dt.datetime.now(dt.timezone.utc)
    ids = dict(items)
    marks = {k: (now + dt.timedelta(days=days) - dt.timedelta(seconds=random.randrange(1, 3600))).replace(
        microsecond=0) for k, _ in items}
    out: dict[str, Any] = {}
    reconciled: set[str] = set()
    pending = [k for k, _ in items]
    first: dict[str, list[Req]] = {}  # per key: removals of orphans that must run before it is sent again
    for attempt in range(transport.MAX_RETRIES + 1):
        reqs = {k: Req("POST", f"/applications/{ids[k]}/addPassword", {"passwordCredential": {
            "displayName": CREDENTIAL_NAME, "endDateTime": marks[k].strftime("%Y-%m-%dT%H:%M:%SZ")}}, lag=True,
            after=first.get(k, [])) for k in pending}
        await send(ctx, [r for k in pending for r in (*first.get(k, []), reqs[k])])
        again = []
        for k, q in reqs.items():
            bad = [r for r in q.after if not r.ok and r.status not in (400, 404)]  # 400/404: already gone
            if q.ok:
                out[k] = {"kind": "secret", "keyId": str(q.answer["keyId"]),
                          "endDateTime": _when(q.answer["endDateTime"]).isoformat(), "secret": q.answer["secretText"]}
            elif bad:
                out[k] = bad[0].error()
            elif attempt < transport.MAX_RETRIES and (q.ambiguous or (q.status == 424 and q.after)):
                again.append(k)  # 424: an orphan was gone already (404), so the resend did not run: send it now
            else:
                out[k] = q.error()
        if not again:
            break
        ambiguous = [k for k in again if reqs[k].ambiguous]
        reconciled.update(ambiguous)
        first, failed = await _orphan_removals(ctx, {k: (ids[k], marks[k], None) for k in ambiguous})
        out.update(failed)
        pending = [k for k in again if k not in out]
        if not pending:
            break
        await asyncio.sleep(transport.backoff(attempt + 1))
    check = {k: (ids[k], marks[k], out[k]["keyId"]) for k in reconciled if isinstance(out.get(k), dict)}
    if check:  # a replica that had not seen the orphan yet: look again, keep only the one we hold
        removals, failed = await _orphan_removals(ctx, check)
        out.update(failed)
        await send(ctx, [r for rs in removals.values() for r in rs])
        for k, rs in removals.items():
            bad = [r for r in rs if not r.ok and r.status not in (400, 404)]
            if bad:
                out[k] = bad[0].error()
    return out


async def _orphan_removals(ctx: Context, marks: dict[str, tuple[str, dt.datetime, str | None]],
                           ) -> tuple[dict[str, list[Any]], dict[str, Exception]]:
    """For each key (app object id, end time, key id to keep): the removePassword requests (not sent) of the app's
    secrets named CREDENTIAL_NAME that end at that time, other than the one kept — read back 20 apps per $batch.
    Also the keys whose app could not be read, with the error."""
    from provision.graphbatch import Req, send

    reads = {k: Req("GET", f"/applications/{aid}?$select=id,passwordCredentials") for k, (aid, _, _) in
             marks.items()}
    await send(ctx, list(reads.values()))
    failed: dict[str, Exception] = {}
    removals: dict[str, list[Any]] = {}
    for k, q in reads.items():
        if q.status == 404:
            continue
        if not q.ok:
            failed[k] = q.error()
            continue
        aid, end, keep = marks[k]
        for c in q.answer.get("passwordCredentials") or []:
            c_end = _when(c.get("endDateTime"))
            if (c.get("displayName") == CREDENTIAL_NAME and c_end is not None
                    and abs((c_end - end).total_seconds()) < 1 and str(c.get("keyId")) != str(keep)):
                removals.setdefault(k, []).append(
                    Req("POST", f"/applications/{aid}/removePassword", {"keyId": c["keyId"]}))
    return removals, failed


async def grant(ctx: Context, requests: list[ClientRequest], *, days: int = 180, out: Path | None = None,
                fmt: str = "dotenv", concurrency: int = 8, secret_reference: bool = False) -> list[ClientResult]:
    """Grant every client; a failure of one does not stop the others. Membership is added in $ref/bind chunks.
    With a vault, secrets live there: config files hold a Key Vault reference, except an `--out` file for one
    client (asked for: it gets the value, unless `secret_reference`)."""
    if secret_reference and not secretstore.configured(ctx):
        raise InvalidInput("--secret-reference: needs secrets.key_vault (the vault the reference points into); set "
                           "it or drop the flag")
    group = await target_group(ctx)
    endpoint = await endpoint_or_none(ctx)
    await load_records(ctx, [r.name for r in requests])
    results = {r.name: ClientResult(r.name, credential=r.credential) for r in requests}
    sem = asyncio.Semaphore(concurrency)
    sps: dict[str, str] = {}

    def target_of(req: ClientRequest) -> Path:
        return out if (out and len(requests) == 1) else client_dir(ctx) / (
            f"{req.name}.{'json' if fmt == 'json' else 'env'}")

    # Many clients: the apps and service principals are read with a few listing queries and created, like the
    # new secrets, in $batch requests of 20; clients named by service principal object id go one by one.
    idents: dict[str, tuple[Any, Any]] = {}
    made: dict[str, dict[str, Any]] = {}
    current = None
    if len(requests) > 1:
        current = await member_ids(ctx, group["id"])
        idents = await resolve_bulk(ctx, [r for r in requests if not r.sp_object_id], results, current)
        need = [req for req in requests if req.name in idents and req.credential == "secret"
                and idents[req.name][0] is not None and not held_credential(ctx, req, idents[req.name][0])
                and not secret_in_file(ctx, req, idents[req.name][0], target_of(req))]
        got = await add_secrets(ctx, [(req.name, idents[req.name][0].id) for req in need], days)
        for req in need:
            if isinstance(got[req.name], Exception):
                results[req.name].status, results[req.name].message = "failed", odata_message(got[req.name])
            else:
                made[req.name] = got[req.name]

    async def identity(req: ClientRequest) -> None:
        res = results[req.name]
        if res.status == "failed":
            return
        async with sem:
            try:
                if req.name in idents:
                    app, sp = idents[req.name]
                else:
                    app, sp = await resolve_client(ctx, req, res, create=True)
                target = target_of(req)
                if req.name in made:
                    meta = await _adopt_credential(ctx, req, app, res, made[req.name], _previous(ctx, req, app))
                else:
                    meta = await ensure_credential(ctx, req, app, res, days=days, target=target)
                if secretstore.configured(ctx) and (secret_reference or target != out):
                    meta = await with_reference(ctx, req.name, meta)
                res.app_id, res.sp_object_id = sp.app_id, sp.id
                res.credential_expires = meta.get("endDateTime")
                meta = await write_client_config(ctx, req, app, sp, meta, res, target, fmt, endpoint, days=days)
                res.credential_expires = meta.get("endDateTime")
                res.config_file = str(target)
                if meta.get("replaced"):  # only after the new credential is written out
                    await remove_old_credential(ctx, app, meta["replaced"])
                sps[req.name] = sp.id
            except (ProvisionError, InvalidInput) as e:
                res.status, res.message = "failed", str(e)
            except Exception as e:  # noqa: BLE001 — one client's Graph error must not stop the rest
                res.status, res.message = "failed", odata_message(e)

    await asyncio.gather(*(identity(r) for r in requests))
    await add_members(ctx, group["id"], sps, results, current)
    return [results[r.name] for r in requests]


async def add_members(ctx: Context, group_id: str, sps: dict[str, str], results: dict[str, ClientResult],
                      current: dict[str, dict[str, Any]] | None = None) -> None:
    """Add service principals: one listing (or `current`, read before), then `members@odata.bind` chunks of 20,
    then one listing to verify. Already a member counts as success; a chunk that fails is retried one by one to
    find the culprit."""
    from provision import graphapi

    if not sps:
        return
    if current is None:
        current = await member_ids(ctx, group_id)
    missing = [(name, sp) for name, sp in sps.items() if sp not in current]
    base = f"{ctx.cloud.graph_v1}/directoryObjects"

    async def bind(chunk: list[tuple[str, str]]) -> None:
        body = {"members@odata.bind": [f"{base}/{sp}" for _, sp in chunk]}
        await retry_lag(lambda: graphapi.call(ctx, "PATCH", f"/groups/{group_id}", body),
                        what=f"adding {len(chunk)} member(s)")

    for i in range(0, len(missing), BIND_CHUNK):
        chunk = missing[i:i + BIND_CHUNK]
        try:
            await bind(chunk)
        except graphapi.GraphError:
            for one in chunk:
                try:
                    await bind([one])
                except graphapi.GraphError as e:
                    if not is_already_member(e):  # added meanwhile (another run, a retried request): success
                        results[one[0]].status, results[one[0]].message = "failed", odata_message(e)
        for name, _ in chunk:
            if results[name].status != "failed":
                results[name].wrote.append("membership")
    after = await member_ids(ctx, group_id) if missing else current
    for name, sp in sps.items():
        res = results[name]
        if res.status == "failed":
            continue
        if sp in after:
            res.status = "ok"
        else:
            res.status, res.message = "failed", "not a member after adding (Entra replication?); run again"


async def revoke(ctx: Context, req: ClientRequest, *, delete_app: bool = False) -> ClientResult:
    """Remove the membership (and with delete_app the app provision created). Idempotent: a client whose service
    principal or app is already gone is reported with no changes."""
    from msgraph.generated.models.o_data_errors.o_data_error import ODataError

    group = await target_group(ctx)
    res = ClientResult(req.name)
    app, sp = await find_client(ctx, req)
    if sp is not None:
        res.app_id, res.sp_object_id = sp.app_id, sp.id
        try:
            await ctx.graph.groups.by_group_id(group["id"]).members.by_directory_object_id(sp.id).ref.delete()
            res.wrote.append("membership removed")
        except ODataError as e:
            if not is_not_found(e):
                raise
    if delete_app:
        if app is not None:
            if CLIENT_TAG not in (app.tags or []):
                raise InvalidInput(f"--delete-app: {req.name} was not created by provision; remove it yourself if "
                                   f"intended")
            res.app_id = app.app_id
            try:
                await ctx.graph.applications.by_application_id(app.id).delete()
                from provision import graphapi

                await graphapi.purge_deleted(ctx, app.id)  # the client's name (its uniqueName) is free again
                res.wrote.append("application deleted")
            except ODataError as e:
                if not is_not_found(e):
                    raise
        await _drop_record(ctx, req.name)  # the vault's client-<name> (soft-deleted), if any
        if res.app_id:
            forget_configs(ctx, res.app_id)
        for suffix in (".credential.json", ".pem", ".env", ".json"):
            try:
                (client_dir(ctx) / f"{req.name}{suffix}").unlink()
            except OSError:
                pass
    if sp is None and app is None:
        res.message = "no such client (already revoked): nothing to do"
    res.status = "ok"
    return res


async def revoke_many(ctx: Context, requests: list[ClientRequest], *, delete_app: bool = False,
                      ) -> list[ClientResult]:
    """`revoke --from FILE`: one member listing, the apps by `uniqueName in (…)` / `appId in (…)` listings, then the
    membership removals (and with delete_app the app deletions, each followed by its purge) in `$batch`es of 20.
    Idempotent like `revoke`; one client's failure does not stop the others."""
    from provision.graphbatch import Req, list_in, send

    group = await target_group(ctx)
    members = await member_ids(ctx, group["id"])
    by_name = {a.get("uniqueName"): a for a in await _apps_by_unique_name(
        ctx, [r.name for r in requests if not r.app_id and not r.sp_object_id])}
    by_app_id = {a["appId"].casefold(): a for a in await list_in(
        ctx, "applications", "appId", [r.app_id for r in requests if r.app_id], APP_SELECT)}
    sp_by_app = {m["appId"].casefold(): m for m in members.values() if m.get("appId")}
    results, removals, deletions = {}, [], []
    for req in requests:
        res = results[req.name] = ClientResult(req.name, status="ok")
        app = by_app_id.get(req.app_id.casefold()) if req.app_id else (None if req.sp_object_id else
                                                                      by_name.get(req.name))
        member = members.get(req.sp_object_id) if req.sp_object_id else (
            sp_by_app.get(app["appId"].casefold()) if app else None)
        res.app_id = (app or {}).get("appId") or (member or {}).get("appId")
        res.sp_object_id = (member or {}).get("id")
        if member is not None:
            removals.append((res, Req("DELETE", f"/groups/{group['id']}/members/{member['id']}/$ref")))
        if delete_app and app is not None:
            if CLIENT_TAG not in (app.get("tags") or []):
                res.status, res.message = "failed", (f"--delete-app: {req.name} was not created by provision; "
                                                     f"remove it yourself if intended")
                continue
            gone = Req("DELETE", f"/applications/{app['id']}")
            deletions.append((res, gone, Req("DELETE", f"/directory/deletedItems/{app['id']}", after=[gone])))
        if member is None and app is None:
            res.message = "no such client (already revoked): nothing to do"
    await send(ctx, [q for _, q in removals] + [q for _, a, b in deletions for q in (a, b)])
    for res, q in removals:
        if q.ok or q.status == 404:
            res.wrote.append("membership removed")
        else:
            res.status, res.message = "failed", str(q.error())
    for res, gone, purge in deletions:
        if (gone.ok or gone.status == 404) and (purge.ok or purge.status == 404):
            res.wrote.append("application deleted")
        elif res.status == "ok":
            res.status, res.message = "failed", str((purge if gone.ok else gone).error())
    if delete_app:
        for req in requests:
            res = results[req.name]
            if res.status != "ok":
                continue
            await _drop_record(ctx, req.name)
            if res.app_id:
                forget_configs(ctx, res.app_id)
            for suffix in (".credential.json", ".pem", ".env", ".json"):
                (client_dir(ctx) / f"{req.name}{suffix}").unlink(missing_ok=True)
    return [results[r.name] for r in requests]


async def list_members(ctx: Context, concurrency: int = 10, *, expiring_within: float | None = None,
                       ) -> list[dict[str, Any]]:
    """Members with each credential's end date (`credentials`) and the last one (`credentialExpires`: the client
    works until then); with `expiring_within` (days) only the members whose last credential ends in that window."""
    from provision.graphbatch import list_in

    group = await target_group(ctx)
    members = await member_ids(ctx, group["id"])
    apps = {a["appId"].casefold(): View(a) for a in await list_in(
        ctx, "applications", "appId", [m["appId"] for m in members.values() if m["appId"]],
        "id,appId,tags,passwordCredentials,keyCredentials")}

    def detail(m: dict[str, Any]) -> dict[str, Any]:
        row = {"displayName": m["displayName"], "appId": m["appId"], "objectId": m["id"],
               "type": m["servicePrincipalType"] or m["type"], "credentialExpires": None, "credentials": [],
               "client": False}
        if m["appId"]:
            app = apps.get(m["appId"].casefold())
            if app is not None:
                row["credentials"] = credential_rows(app)
                row["client"] = CLIENT_TAG in (app.tags or [])
                row["localConfigs"] = local_config_states(ctx, app)
            ends = [c["endDateTime"] for c in row["credentials"] if c["endDateTime"]]
            row["credentialExpires"] = max(ends) if ends else None
        return row

    rows = sorted((detail(m) for m in members.values()), key=lambda r: (r["displayName"] or "").lower())
    return rows if expiring_within is None else expiring(rows, expiring_within)


async def check(ctx: Context, req: ClientRequest) -> dict[str, Any]:
    group = await target_group(ctx)
    res = ClientResult(req.name)
    _, sp = await resolve_client(ctx, req, res, create=False)
    from provision.resources.group_membership import is_member

    member = await is_member(ctx, sp.id, group["id"])
    return {"name": req.name, "appId": sp.app_id, "servicePrincipalId": sp.id, "group": group["displayName"],
            "groupId": group["id"], "member": member}


async def rotate(ctx: Context, req: ClientRequest, *, days: int, keep_old: bool, out: Path | None,
                 fmt: str) -> ClientResult:
    """A new credential of the client's kind (req.credential, by default the kind recorded when it was granted);
    the config is written, then the old credential removed from Entra (unless keep_old)."""
    if req.credential not in ("secret", "certificate"):
        raise InvalidInput(f"--credential: {req.name} holds a {req.credential} credential; only secrets and "
                           f"certificates rotate (grant again for a new federated subject)")
    res = ClientResult(req.name, credential=req.credential)
    app, sp = await resolve_client(ctx, req, res, create=False)
    # The credentials to remove are noted (key ids only) before anything is added, so a rotate killed before it
    # removed them finishes the removal on its next run instead of leaving them to nobody.
    retiring = client_dir(ctx) / f"{req.name}.retiring.json"
    pending = [p for p in (_held(retiring) or []) if isinstance(p, dict) and p.get("keyId")]
    old = _record(ctx, req.name)
    if (not keep_old and app is not None and old and old.get("appId") == app.app_id
            and old.get("kind") in ("secret", "certificate")):
        pending.append({"kind": old["kind"], "keyId": old["keyId"]})
    if not keep_old and app is not None and req.credential == "secret":
        # Rotation leaves exactly one secret of ours: also those granted from other machines, or added by a rotate
        # killed before it could save what it made (only secrets this tool named; others' are never touched).
        pending += [{"kind": "secret", "keyId": str(c.key_id)} for c in app.password_credentials or []
                    if c.display_name == CREDENTIAL_NAME]
    if pending:
        write_private(retiring, json.dumps(pending))
    meta = await ensure_credential(ctx, req, app, res, days=days, rotate=True, keep_old=keep_old)
    canonical = client_dir(ctx) / f"{req.name}.{'json' if fmt == 'json' else 'env'}"
    endpoint = await endpoint_or_none(ctx)
    for path in dict.fromkeys([out or canonical, canonical]):  # no config of ours keeps a removed secret
        doc_meta = await with_reference(ctx, req.name, meta) if (
            secretstore.configured(ctx) and path == canonical and out != canonical) else meta
        write_config(path, client_config(ctx, endpoint, sp.app_id, doc_meta), fmt, ctx)
    if meta.get("kind") == "secret":
        refresh_configs(ctx, sp.app_id, client_config(ctx, endpoint, sp.app_id, meta), [out or canonical, canonical])
    target = out or canonical
    replaced = meta.get("replaced") or {}
    pending = [p for p in pending if p["keyId"] not in (meta.get("keyId"), replaced.get("keyId"))]
    if replaced or pending:  # only after the new credential is written out and has proved itself
        if meta.get("kind") == "secret":
            from provision.resources.app_registration import prove_secret

            await prove_secret(ctx, app.app_id, meta["secret"])
        for gone in ([replaced] if replaced else []) + list({p["keyId"]: p for p in pending}.values()):
            await remove_old_credential(ctx, app, gone)
        res.wrote.append("previous credential removed")
    retiring.unlink(missing_ok=True)
    res.status, res.app_id, res.sp_object_id = "ok", sp.app_id, sp.id
    res.config_file, res.credential_expires = str(target), meta.get("endDateTime")
    return res


# -- waiting for the REST proxy (grant/rotate/revoke --wait) ----------------------------------------------------------
def config_for(ctx: Context, name: str, out: Path | None = None) -> Path | None:
    """The client's configuration file: `out` when given, else the one `grant` keeps in the state directory."""
    if out is not None:
        return out
    return next((p for p in (client_dir(ctx) / f"{name}.env", client_dir(ctx) / f"{name}.json") if p.exists()), None)


def wait_for_access(config: Any, *, allowed: bool, timeout: float, name: str,
                    on_wait: Any = None) -> dict[str, Any]:
    """Poll the REST proxy with the client's own credential (`config`: a clientconfig.ClientConfig) until it
    answers as wanted: 200 from GET /v1/metadata/topics (`allowed`), or no access — 403, or no token at all once
    the app is gone — (not `allowed`). Bounded by `timeout` seconds; raises ProvisionError naming the last answer.
    The membership reaches the proxy within the propagation bound, a new secret within Entra's replication."""
    import time

    from provision.kafkarest import AccessDenied, KafkaRestError
    from provision.kafkarest.errors import AuthenticationError, TokenError

    started = time.monotonic()
    deadline = started + timeout
    delay, attempts, last = 0.25, 0, "no answer yet"
    announced = False
    with config.build_client(retry_total=2) as client:
        while True:
            attempts += 1
            try:
                client.list_topics()
                if allowed:
                    return {"ok": True, "seconds": round(time.monotonic() - started, 2), "attempts": attempts}
                last = "200 (the client can still call it)"
            except (AccessDenied, AuthenticationError, TokenError) as e:
                if not allowed:
                    return {"ok": True, "seconds": round(time.monotonic() - started, 2), "attempts": attempts,
                            "answer": e.status or "no token"}
                last = f"{e.status or 'no token'}: {e}"
            except KafkaRestError as e:
                last = f"{e.status or 'no answer'}: {e}"
            if time.monotonic() + delay > deadline:
                want = "200 (access)" if allowed else "403 (no access)"
                raise ProvisionError(
                    f"client {name}: the REST proxy did not answer {want} to the client's own credential after "
                    f"{timeout:.0f}s ({attempts} calls); last answer {last[:300]}. The change may still be "
                    f"propagating: check later with `provision access check {name} --live`, or give a longer "
                    f"--wait-timeout")
            if on_wait and not announced:
                on_wait(f"waiting for the REST proxy to {'admit' if allowed else 'refuse'} {name} "
                        f"(up to {timeout:.0f}s)")
                announced = True
            time.sleep(delay)  # between polls of the real condition, never instead of it
            delay = min(delay * 2, 2.0)


# -- credential expiry ----------------------------------------------------------------------------------------------
def _when(value: Any) -> dt.datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)


def local_config_states(ctx: Context, app: Any) -> dict[str, str]:
    """Each config file this tool wrote here for the app → "ok", or "stale" when the secret it holds matches no
    valid secret of the app any more (removed or expired elsewhere): it would fail, so it is not reported as ok."""
    states = {}
    for path in configs_of(ctx, app.app_id):
        secret = existing_secret(path)
        if secret is None or secret.startswith("@Microsoft.KeyVault("):
            continue
        live = any((c.hint or "") == secret[:3] and valid_until(c.end_date_time)
                   for c in app.password_credentials or [])
        states[str(path)] = "ok" if live else "stale"
    return states


def credential_rows(app: Any) -> list[dict[str, Any]]:
    """Each secret and certificate of an app with its end date (federated credentials do not expire)."""
    rows = []
    for kind, creds in (("secret", app.password_credentials or []), ("certificate", app.key_credentials or [])):
        for c in creds:
            end = _when(c.end_date_time)
            rows.append({"kind": kind, "keyId": str(c.key_id), "displayName": c.display_name,
                         "endDateTime": end.isoformat() if end else None})
    return sorted(rows, key=lambda r: r["endDateTime"] or "")


def expiring(rows: list[dict[str, Any]], days: float, now: dt.datetime | None = None) -> list[dict[str, Any]]:
    """Members whose last credential ends within `days` from now: they stop working then unless rotated. Members
    without an expiring credential (managed identities, federated credentials) never appear."""
    now = now or dt.datetime.now(dt.timezone.utc)
    limit = now + dt.timedelta(days=days)
    return [r for r in rows if r.get("credentialExpires") and _when(r["credentialExpires"]) <= limit]


async def rotate_expiring(ctx: Context, within_days: float, *, days: int, keep_old: bool, fmt: str,
                          ) -> list[ClientResult]:
    """`access rotate --expiring-within D`: a new credential for every access client whose credential ends within
    D days. Members `access grant` did not make (the environment's own app, apps of other tools) are reported and
    left alone."""
    rows = expiring(await list_members(ctx), within_days)
    results = []
    secrets: list[tuple[dict[str, Any], ClientRequest]] = []
    for row in rows:
        name = row.get("displayName") or row.get("appId")
        held = recorded_kind(ctx, name) if NAME_RULE.fullmatch(name or "") else None
        if not row.get("client") and not held:
            results.append(ClientResult(name, status="skipped", app_id=row.get("appId"),
                                        credential_expires=row.get("credentialExpires"),
                                        message="not a client of `provision access` (e.g. the environment's own "
                                                "app: rotate it with `provision app register --rotate`); left as is"))
            continue
        kind = held or "secret"
        if kind not in ("secret", "certificate"):
            results.append(ClientResult(name, status="skipped", credential=kind,
                                        message=f"a {kind} credential does not rotate"))
            continue
        req = ClientRequest(name=name, app_id=row.get("appId"), credential=kind)
        if kind == "secret":  # many secrets: made and removed in $batch requests (below)
            secrets.append((row, req))
            results.append(ClientResult(name, credential=kind, app_id=row.get("appId")))
            continue
        try:
            results.append(await rotate(ctx, req, days=days, keep_old=keep_old, out=None, fmt=fmt))
        except (ProvisionError, InvalidInput) as e:
            results.append(ClientResult(name, status="failed", app_id=row.get("appId"), message=str(e)))
    if len(secrets) == 1:
        row, req = secrets[0]
        i = next(n for n, r in enumerate(results) if r.name == req.name and r.status == "pending")
        try:
            results[i] = await rotate(ctx, req, days=days, keep_old=keep_old, out=None, fmt=fmt)
        except (ProvisionError, InvalidInput) as e:
            results[i] = ClientResult(req.name, status="failed", app_id=row.get("appId"), message=str(e))
    elif secrets:
        by_name = {r.name: r for r in results if r.status == "pending"}
        await rotate_secrets(ctx, [(row, req, by_name[req.name]) for row, req in secrets], days=days,
                             keep_old=keep_old, fmt=fmt)
    return results


async def rotate_secrets(ctx: Context, clients: list[tuple[dict[str, Any], ClientRequest, ClientResult]], *,
                         days: int, keep_old: bool, fmt: str, concurrency: int = 8) -> None:
    """`rotate` for many secret clients: their apps read with `appId in (…)` listings, the new secrets added 20 per
    $batch, each written to its record and configuration and proved with a token, then the old ones removed 20
    per $batch. One client's failure is its own (`results`); the others go on."""
    from provision.graphbatch import Req, list_in, send
    from provision.resources.app_registration import prove_secret

    await load_records(ctx, [req.name for _, req, _ in clients])
    apps = {a["appId"].casefold(): View(a) for a in await list_in(
        ctx, "applications", "appId", [row["appId"] for row, _, _ in clients], APP_SELECT)}
    todo = []
    for row, req, res in clients:
        app = apps.get((row.get("appId") or "").casefold())
        if app is None:
            res.status, res.message = "failed", f"credential: {req.name} has no app registration in this tenant"
        else:
            todo.append((req, res, app, row))
    made = await add_secrets(ctx, [(req.name, app.id) for req, _, app, _ in todo], days)
    endpoint = await endpoint_or_none(ctx)
    sem = asyncio.Semaphore(concurrency)
    removals: list[tuple[ClientResult, Req]] = []

    async def finish(req: ClientRequest, res: ClientResult, app: Any, row: dict[str, Any]) -> None:
        if isinstance(made[req.name], Exception):
            res.status, res.message = "failed", odata_message(made[req.name])
            return
        async with sem:
            try:
                meta = await _adopt_credential(ctx, req, app, res, made[req.name], _previous(ctx, req, app),
                                               keep_old=keep_old)
                path = client_dir(ctx) / f"{req.name}.{'json' if fmt == 'json' else 'env'}"
                doc_meta = await with_reference(ctx, req.name, meta) if secretstore.configured(ctx) else meta
                write_config(path, client_config(ctx, endpoint, app.app_id, doc_meta), fmt, ctx)
                refresh_configs(ctx, app.app_id, client_config(ctx, endpoint, app.app_id, meta), [path])
                res.app_id, res.sp_object_id = app.app_id, row.get("objectId")
                res.config_file, res.credential_expires = str(path), meta.get("endDateTime")
                old = meta.get("replaced")
                if old:  # only after the new one is written out and has proved itself
                    await prove_secret(ctx, app.app_id, meta["secret"])
                    if old.get("kind") == "secret":
                        removals.append((res, Req("POST", f"/applications/{app.id}/removePassword",
                                                  {"keyId": old["keyId"]})))
                    else:  # it was a certificate before
                        await remove_old_credential(ctx, app, old)
                        res.wrote.append("previous credential removed")
                res.status = "ok"
            except (ProvisionError, InvalidInput) as e:
                res.status, res.message = "failed", str(e)
            except Exception as e:  # noqa: BLE001 — one client's error must not stop the rest
                res.status, res.message = "failed", odata_message(e)

    await asyncio.gather(*(finish(*t) for t in todo))
    await send(ctx, [q for _, q in removals])
    for res, q in removals:
        if q.ok or q.status in (400, 404):  # 400/404: already gone
            res.wrote.append("previous credential removed")
        else:
            res.status, res.message = "failed", (f"the new secret is written out; removing the previous one "
                                                 f"failed ({odata_message(q.error())}); run again")
