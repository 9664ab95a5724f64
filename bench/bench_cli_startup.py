"""CLI start-up time: `provision --help` and `provision up --help`, each the median of N fresh subprocesses.

Baselines measured in the same run:
- `python -c pass`: the interpreter alone (the floor no CLI can go under);
- `python -c "import azure.mgmt.network, msgraph, azure.mgmt.hdinsight"`: what every command would pay if the CLI
  imported the SDKs eagerly instead of inside the commands that call Azure.

No emulator is needed: `--help` must never reach the network (or even import an SDK).

    python bench/bench_cli_startup.py [--runs 15] [--json]
"""

from __future__ import annotations

import subprocess
import sys
import time

import _common as c

SDK_IMPORTS = "import azure.mgmt.network, msgraph, azure.mgmt.hdinsight"


def wall(cmd: list[str], runs: int) -> list[float]:
    subprocess.run(cmd, capture_output=True, check=True)  # warm-up: byte-code caches, page cache
    out = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(cmd, capture_output=True, check=True)
        out.append(time.perf_counter() - started)
    return out


def sdk_modules_loaded(args: list[str]) -> list[str]:
    """Which SDK packages the CLI has imported by the time `args` has run (checked in-process, once)."""
    probe = ("import sys\nfrom click.testing import CliRunner\nfrom provision.cli import cli\n"
             f"CliRunner().invoke(cli, {args!r})\n"
             "print(' '.join(sorted({m.split('.')[0] + ('.' + m.split('.')[1] if m.startswith('azure.') and "
             "m.count('.') else '') for m in sys.modules if m.startswith(('azure.', 'msgraph', 'kiota'))})))")
    r = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=c.ROOT)
    return r.stdout.split()


def main() -> None:
    args = c.arguments(__doc__.splitlines()[0], runs=(int, 15, "subprocess runs per command (median reported)"))
    cli = c.provision_command()
    cases = [
        ("python -c pass", [sys.executable, "-c", "pass"]),
        ("provision --help", cli + ["--help"]),
        ("provision up --help", cli + ["up", "--help"]),
        ("python -c 'import SDKs'", [sys.executable, "-c", SDK_IMPORTS]),
    ]
    medians = {}
    for label, cmd in cases:
        times = wall(cmd, args.runs)
        medians[label] = (c.median(times), min(times), max(times))
    base = medians["python -c pass"][0]
    eager = medians["python -c 'import SDKs'"][0]
    rows = [{"command": label, "median_s": med, "min_s": lo, "max_s": hi,
             "x_python": c.ratio(med, base), "x_sdk_import": c.ratio(med, eager)}
            for label, (med, lo, hi) in medians.items()]
    loaded = [(a, sdk_modules_loaded(a)) for a in (["--help"], ["up", "--help"])]
    extra = {"runs": args.runs,
             "cli_over_python_ms": round((medians["provision --help"][0] - base) * 1000, 1),
             "eager_sdk_import_over_python_ms": round((eager - base) * 1000, 1),
             "sdk_modules_imported": {f"provision {' '.join(a)}": mods or "none" for a, mods in loaded}}
    c.report("CLI start-up (wall time, median of N subprocess runs)", rows, as_json=args.json, extra=extra,
             notes=["x_python: ratio to `python -c pass`; x_sdk_import: ratio to importing the SDKs eagerly "
                    "(< 1 means --help is cheaper than the imports alone)"])


if __name__ == "__main__":
    main()
