"""`provision kafka …`, `provision smoke` and scripts/example_client.py against the emulator's REST proxy."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from provision import clientconfig
from provision.cli import cli

ROOT = Path(__file__).resolve().parents[2]
STEPS = ["token", "create-topic", "produce", "consume", "partitions", "delete-topic"]


@pytest.fixture(autouse=True)
def _no_ambient_config(monkeypatch):
    """Only the config file speaks: no AZURE_* or KAFKAREST_* from the shell running the tests."""
    for key in clientconfig.KEYS:
        monkeypatch.delenv(key, raising=False)


def run(*args, input=None, ok=True):
    result = CliRunner().invoke(cli, [str(a) for a in args], input=input)
    if ok:
        assert result.exit_code == 0, (result.output, result.exception)
    return result


def one_error_line(result, code=1) -> str:
    assert result.exit_code == code, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    return lines[0]


def test_topics_produce_consume_partitions(member_config, topic, tmp_path):
    cfg = ["--config", member_config]
    assert run("kafka", "status", *cfg).output.strip().endswith("{\"status\": \"running\"}")
    out = run("kafka", "topics", "create", topic, "--partitions", "2", "--topic-config", "retention.ms=3600000",
              *cfg, "-o", "json").output
    assert json.loads(out) == {"topic": topic, "created": True, "visible": True}
    assert topic in run("kafka", "topics", "list", *cfg).output.split()
    assert topic in json.loads(run("kafka", "--config", member_config, "topics", "list", "-o", "json").output)["topics"]

    # arguments are JSON values
    out = run("kafka", "produce", topic, '"**********"', "5", "3.14", '{"id": 1}', "--key", "key1",
              "--partition", "0", *cfg).output
    assert out.strip() == f"produced 4 record(s) to {topic} in 1 request(s)"
    # a JSONL file, and the proxy's own {"records": [...]} body on stdin
    lines = tmp_path / "more.jsonl"
    lines.write_text('[{"id": 1}, {"id": 2}]\n{"nested": {"a": [true, null]}}\n')
    run("kafka", "produce", topic, "--file", lines, "--partition", "0", *cfg)
    body = {"records": [{"value": "on-1", "partition": 1}, {"value": "k", "key": "x", "partition": 1}]}
    out = run("kafka", "produce", topic, "-o", "json", *cfg, input=json.dumps(body)).output
    assert json.loads(out)["offsets"] == [{"partition": 1, "offset": 0}, {"partition": 1, "offset": 1}]

    out = run("kafka", "consume", topic, "--page-size", "2", *cfg).output
    records = [json.loads(line) for line in out.splitlines()]
    assert [r["value"] for r in records] == ["**********", 5, 3.14, {"id": 1}, [{"id": 1}, {"id": 2}],
                                              {"nested": {"a": [True, None]}}]
    assert [r["offset"] for r in records] == list(range(6)) and records[0]["key"] == "key1"
    assert set(records[0]) == {"topic", "partition", "offset", "key", "value", "timestamp", "timestampType"}
    out = run("kafka", "consume", topic, "--partition", "1", "--offset", "1", "--values-only", *cfg).output
    assert out.splitlines() == ['"k"']
    out = run("kafka", "consume", topic, "--offset", "2", "--count", "2", "--values-only", *cfg).output
    assert out.splitlines() == ["3.14", '{"id":1}']

    out = run("kafka", "partitions", topic, *cfg).output.splitlines()
    assert out[0].split() == ["PARTITION", "EARLIEST", "LATEST", "LEADER", "REPLICAS", "ISR"]
    assert [row.split()[:3] for row in out[1:]] == [["0", "0", "6"], ["1", "0", "2"]]
    one = json.loads(run("kafka", "partitions", topic, "--partition", "1", "-o", "json", *cfg).output)
    assert (one["partition_id"], one["latest_offset"]) == (1, 2) and one["leader"]["hostName"]
    brokers = json.loads(run("kafka", "brokers", "-o", "json", *cfg).output)["brokers"]
    assert len(brokers) == 3 and run("kafka", "brokers", *cfg).output.startswith("ID")

    assert run("kafka", "topics", "delete", topic, *cfg).output.strip() == f"deleted topic {topic}"
    assert topic not in run("kafka", "topics", "list", *cfg).output.split()


def test_endpoint_dotenv_with_the_secret_in_the_environment(world, tmp_path, monkeypatch):
    """What `provision endpoint --format dotenv` writes (no secret), with AZURE_CLIENT_SECRET exported for the app;
    the emulator operator's identity in the environment too must not get in the way."""
    endpoint_file = tmp_path / "kafka.env"
    endpoint_file.write_text(f"KAFKAREST_ENDPOINT={world.endpoint}\nAZURE_TENANT_ID={world.tenant_id}\n"
                             f"AZURE_CLIENT_ID={world.member.app_id}\n"
                             "KAFKAREST_SCOPE=https://hib.azurehdinsight.net/.default\n"
                             f"AZURE_AUTHORITY_HOST={world.authority}\nREQUESTS_CA_BUNDLE={world.ca_cert}\n")
    monkeypatch.setenv("AZURE_CLIENT_SECRET", world.member.secret)
    assert "running" in run("kafka", "status", "--config", endpoint_file).output
    monkeypatch.setenv("AZURE_CLIENT_ID", world.outsider.app_id)  # e.g. another app's variables are exported
    monkeypatch.setenv("AZURE_CLIENT_SECRET", world.outsider.secret)
    line = one_error_line(run("kafka", "status", "--config", endpoint_file, ok=False), code=2)
    assert line.startswith(f"Error: AZURE_CLIENT_SECRET: in the environment belongs to client app "
                           f"{world.outsider.app_id}, not to {world.member.app_id}")
    assert world.outsider.secret not in line


