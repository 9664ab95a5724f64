"""Everything a resource needs to talk to Azure: the cloud, credential, subscription and SDK clients.

Azure SDKs are imported here lazily (inside functions), never at CLI import time.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import secrets
import string
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Callable

from provision import clouds
from provision.errors import InvalidInput, ProvisionError
from provision.spec import SECRET_ENV, Spec, check_password

log = logging.getLogger("provision")


def write_private(path: Path, data: str) -> None:
    """Create or replace a secret file atomically, mode 0600 from the first byte, in a 0700 directory.

    mkstemp gives a fresh, unpredictable name opened O_EXCL with mode 0600 (no leftover or planted temp file, no
    symlink followed); fsync + rename makes the replacement atomic."""
    import tempfile

    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def operation_timeout() -> float:
    """How long a run waits on one long-running operation (PROVISION_OPERATION_TIMEOUT, default an hour)."""
    return env_number("PROVISION_OPERATION_TIMEOUT", 3600.0)


def env_number(name: str, default: float) -> float:
    """A numeric setting from the environment; a bad value is one clear line (exit 2), not a traceback."""
    raw = os.environ.get(name)
    if raw in (None, ""):
        return default
    try:
        value = float(raw)
    except ValueError:
        raise InvalidInput(f"{name}: '{raw}' is not a number; set it to seconds, e.g. 0.5") from None
    if value < 0:
        raise InvalidInput(f"{name}: {raw} is negative; use 0 or more seconds")
    return value


@dataclass
class Context:
    spec: Spec
    cloud: clouds.Cloud
    credential: Any
    subscription_id: str
    tenant_id: str
    state_dir: Path
    on_event: Callable[[str, str], None] = lambda step, message: None
    results: dict[str, Any] = field(default_factory=dict)
    adopt: bool = False  # --adopt: use existing objects with the wanted names as they are (external)
    options: dict[str, Any] = field(default_factory=dict)  # per-command choices (rotate, keep_old, …)
    created: set[str] = field(default_factory=set)  # objects this run created: only they can be lagging

    # -- identity ------------------------------------------------------------------------------------------------
    @cached_property
    def env_key(self) -> str:
        """The environment's identity — cloud, tenant, subscription, resource group, name — as 8 hex digits: part
        of every Entra uniqueName it makes, so two environments never resolve to the same object."""
        import hashlib

        v = self.spec.values
        ident = "/".join([v["cloud"], self.tenant_id.lower(), self.subscription_id.lower(),
                          v["resource_group"].lower(), v["name"]])
        return hashlib.sha256(ident.encode()).hexdigest()[:8]

    def unique_name(self, display_name: str) -> str:
        return f"{display_name}-{self.env_key}"

    @property
    def env_tag(self) -> str:
        """The tag on Entra applications this environment made."""
        return f"provision-environment-id:{self.env_key}"

    # -- secrets kept beside the environment -------------------------------------------------------------------
    def secret_file(self, name: str) -> Path:
        return self.state_dir / name

    def password(self, which: str) -> str:
        """gateway_password / ssh_password: from the env var, else generated once and kept 0600."""
        env_name = SECRET_ENV[which]
        users = (self.spec.values["cluster.gateway_username"], self.spec.values["cluster.ssh_username"])
        if os.environ.get(env_name):
            check_password(which, os.environ[env_name], users)
            return os.environ[env_name]
        path = self.secret_file("passwords.json")
        stored = json.loads(path.read_text()) if path.exists() else {}
        if which not in stored:
            stored[which] = generate_password()
            write_private(path, json.dumps(stored, indent=2))
        return stored[which]

    # -- clients --------------------------------------------------------------------------------------------------
    @property
    def polling_interval(self) -> float:
        """Seconds between long-running-operation polls: the SDK default (30) on Azure; the emulator's operations
        take seconds, not minutes. PROVISION_POLLING_INTERVAL overrides both."""
        return env_number("PROVISION_POLLING_INTERVAL", 0.5 if self.cloud.name == "local" else 30.0)

    def _arm_kwargs(self) -> dict[str, Any]:
        from provision.transport import arm_retry_policy

        kw: dict[str, Any] = {"base_url": self.cloud.arm, "credential_scopes": [self.cloud.arm_scope],
                              "polling_interval": self.polling_interval, "retry_policy": arm_retry_policy()}
        if self.cloud.ca_bundle:
            kw["connection_verify"] = self.cloud.ca_bundle
        return kw

    @cached_property
    def resource(self) -> Any:
        from azure.mgmt.resource.resources import ResourceManagementClient

        return ResourceManagementClient(self.credential, self.subscription_id, **self._arm_kwargs())

    @cached_property
    def network(self) -> Any:
        from azure.mgmt.network import NetworkManagementClient

        return NetworkManagementClient(self.credential, self.subscription_id, **self._arm_kwargs())

    @cached_property
    def storage(self) -> Any:
        from azure.mgmt.storage import StorageManagementClient

        return StorageManagementClient(self.credential, self.subscription_id, **self._arm_kwargs())

    @cached_property
    def hdinsight(self) -> Any:
        from azure.mgmt.hdinsight import HDInsightManagementClient

        return HDInsightManagementClient(self.credential, self.subscription_id, **self._arm_kwargs())

    @cached_property
    def keyvault(self) -> Any:
        from azure.mgmt.keyvault import KeyVaultManagementClient

        return KeyVaultManagementClient(self.credential, self.subscription_id, **self._arm_kwargs())

    @cached_property
    def principal_object_id(self) -> str:
        """The object id of the identity running provision (from its ARM token), for its own role assignments."""
        import jwt

        token = self.credential.get_token(self.cloud.arm_scope).token
        return jwt.decode(token, options={"verify_signature": False})["oid"]

    @cached_property
    def graph(self) -> Any:
        """A msgraph-sdk client (async). Build it inside the running event loop and use it only there."""
        import ssl

        from kiota_authentication_azure.azure_identity_authentication_provider import (
            AzureIdentityAuthenticationProvider,
        )
        from msgraph import GraphRequestAdapter, GraphServiceClient

        from provision.transport import graph_http_client

        verify = ssl.create_default_context(cafile=self.cloud.ca_bundle) if self.cloud.ca_bundle else True
        http = graph_http_client(verify, timeout=60)  # Graph's middleware; retries only what is safe to resend
        auth = AzureIdentityAuthenticationProvider(self.credential, scopes=[self.cloud.graph_scope])
        adapter = GraphRequestAdapter(auth, client=http)
        adapter.base_url = self.cloud.graph_v1  # explicit, no trailing slash (msgraph's `//` quirk)
        return GraphServiceClient(request_adapter=adapter)

    async def arm_call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run a blocking ARM SDK call off the event loop so independent steps overlap."""
        return await asyncio.to_thread(fn, *args, **kwargs)

    async def lro(self, begin: Callable[..., Any], *args: Any, what: str, timeout: float | None = None) -> Any:
        """Start a long-running operation and wait for it without holding a thread: azure-core's poller polls in
        its own daemon thread, so a cancelled or failed run stops waiting at once. Bounded; says what it waited for."""
        return await (await Operation.start(self, begin, *args, what=what, timeout=timeout)).result()

    async def begin(self, begin: Callable[..., Any], *args: Any, what: str, timeout: float | None = None
                    ) -> Operation:
        """Start an ARM long-running operation whose dependants may go on once the service reports it succeeded
        (`await op.succeeded()`), while azure-core's poller still reads the final resource (`await op.result()`).
        For the Microsoft.Network operations: their SDK builds the same ARMPolling."""
        return await Operation.start(self, begin, *args, what=what, timeout=timeout, watch=True)

    def event(self, step: str, message: str) -> None:
        log.info("%s: %s", step, message)
        self.on_event(step, message)


