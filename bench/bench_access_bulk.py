"""Bulk access: `provision access grant --from FILE` for N new clients with secrets, and its idempotent re-run,
beside the one-request-per-client way.

1. `provision up` creates the environment (not measured).
2. Measured: the CLI (a subprocess) grants N new clients from a CSV (credential `secret` unless --credential:
   app + service principal + secret + membership + a config file each). From the emulator's request log: every
   Graph request (a `$batch` of 20 inner requests counts as one), the writes among them, and the membership part
   (`/groups/{id}` and `/groups/{id}/members...`). Goals (issue 13): ≤ 250 Graph requests for 1000 new clients.
3. Baseline, same run: `--baseline` other service principals (200 by default; made beforehand through `$batch`,
   not measured) are added to the same group the naive way, one `POST /groups/{id}/members/$ref` each, made
   directly with `requests` (one keep-alive session, one token): the wall time of one request per client.
4. The CLI again on the same file: the idempotent re-run — wall time, Graph requests (goal ≤ 30) and writes (must
   be 0; exit 1 if not).

`--cli-path DIR` runs the CLI from another checkout's `provision` package (e.g. a `git worktree` of an earlier
commit, for before/after figures); the emulator is always this checkout's.

    python bench/bench_access_bulk.py [--clients 1000] [--credential secret] [--baseline 200] [--json]
"""

from __future__ import annotations

import json
import re
import sys
import time

import requests

import _common as c
from provision.emulator import launcher


def graph_token(info: launcher.EmulatorInfo) -> str:
    from azure.identity import ClientSecretCredential

    cred = ClientSecretCredential(info.tenant_id, info.client_id, info.client_secret, authority=info.authority,
                                  disable_instance_discovery=True, connection_verify=str(info.ca_cert))
    try:
        return cred.get_token("https://graph.microsoft.com/.default").token
    finally:
        cred.close()


def batch(http: requests.Session, info: launcher.EmulatorInfo, calls: list[dict]) -> list[dict]:
    """Graph JSON batches of 20; the inner responses' bodies, in order (each must succeed)."""
    out = []
    for i in range(0, len(calls), 20):
        chunk = [{"id": str(n), "headers": {"Content-Type": "application/json"}, **call}
                 for n, call in enumerate(calls[i:i + 20])]
        r = http.post(f"{info.graph_url}/$batch", json={"requests": chunk}, timeout=60, verify=str(info.ca_cert))
        r.raise_for_status()
        answers = sorted(r.json()["responses"], key=lambda a: int(a["id"]))
        bad = [a for a in answers if a["status"] >= 300]
        if bad:
            raise SystemExit(f"$batch setup failed: {bad[0]}")
        out += [a["body"] for a in answers]
    return out


def busy(entries: list[dict]) -> float:
    """Seconds the emulator spent answering (sum of request durations; concurrent requests overlap)."""
    return sum(e["durationMs"] for e in entries) / 1000


