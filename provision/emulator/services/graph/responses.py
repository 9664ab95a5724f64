"""Microsoft Graph v1.0 on the wire: authentication, request parsing, OData rendering, and the route table.

Every handler runs through `endpoint`, which does what Graph's front end does before the directory sees a
request: validate the bearer token (401 InvalidAuthenticationToken), record the caller for the request log,
mark reads-by-POST (checkMemberGroups, ...) as non-writes, and refuse writes from apps without directory write
permission (403 Authorization_RequestDenied). Handlers then parse, call `models.Graph`, and render Graph's JSON:
`@odata.context` pointing at this emulator, `OData-Version: 4.0`, Graph's content type, compact JSON.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from typing import Any, Awaitable, Callable
from urllib.parse import quote, urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route

from provision.emulator import tokens
from provision.emulator.app import emulator_of
from provision.emulator.services.graph import odata
from provision.emulator.services.graph.models import Graph, Ref, entity_of
from provision.emulator.services.graph.schema import (
    APPLICATION, DIRECTORY_OBJECT, ENTITIES, FEDERATED_IDENTITY_CREDENTIAL, GROUP, SERVICE_PRINCIPAL, USER, Entity,
)
from provision.emulator.state import EmulatorState
from provision.emulator.wire import MAX_BODY_BYTES, GraphError

ODATA_JSON = "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8"
WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
MAX_DRAIN_BYTES = 64 * 1024 * 1024  # read (and discard) an oversized body this far, so the client sees the 413

# Graph's messages for each way a bearer token fails validation.
TOKEN_MESSAGES = {
    "missing": "Access token is empty.",
    "malformed": "CompactToken parsing failed with error code: 80049217",
    "signature": "Access token validation failure.",
    "expired": "Lifetime validation failed, the token is expired.",
    "audience": "Access token validation failure. Invalid audience.",
    "tenant": "Access token validation failure. Invalid tenant.",
}
BAD_PAYLOAD = ("Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of "
               "valid JSON format.")


class ODataResponse(Response):
    """Graph's JSON: compact, UTF-8, with the OData media type and version header."""

    media_type = ODATA_JSON

    def __init__(self, content: Any, status_code: int = 200, headers: dict[str, str] | None = None):
        super().__init__(content, status_code, {"OData-Version": "4.0", "Cache-Control": "no-cache",
                                                **(headers or {})})

    def render(self, content: Any) -> bytes:
        return json.dumps(content, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def no_content() -> Response:
    return Response(status_code=204)


# -- one authenticated call -------------------------------------------------------------------------------------

@dataclass
class Call:
    request: Request
    state: EmulatorState
    graph: Graph
    caller: tokens.Caller

    @property
    def origin(self) -> str:
        return f"{self.request.url.scheme}://{self.request.url.netloc}"

    @property
    def base(self) -> str:
        return f"{self.origin}/v1.0"

    @property
    def params(self) -> dict[str, str]:
        return self.request.path_params

    def context(self, fragment: str) -> str:
        return f"{self.base}/$metadata#{fragment}"

    def query(self, entity: Entity, *, collection: bool) -> odata.Query:
        return odata.parse_query(self.request.query_params, self.request.headers, entity, collection=collection)

    def prefers(self, token: str) -> bool:
        values = ",".join(self.request.headers.getlist("prefer"))
        return token.lower() in (v.strip().lower() for v in values.split(","))

    async def body(self, *, required: bool = True) -> Any:
        return await read_body(self.request, required=required)

    @property
    def may_write(self) -> bool:
        """Whether the caller holds directory write permission (application permissions)."""
        return self.state.has_right(self.caller.object_id, "graph")

    def ref(self, entity: Entity) -> Ref:
        """The addressed object: /collection/{id}, /collection(key='value'), or /users/{userPrincipalName}."""
        if "key" in self.params:
            return odata.parse_key(self.params["key"], entity)
        if entity is USER:
            return self.graph.user_ref(self.params["id"])
        return ("id", self.params["id"])


async def read_body(request: Request, *, required: bool) -> Any:
    size, chunks = 0, []
    async for chunk in request.stream():
        size += len(chunk)
        if size <= MAX_BODY_BYTES:
            chunks.append(chunk)
        elif size > MAX_DRAIN_BYTES:
            break
    if size > MAX_BODY_BYTES:
        raise GraphError(f"The request body is {size} bytes; Microsoft Graph accepts at most {MAX_BODY_BYTES} "
                         f"bytes.", code="Request_EntityTooLarge", status=413)
    raw = b"".join(chunks)
    if not raw.strip():
        if required:
            raise GraphError(BAD_PAYLOAD, code="BadRequest")
        return None
    try:
        return json.loads(raw.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        raise GraphError(BAD_PAYLOAD, code="BadRequest") from None


def authenticate(request: Request, state: EmulatorState) -> tokens.Caller:
    try:
        return tokens.validate_bearer(request.headers.get("authorization"), state.signer,
                                      audiences=tokens.GRAPH_AUDIENCES | tokens.own_origins(request.url.netloc),
                                      tenant_id=state.boot.tenant_id)
    except tokens.TokenProblem as problem:
        origin = f"{request.url.scheme}://{request.url.netloc}"
        challenge = (f'Bearer realm="", authorization_uri="{origin}/common/oauth2/authorize", '
                     f'client_id="00000003-0000-0000-c000-000000000000"')
        raise GraphError(TOKEN_MESSAGES.get(problem.reason, "Access token validation failure."),
                         code="InvalidAuthenticationToken", status=401,
                         headers={"WWW-Authenticate": challenge}) from None


Handler = Callable[[Call], Awaitable[Response]]


def endpoint(*, write: bool | None = None, self_service: bool = False,
             ) -> Callable[[Handler], Callable[[Request], Awaitable[Response]]]:
    """Wrap a handler with Graph's front-end checks. `write=False` marks a POST that only reads; `self_service`
    leaves the write-permission check to the handler (an app may roll its own keys without any permission)."""

    def wrap(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        @functools.wraps(handler)
        async def run(request: Request) -> Response:
            state = emulator_of(request)
            caller = authenticate(request, state)
            scope_state = request.scope.setdefault("state", {})
            scope_state["caller"] = caller  # the request log records caller.app_id
            writes = request.method in WRITE_METHODS if write is None else write
            scope_state["write"] = writes
            if writes and not self_service and not state.has_right(caller.object_id, "graph"):
                # Reads need only a token of this tenant; directory writes need application permissions,
                # which in the emulator only the operator holds.
                raise GraphError("Insufficient privileges to complete the operation.",
                                 code="Authorization_RequestDenied", status=403)
            return await handler(Call(request, state, Graph(state), caller))
        return run
    return wrap


# -- rendering --------------------------------------------------------------------------------------------------

def _select_suffix(select: list[str]) -> str:
    return f"({','.join(select)})" if select else ""


def project(entity: Entity, doc: dict[str, Any], select: list[str], *, typed: bool = False) -> dict[str, Any]:
    """A stored document as Graph shows it: the type's full property set (so objects other parts of the emulator
    stored in a shorter form still read like Graph's), public fields only, narrowed by $select or the type's
    default set."""
    shown = {**entity.defaults(), **{k: v for k, v in doc.items() if not k.startswith("_")}}
    if select:
        shown = {k: shown.get(k) for k in select if entity.has(k)}
    elif entity.default_select:
        shown = {k: shown.get(k) for k in entity.default_select}
    return {"@odata.type": entity.odata_type, **shown} if typed else shown


def with_certificates(doc: dict[str, Any], shown: dict[str, Any], select: list[str]) -> dict[str, Any]:
    """keyCredentials' `key` (base64 DER) is "returned only on $select for a single object": filled in from the
    private `_keys` when a single-object read selects keyCredentials; null everywhere else."""
    if "keyCredentials" not in select or not isinstance(shown.get("keyCredentials"), list):
        return shown
    stored = doc.get("_keys", {})
    shown["keyCredentials"] = [{**c, "key": stored.get(c.get("keyId"))} for c in shown["keyCredentials"]]
    return shown


def render_entity(call: Call, entity: Entity, doc: dict[str, Any], query: odata.Query | None = None, *,
                  status: int = 200, headers: dict[str, str] | None = None) -> Response:
    select = query.select if query else []
    body = {"@odata.context": call.context(f"{entity.collection}{_select_suffix(select)}/$entity"),
            **with_certificates(doc, project(entity, doc, select), select)}
    return ODataResponse(body, status, headers)


def render_created(call: Call, entity: Entity, doc: dict[str, Any]) -> Response:
    # Graph's Location names the object in its internal v2 form; clients do not follow it.
    location = (f"{call.origin}/v2/{call.graph.tenant}/directoryObjects/{doc['id']}/"
                f"Microsoft.DirectoryServices.{entity.resource}")
    return render_entity(call, entity, doc, status=201, headers={"Location": location})


def render_list(call: Call, context: str, items: list[tuple[str, dict[str, Any]]], query: odata.Query, *,
                typed: bool) -> Response:
    """A collection page: @odata.context, @odata.count ($count=true), @odata.nextLink, value."""
    kinds = {doc["id"]: kind for kind, doc in items}
    page, total, following = odata.apply(query, [doc for _, doc in items])
    body: dict[str, Any] = {"@odata.context": call.context(f"{context}{_select_suffix(query.select)}")}
    if query.count:
        body["@odata.count"] = total
    if following is not None:
        body["@odata.nextLink"] = next_link(call, following)
    body["value"] = [project(entity_of(kinds[doc["id"]]), doc, query.select, typed=typed) for doc in page]
    return ODataResponse(body)


def next_link(call: Call, offset: int) -> str:
    """The same request with a $skiptoken, as an absolute URL on this emulator that SDK page iterators follow."""
    pairs = [(k, v) for k, v in call.request.query_params.multi_items() if k.lstrip("$").lower() != "skiptoken"]
    pairs.append(("$skiptoken", odata.encode_skiptoken(offset)))
    query = urlencode(pairs, quote_via=quote, safe="$',()/:")
    return f"{call.origin}{call.request.url.path}?{query}"


def _action_location(call: Call) -> dict[str, str]:
    """Graph answers its POST actions (addPassword, checkMemberGroups, ...) with `Location: <Graph's origin>`
    (recorded: `https://graph.microsoft.com`); the emulator names its own origin."""
    return {"Location": call.origin}


def render_strings(call: Call, values: list[str]) -> Response:
    return ODataResponse({"@odata.context": call.context("Collection(Edm.String)"), "value": values})


# -- handlers: any entity set -----------------------------------------------------------------------------------

def list_handler(entity: Entity):
    @endpoint()
    async def handler(call: Call) -> Response:
        query = call.query(entity, collection=True)
        docs = call.graph.list(entity, lookup=query.lookup)
        return render_list(call, entity.collection, [(entity.kind, doc) for doc in docs], query,
                           typed=False)
    return handler


def count_handler(entity: Entity):
    """GET /{collection}/$count: a text/plain number; an advanced query, so ConsistencyLevel is required."""
    @endpoint()
    async def handler(call: Call) -> Response:
        if call.request.headers.get("consistencylevel", "").lower() != "eventual":
            raise GraphError("$count is not currently supported.", code="Request_BadRequest")
        params = {k: v for k, v in call.request.query_params.items() if k.lstrip("$").lower() == "filter"}
        query = odata.parse_query({**params, "$count": "true"}, call.request.headers, entity, collection=True)
        _, total, _ = odata.apply(query, call.graph.list(entity, lookup=query.lookup))
        return Response(str(total), media_type="text/plain;charset=utf-8", headers={"OData-Version": "4.0"})
    return handler


def get_handler(entity: Entity):
    @endpoint()
    async def handler(call: Call) -> Response:
        query = call.query(entity, collection=False)
        return render_entity(call, entity, call.graph.get(entity, call.ref(entity)), query)
    return handler


def create_handler(entity: Entity, create: Callable[[Graph, Any], dict[str, Any]]):
    @endpoint()
    async def handler(call: Call) -> Response:
        return render_created(call, entity, create(call.graph, await call.body()))
    return handler


def patch_handler(entity: Entity, upsert_key: str, upsert: Callable[..., tuple[dict[str, Any], bool]],
                  update: Callable[[Graph, Ref, Any], None]):
    """PATCH by id or by alternate key; `upsert_key` is the upsert address, where Prefer: create-if-missing
    creates."""
    @endpoint()
    async def handler(call: Call) -> Response:
        body = await call.body()
        ref = call.ref(entity)
        if ref[0] == upsert_key:
            doc, created = upsert(call.graph, ref[1], body, call.prefers("create-if-missing"))
            return render_created(call, entity, doc) if created else no_content()
        update(call.graph, ref, body)
        return no_content()
    return handler


def delete_handler(entity: Entity, delete: Callable[[Graph, Ref], None]):
    @endpoint()
    async def handler(call: Call) -> Response:
        delete(call.graph, call.ref(entity))
        return no_content()
    return handler


# -- applications -----------------------------------------------------------------------------------------------

create_application = create_handler(APPLICATION, Graph.create_application)
patch_application = patch_handler(APPLICATION, "uniqueName", Graph.upsert_application, Graph.update_application)
delete_application = delete_handler(APPLICATION, Graph.delete_application)


@endpoint()
async def add_password(call: Call) -> Response:
    cred = call.graph.add_password(call.ref(APPLICATION), await call.body(required=False))
    return ODataResponse({"@odata.context": call.context("microsoft.graph.passwordCredential"), **cred},
                         headers=_action_location(call))


@endpoint()
async def remove_password(call: Call) -> Response:
    call.graph.remove_password(call.ref(APPLICATION), await call.body())
    return no_content()


@endpoint(self_service=True)
async def add_key(call: Call) -> Response:
    cred = call.graph.add_key(call.ref(APPLICATION), await call.body(), call.caller.app_id, call.may_write)
    return ODataResponse({"@odata.context": call.context("microsoft.graph.keyCredential"), **cred})


@endpoint(self_service=True)
async def remove_key(call: Call) -> Response:
    call.graph.remove_key(call.ref(APPLICATION), await call.body(), call.caller.app_id, call.may_write)
    return no_content()


# -- federated identity credentials (under an application) ------------------------------------------------------

def _fic_ref(call: Call) -> Ref:
    """/federatedIdentityCredentials/{id or name}, or /federatedIdentityCredentials(name='...')."""
    if "fickey" in call.params:
        return odata.parse_key(call.params["fickey"], FEDERATED_IDENTITY_CREDENTIAL)
    return ("id", call.params["fic"])


def _fic_context(call: Call, app: dict, suffix: str = "") -> str:
    return call.context(f"applications('{app['id']}')/federatedIdentityCredentials{suffix}")


@endpoint()
async def list_federated_credentials(call: Call) -> Response:
    query = call.query(FEDERATED_IDENTITY_CREDENTIAL, collection=True)
    app, creds = call.graph.federated_credentials(call.ref(APPLICATION))
    page, total, following = odata.apply(query, creds)
    body: dict[str, Any] = {"@odata.context": _fic_context(call, app, _select_suffix(query.select))}
    if query.count:
        body["@odata.count"] = total
    if following is not None:
        body["@odata.nextLink"] = next_link(call, following)
    body["value"] = [project(FEDERATED_IDENTITY_CREDENTIAL, doc, query.select) for doc in page]
    return ODataResponse(body)


@endpoint()
async def count_federated_credentials(call: Call) -> Response:
    params = {k: v for k, v in call.request.query_params.items() if k.lstrip("$").lower() == "filter"}
    query = odata.parse_query(params, call.request.headers, FEDERATED_IDENTITY_CREDENTIAL, collection=True)
    _, total, _ = odata.apply(query, call.graph.federated_credentials(call.ref(APPLICATION))[1])
    return Response(str(total), media_type="text/plain;charset=utf-8", headers={"OData-Version": "4.0"})


def _render_fic(call: Call, app: dict, doc: dict, query: odata.Query | None = None, status: int = 200,
                ) -> Response:
    select = query.select if query else []
    body = {"@odata.context": _fic_context(call, app, f"{_select_suffix(select)}/$entity"),
            **project(FEDERATED_IDENTITY_CREDENTIAL, doc, select)}
    return ODataResponse(body, status)


@endpoint()
async def create_federated_credential(call: Call) -> Response:
    app, doc = call.graph.create_federated_credential(call.ref(APPLICATION), await call.body())
    return _render_fic(call, app, doc, status=201)


@endpoint()
async def get_federated_credential(call: Call) -> Response:
    query = call.query(FEDERATED_IDENTITY_CREDENTIAL, collection=False)
    app, doc = call.graph.federated_credential(call.ref(APPLICATION), _fic_ref(call))
    return _render_fic(call, app, doc, query)


@endpoint()
async def patch_federated_credential(call: Call) -> Response:
    body = await call.body()
    ref = _fic_ref(call)
    if ref[0] == "name":  # the upsert address: creates when there is no credential by that name
        app, doc, created = call.graph.upsert_federated_credential(call.ref(APPLICATION), ref[1], body)
        return _render_fic(call, app, doc, status=201) if created else no_content()
    call.graph.update_federated_credential(call.ref(APPLICATION), ref, body)
    return no_content()


@endpoint()
async def delete_federated_credential(call: Call) -> Response:
    call.graph.delete_federated_credential(call.ref(APPLICATION), _fic_ref(call))
    return no_content()


# -- service principals -----------------------------------------------------------------------------------------

create_service_principal = create_handler(SERVICE_PRINCIPAL, Graph.create_service_principal)
patch_service_principal = patch_handler(SERVICE_PRINCIPAL, "appId", Graph.upsert_service_principal,
                                        Graph.update_service_principal)
delete_service_principal = delete_handler(SERVICE_PRINCIPAL, Graph.delete_service_principal)


# -- groups -----------------------------------------------------------------------------------------------------

create_group = create_handler(GROUP, Graph.create_group)
patch_group = patch_handler(GROUP, "uniqueName", Graph.upsert_group, Graph.update_group)
delete_group = delete_handler(GROUP, Graph.delete_group)


def relationship_handler(nav: str):
    """GET /groups/{id}/members | owners | transitiveMembers: mixed types, each with its @odata.type."""
    @endpoint()
    async def handler(call: Call) -> Response:
        query = call.query(DIRECTORY_OBJECT, collection=True)
        return render_list(call, "directoryObjects", call.graph.related(call.ref(GROUP), nav), query, typed=True)
    return handler


def relationship_item_handler(nav: str):
    """GET /groups/{id}/members/{segment}: one member by id, or a type cast (microsoft.graph.servicePrincipal,
    which msgraph-sdk spells graph.servicePrincipal) that narrows the list to one type."""
    @endpoint()
    async def handler(call: Call) -> Response:
        segment = call.params["segment"]
        items = call.graph.related(call.ref(GROUP), nav)
        cast = segment.removeprefix("microsoft.").removeprefix("graph.")
        entity = next((e for e in ENTITIES.values() if e.kind == cast), None)
        if entity is not None:
            query = call.query(entity, collection=True)
            return render_list(call, entity.collection, [(k, doc) for k, doc in items if k == entity.kind], query,
                               typed=False)
        for kind, doc in items:
            if doc["id"] == segment.lower():
                body = {"@odata.context": call.context("directoryObjects/$entity"),
                        **project(entity_of(kind), doc, [], typed=True)}
                return ODataResponse(body)
        if odata.is_guid(segment):
            raise GraphError(f"Resource '{segment}' does not exist or one of its queried reference-property "
                             f"objects are not present.", code="Request_ResourceNotFound", status=404)
        raise GraphError(f"Resource not found for the segment '{segment}'.", code="BadRequest")
    return handler


def add_reference_handler(nav: str):
    @endpoint()
    async def handler(call: Call) -> Response:
        call.graph.add_reference(call.ref(GROUP), nav, await call.body())
        return no_content()
    return handler


def remove_reference_handler(nav: str):
    @endpoint()
    async def handler(call: Call) -> Response:
        call.graph.remove_reference(call.ref(GROUP), nav, call.params["member"])
        return no_content()
    return handler


# -- users ------------------------------------------------------------------------------------------------------

create_user = create_handler(USER, Graph.create_user)
delete_user = delete_handler(USER, Graph.delete_user)


# -- directory objects and membership actions -------------------------------------------------------------------

@endpoint()
async def get_directory_object(call: Call) -> Response:
    kind, doc = call.graph.get_object(call.params["id"])
    query = call.query(entity_of(kind), collection=False)
    body = {"@odata.context": call.context("directoryObjects/$entity"),
            **with_certificates(doc, project(entity_of(kind), doc, query.select, typed=True), query.select)}
    return ODataResponse(body)


@endpoint(write=False)
async def get_by_ids(call: Call) -> Response:
    query = call.query(DIRECTORY_OBJECT, collection=False)
    items = call.graph.get_by_ids(await call.body())
    body = {"@odata.context": call.context("directoryObjects"),
            "value": [project(entity_of(kind), doc, query.select, typed=True) for kind, doc in items]}
    return ODataResponse(body)


def membership_action(entity: Entity | None, action: str):
    """POST .../{id}/checkMemberGroups | checkMemberObjects | getMemberGroups | getMemberObjects.
    These only read, so the request log does not count them as writes."""
    @endpoint(write=False)
    async def handler(call: Call) -> Response:
        subject = call.graph.subject(entity, call.ref(entity or DIRECTORY_OBJECT))
        body = await call.body(required=action.startswith("check"))
        if action == "checkMemberGroups":
            values = call.graph.check_member_groups(subject, body)
        elif action == "checkMemberObjects":
            values = call.graph.check_member_groups(subject, body, param="ids")
        else:
            values = call.graph.member_groups(subject, body, action=action)
        response = render_strings(call, values)
        response.headers.update(_action_location(call))
        return response
    return handler


def member_of_handler(entity: Entity | None, transitive: bool):
    @endpoint()
    async def handler(call: Call) -> Response:
        subject = call.graph.subject(entity, call.ref(entity or DIRECTORY_OBJECT))
        query = call.query(DIRECTORY_OBJECT, collection=True)
        return render_list(call, "directoryObjects", call.graph.member_of(subject, transitive=transitive), query,
                           typed=True)
    return handler


# -- directory/deletedItems -------------------------------------------------------------------------------------

def _cast(segment: str) -> Entity | None:
    """`microsoft.graph.application` (msgraph-sdk spells it `graph.application`) → the entity, else None."""
    cast = segment.removeprefix("microsoft.").removeprefix("graph.")
    return next((e for e in ENTITIES.values() if e.kind == cast), None) if cast != segment else None


def _deleted_body(call: Call, kind: str, doc: dict[str, Any], context: str) -> dict[str, Any]:
    return {"@odata.context": call.context(context), **project(entity_of(kind), doc, [], typed=True)}


@endpoint()
async def list_deleted_items(call: Call) -> Response:
    raise GraphError("A type cast is required: GET /directory/deletedItems/microsoft.graph.application (or "
                     "microsoft.graph.group, microsoft.graph.servicePrincipal, microsoft.graph.user).",
                     code="Request_BadRequest")


@endpoint()
async def get_deleted_item(call: Call) -> Response:
    """GET /directory/deletedItems/{id}, or /directory/deletedItems/microsoft.graph.{type}: the deleted objects
    of one type (with $filter, $count, $select, paging as any collection)."""
    segment = call.params["segment"]
    entity = _cast(segment)
    if entity is not None:
        query = call.query(entity, collection=True)
        items = [(entity.kind, doc) for doc in call.graph.deleted_list(entity)]
        return render_list(call, f"directory/deletedItems/microsoft.graph.{entity.kind}", items, query,
                           typed=False)
    kind, doc = call.graph.deleted_get(segment)
    return ODataResponse(_deleted_body(call, kind, doc, "directory/deletedItems/$entity"))


@endpoint()
async def restore_deleted_item(call: Call) -> Response:
    kind, doc = call.graph.restore_deleted(call.params["segment"])
    return ODataResponse(_deleted_body(call, kind, doc, "directoryObjects/$entity"))


@endpoint()
async def delete_deleted_item(call: Call) -> Response:
    call.graph.purge_deleted(call.params["segment"])
    return no_content()


# -- routes -----------------------------------------------------------------------------------------------------

def _addresses(collection: str, keyed: bool) -> list[str]:
    """An entity's item addresses: by object id, and by alternate key when the type has one."""
    return [f"/{collection}/{{id}}", *([f"/{collection}({{key}})"] if keyed else [])]


def _membership_routes(collection: str, entity: Entity | None) -> list[BaseRoute]:
    routes: list[BaseRoute] = []
    for base in _addresses(collection, entity is not None and bool(entity.alternate_keys)):
        for action in ("checkMemberGroups", "checkMemberObjects", "getMemberGroups", "getMemberObjects"):
            routes.append(Route(f"{base}/{action}", membership_action(entity, action), methods=["POST"]))
        routes.append(Route(f"{base}/memberOf", member_of_handler(entity, False), methods=["GET"]))
        routes.append(Route(f"{base}/transitiveMemberOf", member_of_handler(entity, True), methods=["GET"]))
    return routes


def _entity_routes(entity: Entity, *, create, patch, delete) -> list[BaseRoute]:
    c = entity.collection
    routes: list[BaseRoute] = [
        Route(f"/{c}", list_handler(entity), methods=["GET"]),
        Route(f"/{c}/$count", count_handler(entity), methods=["GET"]),
    ]
    if create is not None:
        routes.append(Route(f"/{c}", create, methods=["POST"]))
    for address in _addresses(c, bool(entity.alternate_keys)):
        routes.append(Route(address, get_handler(entity), methods=["GET"]))
        if patch is not None:
            routes.append(Route(address, patch, methods=["PATCH"]))
        if delete is not None:
            routes.append(Route(address, delete, methods=["DELETE"]))
    return routes


def graph_routes() -> list[BaseRoute]:
    from provision.emulator.services.graph import batch

    routes: list[BaseRoute] = [Route("/$batch", batch.handler, methods=["POST"])]
    routes += _entity_routes(APPLICATION, create=create_application, patch=patch_application,
                             delete=delete_application)
    for address in _addresses("applications", True):
        routes.append(Route(f"{address}/addPassword", add_password, methods=["POST"]))
        routes.append(Route(f"{address}/removePassword", remove_password, methods=["POST"]))
        routes.append(Route(f"{address}/addKey", add_key, methods=["POST"]))
        routes.append(Route(f"{address}/removeKey", remove_key, methods=["POST"]))
        fics = f"{address}/federatedIdentityCredentials"
        routes.append(Route(fics, list_federated_credentials, methods=["GET"]))
        routes.append(Route(fics, create_federated_credential, methods=["POST"]))
        routes.append(Route(f"{fics}/$count", count_federated_credentials, methods=["GET"]))
        for item in (f"{fics}/{{fic}}", f"{fics}({{fickey}})"):
            routes.append(Route(item, get_federated_credential, methods=["GET"]))
            routes.append(Route(item, patch_federated_credential, methods=["PATCH"]))
            routes.append(Route(item, delete_federated_credential, methods=["DELETE"]))
    routes += _entity_routes(SERVICE_PRINCIPAL, create=create_service_principal, patch=patch_service_principal,
                             delete=delete_service_principal)
    routes += _entity_routes(GROUP, create=create_group, patch=patch_group, delete=delete_group)
    for address in _addresses("groups", True):
        for nav in ("members", "owners"):
            routes.append(Route(f"{address}/{nav}/$ref", add_reference_handler(nav), methods=["POST"]))
            routes.append(Route(f"{address}/{nav}/{{member}}/$ref", remove_reference_handler(nav),
                                methods=["DELETE"]))
        for nav in ("members", "owners", "transitiveMembers"):
            routes.append(Route(f"{address}/{nav}", relationship_handler(nav), methods=["GET"]))
            routes.append(Route(f"{address}/{nav}/{{segment}}", relationship_item_handler(nav), methods=["GET"]))
    routes += _entity_routes(USER, create=create_user, patch=None, delete=delete_user)
    routes += [
        Route("/directory/deletedItems", list_deleted_items, methods=["GET"]),
        Route("/directory/deletedItems/{segment}", get_deleted_item, methods=["GET"]),
        Route("/directory/deletedItems/{segment}", delete_deleted_item, methods=["DELETE"]),
        Route("/directory/deletedItems/{segment}/restore", restore_deleted_item, methods=["POST"]),
        Route("/directoryObjects/getByIds", get_by_ids, methods=["POST"]),
        Route("/directoryObjects/{id}", get_directory_object, methods=["GET"]),
    ]
    for collection, entity in (("servicePrincipals", SERVICE_PRINCIPAL), ("groups", GROUP), ("users", USER),
                               ("directoryObjects", None)):
        routes += _membership_routes(collection, entity)
    return routes


def routes() -> list[BaseRoute]:
    return [Mount("/v1.0", routes=graph_routes())]
