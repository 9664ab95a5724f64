"""Small helpers for msgraph-sdk calls shared by the Entra resources."""

from __future__ import annotations

import datetime as dt
import uuid
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


# -- app registrations shared by the environment's own app (app_registration) and client apps (access) ----------
RENEW_BEFORE = dt.timedelta(days=7)  # a credential this close to expiry counts as gone


def valid_until(value: Any) -> bool:
    """True when an end date is further away than RENEW_BEFORE."""
    if not value:
        return False
    end = value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return end > dt.datetime.now(dt.timezone.utc) + RENEW_BEFORE


async def upsert_application(graph: Any, unique_name: str, body: Any) -> tuple[Any, bool]:
    """PATCH /applications(uniqueName=…) with create-if-missing: (application, created). A 204 (it existed) is read
    back — the upsert key is consistent, but the read is retried for replication lag."""
    from provision.consistency import retry_lag

    app = await graph.applications_with_unique_name(unique_name).patch(
        body, request_configuration=prefer_create_if_missing())
    if app is not None:
        return app, True
    return await retry_lag(lambda: graph.applications_with_unique_name(unique_name).get(),
                           what=f"application {unique_name}"), False


async def ensure_service_principal(graph: Any, app_id: str, body: Any = None, *, what: str = "service principal",
                                   fresh_app: bool = True) -> tuple[Any, bool]:
    """The app's service principal, created (upsert by appId) when missing: (service principal, created).
    `fresh_app`: the app was created by this run, so Entra may not know it yet (retried as lag); for an app that
    existed before, a refusal is real and surfaces at once."""
    from msgraph.generated.models.service_principal import ServicePrincipal

    from provision.consistency import retry_lag

    sp = await get_or_none(lambda: graph.service_principals_with_app_id(app_id).get())
    if sp is not None:
        return sp, False
    sp = await retry_lag(lambda: graph.service_principals_with_app_id(app_id).patch(
        body or ServicePrincipal(), request_configuration=prefer_create_if_missing()), what=what,
        expect_lag=fresh_app)
    if sp is None:
        sp = await retry_lag(lambda: graph.service_principals_with_app_id(app_id).get(), what=what)
    return sp, True


async def add_secret(graph: Any, app_object_id: str, display_name: str, days: int, *, what: str) -> Any:
    """addPassword: the new PasswordCredential (secret_text is returned only here).

    addPassword is not idempotent and the transport never resends it. After an ambiguous failure (the connection
    dropped or a 5xx after the request was sent) the credential may exist although its secret was never seen: the
    application is read back and such an orphan — found by `display_name` and the exact `endDateTime` this call
    chose (whole seconds, with a random offset under an hour, so it marks this call) — is removed before the
    request is sent again, and once more after success, so a retry never leaves two credentials."""
    import asyncio
    import random

    from msgraph.generated.applications.item.add_password.add_password_post_request_body import (
        AddPasswordPostRequestBody,
    )
    from msgraph.generated.models.password_credential import PasswordCredential

    from provision import transport
    from provision.consistency import retry_lag

    end = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=days)
           - dt.timedelta(seconds=random.randrange(1, 3600))).replace(microsecond=0)
    body = AddPasswordPostRequestBody(password_credential=PasswordCredential(display_name=display_name,
                                                                             end_date_time=end))
    ambiguous = False
    for attempt in range(transport.MAX_RETRIES + 1):
        try:
            pw = await retry_lag(lambda: graph.applications.by_application_id(app_object_id).add_password.post(body),
                                 what=what)
            break
        except Exception as e:  # noqa: BLE001 — only transient failures are retried, see below
            if not transport.is_transient(e) or attempt >= transport.MAX_RETRIES:
                raise
            if transport.is_ambiguous(e):
                ambiguous = True
                await _remove_marked_secrets(graph, app_object_id, display_name, end, keep=None)
            await asyncio.sleep(transport.backoff(attempt + 1))
    if ambiguous:  # a replica that had not seen the orphan yet: look again, keep only the one we hold
        await _remove_marked_secrets(graph, app_object_id, display_name, end, keep=pw.key_id)
    return pw


