"""Reliability figures (issue 15): faults at every request, seeded fault runs of `up`, SIGKILL and re-run, and
Entra replication lag — against our own emulator, with the real SDKs over TLS.

Parts (all by default; `--parts matrix,seeded,kill,lag` picks some):
- matrix: one fault on one request, in turn on every request kind of `up`, `access grant`, `access rotate` and
  `down` (tests/reliability/matrix.py: a drop before the request; for writes also a drop after it was applied;
  for addPassword also a 503 after it was applied). Each case: the command must succeed, the fault fire once, and
  no duplicate be left (one app, one service principal, one group, one membership, exactly the secret held).
- seeded: N runs of `up` on a fresh environment (`--runs`, default 200), each with seeded faults on every Graph and
  ARM request — 429, 503 and dropped connections at p≈0.01 each, and dropped-after-apply at p≈0.005 (≈0.035 in
  all) — converging on the first try; then the checks above, the held secret tried for a token, and `plan` clean.
- kill: `up` killed with SIGKILL at each step boundary (on the event line it prints) and during the cluster's
  long-running deployment, then run again: it must converge, re-attach (one cluster PUT in all), leave no
  duplicate and no secret lost; `access rotate` and `app register --rotate` killed while the old secret is being
  removed, then run again: exactly one secret left, the one held, and it works.
- lag: `up` on a fresh environment with 30 s of Entra replication lag on every directory object.

The matrix and seeded runs use the CLI in-process (click's CliRunner: a run costs the command, not the interpreter
start and imports); kill runs use the `provision` console script in a subprocess.

    python bench/bench_reliability.py [--runs 200] [--parts ...] [--json]
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import _common as c
from provision.emulator import launcher
from tests.reliability import matrix as m

TIMING = {"lro_seconds": 0.05, "cluster_create_seconds": 0.5, "cluster_delete_seconds": 0.1,
          "membership_propagation_seconds": 0.2}
GRAPH_ARM_PATHS = r"^/(v1\.0|subscriptions|providers)/"


def invoke(args: list[str], env: dict[str, str]) -> Any:
    from click.testing import CliRunner

    from provision.cli import cli

    return CliRunner().invoke(cli, args, env=env, catch_exceptions=True)


def fresh(admin: launcher.Admin) -> None:
    admin.reset()
    admin.configure(**{**c.FAST_TIMING, **TIMING})


def run_env(info: launcher.EmulatorInfo, root: Path, tag: str) -> dict[str, str]:
    env = c.cli_env(info, root / tag, name=m.ENV)
    return {k: v for k, v in env.items() if k.startswith("PROVISION_")}


# -- matrix ---------------------------------------------------------------------------------------------------------
def prepare(command: str, env: dict[str, str]) -> None:
    if command in ("grant", "rotate"):
        assert invoke(["group", "create"], env).exit_code == 0
    if command == "rotate":
        assert invoke(["access", "grant", "orders"], env).exit_code == 0
    if command == "down":
        assert invoke(["up"], env).exit_code == 0


ARGS = {"up": ["up", "--output", "json"], "grant": ["access", "grant", "orders", "--output", "json"],
        "rotate": ["access", "rotate", "orders", "--output", "json"], "down": ["down", "--yes", "--output", "json"]}


def client_meta(env: dict[str, str]) -> dict[str, Any]:
    return json.loads(next(Path(env["PROVISION_STATE_DIR"]).rglob("orders.credential.json")).read_text())


def matrix_case(info, admin, root, command: str, method: str, path: str, fault: dict) -> list[str]:
    fresh(admin)
    env = run_env(info, root, f"matrix-{time.monotonic_ns()}")
    prepare(command, env)
    admin.add_fault(methods=[method], path=path, count=1, **fault)
    seq = admin.last_seq()
    result = invoke(ARGS[command], env)
    hits = m.fired(admin, seq)
    admin.clear_faults()
    problems = []
    if result.exit_code != 0:
        return [f"exit {result.exit_code}: {(result.output or '').strip()[-300:]}"]
    if len(hits) != 1:
        problems.append(f"the fault fired {len(hits)} times")
    if command == "up":
        problems += m.up_problems(admin, info, json.loads(result.stdout)["outputs"])
    elif command in ("grant", "rotate"):
        meta = client_meta(env)
        more, sp = m.client_problems(admin, "orders", meta["appId"], meta["keyId"])
        problems += more
        if not m.secret_works(info, meta["appId"], meta["secret"]):
            problems.append("the held secret gets no token")
        if command == "grant" and sp is not None:
            group = m.graph_objects(admin, "group", displayName=m.GROUP)
            problems += m.member_problems(info, group[0]["id"], sp["id"]) if len(group) == 1 else ["groups"]
    else:
        if m.graph_objects(admin, "application", displayName=m.APP) or m.graph_objects(
                admin, "group", displayName=m.GROUP):
            problems.append("down left the app or the group")
    return problems


def part_matrix(info, admin, root) -> dict[str, Any]:
    rows, failures = [], []
    for command, table in m.COMMANDS.items():
        cases = m.all_cases(table)
        ok = 0
        for cid, method, path, fault in cases:
            problems = matrix_case(info, admin, root, command, method, path, fault)
            ok += not problems
            if problems:
                failures.append(f"{command} {cid}: {'; '.join(problems)}")
        rows.append({"command": command, "request_kinds": len(table), "cases": len(cases), "survived": ok,
                     "failed": len(cases) - ok})
    return {"rows": rows, "failures": failures}


# -- seeded fault runs ------------------------------------------------------------------------------------------------
def seeded_rules(seed: int) -> list[dict[str, Any]]:
    base = {"path": GRAPH_ARM_PATHS}
    return [{**base, "action": "status", "status": 429, "probability": 0.01, "seed": seed * 4},
            {**base, "action": "status", "status": 503, "probability": 0.01, "seed": seed * 4 + 1},
            {**base, "action": "drop", "probability": 0.01, "seed": seed * 4 + 2},
            {**base, "action": "drop", "after": True, "probability": 0.005, "seed": seed * 4 + 3}]


def part_seeded(info, admin, root, runs: int) -> dict[str, Any]:
    converged = duplicates = lost = dirty_plans = faults = after = 0
    failures: list[str] = []
    kinds: dict[str, int] = {}
    started = time.perf_counter()
    for i in range(runs):
        fresh(admin)
        env = run_env(info, root, f"seeded-{i}")
        for rule in seeded_rules(i + 1):
            admin.add_fault(**rule)
        seq = admin.last_seq()
        result = invoke(["up", "--output", "json"], env)
        hits = m.fired(admin, seq)
        admin.clear_faults()
        faults += len(hits)
        after += sum(1 for e in hits if "after" in str(e.get("fault")))
        for e in hits:
            kinds[str(e.get("fault"))] = kinds.get(str(e.get("fault")), 0) + 1
        if result.exit_code != 0:
            failures.append(f"run {i}: exit {result.exit_code}: {(result.output or '').strip()[-300:]}")
            result = invoke(["up", "--output", "json"], env)  # the re-run must still converge
            if result.exit_code != 0:
                failures.append(f"run {i}: the re-run failed too")
                continue
        else:
            converged += 1
        problems = m.up_problems(admin, info, json.loads(result.stdout)["outputs"])
        duplicates += any("duplicate" in p or "secrets of" in p or "groups named" in p or "members" in p
                          for p in problems)
        lost += any("secret lost" in p for p in problems)
        plan = invoke(["plan", "--output", "json"], env)
        if plan.exit_code != 0 or {ch["action"] for ch in json.loads(plan.stdout)["changes"]} != {"noop"}:
            dirty_plans += 1
        if problems:
            failures.append(f"run {i}: {'; '.join(problems)}")
    return {"rows": [{"runs": runs, "converged_first_try": converged, "duplicates": duplicates,
                      "secrets_lost": lost, "plan_not_clean": dirty_plans, "faults_fired": faults,
                      "of_which_after_apply": after, "wall_s": round(time.perf_counter() - started, 1)}],
            "faults_by_kind": kinds, "failures": failures}


# -- SIGKILL and re-run ----------------------------------------------------------------------------------------------
UP_KILL_POINTS = [  # (label, regex on the event line `up` prints to stderr)
    ("after the resource group", r"resource group: "),
    ("after the application", r"app registration: application "),
    ("after the service principal", r"app registration: service principal "),
    ("after the client secret was written", r"client secret .* written"),
    ("after the group", r"security group: "),
    ("after the membership", r"group membership: "),
    ("after the network", r"(network security group|virtual network|subnet): "),
    ("after the storage account", r"storage account: "),
    ("cluster deployment accepted (mid LRO)", r"deployment of .* accepted"),
    ("cluster InProgress (mid LRO)", r"clusterState "),
]


def spawn(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.Popen:
    return subprocess.Popen(c.provision_command() + args, env=env, cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def kill_on_line(proc: subprocess.Popen, pattern: str) -> bool:
    """SIGKILL the run on the first stderr line matching `pattern`; False when it ended first."""
    rx = re.compile(pattern)
    for line in proc.stderr:
        if rx.search(line):
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            return True
    proc.wait()
    return False


def kill_on_fault(proc: subprocess.Popen, admin: launcher.Admin, rule_id: int, timeout: float = 120) -> bool:
    """SIGKILL the run once the emulator holds its request matched by latency rule `rule_id` (in flight)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        rule = next((r for r in admin._call("GET", "/faults")["value"] if r["id"] == rule_id), None)
        if rule and rule["fired"]:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            return True
        time.sleep(0.05)  # polls the condition (the rule fired), it does not stand in for it
    proc.kill()
    proc.wait()
    return False


