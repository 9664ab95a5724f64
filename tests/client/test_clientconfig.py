"""provision.clientconfig: files, precedence, validation, credentials. No server needed."""

from __future__ import annotations

import json

import pytest

from provision import clientconfig as cc
from provision.kafkarest import ValidationError

APP = "11111111-2222-3333-4444-555555555555"
OTHER = "99999999-8888-7777-6666-555555555555"
TENANT = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
ENDPOINT = "https://c1-kafkarest.azurehdinsight.net"


def test_dotenv_syntax():
    text = """
# a comment
export KAFKAREST_ENDPOINT=https://c1-kafkarest.azurehdinsight.net/
AZURE_TENANT_ID = aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee   # inline comment
AZURE_CLIENT_SECRET="se#cr\\"et\\n"
SINGLE='lit\\eral # kept'
HASH=abc#def
EMPTY=
"""
    values = cc.parse_dotenv(text)
    assert values["KAFKAREST_ENDPOINT"] == "https://c1-kafkarest.azurehdinsight.net/"
    assert values["AZURE_TENANT_ID"] == TENANT
    assert values["AZURE_CLIENT_SECRET"] == 'se#cr"et\n'
    assert values["SINGLE"] == "lit\\eral # kept"
    assert values["HASH"] == "abc#def"
    assert values["EMPTY"] == ""


@pytest.mark.parametrize("line,rule", [("NOEQUALS", "KEY=value"), ('K="open', "unterminated"),
                                        ("1BAD=x", "KEY=value"), ('K="a" tail', "after the closing quote")])
def test_dotenv_errors_name_the_line(line, rule):
    with pytest.raises(ValidationError, match=rf"f line 2: .*{rule}"):
        cc.parse_dotenv(f"# ok\n{line}\n", "f")


def test_json_file_with_camel_case_and_same_keys(tmp_path):
    p = tmp_path / "client.json"
    p.write_text(json.dumps({"endpoint": ENDPOINT, "tenantId": TENANT, "clientId": APP, "clientSecret": "s",
                             "scope": "https://hib.azurehdinsight.net/.default", "subscriptionId": "ignored",
                             "AZURE_AUTHORITY_HOST": "https://127.0.0.1:9"}))
    cfg = cc.load(p, environ={})
    assert (cfg.endpoint, cfg.tenant_id, cfg.client_id, cfg.client_secret) == (ENDPOINT, TENANT, APP, "s")
    assert cfg.authority_host == "https://127.0.0.1:9" and cfg.credential_kind == "client-secret"


def test_json_file_errors(tmp_path):
    p = tmp_path / "c.json"
    p.write_text("{nope")
    with pytest.raises(ValidationError, match="is not valid JSON"):
        cc.load(p, environ={})
    p.write_text(json.dumps({"clientId": ["x"]}))
    with pytest.raises(ValidationError, match="'clientId'.*must be a string"):
        cc.load(p, environ={})


def test_missing_file_and_missing_endpoint(tmp_path):
    with pytest.raises(ValidationError, match="--config: cannot read"):
        cc.load(tmp_path / "absent.env", environ={})
    with pytest.raises(ValidationError) as info:
        cc.load(environ={})
    assert info.value.field == "KAFKAREST_ENDPOINT" and "--config" in str(info.value)


def test_precedence_flags_then_file_then_environment(tmp_path):
    p = tmp_path / "c.env"
    p.write_text(f"KAFKAREST_ENDPOINT=https://file-kafkarest.azurehdinsight.net\nAZURE_TENANT_ID={TENANT}\n")
    env = {"KAFKAREST_ENDPOINT": "https://env-kafkarest.azurehdinsight.net", "AZURE_TENANT_ID": OTHER,
           "KAFKAREST_SCOPE": "https://example.org/.default"}
    cfg = cc.load(p, environ=env)
    assert cfg.endpoint == "https://file-kafkarest.azurehdinsight.net" and cfg.tenant_id == TENANT
    assert cfg.scope == "https://example.org/.default"
    assert cfg.sources["KAFKAREST_ENDPOINT"] == f"file {p}" and cfg.sources["KAFKAREST_SCOPE"] == "environment"
    cfg = cc.load(p, {"KAFKAREST_ENDPOINT": "https://flag-kafkarest.azurehdinsight.net"}, environ=env)
    assert cfg.endpoint == "https://flag-kafkarest.azurehdinsight.net" and cfg.sources["KAFKAREST_ENDPOINT"] == "flag"


