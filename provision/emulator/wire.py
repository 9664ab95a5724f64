"""Wire-level pieces shared by every emulated service: error envelopes, JSON bodies, request ids.

Each Azure API family writes errors its own way, and the SDKs parse exactly that shape, so each family has one
exception class that knows its envelope (as moto's ServiceException knows its protocol). Handlers raise; the app
renders in one place.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

MAX_BODY_BYTES = 4 * 1024 * 1024  # Graph rejects request bodies over 4 MB


def utcnow_iso() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def request_id(request: Request) -> str:
    rid = getattr(request.state, "request_id", None)
    if rid is None:
        rid = str(uuid.uuid4())
        request.state.request_id = rid
    return rid


class ServiceError(Exception):
    """An error as a service writes it. Subclasses define the envelope."""

    status: int = 400
    code: str = "BadRequest"

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None,
                 headers: dict[str, str] | None = None, **extra: Any):
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        self.headers = headers or {}
        self.extra = extra

    def body(self, request: Request) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message}}

    def response(self, request: Request) -> Response:
        return JSONResponse(self.body(request), status_code=self.status, headers=self.headers)


class GraphError(ServiceError):
    """Microsoft Graph: {"error": {"code", "message", "innerError": {"date", "request-id", "client-request-id"}}}."""

    def body(self, request: Request) -> dict[str, Any]:
        rid = request_id(request)
        err: dict[str, Any] = {"code": self.code, "message": self.message}
        if "details" in self.extra:
            err["details"] = self.extra["details"]
        err["innerError"] = {
            "date": utcnow_iso().rstrip("Z"),  # Graph writes this one without the zone designator
            "request-id": rid,
            "client-request-id": request.headers.get("client-request-id", rid),
        }
        return {"error": err}


class ArmError(ServiceError):
    """Azure Resource Manager: {"error": {"code", "message", "target", "details"}}."""

    def body(self, request: Request) -> dict[str, Any]:
        err: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.extra.get("target") is not None:
            err["target"] = self.extra["target"]
        err["details"] = self.extra.get("details", [])
        return {"error": err}

    def response(self, request: Request) -> Response:
        headers = {"x-ms-failure-cause": "gateway" if self.status in (401, 404) else "service", **self.headers}
        return JSONResponse(self.body(request), status_code=self.status, headers=headers)


class OAuthError(ServiceError):
    """Entra ID token service: {"error", "error_description", "error_codes", "timestamp", "trace_id", ...}.

    `code` is the OAuth error (invalid_client, ...); `aadsts` the numeric AADSTS code.
    """

    def __init__(self, error: str, aadsts: int, description: str, *, status: int = 400):
        super().__init__(f"AADSTS{aadsts}: {description}", code=error, status=status)
        self.aadsts = aadsts

    def body(self, request: Request) -> dict[str, Any]:
        rid = request_id(request)
        return {
            "error": self.code,
            "error_description": f"{self.message}\r\nTrace ID: {rid}\r\nCorrelation ID: {rid}\r\n"
            f"Timestamp: {utcnow_iso().replace('T', ' ').rstrip('Z')}Z",
            "error_codes": [self.aadsts],
            "timestamp": utcnow_iso().replace("T", " ").rstrip("Z") + "Z",
            "trace_id": rid,
            "correlation_id": rid,
            "error_uri": f"{str(request.base_url).rstrip('/')}/error?code={self.aadsts}",
        }


class KafkaRestError(ServiceError):
    """Kafka REST proxy data plane. Microsoft documents no error schema; we answer
    {"error_code": <http status>, "message": "..."} (the Confluent proxy's shape)."""

    def body(self, request: Request) -> dict[str, Any]:
        return {"error_code": self.status, "message": self.message}


class AdminError(ServiceError):
    pass


async def read_json(request: Request, error_cls: type[ServiceError], *, required: bool = True,
                    max_bytes: int = MAX_BODY_BYTES, **error_kwargs: Any) -> Any:
    """Parse a JSON request body, raising the family's own error for every kind of bad input."""
    raw = await request.body()
    if len(raw) > max_bytes:
        raise error_cls(f"The request body is {len(raw)} bytes; the limit is {max_bytes} bytes.",
                        status=413, code=error_kwargs.get("too_large_code", "RequestEntityTooLarge"))
    if not raw.strip():
        if required:
            raise error_cls("The request body is empty; a JSON object is required.",
                            code=error_kwargs.get("bad_code", "BadRequest"))
        return None
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as e:
        raise error_cls(f"The request body is not valid JSON: {e}.",
                        code=error_kwargs.get("bad_code", "BadRequest")) from None


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse(data, status_code=status, headers=headers)


def empty_response(status: int = 204, headers: dict[str, str] | None = None) -> Response:
    return Response(status_code=status, headers=headers)


_SLASHES = re.compile(r"/{2,}")


def normalized_scope(scope: dict) -> tuple[dict, str]:
    """The ASGI scope with its path as Azure's front doors read it: repeated slashes folded (msgraph-sdk sends
    `v1.0//applications`), no trailing slash. Returns (scope, path)."""
    path = _SLASHES.sub("/", scope["path"]) or "/"
    if len(path) > 1:
        path = path.rstrip("/") or "/"
    return dict(scope, path=path, raw_path=path.encode()), path
