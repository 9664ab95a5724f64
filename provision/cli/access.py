"""`provision access …`: which client applications may call the Kafka REST proxy (library: provision.access)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from provision.cli.env import run_async, Runner, command, emit, spec_options
from provision.errors import InvalidInput

credential_option = click.option(
    "--credential", type=click.Choice(["secret", "certificate", "federated", "none"]), default="secret",
    show_default=True, help="secret: client secret; certificate: key pair made here, public part uploaded; "
    "federated: workload identity federation (no secret); none: membership only (e.g. a managed identity).")
days_option = click.option("--days", type=click.IntRange(1, 730), default=180, show_default=True,
                           help="Credential lifetime in days.")
format_option = click.option("--format", "fmt", type=click.Choice(["dotenv", "json"]), default="dotenv",
                             show_default=True, help="Client configuration file format.")
wait_option = click.option("--wait", is_flag=True, help="Return only once the REST proxy answers as it should, "
                           "checked with the client's own credential (bounded by --wait-timeout).")
wait_timeout_option = click.option("--wait-timeout", type=click.FloatRange(0), default=300.0, show_default=True,
                                   help="Seconds --wait waits at most (then exit 1 naming the last answer).")
expiring_option = click.option("--expiring-within", "expiring_within", type=click.FloatRange(0), default=None,
                               metavar="DAYS", help="Only the members whose credential ends within DAYS days.")


def _wait(r: Any, name: str, config: Path | None, *, allowed: bool) -> dict[str, Any]:
    """--wait: poll the REST proxy as the client, from its configuration file."""
    from provision import access as lib
    from provision import clientconfig

    if config is None or not Path(config).exists():
        raise InvalidInput(f"--wait: no configuration file for client {name} here; pass --client-config (the file "
                           f"`access grant` wrote) or drop --wait")
    cfg = clientconfig.load(config)
    if cfg.credential_kind not in ("client-secret", "certificate"):
        return {"ok": None, "message": f"not waited: a {cfg.credential_kind} client cannot be signed in from here"}
    return lib.wait_for_access(cfg, allowed=allowed, timeout=r.extra["wait_timeout"], name=name,
                               on_wait=lambda m: r.event("wait", m))


def _request(params: dict[str, Any], name: str | None) -> Any:
    from provision import access

    extra = params
    if not name and not extra.get("app_id") and not extra.get("sp_object_id"):
        raise InvalidInput("NAME: give a client name, --app-id or --sp-object-id")
    req = access.ClientRequest(name=name or extra.get("app_id") or extra.get("sp_object_id"),
                               app_id=extra.get("app_id"), sp_object_id=extra.get("sp_object_id"),
                               credential=extra.get("credential") or "secret",
                               federated_subject=extra.get("federated_subject"),
                               federated_issuer=extra.get("federated_issuer") or access.GITHUB_ISSUER)
    access.validate_request(req, "")
    return req


def _print_results(results: list[Any]) -> None:
    rows = [r.as_dict() for r in results]
    width = max([len(r["name"]) for r in rows] + [4])
    click.echo(f"{'NAME':<{width}}  {'STATUS':<7} {'APP ID':<36}  {'CREDENTIAL':<11} {'EXPIRES':<25} CHANGES")
    for r in rows:
        click.echo(f"{r['name']:<{width}}  {r['status']:<7} {(r['appId'] or '-'):<36}  {(r['credential'] or '-'):<11} "
                   f"{(r['credentialExpires'] or '-')[:25]:<25} {', '.join(r['changes']) or 'none'}")
        if r["message"]:
            click.echo(f"{'':<{width}}  ↳ {r['message']}")
        elif r["configFile"]:
            click.echo(f"{'':<{width}}  ↳ config {r['configFile']} (0600)")


@click.group()
def access() -> None:
    """Grant, revoke, list, check and rotate the client applications that may call the REST proxy."""


@access.command()
@click.argument("client", metavar="NAME", required=False)
@spec_options
@click.option("--app-id", default=None, help="Take an existing app registration by its client id.")
@click.option("--sp-object-id", default=None,
              help="Take an existing service principal (or a managed identity's principal id).")
@credential_option
@click.option("--federated-subject", default=None, help="Subject for --credential federated, e.g. "
              "repo:org/repo:environment:prod or system:serviceaccount:ns:name.")
@click.option("--federated-issuer", default=None, help="Issuer for --credential federated (default: GitHub Actions).")
@days_option
@click.option("--out", "out", type=click.Path(dir_okay=False), default=None,
              help="Where to write the client configuration (0600). Default: .provision/<env>/clients/<name>.env")
@format_option
@wait_option
@wait_timeout_option
@click.option("--secret-reference", is_flag=True,
              help="With secrets.key_vault: write AZURE_CLIENT_SECRET as a Key Vault reference "
                   "(@Microsoft.KeyVault(SecretUri=…)) instead of the value, also in an --out file.")
@click.option("--from", "from_file", type=click.Path(dir_okay=False), default=None,
              help="Bulk: a CSV (header row) or JSON list with keys name, app_id, credential (rows without a "
              "credential use --credential).")
@command
def grant(client: str | None, **params: Any) -> None:
    """Let a client (or every client in --from FILE) call the REST proxy.

    Registers the app (or takes an existing one), creates its credential, adds its service principal to the
    cluster's security group (in chunks of 20 for bulk), verifies the membership and writes the client's
    configuration: KAFKAREST_ENDPOINT, AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET or
    AZURE_CLIENT_CERTIFICATE_PATH (and AZURE_AUTHORITY_HOST outside the public cloud).
    """
    from provision import access as lib

    r = Runner(params)
    x = r.extra
    if x.get("from_file"):
        if client or x.get("app_id") or x.get("sp_object_id"):
            raise InvalidInput("--from: give either --from FILE or one client, not both")
        requests = lib.parse_bulk(x["from_file"], default_credential=x.get("credential") or "secret")
    else:
        requests = [_request(x, client)]
    ctx = r.context()
    with r.locked(ctx):  # a twin grant on this machine waits, then finds the credential it needs held
        results = run_async(lib.grant(ctx, requests, days=x["days"], out=Path(x["out"]) if x.get("out") else None,
                                        fmt=x["fmt"], secret_reference=x.get("secret_reference", False)))
    waited: dict[str, dict[str, Any]] = {}
    if x.get("wait"):
        from provision.errors import ProvisionError

        for res in results:
            if res.status != "ok":
                continue
            try:
                waited[res.name] = _wait(r, res.name, Path(res.config_file) if res.config_file else None,
                                         allowed=True)
            except ProvisionError as e:
                res.status, res.message = "failed", str(e)
                waited[res.name] = {"ok": False, "message": str(e)}
    failed = [res for res in results if res.status != "ok"]
    emit(r, {"clients": [{**res.as_dict(), **({"wait": waited[res.name]} if res.name in waited else {})}
                         for res in results],
             "summary": {"ok": len(results) - len(failed), "failed": len(failed)}},
         lambda: (_print_results(results), [click.echo(f"{n}: the REST proxy admits it (200 after {w['seconds']}s)")
                                             for n, w in waited.items() if w.get("ok")]))
    if failed:
        sys.exit(1)


@access.command()
@click.argument("client", metavar="NAME", required=False)
@spec_options
@click.option("--app-id", default=None)
@click.option("--sp-object-id", default=None)
@click.option("--delete-app", is_flag=True, help="Also delete the app registration (only one provision created).")
@wait_option
@wait_timeout_option
@click.option("--client-config", type=click.Path(dir_okay=False), default=None,
              help="The client's configuration for --wait (default: the file `grant` wrote).")
@click.option("--from", "from_file", type=click.Path(dir_okay=False), default=None,
              help="Revoke every client of a CSV/JSON list (as for `grant --from`), in Graph $batch requests.")
@command
def revoke(client: str | None, **params: Any) -> None:
    """Remove a client from the security group (the REST proxy answers 403 within the propagation bound)."""
    from provision import access as lib
    from provision import clientconfig

    r = Runner(params)
    if r.extra.get("from_file"):
        if client or r.extra.get("app_id") or r.extra.get("sp_object_id") or r.extra.get("wait"):
            raise InvalidInput("--from: give either --from FILE or one client (and --wait only with one client)")
        requests = lib.parse_bulk(r.extra["from_file"], default_credential="none")
        ctx = r.context()
        with r.locked(ctx):
            results = run_async(lib.revoke_many(ctx, requests, delete_app=r.extra.get("delete_app", False)))
        failed = [res for res in results if res.status != "ok"]
        emit(r, {"clients": [res.as_dict() for res in results],
                 "summary": {"ok": len(results) - len(failed), "failed": len(failed)}},
             lambda: _print_results(results))
        if failed:
            sys.exit(1)
        return
    req = _request({**r.extra, "credential": "none"}, client)
    ctx = r.context()
    cfg = None
    if r.extra.get("wait"):  # read before revoking: --delete-app removes the local files
        path = lib.config_for(ctx, req.name, Path(r.extra["client_config"]) if r.extra.get("client_config") else None)
        if path is None or not path.exists():
            raise InvalidInput(f"--wait: no configuration file for client {req.name} here; pass --client-config "
                               f"(the file `access grant` wrote) or drop --wait")
        cfg = clientconfig.load(path)
    with r.locked(ctx):
        res = run_async(lib.revoke(ctx, req, delete_app=r.extra.get("delete_app", False)))
    waited = None
    if cfg is not None:
        waited = lib.wait_for_access(cfg, allowed=False, timeout=r.extra["wait_timeout"], name=req.name,
                                     on_wait=lambda m: r.event("wait", m))
    emit(r, {**res.as_dict(), **({"wait": waited} if waited else {})}, lambda: click.echo(
        f"{res.name}: {', '.join(res.wrote) or res.message or 'was not a member: nothing to do'}"
        + (f"; the REST proxy refuses it ({waited.get('answer')} after {waited['seconds']}s)" if waited else "")))


@access.command("list")
@spec_options
@expiring_option
@command
def list_(**params: Any) -> None:
    """Members of the security group with display name, app id, type and each credential's expiry.

    With --expiring-within DAYS only the members whose last credential ends within DAYS days are listed, and the
    exit code is 3 when there is any (for a scheduled check); rotate them with `access rotate --expiring-within`.
    """
    from provision import access as lib
    from provision.errors import EXIT_CHANGES

    r = Runner(params)
    ctx = r.context()
    within = r.extra.get("expiring_within")
    rows = run_async(lib.list_members(ctx, expiring_within=within))

    def text() -> None:
        if not rows:
            click.echo("the group has no members" if within is None else
                       f"no member's credential ends within {within:g} days")
            return
        width = max(len(x["displayName"] or "") for x in rows)
        for x in rows:
            click.echo(f"{(x['displayName'] or ''):<{width}}  {(x['appId'] or '-'):<36}  {x['type']:<18} "
                       f"{x['credentialExpires'] or '-'}")
            for c in x.get("credentials") or []:
                click.echo(f"{'':<{width}}    {c['kind']:<11} {c['keyId']}  ends {c['endDateTime'] or '-'}")
            for path, state in (x.get("localConfigs") or {}).items():
                note = "" if state == "ok" else (f"  (its secret no longer works: `provision access rotate "
                                                 f"{x['displayName']}` writes a new one)")
                click.echo(f"{'':<{width}}    config      {path}  {state}{note}")

    emit(r, {"members": rows, "count": len(rows), **({"expiringWithinDays": within} if within is not None else {})},
         text)
    if within is not None and rows:
        sys.exit(EXIT_CHANGES)


@access.command()
@click.argument("client", metavar="NAME", required=False)
@spec_options
@click.option("--app-id", default=None)
@click.option("--sp-object-id", default=None)
@click.option("--live", is_flag=True, help="Also get a token as the client and call GET /v1/metadata/topics.")
@click.option("--client-config", type=click.Path(dir_okay=False), default=None,
              help="The client's configuration for --live (default: the file `grant` wrote).")
@command
def check(client: str | None, **params: Any) -> None:
    """Is this client allowed? (checkMemberGroups; with --live, a real call to the REST proxy.) Exit 1 if not."""
    from provision import access as lib

    r = Runner(params)
    req = _request({**r.extra, "credential": "none"}, client)
    ctx = r.context()
    result = run_async(lib.check(ctx, req))
    if r.extra.get("live"):
        result["live"] = _live(ctx, req, r.extra.get("client_config"))
    ok = result["member"] and result.get("live", {}).get("ok", True)
    emit(r, {**result, "allowed": ok}, lambda: click.echo(
        f"{req.name}: {'member' if result['member'] else 'NOT a member'} of {result['group']}"
        + (f"; live call {'OK' if result['live']['ok'] else 'FAILED: ' + result['live']['message']}"
           if "live" in result else "")))
    if not ok:
        sys.exit(1)


def _live(ctx: Any, req: Any, config: str | None) -> dict[str, Any]:
    from provision import access as lib
    from provision import clientconfig
    from provision.kafkarest import KafkaRestError

    path = Path(config) if config else next((p for p in (lib.client_dir(ctx) / f"{req.name}.env",
                                                          lib.client_dir(ctx) / f"{req.name}.json") if p.exists()),
                                            None)
    if path is None:
        raise InvalidInput("--client-config: no configuration file for this client; pass the file `access grant` "
                           "wrote")
    cfg = clientconfig.load(path)
    try:
        with cfg.build_client() as client:
            topics = client.list_topics()
        return {"ok": True, "topics": len(topics)}
    except KafkaRestError as e:
        return {"ok": False, "message": str(e)}


@access.command()
@click.argument("client", metavar="NAME", required=False)
@spec_options
@click.option("--app-id", default=None)
@click.option("--credential", type=click.Choice(["secret", "certificate"]), default=None,
              help="Kind of the new credential. Default: the kind the client was granted with (recorded in "
              "<name>.credential.json), else secret.")
@click.option("--keep-old", is_flag=True, help="Keep the previous credential (for a grace period) instead of "
              "removing it once the new one is written.")
@days_option
@click.option("--out", "out", type=click.Path(dir_okay=False), default=None)
@format_option
@expiring_option
@wait_option
@wait_timeout_option
@command
def rotate(client: str | None, **params: Any) -> None:
    """New credential for a client; the old one is removed after the new one is written out.

    With --expiring-within DAYS (and no NAME): every access client whose credential ends within DAYS days.
    With --wait: returns once the REST proxy admits the client with its new credential.
    """
    from provision import access as lib
    from provision.errors import ProvisionError

    r = Runner(params)
    within = r.extra.get("expiring_within")
    if within is not None:
        if client or r.extra.get("app_id") or r.extra.get("out"):
            raise InvalidInput("--expiring-within: rotates every expiring client; give no NAME, --app-id or --out")
        ctx = r.context()
        with r.locked(ctx):
            results = run_async(lib.rotate_expiring(ctx, within, days=r.extra["days"],
                                                    keep_old=r.extra.get("keep_old", False), fmt=r.extra["fmt"]))
    else:
        req = _request(r.extra, client)
        ctx = r.context()
        if not r.extra.get("credential"):
            req.credential = lib.recorded_kind(ctx, req.name) or "secret"
        with r.locked(ctx):
            results = [run_async(lib.rotate(ctx, req, days=r.extra["days"], keep_old=r.extra.get("keep_old", False),
                                            out=Path(r.extra["out"]) if r.extra.get("out") else None,
                                            fmt=r.extra["fmt"]))]
    if r.extra.get("wait"):
        for res in results:
            if res.status == "ok":
                try:
                    _wait(r, res.name, Path(res.config_file) if res.config_file else None, allowed=True)
                except ProvisionError as e:
                    res.status, res.message = "failed", str(e)
    if within is None:
        emit(r, results[0].as_dict(), lambda: _print_results(results))
    else:
        emit(r, {"clients": [res.as_dict() for res in results], "expiringWithinDays": within},
             lambda: _print_results(results) if results else click.echo(
                 f"no member's credential ends within {within:g} days"))
    if any(res.status == "failed" for res in results):
        sys.exit(1)
