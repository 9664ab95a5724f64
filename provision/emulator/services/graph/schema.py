"""The Graph v1.0 entity types the emulator serves: their properties, defaults, and request-body validation.

Defaults are the property sets real Graph returns (taken from recorded responses), so a GET from the emulator
deserializes into the same msgraph models, with the same nulls and empty collections, as one from Azure.

Body validation follows Graph's order of complaints: an unknown property, then a value of the wrong type, then
a missing required property — each a 400 naming the property.
"""

from __future__ import annotations

import datetime as dt
import struct
import uuid
from dataclasses import dataclass
from typing import Any, Callable

from provision.emulator import directory as d
from provision.emulator.wire import GraphError

# Property types, as named in Graph's $metadata.
STRING, BOOL, GUID, DATETIME = "Edm.String", "Edm.Boolean", "Edm.Guid", "Edm.DateTimeOffset"
STRINGS, COMPLEX, COMPLEXES = "Collection(Edm.String)", "Complex", "Collection(Complex)"

SIGN_IN_AUDIENCES = ("AzureADMyOrg", "AzureADMultipleOrgs", "AzureADandPersonalMicrosoftAccount",
                     "PersonalMicrosoftAccount")
MAIL_NICKNAME_FORBIDDEN = set('@()\\[]";:<>, ')


@dataclass(frozen=True)
class Prop:
    type: str
    writable: bool = True
    required: bool = False  # on create
    check: Callable[[Any], bool] | None = None  # extra rule for a well-typed value


@dataclass(frozen=True)
class Entity:
    kind: str  # directory kind (storage)
    collection: str  # URL segment and $metadata entity set: applications, servicePrincipals, ...
    resource: str  # the name Graph uses in messages: Application, ServicePrincipal, Group, User
    props: dict[str, Prop]
    defaults: Callable[[], dict[str, Any]]
    binds: tuple[str, ...] = ()  # navigation properties that accept `<name>@odata.bind`
    alternate_keys: tuple[str, ...] = ()  # usable as /collection(key='value')
    default_select: tuple[str, ...] = ()  # when set, what a GET without $select returns (users)

    @property
    def odata_type(self) -> str:
        return d.ODATA_TYPES.get(self.kind, f"#microsoft.graph.{self.kind}")

    @property
    def type_name(self) -> str:
        return self.odata_type.lstrip("#")

    def has(self, name: str) -> bool:
        return name in self.props


def now_iso() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_datetime(value: Any) -> dt.datetime | None:
    """An ISO 8601 timestamp as Graph accepts it (with Z or an offset); None when it is not one."""
    if not isinstance(value, str):
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.timezone.utc)
    return parsed.astimezone(dt.timezone.utc)


def given_datetime(spec: dict[str, Any], prop: str, invalid: Callable[[str], GraphError]) -> dt.datetime | None:
    """A credential's optional time `spec[prop]`: None when absent, `invalid(prop)` raised when it is no time."""
    value = spec.get(prop)
    if value is None:
        return None
    parsed = parse_datetime(value)
    if parsed is None:
        raise invalid(prop)
    return parsed


def format_datetime(value: dt.datetime) -> str:
    if value.microsecond:
        return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def is_guid(value: Any) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return isinstance(value, str)


def security_identifier(object_id: str) -> str:
    """Entra's SID for a cloud group: S-1-12-1 plus the object id's bytes as four little-endian integers."""
    return "S-1-12-1-" + "-".join(str(n) for n in struct.unpack("<4I", uuid.UUID(object_id).bytes_le))


def _valid_mail_nickname(value: str) -> bool:
    return 0 < len(value) <= 64 and value.isascii() and not (set(value) & MAIL_NICKNAME_FORBIDDEN)


# -- defaults: the full property set of each type, as recorded from Graph ----------------------------------------

