"""scripts/ci: the unattended script end to end against the emulator (GitHub Actions, Azure DevOps and plain
outputs; failures publish nothing; no secret on any stream or left on disk), and the two pipeline files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "ci" / "provision-ci.sh"
SCRIPT_PATH = "scripts/ci/provision-ci.sh"


@pytest.fixture
def ci(tmp_path):
    """A CI job's environment: nothing of ours inherited, `provision` on PATH, a private TMPDIR to check for
    leftovers. Tests using the emulator add its directory."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PROVISION_", "GITHUB_", "AZURE_")) and k not in ("TF_BUILD", "REQUESTS_CA_BUNDLE")}
    (tmp_path / "tmp").mkdir()
    env.update({"PATH": f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}", "TMPDIR": str(tmp_path / "tmp"),
                "PROVISION_CLOUD": "local", "PROVISION_STATE_DIR": str(tmp_path / "state"),
                "PROVISION_POLLING_INTERVAL": "0.1", "PROVISION_NAME": "ci-script"})
    return env


def run(env: dict, cwd: Path, **extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(SCRIPT)], env={**env, **extra}, cwd=cwd, capture_output=True, text=True,
                          timeout=180, stdin=subprocess.DEVNULL)


def secrets(state: Path) -> list[str]:
    held = json.loads((state / "ci-script" / "client-secret.json").read_text())["clientSecret"]
    passwords = json.loads((state / "ci-script" / "passwords.json").read_text())
    return [held, *passwords.values()]


@pytest.mark.long
def test_script_end_to_end_against_the_emulator(ci, emulator, admin, tmp_path):
    ci["PROVISION_EMULATOR_DIR"] = str(emulator.data_dir)
    github_output = tmp_path / "github_output"
    github_output.write_text("")

    first = run(ci, tmp_path, GITHUB_OUTPUT=str(github_output))
    assert first.returncode == 0, first.stderr
    (line,) = github_output.read_text().splitlines()
    name, _, endpoint = line.partition("=")
    assert name == "kafkaRestEndpoint" and endpoint.startswith("https://127.0.0.1:")
    assert "/kafkarest/ci-script-" in endpoint
    assert first.stdout == ""  # on GitHub the output goes to $GITHUB_OUTPUT only
    report = json.loads(first.stderr[first.stderr.index("{"):first.stderr.rindex("}") + 1])
    assert report["outputs"]["endpoint"] == endpoint and report["outputs"]["clusterState"] == "Running"
    assert "smoke test PASSED" in first.stderr

    # A second run converges (no changes); its smoke test fails: the job fails and publishes nothing.
    admin.add_fault(action="status", status=403, path="/kafkarest/")
    failed = run(ci, tmp_path, TF_BUILD="True")
    assert failed.returncode == 1, failed.stderr
    assert "smoke test FAILED" in failed.stderr and failed.stdout == ""
    assert '"create": 0' in failed.stderr and '"update": 0' in failed.stderr

    for text in (first.stdout, first.stderr, failed.stdout, failed.stderr, github_output.read_text()):
        assert not any(secret in text for secret in secrets(tmp_path / "state"))
    assert list((tmp_path / "tmp").iterdir()) == []  # the client configuration with the secret is gone


FAKE_PROVISION = """#!/usr/bin/env python3
# Stands in for `provision` where only the script's own logic is under test: canned answers per command.
import os, sys
command = sys.argv[1]
if command == "up":
    print('{"outputs": {"endpoint": "%s"}}' % os.environ["FAKE_ENDPOINT"])
elif command == "endpoint":
    print("KAFKAREST_ENDPOINT=" + os.environ["FAKE_ENDPOINT"])
    print("AZURE_CLIENT_SECRET=fake-secret-value")
elif command == "smoke":
    config = sys.argv[sys.argv.index("--config") + 1]
    assert os.stat(config).st_mode & 0o077 == 0, "client configuration readable by others"
    print("smoke test " + os.environ.get("FAKE_SMOKE", "PASSED"))
    sys.exit(0 if os.environ.get("FAKE_SMOKE", "PASSED") == "PASSED" else 1)
"""
URL = "https://c1-kafkarest.azurehdinsight.net"


