"""Microsoft Graph v1.0: applications, service principals, users and directory objects, driven by the real
msgraph-sdk (one `asyncio.run` per test) and, where exact status codes and bodies matter, by raw HTTPS."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
import requests
from kiota_abstractions.base_request_configuration import RequestConfiguration
from msgraph.generated.applications.applications_request_builder import ApplicationsRequestBuilder
from msgraph.generated.applications.item.add_password.add_password_post_request_body import (
    AddPasswordPostRequestBody,
)
from msgraph.generated.applications.item.remove_password.remove_password_post_request_body import (
    RemovePasswordPostRequestBody,
)
from msgraph.generated.models.application import Application
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from msgraph.generated.models.password_credential import PasswordCredential
from msgraph.generated.models.service_principal import ServicePrincipal
from msgraph.generated.service_principals.service_principals_request_builder import ServicePrincipalsRequestBuilder

# msgraph-sdk's generated per-builder configuration classes warn on every call; the tests use the generic one.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


# -- helpers shared by the test_graph_* modules -----------------------------------------------------------------

class Wire:
    """Raw HTTPS to the emulator's Graph with a bearer token: for exact statuses, headers and bodies."""

    def __init__(self, emulator, token: str | None):
        self.emulator = emulator
        self.token = token

    def __call__(self, method: str, path: str, *, headers: dict | None = None, **kw) -> requests.Response:
        hdrs = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        hdrs.update(headers or {})
        url = path if path.startswith("https://") else f"{self.emulator.graph_url}{path}"
        return requests.request(method, url, headers=hdrs, verify=str(self.emulator.ca_cert), timeout=30, **kw)


def token_for(emulator, client_id: str, secret: str, scope: str = "https://graph.microsoft.com/.default") -> str:
    r = requests.post(f"{emulator.url}/{emulator.tenant_id}/oauth2/v2.0/token", verify=str(emulator.ca_cert),
                      data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret,
                            "scope": scope})
    assert r.status_code == 200, r.text
    return r.json()["access_token"]


@pytest.fixture
def wire(emulator) -> Wire:
    return Wire(emulator, token_for(emulator, emulator.client_id, emulator.client_secret))


def graph_error(r: requests.Response, status: int, code: str) -> str:
    """Assert Graph's error envelope and return the message."""
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert err["code"] == code, err
    assert {"date", "request-id", "client-request-id"} <= err["innerError"].keys()
    return err["message"]


def prefer_create() -> RequestConfiguration:
    rc = RequestConfiguration()
    rc.headers.add("Prefer", "create-if-missing")
    return rc


def run(coro):
    return asyncio.run(coro)


# -- applications -----------------------------------------------------------------------------------------------

def test_application_lifecycle_through_sdk(graph):
    async def scenario():
        app = await graph.applications.post(Application(display_name="app-one", tags=["x"]))
        assert app.id and app.app_id and app.id != app.app_id
        assert app.sign_in_audience == "AzureADandPersonalMicrosoftAccount"  # Graph's default for a POST
        assert app.password_credentials == [] and app.key_credentials == [] and app.tags == ["x"]
        assert app.created_date_time is not None

        by_id = await graph.applications.by_application_id(app.id).get()
        by_app_id = await graph.applications_with_app_id(app.app_id).get()
        assert by_id.app_id == by_app_id.app_id == app.app_id

        qp = ApplicationsRequestBuilder.ApplicationsRequestBuilderGetQueryParameters(
            filter="displayName eq 'app-one'", select=["id", "appId", "displayName"])
        found = await graph.applications.get(request_configuration=RequestConfiguration(query_parameters=qp))
        assert [a.id for a in found.value] == [app.id]
        assert found.value[0].sign_in_audience is None  # not selected

        await graph.applications.by_application_id(app.id).patch(Application(display_name="app-renamed"))
        assert (await graph.applications.by_application_id(app.id).get()).display_name == "app-renamed"

        await graph.applications.by_application_id(app.id).delete()
        with pytest.raises(ODataError) as e:
            await graph.applications.by_application_id(app.id).get()
        assert e.value.response_status_code == 404 and e.value.error.code == "Request_ResourceNotFound"
        assert e.value.error.message == (f"Resource '{app.id}' does not exist or one of its queried "
                                         f"reference-property objects are not present.")
    run(scenario())


