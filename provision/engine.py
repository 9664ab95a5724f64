"""Plan and apply over the resource graph: read actual state, diff it against the spec, apply only the
differences. Order and concurrency come from each resource kind's declared `depends_on`:

    resource_group ─┬─ network ──────────┐
                    ├─ storage ──────────┼─ cluster
                    └─ vault ─ app ─┐    │
    group ──────────────────────────┼────┘
                                    └─ membership (group, app)

`up`, `plan`, `status`, `down` are the engine over every resource; each step command (`app register`, `network
open`, `cluster deploy`, …) is the same engine over one resource and what it needs. All of it runs in one asyncio
loop: Graph calls are async; ARM SDK calls run in threads, long-running operations are awaited without one.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any, Iterable

from provision.clouds import KAFKAREST_SCOPE
from provision.errors import AlreadyExists, ProvisionError
from provision.plan import Change
from provision.resources import registry
from provision.resources.base import Settling

BLOCKING = ("conflict", "failed")


@dataclass
class Plan:
    keys: list[str]  # the resources in scope, dependencies first
    actual: dict[str, Any] = field(default_factory=dict)
    changes: dict[str, list[Change]] = field(default_factory=dict)
    warming: WarmUp | None = None  # the SDK modules an apply will need, imported meanwhile

    def all(self) -> list[Change]:
        return [c for k in self.keys for c in self.changes.get(k, [])]

    def blockers(self) -> list[Change]:
        return [c for c in self.all() if c.action in BLOCKING]


def closure(keys: Iterable[str] | None) -> list[str]:
    """The keys plus everything they depend on, in dependency order."""
    kinds = registry()
    if keys is None:
        return list(kinds)
    want: set[str] = set()

    def add(k: str) -> None:
        if k not in want:
            want.add(k)
            for d in kinds[k].depends_on:
                add(d)

    for k in keys:
        add(k)
    return [k for k in kinds if k in want]


def _deps(kind: Any, values: dict[str, Any]) -> dict[str, Any]:
    return {d: values.get(d) for d in kind.depends_on if d in values}


async def _in_order(keys: list[str], work: Any, *, reverse: bool = False, reading: bool = False) -> dict[str, Any]:
    """Run `work(key, deps_results)` for every key as soon as what it waits for is done — its dependencies, or with
    `reverse` (deleting) its dependants. A `Settling` result lets the dependants start on its usable state while
    the rest of that step finishes. On the first failure the others are cancelled promptly (what they created
    is found again by the next run)."""
    kinds = registry()

    def needs(k: str) -> tuple[str, ...]:
        after = kinds[k].read_after if reading else None
        return kinds[k].depends_on if after is None else after

    waits = ({k: [o for o in keys if k in kinds[o].depends_on] for k in keys} if reverse else
             {k: [d for d in needs(k) if d in keys] for k in keys})
    tasks: dict[str, asyncio.Future] = {}
    usable: dict[str, asyncio.Future] = {k: asyncio.get_running_loop().create_future() for k in keys}
    results: dict[str, Any] = {}

    async def run(k: str) -> Any:
        for other in waits[k]:
            await usable[other]
        out = await work(k, {d: results[d] for d in waits[k]} if reading else _deps(kinds[k], results))
        if isinstance(out, Settling):  # what waits for it goes on now; this task ends when the step does
            results[k] = out.usable
            usable[k].set_result(None)
            out = await out.rest
        results[k] = out
        if not usable[k].done():
            usable[k].set_result(None)
        return out

    for k in keys:
        tasks[k] = asyncio.ensure_future(run(k))
    try:
        await asyncio.gather(*tasks.values())
    except BaseException:
        for t in tasks.values():
            t.cancel()
        await asyncio.gather(*tasks.values(), return_exceptions=True)
        raise
    return results


class WarmUp:
    """Imports modules in one background thread, in the order they are asked for. Compiling an SDK's models takes
    tenths of a second of CPU (more on machines that keep no bytecode); done while the reads, the preflight checks
    and the first writes wait on the network, it stays off the run's critical path instead of stalling the event
    loop right when the writes that need it start. One thread, so no two imports race each other through a shared
    package; join it before exiting."""

    def __init__(self) -> None:
        import collections
        import threading

        self._pending: collections.deque[str] = collections.deque()
        self._asked: set[str] = set()
        self._lock = threading.Lock()
        self._running = False  # a thread is importing; it ends when nothing is pending, a later `add` starts one
        self._thread: Any = None

    def add(self, modules: Iterable[str]) -> None:
        import threading

        with self._lock:
            for name in modules:
                if name not in self._asked:
                    self._asked.add(name)
                    self._pending.append(name)
            if self._pending and not self._running:
                self._running = True
                self._thread = threading.Thread(target=self._load, name="provision-warm-up", daemon=True)
                self._thread.start()

    def _load(self) -> None:
        import importlib

        while True:
            with self._lock:
                if not self._pending:
                    self._running = False
                    return
                name = self._pending.popleft()
            try:
                importlib.import_module(name)
            except Exception:  # noqa: BLE001 — the apply that needs it imports it again and reports the error
                pass

    def join(self) -> None:
        if self._thread is not None:
            self._thread.join()


async def plan(ctx: Any, keys: Iterable[str] | None = None, *, preflight: bool = True,
               for_apply: bool = False) -> Plan:
    """Read and diff; with `preflight`, also the read-only checks that would make a write fail later (cluster name
    availability, core quota), so bad input stops before any write. `for_apply`: an apply follows — the modules
    the writing resources need are imported meanwhile."""
    kinds = registry()
    p = Plan(closure(keys))
    checks: list[asyncio.Future] = []
    if for_apply:
        p.warming = WarmUp()

    async def read(k: str, deps: dict[str, Any]) -> Any:
        actual = await kinds[k].read(ctx, deps)
        if p.warming is not None and not kinds[k].exists(actual):  # it will be created: its modules, from now
            p.warming.add(kinds[k].apply_imports)
        if preflight:  # a kind's checks need only its own state: they run while the other reads still do
            checks.append(asyncio.ensure_future(kinds[k].preflight(ctx, actual)))
        return actual

    try:
        p.actual = await _in_order(p.keys, read, reading=True)
        for k in p.keys:
            p.changes[k] = kinds[k].diff(ctx, p.actual[k], _deps(kinds[k], p.actual))
        if p.warming is not None and not p.blockers():  # and those of every other kind that writes
            p.warming.add(m for k in p.keys if any(c.writes for c in p.changes[k]) for m in kinds[k].apply_imports)
        if checks and not p.blockers():  # blockers are reported first; the checks' verdicts count when none
            await asyncio.gather(*checks)
    finally:
        for c in checks:  # a failed read or a blocker: the checks' answers are not wanted
            c.cancel()
        await asyncio.gather(*checks, return_exceptions=True)
    return p


def refuse_blockers(p: Plan) -> None:
    """Conflicts and failed objects stop a run before any write, each named with its way out."""
    blockers = p.blockers()
    if not blockers:
        return
    lines = [f"{c.resource} {c.name}: {c.note}" for c in blockers]
    cls = AlreadyExists if any(c.action == "conflict" for c in blockers) else ProvisionError
    raise cls(lines[0] if len(lines) == 1 else f"{len(lines)} objects are in the way:\n  " + "\n  ".join(lines))


async def apply(ctx: Any, p: Plan, *, only: Iterable[str] | None = None) -> dict[str, Any]:
    """Apply a plan (the resources in `only`, default all in scope; the others are taken as read). Returns each
    resource's state after the run."""
    refuse_blockers(p)
    kinds = registry()
    targets = set(p.keys if only is None else only)

    async def named(k: str, work: Any) -> Any:
        try:
            return await work
        except ProvisionError:
            raise
        except Exception as e:  # a transport failure that outlived the retries: name the step too
            from provision.transport import describe_failure

            what = describe_failure(e)
            if what is None:
                raise
            raise ProvisionError(f"{kinds[k].kind} {kinds[k].label(ctx)}: {what}") from e

    async def step(k: str, deps: dict[str, Any]) -> Any:
        changes = p.changes[k]
        if k in targets and any(c.writes or c.action == "wait" for c in changes):
            out = await named(k, kinds[k].apply(ctx, changes, p.actual[k], deps))
            return Settling(out.usable, named(k, out.rest)) if isinstance(out, Settling) else out
        return p.actual[k]

    try:
        return await _in_order(p.keys, step)
    finally:
        if p.warming is not None:  # never leave an import running into interpreter shutdown
            p.warming.join()


