"""Environment commands: init, plan, up, status, endpoint, down — and the single steps of `up`.

Each command resolves the spec (flags > env > file > defaults; exit 2 on bad input before any API call), builds
the context, and calls the library (provision.engine / provision.resources). Output: human text by default,
`--output json` for CI (schema in README), secrets never printed unless asked for.
"""

from __future__ import annotations

import functools
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, Callable

import click

from provision import spec as specmod
from provision.errors import EXIT_CHANGES, EXIT_USAGE, InvalidInput, ProvisionError


def run_async(coro: Any) -> Any:
    """Run a coroutine; asyncio is imported here so `--help` does not pay for it."""
    import asyncio

    return asyncio.run(coro)


# -- shared options -------------------------------------------------------------------------------------------------
def spec_options(fn: Callable) -> Callable:
    """--config plus one flag per spec field (generated from provision.spec.FIELDS)."""
    for f in reversed(specmod.FIELDS):
        kind = str  # ints too: the spec coerces and reports a bad value in one line, as for env and file
        fn = click.option(f.flag, f.param, type=kind, default=None, show_default=False,
                          help=f"{f.help} [env {f.env}]")(fn)
    fn = click.option("--config", "-c", "config", type=click.Path(dir_okay=False), envvar="PROVISION_CONFIG",
                      help="Environment spec (TOML). Env PROVISION_CONFIG. Default: ./provision.toml if present.")(fn)
    fn = click.option("--output", "-o", default=None, metavar="[text|json]",  # checked in Runner: one line
                      help="text for people, json for pipelines (env PROVISION_OUTPUT).")(fn)
    fn = click.option("-v", "--verbose", count=True, help="-v: request-level logs (secrets redacted).")(fn)
    fn = click.option("--adopt", is_flag=True, default=None, envvar="PROVISION_ADOPT",
                      help="Use existing objects that have the wanted names as they are (only added to, never "
                           "rewritten or deleted). Env PROVISION_ADOPT.")(fn)
    return fn


class Runner:
    """Per-invocation helpers: the resolved spec, output mode, progress lines, error mapping."""

    def __init__(self, params: dict[str, Any]):
        from provision.cli.options import output_mode, quiet_sdk_logging

        flag = params.pop("output", None)
        self.output = output_mode(flag, "--output") if flag else output_mode(os.environ.get("PROVISION_OUTPUT"))
        quiet_sdk_logging()
        verbose = params.pop("verbose", 0)
        self.adopt = bool(params.pop("adopt", None))
        config = params.pop("config", None)
        if config is None and Path("provision.toml").exists():
            config = "provision.toml"
        self.started = time.monotonic()
        _logging(verbose)
        fields = {f.param for f in specmod.FIELDS}
        self.spec = specmod.resolve(config, {k: v for k, v in params.items() if k in fields})
        self.extra = {k: v for k, v in params.items() if k not in fields}

    @property
    def json(self) -> bool:
        return self.output == "json"

    def event(self, step: str, message: str) -> None:
        if not self.json:
            click.echo(f"  [{time.monotonic() - self.started:6.1f}s] {step}: {message}", err=True)

    def context(self, **options: Any) -> Any:
        from provision import context

        ctx = context.build(self.spec, on_event=self.event)
        ctx.adopt = self.adopt
        ctx.options.update(options)
        return ctx

    def locked(self, ctx: Any) -> Any:
        """The environment lock for a writing command (a twin run on this machine waits, then re-plans)."""
        from provision.context import environment_lock

        return environment_lock(ctx, announce=lambda m: self.event("lock", m))


def _logging(verbose: int) -> None:
    """-v: request-level lines on stderr. azure-core's HttpLoggingPolicy redacts Authorization and unlisted
    headers and never logs bodies (so no secret reaches the log); httpx (msgraph) logs method, URL and status."""
    import logging

    if not verbose:
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    names = ["provision", "azure.core.pipeline.policies.http_logging_policy", "httpx"]
    if verbose > 1:
        names.append("azure.identity")
    for name in names:
        logger = logging.getLogger(name)
        logger.setLevel(logging.INFO)
        for old in [h for h in logger.handlers if getattr(h, "_provision", False)]:
            logger.removeHandler(old)  # a previous invocation in this process (stderr may have changed)
        handler._provision = True  # type: ignore[attr-defined]
        logger.addHandler(handler)


