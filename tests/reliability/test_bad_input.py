"""Bad input on every surface — spec file, flags, env vars, client lists, produce payloads, client configs — is
refused before anything is written: exit 2, one line on stderr naming the cause, no traceback, and not one write in
the emulator's request log. The CLI runs in-process with click's CliRunner, against the session emulator."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field

import pytest
from click.testing import CliRunner

from provision.cli import cli

TENANT, CLIENT = str(uuid.uuid4()), str(uuid.uuid4())
CLIENT_ENV = (f"KAFKAREST_ENDPOINT=https://127.0.0.1:9/kafkarest/demo\nAZURE_TENANT_ID={TENANT}\n"
              f"AZURE_CLIENT_ID={CLIENT}\nAZURE_CLIENT_SECRET=not-used\n")


@dataclass
class Bad:
    args: list[str]
    expect: str  # a fragment the one line must contain: the field or file it names
    env: dict[str, str] = field(default_factory=dict)
    files: dict[str, str | bytes] = field(default_factory=dict)
    stdin: bytes | None = None
    unset: tuple[str, ...] = ()  # variables of the `env` fixture this case must not have (env beats the file)


def toml(text: str | bytes, expect: str) -> Bad:
    return Bad(["up", "--config", "spec.toml"], expect, files={"spec.toml": text})


def up(*flags: str, expect: str) -> Bad:
    return Bad(["up", *flags], expect)


def envvar(name: str, value: str, expect: str | None = None) -> Bad:
    return Bad(["up"], expect or name, env={name: value})


def clients(text: str | bytes, expect: str, name: str = "clients.csv") -> Bad:
    return Bad(["access", "grant", "--from", name], expect, files={name: text})


def payload(text: str | bytes, expect: str, *extra: str, name: str = "records.json") -> Bad:
    return Bad(["kafka", "produce", "--config", "client.env", "orders", "--file", name, *extra], expect,
               files={name: text, "client.env": CLIENT_ENV})


def client_config(text: str | bytes, expect: str, name: str = "bad.env") -> Bad:
    return Bad(["kafka", "topics", "list", "--config", name], expect, files={name: text})


LONG = "x" * 1000
CASES = {
    # -- the spec file ---------------------------------------------------------------------------------------------
    "toml-not-utf8": toml(b'name = "caf\xe9"\n', "not UTF-8"),
    "toml-syntax": toml("name = \n", "not valid TOML"),
    "toml-unknown-key": toml("[cluster]\nnmae = 'x'\n", "cluster.nmae"),
    "toml-password": toml("[cluster]\ngateway_password = 'x'\n", "secrets are not read"),
    "toml-float-workers": toml("[cluster]\nworker_count = 3.7\n", "cluster.worker_count"),
    "toml-string-workers": toml("[cluster]\nworker_count = 'three'\n", "cluster.worker_count"),
    "toml-zero-workers": toml("[cluster]\nworker_count = 0\n", "cluster.worker_count"),
    "toml-too-many-workers": toml("[cluster]\nworker_count = 101\n", "cluster.worker_count"),
    "toml-disks": toml("[cluster]\ndisks_per_worker = 9\n", "cluster.disks_per_worker"),
    "toml-empty-location": toml("location = ''\n", "location"),
    "toml-unknown-location": toml("location = 'mars'\n", "location"),
    "toml-empty-name": Bad(["up", "--config", "spec.toml"], "name: is empty", files={"spec.toml": "name = ''\n"},
                           unset=("PROVISION_NAME",)),
    "toml-bad-name": Bad(["up", "--config", "spec.toml"], "name", files={"spec.toml": "name = 'Bad_Name'\n"},
                         unset=("PROVISION_NAME",)),
    "toml-empty-address-space": toml("[network]\naddress_space = ''\n", "network.address_space"),
    "toml-host-bits": toml("[network]\naddress_space = '10.10.0.1/16'\n", "network.address_space"),
    "toml-subnet-outside": toml("[network]\nsubnet_prefix = '10.20.0.0/24'\n", "network.subnet_prefix"),
    "toml-ipv6-subnet-in-ipv4": toml("[network]\nsubnet_prefix = '2001:db8::/64'\n", "IPv6"),
    "toml-vnet-slash": toml("[network]\nvnet_name = 'a/b'\n", "network.vnet_name"),
    "toml-vnet-one-char": toml("[network]\nvnet_name = 'v'\n", "network.vnet_name"),
    "toml-subnet-name": toml("[network]\nsubnet_name = 'bad name!'\n", "network.subnet_name"),
    "toml-nsg-name": toml("[network]\nnsg_name = 'nsg#1'\n", "network.nsg_name"),
    "toml-nsg-trailing-dot": toml("[network]\nnsg_name = 'nsg.'\n", "network.nsg_name"),
    "toml-app-name-long": toml(f"[app]\nname = '{LONG}'\n", "app.name"),
    "toml-group-name-long": toml(f"[group]\nname = '{'g' * 300}'\n", "group.name"),
    "toml-vm-size": toml("[cluster]\nworker_vm_size = 'huge'\n", "cluster.worker_vm_size"),
    "toml-cluster-name": toml("[cluster]\nname = '-bad-'\n", "cluster.name"),
    "toml-storage-name": toml("[storage]\naccount = 'Has_Upper'\n", "storage.account"),
    "toml-container": toml("[storage]\ncontainer = 'bad--container'\n", "storage.container"),
    "toml-kafka-version": toml("[cluster]\nkafka_version = '9.9'\n", "cluster.kafka_version"),
    "toml-cluster-version": toml("[cluster]\nversion = '3.6'\n", "cluster.version"),
    "toml-reserved-ssh-user": toml("[cluster]\nssh_username = 'root'\n", "cluster.ssh_username"),
    "toml-same-users": toml("[cluster]\nssh_username = 'admin'\n", "cluster.ssh_username"),
    "toml-tag-value": toml("[tags]\nowner = 1\n", "tags.owner"),
    "toml-client-cidr": toml("[network]\nclient_cidrs = ['not-a-cidr']\n", "network.client_cidrs"),
    "toml-subnet-id": toml("[network]\nsubnet_id = '/subscriptions/x/nope'\n", "network.subnet_id"),
    "toml-tenant": toml("tenant = 'not-a-guid'\n", "tenant"),
    "toml-cloud": Bad(["up", "--config", "spec.toml"], "cloud", files={"spec.toml": "cloud = 'mars'\n"},
                      unset=("PROVISION_CLOUD",)),
    "toml-mail-nickname": toml("[group]\nmail_nickname = 'bad nick'\n", "group.mail_nickname"),
    "toml-credential-days": toml("[app]\ncredential_days = 0\n", "app.credential_days"),
    "toml-missing-file": Bad(["up", "--config", "nowhere.toml"], "does not exist"),
    # -- flags -----------------------------------------------------------------------------------------------------
    "flag-empty-location": up("--location", "", expect="location"),
    "flag-float-workers": up("--cluster-worker-count", "3.7", expect="cluster.worker_count"),
    "flag-word-disks": up("--cluster-disks-per-worker", "two", expect="cluster.disks_per_worker"),
    "flag-output-yaml": up("--output", "yaml", expect="--output"),
    "kafka-output-xml": Bad(["kafka", "topics", "list", "--output", "xml"], "--output"),
    "emulator-env-output-yaml": Bad(["emulator", "status"], "PROVISION_OUTPUT", env={"PROVISION_OUTPUT": "yaml"}),
    "flag-location-upper": up("--location", "EastUS", expect="location"),
    "flag-vnet-name": up("--network-vnet-name", "bad/vnet", expect="network.vnet_name"),
    "flag-subnet-name": up("--network-subnet-name", "-lead", expect="network.subnet_name"),
    "flag-resource-group": up("--resource-group", "bad/rg", expect="resource_group"),
    "flag-client-cidrs": up("--network-client-cidrs", "300.1.1.1/8", expect="network.client_cidrs"),
    "flag-tags": up("--tags", "novalue", expect="tags"),
    "flag-cluster-version": up("--cluster-version", "9.9", expect="cluster.version"),
    "flag-app-name-control": up("--app-name", "bad\tname", expect="app.name"),
    "flag-group-name-long": up("--group-name", "g" * 257, expect="group.name"),
    "flag-head-vm-size": up("--cluster-head-vm-size", "Standard D3", expect="cluster.head_vm_size"),
    "flag-empty-name": up("--name", "", expect="name: is empty"),
    # -- environment variables -------------------------------------------------------------------------------------
    "env-float-workers": envvar("PROVISION_CLUSTER_WORKER_COUNT", "3.7", "cluster.worker_count"),
    "env-location": envvar("PROVISION_LOCATION", "mars", "location"),
    "env-output-yaml": envvar("PROVISION_OUTPUT", "yaml"),
    "env-consistency-timeout": envvar("PROVISION_CONSISTENCY_TIMEOUT", "abc"),
    "env-consistency-timeout-nan": envvar("PROVISION_CONSISTENCY_TIMEOUT", "nan"),
    "env-polling-interval": envvar("PROVISION_POLLING_INTERVAL", "-1"),
    "env-gateway-password": envvar("PROVISION_GATEWAY_PASSWORD", "short", "gateway_password"),
    "env-cloud": envvar("PROVISION_CLOUD", "mars", "cloud"),
    "env-ipv6-space": envvar("PROVISION_NETWORK_ADDRESS_SPACE", "fd00::/48", "IPv4"),
    "env-tags": envvar("PROVISION_TAGS", "a", "tags"),
    "env-disks": envvar("PROVISION_CLUSTER_DISKS_PER_WORKER", "abc", "cluster.disks_per_worker"),
    "env-nsg-name": envvar("PROVISION_NETWORK_NSG_NAME", "nsg#1", "network.nsg_name"),
    "env-app-name-long": envvar("PROVISION_APP_NAME", "a" * 130, "app.name"),
    "env-subscription-local": envvar("PROVISION_SUBSCRIPTION", str(uuid.uuid4()), "subscription"),
    "env-state-dir-is-file": Bad(["up"], "PROVISION_STATE_DIR", env={"PROVISION_STATE_DIR": "{tmp}/afile"},
                                 files={"afile": "not a directory"}),
    # -- client lists (access grant --from) ------------------------------------------------------------------------
    "csv-not-utf8": clients(b"name\ncaf\xe9\n", "not UTF-8"),
    "json-app-id-number": clients(json.dumps([{"name": "a", "app_id": 123}]), "app_id", "c.json"),
    "json-sp-object-id-object": clients(json.dumps([{"name": "a", "sp_object_id": {"id": "x"}}]),
                                        "sp_object_id", "c.json"),
    "json-federated-subject-number": clients(json.dumps([{"name": "a", "credential": "federated",
                                                          "federated_subject": 5}]), "federated_subject", "c.json"),
    "json-name-number": clients(json.dumps([{"name": 7}]), "name", "c.json"),
    "csv-no-name-column": clients("client\norders\n", "'name' column"),
    "csv-extra-field": clients("name\norders,extra\n", "more fields"),
    "json-not-a-list": clients(json.dumps({"name": "a"}), "JSON list", "c.json"),
    "json-invalid": clients("[{\"name\": }]", "not valid JSON", "c.json"),
    "csv-bad-client-name": clients("name\nbad name\n", "name"),
    "csv-bad-credential": clients("name,credential\na,password\n", "credential"),
    "csv-duplicate": clients("name\na\na\n", "appears twice"),
    "csv-app-id-not-guid": clients("name,app_id\na,123\n", "app_id"),
    "csv-federated-without-subject": clients("name,credential\na,federated\n", "federated_subject"),
    "csv-no-clients": clients("name\n", "lists no clients"),
    "csv-unknown-key": clients("name,colour\na,red\n", "unknown key"),
    "clients-missing-file": Bad(["access", "grant", "--from", "nowhere.csv"], "cannot read"),
    # -- produce payloads (kafka produce) --------------------------------------------------------------------------
    "payload-not-utf8": payload(b'["caf\xe9"]', "not UTF-8"),
    "payload-bad-json": payload("[1, 2,", "not a JSON document", "--format", "json"),
    "payload-bad-jsonl": payload('{"a": 1}\n{"b": \n', "line 2", name="records.jsonl"),
    "payload-record-without-value": payload(json.dumps({"records": [{"key": "k"}]}), "value"),
    "payload-empty": payload("", "records"),
    "payload-stdin-not-utf8": Bad(["kafka", "produce", "--config", "client.env", "orders", "--file", "-"],
                                  "not UTF-8", files={"client.env": CLIENT_ENV}, stdin=b'["\xff"]'),
    "payload-argument-not-json": Bad(["kafka", "produce", "--config", "client.env", "orders", "not-json"],
                                     "is not JSON", files={"client.env": CLIENT_ENV}),
    "payload-missing-file": Bad(["kafka", "produce", "--config", "client.env", "orders", "--file", "nowhere.json"],
                                "cannot read", files={"client.env": CLIENT_ENV}),
    # -- client configs (kafka --config) ---------------------------------------------------------------------------
    "config-not-utf8": client_config(b"KAFKAREST_ENDPOINT=https://h\xe9/\n", "not UTF-8"),
    "config-json-invalid": client_config("{\"KAFKAREST_ENDPOINT\": ", "not valid JSON", "bad.json"),
    "config-json-not-object": client_config("[1]", "not a JSON object", "bad.json"),
    "config-json-number": client_config(json.dumps({"KAFKAREST_ENDPOINT": 5}), "KAFKAREST_ENDPOINT", "bad.json"),
    "config-line-without-equals": client_config("KAFKAREST_ENDPOINT\n", "KEY=value"),
    "config-unterminated-quote": client_config('AZURE_CLIENT_SECRET="abc\n', "quote"),
    "config-no-endpoint": client_config(CLIENT_ENV.split("\n", 1)[1], "KAFKAREST_ENDPOINT"),
    "config-client-id": client_config(CLIENT_ENV.replace(CLIENT, "not-a-guid"), "AZURE_CLIENT_ID"),
    "config-tenant": client_config(CLIENT_ENV.replace(TENANT, "bad tenant!"), "AZURE_TENANT_ID"),
    "config-certificate-missing": client_config(
        CLIENT_ENV.replace("AZURE_CLIENT_SECRET=not-used", "AZURE_CLIENT_CERTIFICATE_PATH=/nonexistent/c.pem"),
        "AZURE_CLIENT_CERTIFICATE_PATH"),
    "config-scope": client_config(CLIENT_ENV + "KAFKAREST_SCOPE=https://hib.azurehdinsight.net\n", "KAFKAREST_SCOPE"),
    "config-missing-file": Bad(["kafka", "topics", "list", "--config", "gone.env"], "cannot read"),
}


def test_the_table_is_large_enough():
    surfaces = {k.split("-")[0] for k in CASES}
    assert len(CASES) >= 60 and {"toml", "flag", "env", "csv", "json", "payload", "config"} <= surfaces


@pytest.mark.parametrize("case", list(CASES.values()), ids=list(CASES))
def test_bad_input_is_one_line_exit_2_and_no_write(env, admin, tmp_path, monkeypatch, case):
    for name, content in case.files.items():
        (tmp_path / name).write_bytes(content if isinstance(content, bytes) else content.encode())
    for k, v in case.env.items():
        monkeypatch.setenv(k, v.replace("{tmp}", str(tmp_path)))
    for k in case.unset:
        monkeypatch.delenv(k)
    seq = admin.last_seq()
    result = CliRunner().invoke(cli, case.args, input=case.stdin)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.exit_code == 2, (result.exit_code, result.output, result.exception)
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    assert case.expect in lines[0], lines[0]
    assert "Traceback" not in result.output
    writes = [e for e in admin.requests(seq) if e["write"] and e["family"] in ("graph", "arm", "kafkarest")]
    assert writes == [], writes


def test_csv_with_a_byte_order_mark_is_read(tmp_path):
    """Excel's "CSV UTF-8" starts with a BOM: the header is still `name`."""
    from provision.access import parse_bulk

    path = tmp_path / "clients.csv"
    path.write_bytes("\ufeffname,credential\norders,secret\nbilling,none\n".encode("utf-8"))
    assert [(r.name, r.credential) for r in parse_bulk(path)] == [("orders", "secret"), ("billing", "none")]


