"""Certificate and federated credentials end to end: Graph `keyCredentials` / `addKey` / `removeKey` /
`federatedIdentityCredentials` written with the real msgraph-sdk (and raw HTTPS where exact statuses matter), and
the token endpoint's `client_assertion` exercised by azure-identity's CertificateCredential,
ClientAssertionCredential and WorkloadIdentityCredential over TLS."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import itertools
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import jwt
import msal
import pytest
import requests
from azure.core.exceptions import ClientAuthenticationError
from azure.identity import CertificateCredential, ClientAssertionCredential, WorkloadIdentityCredential
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from msgraph.generated.models.application import Application
from msgraph.generated.models.federated_identity_credential import FederatedIdentityCredential
from msgraph.generated.models.key_credential import KeyCredential
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from msgraph.generated.models.service_principal import ServicePrincipal

from tests.emulator.test_graph import Wire, emulator_objects, graph_error, run, wire  # noqa: F401

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

HIB_SCOPE = "https://hib.azurehdinsight.net/.default"
EXCHANGE = "api://AzureADTokenExchange"
GITHUB_ISSUER = "https://token.actions.githubusercontent.com"


# -- helpers ----------------------------------------------------------------------------------------------------

@dataclass
class Cert:
    key: rsa.RSAPrivateKey
    cert: x509.Certificate
    pem_path: Path  # private key + certificate, what CertificateCredential reads

    @property
    def der(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.DER)

    @property
    def der_b64(self) -> str:
        return base64.b64encode(self.der).decode()

    def thumbprint(self, algorithm=hashlib.sha1) -> str:
        return base64.urlsafe_b64encode(algorithm(self.der).digest()).rstrip(b"=").decode()

    def sign(self, claims: dict, *, algorithm: str = "RS256", header: dict | None = None) -> str:
        hdr = {"x5t": self.thumbprint()} if header is None else header
        return jwt.encode(claims, self.key, algorithm=algorithm, headers=hdr)


_KEYS: list[rsa.RSAPrivateKey] = []
_TURN = itertools.count()


def pooled_key() -> rsa.RSAPrivateKey:
    """RSA key generation is the slow part: four keys, handed out in turn (no test uses more than four at once, so
    certificates made in one test never share a key)."""
    i = next(_TURN) % 4
    if len(_KEYS) <= i:
        _KEYS.append(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    return _KEYS[i]


def make_cert(tmp_path: Path, name: str = "client", *, not_before: dt.datetime | None = None,
              not_after: dt.datetime | None = None) -> Cert:
    key = pooled_key()
    now = dt.datetime.now(dt.timezone.utc)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before or now - dt.timedelta(minutes=5))
            .not_valid_after(not_after or now + dt.timedelta(days=30)).sign(key, hashes.SHA256()))
    pem = tmp_path / f"{name}-{uuid.uuid4().hex[:6]}.pem"
    pem.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()) + cert.public_bytes(serialization.Encoding.PEM))
    return Cert(key, cert, pem)


# msgraph-sdk's client lives in one event loop: each test runs its Graph calls inside one `run(...)`, and the
# synchronous azure-identity and requests calls in between simply block that loop.

async def new_app(graph, name: str) -> tuple[Application, ServicePrincipal]:
    app = await graph.applications.post(Application(display_name=name))
    sp = await graph.service_principals.post(ServicePrincipal(app_id=app.app_id))
    return app, sp


async def upload(graph, app: Application, *certs: Cert) -> None:
    """PATCH keyCredentials with msgraph-sdk: the list replaces what the app had."""
    creds = [KeyCredential(type="AsymmetricX509Cert", usage="Verify", key=c.der, display_name="client")
             for c in certs]
    await graph.applications.by_application_id(app.id).patch(Application(key_credentials=creds))


def cert_credential(emulator, client_id: str, cert: Cert) -> CertificateCredential:
    return CertificateCredential(emulator.tenant_id, client_id, certificate_path=str(cert.pem_path),
                                 authority=emulator.authority, disable_instance_discovery=True,
                                 connection_verify=str(emulator.ca_cert))


def assertion_credential(emulator, client_id: str, func) -> ClientAssertionCredential:
    return ClientAssertionCredential(emulator.tenant_id, client_id, func, authority=emulator.authority,
                                     disable_instance_discovery=True, connection_verify=str(emulator.ca_cert))


def claims_of(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


def token_endpoint(emulator) -> str:
    return f"{emulator.url}/{emulator.tenant_id}/oauth2/v2.0/token"


def post_assertion(emulator, client_id: str, assertion: str) -> requests.Response:
    return requests.post(token_endpoint(emulator), verify=str(emulator.ca_cert), data={
        "grant_type": "client_credentials", "client_id": client_id, "scope": HIB_SCOPE,
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": assertion})


def aadsts(r: requests.Response, code: int) -> str:
    assert r.status_code == 401, r.text
    body = r.json()
    assert body["error"] == "invalid_client" and body["error_codes"] == [code], body
    return body["error_description"]


def client_claims(emulator, client_id: str, **over) -> dict:
    now = int(time.time())
    claims = {"iss": client_id, "sub": client_id, "aud": token_endpoint(emulator), "iat": now, "nbf": now,
              "exp": now + 600, "jti": uuid.uuid4().hex}
    claims.update(over)
    return claims


def oidc_token(emulator, admin, subject: str, **extra) -> str:
    """A token from the emulator's OpenID issuer (Admin.federated_token, with a lifetime when asked)."""
    r = requests.post(f"{emulator.url}/_emulator/oidc/token", verify=str(emulator.ca_cert),
                      headers={"Authorization": f"Bearer {emulator.admin_key}"},
                      json={"subject": subject, "audience": EXCHANGE, **extra})
    assert r.status_code == 200, r.text
    return r.json()["token"]


