"""Fixtures shared by the emulator's own tests."""

from __future__ import annotations

import pytest
import requests


@pytest.fixture
def arm(request, emulator, operator_credential):
    """A raw ARM caller: arm(method, path, json=..., api_version=..., auth=..., headers=..., params=...) ->
    requests.Response, with the operator's ARM token unless auth=False or the caller sends its own Authorization.
    The default api-version is the test module's `API`."""
    token = operator_credential.get_token("https://management.azure.com/.default").token
    default_version = getattr(request.module, "API", None)

    def call(method: str, path: str, *, api_version: str | None = default_version, auth: bool = True, **kw):
        params = kw.pop("params", {})
        if api_version is not None:
            params["api-version"] = api_version
        headers = {"Authorization": f"Bearer {token}"} if auth else {}
        headers.update(kw.pop("headers", {}))
        return requests.request(method, emulator.url + path, params=params, headers=headers,
                                verify=str(emulator.ca_cert), **kw)

    return call
