"""Read commands on a converged environment: `plan`, `status`, `endpoint`, each the median of N subprocess runs.

Baseline measured in the same run: `python -c "import azure.identity, requests"` — what any Python client of the
REST proxy pays before its first request. Goal (issue 13): each read command ≤ 3x that baseline. Also reported:
requests per command (from the emulator's log) and where the time goes under `-X importtime` (one run of `plan`).

    python bench/bench_read_commands.py [--runs 7] [--json]
"""

from __future__ import annotations

import subprocess
import sys
import time

import _common as c

from provision.emulator import launcher

BASELINE = "import azure.identity, requests"
COMMANDS = (["plan", "--output", "json"], ["status", "--output", "json"], ["endpoint", "--output", "json"])


def main() -> None:
    args = c.arguments(__doc__.splitlines()[0], runs=(int, 7, "subprocess runs per command (median reported)"))
    with c.workdir("read") as root:
        with c.emulator(root) as info:
            env = c.cli_env(info, root)
            admin = launcher.Admin(info)
            c.run_cli(["up", "--output", "json"], env, root)
            subprocess.run([sys.executable, "-c", BASELINE], check=True)  # warm-up
            base = []
            for _ in range(args.runs):
                started = time.perf_counter()
                subprocess.run([sys.executable, "-c", BASELINE], check=True)
                base.append(time.perf_counter() - started)
            base_median = c.median(base)
            rows = [{"command": f"python -c '{BASELINE}'", "median_s": base_median, "min_s": min(base),
                     "x_baseline": 1.0, "requests": 0}]
            for cmd in COMMANDS:
                c.run_cli(cmd, env, root)  # warm-up
                times, requests = [], 0
                for _ in range(args.runs):
                    seq = admin.last_seq()
                    _, took = c.run_cli(cmd, env, root)
                    times.append(took)
                    requests = len([e for e in admin.requests(seq) if e["family"] in c.GRAPH_ARM])
                rows.append({"command": f"provision {cmd[0]}", "median_s": c.median(times), "min_s": min(times),
                             "x_baseline": c.ratio(c.median(times), base_median), "requests": requests})
            traced, traced_s = c.run_cli(["plan", "--output", "json"], env, root, python_flags=["-X", "importtime"])
            imports_s, heaviest = c.import_seconds(traced.stderr)
    c.report("read commands on a converged environment (median of subprocess runs)", rows, as_json=args.json,
             extra={"plan_import_s": f"{imports_s:.2f} of {traced_s:.2f} s wall (-X importtime)",
                    "heaviest_imports_s": {k: round(v, 2) for k, v in heaviest[:6]}},
             notes=["goal: x_baseline <= 3 for plan, status and endpoint",
                    "requests: Graph + ARM requests of one run, from the emulator's request log"])


if __name__ == "__main__":
    main()