def test_application_wire_shape(emulator, wire):
    r = wire("POST", "/applications", json={"@odata.type": "#microsoft.graph.application", "displayName": "shape",
                                             "keyCredentials": []})
    assert r.status_code == 201
    assert r.headers["OData-Version"] == "4.0"
    assert r.headers["Content-Type"] == ("application/json;odata.metadata=minimal;odata.streaming=true;"
                                         "IEEE754Compatible=false;charset=utf-8")
    body = r.json()
    assert body["@odata.context"] == f"{emulator.graph_url}/$metadata#applications/$entity"
    assert r.headers["Location"].endswith(f"/directoryObjects/{body['id']}/Microsoft.DirectoryServices.Application")
    assert b'":"' in r.content and b'": "' not in r.content  # compact JSON, as Graph writes it
    for field in ("api", "web", "spa", "publicClient", "info", "requiredResourceAccess", "identifierUris"):
        assert field in body
    assert body["api"]["requestedAccessTokenVersion"] == 2
    assert not any(k.startswith("_") for k in body)

    r = wire("PATCH", f"/applications/{body['id']}", json={"notes": "n"})
    assert r.status_code == 204 and r.content == b""
    r = wire("GET", f"/applications(appId='{body['appId']}')")
    assert r.status_code == 200 and r.json()["notes"] == "n"
    r = wire("GET", "/applications", params={"$filter": f"appId eq '{body['appId']}'"})
    assert r.json()["@odata.context"] == f"{emulator.graph_url}/$metadata#applications"
    assert [a["id"] for a in r.json()["value"]] == [body["id"]]
    r = wire("DELETE", f"/applications(appId='{body['appId']}')")
    assert r.status_code == 204
    graph_error(wire("GET", f"/applications/{body['id']}"), 404, "Request_ResourceNotFound")


def test_upsert_application_twice_creates_one(graph, wire):
    async def scenario():
        first = await graph.applications_with_unique_name("svc-app").patch(
            Application(display_name="svc"), request_configuration=prefer_create())
        assert first is not None and first.unique_name == "svc-app"  # 201 + body
        second = await graph.applications_with_unique_name("svc-app").patch(
            Application(display_name="svc v2"), request_configuration=prefer_create())
        assert second is None  # 204
        qp = ApplicationsRequestBuilder.ApplicationsRequestBuilderGetQueryParameters(
            filter="uniqueName eq 'svc-app'")
        found = await graph.applications.get(request_configuration=RequestConfiguration(query_parameters=qp))
        assert len(found.value) == 1 and found.value[0].display_name == "svc v2" and found.value[0].id == first.id
        return first
    first = run(scenario())

    # Without Prefer, a missing uniqueName is a plain update of nothing: 404.
    graph_error(wire("PATCH", "/applications(uniqueName='missing-app')", json={"displayName": "m"}), 404,
                "Request_ResourceNotFound")
    # The upsert address is case-insensitive, like Entra's alternate keys.
    assert wire("PATCH", "/applications(uniqueName='SVC-APP')", json={"notes": "x"},
                headers={"Prefer": "create-if-missing"}).status_code == 204
    # uniqueName is immutable once set.
    msg = graph_error(wire("PATCH", f"/applications/{first.id}", json={"uniqueName": "other"}), 400,
                      "Request_BadRequest")
    assert "uniqueName" in msg
    # Creating requires displayName.
    msg = graph_error(wire("PATCH", "/applications(uniqueName='new-one')", json={},
                           headers={"Prefer": "create-if-missing"}), 400, "Request_BadRequest")
    assert "displayName" in msg


def test_filters_on_alternate_keys(wire):
    """`appId in (…)`, `appId eq …`, `uniqueName eq …` (what bulk access sends) are answered through the
    directory's index; the answers are those of the filter: any case, oldest first, $count, nothing for no match."""
    apps = []
    for i in range(4):
        r = wire("POST", "/applications", json={"displayName": f"key-{i}", "uniqueName": f"Key-App-{i}"})
        assert r.status_code == 201
        apps.append(r.json())

    def listed(flt: str, **params) -> list[str]:
        r = wire("GET", "/applications", params={"$filter": flt, **params})
        assert r.status_code == 200, r.text
        return [a["displayName"] for a in r.json()["value"]]

    ids = [a["appId"] for a in apps]
    assert listed(f"appId in ('{ids[3].upper()}', '{ids[0]}', 'no-such-app')") == ["key-0", "key-3"]
    assert listed(f"appId eq '{ids[2].upper()}'") == ["key-2"]
    assert listed("uniqueName eq 'key-app-1'") == ["key-1"]
    assert listed("uniqueName in ('KEY-APP-1', 'key-app-2')", **{"$top": "1"}) == ["key-1"]
    assert listed("appId in ('00000000-0000-0000-0000-000000000000')") == []
    r = wire("GET", "/applications/$count", headers={"ConsistencyLevel": "eventual"},
             params={"$filter": f"appId in ('{ids[1]}', '{ids[2]}')"})
    assert r.status_code == 200 and r.text == "2"