@pytest.mark.parametrize("extra,code,stdout,github", [
    ({"GITHUB_OUTPUT": "gh"}, 0, "", f"kafkaRestEndpoint={URL}\n"),
    ({"TF_BUILD": "True"}, 0, f"##vso[task.setvariable variable=kafkaRestEndpoint;isOutput=true]{URL}\n", ""),
    ({}, 0, f"kafkaRestEndpoint={URL}\n", ""),
    ({"GITHUB_OUTPUT": "gh", "FAKE_SMOKE": "FAILED"}, 1, "", ""),
    ({"GITHUB_OUTPUT": "gh", "FAKE_ENDPOINT": ""}, 1, "", ""),  # `up` without an endpoint
])
def test_script_publishing(ci, tmp_path, extra, code, stdout, github):
    """The script's own logic with a stand-in `provision` (fast): where the endpoint goes, and that a failure
    publishes nothing."""
    fake = tmp_path / "fake-provision"
    fake.write_text(FAKE_PROVISION)
    fake.chmod(0o755)
    (tmp_path / "gh").write_text("")
    env = {"PROVISION_BIN": str(fake), "FAKE_ENDPOINT": URL, **extra}
    if "GITHUB_OUTPUT" in env:
        env["GITHUB_OUTPUT"] = str(tmp_path / "gh")
    result = run(ci, tmp_path, **env)
    assert (result.returncode, result.stdout) == (code, stdout), result.stderr
    assert (tmp_path / "gh").read_text() == github
    assert "fake-secret-value" not in result.stdout + result.stderr
    assert list((tmp_path / "tmp").iterdir()) == []


def test_script_stops_on_bad_input_before_anything(ci, tmp_path):
    github_output = tmp_path / "github_output"
    github_output.write_text("")
    result = run(ci, tmp_path, GITHUB_OUTPUT=str(github_output), PROVISION_CLUSTER_NAME="bad_name!")
    assert result.returncode == 2
    assert "cluster.name" in result.stderr
    assert github_output.read_text() == "" and result.stdout == ""


def test_script_is_strict_bash():
    text = SCRIPT.read_text()
    assert text.startswith("#!/usr/bin/env bash\n") and "set -euo pipefail" in text
    assert os.access(SCRIPT, os.X_OK)
    subprocess.run(["bash", "-n", str(SCRIPT)], check=True)


def test_github_workflow_uses_oidc_and_calls_the_script():
    wf = yaml.safe_load((ROOT / "scripts" / "ci" / "github-actions.yml").read_text())
    assert wf["permissions"]["id-token"] == "write"
    (job,) = [j for j in wf["jobs"].values() if any(SCRIPT_PATH in s.get("run", "") for s in j["steps"])]
    steps = job["steps"]
    login = next(s for s in steps if str(s.get("uses", "")).startswith("azure/login@"))
    assert set(login["with"]) == {"client-id", "tenant-id", "subscription-id"}  # federated: no creds, no secret
    assert steps.index(login) < next(i for i, s in enumerate(steps) if SCRIPT_PATH in s.get("run", ""))
    step = next(s for s in steps if SCRIPT_PATH in s.get("run", ""))
    assert job["outputs"]["kafkaRestEndpoint"] == f"${{{{ steps.{step['id']}.outputs.kafkaRestEndpoint }}}}"
    assert "secrets." not in (ROOT / "scripts" / "ci" / "github-actions.yml").read_text()
    # YAML 1.1 reads the key `on` as True
    assert "workflow_dispatch" in (wf.get("on") or wf.get(True))


def test_azure_pipeline_uses_a_service_connection_and_calls_the_script():
    pipeline = yaml.safe_load((ROOT / "scripts" / "ci" / "azure-pipelines.yml").read_text())
    jobs = {j["job"]: j for j in pipeline["jobs"]}
    task = next(s for j in jobs.values() for s in j["steps"] if s.get("task") == "AzureCLI@2")
    assert task["inputs"]["scriptPath"] == SCRIPT_PATH and task["inputs"]["scriptType"] == "bash"
    assert task["inputs"]["azureSubscription"] == "${{ parameters.serviceConnection }}"
    consumer = next(j for j in jobs.values() if j.get("dependsOn"))
    assert consumer["variables"]["kafkaRestEndpoint"] == (
        f"$[ dependencies.{consumer['dependsOn']}.outputs['{task['name']}.kafkaRestEndpoint'] ]")
