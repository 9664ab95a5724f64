"""One fault on one request of `provision up`, `access grant`, `access rotate` and `provision down`: a representative
case for every class of request kind — Graph upsert PATCH, addPassword, member add, checkMemberGroups, ARM PUT, ARM
long-running-operation poll, read-only POSTs — dropped before the request is applied and after it (the emulator's
`after` rules: the write commits, the answer is lost; for addPassword also a 503 after it). The command must
succeed and leave no duplicate: one app, one service principal, one group, one membership, exactly the one client
secret the tool holds (and it works), and a plan with nothing left to do (or, after `down`, everything to create
again). A request kind that no longer occurs fails the test (the fault must fire once), so the table follows the
engine. The full per-request matrix (every request kind of every command) is bench/bench_reliability.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from provision.cli import cli
from tests.reliability import matrix as m

PHASES = {"before": m.DROP_BEFORE, "after": m.DROP_AFTER}

# (request kind class, request kind of `up` standing for it)
UP_CLASSES = [
    ("graph-upsert-patch", "graph-app-patch"),
    ("graph-addpassword", "graph-addpassword-post"),
    ("graph-member-add", "graph-member-post"),
    ("graph-checkmembergroups", "graph-checkmembergroups-post"),
    ("arm-put", "arm-cluster-put"),
    ("arm-lro-poll", "arm-storage-operation-get"),
    ("arm-readonly-post", "arm-validate-post"),
    ("arm-readonly-post-listkeys", "arm-listkeys-post"),
]


def up_cases() -> list:
    out = []
    for cls, rid in UP_CLASSES:
        method, path = m.request_kind(m.UP_REQUESTS, rid)
        for phase, fault in PHASES.items():
            out.append(pytest.param(method, path, fault, id=f"{cls}-{phase}"))
    method, path = m.request_kind(m.UP_REQUESTS, "graph-addpassword-post")
    out.append(pytest.param(method, path, m.STATUS_503_AFTER, id="graph-addpassword-503-after"))
    return out


def run(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


@pytest.mark.parametrize(("method", "path", "fault"), up_cases())
def test_up_survives_one_fault(env, admin, emulator, quick_timing, method, path, fault):
    admin.add_fault(methods=[method], path=path, count=1, **fault)
    seq = admin.last_seq()
    result = run("up", "--output", "json")
    assert result.exit_code == 0, result.output
    hits = m.fired(admin, seq)
    assert len(hits) == 1, [(e["method"], e["path"]) for e in hits]  # the fault did fire, once
    admin.clear_faults()

    assert m.up_problems(admin, emulator, json.loads(result.stdout)["outputs"]) == []
    secrets = m.secrets_under(Path(env["PROVISION_STATE_DIR"])) | m.operator_secrets(emulator)
    assert secrets and m.leaks(result.output, secrets) == []
    plan = json.loads(run("plan", "--output", "json").stdout)
    assert {c["action"] for c in plan["changes"]} == {"noop"}, plan["changes"]


GRANT_CASES = [
    pytest.param("graph-app-patch", m.DROP_AFTER, id="graph-upsert-patch-after"),
    pytest.param("graph-addpassword-post", m.DROP_AFTER, id="graph-addpassword-after"),
    pytest.param("graph-members-bind-patch", m.DROP_BEFORE, id="graph-member-add-before"),
    pytest.param("graph-members-bind-patch", m.DROP_AFTER, id="graph-member-add-after"),
]


@pytest.mark.parametrize(("rid", "fault"), GRANT_CASES)
def test_grant_survives_one_fault(env, admin, emulator, quick_timing, rid, fault):
    assert run("group", "create").exit_code == 0
    method, path = m.request_kind(m.GRANT_REQUESTS, rid)
    admin.add_fault(methods=[method], path=path, count=1, **fault)
    seq = admin.last_seq()
    result = run("access", "grant", "orders", "--output", "json")
    assert result.exit_code == 0, result.output
    assert len(m.fired(admin, seq)) == 1
    admin.clear_faults()

    meta = json.loads(next(Path(env["PROVISION_STATE_DIR"]).rglob("orders.credential.json")).read_text())
    problems, sp = m.client_problems(admin, "orders", meta["appId"], meta["keyId"])
    assert problems == []
    groups = m.graph_objects(admin, "group", displayName=m.GROUP)
    assert len(groups) == 1
    assert m.member_problems(emulator, groups[0]["id"], sp["id"]) == []
    assert m.leaks(result.output, {meta["secret"]} | m.operator_secrets(emulator)) == []

    seq = admin.last_seq()
    again = run("access", "grant", "orders", "--output", "json")
    assert again.exit_code == 0, again.output
    assert [e for e in admin.requests(seq) if e["write"] and e["family"] in ("graph", "arm")] == []


ROTATE_CASES = [
    pytest.param("graph-addpassword-post", m.DROP_AFTER, id="graph-addpassword-after"),
    pytest.param("graph-removepassword-post", m.DROP_BEFORE, id="graph-removepassword-before"),
    pytest.param("graph-removepassword-post", m.DROP_AFTER, id="graph-removepassword-after"),
]


@pytest.mark.parametrize(("rid", "fault"), ROTATE_CASES)
def test_rotate_survives_one_fault(env, admin, emulator, quick_timing, rid, fault):
    assert run("group", "create").exit_code == 0
    assert run("access", "grant", "orders").exit_code == 0
    method, path = m.request_kind(m.ROTATE_REQUESTS, rid)
    admin.add_fault(methods=[method], path=path, count=1, **fault)
    seq = admin.last_seq()
    result = run("access", "rotate", "orders", "--output", "json")
    assert result.exit_code == 0, result.output
    assert len(m.fired(admin, seq)) == 1
    admin.clear_faults()
    meta = json.loads(next(Path(env["PROVISION_STATE_DIR"]).rglob("orders.credential.json")).read_text())
    problems, _ = m.client_problems(admin, "orders", meta["appId"], meta["keyId"])
    assert problems == []  # the new secret only, the old one gone
    assert m.secret_works(emulator, meta["appId"], meta["secret"])
    assert m.leaks(result.output, {meta["secret"]} | m.operator_secrets(emulator)) == []


DOWN_CASES = [
    pytest.param("arm-cluster-delete", m.DROP_AFTER, id="arm-delete-after"),
    pytest.param("arm-cluster-operation-get", m.DROP_BEFORE, id="arm-lro-poll-before"),
    pytest.param("graph-app-delete", m.DROP_AFTER, id="graph-delete-after"),
]


@pytest.mark.parametrize(("rid", "fault"), DOWN_CASES)
def test_down_survives_one_fault(env, admin, quick_timing, rid, fault):
    assert run("up", "--output", "json").exit_code == 0
    method, path = m.request_kind(m.DOWN_REQUESTS, rid)
    admin.add_fault(methods=[method], path=path, count=1, **fault)
    seq = admin.last_seq()
    result = run("down", "--yes", "--output", "json")
    assert result.exit_code == 0, result.output
    assert len(m.fired(admin, seq)) == 1
    admin.clear_faults()
    assert m.graph_objects(admin, "application", displayName=m.APP) == []
    assert m.graph_objects(admin, "group", displayName=m.GROUP) == []
    plan = json.loads(run("plan", "--output", "json").stdout)
    assert {c["action"] for c in plan["changes"]} == {"create"}, plan["changes"]


def test_the_tables_name_every_class():
    """Every class of the representative set stands for a request kind of the full tables (bench)."""
    for _, rid in UP_CLASSES:
        assert m.request_kind(m.UP_REQUESTS, rid)
    assert len(m.all_cases(m.UP_REQUESTS)) > len(up_cases())
