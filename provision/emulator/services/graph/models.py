"""Microsoft Graph v1.0 over the emulated directory: applications (with their secrets, certificates — keys.py —
and federated identity credentials), service principals, groups, users and their memberships. No HTTP here: methods take parsed JSON and return stored documents, raising GraphError with
Graph's own codes and messages.

Eventual consistency: reads by object id, list queries, references (`$ref`, `@odata.bind`) and the application a
new service principal points at go through the replication filter (`consistent=False`), so a young object is
"not found" for the configured lag. Upserts look their alternate key up consistently — Graph guarantees an
upsert never creates a duplicate — and a creating call's own response always carries the object.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
import string
import uuid
from typing import Any

from provision.emulator import directory as d
from provision.emulator.services.graph import keys, odata
from provision.emulator.services.graph.schema import (
    APPLICATION, BY_KIND, FEDERATED_IDENTITY_CREDENTIAL, FIC_KIND, FIC_NAME_LIMIT, FIC_TEXT_LIMIT, GROUP,
    SERVICE_PRINCIPAL, USER, Body, Entity, format_datetime, given_datetime, invalid_value, is_guid, merge, now_iso,
    security_identifier, validate_body,
)
from provision.emulator.state import EmulatorState
from provision.emulator.wire import GraphError

MAX_BINDS_PER_REQUEST = 20  # members + owners in one create/update
MAX_CHECK_IDS = 20  # checkMemberGroups / checkMemberObjects
MAX_GET_BY_IDS = 1000
MAX_FEDERATED_CREDENTIALS = 20  # per application
FIC_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")
SECRET_ALPHABET = string.ascii_letters + string.digits + "_-.~"
PUBLISHER_DOMAIN = "emulator.onmicrosoft.com"

# Which directory kinds each group relationship may point at.
MEMBER_KINDS = {d.USER, d.GROUP, d.SERVICE_PRINCIPAL}
OWNER_KINDS = {d.USER, d.SERVICE_PRINCIPAL}
RELATIONSHIP_KINDS = {"members": MEMBER_KINDS, "owners": OWNER_KINDS}

Ref = tuple[str, str]  # ("id", object id) or (alternate key name, value)


def not_found(value: str) -> GraphError:
    return GraphError(f"Resource '{value}' does not exist or one of its queried reference-property objects are not "
                      f"present.", code="Request_ResourceNotFound", status=404)


def already_exist(nav: str) -> GraphError:
    return GraphError(f"One or more added object references already exist for the following modified properties: "
                      f"'{nav}'.", code="Request_BadRequest")


def duplicate_value(prop: str) -> GraphError:
    return GraphError(f"Another object with the same value for property {prop} already exists.",
                      code="Request_BadRequest")


def normalize_id(value: str) -> str:
    """An object id from a URL or body: a GUID (Graph compares them without regard to case), else 400."""
    if not is_guid(value):
        raise GraphError(f"Invalid object identifier '{value}'.", code="Request_BadRequest")
    return value.lower()


def new_secret() -> str:
    """40 characters in the shape Entra generates: three characters, the `8Q~` marker, then 34 more."""
    def pick(n: int) -> str:
        return "".join(secrets.choice(SECRET_ALPHABET) for _ in range(n))
    return pick(3) + "8Q~" + pick(34)


def plus_years(moment: dt.datetime, years: int) -> dt.datetime:
    try:
        return moment.replace(year=moment.year + years)
    except ValueError:  # 29 February
        return moment.replace(year=moment.year + years, day=28)


class Graph:
    """The Graph API's view of one emulator's directory (its single tenant)."""

    def __init__(self, state: EmulatorState):
        self.state = state
        self.dir = state.directory
        self.tenant = state.boot.tenant_id

    # -- lookups ------------------------------------------------------------------------------------------------
    def find(self, entity: Entity, ref: Ref, *, consistent: bool = False) -> dict[str, Any] | None:
        key, value = ref
        if key == "id":
            return self.dir.get(entity.kind, normalize_id(value), consistent=consistent)
        return self.dir.find(entity.kind, self.tenant, key, value, consistent=consistent,
                             ignore_case=key in d.ALTERNATE_KEYS)

    def get(self, entity: Entity, ref: Ref, *, consistent: bool = False) -> dict[str, Any]:
        doc = self.find(entity, ref, consistent=consistent)
        if doc is None:
            raise not_found(ref[1])
        return doc

    def _upsert_target(self, entity: Entity, ref: Ref, create_if_missing: bool) -> dict[str, Any] | None:
        """What an upsert address names (None: create it), looked up consistently; 404 unless it may create."""
        existing = self.find(entity, ref, consistent=True)
        if existing is None and not create_if_missing:
            raise not_found(ref[1])
        return existing

    def list(self, entity: Entity, *, lookup: tuple[str, list[str]] | None = None) -> list[dict[str, Any]]:
        """The entity's objects; with `lookup` (an indexed key and its values) only those, found by the index."""
        return self.dir.objects(entity.kind, self.tenant, where=lookup)

    def get_object(self, oid: str) -> tuple[str, dict[str, Any]]:
        found = self.dir.get_any(normalize_id(oid))
        if found is None:
            raise not_found(oid)
        return found

    def _save(self, entity: Entity, doc: dict[str, Any]) -> None:
        self.dir.save(entity.kind, self.tenant, doc)

    def _new_doc(self, entity: Entity) -> dict[str, Any]:
        doc = entity.defaults()
        doc["id"] = str(uuid.uuid4())
        if "createdDateTime" in doc:
            doc["createdDateTime"] = now_iso()
        return doc

    @staticmethod
    def _apply(doc: dict[str, Any], values: dict[str, Any]) -> None:
        for name, value in values.items():
            doc[name] = merge(doc.get(name), value)

    def _check_unique(self, entity: Entity, doc: dict[str, Any], prop: str) -> None:
        value = doc.get(prop)
        if value is None:
            return
        other = self.dir.find(entity.kind, self.tenant, prop, value, consistent=True, ignore_case=True)
        if other is not None and other["id"] != doc["id"]:
            raise duplicate_value(prop)
        if prop == "uniqueName":  # a deleted object keeps its uniqueName until restored or deleted permanently
            held = self.dir.deleted_holding(entity.kind, self.tenant, prop, value)
            if held is not None and held["id"] != doc["id"]:
                raise GraphError(f"Another object with the same value for property {prop} already exists: the "
                                 f"deleted object '{held['id']}' in directory/deletedItems holds it. Restore it or "
                                 f"delete it permanently first.", code="Request_BadRequest")

    @staticmethod
    def _check_immutable(doc: dict[str, Any], values: dict[str, Any], prop: str) -> None:
        """uniqueName and appId are set once: a PATCH may repeat them but not change them."""
        if prop in values and doc.get(prop) is not None and \
                str(values[prop]).casefold() != str(doc[prop]).casefold():
            raise GraphError(f"Property '{prop}' is read-only and cannot be changed once set.",
                             code="Request_BadRequest")

    # -- applications -------------------------------------------------------------------------------------------
    def create_application(self, body: Any) -> dict[str, Any]:
        return self._new_application(validate_body(APPLICATION, body, creating=True).values)

    def _new_application(self, values: dict[str, Any]) -> dict[str, Any]:
        doc = self._new_doc(APPLICATION)
        doc.update(appId=str(uuid.uuid4()), publisherDomain=PUBLISHER_DOMAIN)
        doc["api"]["requestedAccessTokenVersion"] = 2
        self._write_application(doc, values)
        return doc

    def _write_application(self, doc: dict[str, Any], values: dict[str, Any]) -> None:
        values = dict(values)
        self._refuse_password_writes(values)
        keys = values.pop("keyCredentials", None)
        self._apply(doc, values)
        if keys is not None:
            self._set_key_credentials(doc, keys)
        self._check_unique(APPLICATION, doc, "uniqueName")
        for uri in doc.get("identifierUris") or []:
            self._check_identifier_uri(doc, uri)
        self._save(APPLICATION, doc)
        self._sync_service_principal(doc)

    def _refuse_password_writes(self, values: dict[str, Any]) -> None:
        # Graph: "Using PATCH to set passwordCredential is not supported. Use addPassword and removePassword."
        if values.pop("passwordCredentials", None):
            raise GraphError("Updates to the passwordCredentials property are not supported; use the addPassword "
                             "and removePassword actions.", code="Request_BadRequest")

    def _check_identifier_uri(self, doc: dict[str, Any], uri: str) -> None:
        """Unique across the tenant's applications, deleted ones included (Entra keeps a deleted application's
        identifierUris reserved until it is deleted permanently)."""
        for other in [*self.dir.objects(d.APPLICATION, self.tenant, consistent=True),
                      *self.dir.deleted_items(self.tenant, d.APPLICATION)]:
            if other["id"] != doc["id"] and uri.casefold() in (u.casefold() for u in other.get("identifierUris", [])):
                raise duplicate_value("identifierUris")

    def _sync_service_principal(self, app: dict[str, Any]) -> None:
        """Entra keeps a service principal's names in step with its application."""
        sp = self.dir.sp_by_app_id(self.tenant, app["appId"], consistent=True)
        if sp is None:
            return
        sp["appDisplayName"] = app.get("displayName")
        sp["servicePrincipalNames"] = [app["appId"], *app.get("identifierUris", [])]
        self._save(SERVICE_PRINCIPAL, sp)

    def update_application(self, ref: Ref, body: Any) -> None:
        doc = self.get(APPLICATION, ref)
        values = validate_body(APPLICATION, body, creating=False).values
        self._check_immutable(doc, values, "uniqueName")
        self._write_application(doc, values)

    def upsert_application(self, unique_name: str, body: Any, create_if_missing: bool,
                           ) -> tuple[dict[str, Any], bool]:
        """PATCH /applications(uniqueName='x'): (document, created)."""
        existing = self._upsert_target(APPLICATION, ("uniqueName", unique_name), create_if_missing)
        values = validate_body(APPLICATION, body, creating=existing is None).values
        if existing is None:
            self._check_immutable({"uniqueName": unique_name}, values, "uniqueName")
            values["uniqueName"] = unique_name
            return self._new_application(values), True
        self._check_immutable(existing, values, "uniqueName")
        self._write_application(existing, values)
        return existing, False

    def delete_application(self, ref: Ref) -> None:
        app = self.get(APPLICATION, ref)
        if app["appId"] == self.state.boot.operator_app_id:
            raise _operator_protected()
        # Deleting an application deletes its service principal in the home tenant, as Entra does; both go to
        # directory/deletedItems (restoring the application does not restore the service principal). Federated
        # credentials stay with the deleted application until it is deleted permanently.
        with self.dir.store.transaction():
            sp = self.dir.sp_by_app_id(self.tenant, app["appId"], consistent=True)
            if sp is not None:
                self.dir.soft_delete(d.SERVICE_PRINCIPAL, self.tenant, sp["id"])
            self.dir.soft_delete(d.APPLICATION, self.tenant, app["id"])

    def add_password(self, ref: Ref, body: Any) -> dict[str, Any]:
        """POST .../addPassword: the new credential, with its secret — the only time the secret is shown."""
        app = self.get(APPLICATION, ref)
        spec = _action_body(body, "addPassword", {"passwordCredential"}).get("passwordCredential") or {}
        if not isinstance(spec, dict):
            raise invalid_value(APPLICATION, "passwordCredential")
        display_name = spec.get("displayName")
        if display_name is not None and not isinstance(display_name, str):
            raise _invalid_credential("displayName")
        start = (given_datetime(spec, "startDateTime", _invalid_credential)
                 or dt.datetime.now(dt.timezone.utc).replace(microsecond=0))
        end = given_datetime(spec, "endDateTime", _invalid_credential) or plus_years(start, 2)
        if end <= start:
            raise _invalid_credential("endDateTime")
        secret, key_id = new_secret(), str(uuid.uuid4())
        cred = {"customKeyIdentifier": None, "displayName": display_name, "endDateTime": format_datetime(end),
                "hint": secret[:3], "keyId": key_id, "secretText": None, "startDateTime": format_datetime(start)}
        app["passwordCredentials"] = [cred, *app.get("passwordCredentials", [])]
        app.setdefault("_secrets", {})[key_id] = d.hash_secret(secret)  # only a salted hash is kept
        self._save(APPLICATION, app)
        return {**cred, "secretText": secret}

    def remove_password(self, ref: Ref, body: Any) -> None:
        app = self.get(APPLICATION, ref)
        key_id = _action_body(body, "removePassword", {"keyId"}).get("keyId")
        if not is_guid(key_id):
            raise _invalid_credential("keyId")
        creds = app.get("passwordCredentials", [])
        kept = [c for c in creds if str(c.get("keyId")).lower() != key_id.lower()]
        if len(kept) == len(creds):
            raise GraphError(f"No password credential with keyId '{key_id}' exists on application "
                             f"'{app['appId']}'.", code="Request_ResourceNotFound", status=404)
        app["passwordCredentials"] = kept
        app.get("_secrets", {}).pop(key_id, None)
        self._save(APPLICATION, app)

    def _set_key_credentials(self, app: dict[str, Any], creds: Any) -> None:
        """keyCredentials is replaced as a whole (see keys.py for what is kept and checked)."""
        app["keyCredentials"], app["_keys"] = keys.key_credentials(creds, app.get("_keys", {}))

    def add_key(self, ref: Ref, body: Any, caller_app_id: str, may_write: bool) -> dict[str, Any]:
        """POST .../addKey: a certificate added by proof of possession of one the app already has."""
        app = self._own_application(ref, caller_app_id, may_write)
        spec = _action_body(body, "addKey", {"keyCredential", "passwordCredential", "proof"})
        cred = spec.get("keyCredential")
        if not isinstance(cred, dict):
            raise GraphError("A value is required for property 'keyCredential' of resource 'addKey'.",
                             code="Request_BadRequest")
        if cred.get("type") == "X509CertAndPassword":
            raise GraphError("The emulator supports only AsymmetricX509Cert key credentials.",
                             code="Request_BadRequest")
        if cred.get("key") is None:
            raise keys.bad_key("key")
        keys.check_proof(app, spec.get("proof"), "addKey")
        entry, der = keys.key_credential({**cred, "keyId": None}, {})
        app["keyCredentials"] = [*app.get("keyCredentials", []), entry]
        app.setdefault("_keys", {})[entry["keyId"]] = der
        self._save(APPLICATION, app)
        return entry

    def remove_key(self, ref: Ref, body: Any, caller_app_id: str, may_write: bool) -> None:
        app = self._own_application(ref, caller_app_id, may_write)
        spec = _action_body(body, "removeKey", {"keyId", "proof"})
        key_id = spec.get("keyId")
        if not is_guid(key_id):
            raise keys.bad_key("keyId")
        keys.check_proof(app, spec.get("proof"), "removeKey")
        creds = app.get("keyCredentials", [])
        kept = [c for c in creds if str(c.get("keyId")).lower() != key_id.lower()]
        if len(kept) == len(creds):
            raise GraphError(f"No key credential with keyId '{key_id}' exists on application '{app['appId']}'.",
                             code="Request_ResourceNotFound", status=404)
        app["keyCredentials"] = kept
        app.get("_keys", {}).pop(key_id.lower(), None)
        self._save(APPLICATION, app)

    def _own_application(self, ref: Ref, caller_app_id: str, may_write: bool) -> dict[str, Any]:
        """addKey / removeKey: "an application does not need any specific permission to roll its own keys";
        anyone else needs directory write permission."""
        app = self.get(APPLICATION, ref)
        if not may_write and caller_app_id.lower() != app["appId"].lower():
            raise GraphError("Insufficient privileges to complete the operation.",
                             code="Authorization_RequestDenied", status=403)
        return app

    # -- federated identity credentials -------------------------------------------------------------------------
    def federated_credentials(self, app_ref: Ref) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        app = self.get(APPLICATION, app_ref)
        return app, self.state.store.list(FIC_KIND, scope=app["id"])

    def federated_credential(self, app_ref: Ref, fic_ref: Ref) -> tuple[dict[str, Any], dict[str, Any]]:
        """One credential, by id (/federatedIdentityCredentials/{id}) or by name (.../{name} or (name='...'))."""
        app, creds = self.federated_credentials(app_ref)
        key, value = fic_ref
        for doc in creds:
            if (key == "id" and doc["id"] == value.lower()) or (key == "name" and doc["name"] == value) or \
                    (key == "id" and doc["name"] == value):
                return app, doc
        raise not_found(value)

    def create_federated_credential(self, app_ref: Ref, body: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        app, creds = self.federated_credentials(app_ref)
        values = validate_body(FEDERATED_IDENTITY_CREDENTIAL, body, creating=True).values
        if len(creds) >= MAX_FEDERATED_CREDENTIALS:
            raise _invalid_fic(f"The application '{app['appId']}' already has the maximum of "
                               f"{MAX_FEDERATED_CREDENTIALS} federated identity credentials.")
        doc = {**FEDERATED_IDENTITY_CREDENTIAL.defaults(), "id": str(uuid.uuid4())}
        doc.update(values)
        self._write_federated_credential(app, creds, doc)
        return app, doc

    def update_federated_credential(self, app_ref: Ref, fic_ref: Ref, body: Any) -> None:
        app, doc = self.federated_credential(app_ref, fic_ref)
        values = validate_body(FEDERATED_IDENTITY_CREDENTIAL, body, creating=False).values
        if "name" in values and values["name"] != doc["name"]:
            raise GraphError("Property 'name' is read-only and cannot be changed once set.",
                             code="Request_BadRequest")
        doc.update(values)
        self._write_federated_credential(app, self.federated_credentials(app_ref)[1], doc)

    def upsert_federated_credential(self, app_ref: Ref, name: str, body: Any,
                                    ) -> tuple[dict[str, Any], dict[str, Any], bool]:
        """PATCH .../federatedIdentityCredentials(name='x'): update, or create when there is none by that name."""
        app, creds = self.federated_credentials(app_ref)
        existing = next((c for c in creds if c["name"] == name), None)
        if existing is not None:
            self.update_federated_credential(app_ref, ("id", existing["id"]), body)
            return app, existing, False
        if isinstance(body, dict) and "name" in body and body["name"] != name:
            raise GraphError("Property 'name' is read-only and cannot be changed once set.",
                             code="Request_BadRequest")
        _, doc = self.create_federated_credential(app_ref, {**(body if isinstance(body, dict) else {}),
                                                            "name": name})
        return app, doc, True

    def delete_federated_credential(self, app_ref: Ref, fic_ref: Ref) -> None:
        _, doc = self.federated_credential(app_ref, fic_ref)
        self.state.store.delete(FIC_KIND, doc["id"])

    def _write_federated_credential(self, app: dict[str, Any], creds: list[dict[str, Any]],
                                    doc: dict[str, Any]) -> None:
        _check_fic(doc)
        for other in creds:
            if other["id"] == doc["id"]:
                continue
            if other["name"] == doc["name"]:
                raise _invalid_fic(f"FederatedIdentityCredential with name {doc['name']} already exists.",
                                   "name", doc["name"])
            if other["issuer"] == doc["issuer"] and other["subject"] == doc["subject"]:
                raise _invalid_fic(f"The combination of issuer and subject must be unique for the application. "
                                   f"Issuer {doc['issuer']} and Subject: {doc['subject']} already exist.",
                                   "subject", doc["subject"])
        self.state.store.put(FIC_KIND, doc["id"], doc, scope=app["id"])

    # -- service principals -------------------------------------------------------------------------------------
    def create_service_principal(self, body: Any) -> dict[str, Any]:
        return self._new_service_principal(validate_body(SERVICE_PRINCIPAL, body, creating=True).values)

    def _new_service_principal(self, values: dict[str, Any]) -> dict[str, Any]:
        if not is_guid(values["appId"]):
            raise invalid_value(SERVICE_PRINCIPAL, "appId")
        app_id = values["appId"].lower()
        if self.dir.sp_by_app_id(self.tenant, app_id, consistent=True) is not None:
            raise GraphError(f"The service principal cannot be created, updated, or restored because the service "
                             f"principal name {app_id} is already in use.",
                             code="Request_MultipleObjectsWithSameKeyValue", status=409)
        app = self.dir.app_by_app_id(self.tenant, app_id)  # not consistent: a new app may not have replicated
        if app is None:
            message = (f"The appId '{app_id}' of the service principal does not reference a valid application "
                       f"object.")
            raise GraphError(message, code="Request_BadRequest",
                             details=[{"code": "NoBackingApplicationObject", "message": message, "target": "appId"}])
        doc = self._new_doc(SERVICE_PRINCIPAL)
        doc.update(appId=app_id, appDisplayName=app.get("displayName"), displayName=app.get("displayName"),
                   appOwnerOrganizationId=self.tenant, signInAudience=app.get("signInAudience"),
                   servicePrincipalNames=[app_id, *app.get("identifierUris", [])])
        self._apply(doc, _sp_values(values))
        self._save(SERVICE_PRINCIPAL, doc)
        return doc

    def update_service_principal(self, ref: Ref, body: Any) -> None:
        self._write_service_principal(self.get(SERVICE_PRINCIPAL, ref),
                                      validate_body(SERVICE_PRINCIPAL, body, creating=False).values)

    def _write_service_principal(self, doc: dict[str, Any], values: dict[str, Any]) -> None:
        self._check_immutable(doc, values, "appId")
        self._apply(doc, _sp_values(values))
        self._save(SERVICE_PRINCIPAL, doc)

    def upsert_service_principal(self, app_id: str, body: Any, create_if_missing: bool,
                                 ) -> tuple[dict[str, Any], bool]:
        existing = self._upsert_target(SERVICE_PRINCIPAL, ("appId", app_id), create_if_missing)
        values = validate_body(SERVICE_PRINCIPAL, body, creating=False).values
        if existing is None:
            self._check_immutable({"appId": app_id}, values, "appId")
            return self._new_service_principal({**values, "appId": app_id}), True
        self._write_service_principal(existing, values)
        return existing, False

    def delete_service_principal(self, ref: Ref) -> None:
        sp = self.get(SERVICE_PRINCIPAL, ref)
        if sp["id"] == self.state.boot.operator_sp_id:
            raise _operator_protected()
        self.dir.soft_delete(d.SERVICE_PRINCIPAL, self.tenant, sp["id"])

    # -- groups -------------------------------------------------------------------------------------------------
    def create_group(self, body: Any) -> dict[str, Any]:
        return self._new_group(validate_body(GROUP, body, creating=True))

    def _new_group(self, body: Body) -> dict[str, Any]:
        doc = self._new_doc(GROUP)
        doc.update(renewedDateTime=doc["createdDateTime"], securityIdentifier=security_identifier(doc["id"]))
        self._apply(doc, body.values)
        self._check_unique(GROUP, doc, "uniqueName")
        links = self._resolve_binds(doc["id"], body.binds)  # everything is checked before anything is written
        with self.dir.store.transaction():
            self._save(GROUP, doc)
            self._link(doc["id"], links)
        return doc

    def update_group(self, ref: Ref, body: Any) -> None:
        self._write_group(self.get(GROUP, ref), validate_body(GROUP, body, creating=False))

    def _write_group(self, doc: dict[str, Any], body: Body) -> None:
        self._check_immutable(doc, body.values, "uniqueName")
        self._apply(doc, body.values)
        self._check_unique(GROUP, doc, "uniqueName")
        links = self._resolve_binds(doc["id"], body.binds)
        with self.dir.store.transaction():
            self._save(GROUP, doc)
            self._link(doc["id"], links)

    def upsert_group(self, unique_name: str, body: Any, create_if_missing: bool) -> tuple[dict[str, Any], bool]:
        existing = self._upsert_target(GROUP, ("uniqueName", unique_name), create_if_missing)
        parsed = validate_body(GROUP, body, creating=existing is None)
        if existing is None:
            self._check_immutable({"uniqueName": unique_name}, parsed.values, "uniqueName")
            parsed.values["uniqueName"] = unique_name
            return self._new_group(parsed), True
        self._write_group(existing, parsed)
        return existing, False

    def delete_group(self, ref: Ref) -> None:
        self.dir.soft_delete(d.GROUP, self.tenant, self.get(GROUP, ref)["id"])

    def _resolve_binds(self, group_id: str, binds: dict[str, list[str]]) -> dict[str, list[str]]:
        """`members@odata.bind` / `owners@odata.bind` URLs → object ids, all checked (Graph adds all or none)."""
        if sum(len(urls) for urls in binds.values()) > MAX_BINDS_PER_REQUEST:
            raise GraphError(f"A maximum of {MAX_BINDS_PER_REQUEST} members and owners can be added in a single "
                             f"request.", code="Request_BadRequest")
        links: dict[str, list[str]] = {}
        for nav, urls in binds.items():
            ids: list[str] = []
            for url in urls:
                parsed = odata.parse_reference(url)
                if parsed is None:
                    raise GraphError(f"Invalid URL format specified in @odata.bind for {nav}", code="BadRequest")
                object_id = self._referenced(group_id, nav, *parsed)
                present = self.dir.members(group_id) if nav == "members" else self.dir.owners(group_id)
                if object_id in ids or object_id in present:
                    raise already_exist(nav)
                ids.append(object_id)
            links[nav] = ids
        return links

    def _link(self, group_id: str, links: dict[str, list[str]]) -> None:
        for object_id in links.get("members", []):
            self.dir.add_member(group_id, object_id)
        for object_id in links.get("owners", []):
            self.dir.add_owner(group_id, object_id)

    def _referenced(self, group_id: str, nav: str, kind: str | None, object_id: str) -> str:
        """The object a reference names: it must exist (and have replicated) and may be linked as `nav`."""
        found = self.dir.get_any(object_id.lower())
        if found is None or (kind is not None and found[0] != kind):
            raise not_found(object_id)
        if found[0] not in RELATIONSHIP_KINDS[nav] or found[1]["id"] == group_id:
            raise GraphError(f"Unsupported referenced-object resource identifier for link property '{nav}'.",
                             code="Request_BadRequest")
        return found[1]["id"]

    def add_reference(self, group_ref: Ref, nav: str, body: Any) -> None:
        """POST /groups/{id}/members/$ref (or owners): {"@odata.id": ".../directoryObjects/{id}"}."""
        group = self.get(GROUP, group_ref)
        if not isinstance(body, dict) or not isinstance(body.get("@odata.id"), str):
            raise GraphError("The request body must contain an '@odata.id' reference.", code="BadRequest")
        parsed = odata.parse_reference(body["@odata.id"])
        if parsed is None:
            raise GraphError(f"Invalid object identifier '{body['@odata.id']}'.", code="Request_BadRequest")
        object_id = self._referenced(group["id"], nav, *parsed)
        added = self.dir.add_member(group["id"], object_id) if nav == "members" else \
            self.dir.add_owner(group["id"], object_id)
        if not added:
            raise already_exist(nav)

    def remove_reference(self, group_ref: Ref, nav: str, member: str) -> None:
        group = self.get(GROUP, group_ref)
        oid = normalize_id(member)
        removed = self.dir.remove_member(group["id"], oid) if nav == "members" else \
            self.dir.remove_owner(group["id"], oid)
        if not removed:
            raise not_found(member)

    def related(self, group_ref: Ref, nav: str) -> list[tuple[str, dict[str, Any]]]:
        """A group's members, transitiveMembers or owners as (kind, document), oldest link first."""
        group = self.get(GROUP, group_ref)
        if nav == "owners":
            ids = self.dir.owners(group["id"])
        elif nav == "members":
            ids = self.dir.members(group["id"])
        else:
            ids = self._transitive_members(group["id"])
        out = []
        for object_id in ids:
            found = self.dir.get_any(object_id, consistent=True)
            if found is not None:
                out.append(found)
        return out

    def _transitive_members(self, group_id: str) -> list[str]:
        seen: list[str] = []
        frontier = [group_id]
        while frontier:
            nxt = []
            for g in frontier:
                for m in self.dir.members(g):
                    if m not in seen and m != group_id:
                        seen.append(m)
                        nxt.append(m)
            frontier = nxt
        return seen

    # -- users --------------------------------------------------------------------------------------------------
    def create_user(self, body: Any) -> dict[str, Any]:
        values = validate_body(USER, body, creating=True).values
        doc = self._new_doc(USER)
        password = values.pop("passwordProfile")
        self._apply(doc, values)
        doc["createdDateTime"] = now_iso()
        doc["_password"] = d.hash_secret(password["password"])  # the profile itself is never stored or shown
        self._check_unique(USER, doc, "userPrincipalName")
        self._save(USER, doc)
        return doc

    def user_ref(self, id_or_upn: str) -> Ref:
        """/users/{id | userPrincipalName}."""
        return ("id", id_or_upn) if is_guid(id_or_upn) else ("userPrincipalName", id_or_upn)

    def delete_user(self, ref: Ref) -> None:
        self.dir.soft_delete(d.USER, self.tenant, self.get(USER, ref)["id"])

    # -- directory/deletedItems ---------------------------------------------------------------------------------
    def deleted_list(self, entity: Entity) -> list[dict[str, Any]]:
        return self.dir.deleted_items(self.tenant, entity.kind)

    def deleted_get(self, oid: str) -> tuple[str, dict[str, Any]]:
        doc = self.dir.deleted_item(self.tenant, normalize_id(oid))
        if doc is None:
            raise not_found(oid)
        return doc["_kind"], doc

    def restore_deleted(self, oid: str) -> tuple[str, dict[str, Any]]:
        """POST directory/deletedItems/{id}/restore: refused while a live object holds one of its unique values,
        and for a service principal whose application is not (or no longer) there."""
        kind, doc = self.deleted_get(oid)
        if doc.get("uniqueName"):
            other = self.dir.find(kind, self.tenant, "uniqueName", doc["uniqueName"], consistent=True,
                                  ignore_case=True)
            if other is not None:
                raise duplicate_value("uniqueName")
        if kind == d.APPLICATION:
            for uri in doc.get("identifierUris") or []:
                self._check_identifier_uri(doc, uri)
        if kind == d.SERVICE_PRINCIPAL:
            if self.dir.app_by_app_id(self.tenant, doc["appId"], consistent=True) is None and \
                    doc.get("appOwnerOrganizationId") == self.tenant:
                raise GraphError(f"The service principal cannot be restored: its application '{doc['appId']}' "
                                 f"does not exist. Restore the application first.", code="Request_BadRequest")
            if self.dir.sp_by_app_id(self.tenant, doc["appId"], consistent=True) is not None:
                raise duplicate_value("appId")
        if kind == d.USER and doc.get("userPrincipalName") and self.dir.find(
                kind, self.tenant, "userPrincipalName", doc["userPrincipalName"], consistent=True,
                ignore_case=True) is not None:
            raise duplicate_value("userPrincipalName")
        return self.dir.restore(self.tenant, doc["id"])

    def purge_deleted(self, oid: str) -> None:
        kind, doc = self.deleted_get(oid)
        with self.dir.store.transaction():
            if kind == d.APPLICATION:
                for fic in self.state.store.list(FIC_KIND, scope=doc["id"]):
                    self.state.store.delete(FIC_KIND, fic["id"])
            self.dir.purge(doc["id"])

    # -- directory objects: membership checks -------------------------------------------------------------------
    def subject(self, entity: Entity | None, ref: Ref) -> dict[str, Any]:
        """The object a membership action runs on: typed (/servicePrincipals/{id}) or any (/directoryObjects)."""
        if entity is not None:
            return self.get(entity, ref)
        return self.get_object(ref[1])[1]

    def check_member_groups(self, subject: dict[str, Any], body: Any, *, param: str = "groupIds") -> list[str]:
        """Which of up to 20 given ids the subject is a member of, directly or through nested groups."""
        action = "checkMemberGroups" if param == "groupIds" else "checkMemberObjects"
        ids = _action_body(body, action, {param}).get(param)
        if not isinstance(ids, list) or not all(is_guid(i) for i in ids):
            raise GraphError(f"Invalid value specified for property '{param}' of resource '{action}'.",
                             code="Request_BadRequest")
        if len(ids) > MAX_CHECK_IDS:
            raise GraphError(f"The number of {param} specified ({len(ids)}) exceeds the limit of {MAX_CHECK_IDS}.",
                             code="Request_BadRequest")
        groups = self.dir.transitive_groups(subject["id"])
        return [i for i in ids if i.lower() in groups]

    def member_groups(self, subject: dict[str, Any], body: Any, *, action: str = "getMemberGroups") -> list[str]:
        flag = _action_body(body, action, {"securityEnabledOnly"}).get("securityEnabledOnly", False)
        if not isinstance(flag, bool):
            raise GraphError(f"Invalid value specified for property 'securityEnabledOnly' of resource '{action}'.",
                             code="Request_BadRequest")
        out = []
        for group_id in sorted(self.dir.transitive_groups(subject["id"])):
            group = self.dir.get(d.GROUP, group_id, consistent=True)
            if group is not None and (not flag or group.get("securityEnabled")):
                out.append(group_id)
        return out

    def member_of(self, subject: dict[str, Any], *, transitive: bool) -> list[tuple[str, dict[str, Any]]]:
        ids = self.dir.transitive_groups(subject["id"]) if transitive else set(self.dir.direct_groups(subject["id"]))
        docs = [self.dir.get(d.GROUP, g, consistent=True) for g in ids]
        return sorted(((d.GROUP, g) for g in docs if g is not None), key=lambda kd: kd[1].get("createdDateTime", ""))

    def get_by_ids(self, body: Any) -> list[tuple[str, dict[str, Any]]]:
        spec = _action_body(body, "getByIds", {"ids", "types"})
        ids, types = spec.get("ids"), spec.get("types")
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids) or len(ids) > MAX_GET_BY_IDS:
            raise GraphError("Invalid value specified for property 'ids' of resource 'getByIds'.",
                             code="Request_BadRequest")
        if types is not None and (not isinstance(types, list) or not all(isinstance(t, str) for t in types)):
            raise GraphError("Invalid value specified for property 'types' of resource 'getByIds'.",
                             code="Request_BadRequest")
        wanted = {t.rsplit(".", 1)[-1].lower() for t in types} if types else None
        out = []
        for object_id in ids:
            found = self.dir.get_any(object_id.lower()) if is_guid(object_id) else None
            if found is not None and (wanted is None or found[0].lower() in wanted):
                out.append(found)
        return out