async def add_fic(graph, app: Application, subject: str, issuer: str, name: str = "github-prod",
                  audience: str = EXCHANGE) -> FederatedIdentityCredential:
    return await graph.applications.by_application_id(app.id).federated_identity_credentials.post(
        FederatedIdentityCredential(name=name, issuer=issuer, subject=subject, audiences=[audience],
                                    description="test"))


# -- certificates -----------------------------------------------------------------------------------------------

def test_certificate_credential_end_to_end(emulator, graph, wire, tmp_path):
    good, other = make_cert(tmp_path, "good"), make_cert(tmp_path, "other")

    async def scenario():
        app, sp = await new_app(graph, "cert-client")
        await upload(graph, app, good)
        shown = await graph.applications.by_application_id(app.id).get()
        [kc] = shown.key_credentials
        assert kc.key is None and kc.type == "AsymmetricX509Cert" and kc.usage == "Verify"
        assert kc.custom_key_identifier == hashlib.sha1(good.der).digest()  # Graph: the SHA-1 thumbprint
        assert kc.end_date_time == good.cert.not_valid_after_utc
        raw = wire("GET", f"/applications/{app.id}").json()["keyCredentials"][0]
        assert raw["key"] is None
        assert raw["customKeyIdentifier"] == base64.b64encode(hashlib.sha1(good.der).digest()).decode()

        tok = cert_credential(emulator, app.app_id, good).get_token(HIB_SCOPE)
        claims = claims_of(tok.token)
        assert claims["aud"] == "https://hib.azurehdinsight.net" and claims["appid"] == app.app_id
        assert claims["oid"] == sp.id

        # A certificate the app does not have is refused; so is the good one once replaced.
        with pytest.raises(ClientAuthenticationError, match="AADSTS700027"):
            cert_credential(emulator, app.app_id, other).get_token(HIB_SCOPE)
        await upload(graph, app, other)
        with pytest.raises(ClientAuthenticationError, match="AADSTS700027"):
            cert_credential(emulator, app.app_id, good).get_token(HIB_SCOPE)
        assert cert_credential(emulator, app.app_id, other).get_token(HIB_SCOPE).token
    run(scenario())