def test_list_paging_count_and_filters(emulator, graph, wire):
    for i in range(5):
        assert wire("POST", "/applications", json={"displayName": f"page-{i}",
                                                    "identifierUris": [f"api://page-{i}"]}).status_code == 201

    async def scenario():
        qp = ApplicationsRequestBuilder.ApplicationsRequestBuilderGetQueryParameters(
            filter="startswith(displayName,'page-')", top=2)
        page = await graph.applications.get(request_configuration=RequestConfiguration(query_parameters=qp))
        names = [a.display_name for a in page.value]
        while page.odata_next_link:
            assert page.odata_next_link.startswith(emulator.graph_url + "/applications?")
            page = await graph.applications.with_url(page.odata_next_link).get()
            names += [a.display_name for a in page.value]
        assert names == [f"page-{i}" for i in range(5)]

        qp = ApplicationsRequestBuilder.ApplicationsRequestBuilderGetQueryParameters(
            filter="startswith(displayName,'page-')", count=True, top=1)
        rc = RequestConfiguration(query_parameters=qp)
        rc.headers.add("ConsistencyLevel", "eventual")
        counted = await graph.applications.get(request_configuration=rc)
        assert counted.odata_count == 5 and len(counted.value) == 1
    run(scenario())

    def names(flt: str, **headers) -> list[str]:
        r = wire("GET", "/applications", params={"$filter": flt, **({"$count": "true"} if headers else {})},
                 headers=headers)
        assert r.status_code == 200, r.text
        return sorted(a["displayName"] for a in r.json()["value"])

    assert names("displayName eq 'PAGE-1'") == ["page-1"]  # directory string comparisons ignore case
    r = wire("GET", "/applications",
             params={"$filter": "startswith(displayName,'page-')", "$orderby": "displayName desc"})
    assert [a["displayName"] for a in r.json()["value"]] == [f"page-{i}" for i in reversed(range(5))]
    assert names("displayName in ('page-1', 'page-3')") == ["page-1", "page-3"]
    assert names("identifierUris/any(u:u eq 'api://page-2')") == ["page-2"]
    assert names("startswith(displayName,'page') and (displayName eq 'page-0' or displayName eq 'page-4')") == \
        ["page-0", "page-4"]
    assert names("displayName ne 'page-0' and startswith(displayName,'page')", ConsistencyLevel="eventual") == \
        [f"page-{i}" for i in range(1, 5)]
    # Advanced operators without ConsistencyLevel fail as on Graph.
    msg = graph_error(wire("GET", "/applications", params={"$filter": "displayName ne 'x'"}), 400,
                      "Request_UnsupportedQuery")
    assert "ConsistencyLevel:eventual" in msg
    graph_error(wire("GET", "/applications", params={"$count": "true"}), 400, "Request_BadRequest")
    r = wire("GET", "/applications/$count", headers={"ConsistencyLevel": "eventual"},
             params={"$filter": "startswith(displayName,'page-')"})
    assert r.status_code == 200 and r.text == "5"
    # Bad queries are 400s with OData's messages, never 500s.
    assert "Could not find a property named 'nope'" in graph_error(
        wire("GET", "/applications", params={"$filter": "nope eq 'x'"}), 400, "BadRequest")
    assert "Syntax error" in graph_error(wire("GET", "/applications", params={"$filter": "displayName eq"}), 400,
                                         "BadRequest")
    assert "incompatible types" in graph_error(
        wire("GET", "/applications", params={"$filter": "isFallbackPublicClient eq 'yes'"}), 400, "BadRequest")
    graph_error(wire("GET", "/applications", params={"$select": "id,nope"}), 400, "BadRequest")
    assert "Invalid page size" in graph_error(wire("GET", "/applications", params={"$top": "1000"}), 400,
                                              "Request_BadRequest")
    graph_error(wire("GET", "/applications", params={"$skiptoken": "garbage"}), 400, "Request_BadRequest")
    # $select on one entity narrows it and shows in @odata.context.
    app_id = wire("GET", "/applications", params={"$filter": "displayName eq 'page-0'"}).json()["value"][0]["id"]
    r = wire("GET", f"/applications/{app_id}", params={"$select": "displayName"})
    assert r.json() == {"@odata.context": f"{emulator.graph_url}/$metadata#applications(displayName)/$entity",
                        "displayName": "page-0"}
    # identifierUris are unique in the tenant.
    assert "identifierUris" in graph_error(wire("POST", "/applications", json={
        "displayName": "dup", "identifierUris": ["api://page-0"]}), 400, "Request_BadRequest")