def subprocess_env(info, root: Path, tag: str) -> dict[str, str]:
    return c.cli_env(info, root / tag, name=m.ENV)


def part_kill(info, admin, root) -> dict[str, Any]:
    rows, failures = [], []
    for label, pattern in UP_KILL_POINTS:
        fresh(admin)
        env = subprocess_env(info, root, f"kill-{len(rows)}")
        seq0 = admin.last_seq()
        proc = spawn(["up"], env, root)
        killed = kill_on_line(proc, pattern)
        r, _ = c.run_cli(["up", "--output", "json"], env, root, check=False)
        problems = [] if r.returncode == 0 else [f"re-run exit {r.returncode}: {r.stderr.strip()[-300:]}"]
        if not problems:
            problems += m.up_problems(admin, info, json.loads(r.stdout)["outputs"])
        puts = [e for e in admin.requests(seq0) if e["method"] == "PUT" and re.search(r"/clusters/[^/]+$",
                                                                                        e["path"])]
        if len(puts) > 1:
            problems.append(f"{len(puts)} cluster PUTs (a second deployment)")
        rows.append({"command": "up", "killed": label, "killed_mid_run": killed, "converged": not problems})
        failures += [f"up killed {label}: {p}" for p in problems]
    for label, args, prepare_args in (
            ("access rotate, removing the old secret", ["access", "rotate", "orders"],
             [["group", "create"], ["access", "grant", "orders"]]),
            ("app register --rotate, removing the old secret", ["app", "register", "--rotate"],
             [["app", "register"]])):
        fresh(admin)
        env = subprocess_env(info, root, f"kill-{len(rows)}")
        for a in prepare_args:
            c.run_cli(a, env, root)
        rule = admin.add_fault(action="latency", latency_ms=60000, path=r"/removePassword$", methods=["POST"],
                               count=1)
        killed = kill_on_fault(spawn(args, env, root), admin, rule["id"])
        admin.clear_faults()
        r, _ = c.run_cli(args, env, root, check=False)
        problems = [] if r.returncode == 0 else [f"re-run exit {r.returncode}: {r.stderr.strip()[-300:]}"]
        if not problems:
            problems += rotate_problems(info, admin, env, args[0])
        rows.append({"command": " ".join(args), "killed": label, "killed_mid_run": killed,
                     "converged": not problems})
        failures += [f"{' '.join(args)} killed {label}: {p}" for p in problems]
    return {"rows": rows, "failures": failures}