def main() -> None:
    args = c.arguments(__doc__.splitlines()[0], clients=(int, 200, "clients to grant"),
                       credential=(str, "secret", "credential of every client: secret or none"),
                       baseline=(int, 200, "service principals added one $ref request each (the baseline)"),
                       cli_path=(str, "", "run the CLI from this directory's provision package"))
    n, kind = args.clients, args.credential
    with c.workdir("access") as root:
        with c.emulator(root) as info:
            env = c.cli_env(info, root)
            if args.cli_path:
                env["PYTHONPATH"] = args.cli_path
            admin = launcher.Admin(info)
            up, up_s = c.run_cli(["up", "--output", "json"], env, root)
            group_id = json.loads(up.stdout)["outputs"]["securityGroupId"]
            membership = re.compile(rf"/groups/{group_id}(/members|/\$ref|$|/)", re.IGNORECASE)

            src = root / "clients.csv"
            src.write_text("name,credential\n" + "".join(f"bench-client-{i:04d},{kind}\n" for i in range(n)))

            # -- provision access grant --from (the CLI) --
            seq = admin.last_seq()
            r, grant_s = c.run_cli(["access", "grant", "--from", str(src), "--output", "json"], env, root,
                                   timeout=1800)
            result = json.loads(r.stdout)
            if result["summary"] != {"ok": n, "failed": 0}:
                raise SystemExit(f"grant did not succeed for every client: {result['summary']}")
            graph = [e for e in admin.requests(seq) if e["family"] == "graph"]
            cli_members = [e for e in graph if membership.search(e["path"])]

            # -- the idempotent re-run --
            seq = admin.last_seq()
            r2, again_s = c.run_cli(["access", "grant", "--from", str(src), "--output", "json"], env, root,
                                    timeout=1800)
            again_graph = [e for e in admin.requests(seq) if e["family"] == "graph"]
            again_writes = c.writes(again_graph, ("graph",))

            # -- the baseline: other service principals, one $ref POST each --
            http = requests.Session()  # (verify per request: REQUESTS_CA_BUNDLE would override a session's)
            http.headers["Authorization"] = f"Bearer {graph_token(info)}"
            apps = batch(http, info, [{"method": "POST", "url": "/applications",
                                       "body": {"displayName": f"bench-baseline-{i:04d}"}}
                                      for i in range(args.baseline)])
            sps = batch(http, info, [{"method": "POST", "url": "/servicePrincipals", "body": {"appId": a["appId"]}}
                                     for a in apps])
            seq = admin.last_seq()
            started = time.perf_counter()
            for sp in sps:
                resp = http.post(f"{info.graph_url}/groups/{group_id}/members/$ref", timeout=30,
                                 verify=str(info.ca_cert),
                                 json={"@odata.id": f"{info.graph_url}/directoryObjects/{sp['id']}"})
                if resp.status_code != 204:
                    raise SystemExit(f"baseline $ref failed: {resp.status_code} {resp.text}")
            base_s = time.perf_counter() - started
            base_members = [e for e in admin.requests(seq) if e["family"] == "graph" and membership.search(e["path"])]
            http.close()

    per_base = base_s / max(len(base_members), 1)
    rows = [
        {"what": f"CLI grant --from ({n} new clients, {kind})", "wall_s": grant_s, "graph_requests": len(graph),
         "batch_requests": len([e for e in graph if e["path"].endswith("/$batch")]),
         "graph_writes": len(c.writes(graph, ("graph",))), "membership_requests": len(cli_members),
         "ms_per_client": 1000 * grant_s / n, "x_per_client_vs_baseline": c.ratio(grant_s / n, per_base),
         "emulator_s": busy(graph)},
        {"what": "CLI grant --from, re-run", "wall_s": again_s, "graph_requests": len(again_graph),
         "batch_requests": len([e for e in again_graph if e["path"].endswith("/$batch")]),
         "graph_writes": len(again_writes),
         "membership_requests": len([e for e in again_graph if membership.search(e["path"])]),
         "ms_per_client": 1000 * again_s / n, "x_per_client_vs_baseline": c.ratio(again_s / n, per_base),
         "emulator_s": busy(again_graph)},
        {"what": f"baseline: {len(base_members)} x POST members/$ref, one by one", "wall_s": base_s,
         "graph_requests": len(base_members), "batch_requests": 0,
         "graph_writes": len(c.writes(base_members, ("graph",))), "membership_requests": len(base_members),
         "ms_per_client": 1000 * per_base, "x_per_client_vs_baseline": 1.0, "emulator_s": busy(base_members)},
    ]
    credentials = sorted({cl["credential"] or "-" for cl in result["clients"]})
    c.report(f"Bulk access for {n} new clients ({kind}): the CLI's $batch requests vs one request per client", rows,
             as_json=args.json,
             extra={"first_run_graph_requests (goal for 1000 clients: <= 250)": len(graph),
                    "rerun_graph_requests (goal: <= 30)": len(again_graph), "rerun_graph_writes": len(again_writes),
                    "rerun_x_first_grant": c.ratio(again_s, grant_s),
                    "grant_emulator_ms_by_call": by_call(graph, group_id),
                    "rerun_emulator_ms_by_call": by_call(again_graph, group_id),
                    "credentials_granted": credentials, "up_s": round(up_s, 2),
                    **({"cli_path": args.cli_path} if args.cli_path else {})},
             notes=["graph_requests: requests in the emulator's log; a $batch (up to 20 inner requests) is one",
                    "x_per_client_vs_baseline: CLI wall per client / baseline wall per member (lower is better); "
                    "the CLI's wall includes interpreter start, imports, the app, service principal, secret, "
                    "config file and membership of every client, the baseline's only the membership request",
                    "emulator_s: sum of the emulator's request durations for those requests"])
    if again_writes:
        print(f"FAIL: the re-run made {len(again_writes)} Graph writes (expected 0)", file=sys.stderr)
        sys.exit(1)


def _shape(path: str, group_id: str) -> str:
    return re.sub(r"'[^']*'|[0-9a-f]{8}-[0-9a-f-]{27}", "{x}", path.replace(group_id, "{id}"))


def by_call(entries: list[dict], group_id: str) -> dict[str, str]:
    """Per kind of call: how many, and the median time the emulator took for one."""
    groups: dict[str, list[float]] = {}
    for e in entries:
        groups.setdefault(f"{e['method']} {_shape(e['path'], group_id)}", []).append(e["durationMs"])
    return {k: f"{len(v)} x {c.median(v):.1f} ms" for k, v in sorted(groups.items(), key=lambda kv: -len(kv[1]))}


if __name__ == "__main__":
    main()