def entity_of(kind: str) -> Entity:
    return BY_KIND[kind]


def _sp_values(values: dict[str, Any]) -> dict[str, Any]:
    """Writable service principal properties, less appId (fixed at creation). Credentials are not settable by
    PATCH in the emulator: service principal secrets and certificates are out of its scope."""
    for prop in ("passwordCredentials", "keyCredentials"):
        if values.get(prop):
            raise GraphError(f"The emulator does not support setting {prop} on a service principal; add "
                             f"credentials to the application instead.", code="Request_BadRequest")
    return {k: v for k, v in values.items() if k not in ("appId", "passwordCredentials", "keyCredentials")}


def _action_body(body: Any, action: str, allowed: set[str]) -> dict[str, Any]:
    """An OData action's parameters object; unknown parameters are refused as Graph does."""
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise GraphError("Unable to read JSON request payload. Please ensure Content-Type header is set and payload "
                         "is of valid JSON format.", code="BadRequest")
    for name in body:
        if not name.startswith("@") and name not in allowed:
            raise GraphError(f"The parameter '{name}' in the request payload is not a valid parameter for the "
                             f"operation '{action}'.", code="BadRequest")
    return body


def _operator_protected() -> GraphError:
    # The emulator's own operator (whose credentials `emulator env` hands out) must survive: deleting it would
    # lock every client out until a reset.
    return GraphError("Insufficient privileges to complete the operation.", code="Authorization_RequestDenied",
                      status=403)