def _application_defaults() -> dict[str, Any]:
    return {
        "id": None, "deletedDateTime": None, "appId": None, "applicationTemplateId": None,
        "disabledByMicrosoftStatus": None, "createdDateTime": None, "displayName": None, "description": None,
        "groupMembershipClaims": None, "identifierUris": [], "isDeviceOnlyAuthSupported": None,
        "isFallbackPublicClient": None, "nativeAuthenticationApisEnabled": None, "notes": None,
        "publisherDomain": None, "serviceManagementReference": None,
        "signInAudience": "AzureADandPersonalMicrosoftAccount", "tags": [], "tokenEncryptionKeyId": None,
        "uniqueName": None, "samlMetadataUrl": None, "defaultRedirectUri": None, "certification": None,
        "optionalClaims": None, "requestSignatureVerification": None, "addIns": [],
        "api": {"acceptMappedClaims": None, "knownClientApplications": [], "requestedAccessTokenVersion": None,
                "oauth2PermissionScopes": [], "preAuthorizedApplications": []},
        "appRoles": [],
        "info": {"logoUrl": None, "marketingUrl": None, "privacyStatementUrl": None, "supportUrl": None,
                 "termsOfServiceUrl": None},
        "keyCredentials": [],
        "parentalControlSettings": {"countriesBlockedForMinors": [], "legalAgeGroupRule": "Allow"},
        "passwordCredentials": [], "publicClient": {"redirectUris": []}, "requiredResourceAccess": [],
        "verifiedPublisher": {"displayName": None, "verifiedPublisherId": None, "addedDateTime": None},
        "web": {"homePageUrl": None, "logoutUrl": None, "redirectUris": [],
                "implicitGrantSettings": {"enableAccessTokenIssuance": False, "enableIdTokenIssuance": False},
                "redirectUriSettings": []},
        "spa": {"redirectUris": []},
    }


def _service_principal_defaults() -> dict[str, Any]:
    return {
        "id": None, "deletedDateTime": None, "accountEnabled": True, "alternativeNames": [],
        "appDisplayName": None, "appDescription": None, "appId": None, "applicationTemplateId": None,
        "appOwnerOrganizationId": None, "appRoleAssignmentRequired": False, "createdDateTime": None,
        "description": None, "disabledByMicrosoftStatus": None, "displayName": None, "homepage": None,
        "loginUrl": None, "logoutUrl": None, "notes": None, "notificationEmailAddresses": [],
        "preferredSingleSignOnMode": None, "preferredTokenSigningKeyThumbprint": None, "replyUrls": [],
        "servicePrincipalNames": [], "servicePrincipalType": "Application", "signInAudience": None, "tags": [],
        "tokenEncryptionKeyId": None, "samlSingleSignOnSettings": None,
        "verifiedPublisher": {"displayName": None, "verifiedPublisherId": None, "addedDateTime": None},
        "addIns": [], "appRoles": [],
        "info": {"logoUrl": None, "marketingUrl": None, "privacyStatementUrl": None, "supportUrl": None,
                 "termsOfServiceUrl": None},
        "keyCredentials": [], "oauth2PermissionScopes": [], "passwordCredentials": [],
        "resourceSpecificApplicationPermissions": [],
    }


def _group_defaults() -> dict[str, Any]:
    return {
        "id": None, "deletedDateTime": None, "classification": None, "createdDateTime": None,
        "creationOptions": [], "description": None, "displayName": None, "expirationDateTime": None,
        "groupTypes": [], "isAssignableToRole": None, "mail": None, "mailEnabled": None, "mailNickname": None,
        "membershipRule": None, "membershipRuleProcessingState": None, "onPremisesDomainName": None,
        "onPremisesLastSyncDateTime": None, "onPremisesNetBiosName": None, "onPremisesSamAccountName": None,
        "onPremisesSecurityIdentifier": None, "onPremisesSyncEnabled": None, "preferredDataLocation": None,
        "preferredLanguage": None, "proxyAddresses": [], "renewedDateTime": None, "resourceBehaviorOptions": [],
        "resourceProvisioningOptions": [], "securityEnabled": None, "securityIdentifier": None, "theme": None,
        "uniqueName": None, "visibility": None, "onPremisesProvisioningErrors": [],
        "serviceProvisioningErrors": [],
    }


def _user_defaults() -> dict[str, Any]:
    # GET /users returns only this default set; everything else needs $select, as on Graph.
    return {
        "id": None, "businessPhones": [], "displayName": None, "givenName": None, "jobTitle": None, "mail": None,
        "mobilePhone": None, "officeLocation": None, "preferredLanguage": None, "surname": None,
        "userPrincipalName": None,
    }


def _ro(type_: str) -> Prop:
    return Prop(type_, writable=False)