def command(fn: Callable) -> Callable:
    """Map library errors to exit codes: InvalidInput/SpecError → 2, ProvisionError → 1."""

    @functools.wraps(fn)
    def wrapper(**params: Any) -> Any:
        try:
            return fn(**params)
        except specmod.SpecError as e:
            click.echo(f"Error: {e}", err=True)
            sys.exit(EXIT_USAGE)
        except ProvisionError as e:
            click.echo(f"Error: {e}", err=True)
            sys.exit(e.exit_code)
        except Exception as e:  # an Azure SDK or transport error: one line, not a traceback
            from provision.transport import describe_failure

            transient = describe_failure(e)
            if transient or _is_service_error(e):
                click.echo(f"Error: {transient or _azure_message(e)}", err=True)
                sys.exit(1)
            # anything else is a bug of ours: still one line for the user, the traceback with -v
            import logging

            logging.getLogger("provision").info("unexpected error", exc_info=True)
            click.echo(f"Error: unexpected {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''} "
                       f"(run with -v for the details, and please report it)", err=True)
            sys.exit(1)

    return wrapper


def _is_service_error(e: Exception) -> bool:
    from azure.core.exceptions import AzureError

    if isinstance(e, AzureError):
        return True
    try:  # msgraph-sdk (kiota) errors and its httpx transport errors
        import httpx
        from kiota_abstractions.api_error import APIError
    except ImportError:
        return False
    return isinstance(e, (APIError, httpx.HTTPError))


def _azure_message(e: Exception) -> str:
    err = getattr(e, "error", None)
    if err is not None and getattr(err, "message", None):
        return f"{getattr(err, 'code', '')}: {err.message}"
    return str(e).splitlines()[0] if str(e) else type(e).__name__


def emit(runner: Runner, data: Any, text: Callable[[], None]) -> None:
    if runner.json:
        click.echo(json.dumps(data, indent=2, default=str))
    else:
        text()


def print_plan(changes: list[Any]) -> None:
    symbols = {"create": "+", "update": "~", "delete": "-", "noop": " ", "wait": "…", "drift": "!", "failed": "x",
               "conflict": "x"}
    for c in changes:
        line = f"  {symbols.get(c.action, '?')} {c.resource:<24} {c.name}"
        if c.action not in ("noop",):
            line += f"  ({c.action})"
        click.echo(line)
        for k, (old, new) in c.fields.items():
            click.echo(f"        {k}: {old!r} → {new!r}")
        if c.note:
            click.echo(f"        note: {c.note}")
    from provision.plan import summary

    s = summary(changes)
    click.echo(f"Plan: {s['create']} to create, {s['update']} to change, {s.get('delete', 0)} to delete, "
               f"{s['noop']} unchanged.")


def print_outputs(out: dict[str, Any]) -> None:
    click.echo("")
    click.echo(f"Kafka REST proxy endpoint: {out.get('endpoint') or '(not yet available)'}")
    for label, key in (("tenant id", "tenantId"), ("client id", "clientId"), ("scope", "scope"),
                       ("security group", "securityGroupId"), ("client secret file", "clientSecretFile")):
        if out.get(key):
            click.echo(f"  {label:<19} {out[key]}")


# -- commands -------------------------------------------------------------------------------------------------------
@click.command()
@click.option("--path", "path", type=click.Path(dir_okay=False), default="provision.toml", show_default=True)
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
def init(path: str, force: bool) -> None:
    """Write a commented example environment spec with sensible defaults."""
    p = Path(path)
    if p.exists() and not force:
        click.echo(f"Error: {p} exists; use --force to overwrite", err=True)
        sys.exit(EXIT_USAGE)
    p.write_text(specmod.example_toml())
    click.echo(f"wrote {p}")


@click.command()
@spec_options
@click.option("--detailed-exitcode", is_flag=True, help=f"Exit {EXIT_CHANGES} when there are changes.")
@command
def plan(**params: Any) -> None:
    """Show what `up` would create or change. Read-only."""
    r = Runner(params)
    ctx = r.context()
    from provision import engine

    changes = run_async(engine.plan(ctx)).all()
    emit(r, {"changes": [c.as_dict() for c in changes], "summary": _summary(changes)},
         lambda: print_plan(changes))
    blockers = [c for c in changes if c.action in engine.BLOCKING]
    if blockers:  # `up` would stop on these: say so with the exit code too
        for c in blockers:
            click.echo(f"Error: {c.resource} {c.name}: {c.note}", err=True)
        sys.exit(1)
    if r.extra.get("detailed_exitcode") and any(c.writes or c.action == "drift" for c in changes):
        sys.exit(EXIT_CHANGES)