def test_consume_follow(member_config, world, topic):
    with world.client() as kr:
        kr.create_topic(topic)
        kr.produce(topic, ["a"])

    def later():
        time.sleep(0.5)
        with world.client() as kr:
            kr.produce(topic, ["b", "c"])

    writer = threading.Thread(target=later)
    writer.start()
    out = run("kafka", "consume", topic, "--follow", "--count", "3", "--poll-interval", "0.1", "--values-only",
              "--config", member_config).output
    writer.join()
    assert out.splitlines() == ['"a"', '"b"', '"c"']


def test_cli_errors_are_one_line_with_exit_1(member_config, outsider_config, world, topic):
    line = one_error_line(run("kafka", "consume", "missing-topic", "--config", member_config, ok=False))
    assert "Topic 'missing-topic' not found" in line and "provision kafka topics list" in line
    line = one_error_line(run("kafka", "topics", "list", "--config", outsider_config, ok=False))
    assert "Access denied" in line and f"provision access grant {world.outsider.name}" in line
    line = one_error_line(run("kafka", "status", "--config", member_config, "--scope",
                              "https://management.azure.com/.default", ok=False))
    assert "rejected the access token (401" in line and "https://hib.azurehdinsight.net/.default" in line
    bad_secret = world.write_config(member_config.parent / "bad.env")
    bad_secret.write_text(bad_secret.read_text().replace(world.member.secret, "nope"))
    line = one_error_line(run("kafka", "status", "--config", bad_secret, ok=False))
    assert "AADSTS7000215" in line and "nope" not in line


def test_smoke_passes_and_cleans_up(member_config, world):
    result = run("smoke", "--config", member_config)
    lines = result.output.strip().splitlines()
    assert [line.split()[:2] for line in lines[:-1]] == [["PASS", s] for s in STEPS]
    assert lines[-1].startswith("smoke test PASSED against " + world.endpoint)
    report = json.loads(run("smoke", "--config", member_config, "-o", "json").output)
    assert report["ok"] is True and [s["name"] for s in report["steps"]] == STEPS
    assert all(s["status"] == "PASS" and s["seconds"] >= 0 for s in report["steps"])
    with world.client() as kr:  # both runs deleted their topics
        assert not [t for t in kr.list_topics() if t.startswith("provision-smoke-")]


def test_smoke_fails_when_the_client_is_not_in_the_group(outsider_config):
    result = run("smoke", "--config", outsider_config, ok=False)
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert lines[0].startswith("PASS  token")
    assert lines[1].startswith("FAIL  create-topic") and "Access denied" in lines[1]
    assert [line.split()[:2] for line in lines[2:6]] == [["SKIP", s] for s in STEPS[2:]]
    assert "no topic was created" in lines[5]
    assert lines[-1].startswith("smoke test FAILED")
    report = json.loads(run("smoke", "--config", outsider_config, "-o", "json", ok=False).output)
    assert report["ok"] is False and report["steps"][1]["status"] == "FAIL"


def _subprocess_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in clientconfig.KEYS}
    env["PYTHONPATH"] = str(ROOT)
    return env


def test_smoke_in_a_real_process(member_config):
    proc = subprocess.run([sys.executable, "-m", "provision", "smoke", "--config", str(member_config)],
                          capture_output=True, text=True, timeout=120, env=_subprocess_env(), cwd=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert [line.split()[:2] for line in lines[:-1]] == [["PASS", s] for s in STEPS]
    assert lines[-1].startswith("smoke test PASSED")


def test_example_client_script(member_config, world):
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "example_client.py"), str(member_config)],
                          capture_output=True, text=True, timeout=120, env=_subprocess_env())
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert "created topic hello_topic_" in out and "produced 6 records" in out and "consumed 6 records" in out
    assert 'offset 0: key="key1" value="**********"' in out and "offset 2: key=null value=3.14" in out
    assert "partition 0: offsets 0..6" in out and "deleted topic hello_topic_" in out
    assert world.member.secret not in out + proc.stderr