def test_add_and_remove_password(emulator, graph, wire):
    async def scenario():
        app = await graph.applications.post(Application(display_name="secret-app"))
        await graph.service_principals.post(ServicePrincipal(app_id=app.app_id))
        cred = await graph.applications.by_application_id(app.id).add_password.post(
            AddPasswordPostRequestBody(password_credential=PasswordCredential(display_name="cli")))
        check_new_secret(app, cred)
        await graph.applications.by_application_id(app.id).remove_password.post(
            RemovePasswordPostRequestBody(key_id=cred.key_id))
        return app, cred

    def check_new_secret(app, cred):
        assert len(cred.secret_text) == 40 and cred.hint == cred.secret_text[:3] and cred.display_name == "cli"
        assert cred.end_date_time - cred.start_date_time >= dt.timedelta(days=730)  # default: start + 2 years
        assert abs(cred.start_date_time - dt.datetime.now(dt.timezone.utc)) < dt.timedelta(minutes=1)
        # The secret works at the token endpoint; the directory shows it without its text, ever again.
        assert token_for(emulator, app.app_id, cred.secret_text)
        shown = wire("GET", f"/applications/{app.id}").json()["passwordCredentials"]
        assert [(c["keyId"], c["secretText"], c["hint"]) for c in shown] == [(str(cred.key_id), None, cred.hint)]
        stored = [a for a in emulator_objects(emulator, "application") if a["id"] == app.id][0]
        assert cred.secret_text not in str(stored)  # only a salted hash is kept

    app, cred = run(scenario())
    # Removed: the token endpoint refuses the secret.
    r = requests.post(f"{emulator.url}/{emulator.tenant_id}/oauth2/v2.0/token", verify=str(emulator.ca_cert),
                      data={"grant_type": "client_credentials", "client_id": app.app_id,
                            "client_secret": cred.secret_text, "scope": "https://graph.microsoft.com/.default"})
    assert r.status_code == 401 and r.json()["error_codes"] == [7000215]
    graph_error(wire("POST", f"/applications/{app.id}/removePassword", json={"keyId": str(cred.key_id)}), 404,
                "Request_ResourceNotFound")
    graph_error(wire("POST", f"/applications/{app.id}/removePassword", json={"keyId": "nope"}), 400,
                "Request_BadRequest")

    # addPassword by appId, with explicit dates; the newest credential is listed first.
    for name in ("one", "two"):
        r = wire("POST", f"/applications(appId='{app.app_id}')/addPassword",
                 json={"passwordCredential": {"displayName": name, "startDateTime": "2030-01-01T00:00:00Z",
                                              "endDateTime": "2031-01-01T00:00:00Z"}})
        assert r.status_code == 200
    assert r.json()["@odata.context"] == f"{emulator.graph_url}/$metadata#microsoft.graph.passwordCredential"
    assert r.json()["endDateTime"] == "2031-01-01T00:00:00Z"
    assert [c["displayName"] for c in wire("GET", f"/applications/{app.id}").json()["passwordCredentials"]] == \
        ["two", "one"]
    graph_error(wire("POST", f"/applications/{app.id}/addPassword",
                     json={"passwordCredential": {"startDateTime": "2030-01-01T00:00:00Z",
                                                  "endDateTime": "2029-01-01T00:00:00Z"}}), 400, "Request_BadRequest")
    # Secrets are never set by PATCH.
    graph_error(wire("PATCH", f"/applications/{app.id}", json={"passwordCredentials": [{"displayName": "x"}]}),
                400, "Request_BadRequest")