def _summary(changes: list[Any]) -> dict[str, int]:
    from provision.plan import summary

    return summary(changes)


@click.command()
@spec_options
@click.option("--wait/--no-wait", default=True, show_default=True,
              help="Wait for the cluster deployment to finish (a re-run re-attaches to one in progress).")
@click.option("--smoke", is_flag=True, help="Run `provision smoke` against the endpoint at the end.")
@command
def up(**params: Any) -> None:
    """Create or converge the whole environment, then print the endpoint."""
    r = Runner(params)
    ctx = r.context(wait=r.extra.get("wait", True))
    from provision import engine

    async def run() -> tuple[list[Any], dict[str, Any]]:
        p = await engine.plan(ctx, for_apply=True)
        changes = p.all()
        if not r.json:
            print_plan(changes)
        if p.blockers():  # a conflict or a failed object: nothing is written
            return changes, None
        state = await engine.apply(ctx, p)
        return changes, engine.outputs(ctx, state)

    with r.locked(ctx):
        changes, out = run_async(run())
    if out is None:
        if r.json:
            click.echo(json.dumps({"changes": [c.as_dict() for c in changes], "summary": _summary(changes)},
                                  indent=2, default=str))
        for c in changes:
            if c.action in engine.BLOCKING:
                click.echo(f"Error: {c.resource} {c.name}: {c.note}", err=True)
        sys.exit(1)
    smoke_result = None
    if r.extra.get("smoke") and out.get("endpoint"):
        smoke_result = _run_smoke(ctx, out, r)
    emit(r, {"changes": [c.as_dict() for c in changes], "summary": _summary(changes), "outputs": out,
             **({"smoke": smoke_result} if smoke_result is not None else {})},
         lambda: print_outputs(out))
    if smoke_result is not None and not smoke_result.get("ok"):
        sys.exit(1)


def _run_smoke(ctx: Any, out: dict[str, Any], r: Runner) -> dict[str, Any]:
    """Run the smoke test as the app this environment registered, from the client configuration it gets."""
    from provision import clientconfig
    from provision.access import dotenv_text
    from provision.context import write_private
    from provision.engine import client_document
    from provision.kafkarest.smoke import run_smoke

    from provision import secretstore
    from provision.resources.app_registration import held_secret

    doc = client_document(ctx, out["endpoint"], out["clientId"])
    doc["AZURE_CLIENT_SECRET"] = (run_async(held_secret(ctx)) or {}).get("clientSecret", "")
    if secretstore.configured(ctx):  # the vault holds the secret: nothing written locally
        config = clientconfig.load(None, overrides=doc, environ={})
    else:
        path = ctx.state_dir / "client.env"  # what a client would source; 0600 since it holds the secret
        write_private(path, dotenv_text(doc))
        config = clientconfig.load(path)

    def show(step: Any) -> None:
        click.echo(f"  smoke {step.status:<4} {step.name:<12} {step.seconds:7.2f}s  {step.detail}", err=True)

    with config.build_client() as client:
        _wait_for_access(client, r)
        report = run_smoke(client, on_step=None if r.json else show)
    return {**report.to_dict(), "ok": report.ok}


def _wait_for_access(client: Any, r: Runner, timeout: float = 300.0) -> None:
    """A membership added moments ago reaches the REST proxy after a bounded delay: wait for it (403 → 200)
    rather than fail the smoke test on a race. Any other answer goes to the smoke test to report."""
    from provision.kafkarest import AccessDenied, KafkaRestError

    deadline = time.monotonic() + timeout
    announced = False
    while True:
        try:
            client.list_topics()
            return
        except AccessDenied:
            if time.monotonic() > deadline:
                return
            if not announced and not r.json:
                click.echo("  waiting for the group membership to reach the REST proxy …", err=True)
                announced = True
            time.sleep(1.0)
        except KafkaRestError:
            return


