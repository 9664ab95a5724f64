"""The emulator as a process, through the real CLI: start/stop/status/env, persistence, the operator file."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import requests
from azure.identity import ClientSecretCredential

from provision.emulator import launcher


def cli(*args: str, data_dir, check: bool = True) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROVISION_EMULATOR_")}
    env["PROVISION_EMULATOR_DIR"] = str(data_dir)
    proc = subprocess.run([sys.executable, "-m", "provision", "emulator", *args], capture_output=True, text=True,
                          env=env, timeout=120)
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


@pytest.fixture
def data_dir(tmp_path):
    d = tmp_path / "emu"
    yield d
    launcher.stop(d)


def graph_token(info: launcher.EmulatorInfo) -> str:
    return ClientSecretCredential(info.tenant_id, info.client_id, info.client_secret, authority=info.authority,
                                  disable_instance_discovery=True, connection_verify=str(info.ca_cert)).get_token(
        "https://graph.microsoft.com/.default").token


def test_start_status_env_stop_and_persistence(data_dir):
    started = json.loads(cli("start", "--output", "json", data_dir=data_dir).stdout)
    assert started["running"] and started["url"].startswith("https://127.0.0.1:")
    assert os.stat(data_dir / "operator.json").st_mode & 0o777 == 0o600
    assert os.stat(data_dir / "admin-key").st_mode & 0o777 == 0o600
    assert os.stat(data_dir / "server-key.pem").st_mode & 0o777 == 0o600
    assert "operator secret" in cli("status", data_dir=data_dir).stdout  # the path, never the secret
    info = launcher.status(data_dir)
    assert info.client_secret not in cli("status", data_dir=data_dir).stdout

    env = json.loads(cli("env", "--format", "json", data_dir=data_dir).stdout)
    assert env["AZURE_AUTHORITY_HOST"] == started["url"] and env["SSL_CERT_FILE"] == str(data_dir / "ca.pem")
    assert env["REQUESTS_CA_BUNDLE"] == env["SSL_CERT_FILE"] and env["AZURE_SUBSCRIPTION_ID"] == info.subscription_id
    assert env["MICROSOFT_GRAPH_URL"] == started["url"] + "/v1.0"
    shell = cli("env", data_dir=data_dir).stdout
    assert "export AZURE_CLIENT_ID=" in shell

    # an object made before the restart is there after it, with the same CA, tenant and port
    tok = graph_token(info)
    r = requests.post(f"{info.graph_url}/groups", headers={"Authorization": f"Bearer {tok}"},
                      verify=str(info.ca_cert), json={"displayName": "persisted", "mailEnabled": False,
                                                      "mailNickname": "persisted", "securityEnabled": True})
    assert r.status_code == 201
    gid = r.json()["id"]
    ca_before = (data_dir / "ca.pem").read_bytes()
    assert "emulator stopped" in cli("stop", data_dir=data_dir).stdout
    assert cli("status", data_dir=data_dir, check=False).returncode == 1
    again = json.loads(cli("start", "--output", "json", data_dir=data_dir).stdout)
    assert again["port"] == started["port"] and again["tenantId"] == started["tenantId"]
    assert (data_dir / "ca.pem").read_bytes() == ca_before
    info = launcher.status(data_dir)
    r = requests.get(f"{info.graph_url}/groups/{gid}", headers={"Authorization": f"Bearer {graph_token(info)}"},
                     verify=str(info.ca_cert))
    assert r.status_code == 200 and r.json()["displayName"] == "persisted"


def test_start_is_idempotent_and_stop_when_stopped(data_dir):
    first = json.loads(cli("start", "--output", "json", data_dir=data_dir).stdout)
    second = json.loads(cli("start", "--output", "json", data_dir=data_dir).stdout)
    assert first["pid"] == second["pid"]
    cli("stop", data_dir=data_dir)
    assert "was not running" in cli("stop", data_dir=data_dir).stdout


def test_killed_emulator_restarts_with_its_state(data_dir):
    info = launcher.start(data_dir)
    tok = graph_token(info)
    created = []
    for i in range(20):  # writes in flight while it is killed must leave no half-written object
        r = requests.post(f"{info.graph_url}/applications", headers={"Authorization": f"Bearer {tok}"},
                          verify=str(info.ca_cert), json={"displayName": f"app-{i}"})
        created.append(r.json()["id"])
    os.kill(info.pid, signal.SIGKILL)
    time.sleep(0.5)
    info = launcher.start(data_dir)
    admin = launcher.Admin(info)
    apps = {a["id"]: a for a in admin.objects("application")}
    assert set(created) <= set(apps)
    assert all(apps[i]["displayName"].startswith("app-") and apps[i]["appId"] for i in created)


def test_port_flag_and_serve_in_foreground(tmp_path):
    d = tmp_path / "fg"
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROVISION_EMULATOR_")}
    proc = subprocess.Popen([sys.executable, "-m", "provision", "emulator", "serve", "--data-dir", str(d), "--port",
                             str(port)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 30
        info = None
        while time.time() < deadline and info is None:
            info = launcher.status(d)
            time.sleep(0.1)
        assert info is not None and info.port == port and info.pid == proc.pid
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=20)
    assert launcher.status(d) is None


def test_info_repr_hides_the_secrets(tmp_path):
    info = launcher.EmulatorInfo(url="https://127.0.0.1:1", port=1, pid=1, data_dir=tmp_path,
                                 ca_cert=tmp_path / "ca.pem", tenant_id="t", subscription_id="s", client_id="c",
                                 client_secret="s3cret-value", admin_key="admin-key-value")
    assert "s3cret-value" not in repr(info) and "admin-key-value" not in repr(info)
    assert "client_secret" not in repr(info) and "admin_key" not in repr(info)
    assert info.client_secret == "s3cret-value"  # still there for env()


def test_stop_never_signals_a_process_that_is_not_our_emulator(tmp_path):
    """emulator.json left behind (crash, reboot) naming a pid that is now someone else's process."""
    d = tmp_path / "emu"
    d.mkdir()
    other = subprocess.Popen(["sleep", "60"])
    try:
        (d / launcher.RUNTIME_FILE).write_text(json.dumps({"pid": other.pid, "port": 1,
                                                           "url": "https://127.0.0.1:1", "startedAt": 0}))
        assert launcher.stop(d, timeout=2) is False
        time.sleep(0.2)
        assert other.poll() is None  # still running, never signalled
        assert launcher.status(d) is None
    finally:
        other.kill()
        other.wait()