def test_a_secret_only_pairs_with_its_own_client_id(tmp_path):
    """The emulator operator's secret in the environment must not be paired with the file's client app."""
    env = {"AZURE_CLIENT_ID": OTHER, "AZURE_CLIENT_SECRET": "operator-secret", "AZURE_TENANT_ID": TENANT}
    p = tmp_path / "c.env"
    p.write_text(f"KAFKAREST_ENDPOINT={ENDPOINT}\nAZURE_CLIENT_ID={APP}\nAZURE_CLIENT_SECRET=app-secret\n")
    cfg = cc.load(p, environ=env)
    assert (cfg.client_id, cfg.client_secret, cfg.sources["AZURE_CLIENT_SECRET"]) == (APP, "app-secret", f"file {p}")
    # a file naming the app without a secret (`provision endpoint --format dotenv`): the environment's secret is
    # another app's: a mix-up, said as such
    p.write_text(f"KAFKAREST_ENDPOINT={ENDPOINT}\nAZURE_CLIENT_ID={APP}\n")
    with pytest.raises(ValidationError, match=f"AZURE_CLIENT_SECRET: in the environment belongs to client app "
                                              f"{OTHER}, not to {APP} \\(file "):
        cc.load(p, environ=env)
    # no secret anywhere: DefaultAzureCredential (a managed or workload identity), never as the environment's app
    cfg = cc.load(p, environ={"AZURE_CLIENT_ID": OTHER, "AZURE_TENANT_ID": TENANT})
    assert (cfg.client_id, cfg.client_secret, cfg.credential_kind) == (APP, None, "default")
    assert cfg.exclude_environment_credential
    # ...but a secret exported for that app (or with no client id beside it) is used
    cfg = cc.load(p, environ={"AZURE_CLIENT_SECRET": "app-secret", "AZURE_TENANT_ID": TENANT})
    assert (cfg.client_id, cfg.client_secret, cfg.sources["AZURE_CLIENT_SECRET"]) == (APP, "app-secret",
                                                                                       "environment")
    cfg = cc.load(p, environ={**env, "AZURE_CLIENT_ID": APP})
    assert cfg.client_secret == "operator-secret" and not cfg.exclude_environment_credential
    # a file without a client id: the environment's identity
    p.write_text(f"KAFKAREST_ENDPOINT={ENDPOINT}\n")
    cfg = cc.load(p, environ=env)
    assert (cfg.client_id, cfg.client_secret) == (OTHER, "operator-secret")
    # --client-id beats the file and the environment; the environment's secret is not that app's
    with pytest.raises(ValidationError, match="AZURE_CLIENT_SECRET: .* not to .* \\(flag\\)"):
        cc.load(p, {"AZURE_CLIENT_ID": APP}, environ=env)
    cfg = cc.load(p, {"AZURE_CLIENT_ID": APP}, environ={"AZURE_CLIENT_SECRET": "s", "AZURE_TENANT_ID": TENANT})
    assert (cfg.client_id, cfg.client_secret) == (APP, "s")
    p.write_text(f"KAFKAREST_ENDPOINT={ENDPOINT}\nAZURE_CLIENT_SECRET=orphan\n")
    with pytest.raises(ValidationError, match="AZURE_CLIENT_SECRET: is set in .* without AZURE_CLIENT_ID"):
        cc.load(p, environ=env)


