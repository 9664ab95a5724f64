"""Client assertions (certificate-signed JWTs and federated tokens). Filled in by the access-management work
(issue 5): until then an assertion is refused with Entra's own error."""

from __future__ import annotations

from typing import Any

from provision.emulator.state import EmulatorState
from provision.emulator.wire import OAuthError


def check_client_assertion(state: EmulatorState, app: dict[str, Any], assertion: str, token_url: str) -> None:
    raise OAuthError("invalid_client", 700027,
                     "Client assertion failed signature validation: the application has no key credential or "
                     "federated identity credential that matches.", status=401)
