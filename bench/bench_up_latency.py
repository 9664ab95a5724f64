"""`up` from nothing when every Graph and ARM request takes 200 ms more (the emulator's latency fault), against a
lower bound computed from the same run's request log.

Lower bound = start-up (process start → its first request is sent) + the longest chain of the plan's reads + the
longest chain through the resource graph of the apply (after the first write), where each resource kind costs the
time its requests (not polls) spend in the emulator, latency included (requests of one resource that overlapped
count once) + the time its long-running operations take on the emulator by definition (NSG and VNet:
`lro_seconds`, storage account: `lro_seconds`, cluster: `cluster_create_seconds`). Polls are left out — operation
status GETs, and a resource's own GETs after its first write — an ideal client would need none. Token requests are
left out: they overlap. The log stamps a request when it is answered: a request's span is [answered − duration,
answered]. Goal (issue 13): wall ≤ 1.15x the lower bound.

    python bench/bench_up_latency.py [--latency-ms 200] [--json]
"""

from __future__ import annotations

import re
import time

import _common as c

from provision.emulator import launcher
from provision.resources import registry

LANES = [  # (resource kind key, path pattern): the first match names a request's resource
    ("membership", r"/checkMemberGroups$|/members/\$ref$|/members$|/groups/[^/(]+$"),
    ("group", r"^/v1\.0/groups"),
    ("app", r"^/v1\.0/(applications|servicePrincipals)"),
    ("storage", r"/Microsoft\.Storage/"),
    ("network", r"/Microsoft\.Network/"),
    ("cluster", r"/Microsoft\.HDInsight/"),
    ("vault", r"/Microsoft\.KeyVault/"),
    ("resource_group", r"^/subscriptions/[^/]+/resourceGroups/[^/]+$"),
]
POLL = re.compile(r"/operations/|/operationresults/|/azureasyncoperations/|/operationStatuses/", re.I)


def lane_of(path: str) -> str | None:
    return next((lane for lane, rx in LANES if re.search(rx, path, re.I)), None)  # ARM paths: any case


def covered(spans: list[tuple[float, float]]) -> float:
    """Seconds covered by the requests' spans: requests of one resource that overlapped count once."""
    total, end = 0.0, float("-inf")
    for a, b in sorted(spans):
        if b > end:
            total += b - max(a, end)
            end = b
    return total


def longest_chain(costs: dict[str, float], *, reading: bool = False) -> tuple[float, list[str]]:
    """The costliest path through the resource graph (for reads: what each read waits for, `read_after`)."""
    kinds = registry()
    best: dict[str, tuple[float, list[str]]] = {}
    for key, kind in kinds.items():  # the registry is in dependency order
        after = kind.depends_on if not reading or kind.read_after is None else kind.read_after
        before = max((best[d] for d in after if d in best), default=(0.0, []), key=lambda x: x[0])
        best[key] = (before[0] + costs.get(key, 0.0), [*before[1], key])
    return max(best.values(), key=lambda x: x[0])


def main() -> None:
    args = c.arguments(__doc__.splitlines()[0], latency_ms=(int, 200, "added to every Graph and ARM request"))
    with c.workdir("latency") as root:
        with c.emulator(root) as info:
            env = c.cli_env(info, root)
            admin = launcher.Admin(info)
            timing = admin.configure()  # the knobs as they are
            for path in (r"^/v1\.0/", r"^/subscriptions/"):
                admin.add_fault(action="latency", latency_ms=args.latency_ms, path=path)
            seq = admin.last_seq()
            started = time.time()
            _, wall = c.run_cli(["up", "--output", "json"], env, root)
            log = [e for e in admin.requests(seq) if e["family"] in c.GRAPH_ARM]
    for e in log:  # the log stamps a request when it was answered: its span is [start, answered]
        e["start"] = e["time"] - e["durationMs"] / 1000
    startup = min(e["start"] for e in log) - started
    first_write = min((e["start"] for e in log if e["write"]), default=float("inf"))
    phases: dict[str, dict[str, list[tuple[float, float]]]] = {"plan": {}, "apply": {}}
    counts: dict[str, int] = {}
    lane_write: dict[str, float] = {}
    for e in log:
        lane = lane_of(e["path"])
        if lane is None or POLL.search(e["path"]):
            continue
        if e["write"]:
            lane_write.setdefault(lane, e["start"])
        elif lane in lane_write:  # a GET after its resource's write follows an operation: a poll by another name
            continue
        counts[lane] = counts.get(lane, 0) + 1
        phase = "plan" if e["start"] < first_write else "apply"
        phases[phase].setdefault(lane, []).append((e["start"], e["time"]))
    lro, cluster = float(timing.get("lro_seconds", 0.2)), float(timing.get("cluster_create_seconds", 2))
    plan_s, plan_chain = longest_chain({lane: covered(v) for lane, v in phases["plan"].items()}, reading=True)
    costs = {lane: covered(v) for lane, v in phases["apply"].items()}
    for lane, extra in (("network", 2 * lro), ("storage", lro), ("cluster", cluster)):
        costs[lane] = costs.get(lane, 0.0) + extra
    chain_s, chain = longest_chain(costs)
    bound = startup + plan_s + chain_s
    rows = [{"measure": "up from nothing (wall)", "seconds": wall, "x_bound": c.ratio(wall, bound)},
            {"measure": "lower bound", "seconds": bound, "x_bound": 1.0},
            {"measure": "  start-up (to the first request)", "seconds": startup, "x_bound": None},
            {"measure": f"  plan (reads): {' → '.join(plan_chain)}", "seconds": plan_s, "x_bound": None},
            {"measure": f"  apply: {' → '.join(chain)}", "seconds": chain_s, "x_bound": None}]
    c.report(f"provision up with +{args.latency_ms} ms on every Graph/ARM request", rows, as_json=args.json,
             extra={"requests": len(log), "polls": sum(1 for e in log if POLL.search(e["path"])),
                    "requests_per_resource (no polls)": counts,
                    "emulator_timing": {"lro_seconds": lro, "cluster_create_seconds": cluster}},
             notes=["goal: x_bound <= 1.15",
                    "each resource's cost = the time its non-poll requests spent in the emulator (latency included; "
                    "overlapping ones once) + the emulator's fixed duration of its long-running operations"])


if __name__ == "__main__":
    main()