def test_the_credential_comes_whole_from_one_place(tmp_path):
    pem = tmp_path / "c.pem"
    pem.write_text("x")
    p = tmp_path / "c.env"
    p.write_text(f"KAFKAREST_ENDPOINT={ENDPOINT}\nAZURE_CLIENT_ID={APP}\nAZURE_CLIENT_CERTIFICATE_PATH={pem}\n")
    cfg = cc.load(p, environ={"AZURE_CLIENT_SECRET": "env-secret", "AZURE_TENANT_ID": TENANT})
    assert (cfg.credential_kind, cfg.client_secret, cfg.certificate_path) == ("certificate", None, str(pem))


@pytest.mark.parametrize("values,field", [
    ({"AZURE_CLIENT_ID": "not-a-guid", "AZURE_CLIENT_SECRET": "s", "AZURE_TENANT_ID": TENANT}, "AZURE_CLIENT_ID"),
    ({"AZURE_CLIENT_ID": APP, "AZURE_CLIENT_SECRET": "s"}, "AZURE_TENANT_ID"),
    ({"AZURE_CLIENT_SECRET": "s", "AZURE_TENANT_ID": TENANT}, "AZURE_CLIENT_ID"),
    ({"AZURE_TENANT_ID": "bad tenant!"}, "AZURE_TENANT_ID"),
    ({"AZURE_CLIENT_ID": APP, "AZURE_TENANT_ID": TENANT, "AZURE_CLIENT_CERTIFICATE_PATH": "/nope.pem"},
     "AZURE_CLIENT_CERTIFICATE_PATH"),
    ({"PROVISION_CA_BUNDLE": "/nope/ca.pem"}, "PROVISION_CA_BUNDLE"),
    ({"REQUESTS_CA_BUNDLE": "/nope/ca.pem"}, "REQUESTS_CA_BUNDLE"),
    ({"KAFKAREST_SCOPE": "https://hib.azurehdinsight.net"}, "KAFKAREST_SCOPE"),
    ({"AZURE_AUTHORITY_HOST": "http://login.example"}, "AZURE_AUTHORITY_HOST"),
    ({"KAFKAREST_ENDPOINT": "http://c1-kafkarest.azurehdinsight.net"}, "KAFKAREST_ENDPOINT"),
])
def test_validation_names_the_field(values, field):
    env = {"KAFKAREST_ENDPOINT": ENDPOINT, **values}
    with pytest.raises(ValidationError) as info:
        cc.load(environ=env)
    assert info.value.field == field and info.value.fix
    assert "s\"" not in str(info.value)


def test_workload_identity_token_file(tmp_path):
    token = tmp_path / "token"
    token.write_text("jwt")
    p = tmp_path / "c.json"
    p.write_text(json.dumps({"endpoint": ENDPOINT, "tenantId": TENANT, "clientId": APP,
                             "AZURE_FEDERATED_TOKEN_FILE": "token"}))
    cfg = cc.load(p, environ={"AZURE_CLIENT_SECRET": "another-apps", "AZURE_CLIENT_ID": OTHER})
    assert (cfg.credential_kind, cfg.federated_token_file) == ("workload-identity", str(token))
    assert cfg.public()["credential"] == f"federated token {token}"
    token.unlink()
    with pytest.raises(ValidationError, match="AZURE_FEDERATED_TOKEN_FILE: .* is not a file"):
        cc.load(p, environ={})
    # a secret wins over a token file, as in azure-identity's EnvironmentCredential
    env = {"KAFKAREST_ENDPOINT": ENDPOINT, "AZURE_TENANT_ID": TENANT, "AZURE_CLIENT_ID": APP,
           "AZURE_CLIENT_SECRET": "s", "AZURE_FEDERATED_TOKEN_FILE": "/nonexistent"}
    cfg = cc.load(environ=env)
    assert (cfg.credential_kind, cfg.federated_token_file) == ("client-secret", None)