def test_concurrent_starts_start_one_emulator(data_dir):
    import threading

    results: list = []

    def run() -> None:
        try:
            results.append(launcher.start(data_dir, timeout=30))
        except Exception as e:  # noqa: BLE001 - reported by the assertion below
            results.append(e)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=90)
    assert all(isinstance(r, launcher.EmulatorInfo) for r in results) and len(results) == 2, results
    assert results[0].pid == results[1].pid == launcher.status(data_dir).pid


def test_start_errors_are_provision_errors_naming_the_path(tmp_path, monkeypatch):
    from provision.errors import ProvisionError

    assert issubclass(launcher.EmulatorError, ProvisionError)
    not_a_dir = tmp_path / "a-file"
    not_a_dir.write_text("")
    monkeypatch.setenv("PROVISION_EMULATOR_DIR", str(not_a_dir))
    with pytest.raises(launcher.EmulatorError) as err:
        launcher.start()
    message = str(err.value)
    assert str(not_a_dir) in message and "\n" not in message
    with pytest.raises(launcher.EmulatorError) as err:
        launcher.start(not_a_dir / "below")
    assert str(not_a_dir / "below") in str(err.value)
    # and through the CLI: one line, exit code 1, no traceback
    proc = cli("start", data_dir=not_a_dir / "below", check=False)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr and str(not_a_dir / "below") in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