async def _remove_marked_secrets(graph: Any, app_object_id: str, display_name: str, end: dt.datetime,
                                 keep: Any) -> list[str]:
    """Remove the app's password credentials this add_secret call made (display name + its end time) other than
    `keep`: their secret text was lost with the response, so nobody holds it."""
    from kiota_abstractions.base_request_configuration import RequestConfiguration
    from msgraph.generated.applications.item.application_item_request_builder import ApplicationItemRequestBuilder

    qp = ApplicationItemRequestBuilder.ApplicationItemRequestBuilderGetQueryParameters(
        select=["id", "passwordCredentials"])
    app = await get_or_none(lambda: graph.applications.by_application_id(app_object_id).get(
        request_configuration=RequestConfiguration(query_parameters=qp)))
    removed = []
    for c in getattr(app, "password_credentials", None) or []:
        c_end = c.end_date_time
        if isinstance(c_end, str):
            c_end = dt.datetime.fromisoformat(c_end.replace("Z", "+00:00"))
        same_end = c_end is not None and abs((c_end - end).total_seconds()) < 1
        if c.display_name == display_name and same_end and str(c.key_id) != str(keep):
            if await remove_secret(graph, app_object_id, c.key_id):
                removed.append(str(c.key_id))
    return removed


async def add_federated_credential(graph: Any, app_object_id: str, body: Any, *, what: str) -> Any:
    """POST …/federatedIdentityCredentials: the credential (`body`: a FederatedIdentityCredential with a name,
    issuer and subject). A plain POST create, never resent by the transport: after an ambiguous failure (dropped
    connection, 5xx after sending) the app's credentials are read back and one with this name, issuer and subject
    is the one this call made; only when there is none is the request sent again. A 409 (the name is taken) is
    resolved the same way, so a retry never fails on its own earlier success."""
    import asyncio

    from provision import transport
    from provision.consistency import retry_lag

    async def made_already() -> Any:
        listed = await graph.applications.by_application_id(app_object_id).federated_identity_credentials.get()
        for c in getattr(listed, "value", None) or []:
            if c.name == body.name and c.issuer == body.issuer and c.subject == body.subject:
                return c
        return None

    for attempt in range(transport.MAX_RETRIES + 1):
        try:
            return await retry_lag(lambda: graph.applications.by_application_id(app_object_id)
                                   .federated_identity_credentials.post(body), what=what)
        except Exception as e:  # noqa: BLE001 — only transient failures and a conflict are reconciled
            conflict = getattr(e, "response_status_code", None) == 409
            if not (conflict or transport.is_transient(e)) or attempt >= transport.MAX_RETRIES:
                raise
            if conflict or transport.is_ambiguous(e):
                found = await made_already()
                if found is not None:
                    return found
                if conflict:
                    raise
            await asyncio.sleep(transport.backoff(attempt + 1))
    raise AssertionError("unreachable")  # pragma: no cover


async def remove_secret(graph: Any, app_object_id: str, key_id: Any) -> bool:
    """removePassword; False when the secret (or the app) is already gone."""
    from msgraph.generated.applications.item.remove_password.remove_password_post_request_body import (
        RemovePasswordPostRequestBody,
    )
    from msgraph.generated.models.o_data_errors.o_data_error import ODataError

    try:
        await graph.applications.by_application_id(app_object_id).remove_password.post(
            RemovePasswordPostRequestBody(key_id=uuid.UUID(str(key_id))))
    except ODataError as e:
        if is_not_found(e) or getattr(e, "response_status_code", None) == 400:
            return False
        raise
    return True


async def key_credentials_with_keys(graph: Any, app_object_id: str) -> list[Any]:
    """The app's keyCredentials including each certificate (`key`): Graph returns `key` only on
    `$select=keyCredentials` for a single object, so a PATCH can re-send the certificates it keeps."""
    from kiota_abstractions.base_request_configuration import RequestConfiguration
    from msgraph.generated.applications.item.application_item_request_builder import ApplicationItemRequestBuilder

    qp = ApplicationItemRequestBuilder.ApplicationItemRequestBuilderGetQueryParameters(select=["keyCredentials"])
    app = await graph.applications.by_application_id(app_object_id).get(
        request_configuration=RequestConfiguration(query_parameters=qp))
    return list(app.key_credentials or []) if app else []