async def step(ctx: Any, key: str, *, create: Iterable[str] = ()) -> tuple[list[Change], dict[str, Any]]:
    """A step command: the engine over one resource and what it needs. Dependencies in `create` are converged too;
    the others must exist already (the message says which command makes them)."""
    kinds = registry()
    p = await plan(ctx, [key], for_apply=True)
    refuse_blockers(p)
    for d in kinds[key].depends_on:
        if d not in create and not kinds[d].exists(p.actual.get(d)):
            raise ProvisionError(f"{kinds[d].kind} {kinds[d].label(ctx)} does not exist; {kinds[d].missing_hint}")
    only = {key, *(d for d in create if d in p.keys)}
    results = await apply(ctx, p, only=only)
    return [c for k in p.keys if k in only for c in p.changes[k]], results


async def destroy(ctx: Any) -> list[Change]:
    """`down`: dependants before what they depend on; each kind deletes what this environment made and, of
    external objects, removes only what it added. Conflicting objects (not ours) are left alone."""
    kinds = registry()
    p = await plan(ctx, preflight=False)
    done = await _in_order(p.keys, lambda k, _: kinds[k].delete(ctx, p.actual[k], _deps(kinds[k], p.actual)),
                           reverse=True)
    return [c for k in reversed(p.keys) for c in done.get(k, [])]