class Operation:
    """An ARM long-running operation started by this run, polled by azure-core's poller in its own thread. Two
    moments are awaitable: the service reporting Succeeded (`succeeded()`), and the poller's final read of the
    resource (`result()`). Waits are bounded by PROVISION_OPERATION_TIMEOUT (or `timeout`) and say what they
    waited for."""

    def __init__(self, poller: Any, what: str, deadline: float, limit: float, reached: asyncio.Future,
                 finished: asyncio.Future) -> None:
        self.poller, self.what, self._deadline, self._limit = poller, what, deadline, limit
        self._reached, self._finished = reached, finished

    @classmethod
    async def start(cls, ctx: Context, begin: Callable[..., Any], *args: Any, what: str, timeout: float | None,
                    watch: bool = False) -> Operation:
        import time

        loop = asyncio.get_running_loop()
        reached, finished = loop.create_future(), loop.create_future()

        def resolve(future: asyncio.Future) -> None:  # from the poller's thread: resume the waiting coroutine
            try:
                loop.call_soon_threadsafe(lambda: future.done() or future.set_result(None))
            except RuntimeError:  # the run has ended meanwhile (its loop is closed): nobody waits any more
                pass

        kwargs: dict[str, Any] = {}
        if watch:
            kwargs["polling"] = _watched_polling(ctx, lambda: resolve(reached))
        poller = await ctx.arm_call(begin, *args, **kwargs)
        poller.add_done_callback(lambda _: (resolve(finished), resolve(reached)))
        limit = timeout if timeout is not None else operation_timeout()
        return cls(poller, what, time.monotonic() + limit, limit, reached, finished)

    async def _until(self, future: asyncio.Future) -> None:
        import time

        while not future.done() and not self.poller.done():
            if time.monotonic() > self._deadline:
                raise ProvisionError(f"{self.what}: not finished after {self._limit:.0f}s; it goes on in Azure — "
                                     f"run the command again to re-attach")
            try:  # bounded: the deadline is checked, and a finish that raced the callback's registration is seen
                await asyncio.wait_for(asyncio.shield(future), timeout=0.5)
            except asyncio.TimeoutError:
                pass

    async def succeeded(self) -> None:
        """Once the service reports the operation Succeeded; raises as `result()` would if it failed."""
        await self._until(self._reached)
        if self.poller.done():
            self.poller.result()  # a failed operation raises its error here

    async def result(self) -> Any:
        await self._until(self._finished)
        return self.poller.result()


