"""No dead secret left behind, and no secret or token where it does not belong (issue 15, items 3 and 6).

- After `access rotate --out elsewhere`, `app register --rotate` (with the client.env `up --smoke` writes) and
  `access revoke`, every local file the tool wrote that holds a client secret holds one that still gets a token.
- A client whose secret was removed behind the tool's back is not reported as fine by `access grant`: the grant
  makes a new secret and the config holds one that works.
- Every output of these commands (stdout and stderr, at -vv) holds no secret value and no token; every file the
  tool wrote holds no token and no operator secret, and a file holding a client secret or password is 0600."""

from __future__ import annotations

import json
import re
import stat
from pathlib import Path

from click.testing import CliRunner

from provision.cli import cli
from tests.reliability import matrix as m

class Runs:
    """The CLI in-process; every output is kept for the scan."""

    def __init__(self) -> None:
        self.outputs: list[tuple[list[str], str]] = []

    def __call__(self, *args: str, ok: bool = True):
        result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
        self.outputs.append((list(args), result.stdout + "\n" + result.stderr))
        if ok:
            assert result.exit_code == 0, result.output
        return result


def files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


def app_of(path: Path) -> str | None:
    text = path.read_text(errors="replace")
    got = re.findall(r"^AZURE_CLIENT_ID=(\S+)$", text, re.M)
    if got:
        return got[0]
    try:
        doc = json.loads(text)
    except ValueError:
        return None
    return (doc.get("AZURE_CLIENT_ID") or doc.get("appId")) if isinstance(doc, dict) else None


def dead_secrets(emulator, root: Path) -> list[str]:
    """Files under `root` holding a client secret that gets no token."""
    dead = []
    for path in files(root):
        if path.name == "passwords.json":
            continue
        for secret in m.held_secrets(path):
            app_id = app_of(path)
            if not app_id or not m.secret_works(emulator, app_id, secret):
                dead.append(f"{path.relative_to(root)} ({app_id})")
    return dead


def all_secrets(root: Path) -> set[str]:
    return m.secrets_under(root)


def remove_secret_behind_the_tools_back(emulator, operator_credential, app_object_id: str, key_id: str) -> None:
    import requests

    token = operator_credential.get_token("https://graph.microsoft.com/.default").token
    r = requests.post(f"{emulator.graph_url}/applications/{app_object_id}/removePassword",
                      headers={"Authorization": f"Bearer {token}"}, json={"keyId": key_id},
                      verify=str(emulator.ca_cert), timeout=10)
    assert r.status_code == 204, r.text


def test_rotate_elsewhere_register_rotate_and_revoke_leave_no_dead_secret(env, admin, emulator, quick_timing,
                                                                          tmp_path):
    run = Runs()
    issued: set[str] = set()
    run("up", "--smoke", "-vv")
    client_env = Path(env["PROVISION_STATE_DIR"]).rglob("client.env")
    assert next(client_env, None) is not None  # what --smoke wrote for clients
    issued |= all_secrets(tmp_path)
    run("access", "grant", "orders", "-vv")
    run("access", "grant", "billing", "--output", "json")
    issued |= all_secrets(tmp_path)
    assert dead_secrets(emulator, tmp_path) == []

    run("access", "rotate", "orders", "--out", str(tmp_path / "elsewhere" / "orders.env"), "-vv")
    assert dead_secrets(emulator, tmp_path) == []
    issued |= all_secrets(tmp_path)
    run("app", "register", "--rotate", "-vv")
    assert dead_secrets(emulator, tmp_path) == []  # client.env got the new secret
    issued |= all_secrets(tmp_path)
    run("access", "revoke", "orders", "-vv")  # membership only: the app and its secret stay (and work)
    run("access", "revoke", "billing", "--delete-app", "--output", "json")
    assert dead_secrets(emulator, tmp_path) == []
    assert not list(tmp_path.rglob("billing.*"))  # a deleted app leaves no config or record behind
    run("access", "list", "-vv")
    run("status", "-vv")

    assert len(issued) >= 5
    assert m.storage_keys(admin, emulator)  # the scan looks for them too
    scan(run, tmp_path, emulator, admin, issued)


def scan(run: Runs, root: Path, emulator, admin, issued: set[str]) -> None:
    """No secret value (client secrets issued, passwords, storage keys, the operator's) or token in any output; no
    token or operator secret in any file; a file holding a secret is 0600."""
    never = issued | m.secrets_under(root) | m.storage_keys(admin, emulator) | m.operator_secrets(emulator)
    for args, text in run.outputs:
        assert m.leaks(text, never) == [], f"in the output of {args}"
    for path in files(root):
        text = path.read_text(errors="replace")
        assert m.leaks(text, m.operator_secrets(emulator)) == [], path
        if any(s in text for s in never if s):
            mode = stat.S_IMODE(path.stat().st_mode)
            assert mode == 0o600, f"{path} holds a secret with mode {oct(mode)}"


def test_grant_does_not_call_a_client_with_a_removed_secret_ok(env, admin, emulator, operator_credential,
                                                               quick_timing, tmp_path):
    run = Runs()
    run("group", "create")
    run("access", "grant", "orders")
    meta = json.loads(next(tmp_path.rglob("orders.credential.json")).read_text())
    app = m.graph_objects(admin, "application", displayName="orders")[0]
    remove_secret_behind_the_tools_back(emulator, operator_credential, app["id"], meta["keyId"])
    assert dead_secrets(emulator, tmp_path) != []  # the config holds a secret that no longer works

    out = json.loads(run("access", "grant", "orders", "--output", "json").stdout)
    result = out["clients"][0]
    assert result["status"] == "ok" and result["changes"], result  # not "ok, nothing to do"
    assert dead_secrets(emulator, tmp_path) == []
    meta = json.loads(next(tmp_path.rglob("orders.credential.json")).read_text())
    problems, _ = m.client_problems(admin, "orders", meta["appId"], meta["keyId"])
    assert problems == []
