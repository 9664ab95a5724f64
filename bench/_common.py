"""Shared helpers for the benchmarks in bench/ (imported as `_common`: each bench runs as `python bench/<name>.py`).

Every bench starts its own emulator in a temporary data directory (`emulator()`), drives it only through
127.0.0.1, and stops it at the end. Figures are printed as a small table; `--json` prints them as JSON instead.
Speed goals are expressed as ratios against a baseline measured in the same run, never as absolute thresholds.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Iterator

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run from anywhere: `python bench/x.py` puts bench/, not the project, on the path
    sys.path.insert(0, str(ROOT))

from provision.emulator import launcher  # noqa: E402

GRAPH_ARM = ("graph", "arm")
# Short timings: long-running operations settle in well under a second, a cluster is created in 2 s.
FAST_TIMING = {
    "lro_seconds": 0.2,
    "cluster_create_seconds": 2,
    "cluster_delete_seconds": 0.5,
    "retry_after_seconds": 0,
    "membership_propagation_seconds": 0.5,
    "topic_visibility_seconds": 0.2,
}


def arguments(description: str, **extra: Any) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    for name, (kind, default, help_) in extra.items():
        p.add_argument(f"--{name.replace('_', '-')}", type=kind, default=default, help=help_)
    return p.parse_args()


def timing_env(**overrides: Any) -> dict[str, str]:
    return {f"PROVISION_EMULATOR_{k.upper()}": str(v) for k, v in {**FAST_TIMING, **overrides}.items()}


@contextlib.contextmanager
def workdir(prefix: str) -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix=f"provision-bench-{prefix}-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@contextlib.contextmanager
def emulator(root: Path, **timing: Any) -> Iterator[launcher.EmulatorInfo]:
    """An emulator of our own in `root/emulator`, stopped on the way out (even after an error)."""
    data_dir = root / "emulator"
    info = launcher.start(data_dir, env=timing_env(**timing))
    try:
        yield info
    finally:
        launcher.stop(data_dir)


def cli_env(info: launcher.EmulatorInfo, root: Path, name: str = "bench") -> dict[str, str]:
    """The environment the CLI runs with: the local cloud on our emulator, our own state dir, quick polling —
    and none of the caller's other PROVISION_* settings (as tests/cli/test_up.py's `env` fixture does)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("PROVISION_") and not k.startswith("AZURE_") and k != "REQUESTS_CA_BUNDLE"}
    env.update({
        "PROVISION_CLOUD": "local",
        "PROVISION_EMULATOR_DIR": str(info.data_dir),
        "PROVISION_STATE_DIR": str(root / "state"),
        "PROVISION_POLLING_INTERVAL": "0.1",
        "PROVISION_NAME": name,
        "PROVISION_NO_COLOR": "1",
    })
    return env


def provision_command() -> list[str]:
    """The `provision` console script of this interpreter's environment (what a user runs), else `-m provision`."""
    script = Path(sys.executable).parent / "provision"
    return [str(script)] if script.exists() else [sys.executable, "-m", "provision"]


def run_cli(args: list[str], env: dict[str, str], cwd: Path, *, check: bool = True, timeout: float = 300,
            python_flags: list[str] | None = None) -> tuple[subprocess.CompletedProcess, float]:
    """Run the CLI in a subprocess; (result, wall seconds). `python_flags` (e.g. ["-X", "importtime"]) runs it as
    `python FLAGS -m provision` instead of the console script."""
    cmd = [sys.executable, *python_flags, "-m", "provision"] if python_flags else provision_command()
    started = time.perf_counter()
    r = subprocess.run(cmd + args, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    took = time.perf_counter() - started
    if check and r.returncode != 0:
        raise SystemExit(f"provision {' '.join(args)} failed ({r.returncode}):\n{r.stdout[-3000:]}\n"
                         f"{r.stderr[-3000:]}")
    return r, took


def median(values: list[float]) -> float:
    return statistics.median(values)


def writes(entries: list[dict], families: tuple[str, ...] = GRAPH_ARM) -> list[dict]:
    return [e for e in entries if e["write"] and e["family"] in families]


def ratio(a: float, b: float) -> float | None:
    """a / b (None when b is 0), rounded to 3 decimals."""
    return round(a / b, 3) if b else None


def report(title: str, rows: list[dict[str, Any]], *, as_json: bool, notes: list[str] | None = None,
           extra: dict[str, Any] | None = None) -> None:
    """Print rows (dicts with the same keys) as an aligned table, or everything as one JSON document."""
    if as_json:
        print(json.dumps({"bench": title, "rows": rows, **(extra or {}), "notes": notes or []}, indent=2))
        return
    print(f"\n{title}")
    if rows:
        cols = list(rows[0])
        cells = [[_fmt(r.get(c), c) for c in cols] for r in rows]
        widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(cols)]
        print("  ".join(c.ljust(w) for c, w in zip(cols, widths)))
        print("  ".join("-" * w for w in widths))
        for row in cells:
            print("  ".join(v.rjust(w) if _numeric(v) else v.ljust(w) for v, w in zip(row, widths)))
    for key, value in (extra or {}).items():
        print(f"{key}: {value}")
    for note in notes or []:
        print(f"note: {note}")


def _fmt(v: Any, column: str = "") -> str:
    """Ratios (columns named x_...) as "4.56x"; seconds with 3 decimals below 10."""
    if v is None:
        return "-"
    if column.startswith("x_") and isinstance(v, (int, float)):
        return f"{v:.2f}x"
    if isinstance(v, float):
        return f"{v:.3f}" if abs(v) < 10 else f"{v:.1f}"
    return str(v)


def _numeric(v: str) -> bool:
    return v.replace(".", "", 1).replace("-", "", 1).removesuffix("x").isdigit()


def import_seconds(importtime_stderr: str) -> tuple[float, list[tuple[str, float]]]:
    """Total import time from `python -X importtime` output (top-level imports' cumulative microseconds), and the
    heaviest top-level packages (summed by their first two name parts)."""
    total, by_pkg = 0, {}
    for line in importtime_stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        _, cumulative, name = line.split("|")
        if cumulative.strip().isdigit() and name.startswith(" ") and not name.startswith("  "):
            us = int(cumulative)
            total += us
            pkg = ".".join(name.strip().split(".")[:2])
            by_pkg[pkg] = by_pkg.get(pkg, 0) + us
    top = sorted(((k, v / 1e6) for k, v in by_pkg.items()), key=lambda kv: -kv[1])
    return total / 1e6, top
