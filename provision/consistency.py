"""Waiting out eventual consistency (after terraform-provider-azuread's consistency helpers).

Entra replicates writes asynchronously: right after an app is created, creating its service principal may fail
with NoBackingApplicationObject, and adding a new object to a group may 404. These are retried here with a
bounded exponential backoff; anything else propagates at once.
"""

from __future__ import annotations

import asyncio
import time
from typing import Awaitable, Callable, TypeVar

from provision.errors import ConsistencyTimeout

T = TypeVar("T")

def default_timeout() -> float:
    """The bound (seconds); PROVISION_CONSISTENCY_TIMEOUT changes it (read per call: tests set it per test)."""
    from provision.context import env_number

    return env_number("PROVISION_CONSISTENCY_TIMEOUT", 120.0)


def is_replication_lag(exc: BaseException) -> bool:
    """404 Request_ResourceNotFound or 400 NoBackingApplicationObject from Graph."""
    status = getattr(exc, "response_status_code", None)
    err = getattr(exc, "error", None)
    code = getattr(err, "code", None) or ""
    message = getattr(err, "message", None) or ""
    details = getattr(err, "details", None) or []
    detail_codes = {getattr(d, "code", None) for d in details}
    if status == 404 or code == "Request_ResourceNotFound":
        return True
    return status == 400 and ("NoBackingApplicationObject" in detail_codes or "does not reference a valid "
                              "application object" in message)


async def retry_lag(fn: Callable[[], Awaitable[T]], *, what: str, timeout: float | None = None,
                    first_delay: float = 0.5, max_delay: float = 10.0,
                    retryable: Callable[[BaseException], bool] = is_replication_lag, expect_lag: bool = True) -> T:
    """Retry `fn` while it fails as replication lag does. `expect_lag=False` (the objects involved were not
    written by this run): a NotFound is real and surfaces at once instead of after the whole bound."""
    timeout = default_timeout() if timeout is None else timeout
    if not expect_lag:
        return await fn()
    deadline = time.monotonic() + timeout
    delay = first_delay
    while True:
        try:
            return await fn()
        except Exception as e:  # noqa: BLE001 — filtered by `retryable`
            if not retryable(e):
                raise
            if time.monotonic() + delay > deadline:
                raise ConsistencyTimeout(f"{what}: still not visible after {timeout:.0f}s of Entra replication "
                                         f"lag ({getattr(getattr(e, 'error', None), 'message', e)})") from e
            await asyncio.sleep(delay)
            delay = min(delay * 2, max_delay)


async def wait_until(check: Callable[[], Awaitable[bool]], *, what: str, timeout: float | None = None,
                     interval: float = 0.5, consecutive: int = 1) -> None:
    """Poll until `check` is true `consecutive` times in a row (azuread's ContinuousTargetOccurence)."""
    timeout = default_timeout() if timeout is None else timeout
    deadline = time.monotonic() + timeout
    seen = 0
    while True:
        seen = seen + 1 if await check() else 0
        if seen >= consecutive:
            return
        if time.monotonic() > deadline:
            raise ConsistencyTimeout(f"{what}: not true after {timeout:.0f}s")
        await asyncio.sleep(interval)
