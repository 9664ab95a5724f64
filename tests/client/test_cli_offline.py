"""`provision kafka` input handling that needs no server: exit code 2 with one line naming the field."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from provision import clientconfig
from provision.cli import cli
from provision.cli.kafka import parse_record_text
from provision.kafkarest import ProducerRecord

ROOT = Path(__file__).resolve().parents[2]
# Validation happens before any token or request, so no server has to listen here.
NOWHERE = ["--endpoint", "https://127.0.0.1:9/kafkarest/none"]


@pytest.fixture(autouse=True)
def _no_ambient_config(monkeypatch):
    for key in clientconfig.KEYS:
        monkeypatch.delenv(key, raising=False)


def run(*args, input=None):
    return CliRunner().invoke(cli, list(args), input=input)


def assert_usage_error(result, *fragments):
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    for fragment in fragments:
        assert fragment in lines[0]


def test_no_endpoint_is_a_usage_error():
    assert_usage_error(run("kafka", "topics", "list"), "KAFKAREST_ENDPOINT: is not set", "--config")
    assert_usage_error(run("smoke"), "KAFKAREST_ENDPOINT")


def test_bad_config_file(tmp_path):
    assert_usage_error(run("kafka", "status", "--config", str(tmp_path / "nope.env")), "--config: cannot read")
    bad = tmp_path / "bad.env"
    bad.write_text("KAFKAREST_ENDPOINT=https://x\nthis is not a setting\n")
    assert_usage_error(run("kafka", "--config", str(bad), "brokers"), "line 2", "KEY=value")


@pytest.mark.parametrize("args,fragments", [
    (["consume", "bad topic!"], ["topic", "not a valid Kafka topic name"]),
    (["consume", "t", "--offset", "soon"], ["--offset", "earliest or latest"]),
    (["produce", "t", "hello"], ["value 1", "is not JSON", "--format text"]),
    (["produce", "t", "--file", "/nonexistent/file.jsonl"], ["--file", "cannot read"]),
    (["topics", "create", "t", "--topic-config", "retention.ms"], ["--topic-config", "KEY=VALUE"]),
    (["partitions", "a/b"], ["topic"]),
])
def test_bad_input_is_exit_2(args, fragments):
    assert_usage_error(run("kafka", *args, *NOWHERE), *fragments)


def test_bad_jsonl_names_the_line(tmp_path):
    f = tmp_path / "in.jsonl"
    f.write_text('{"a": 1}\n\nnot json\n')
    assert_usage_error(run("kafka", "produce", "t", "--file", str(f), *NOWHERE), "line 3", "not a JSON value")
    assert_usage_error(run("kafka", "produce", "t", *NOWHERE, input=""), "records: none given")


def test_record_documents():
    assert parse_record_text('[1, "a", {"b": [2]}]', "auto", "x") == [1, "a", {"b": [2]}]
    assert parse_record_text('[1, 2]', "jsonl", "x") == [[1, 2]]  # one line of JSONL is one (list) value
    assert parse_record_text('{"a": 1}\n[2]\n"s"\n', "auto", "x") == [{"a": 1}, [2], "s"]
    assert parse_record_text('{"a": 1}', "auto", "x") == [{"a": 1}]
    assert parse_record_text("one\n two \n\n", "text", "x") == ["one", " two "]
    body = {"records": [{"value": 5, "partition": 0}, {"key": "k1", "value": "v"}]}
    assert parse_record_text(json.dumps(body), "json", "x") == [ProducerRecord(5, None, 0), ProducerRecord("v", "k1")]


def test_provision_help_imports_no_sdk():
    """`provision --help` must stay fast: the CLI modules import azure/requests only inside commands."""
    code = ("import sys, provision.cli, provision.cli.kafka, provision.cli.smoke, provision.clientconfig; "
            "print(sorted({m.split('.')[0] for m in sys.modules if m.split('.')[0] in "
            "('azure', 'requests', 'msal', 'urllib3', 'msgraph')}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "[]"


def test_example_script_is_standalone():
    tree = ast.parse((ROOT / "scripts" / "example_client.py").read_text())
    imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
                for alias in node.names}
    imported |= {node.module.split(".")[0] for node in ast.walk(tree)
                 if isinstance(node, ast.ImportFrom) and node.module}
    assert "provision" not in imported and {"azure", "requests"} <= imported