_COMMON_RO = {"id": _ro(STRING), "deletedDateTime": _ro(DATETIME), "createdDateTime": _ro(DATETIME)}

APPLICATION = Entity(
    kind=d.APPLICATION, collection="applications", resource="Application", defaults=_application_defaults,
    alternate_keys=("appId", "uniqueName"),
    props={
        **_COMMON_RO,
        "appId": _ro(STRING), "applicationTemplateId": _ro(STRING), "disabledByMicrosoftStatus": _ro(STRING),
        "publisherDomain": _ro(STRING), "certification": _ro(COMPLEX), "verifiedPublisher": _ro(COMPLEX),
        "samlMetadataUrl": _ro(STRING),
        "displayName": Prop(STRING, required=True, check=lambda v: 0 < len(v) <= 256),
        "description": Prop(STRING, check=lambda v: len(v) <= 1024), "notes": Prop(STRING),
        "signInAudience": Prop(STRING, check=lambda v: v in SIGN_IN_AUDIENCES),
        "tags": Prop(STRINGS), "identifierUris": Prop(STRINGS, check=lambda v: all("://" in u for u in v)),
        "isFallbackPublicClient": Prop(BOOL), "isDeviceOnlyAuthSupported": Prop(BOOL),
        "nativeAuthenticationApisEnabled": Prop(STRING), "groupMembershipClaims": Prop(STRING),
        "serviceManagementReference": Prop(STRING), "tokenEncryptionKeyId": Prop(GUID),
        "defaultRedirectUri": Prop(STRING), "requestSignatureVerification": Prop(COMPLEX),
        "uniqueName": Prop(STRING, check=lambda v: 0 < len(v) <= 120),
        "api": Prop(COMPLEX), "appRoles": Prop(COMPLEXES), "info": Prop(COMPLEX), "optionalClaims": Prop(COMPLEX),
        "parentalControlSettings": Prop(COMPLEX), "publicClient": Prop(COMPLEX),
        "requiredResourceAccess": Prop(COMPLEXES), "spa": Prop(COMPLEX), "web": Prop(COMPLEX),
        "addIns": Prop(COMPLEXES), "keyCredentials": Prop(COMPLEXES), "passwordCredentials": Prop(COMPLEXES),
    },
)

SERVICE_PRINCIPAL = Entity(
    kind=d.SERVICE_PRINCIPAL, collection="servicePrincipals", resource="ServicePrincipal",
    defaults=_service_principal_defaults, alternate_keys=("appId",),
    props={
        **_COMMON_RO,
        "appId": Prop(STRING, required=True),  # writable on create only; the backing application's appId
        "appDisplayName": _ro(STRING), "appDescription": _ro(STRING), "applicationTemplateId": _ro(STRING),
        "appOwnerOrganizationId": _ro(GUID), "disabledByMicrosoftStatus": _ro(STRING), "signInAudience": _ro(STRING),
        "servicePrincipalType": _ro(STRING), "verifiedPublisher": _ro(COMPLEX),
        "resourceSpecificApplicationPermissions": _ro(COMPLEXES), "oauth2PermissionScopes": _ro(COMPLEXES),
        "accountEnabled": Prop(BOOL), "alternativeNames": Prop(STRINGS), "appRoleAssignmentRequired": Prop(BOOL),
        "description": Prop(STRING), "displayName": Prop(STRING, check=lambda v: 0 < len(v) <= 256),
        "homepage": Prop(STRING), "loginUrl": Prop(STRING), "logoutUrl": Prop(STRING), "notes": Prop(STRING),
        "notificationEmailAddresses": Prop(STRINGS), "preferredSingleSignOnMode": Prop(STRING),
        "preferredTokenSigningKeyThumbprint": Prop(STRING), "replyUrls": Prop(STRINGS),
        "servicePrincipalNames": Prop(STRINGS), "tags": Prop(STRINGS), "tokenEncryptionKeyId": Prop(GUID),
        "samlSingleSignOnSettings": Prop(COMPLEX), "addIns": Prop(COMPLEXES), "appRoles": Prop(COMPLEXES),
        "info": Prop(COMPLEX), "keyCredentials": Prop(COMPLEXES), "passwordCredentials": Prop(COMPLEXES),
    },
)

