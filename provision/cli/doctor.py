"""`provision doctor`: checks for the operator, or (with --config CLIENT.env) for one client (provision.doctor)."""

from __future__ import annotations

import sys
from typing import Any

import click

from provision.cli.env import Runner, command, run_async, spec_options


@click.command()
@spec_options
@click.option("--client-config", "--client", "client_config", type=click.Path(dir_okay=False), default=None,
              metavar="CLIENT.env", help="Check one client from its configuration (what `access grant` wrote): "
              "token, claims, membership, group, cluster, NSG, endpoint DNS/TLS, a live call.")
@click.option("--client-cidr", "client_cidrs", multiple=True, metavar="CIDR",
              help="The client's network, for the NSG check (default: network.client_cidrs).")
@command
def doctor(**params: Any) -> None:
    """Say what works and what does not, one line per check: PASS, WARN or FAIL with the fix.

    For the operator: the credential and where it came from, tenant, subscription, resource providers, Graph
    permissions and ARM rights `up` needs (read, never written), core quota, the environment's state. With
    --client-config CLIENT.env (or --config CLIENT.env: a dotenv or JSON client file): why that client can or cannot call the REST
    proxy. Exit code 1 when any check fails.
    """
    from provision import doctor as lib

    config = params.get("config")
    client = params.pop("client_config", None)
    if client is None and config and _is_client_file(config):
        client, params["config"] = config, None  # `doctor --config CLIENT.env`
    r = Runner(params)
    cidrs = list(r.extra.get("client_cidrs") or [])
    report = lib.Report(on_check=None if r.json else lambda c: click.echo(c.line()))

    async def run() -> None:
        ctx = None
        try:
            ctx = r.context()
        except Exception as e:  # noqa: BLE001 — the client checks still run without the operator's view
            report.add("operator context", lib.WARN if client else lib.FAIL, str(e).splitlines()[0] if str(e) else
                       type(e).__name__)
        if client:
            await lib.client_checks(ctx, client, report, client_cidrs=cidrs)
        elif ctx is not None:
            await lib.operator_checks(ctx, report)

    run_async(run())
    if r.json:
        import json

        click.echo(json.dumps(report.as_dict(), indent=2))
    else:
        s = report.as_dict()["summary"]
        click.echo(f"doctor: {s['PASS']} passed, {s['WARN']} warnings, {s['FAIL']} failed")
    if not report.ok:
        sys.exit(1)


def _is_client_file(path: str) -> bool:
    """A client configuration (dotenv or JSON with KAFKAREST_ENDPOINT / AZURE_CLIENT_ID), not an environment spec."""
    from pathlib import Path

    p = Path(path)
    if p.suffix.lower() == ".toml":
        return False
    try:
        text = p.read_text(encoding="utf-8-sig")
    except OSError:
        return False
    return any(k in text for k in ("KAFKAREST_ENDPOINT", "AZURE_CLIENT_ID", "endpoint", "clientId"))