def outputs(ctx: Any, state: dict[str, Any]) -> dict[str, Any]:
    """What the clients need: the kafkarest endpoint, tenant, client id and scope."""
    from provision.resources import app_registration, hdinsight_kafka
    from provision.resources.base import props

    app, group, cluster = (state.get(k) for k in ("app", "group", "cluster"))
    usable = ("ours", "external")
    app = app if app and app.get("_ownership") in usable else None
    group = group if group and group.get("_ownership") in usable else None
    out = {
        "endpoint": hdinsight_kafka.rest_proxy_endpoint(cluster) if cluster else None,
        "tenantId": ctx.tenant_id,
        "clientId": (app or {}).get("appId"),
        "scope": ctx.cloud.kafkarest_scope,
        "securityGroupId": (group or {}).get("id"),
        "securityGroupName": (group or {}).get("displayName"),
        "clusterName": ctx.spec.values["cluster.name"],
        "clusterState": props(cluster).get("clusterState"),
        "resourceGroup": ctx.spec.values["resource_group"],
        "environmentKey": ctx.env_key,
        "clientSecretFile": str(app_registration.secret_path(ctx)) if app else None,
    }
    if ctx.cloud.name != "public":
        out["authorityHost"] = ctx.cloud.authority
    if ctx.cloud.ca_bundle:
        out["caBundle"] = ctx.cloud.ca_bundle
    return out


async def current_outputs(ctx: Any) -> dict[str, Any]:
    kinds = registry()
    app, group, cluster = await asyncio.gather(*(kinds[k].read(ctx, {}) for k in ("app", "group", "cluster")))
    if cluster is None:
        raise ProvisionError(f"cluster {ctx.spec.values['cluster.name']} does not exist in resource group "
                             f"{ctx.spec.values['resource_group']}; run `provision up` first")
    return outputs(ctx, {"app": app, "group": group, "cluster": cluster})


def client_document(ctx: Any, endpoint: str | None, client_id: str | None) -> dict[str, str]:
    """The environment variables azure-identity and `provision kafka` read (without a credential): what
    `endpoint --format dotenv` prints and what `access grant` writes, with the client's credential added."""
    doc = {"KAFKAREST_ENDPOINT": endpoint or "", "AZURE_TENANT_ID": ctx.tenant_id, "AZURE_CLIENT_ID": client_id or "",
           "KAFKAREST_SCOPE": ctx.cloud.kafkarest_scope or KAFKAREST_SCOPE}
    if ctx.cloud.name != "public":
        doc["AZURE_AUTHORITY_HOST"] = ctx.cloud.authority
    if ctx.cloud.ca_bundle:
        doc["REQUESTS_CA_BUNDLE"] = ctx.cloud.ca_bundle
    return doc
