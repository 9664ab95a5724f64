"""Azure Resource Manager reads as plain JSON: one azure-core pipeline (ARM's bearer/CAE challenge policy, the
same retry policy as the SDK clients, request logging for -v, the cloud's CA), answers as Azure's wire JSON.

Reads are what `plan`, `status` and `endpoint` do, and the preflight checks before `up` writes (name availability,
quota, VM-size defaults); importing azure-mgmt-* for them cost more than the requests themselves, right on the way
to the first write. Writes keep using the SDKs (their models, long-running-operation pollers and error types).
"""

from __future__ import annotations

from typing import Any

# The api-versions the SDK clients this project pins send for the same operations.
RESOURCES = "2025-04-01"
NETWORK = "2026-03-01"
STORAGE = "2026-09-01"
HDINSIGHT = "2021-06-01"
KEYVAULT = "2026-05-15"


def _pipeline(ctx: Any) -> Any:
    client = ctx.results.get("_armPipeline")
    if client is None:
        from azure.core import PipelineClient
        from azure.core.pipeline.policies import HeadersPolicy, HttpLoggingPolicy, RequestIdPolicy, UserAgentPolicy
        from azure.core.pipeline.transport import RequestsTransport
        from azure.mgmt.core.policies import ARMChallengeAuthenticationPolicy

        from provision import __version__
        from provision.transport import arm_retry_policy

        kw = {"connection_verify": ctx.cloud.ca_bundle} if ctx.cloud.ca_bundle else {}
        client = ctx.results["_armPipeline"] = PipelineClient(
            base_url=ctx.cloud.arm, transport=RequestsTransport(**kw),
            policies=[RequestIdPolicy(), HeadersPolicy({"Accept": "application/json"}),
                      UserAgentPolicy(f"provision/{__version__}"), arm_retry_policy(),
                      ARMChallengeAuthenticationPolicy(ctx.credential, ctx.cloud.arm_scope), HttpLoggingPolicy()])
    return client


def _send(ctx: Any, method: str, path: str, api_version: str, body: Any = None) -> dict[str, Any] | None:
    from azure.core.exceptions import HttpResponseError
    from azure.core.rest import HttpRequest

    sep = "&" if "?" in path else "?"
    response = _pipeline(ctx).send_request(
        HttpRequest(method, f"{ctx.cloud.arm}{path}{sep}api-version={api_version}", json=body))
    if response.status_code == 404 and method == "GET":
        return None
    if response.status_code >= 400:
        from azure.mgmt.core.exceptions import ARMErrorFormat

        raise HttpResponseError(response=response, error_format=ARMErrorFormat)
    return response.json()


async def get(ctx: Any, path: str, api_version: str) -> dict[str, Any] | None:
    """GET an ARM resource (path from /subscriptions/…); None when it (or its resource group) does not exist."""
    return await ctx.arm_call(_send, ctx, "GET", path, api_version)


async def action(ctx: Any, path: str, api_version: str, body: dict[str, Any]) -> dict[str, Any]:
    """POST to a read-only ARM action (checkNameAvailability and the like): its answer as wire JSON."""
    return await ctx.arm_call(_send, ctx, "POST", path, api_version, body)


def subscription_path(ctx: Any) -> str:
    return f"/subscriptions/{ctx.subscription_id}"


def rg_path(ctx: Any, rg: str | None = None) -> str:
    return f"{subscription_path(ctx)}/resourceGroups/{rg or ctx.spec.values['resource_group']}"
