"""Which requests provision.transport resends after a dropped connection or a 5xx (no network needed)."""

from __future__ import annotations

import pytest

from provision import transport

ARM = "https://management.azure.com/subscriptions/s/resourceGroups/rg/providers"


@pytest.mark.parametrize(("method", "url", "safe"), [
    ("GET", f"{ARM}/Microsoft.HDInsight/clusters/c", True),
    ("PUT", f"{ARM}/Microsoft.HDInsight/clusters/c", True),
    ("PATCH", f"{ARM}/Microsoft.Network/networkSecurityGroups/n", True),
    ("DELETE", f"{ARM}/Microsoft.Storage/storageAccounts/s", True),
    ("POST", f"{ARM}/Microsoft.Storage/storageAccounts/s/listKeys?api-version=2023-01-01", True),
    ("POST", "https://management.azure.com/subscriptions/s/providers/Microsoft.HDInsight/locations/eastus/"
             "validateCreateRequest", True),
    ("POST", "https://management.azure.com/subscriptions/s/providers/Microsoft.Storage/checkNameAvailability", True),
    ("POST", f"{ARM}/Microsoft.Storage/storageAccounts/s/regenerateKey", False),
    ("POST", f"{ARM}/Microsoft.HDInsight/clusters/c/restartHosts", False),
])
def test_arm_requests_safe_to_resend(method, url, safe):
    assert transport.arm_request_is_safe(method, url) is safe


@pytest.mark.parametrize(("method", "url", "safe"), [
    ("GET", "https://graph.microsoft.com/v1.0/applications(uniqueName='x')", True),
    ("PATCH", "https://graph.microsoft.com/v1.0/applications(uniqueName='x')", True),
    ("DELETE", "https://graph.microsoft.com/v1.0/groups/g/members/m/$ref", True),
    ("POST", "https://graph.microsoft.com/v1.0/servicePrincipals/s/checkMemberGroups", True),
    ("POST", "https://graph.microsoft.com/v1.0/directoryObjects/getByIds", True),
    ("POST", "https://graph.microsoft.com/v1.0/groups/g/members/$ref", True),
    ("POST", "https://graph.microsoft.com/v1.0/applications/a/removePassword", True),
    ("POST", "https://graph.microsoft.com/v1.0/applications/a/addPassword", False),
    ("POST", "https://graph.microsoft.com/v1.0/applications/a/addKey", False),
    ("POST", "https://graph.microsoft.com/v1.0/applications", False),
    ("POST", "https://graph.microsoft.com/v1.0/applications/a/federatedIdentityCredentials", False),
    ("POST", "https://graph.microsoft.com/v1.0/$batch", False),
])
def test_graph_requests_safe_to_resend(method, url, safe):
    assert transport.graph_request_is_safe(method, url) is safe


def test_retry_after_and_backoff():
    assert transport.retry_after_seconds("2") == 2.0
    assert transport.retry_after_seconds("100000") == transport.RETRY_AFTER_MAX
    assert transport.retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # in the past
    assert transport.retry_after_seconds("soon") is None and transport.retry_after_seconds(None) is None
    assert transport.backoff(0) == 0.0 and 0 < transport.backoff(1) <= transport.backoff(3) * 2


def test_ambiguous_failures():
    import httpx

    req = httpx.Request("POST", "https://graph.microsoft.com/v1.0/applications/a/addPassword")
    assert transport.is_ambiguous(httpx.RemoteProtocolError("Server disconnected", request=req))
    assert transport.is_ambiguous(httpx.ReadTimeout("timed out", request=req))
    assert not transport.is_ambiguous(httpx.ConnectError("refused", request=req))  # never sent
    assert transport.is_transient(httpx.ConnectError("refused", request=req))
    assert not transport.is_transient(ValueError("bad"))


def test_describe_failure_names_the_request_and_says_a_rerun_is_safe():
    import httpx
    from azure.core.exceptions import ServiceResponseError

    req = httpx.Request("PATCH", "https://graph.microsoft.com/v1.0/groups(uniqueName='g')")
    line = transport.describe_failure(httpx.RemoteProtocolError("Server disconnected", request=req))
    assert line.startswith("Microsoft Graph PATCH /v1.0/groups(uniqueName='g'): the connection dropped")
    assert "run the same command again" in line and "\n" not in line
    assert "dropped" in transport.describe_failure(ServiceResponseError("reset"))
    assert transport.describe_failure(ValueError("a bug")) is None