def test_key_returned_only_on_select_for_a_single_object(emulator, graph, wire, tmp_path):
    """Graph: keyCredential.key is "returned only on $select for a single object"; re-sending the list read that
    way keeps every certificate."""
    from provision.resources.graph_util import key_credentials_with_keys

    one, two = make_cert(tmp_path, "one"), make_cert(tmp_path, "two")

    async def scenario():
        app, _ = await new_app(graph, "select-key")
        await upload(graph, app, one)
        [kc] = await key_credentials_with_keys(graph, app.id)
        assert kc.key == one.der
        raw = wire("GET", f"/applications/{app.id}?$select=keyCredentials").json()["keyCredentials"][0]
        assert raw["key"] == one.der_b64
        by_app_id = wire("GET", f"/applications(appId='{app.app_id}')?$select=id,keyCredentials").json()
        assert by_app_id["keyCredentials"][0]["key"] == one.der_b64
        assert wire("GET", f"/applications/{app.id}").json()["keyCredentials"][0]["key"] is None
        listed = wire("GET", f"/applications?$select=id,keyCredentials&$filter=appId eq '{app.app_id}'").json()
        assert listed["value"][0]["keyCredentials"][0]["key"] is None
        new = KeyCredential(type="AsymmetricX509Cert", usage="Verify", key=two.der, display_name="two")
        await graph.applications.by_application_id(app.id).patch(Application(key_credentials=[kc, new]))
        for cert in (one, two):
            assert cert_credential(emulator, app.app_id, cert).get_token(HIB_SCOPE).token
    run(scenario())


def test_certificate_assertions_at_the_wire(emulator, graph, tmp_path, monkeypatch):
    good, stranger = make_cert(tmp_path, "good"), make_cert(tmp_path, "stranger")
    now = dt.datetime.now(dt.timezone.utc)
    expired = make_cert(tmp_path, "expired", not_before=now - dt.timedelta(days=30),
                        not_after=now - dt.timedelta(days=1))

    async def scenario():
        app, _ = await new_app(graph, "cert-wire")
        await upload(graph, app, good)
        cid = app.app_id

        def claims(**over):
            return client_claims(emulator, cid, **over)

        # msal's two shapes (RS256 + x5t, PS256 + x5t#S256); the v1 token endpoint as audience works too.
        assert post_assertion(emulator, cid, good.sign(claims())).status_code == 200
        ps = good.sign(claims(), algorithm="PS256", header={"x5t#S256": good.thumbprint(hashlib.sha256)})
        assert post_assertion(emulator, cid, ps).status_code == 200
        v1 = claims(aud=token_endpoint(emulator).replace("/v2.0/token", "/token"))
        assert post_assertion(emulator, cid, good.sign(v1)).status_code == 200

        # msal itself, given the certificate rather than a thumbprint, signs PS256 with a padded x5t#S256.
        # (requests lets REQUESTS_CA_BUNDLE override a session's `verify`: point it at the emulator's CA.)
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(emulator.ca_cert))
        client = msal.ConfidentialClientApplication(
            cid, authority=f"{emulator.url}/{emulator.tenant_id}", instance_discovery=False,
            verify=str(emulator.ca_cert), client_credential={
                "private_key": good.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                      serialization.NoEncryption()).decode(),
                "public_certificate": good.cert.public_bytes(serialization.Encoding.PEM).decode()})
        assert "access_token" in client.acquire_token_for_client([HIB_SCOPE])

        # The app's key named, someone else's signature; a key the app does not have.
        forged = stranger.sign(claims(), header={"x5t": good.thumbprint()})
        assert "did not match" in aadsts(post_assertion(emulator, cid, forged), 700027)
        assert "key was not found" in aadsts(post_assertion(emulator, cid, stranger.sign(claims())), 700027)
        # Wrong audience, expired, malformed.
        aadsts(post_assertion(emulator, cid, good.sign(claims(aud="https://elsewhere/token"))), 700021)
        old = int(time.time()) - 3600
        aadsts(post_assertion(emulator, cid, good.sign(claims(iat=old, nbf=old, exp=old + 600))), 700024)
        aadsts(post_assertion(emulator, cid, "not.a.jwt"), 50027)

        # A credential whose certificate has expired is refused even with a good signature.
        await upload(graph, app, expired)
        assert "expired" in aadsts(post_assertion(emulator, cid, expired.sign(claims())), 700027)
    run(scenario())


