"""SIGKILL, then the same command again (issue 15): `up` killed at step boundaries and during the cluster's
long-running deployment converges on the re-run — one cluster PUT in all (it re-attaches), no duplicate, the held
secret works; `access rotate` and `app register --rotate` killed while the old secret is being removed converge on
the re-run to exactly one secret, the one held. The CLI runs as a subprocess (`python -m provision`); each kill
waits on a condition — an event line on stderr, or the emulator holding the removal request (a latency rule that
has fired) — never on a timer. More kill points: bench/bench_reliability.py (part `kill`)."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.reliability import matrix as m

CLUSTER_PUT = re.compile(r"/clusters/[^/]+$")


def spawn(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "provision", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def cli(*args: str) -> subprocess.CompletedProcess:
    r = subprocess.run([sys.executable, "-m", "provision", *args], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    return r


def kill_on_line(proc: subprocess.Popen, pattern: str) -> str:
    """SIGKILL on the first stderr line matching `pattern`; the output read until then."""
    rx = re.compile(pattern)
    seen = []
    for line in proc.stderr:
        seen.append(line)
        if rx.search(line):
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            return "".join(seen) + proc.stdout.read()
    proc.wait()
    pytest.fail(f"the run ended (exit {proc.returncode}) before printing a line matching {pattern!r}")


def kill_when_fired(proc: subprocess.Popen, admin, rule_id: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        if any(r["id"] == rule_id and r["fired"] for r in admin.faults()):
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            return
        time.sleep(0.05)  # between polls of the condition, not instead of it
    proc.kill()
    proc.wait()
    pytest.fail("the run never sent the request the kill waits for")


@pytest.mark.parametrize("pattern", [
    pytest.param(r"client secret .* written", id="after-the-client-secret"),
    pytest.param(r"group membership: ", id="after-the-membership"),
    pytest.param(r"deployment of .* accepted", id="mid-cluster-deployment"),
])
def test_up_killed_then_run_again(env, admin, emulator, pattern):
    seq = admin.last_seq()
    killed = kill_on_line(spawn("up"), pattern)
    again = cli("up", "--output", "json")
    assert m.up_problems(admin, emulator, json.loads(again.stdout)["outputs"]) == []
    secrets = m.secrets_under(Path(env["PROVISION_STATE_DIR"])) | m.operator_secrets(emulator)
    assert m.leaks(killed + again.stdout + again.stderr, secrets) == []
    puts = [e for e in admin.requests(seq) if e["method"] == "PUT" and CLUSTER_PUT.search(e["path"])]
    assert len(puts) == 1  # the re-run re-attached to the deployment (or made the only one)
    plan = json.loads(cli("plan", "--output", "json").stdout)
    assert {c["action"] for c in plan["changes"]} == {"noop"}, plan["changes"]


@pytest.mark.long
@pytest.mark.parametrize(("prepare", "command", "name"), [
    pytest.param([["group", "create"], ["access", "grant", "orders"]], ["access", "rotate", "orders"], "orders",
                 id="access-rotate"),
    pytest.param([["app", "register"]], ["app", "register", "--rotate"], m.APP, id="app-register-rotate"),
])
def test_rotate_killed_while_removing_the_old_secret(env, admin, emulator, quick_timing, prepare, command, name):
    for args in prepare:
        cli(*args)
    rule = admin.add_fault(action="latency", latency_ms=60_000, path=r"/removePassword$", methods=["POST"], count=1)
    kill_when_fired(spawn(*command), admin, rule["id"])
    admin.clear_faults()
    app = m.graph_objects(admin, "application", displayName=name)[0]
    assert len(app["passwordCredentials"]) == 2  # killed with the old secret still there

    again = cli(*command)
    state = Path(env["PROVISION_STATE_DIR"])
    if command[0] == "access":
        meta = json.loads(next(state.rglob("orders.credential.json")).read_text())
        app_id, key_id, secret = meta["appId"], meta["keyId"], meta["secret"]
    else:
        held = json.loads(next(state.rglob("client-secret.json")).read_text())
        app_id, key_id, secret = held["appId"], held["keyId"], held["clientSecret"]
    problems, _ = m.client_problems(admin, name, app_id, key_id)
    assert problems == []  # exactly one secret: the one held
    assert m.secret_works(emulator, app_id, secret)
    assert not list(state.rglob("*.retiring.json"))
    assert m.leaks(again.stdout + again.stderr, m.secrets_under(state) | m.operator_secrets(emulator)) == []
