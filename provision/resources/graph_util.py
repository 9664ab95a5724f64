"""Small helpers for msgraph-sdk calls shared by the Entra resources."""

from __future__ import annotations

from typing import Any


def prefer_create_if_missing() -> Any:
    """Graph upsert by alternate key: PATCH …(uniqueName='x') with `Prefer: create-if-missing` → 201 or 204."""
    from kiota_abstractions.base_request_configuration import RequestConfiguration

    rc = RequestConfiguration()
    rc.headers.add("Prefer", "create-if-missing")
    return rc


def is_not_found(exc: BaseException) -> bool:
    return getattr(exc, "response_status_code", None) == 404


def is_already_member(exc: BaseException) -> bool:
    err = getattr(exc, "error", None)
    return (getattr(exc, "response_status_code", None) == 400
            and "already exist" in (getattr(err, "message", "") or ""))


async def get_or_none(call: Any) -> Any:
    from msgraph.generated.models.o_data_errors.o_data_error import ODataError

    try:
        return await call()
    except ODataError as e:
        if is_not_found(e):
            return None
        raise


def odata_message(exc: BaseException) -> str:
    err = getattr(exc, "error", None)
    if err is not None and getattr(err, "message", None):
        return f"{getattr(err, 'code', '')}: {err.message}"
    return str(exc)