def test_key_credentials_validation(emulator, graph, wire, tmp_path):
    cert = make_cert(tmp_path)
    after = (cert.cert.not_valid_after_utc + dt.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")

    async def scenario():
        app, _ = await new_app(graph, "cert-rules")
        r = wire("PATCH", f"/applications/{app.id}", json={"keyCredentials": [
            {"type": "AsymmetricX509Cert", "usage": "Verify", "key": cert.der_b64, "endDateTime": after}]})
        assert graph_error(r, 400, "KeyCredentialsInvalidEndDate") == "Key credential end date is invalid."
        # Up to the certificate's expiry (compared to the second) is fine; a non-certificate is not.
        await graph.applications.by_application_id(app.id).patch(Application(key_credentials=[KeyCredential(
            type="AsymmetricX509Cert", usage="Verify", key=cert.der, start_date_time=cert.cert.not_valid_before_utc,
            end_date_time=cert.cert.not_valid_after_utc.replace(microsecond=400000))]))
        with pytest.raises(ODataError) as e:
            await graph.applications.by_application_id(app.id).patch(Application(key_credentials=[KeyCredential(
                type="AsymmetricX509Cert", usage="Verify", key=b"not a certificate")]))
        assert e.value.response_status_code == 400
        stored = [a for a in emulator_objects(emulator, "application") if a["id"] == app.id][0]
        assert list(stored["_keys"].values()) == [cert.der_b64]
    run(scenario())


# -- addKey / removeKey -----------------------------------------------------------------------------------------

def proof(cert: Cert, app_object_id: str, *, lifetime: int = 600, aud: str = "00000003-0000-0000-c000-000000000000",
          ) -> str:
    """The proof of possession Graph documents: aud Graph, iss the app's object id, nbf + 10 minutes at most."""
    now = int(time.time())
    return cert.sign({"aud": aud, "iss": app_object_id, "nbf": now, "exp": now + lifetime})


def test_add_key_and_remove_key(emulator, graph, wire, tmp_path):
    first, second, stranger = make_cert(tmp_path, "first"), make_cert(tmp_path, "second"), make_cert(tmp_path, "x")
    new_key = {"type": "AsymmetricX509Cert", "usage": "Verify", "key": second.der_b64}

    async def scenario():
        app, _ = await new_app(graph, "roller")
        other, _ = await new_app(graph, "other")
        # No certificate yet: addKey cannot be used (Update application adds the first one).
        graph_error(wire("POST", f"/applications/{app.id}/addKey",
                         json={"keyCredential": new_key, "proof": proof(stranger, app.id)}), 400,
                    "Request_BadRequest")
        await upload(graph, app, first)
        return app, other

    app, other = run(scenario())
    add_key = f"/applications/{app.id}/addKey"
    # A missing proof; proofs signed by a stranger, naming the appId, living an hour, for another audience.
    graph_error(wire("POST", add_key, json={"keyCredential": new_key}), 400, "Request_BadRequest")
    for bad in (proof(stranger, app.id), proof(first, app.app_id), proof(first, app.id, lifetime=3600),
                proof(first, app.id, aud="https://management.azure.com"), "garbage"):
        graph_error(wire("POST", add_key, json={"keyCredential": new_key, "proof": bad}), 401,
                    "Authentication_MissingOrMalformed")

    # The app rolls its own key, with a Graph token it got with its certificate and no Graph permission at all.
    own = cert_credential(emulator, app.app_id, first).get_token("https://graph.microsoft.com/.default").token
    as_app = Wire(emulator, own)
    graph_error(as_app("PATCH", f"/applications/{app.id}", json={"notes": "x"}), 403, "Authorization_RequestDenied")
    r = as_app("POST", f"/applications(appId='{app.app_id}')/addKey",
               json={"keyCredential": new_key, "passwordCredential": None, "proof": proof(first, app.id)})
    assert r.status_code == 200, r.text
    added = r.json()
    assert added["@odata.context"] == f"{emulator.graph_url}/$metadata#microsoft.graph.keyCredential"
    assert added["key"] is None and added["type"] == "AsymmetricX509Cert" and uuid.UUID(added["keyId"])
    assert cert_credential(emulator, app.app_id, second).get_token(HIB_SCOPE).token
    # Another app's keys: 403 without directory write permission.
    graph_error(as_app("POST", f"/applications/{other.id}/removeKey",
                       json={"keyId": added["keyId"], "proof": proof(first, other.id)}), 403,
                "Authorization_RequestDenied")

    # removeKey: the first certificate, proven with the second.
    first_id = next(k["keyId"] for k in wire("GET", f"/applications/{app.id}").json()["keyCredentials"]
                    if k["keyId"] != added["keyId"])
    remove_key = f"/applications/{app.id}/removeKey"
    graph_error(wire("POST", remove_key, json={"keyId": first_id}), 400, "Request_BadRequest")
    assert wire("POST", remove_key, json={"keyId": first_id, "proof": proof(second, app.id)}).status_code == 204
    assert [k["keyId"] for k in wire("GET", f"/applications/{app.id}").json()["keyCredentials"]] == [added["keyId"]]
    with pytest.raises(ClientAuthenticationError, match="AADSTS700027"):
        cert_credential(emulator, app.app_id, first).get_token(HIB_SCOPE)
    graph_error(wire("POST", remove_key, json={"keyId": first_id, "proof": proof(second, app.id)}), 404,
                "Request_ResourceNotFound")


# -- federated identity credentials -----------------------------------------------------------------------------

def test_federated_credentials_through_sdk(emulator, graph, wire, admin):
    subject = "repo:org/repo:environment:prod"

    async def scenario():
        app, _ = await new_app(graph, "fic-crud")
        fics = graph.applications.by_application_id(app.id).federated_identity_credentials
        created = await fics.post(FederatedIdentityCredential(
            name="github-prod", issuer=GITHUB_ISSUER, subject=subject, audiences=[EXCHANGE], description="CI"))
        assert uuid.UUID(created.id) and created.name == "github-prod" and created.audiences == [EXCHANGE]
        listed = await fics.get()
        assert [f.subject for f in listed.value] == [subject]
        one = await fics.by_federated_identity_credential_id(created.id).get()
        assert one.issuer == GITHUB_ISSUER and one.description == "CI"
        by_name = await graph.applications.by_application_id(app.id).federated_identity_credentials_with_name(
            "github-prod").get()
        assert by_name.id == created.id
        await fics.by_federated_identity_credential_id(created.id).patch(
            FederatedIdentityCredential(description="changed"))
        assert (await fics.by_federated_identity_credential_id("github-prod").get()).description == "changed"
        with pytest.raises(ODataError) as e:  # issuer + subject are unique per app
            await fics.post(FederatedIdentityCredential(name="dup", issuer=GITHUB_ISSUER, subject=subject,
                                                        audiences=[EXCHANGE]))
        assert e.value.response_status_code == 400
        assert e.value.error.code == "InvalidFederatedIdentityCredentialValue"
        await fics.by_federated_identity_credential_id(created.id).delete()
        assert (await fics.get()).value == []
        return app

    app = run(scenario())
    base = f"/applications/{app.id}/federatedIdentityCredentials"
    body = {"name": "k8s", "issuer": admin.oidc_issuer, "subject": "system:serviceaccount:ns:sa",
            "audiences": [EXCHANGE]}
    r = wire("POST", f"/applications(appId='{app.app_id}')/federatedIdentityCredentials", json=body)
    assert r.status_code == 201, r.text
    assert r.json()["@odata.context"] == \
        f"{emulator.graph_url}/$metadata#applications('{app.id}')/federatedIdentityCredentials/$entity"
    assert set(r.json()) == {"@odata.context", "id", "name", "issuer", "subject", "description", "audiences"}
    graph_error(wire("POST", base, json={**body, "subject": "another"}), 400,
                "InvalidFederatedIdentityCredentialValue")  # the name is taken
    for bad in ({"name": "has space"}, {"name": "x" * 121}, {"audiences": [EXCHANGE, "b"]}, {"audiences": []},
                {"issuer": "not-a-url"}, {"subject": "s" * 601}):
        graph_error(wire("POST", base, json={**body, "name": "other", "subject": "s2", **bad}), 400,
                    "InvalidFederatedIdentityCredentialValue")
    missing = {k: v for k, v in body.items() if k != "issuer"}
    assert "issuer" in graph_error(wire("POST", base, json={**missing, "name": "m"}), 400, "Request_BadRequest")
    graph_error(wire("POST", base, json={**body, "name": "u", "unknown": 1}), 400, "BadRequest")
    graph_error(wire("PATCH", f"{base}/k8s", json={"name": "renamed"}), 400, "Request_BadRequest")
    # Upsert by name; $filter; $count; an unknown one.
    r = wire("PATCH", f"{base}(name='upserted')", json={**body, "name": "upserted", "subject": "sub-2"})
    assert r.status_code == 201 and r.json()["name"] == "upserted"
    assert wire("PATCH", f"{base}(name='upserted')", json={"description": "d"}).status_code == 204
    r = wire("GET", base, params={"$filter": "subject eq 'sub-2'"})
    assert [f["name"] for f in r.json()["value"]] == ["upserted"]
    assert wire("GET", f"{base}/$count").text == "2"
    graph_error(wire("GET", f"{base}/nothing-here"), 404, "Request_ResourceNotFound")
    # At most 20 per application.
    for i in range(18):
        assert wire("POST", base, json={**body, "name": f"n{i}", "subject": f"s{i}"}).status_code == 201
    graph_error(wire("POST", base, json={**body, "name": "n20", "subject": "s20"}), 400,
                "InvalidFederatedIdentityCredentialValue")
    # The credentials stay with the (soft-)deleted application; deleting it permanently deletes them.
    assert len(admin.objects("federatedIdentityCredential")) == 20
    assert wire("DELETE", f"/applications/{app.id}").status_code == 204
    assert len(admin.objects("federatedIdentityCredential")) == 20
    assert wire("DELETE", f"/directory/deletedItems/{app.id}").status_code == 204
    assert admin.objects("federatedIdentityCredential") == []


def test_client_assertion_credential_with_federated_token(emulator, graph, admin):
    subject = "repo:org/repo:environment:prod"

    def refused(app, func, code: int):
        with pytest.raises(ClientAuthenticationError, match=f"AADSTS{code}:"):
            assertion_credential(emulator, app.app_id, func).get_token(HIB_SCOPE)

    async def scenario():
        app, sp = await new_app(graph, "fic-client")
        await add_fic(graph, app, subject, admin.oidc_issuer)

        cred = assertion_credential(emulator, app.app_id, lambda: admin.federated_token(subject))
        claims = claims_of(cred.get_token(HIB_SCOPE).token)
        assert claims["appid"] == app.app_id and claims["oid"] == sp.id
        assert claims["aud"] == "https://hib.azurehdinsight.net"

        refused(app, lambda: admin.federated_token("repo:org/repo:environment:dev"), 700213)
        refused(app, lambda: admin.federated_token(subject.upper()), 700213)  # matching is case-sensitive
        refused(app, lambda: admin.federated_token(subject, audience="api://somewhere-else"), 700212)
        refused(app, lambda: oidc_token(emulator, admin, subject, lifetimeSeconds=-900), 700024)
        # An issuer the app has no record for; then a record for it, but keys the emulator cannot fetch.
        now = int(time.time())
        github = jwt.encode({"iss": GITHUB_ISSUER, "sub": subject, "aud": EXCHANGE, "iat": now, "nbf": now,
                             "exp": now + 300}, pooled_key(), algorithm="RS256")
        refused(app, lambda: github, 700211)
        await add_fic(graph, app, subject, GITHUB_ISSUER, name="github")
        refused(app, lambda: github, 50166)
        # A token claiming the emulator's issuer, signed by someone else.
        forged = jwt.encode({"iss": admin.oidc_issuer, "sub": subject, "aud": EXCHANGE, "iat": now, "nbf": now,
                             "exp": now + 300}, pooled_key(), algorithm="RS256")
        refused(app, lambda: forged, 700027)
        # Deleting the credential takes the access away: no record for the emulator's issuer is left.
        await graph.applications.by_application_id(app.id).federated_identity_credentials_with_name(
            "github-prod").delete()
        refused(app, lambda: admin.federated_token(subject), 700211)
    run(scenario())


def test_workload_identity_credential_reads_a_token_file(emulator, graph, admin, tmp_path):
    subject = "system:serviceaccount:kafka:producer"

    async def scenario():
        app, _ = await new_app(graph, "k8s-workload")
        await add_fic(graph, app, subject, admin.oidc_issuer, name="aks-producer")
        return app

    app = run(scenario())
    token_file = tmp_path / "azure-identity-token"
    token_file.write_text(admin.federated_token(subject))
    cred = WorkloadIdentityCredential(tenant_id=emulator.tenant_id, client_id=app.app_id,
                                      token_file_path=str(token_file), authority=emulator.authority,
                                      disable_instance_discovery=True, connection_verify=str(emulator.ca_cert))
    assert claims_of(cred.get_token(HIB_SCOPE).token)["appid"] == app.app_id