def test_relative_paths_resolve_against_the_file(tmp_path):
    (tmp_path / "ca.pem").write_text("x")
    (tmp_path / "conf").mkdir()
    p = tmp_path / "conf" / "c.env"
    p.write_text(f"KAFKAREST_ENDPOINT={ENDPOINT}\nPROVISION_CA_BUNDLE=../ca.pem\n")
    assert cc.load(p, environ={}).ca_bundle == str(tmp_path / "ca.pem")


def test_ca_preference_and_authority_forms(tmp_path):
    a, b = tmp_path / "a.pem", tmp_path / "b.pem"
    a.write_text("a")
    b.write_text("b")
    env = {"KAFKAREST_ENDPOINT": ENDPOINT, "PROVISION_CA_BUNDLE": str(a), "REQUESTS_CA_BUNDLE": str(b)}
    assert cc.load(environ=env).ca_bundle == str(a)
    cfg = cc.load(environ={**env, "AZURE_AUTHORITY_HOST": "login.microsoftonline.us"})
    assert cfg.authority_host == "https://login.microsoftonline.us" and cfg.instance_discovery
    assert "disable_instance_discovery" not in cfg.credential_kwargs()
    cfg = cc.load(environ={**env, "AZURE_AUTHORITY_HOST": "https://127.0.0.1:8443/"})
    assert cfg.authority_host == "https://127.0.0.1:8443" and not cfg.instance_discovery
    assert cfg.credential_kwargs() == {"authority": "https://127.0.0.1:8443", "disable_instance_discovery": True,
                                       "connection_verify": str(a)}
    assert cc.load(environ={"KAFKAREST_ENDPOINT": ENDPOINT}).instance_discovery


def test_secrets_never_shown():
    env = {"KAFKAREST_ENDPOINT": ENDPOINT, "AZURE_TENANT_ID": TENANT, "AZURE_CLIENT_ID": APP,
           "AZURE_CLIENT_SECRET": "TOPSECRET-value", "AZURE_CLIENT_CERTIFICATE_PASSWORD": "PW-value"}
    cfg = cc.load(environ=env)
    assert "TOPSECRET" not in repr(cfg) and "PW-value" not in repr(cfg)
    assert "TOPSECRET" not in json.dumps(cfg.public()) and cfg.public()["credential"] == "client secret"


def test_credentials_built(tmp_path):
    from azure.identity import CertificateCredential, ClientSecretCredential, DefaultAzureCredential

    base = {"KAFKAREST_ENDPOINT": ENDPOINT, "AZURE_TENANT_ID": TENANT, "AZURE_AUTHORITY_HOST": "https://127.0.0.1:1"}
    cred = cc.load(environ={**base, "AZURE_CLIENT_ID": APP, "AZURE_CLIENT_SECRET": "s"}).build_credential()
    assert isinstance(cred, ClientSecretCredential)
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    import datetime as dt

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "client")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now).not_valid_after(now + dt.timedelta(days=1))
            .sign(key, hashes.SHA256()))
    pem = tmp_path / "client.pem"
    pem.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()) + cert.public_bytes(serialization.Encoding.PEM))
    cfg = cc.load(environ={**base, "AZURE_CLIENT_ID": APP, "AZURE_CLIENT_CERTIFICATE_PATH": str(pem)})
    assert cfg.credential_kind == "certificate" and isinstance(cfg.build_credential(), CertificateCredential)
    assert isinstance(cc.load(environ=base).build_credential(), DefaultAzureCredential)
    from azure.identity import WorkloadIdentityCredential

    cfg = cc.load(environ={**base, "AZURE_CLIENT_ID": APP, "AZURE_FEDERATED_TOKEN_FILE": str(pem)})
    assert isinstance(cfg.build_credential(), WorkloadIdentityCredential)