GROUP = Entity(
    kind=d.GROUP, collection="groups", resource="Group", defaults=_group_defaults,
    binds=("members", "owners"), alternate_keys=("uniqueName",),
    props={
        **_COMMON_RO,
        "creationOptions": _ro(STRINGS), "expirationDateTime": _ro(DATETIME), "mail": _ro(STRING),
        "onPremisesDomainName": _ro(STRING), "onPremisesLastSyncDateTime": _ro(DATETIME),
        "onPremisesNetBiosName": _ro(STRING), "onPremisesSamAccountName": _ro(STRING),
        "onPremisesSecurityIdentifier": _ro(STRING), "onPremisesSyncEnabled": _ro(BOOL),
        "proxyAddresses": _ro(STRINGS), "renewedDateTime": _ro(DATETIME), "securityIdentifier": _ro(STRING),
        "onPremisesProvisioningErrors": _ro(COMPLEXES), "serviceProvisioningErrors": _ro(COMPLEXES),
        "resourceProvisioningOptions": _ro(STRINGS),
        "displayName": Prop(STRING, required=True, check=lambda v: 0 < len(v) <= 256),
        "mailEnabled": Prop(BOOL, required=True),
        "mailNickname": Prop(STRING, required=True, check=_valid_mail_nickname),
        "securityEnabled": Prop(BOOL, required=True),
        "description": Prop(STRING, check=lambda v: len(v) <= 1024), "classification": Prop(STRING),
        "groupTypes": Prop(STRINGS, check=lambda v: set(v) <= {"Unified", "DynamicMembership"}),
        "isAssignableToRole": Prop(BOOL), "membershipRule": Prop(STRING),
        "membershipRuleProcessingState": Prop(STRING, check=lambda v: v in ("On", "Paused")),
        "preferredDataLocation": Prop(STRING), "preferredLanguage": Prop(STRING),
        "resourceBehaviorOptions": Prop(STRINGS), "theme": Prop(STRING),
        "uniqueName": Prop(STRING, check=lambda v: 0 < len(v) <= 120),
        "visibility": Prop(STRING, check=lambda v: v in ("Private", "Public", "HiddenMembership")),
    },
)

USER = Entity(
    kind=d.USER, collection="users", resource="User", defaults=_user_defaults,
    default_select=tuple(_user_defaults()),  # addressed as /users/{id | userPrincipalName}, not by key segment
    props={
        "id": _ro(STRING), "mail": Prop(STRING),
        "accountEnabled": Prop(BOOL, required=True),
        "displayName": Prop(STRING, required=True, check=lambda v: 0 < len(v) <= 256),
        "mailNickname": Prop(STRING, required=True, check=_valid_mail_nickname),
        "passwordProfile": Prop(COMPLEX, required=True,
                                check=lambda v: isinstance(v.get("password"), str) and len(v["password"]) >= 8),
        "userPrincipalName": Prop(STRING, required=True,
                                  check=lambda v: v.count("@") == 1 and all(v.split("@")) and " " not in v),
        "businessPhones": Prop(STRINGS), "givenName": Prop(STRING), "jobTitle": Prop(STRING),
        "mobilePhone": Prop(STRING), "officeLocation": Prop(STRING), "preferredLanguage": Prop(STRING),
        "surname": Prop(STRING), "usageLocation": Prop(STRING), "department": Prop(STRING),
        "createdDateTime": _ro(DATETIME),
    },
)

ENTITIES = {e.collection: e for e in (APPLICATION, SERVICE_PRINCIPAL, GROUP, USER)}
BY_KIND = {e.kind: e for e in ENTITIES.values()}

# -- an application's federated identity credentials (workload identity federation) -----------------------------
# Not a directory object: it lives under its application (/applications/{id}/federatedIdentityCredentials), stored
# with the application's object id as its scope.

FIC_KIND = "federatedIdentityCredential"
FIC_TEXT_LIMIT = 600  # issuer, subject, each audience, description
FIC_NAME_LIMIT = 120


def _fic_defaults() -> dict[str, Any]:
    return {"id": None, "name": None, "issuer": None, "subject": None, "description": None, "audiences": []}