def test_spec_file_with_a_byte_order_mark_is_read(tmp_path):
    from provision import spec

    path = tmp_path / "provision.toml"
    path.write_bytes("\ufeffname = 'bom-env'\n".encode("utf-8"))
    assert spec.resolve(path, env={}).values["name"] == "bom-env"


def test_output_and_state_dir_helpers(tmp_path):
    from provision.cli.options import check_state_dir, output_mode
    from provision.errors import InvalidInput

    assert output_mode(None) == "text" and output_mode("JSON") == "json"
    with pytest.raises(InvalidInput, match="PROVISION_OUTPUT: 'yaml' is not one of text, json"):
        output_mode("yaml")
    (tmp_path / "f").write_text("x")
    assert check_state_dir(tmp_path / "new" / "state") == tmp_path / "new" / "state"
    with pytest.raises(InvalidInput, match="is a file, not a directory"):
        check_state_dir(tmp_path / "f" / "env")


def test_a_failed_token_is_one_line_with_quiet_sdk_logging(emulator):
    """azure-identity logs a multi-line warning on stderr (Python's last-resort handler) before raising; after
    quiet_sdk_logging() only the raised error is left, for the command to print as its one line. Run in a fresh
    interpreter: pytest's own log capture would hide the difference."""
    import subprocess
    import sys

    script = (
        "import sys\n"
        "from azure.core.exceptions import ClientAuthenticationError\n"
        "from azure.identity import ClientSecretCredential\n"
        "from provision.cli.options import quiet_sdk_logging\n"
        "if sys.argv[1] == 'quiet':\n"
        "    quiet_sdk_logging()\n"
        "cred = ClientSecretCredential(*sys.argv[2:5], authority=sys.argv[5], disable_instance_discovery=True,\n"
        "                              connection_verify=sys.argv[6])\n"
        "try:\n"
        "    cred.get_token('https://management.azure.com/.default')\n"
        "except ClientAuthenticationError as e:\n"
        "    print('Error: ' + str(e).splitlines()[0], file=sys.stderr)\n"
    )

    def stderr(mode: str) -> list[str]:
        args = [sys.executable, "-c", script, mode, emulator.tenant_id, emulator.client_id, "wrong-secret",
                emulator.authority, str(emulator.ca_cert)]
        out = subprocess.run(args, capture_output=True, text=True, timeout=60)
        return [line for line in out.stderr.splitlines() if line.strip()]

    assert len(stderr("loud")) > 1  # the SDK's warning, then our line
    quiet = stderr("quiet")
    assert len(quiet) == 1 and quiet[0].startswith("Error: "), quiet


