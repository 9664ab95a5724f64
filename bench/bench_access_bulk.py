"""Bulk access: `provision access grant --from FILE --credential none` for N clients vs one `$ref` POST per member.

1. `provision up` creates the environment (not measured).
2. Measured: the CLI (a subprocess) grants N new clients from a CSV (credential `none`: app + service principal +
   membership, no secret). From the emulator's request log: the Graph requests of the membership part (those on
   `/groups/{id}` and `/groups/{id}/members...`) and the time between the first and the last of them.
3. Baseline, same run: N other service principals (made beforehand through `$batch`, not measured) are added to the
   same group the naive way, one `POST /groups/{id}/members/$ref` each, made directly with `requests` (one
   keep-alive session, one token).
4. The CLI again on the same file: the idempotent re-run — wall time and Graph writes (must be 0; exit 1 if not).

    python bench/bench_access_bulk.py [--clients 200] [--json]
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


def span(entries: list[dict]) -> float:
    """Seconds from the start of the first to the end of the last request (the log stamps a request's end)."""
    if not entries:
        return 0.0
    return max(e["time"] for e in entries) - min(e["time"] - e["durationMs"] / 1000 for e in entries)


def main() -> None:
    args = c.arguments(__doc__.splitlines()[0], clients=(int, 200, "clients to grant (and baseline members)"))
    n = args.clients
    with c.workdir("access") as root:
        with c.emulator(root) as info:
            env = c.cli_env(info, root)
            admin = launcher.Admin(info)
            up, up_s = c.run_cli(["up", "--output", "json"], env, root)
            group_id = json.loads(up.stdout)["outputs"]["securityGroupId"]
            membership = re.compile(rf"/groups/{group_id}(/members|/\$ref|$|/)", re.IGNORECASE)

            src = root / "clients.csv"
            src.write_text("name,credential\n" + "".join(f"bench-client-{i:04d},none\n" for i in range(n)))

            # -- provision access grant --from (the CLI) --
            seq = admin.last_seq()
            r, grant_s = c.run_cli(["access", "grant", "--from", str(src), "--credential", "none", "--output",
                                    "json"], env, root)
            result = json.loads(r.stdout)
            if result["summary"] != {"ok": n, "failed": 0}:
                raise SystemExit(f"grant did not succeed for every client: {result['summary']}")
            graph = [e for e in admin.requests(seq) if e["family"] == "graph"]
            cli_members = [e for e in graph if membership.search(e["path"])]

            # -- the baseline: N other service principals, one $ref POST each --
            http = requests.Session()  # (verify per request: REQUESTS_CA_BUNDLE would override a session's)
            http.headers["Authorization"] = f"Bearer {graph_token(info)}"
            apps = batch(http, info, [{"method": "POST", "url": "/applications",
                                       "body": {"displayName": f"bench-baseline-{i:04d}"}} for i in range(n)])
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

            # -- the idempotent re-run --
            seq = admin.last_seq()
            r2, again_s = c.run_cli(["access", "grant", "--from", str(src), "--credential", "none", "--output",
                                     "json"], env, root)
            again_graph = [e for e in admin.requests(seq) if e["family"] == "graph"]
            again_writes = c.writes(again_graph, ("graph",))

    cli_span, base_span = span(cli_members), span(base_members)
    rows = [
        {"what": f"CLI grant --from ({n} clients)", "wall_s": grant_s, "graph_requests": len(graph),
         "membership_requests": len(cli_members), "membership_s": cli_span,
         "x_requests": c.ratio(len(cli_members), len(base_members)), "x_time": c.ratio(cli_span, base_span),
         "graph_writes": len(c.writes(graph, ("graph",))), "emulator_s": busy(graph)},
        {"what": f"baseline: {n} x POST members/$ref", "wall_s": base_s, "graph_requests": len(base_members),
         "membership_requests": len(base_members), "membership_s": base_span, "x_requests": 1.0, "x_time": 1.0,
         "graph_writes": len(c.writes(base_members, ("graph",))), "emulator_s": busy(base_members)},
        {"what": "CLI grant --from, re-run", "wall_s": again_s, "graph_requests": len(again_graph),
         "membership_requests": len([e for e in again_graph if membership.search(e["path"])]),
         "membership_s": None, "x_requests": None, "x_time": None, "graph_writes": len(again_writes),
         "emulator_s": busy(again_graph)},
    ]
    credentials = sorted({cl["credential"] or "-" for cl in result["clients"]})
    c.report(f"Bulk access for {n} clients: the CLI's bind chunks vs one $ref request per member", rows,
             as_json=args.json,
             extra={"rerun_graph_writes": len(again_writes), "rerun_x_first_grant": c.ratio(again_s, grant_s),
                    "cli_membership_calls": sorted({f"{e['method']} {_shape(e['path'], group_id)}"
                                                    for e in cli_members}),
                    "grant_emulator_ms_by_call": by_call(graph, group_id),
                    "rerun_emulator_ms_by_call": by_call(again_graph, group_id),
                    "credentials_granted": credentials, "up_s": round(up_s, 2)},
             notes=["membership_s: first membership request's start to the last one's end, from the emulator's log",
                    "x_requests / x_time: CLI membership part relative to the baseline (lower is better)",
                    "wall_s of the CLI includes interpreter start, imports, and creating N apps + service principals",
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