def _watched_polling(ctx: Context, on_succeeded: Callable[[], None]) -> Any:
    """azure-mgmt-core's ARMPolling as the Microsoft.Network SDK builds it, telling `on_succeeded` when a status
    read (or the first response) says Succeeded — before its final GET of the resource."""
    from azure.mgmt.core.polling.arm_polling import ARMPolling

    class WatchedPolling(ARMPolling):
        def _report(self) -> None:
            if str(self.status()).lower() == "succeeded":
                on_succeeded()

        def initialize(self, *args: Any, **kwargs: Any) -> None:
            super().initialize(*args, **kwargs)
            self._report()

        def update_status(self) -> None:
            super().update_status()
            self._report()

    return WatchedPolling(ctx.polling_interval, path_format_arguments={"endpoint": ctx.cloud.arm})


@contextlib.contextmanager
def environment_lock(ctx: Context, *, announce: Callable[[str], None] | None = None) -> Any:
    """One writing run per environment and state directory at a time: a second `up`/`grant` started meanwhile
    waits here, then plans again and finds its twin's work done. (Runs on other machines are kept safe by the
    upserts and re-reads in each resource, not by this lock.)"""
    import fcntl

    ctx.state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    with open(ctx.state_dir / ".lock", "a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if announce:
                announce(f"waiting for another provision run on environment {ctx.spec.values['name']} to finish")
            fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def generate_password(length: int = 24) -> str:
    """Meets HDInsight's rule (upper, lower, digit, special; no quotes or backslash)."""
    alphabet = string.ascii_letters + string.digits + "!#%+-=_@^"
    while True:
        pw = "".join(secrets.choice(alphabet) for _ in range(length))
        if (any(c.isupper() for c in pw) and any(c.islower() for c in pw) and any(c.isdigit() for c in pw)
                and any(not c.isalnum() for c in pw) and "adm" not in pw.lower() and "ssh" not in pw.lower()):
            return pw


def state_dir_for(spec: Spec, base: str | os.PathLike | None = None) -> Path:
    """`.provision/<name>` for an environment in its default resource group, `.provision/<name>@<group>` in another:
    two environments of one name never share (or overwrite) each other's local files."""
    root = Path(base or os.environ.get("PROVISION_STATE_DIR") or ".provision")
    name, rg = spec.values["name"], spec.values["resource_group"]
    return root / (name if rg == f"rg-{name}" else f"{name}@{rg}")


def build(spec: Spec, *, state_dir: str | os.PathLike | None = None,
          on_event: Callable[[str, str], None] | None = None) -> Context:
    """Resolve the cloud, credential and subscription for a spec. For the local cloud this starts the emulator
    if needed and uses its operator credential and CA."""
    name = spec.values["cloud"]
    if name == "local":
        from azure.identity import ClientSecretCredential

        from provision.emulator import launcher

        try:
            info = launcher.start(os.environ.get("PROVISION_EMULATOR_DIR"))
        except (launcher.EmulatorError, OSError) as e:
            raise ProvisionError(f"cloud local: the emulator could not start: {e}") from None
        cloud = clouds.local(info.url, str(info.ca_cert))
        credential = ClientSecretCredential(info.tenant_id, info.client_id, info.client_secret,
                                            authority=info.authority, disable_instance_discovery=True,
                                            connection_verify=str(info.ca_cert))
        subscription, tenant = info.subscription_id, info.tenant_id
        if spec.values["subscription"] not in (None, subscription):
            raise InvalidInput(f"subscription: the emulator's subscription is {subscription}, not "
                               f"{spec.values['subscription']}; unset it for cloud 'local'")
    else:
        from azure.identity import DefaultAzureCredential

        cloud = clouds.CLOUDS[name]
        credential = DefaultAzureCredential(authority=cloud.authority)
        subscription = spec.values["subscription"] or os.environ["AZURE_SUBSCRIPTION_ID"]
        tenant = spec.values["tenant"] or os.environ.get("AZURE_TENANT_ID") or _tenant_from_token(credential, cloud)
    ctx = Context(spec=spec, cloud=cloud, credential=credential, subscription_id=subscription, tenant_id=tenant,
                  state_dir=state_dir_for(spec, state_dir))
    if on_event:
        ctx.on_event = on_event
    return ctx


def _tenant_from_token(credential: Any, cloud: clouds.Cloud) -> str:
    import jwt

    token = credential.get_token(cloud.arm_scope).token
    return jwt.decode(token, options={"verify_signature": False})["tid"]