def test_produce_to_a_missing_partition_names_it(env, admin):
    """The proxy's 404 does not say whether the topic or the partition is missing: the CLI asks and names it."""
    import time
    from pathlib import Path

    runner = CliRunner()
    assert runner.invoke(cli, ["up", "--output", "json"]).exit_code == 0
    assert runner.invoke(cli, ["access", "grant", "orders"]).exit_code == 0
    config = str(next(Path(env["PROVISION_STATE_DIR"]).rglob("orders.env")))
    deadline = time.monotonic() + 60  # the new membership reaches the proxy within its propagation bound
    while runner.invoke(cli, ["kafka", "topics", "list", "--config", config]).exit_code != 0:
        assert time.monotonic() < deadline, "membership never reached the REST proxy"
        time.sleep(0.2)  # poll interval of the condition above
    created = runner.invoke(cli, ["kafka", "topics", "create", "events", "--partitions", "2", "--config", config])
    assert created.exit_code == 0, created.output

    seq = admin.last_seq()
    result = runner.invoke(cli, ["kafka", "produce", "events", "1", "--partition", "5", "--config", config])
    assert result.exit_code == 2, result.output
    assert result.stderr.strip().splitlines() == [
        "Error: --partition: partition 5 of topic 'events' does not exist (the topic has partitions 0–1); pick one "
        "of them; see `provision kafka partitions events`"]
    assert [e for e in admin.requests(seq) if e["family"] == "kafkarest" and e["method"] == "POST"] == []
    ok = runner.invoke(cli, ["kafka", "produce", "events", "1", "--partition", "1", "--config", config])
    assert ok.exit_code == 0, ok.output


def test_every_name_the_tool_sends_follows_azure_rules():
    """Names the tool makes up itself (security rules, derived names) pass the same rules as the user's."""
    from provision import spec
    from provision.resources.network import desired_rules_for

    s = spec.resolve(None, {"name": "a" * 22, "network_client_cidrs": "203.0.113.0/24"}, env={})
    for rule in desired_rules_for(s.values):
        spec.SECURITY_RULE_NAME("security rule", rule.name)
    for key in ("network.vnet_name", "network.nsg_name", "network.subnet_name", "cluster.name", "storage.account",
                "storage.container", "app.name", "group.name", "resource_group"):
        spec.FIELDS_BY_KEY[key].check(key, s.values[key])
    with pytest.raises(spec.SpecError, match="security rule"):
        spec.SECURITY_RULE_NAME("security rule", "rule#1")