@click.command()
@spec_options
@command
def status(**params: Any) -> None:
    """A table of each resource and its state."""
    r = Runner(params)
    ctx = r.context()
    from provision import engine
    from provision.resources.base import props

    p = run_async(engine.plan(ctx, preflight=False))
    rows = []
    for k in p.keys:
        actual = p.actual[k]
        for c in p.changes[k]:
            state = {"create": "missing", "noop": "ok", "update": "differs", "delete": "unwanted",
                     "wait": "deploying", "drift": "drift", "failed": "failed", "conflict": "conflict"
                     }.get(c.action, c.action)
            owner = c.actual.get("_ownership") if isinstance(c.actual, dict) else None
            rows.append({"resource": c.resource, "name": c.name, "state": state,
                         "owner": {"ours": "this environment", "external": "external"}.get(owner, owner)})
            if k == "cluster" and actual and c.action != "conflict":
                from provision.resources.hdinsight_kafka import status_details

                rows[-1]["state"] = f"{props(actual).get('provisioningState')} / {props(actual).get('clusterState')}"
                rows[-1]["details"] = status_details(actual)

    def text() -> None:
        width = max(len(x["resource"]) for x in rows)
        for x in rows:
            click.echo(f"{x['resource']:<{width}}  {x['state']:<22}  {x['owner'] or '-':<16}  {x['name']}")
            d = x.get("details")
            if d:
                rest = ", ".join(f"{k}={val}" for k, val in sorted(d["restProxyConfig"].items())) or "(defaults)"
                click.echo(f"{'':<{width}}  REST proxy settings: {rest}; resource provider connection "
                           f"{d['resourceProviderConnection']}; private link {d['privateLink']}")

    emit(r, {"resources": rows}, text)


@click.command()
@spec_options
@click.option("--format", "fmt", type=click.Choice(["text", "json", "dotenv", "github"]), default=None,
              help="dotenv: KEY=value lines clients source; github: name=value lines for $GITHUB_OUTPUT.")
@click.option("--show-secret", is_flag=True, help="Include the client secret (dotenv/json).")
@command
def endpoint(**params: Any) -> None:
    """The Kafka REST proxy endpoint plus tenant id, client id and scope."""
    r = Runner(params)
    fmt = r.extra.get("fmt") or ("json" if r.json else "text")
    ctx = r.context()
    from provision import engine

    out = run_async(engine.current_outputs(ctx))
    doc = engine.client_document(ctx, out["endpoint"], out["clientId"])
    if r.extra.get("show_secret"):
        from provision import secretstore
        from provision.resources.app_registration import held_secret

        held = run_async(held_secret(ctx)) or {}
        if not held.get("clientSecret"):
            where = (f"key vault {secretstore.vault_location(ctx)[1]}" if secretstore.configured(ctx) else
                     str(ctx.state_dir))
            raise ProvisionError(f"no client secret held in {where}; run `provision app register` (it adds one)")
        doc["AZURE_CLIENT_SECRET"] = held["clientSecret"]
    if fmt == "json":
        click.echo(json.dumps({**out, **({"clientSecret": doc["AZURE_CLIENT_SECRET"]}
                                         if "AZURE_CLIENT_SECRET" in doc else {})}, indent=2))
    elif fmt == "dotenv":
        from provision.access import dotenv_text

        click.echo(dotenv_text(doc), nl=False)
    elif fmt == "github":
        names = {"KAFKAREST_ENDPOINT": "endpoint", "AZURE_TENANT_ID": "tenant-id", "AZURE_CLIENT_ID": "client-id",
                 "KAFKAREST_SCOPE": "scope"}
        for k, name in names.items():
            click.echo(f"{name}={doc[k]}")
    else:
        print_outputs(out)


@click.command()
@spec_options
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@command
def down(**params: Any) -> None:
    """Delete what this tool created for the environment (found by tags and uniqueName)."""
    r = Runner(params)
    ctx = r.context()
    if not r.extra.get("yes"):
        if not sys.stdin.isatty():
            raise InvalidInput("down: refusing to delete without confirmation in a non-interactive run; pass --yes")
        click.confirm(f"Delete environment {r.spec.values['name']} (cluster {r.spec.values['cluster.name']}, "
                      f"resource group {r.spec.values['resource_group']} if created by provision, app and group)?",
                      abort=True)
    from provision import engine

    with r.locked(ctx):
        done = run_async(engine.destroy(ctx))
    emit(r, {"deleted": [c.as_dict() for c in done]},
         lambda: [click.echo(f"  - {c.resource:<24} {c.name} {c.note}") for c in done] or click.echo(
             "nothing to delete"))


COMMANDS = [init, plan, up, status, endpoint, down]
