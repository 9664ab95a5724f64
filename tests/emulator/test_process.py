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
