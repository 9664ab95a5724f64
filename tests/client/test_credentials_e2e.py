"""Credentials other than a client secret, end to end: DefaultAzureCredential (here through the Azure CLI route),
a certificate, and a federated workload-identity token."""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path

from click.testing import CliRunner

from provision import clientconfig
from provision.cli import cli

# `az account get-access-token` as azure-identity's AzureCliCredential runs it: this stand-in gets a real token
# from the emulator for the client app (credentials in FAKE_AZ_*) and prints it the way az does.
FAKE_AZ = '''#!{python}
import json, os, sys
from azure.identity import ClientSecretCredential

args = sys.argv[1:]
assert args[:2] == ["account", "get-access-token"], args
resource = args[args.index("--resource") + 1]
cred = ClientSecretCredential(os.environ["FAKE_AZ_TENANT"], os.environ["FAKE_AZ_CLIENT_ID"],
                              os.environ["FAKE_AZ_SECRET"], authority=os.environ["FAKE_AZ_AUTHORITY"],
                              disable_instance_discovery=True, connection_verify=os.environ["FAKE_AZ_CA"])
token = cred.get_token(resource + "/.default")
print(json.dumps({{"accessToken": token.token, "expires_on": token.expires_on, "tokenType": "Bearer",
                  "tenant": os.environ["FAKE_AZ_TENANT"]}}))
'''


def test_default_azure_credential_via_azure_cli(world, topic, tmp_path, monkeypatch):
    """No client id or secret configured: clientconfig falls back to DefaultAzureCredential, which (limited to the
    Azure CLI by AZURE_TOKEN_CREDENTIALS, so nothing probes a managed-identity endpoint) runs `az`."""
    for key in clientconfig.KEYS:
        monkeypatch.delenv(key, raising=False)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    az = bin_dir / "az"
    az.write_text(FAKE_AZ.format(python=sys.executable))
    az.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{Path(sys.executable).parent}:/usr/bin:/bin")
    monkeypatch.setenv("AZURE_TOKEN_CREDENTIALS", "AzureCliCredential")
    for name, value in {"TENANT": world.tenant_id, "CLIENT_ID": world.member.app_id, "SECRET": world.member.secret,
                        "AUTHORITY": world.authority, "CA": world.ca_cert}.items():
        monkeypatch.setenv(f"FAKE_AZ_{name}", value)
    monkeypatch.setenv("KAFKAREST_ENDPOINT", world.endpoint)
    monkeypatch.setenv("PROVISION_CA_BUNDLE", world.ca_cert)

    assert clientconfig.load().credential_kind == "default"
    with world.client() as kr:
        kr.create_topic(topic)
    runner = CliRunner()
    result = runner.invoke(cli, ["kafka", "produce", topic, '{"via": "az"}'])
    assert result.exit_code == 0, result.output
    result = runner.invoke(cli, ["kafka", "consume", topic, "--values-only"])
    assert result.output.splitlines() == ['{"via":"az"}']


def _self_signed(tmp_path: Path) -> tuple[Path, str]:
    """A certificate with its private key in one PEM (what CertificateCredential reads), and the base64 DER Graph
    takes as a keyCredential."""
    import base64

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "kafka-client")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1)).sign(key, hashes.SHA256()))
    pem = tmp_path / "client.pem"
    pem.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()) + cert.public_bytes(serialization.Encoding.PEM))
    return pem, base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()


def test_certificate_credential_from_a_config_file(world, graph, topic, tmp_path):
    """The client app gets a certificate (Graph keyCredentials) and a JSON config naming it; CertificateCredential
    signs the client assertion."""
    import asyncio
    import base64

    from msgraph.generated.models.application import Application
    from msgraph.generated.models.key_credential import KeyCredential

    pem, der_b64 = _self_signed(tmp_path)

    async def upload() -> None:
        apps = await graph.applications.get()
        app = next(a for a in apps.value if a.app_id == world.member.app_id)
        await graph.applications.by_application_id(app.id).patch(Application(key_credentials=[KeyCredential(
            type="AsymmetricX509Cert", usage="Verify", key=base64.b64decode(der_b64),
            display_name="kafka-client")]))

    asyncio.run(upload())
    config = tmp_path / "cert.json"
    config.write_text(json.dumps({"endpoint": world.endpoint, "tenantId": world.tenant_id,
                                  "clientId": world.member.app_id, "AZURE_CLIENT_CERTIFICATE_PATH": str(pem),
                                  "AZURE_AUTHORITY_HOST": world.authority, "PROVISION_CA_BUNDLE": world.ca_cert}))
    cfg = clientconfig.load(config, environ={})
    assert cfg.credential_kind == "certificate"
    with cfg.build_client() as kr:
        kr.create_topic(topic)
        kr.produce(topic, ["signed"])
        assert [r.value for r in kr.iter_records(topic)] == ["signed"]


def test_workload_identity_from_a_federated_token_file(world, admin, graph, topic, tmp_path):
    """A federated credential on the client app trusts the emulator's OpenID issuer (the stand-in for GitHub Actions
    or a Kubernetes cluster); the platform's token sits in a file, named by AZURE_FEDERATED_TOKEN_FILE."""
    import asyncio

    from msgraph.generated.models.federated_identity_credential import FederatedIdentityCredential

    subject = f"system:serviceaccount:kafka:{topic}"

    async def federate() -> None:
        apps = await graph.applications.get()
        app = next(a for a in apps.value if a.app_id == world.member.app_id)
        await graph.applications.by_application_id(app.id).federated_identity_credentials.post(
            FederatedIdentityCredential(name=topic, issuer=admin.oidc_issuer, subject=subject,
                                        audiences=["api://AzureADTokenExchange"]))

    asyncio.run(federate())
    token_file = tmp_path / "token"
    token_file.write_text(admin.federated_token(subject))
    config = world.write_config(tmp_path / "wi.env")
    config.write_text(config.read_text().replace(f"AZURE_CLIENT_SECRET={world.member.secret}\n",
                                                 f"AZURE_FEDERATED_TOKEN_FILE={token_file}\n"))
    cfg = clientconfig.load(config, environ={})
    assert cfg.credential_kind == "workload-identity"
    with cfg.build_client() as kr:
        kr.create_topic(topic)
        kr.produce(topic, [{"federated": True}])
        assert [r.value for r in kr.iter_records(topic)] == [{"federated": True}]
