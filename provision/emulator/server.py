"""Serve the emulator: TLS on 127.0.0.1, in the foreground (`provision emulator serve`) or in a thread."""

from __future__ import annotations

import json
import logging
import os
import socket
import sys
import threading
import time
from pathlib import Path

import uvicorn

from provision.emulator.app import create_app
from provision.emulator.config import Timing
from provision.emulator.pki import ensure_tls
from provision.emulator.state import EmulatorState

RUNTIME_FILE = "emulator.json"


def _bind(host: str, port: int | None, data_dir: Path) -> socket.socket:
    candidates = [port] if port else []
    if not port:  # reuse the last port when it is free, so printed env vars stay valid across restarts
        try:
            candidates.append(json.loads((data_dir / "last-port").read_text())["port"])
        except (OSError, ValueError, KeyError):
            pass
        candidates.append(0)
    err: OSError | None = None
    for p in candidates:
        # IPPROTO_TCP explicitly: asyncio turns Nagle off (TCP_NODELAY) only on sockets that say they are TCP;
        # without it every response waited ~40 ms for the client's delayed ACK.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, p))
        except OSError as e:
            sock.close()
            err = e
            continue
        sock.listen(512)
        sock.set_inheritable(True)
        return sock
    raise err or OSError("could not bind")


class Emulator:
    """One emulator instance: state + app + uvicorn server on a bound socket."""

    def __init__(self, data_dir: Path, port: int | None = None, host: str = "127.0.0.1",
                 timing: Timing | None = None):
        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.data_dir, 0o700)
        self.tls = ensure_tls(self.data_dir)
        self.state = EmulatorState(self.data_dir, timing)
        self.sock = _bind(host, port, self.data_dir)
        self.port = self.sock.getsockname()[1]
        self.url = f"https://{host}:{self.port}"
        config = uvicorn.Config(
            create_app(self.state), ssl_certfile=str(self.tls.server_cert), ssl_keyfile=str(self.tls.server_key),
            log_level=os.environ.get("PROVISION_EMULATOR_LOG_LEVEL", "warning"), access_log=False,
            lifespan="off", timeout_keep_alive=30, server_header=False,
            timeout_graceful_shutdown=1,  # idle keep-alive clients must not hold `stop` for long
        )
        self.server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None

    def _write_runtime(self) -> None:
        info = {"pid": os.getpid(), "port": self.port, "url": self.url, "startedAt": time.time()}
        (self.data_dir / RUNTIME_FILE).write_text(json.dumps(info))
        (self.data_dir / "last-port").write_text(json.dumps({"port": self.port}))

    def _clear_runtime(self) -> None:
        path = self.data_dir / RUNTIME_FILE
        try:
            if json.loads(path.read_text()).get("pid") == os.getpid():
                path.unlink()
        except (OSError, ValueError):
            pass

    def serve_forever(self) -> None:
        self._write_runtime()
        try:
            self.server.run(sockets=[self.sock])
        finally:
            self._clear_runtime()
            self.state.store.close()

    # -- in-process use (library users, benchmarks) -------------------------------------------------------------
    def start_in_thread(self) -> "Emulator":
        self._thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)
        self._thread.start()
        deadline = time.time() + 15
        while not self.server.started:
            if time.time() > deadline or not self._thread.is_alive():
                raise RuntimeError("emulator did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        if self._thread:
            self._thread.join(timeout=10)
        self.state.store.close()


def main(argv: list[str] | None = None) -> None:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m provision.emulator")
    parser.add_argument("command", choices=["serve"])
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from provision.emulator.state import DataDirError

    try:
        emulator = Emulator(Path(args.data_dir), port=args.port or None, host=args.host)
    except DataDirError as e:
        print(f"error: {e}", file=sys.stderr, flush=True)
        raise SystemExit(2) from None
    emulator.serve_forever()
