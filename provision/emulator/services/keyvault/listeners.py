"""One TLS listener per live vault: the vault's own origin `https://127.0.0.1:<port>/`.

azure-keyvault-secrets needs each vault at the root of an origin of its own: it parses every secret id as
`<origin>/secrets/<name>[/<version>]` (more path segments are a ValueError), and its challenge check wants the vault
host to end with "." + the challenge resource's host. Azure gives every vault a host name; here, where no such name
resolves, every vault gets a port. Each listener is a uvicorn server (in a daemon thread) serving the vault's data
plane app with the emulator's own certificate, so clients verify TLS against the emulator's CA as for every other
service.

A vault keeps its port (`_port` in its ARM document) across emulator restarts when the port is free; otherwise it
gets a new one and its `vaultUri` follows. Listeners close when their vault is deleted or the emulator is reset.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from typing import Any, Callable

import uvicorn

from provision.emulator.pki import ensure_tls
from provision.emulator.state import EmulatorState

log = logging.getLogger("provision.emulator.keyvault")


def _bind(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(("127.0.0.1", port))
    except OSError:
        sock.close()
        raise
    sock.listen(128)  # connections queue from here on, before the server thread accepts them
    return sock


class Listeners:
    """The vault listeners of one emulator state, by vault name (lower-cased)."""

    def __init__(self, state: EmulatorState, make_app: Callable[[EmulatorState, str], Any]):
        self.state = state
        self.make_app = make_app
        self._lock = threading.Lock()
        self._servers: dict[str, tuple[uvicorn.Server, int]] = {}

    def port_of(self, vault_name: str) -> int | None:
        with self._lock:
            entry = self._servers.get(vault_name.lower())
        return entry[1] if entry else None

    def open(self, vault_name: str, port: int = 0) -> int:
        """Serve the vault on `port` (its previous one), or on a new port when that one is taken or 0."""
        existing = self.port_of(vault_name)
        if existing is not None and (port in (0, existing)):
            return existing
        self.close(vault_name)
        try:
            sock = _bind(port)
        except OSError:
            sock = _bind(0)
        actual = sock.getsockname()[1]
        tls = ensure_tls(self.state.data_dir)
        config = uvicorn.Config(
            self.make_app(self.state, vault_name), ssl_certfile=str(tls.server_cert),
            ssl_keyfile=str(tls.server_key), log_level=os.environ.get("PROVISION_EMULATOR_LOG_LEVEL", "warning"),
            access_log=False, lifespan="off", timeout_keep_alive=30, server_header=False,
            timeout_graceful_shutdown=1)
        server = uvicorn.Server(config)
        thread = threading.Thread(target=self._run, args=(server, sock), daemon=True,
                                  name=f"keyvault-{vault_name}")
        with self._lock:
            self._servers[vault_name.lower()] = (server, actual)
        thread.start()
        return actual

    @staticmethod
    def _run(server: uvicorn.Server, sock: socket.socket) -> None:
        try:
            server.run(sockets=[sock])
        except Exception:  # pragma: no cover - a listener's failure must not take the emulator down
            log.exception("key vault listener stopped")
        finally:
            sock.close()

    def close(self, vault_name: str) -> None:
        with self._lock:
            entry = self._servers.pop(vault_name.lower(), None)
        if entry is not None:
            entry[0].should_exit = True

    def close_all(self) -> None:
        with self._lock:
            entries = list(self._servers.values())
            self._servers.clear()
        for server, _ in entries:
            server.should_exit = True


def listeners(state: EmulatorState) -> Listeners | None:
    return getattr(state, "keyvault_listeners", None)
