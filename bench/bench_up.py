"""`provision up` from nothing, then a converged re-run (the CLI in a subprocess, against our own emulator).

Figures: wall time of each run, Graph + ARM requests and writes from the emulator's request log, and the time the
emulator spent answering (sum of request durations) — the rest of a run's wall time is the client (interpreter
start, imports, serialization, polling). The re-run must make 0 Graph/ARM writes; the bench prints the count and
exits 1 if it is not 0. Emulator timings are short (cluster creation 2 s, other LROs 0.2 s).

    python bench/bench_up.py [--json]
"""

from __future__ import annotations

import json
import sys

import _common as c
from provision.emulator import launcher


def run_up(env: dict[str, str], root, admin: launcher.Admin) -> dict:
    seq = admin.last_seq()
    r, took = c.run_cli(["up", "--output", "json"], env, root)
    log = [e for e in admin.requests(seq) if e["family"] in c.GRAPH_ARM]
    summary = json.loads(r.stdout)["summary"]
    return {"wall_s": took, "requests": len(log), "writes": len(c.writes(log)),
            "emulator_s": sum(e["durationMs"] for e in log) / 1000, "summary": summary}


def main() -> None:
    args = c.arguments(__doc__.splitlines()[0])
    with c.workdir("up") as root:
        with c.emulator(root) as info:
            env = c.cli_env(info, root)
            admin = launcher.Admin(info)
            first = run_up(env, root, admin)
            again = run_up(env, root, admin)
            # Once more, converged, under -X importtime: how much of a re-run is importing modules.
            traced, traced_s = c.run_cli(["up", "--output", "json"], env, root, python_flags=["-X", "importtime"])
            imports_s, heaviest = c.import_seconds(traced.stderr)
    rows = [
        {"run": "up (from nothing)", "wall_s": first["wall_s"], "x_first": 1.0, "requests": first["requests"],
         "writes": first["writes"], "emulator_s": first["emulator_s"],
         "client_s": first["wall_s"] - first["emulator_s"]},
        {"run": "up (converged re-run)", "wall_s": again["wall_s"], "x_first": c.ratio(again["wall_s"],
                                                                                      first["wall_s"]),
         "requests": again["requests"], "writes": again["writes"], "emulator_s": again["emulator_s"],
         "client_s": again["wall_s"] - again["emulator_s"]},
    ]
    c.report("provision up: from nothing vs converged (Graph + ARM requests from the emulator's log)", rows,
             as_json=args.json,
             extra={"rerun_graph_arm_writes": again["writes"],
                    "rerun_import_s": f"{imports_s:.2f} of {traced_s:.2f} s wall (a third run under -X importtime)",
                    "heaviest_imports_s": {k: round(v, 2) for k, v in heaviest[:5]},
                    "first_summary": first["summary"],
                    "rerun_summary": again["summary"],
                    "emulator_timing": {k: v for k, v in c.FAST_TIMING.items()}},
             notes=["x_first: wall time relative to the first `up` of the same run",
                    "emulator_s sums request durations; concurrent requests overlap, so client_s "
                    "(wall - emulator) is a lower bound of the client-side time"])
    if again["writes"] != 0:
        print(f"FAIL: the converged re-run made {again['writes']} Graph/ARM writes (expected 0)", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
