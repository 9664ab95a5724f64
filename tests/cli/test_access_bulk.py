"""Bulk `provision access` through Graph `$batch`: requests counted from the emulator's log, throttling and
ambiguous failures inside a batch injected with the emulator's fault API; the real CLI, real SDKs, TLS."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.cli.test_key_vault import VAULT, secrets
from tests.cli.test_safety import token
from tests.cli.test_up import env, run, writes  # noqa: F401 — the `env` fixture points the CLI at the emulator


@pytest.fixture
def cluster(env, admin):  # noqa: F811
    return json.loads(run("up", "--output", "json").stdout)["outputs"]


def graph(admin, since: int) -> list[dict]:
    return [e for e in admin.requests(since) if e["family"] == "graph"]


def per_client_reads(entries: list[dict]) -> list[str]:
    """Requests that address one application or service principal directly (what a bulk run must not make)."""
    return [f"{e['method']} {e['path']}" for e in entries
            if re.search(r"/(applications|servicePrincipals)(\(|/)", e["path"])]


def grant(src: Path, *extra: str, ok: bool = True) -> dict:
    r = run("access", "grant", "--from", str(src), "--output", "json", *extra, ok=ok)
    return json.loads(r.stdout)


def provision_secrets(admin, app_id: str) -> list[dict]:
    app = next(a for a in admin.objects("application") if a["appId"] == app_id)
    return [c for c in app.get("passwordCredentials") or [] if c.get("displayName") == "provision-access"]


def all_fired(admin) -> bool:
    """Every fault rule fired as often as it was told to (the faults really happened inside the batches)."""
    rules = admin.faults()
    return bool(rules) and all(r["fired"] == r["count"] for r in rules)


def config(path: str) -> dict[str, str]:
    from provision.clientconfig import read_config_file

    return read_config_file(Path(path))


def test_bulk_grant_in_batches_and_a_rerun_that_only_reads(cluster, admin, env, tmp_path):  # noqa: F811
    n = 45
    src = tmp_path / "clients.csv"
    src.write_text("name,credential,federated_subject\n"
                   + "".join(f"bulk-{i:03d},secret,\n" for i in range(n))
                   + "plain-a,none,\nplain-b,none,\ncert-a,certificate,\n"
                   + "fed-a,federated,repo:contoso/orders:environment:prod\n")
    seq = admin.last_seq()
    res = grant(src)
    assert res["summary"] == {"ok": n + 4, "failed": 0}
    first = graph(admin, seq)
    # 45 secret clients: apps, service principals and secrets each in 3 batches of 20 (not 4 requests a client);
    # only the certificate and federated clients are handled one by one (2 requests each)
    assert [e for e in first if e["path"].endswith("/addPassword")] == []
    assert len([e for e in first if e["path"] == "/v1.0/$batch"]) <= 12, [e["path"] for e in first]
    assert len(per_client_reads(first)) <= 4, per_client_reads(first)
    assert len(first) <= 30, [(e["method"], e["path"]) for e in first]
    by_name = {c["name"]: c for c in res["clients"]}
    for name in ("bulk-000", "bulk-044"):
        c = by_name[name]
        assert c["changes"][:3] == ["application", "service principal", "secret credential"]
        assert len(provision_secrets(admin, c["appId"])) == 1
        cfg = config(c["configFile"])
        assert token(env, cfg["AZURE_CLIENT_ID"], cfg["AZURE_CLIENT_SECRET"])  # the secret written out works
    assert by_name["cert-a"]["credential"] == "certificate" and by_name["fed-a"]["credential"] == "federated"

    seq = admin.last_seq()
    again = grant(src)
    assert again["summary"] == {"ok": n + 4, "failed": 0}
    rerun = graph(admin, seq)
    assert writes(admin, seq) == []
    assert all(c["changes"] == [] for c in again["clients"])
    assert len(rerun) <= 10, [(e["method"], e["path"]) for e in rerun]
    assert len(per_client_reads(rerun)) <= 1, per_client_reads(rerun)  # the federated client's credential list

    listed = json.loads(run("access", "list", "--output", "json").stdout)
    assert listed["count"] == n + 5
    assert {m["displayName"]: len(m["credentials"]) for m in listed["members"]}["bulk-007"] == 1
    listing = graph(admin, seq)[len(rerun):]
    assert per_client_reads(listing) == [] and len(listing) <= 6, [(e["method"], e["path"]) for e in listing]


def test_throttled_sub_requests_are_retried_one_by_one(cluster, admin):
    n = 25
    src = Path("throttled.csv")
    src.write_text("name\n" + "".join(f"busy-{i:02d}\n" for i in range(n)))
    for pattern, count in ((r"/addPassword$", 7), (r"^/v1\.0/servicePrincipals\(", 3), (r"^/v1\.0/applications$", 2)):
        admin.add_fault(action="status", status=429, retry_after=0, path=pattern, count=count)
    seq = admin.last_seq()
    res = grant(src)
    assert res["summary"] == {"ok": n, "failed": 0}
    assert all_fired(admin)
    for c in res["clients"]:
        assert len(provision_secrets(admin, c["appId"])) == 1, c["name"]  # a throttled addPassword was not applied
    batches = [e for e in graph(admin, seq) if e["path"] == "/v1.0/$batch"]
    assert all(e["status"] == 200 for e in batches)
    # the throttled sub-requests went again on their own: a batch with fewer than the 20 of a full one
    assert len(batches) > 5


def test_ambiguous_add_password_inside_a_batch_is_reconciled(cluster, admin, env):  # noqa: F811
    n = 22
    src = Path("ambiguous.csv")
    src.write_text("name\n" + "".join(f"lost-{i:02d}\n" for i in range(n)))
    # the first three addPasswords are applied but their answers lost (504), two more answered 500 after applying
    admin.add_fault(action="drop", after=True, path=r"/addPassword$", methods=["POST"], count=3)
    admin.add_fault(action="status", status=500, after=True, path=r"/addPassword$", methods=["POST"], count=2)
    res = grant(src)
    assert res["summary"] == {"ok": n, "failed": 0}
    assert all_fired(admin)
    for c in res["clients"]:
        held = provision_secrets(admin, c["appId"])
        assert len(held) == 1, (c["name"], held)  # the orphans (secrets nobody saw) were removed before resending
        cfg = config(c["configFile"])
        assert held[0]["keyId"] == json.loads(
            (Path(env["PROVISION_STATE_DIR"]) / "ci-env" / "clients" / f"{c['name']}.credential.json")
            .read_text())["keyId"]
    cfg = config(res["clients"][0]["configFile"])
    assert token(env, cfg["AZURE_CLIENT_ID"], cfg["AZURE_CLIENT_SECRET"])


def test_bulk_failures_stay_per_client(cluster, admin, emulator):
    src = Path("mixed.json")
    src.write_text(json.dumps([{"name": "fine-a"}, {"name": "ghost", "app_id": "00000000-0000-0000-0000-0000000000aa"},
                               {"name": "fine-b", "credential": "none"}, {"name": "refused"}]))
    # Graph refuses this one client's secret (a definitive 400 inside the batch): the others go on
    admin.add_fault(action="status", status=400, code="Request_BadRequest", message="refused by policy",
                    path=r"/addPassword$", skip=1, count=1)
    r = run("access", "grant", "--from", str(src), "--output", "json", ok=False)
    assert r.exit_code == 1 and all_fired(admin)
    res = {c["name"]: c for c in json.loads(r.stdout)["clients"]}
    assert res["ghost"]["status"] == "failed" and "app id" in res["ghost"]["message"]
    assert res["fine-b"]["status"] == "ok"
    failed = [n for n in ("fine-a", "refused") if res[n]["status"] == "failed"]
    assert len(failed) == 1 and "refused by policy" in res[failed[0]]["message"]
    ok = ({"fine-a", "refused"} - set(failed)).pop()
    assert res[ok]["status"] == "ok"
    # a second run completes the failed one and changes nothing else
    again = {c["name"]: c for c in grant(src, ok=False)["clients"]}
    assert again[failed[0]]["status"] == "ok" and again[ok]["changes"] == []


def test_bulk_grant_with_the_vault(env, admin, emulator, operator_credential, monkeypatch, tmp_path):  # noqa: F811
    run("up", "--secrets-key-vault", VAULT)
    src = tmp_path / "vault.csv"
    src.write_text("name\n" + "".join(f"kv-{i:02d}\n" for i in range(6)))
    res = grant(src, "--secrets-key-vault", VAULT)
    assert res["summary"] == {"ok": 6, "failed": 0}
    stored = secrets(emulator, operator_credential)
    for c in res["clients"]:
        s = stored[f"client-{c['name']}"]
        assert s.properties.tags["kind"] == "secret" and s.properties.tags["appId"] == c["appId"]
        assert config(c["configFile"])["AZURE_CLIENT_SECRET"].startswith("@Microsoft.KeyVault(")
    # another machine: the vault's records are reused, no credential is added, nothing is written
    monkeypatch.setenv("PROVISION_STATE_DIR", str(tmp_path / "other-machine"))
    seq = admin.last_seq()
    again = grant(src, "--secrets-key-vault", VAULT)
    assert again["summary"] == {"ok": 6, "failed": 0}
    assert [e for e in writes(admin, seq) if e["family"] == "graph"] == []
    assert per_client_reads(graph(admin, seq)) == []


def test_rotate_expiring_many_in_batches(cluster, admin, env):  # noqa: F811
    n = 24
    src = Path("expiring.csv")
    src.write_text("name\n" + "".join(f"old-{i:02d}\n" for i in range(n)))
    before = {c["name"]: c for c in grant(src, "--days", "30")["clients"]}
    seq = admin.last_seq()
    out = json.loads(run("access", "rotate", "--expiring-within", "31", "--output", "json").stdout)
    rotated = {c["name"]: c for c in out["clients"]}
    assert set(rotated) == set(before) and all(c["status"] == "ok" for c in rotated.values())
    assert all(c["changes"] == ["secret credential", "previous credential removed"] for c in rotated.values())
    entries = graph(admin, seq)
    assert per_client_reads(entries) == [] and len(entries) <= 12, [(e["method"], e["path"]) for e in entries]
    for name in ("old-00", "old-23"):
        held = provision_secrets(admin, rotated[name]["appId"])
        assert len(held) == 1 and held[0]["endDateTime"] > before[name]["credentialExpires"]  # the old one is gone
        cfg = config(rotated[name]["configFile"])
        assert token(env, cfg["AZURE_CLIENT_ID"], cfg["AZURE_CLIENT_SECRET"])
    assert run("access", "list", "--expiring-within", "31").exit_code == 0


def test_unique_name_filter_refused_falls_back_to_batched_key_reads(cluster, admin):
    """Where Graph refuses `uniqueName in (…)`, the apps are read by alternate key — still 20 per $batch."""
    src = Path("keyed.csv")
    src.write_text("name\n" + "".join(f"keyed-{i:02d}\n" for i in range(30)))
    first = grant(src)
    assert first["summary"] == {"ok": 30, "failed": 0}
    admin.add_fault(action="status", status=400, code="Request_UnsupportedQuery",
                    message="Unsupported query.", path=r"^/v1\.0/applications$", methods=["GET"])
    seq = admin.last_seq()
    again = grant(src)
    assert again["summary"] == {"ok": 30, "failed": 0}
    assert all(c["changes"] == [] for c in again["clients"])
    assert admin.faults()[0]["fired"] >= 2  # the listings refused
    assert writes(admin, seq) == [] and per_client_reads(graph(admin, seq)) == []
    assert len(graph(admin, seq)) <= 8