def rotate_problems(info, admin, env: dict[str, str], kind: str) -> list[str]:
    state = Path(env["PROVISION_STATE_DIR"])
    if kind == "access":
        meta = client_meta(env)
        app_id, key_id, secret, name = meta["appId"], meta["keyId"], meta["secret"], "orders"
    else:
        held = json.loads(next(state.rglob("client-secret.json")).read_text())
        app_id, key_id, secret, name = held["appId"], held["keyId"], held["clientSecret"], m.APP
    problems, _ = m.client_problems(admin, name, app_id, key_id)
    if not m.secret_works(info, app_id, secret):
        problems.append("the held secret gets no token")
    return problems


# -- replication lag -------------------------------------------------------------------------------------------------
def part_lag(info, admin, root, seconds: float = 30.0) -> dict[str, Any]:
    fresh(admin)
    admin.set_replication_lag(seconds)
    env = run_env(info, root, "lag")
    started = time.perf_counter()
    result = invoke(["up", "--output", "json"], env)
    took = time.perf_counter() - started
    admin.set_replication_lag(0)
    problems = [] if result.exit_code == 0 else [f"exit {result.exit_code}: {(result.output or '')[-300:]}"]
    if not problems:
        problems = m.up_problems(admin, info, json.loads(result.stdout)["outputs"])
    return {"rows": [{"replication_lag_s": seconds, "converged": not problems, "wall_s": round(took, 1)}],
            "failures": problems}


def main() -> None:
    args = c.arguments(__doc__.splitlines()[0], runs=(int, 200, "seeded fault runs of `up`"),
                       parts=(str, "matrix,seeded,kill,lag", "which parts to run (comma-separated)"))
    for k in list(os.environ):  # the in-process CLI must see only the environment we give it
        if k.startswith(("PROVISION_", "AZURE_")) or k == "REQUESTS_CA_BUNDLE":
            del os.environ[k]
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    out: dict[str, Any] = {}
    with c.workdir("reliability") as root:
        with c.emulator(root, **TIMING) as info:
            admin = launcher.Admin(info)
            for part in parts:
                t = time.perf_counter()
                if part == "matrix":
                    out[part] = part_matrix(info, admin, root)
                elif part == "seeded":
                    out[part] = part_seeded(info, admin, root, args.runs)
                elif part == "kill":
                    out[part] = part_kill(info, admin, root)
                elif part == "lag":
                    out[part] = part_lag(info, admin, root)
                else:
                    raise SystemExit(f"--parts: unknown part {part!r} (matrix, seeded, kill, lag)")
                out[part]["seconds"] = round(time.perf_counter() - t, 1)
                if not args.json:
                    c.report(f"reliability: {part}", out[part]["rows"], as_json=False,
                             extra={k: v for k, v in out[part].items() if k not in ("rows",)})
    if args.json:
        print(json.dumps(out, indent=2))
    if any(p.get("failures") for p in out.values()):
        sys.exit(1)


if __name__ == "__main__":
    main()