FEDERATED_IDENTITY_CREDENTIAL = Entity(
    kind=FIC_KIND, collection="federatedIdentityCredentials", resource="FederatedIdentityCredential",
    defaults=_fic_defaults, alternate_keys=("name",),
    props={
        "id": _ro(STRING),
        "name": Prop(STRING, required=True),
        "issuer": Prop(STRING, required=True),
        "subject": Prop(STRING, required=True),
        "audiences": Prop(STRINGS, required=True),
        "description": Prop(STRING),
    },
)
BY_KIND[FIC_KIND] = FEDERATED_IDENTITY_CREDENTIAL

# Mixed collections (a group's members, memberOf, getByIds) hold several types. $select and $filter there may
# name any property of any of them; each object then shows only the properties its own type has.
DIRECTORY_OBJECT = Entity(
    kind="directoryObject", collection="directoryObjects", resource="DirectoryObject", defaults=dict,
    props={name: _ro(prop.type) for e in ENTITIES.values() for name, prop in e.props.items()},
)


# -- validation ------------------------------------------------------------------------------------------------

def invalid_value(entity: Entity, name: str) -> GraphError:
    return GraphError(f"Invalid value specified for property '{name}' of resource '{entity.resource}'.",
                      code="Request_BadRequest")


def unknown_property(entity: Entity, name: str) -> GraphError:
    return GraphError(f"Property '{name}' does not exist on type '{entity.type_name}'. Make sure to only use "
                      f"property names that are defined by the type or mark the type as open type.",
                      code="BadRequest")


def _well_typed(type_: str, value: Any) -> bool:
    if type_ == STRING:
        return isinstance(value, str)
    if type_ == BOOL:
        return isinstance(value, bool)
    if type_ == GUID:
        return is_guid(value)
    if type_ == DATETIME:
        return parse_datetime(value) is not None
    if type_ == STRINGS:
        return isinstance(value, list) and all(isinstance(v, str) for v in value)
    if type_ == COMPLEX:
        return isinstance(value, dict)
    if type_ == COMPLEXES:
        return isinstance(value, list) and all(isinstance(v, dict) for v in value)
    return False


@dataclass
class Body:
    """A validated request body: writable properties to apply, and `<nav>@odata.bind` URL lists."""

    values: dict[str, Any]
    binds: dict[str, list[str]]


def validate_body(entity: Entity, body: Any, *, creating: bool) -> Body:
    if not isinstance(body, dict):
        raise GraphError("An unexpected 'StartArray' node was found when reading from the JSON reader. A "
                         "'StartObject' node was expected." if isinstance(body, list) else
                         "Unable to read JSON request payload. Please ensure Content-Type header is set and "
                         "payload is of valid JSON format.", code="BadRequest")
    values: dict[str, Any] = {}
    binds: dict[str, list[str]] = {}
    for name, value in body.items():
        if name.startswith("@odata.") or name.startswith("@"):
            continue  # instance annotations (msgraph sends "@odata.type"): not data
        if name.endswith("@odata.bind"):
            nav = name[: -len("@odata.bind")]
            if nav not in entity.binds:
                raise unknown_property(entity, nav)
            if not isinstance(value, list) or not all(isinstance(u, str) for u in value):
                raise GraphError(f"Invalid URL format specified in @odata.bind for {nav}", code="BadRequest")
            binds[nav] = value
            continue
        prop = entity.props.get(name)
        if prop is None:
            raise unknown_property(entity, name)
        if value is not None and not _well_typed(prop.type, value):
            raise invalid_value(entity, name)
        if not prop.writable:
            continue  # Graph ignores read-only properties in a body (id, createdDateTime, ...)
        if value is None and prop.required:
            raise invalid_value(entity, name)
        if value is not None and prop.check is not None and not prop.check(value):
            raise invalid_value(entity, name)
        values[name] = value
    if creating:
        for name, prop in entity.props.items():
            if prop.required and name not in values:
                raise GraphError(f"A value is required for property '{name}' of resource '{entity.resource}'.",
                                 code="Request_BadRequest")
    return Body(values, binds)


def merge(current: Any, update: Any) -> Any:
    """PATCH semantics: complex values merge property by property; everything else is replaced."""
    if isinstance(current, dict) and isinstance(update, dict):
        out = dict(current)
        for k, v in update.items():
            if k.startswith("@odata."):
                continue
            out[k] = merge(current.get(k), v)
        return out
    return update