def test_key_credentials_store_certificates(emulator, wire):
    import base64

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "client-cert")])
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now).not_valid_after(now + dt.timedelta(days=30))
            .sign(key, hashes.SHA256()))
    der = cert.public_bytes(serialization.Encoding.DER)
    app = wire("POST", "/applications", json={"displayName": "cert-app"}).json()
    r = wire("PATCH", f"/applications/{app['id']}", json={"keyCredentials": [
        {"type": "AsymmetricX509Cert", "usage": "Verify", "key": base64.b64encode(der).decode()}]})
    assert r.status_code == 204, r.text
    [shown] = wire("GET", f"/applications/{app['id']}").json()["keyCredentials"]
    assert shown["key"] is None and shown["type"] == "AsymmetricX509Cert" and shown["displayName"] == "CN=client-cert"
    assert shown["endDateTime"] == (now + dt.timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
    stored = [a for a in emulator_objects(emulator, "application") if a["id"] == app["id"]][0]
    assert stored["_keys"] == {shown["keyId"]: base64.b64encode(der).decode()}
    # Re-sending the list with the keyId and no key keeps the certificate.
    assert wire("PATCH", f"/applications/{app['id']}", json={"keyCredentials": [
        {"keyId": shown["keyId"], "type": "AsymmetricX509Cert", "usage": "Verify"}]}).status_code == 204
    assert wire("GET", f"/applications/{app['id']}").json()["keyCredentials"][0]["keyId"] == shown["keyId"]
    graph_error(wire("PATCH", f"/applications/{app['id']}", json={"keyCredentials": [
        {"type": "AsymmetricX509Cert", "usage": "Verify", "key": base64.b64encode(b"not a cert").decode()}]}),
        400, "Request_BadRequest")


def emulator_objects(emulator, kind: str) -> list[dict]:
    r = requests.get(f"{emulator.url}/_emulator/objects", params={"kind": kind}, verify=str(emulator.ca_cert),
                     headers={"Authorization": f"Bearer {emulator.admin_key}"})
    return r.json()["value"]


# -- service principals -----------------------------------------------------------------------------------------

def test_service_principal_lifecycle(emulator, graph, wire):
    async def scenario():
        app = await graph.applications.post(Application(display_name="sp-app", identifier_uris=["api://sp-app"]))
        sp = await graph.service_principals.post(ServicePrincipal(app_id=app.app_id, tags=["t"]))
        assert sp.app_id == app.app_id and sp.display_name == "sp-app" and sp.app_display_name == "sp-app"
        assert sp.app_owner_organization_id == __import__("uuid").UUID(emulator.tenant_id)
        assert sp.service_principal_names == [app.app_id, "api://sp-app"] and sp.tags == ["t"]
        assert sp.account_enabled is True and sp.service_principal_type == "Application"
        assert (await graph.service_principals.by_service_principal_id(sp.id).get()).app_id == app.app_id
        assert (await graph.service_principals_with_app_id(app.app_id).get()).id == sp.id
        qp = ServicePrincipalsRequestBuilder.ServicePrincipalsRequestBuilderGetQueryParameters(
            filter=f"appId eq '{app.app_id}'")
        found = await graph.service_principals.get(request_configuration=RequestConfiguration(query_parameters=qp))
        assert [s.id for s in found.value] == [sp.id]
        # A second service principal for the same app: 409, as Graph answers.
        with pytest.raises(ODataError) as e:
            await graph.service_principals.post(ServicePrincipal(app_id=app.app_id))
        assert e.value.response_status_code == 409
        assert e.value.error.code == "Request_MultipleObjectsWithSameKeyValue"
        return app, sp
    app, sp = run(scenario())

    r = wire("GET", f"/servicePrincipals/{sp.id}")
    assert r.json()["@odata.context"] == f"{emulator.graph_url}/$metadata#servicePrincipals/$entity"
    r = wire("GET", "/servicePrincipals", params={"$filter": f"servicePrincipalNames/any(c:c eq '{app.app_id}')"})
    assert [s["id"] for s in r.json()["value"]] == [sp.id]
    assert wire("PATCH", f"/servicePrincipals/{sp.id}", json={"notes": "hello"}).status_code == 204
    assert wire("GET", f"/servicePrincipals/{sp.id}").json()["notes"] == "hello"
    # Deleting the application deletes its service principal, as Entra does.
    assert wire("DELETE", f"/applications/{app.id}").status_code == 204
    graph_error(wire("GET", f"/servicePrincipals/{sp.id}"), 404, "Request_ResourceNotFound")
    assert wire("GET", "/servicePrincipals", params={"$filter": f"appId eq '{app.app_id}'"}).json()["value"] == []


def test_service_principal_for_unknown_app_is_no_backing_application_object(graph, wire):
    missing = "11111111-2222-3333-4444-555555555555"

    async def scenario():
        with pytest.raises(ODataError) as e:
            await graph.service_principals.post(ServicePrincipal(app_id=missing))
        return e.value
    err = run(scenario())
    assert err.response_status_code == 400 and err.error.code == "Request_BadRequest"
    assert err.error.message == (f"The appId '{missing}' of the service principal does not reference a valid "
                                 f"application object.")
    assert err.error.details[0].code == "NoBackingApplicationObject"
    graph_error(wire("POST", "/servicePrincipals", json={}), 400, "Request_BadRequest")
    assert "appId" in graph_error(wire("POST", "/servicePrincipals", json={"appId": "not-a-guid"}), 400,
                                  "Request_BadRequest")


def test_upsert_service_principal(graph, wire):
    async def scenario():
        app = await graph.applications.post(Application(display_name="ups"))
        created = await graph.service_principals_with_app_id(app.app_id).patch(
            ServicePrincipal(), request_configuration=prefer_create())
        again = await graph.service_principals_with_app_id(app.app_id).patch(
            ServicePrincipal(notes="second"), request_configuration=prefer_create())
        return app, created, again
    app, created, again = run(scenario())
    assert created is not None and created.app_id == app.app_id and again is None
    r = wire("GET", "/servicePrincipals", params={"$filter": f"appId eq '{app.app_id}'"})
    assert len(r.json()["value"]) == 1 and r.json()["value"][0]["notes"] == "second"
    graph_error(wire("PATCH", "/servicePrincipals(appId='11111111-2222-3333-4444-555555555555')", json={}), 404,
                "Request_ResourceNotFound")
    assert wire("DELETE", f"/servicePrincipals(appId='{app.app_id}')").status_code == 204
    graph_error(wire("GET", f"/servicePrincipals(appId='{app.app_id}')"), 404, "Request_ResourceNotFound")


# -- users and directory objects --------------------------------------------------------------------------------

def user_body(name: str) -> dict:
    return {"accountEnabled": True, "displayName": name, "mailNickname": name,
            "userPrincipalName": f"{name}@emulator.onmicrosoft.com",
            "passwordProfile": {"password": "Test1234!!", "forceChangePasswordNextSignIn": False}}


def test_users_minimal(emulator, wire):
    r = wire("POST", "/users", json=user_body("alice"))
    assert r.status_code == 201
    user = r.json()
    assert user["@odata.context"] == f"{emulator.graph_url}/$metadata#users/$entity"
    # Graph's default user property set; the password never comes back.
    assert set(user) - {"@odata.context"} == {"id", "businessPhones", "displayName", "givenName", "jobTitle",
                                               "mail", "mobilePhone", "officeLocation", "preferredLanguage",
                                               "surname", "userPrincipalName"}
    assert "Test1234" not in str(emulator_objects(emulator, "user"))
    assert wire("GET", f"/users/{user['id']}").json()["displayName"] == "alice"
    assert wire("GET", "/users/ALICE@emulator.onmicrosoft.com").json()["id"] == user["id"]
    assert wire("GET", f"/users/{user['id']}", params={"$select": "accountEnabled"}).json()["accountEnabled"] is True
    assert "userPrincipalName" in graph_error(wire("POST", "/users", json=user_body("alice")), 400,
                                              "Request_BadRequest")
    assert "passwordProfile" in graph_error(wire("POST", "/users", json={
        k: v for k, v in user_body("bob").items() if k != "passwordProfile"}), 400, "Request_BadRequest")
    r = wire("GET", f"/directoryObjects/{user['id']}")
    assert r.json()["@odata.type"] == "#microsoft.graph.user"
    assert r.json()["@odata.context"] == f"{emulator.graph_url}/$metadata#directoryObjects/$entity"
    assert wire("DELETE", f"/users/{user['id']}").status_code == 204
    graph_error(wire("GET", f"/users/{user['id']}"), 404, "Request_ResourceNotFound")


def test_get_by_ids(wire):
    app = wire("POST", "/applications", json={"displayName": "byids"}).json()
    sp = wire("POST", "/servicePrincipals", json={"appId": app["appId"]}).json()
    r = wire("POST", "/directoryObjects/getByIds",
             json={"ids": [sp["id"], app["id"], "11111111-2222-3333-4444-555555555555"]})
    assert r.status_code == 200
    assert [(o["@odata.type"], o["id"]) for o in r.json()["value"]] == [
        ("#microsoft.graph.servicePrincipal", sp["id"]), ("#microsoft.graph.application", app["id"])]
    r = wire("POST", "/directoryObjects/getByIds", json={"ids": [sp["id"], app["id"]], "types": ["servicePrincipal"]})
    assert [o["id"] for o in r.json()["value"]] == [sp["id"]]
