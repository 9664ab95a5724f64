"""Start, stop and find a background emulator, and hand out what clients need to reach it.

This module is the CLI's only door into the emulator: it runs `python -m provision.emulator serve` as a
detached process and talks to it over HTTPS, never importing the emulator's internals (or any Azure SDK).
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from provision.emulator.config import DATA_DIR_ENV, default_data_dir
from provision.errors import ProvisionError

RUNTIME_FILE = "emulator.json"
LOCK_FILE = ".lock"


class EmulatorError(ProvisionError):
    """The emulator could not be started, reached or stopped."""


@dataclass(frozen=True)
class EmulatorInfo:
    url: str
    port: int
    pid: int
    data_dir: Path
    ca_cert: Path
    tenant_id: str
    subscription_id: str
    client_id: str
    client_secret: str = field(repr=False)
    admin_key: str = field(repr=False)

    @property
    def authority(self) -> str:
        return self.url

    @property
    def graph_url(self) -> str:
        return f"{self.url}/v1.0"

    @property
    def arm_url(self) -> str:
        return self.url

    def env(self) -> dict[str, str]:
        """The environment variables that point azure-identity, the Azure SDKs and `provision` at the emulator."""
        return {
            "AZURE_AUTHORITY_HOST": self.authority,
            "AZURE_TENANT_ID": self.tenant_id,
            "AZURE_CLIENT_ID": self.client_id,
            "AZURE_CLIENT_SECRET": self.client_secret,
            "AZURE_SUBSCRIPTION_ID": self.subscription_id,
            "REQUESTS_CA_BUNDLE": str(self.ca_cert),
            "SSL_CERT_FILE": str(self.ca_cert),
            "AZURE_RESOURCE_MANAGER_URL": self.arm_url,
            "MICROSOFT_GRAPH_URL": self.graph_url,
            "PROVISION_EMULATOR_URL": self.url,
        }

    def public(self) -> dict[str, Any]:
        return {"url": self.url, "port": self.port, "pid": self.pid, "dataDir": str(self.data_dir),
                "caCert": str(self.ca_cert), "tenantId": self.tenant_id, "subscriptionId": self.subscription_id,
                "clientId": self.client_id, "graphUrl": self.graph_url, "armUrl": self.arm_url}


def resolve_data_dir(data_dir: str | os.PathLike | None = None) -> Path:
    return Path(data_dir).expanduser() if data_dir else default_data_dir()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _read_runtime(data_dir: Path) -> dict[str, Any] | None:
    try:
        info = json.loads((data_dir / RUNTIME_FILE).read_text())
    except (OSError, ValueError):
        return None
    return info if _pid_alive(int(info.get("pid", 0))) else None


def _info(data_dir: Path, runtime: dict[str, Any]) -> EmulatorInfo:
    op = json.loads((data_dir / "operator.json").read_text())
    return EmulatorInfo(
        url=runtime["url"], port=runtime["port"], pid=runtime["pid"], data_dir=data_dir,
        ca_cert=data_dir / "ca.pem", tenant_id=op["tenantId"], subscription_id=op["subscriptionId"],
        client_id=op["clientId"], client_secret=op["clientSecret"],
        admin_key=(data_dir / "admin-key").read_text().strip(),
    )


def _health(url: str, ca: Path, timeout: float = 2.0) -> dict[str, Any] | None:
    """The health document of the emulator at `url` (verified against our CA), or None."""
    import ssl
    import urllib.request

    try:
        ctx = ssl.create_default_context(cafile=str(ca))
        with urllib.request.urlopen(f"{url}/_emulator/health", context=ctx, timeout=timeout) as r:
            if r.status != 200:
                return None
            body = json.loads(r.read())
            return body if isinstance(body, dict) else None
    except (OSError, ValueError):
        return None


def _healthy(url: str, ca: Path, timeout: float = 2.0) -> bool:
    return _health(url, ca, timeout) is not None


def _cmdline(pid: int) -> list[str] | None:
    """The process's arguments (Linux /proc), or None where that cannot be read."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    return [a.decode(errors="replace") for a in raw.split(b"\0") if a]


def _same_dir(arg: str, pid: int, d: Path) -> bool:
    path = Path(arg).expanduser()
    if not path.is_absolute():
        try:
            path = Path(os.readlink(f"/proc/{pid}/cwd")) / path
        except OSError:
            return False
    try:
        return path.resolve() == d.resolve()
    except OSError:
        return False


def _owns(pid: int, d: Path, runtime: dict[str, Any]) -> bool | None:
    """Is `pid` the emulator serving data directory `d`? True, False, or None when it cannot be told.

    A pid in emulator.json may belong to an unrelated process by now (after a crash or a reboot): never signal one
    without this proof — its command line names the emulator and this directory, or the emulator at the recorded
    URL (verified by our CA) answers with that pid."""
    args = _cmdline(pid)
    if args is not None and "serve" in args and any(a.endswith("provision.emulator") for a in args):
        if "--data-dir" in args:
            i = args.index("--data-dir")
            if i + 1 < len(args) and _same_dir(args[i + 1], pid, d):
                return True
    health = _health(runtime.get("url", ""), d / "ca.pem") if runtime.get("url") else None
    if health is not None and health.get("pid") == pid:
        return True
    if args is not None:
        return False  # we could read its command line, and it is not ours
    return None


def status(data_dir: str | os.PathLike | None = None) -> EmulatorInfo | None:
    """The running emulator for this data directory, or None."""
    d = resolve_data_dir(data_dir)
    runtime = _read_runtime(d)
    if runtime is None or not _healthy(runtime["url"], d / "ca.pem"):
        return None
    return _info(d, runtime)