def _invalid_credential(prop: str) -> GraphError:
    return GraphError(f"Invalid value specified for property '{prop}' of resource 'PasswordCredential'.",
                      code="Request_BadRequest")


def _invalid_fic(message: str, prop: str | None = None, value: str | None = None) -> GraphError:
    if prop is not None:
        message += (f" paramName: FederatedIdentityCredential.{prop[0].upper()}{prop[1:]}, paramValue: {value}, "
                    f"objectType: Microsoft.Online.DirectoryServices.Application")
    return GraphError(message, code="InvalidFederatedIdentityCredentialValue")


def _check_fic(doc: dict[str, Any]) -> None:
    """Graph's rules for a federated identity credential (the required properties are already present)."""
    name = doc["name"]
    if not 0 < len(name) <= FIC_NAME_LIMIT or not FIC_NAME.fullmatch(name):
        raise _invalid_fic(f"The name of a federated identity credential must be 1 to {FIC_NAME_LIMIT} characters, "
                           f"only letters (A-Z, a-z), digits, hyphens and underscores, starting with a letter or "
                           f"digit.", "name", name)
    for prop in ("issuer", "subject"):
        if not doc[prop] or len(doc[prop]) > FIC_TEXT_LIMIT:
            raise _invalid_fic(f"The {prop} of a federated identity credential must be 1 to {FIC_TEXT_LIMIT} "
                               f"characters.", prop, doc[prop])
    if not re.match(r"https?://[^/\s]+", doc["issuer"]):
        raise _invalid_fic("The issuer of a federated identity credential must be an absolute URL.", "issuer",
                           doc["issuer"])
    audiences = doc["audiences"]
    if len(audiences) != 1 or not audiences[0] or len(audiences[0]) > FIC_TEXT_LIMIT:
        raise _invalid_fic(f"A federated identity credential must have exactly one audience of 1 to "
                           f"{FIC_TEXT_LIMIT} characters.", "audiences", ",".join(audiences))
    if doc.get("description") is not None and len(doc["description"]) > FIC_TEXT_LIMIT:
        raise _invalid_fic(f"The description of a federated identity credential must be at most {FIC_TEXT_LIMIT} "
                           f"characters.", "description", doc["description"])