def start(data_dir: str | os.PathLike | None = None, port: int | None = None, timeout: float = 60.0,
          env: dict[str, str] | None = None) -> EmulatorInfo:
    """Start a background emulator (or return the one already running) and wait until it answers.

    Holds an exclusive lock on `<data dir>/.lock` throughout, so concurrent starts for one data directory start
    one emulator (two would share, and corrupt, one SQLite file); the second returns the first's."""
    d = resolve_data_dir(data_dir)
    running = status(d)
    if running is not None:
        return _check_port(d, running, port)
    try:
        d.mkdir(parents=True, exist_ok=True)
        os.chmod(d, 0o700)
        lock = open(d / LOCK_FILE, "a")
    except OSError as e:
        raise EmulatorError(f"cannot use {d} as the emulator's data directory: {e.strerror or e}") from None
    with lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file is closed
        running = status(d)  # another start may have finished while we waited
        if running is not None:
            return _check_port(d, running, port)
        return _spawn(d, port, timeout, env)


def _check_port(d: Path, running: EmulatorInfo, port: int | None) -> EmulatorInfo:
    if port and running.port != port:
        raise EmulatorError(f"an emulator for {d} is already running on port {running.port}; stop it first")
    return running


def _spawn(d: Path, port: int | None, timeout: float, env: dict[str, str] | None) -> EmulatorInfo:
    cmd = [sys.executable, "-m", "provision.emulator", "serve", "--data-dir", str(d)]
    if port:
        cmd += ["--port", str(port)]
    proc_env = dict(os.environ, **(env or {}))
    proc_env.pop(DATA_DIR_ENV, None)
    try:
        with open(d / "emulator.log", "ab") as log:
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
                                    env=proc_env, close_fds=True)
    except OSError as e:
        raise EmulatorError(f"cannot start the emulator for {d}: {e.strerror or e}") from None
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            tail = (d / "emulator.log").read_text(errors="replace")[-2000:]
            raise EmulatorError(f"the emulator exited with code {proc.returncode}:\n{tail}")
        runtime = _read_runtime(d)
        if runtime and runtime.get("pid") == proc.pid and _healthy(runtime["url"], d / "ca.pem", 1.0):
            return _info(d, runtime)
        time.sleep(0.05)
    proc.terminate()
    raise EmulatorError(f"the emulator did not become ready within {timeout:.0f}s (log: {d / 'emulator.log'})")


def stop(data_dir: str | os.PathLike | None = None, timeout: float = 15.0) -> bool:
    """Stop the background emulator; True if one was running."""
    d = resolve_data_dir(data_dir)
    runtime = _read_runtime(d)
    if runtime is None:
        return False
    pid = int(runtime["pid"])
    ours = _owns(pid, d, runtime)
    if not ours:
        if ours is False:  # a stale file naming someone else's process: forget it, signal nothing
            try:
                (d / RUNTIME_FILE).unlink()
            except OSError:
                pass
        return False
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    deadline = time.time() + timeout
    while time.time() < deadline and _pid_alive(pid):
        time.sleep(0.05)
        try:  # reap it if it is our child (tests start and stop in one process)
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass
    if _pid_alive(pid):
        os.kill(pid, signal.SIGKILL)
    try:
        (d / RUNTIME_FILE).unlink()
    except OSError:
        pass
    return True


class Admin:
    """A small client for the /_emulator admin API (reset, faults, request log, timing) over verified TLS."""

    def __init__(self, info: EmulatorInfo):
        import requests

        self.info = info
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {info.admin_key}"

    def _call(self, method: str, path: str, **kw: Any) -> Any:
        # verify per request: a REQUESTS_CA_BUNDLE in the environment would override a session-level setting
        r = self.session.request(method, f"{self.info.url}/_emulator{path}", timeout=30,
                                 verify=str(self.info.ca_cert), **kw)
        if r.status_code >= 400:
            raise EmulatorError(f"admin {method} {path}: {r.status_code} {r.text}")
        return r.json() if r.content else None

    def reset(self) -> None:
        self._call("POST", "/reset")

    def configure(self, **timing: Any) -> dict:
        return self._call("PATCH", "/config", json=timing)

    def add_fault(self, **rule: Any) -> dict:
        return self._call("POST", "/faults", json=rule)

    def faults(self) -> list[dict]:
        """The fault rules in force, each with how often it matched (`seen`) and fired (`fired`)."""
        return self._call("GET", "/faults")["value"]

    def clear_faults(self) -> None:
        self._call("DELETE", "/faults")

    def set_replication_lag(self, seconds: float, kinds: list[str] | None = None) -> dict:
        return self._call("PUT", "/replication", json={"seconds": seconds, "kinds": kinds})

    def requests(self, since: int = 0) -> list[dict]:
        return self._call("GET", "/requests", params={"since": since})["value"]

    def last_seq(self) -> int:
        return self._call("GET", "/requests", params={"since": 10**12})["lastSeq"]

    def federated_token(self, subject: str, audience: str = "api://AzureADTokenExchange",
                        lifetime_seconds: int = 600) -> str:
        """A token from the emulator's OpenID issuer, as GitHub Actions or Kubernetes would hand a workload."""
        return self._call("POST", "/oidc/token", json={"subject": subject, "audience": audience,
                                                         "lifetimeSeconds": lifetime_seconds})["token"]

    @property
    def oidc_issuer(self) -> str:
        return f"{self.info.url}/_emulator/oidc"

    def objects(self, kind: str) -> list[dict]:
        return self._call("GET", "/objects", params={"kind": kind})["value"]
