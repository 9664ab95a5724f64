"""`provision smoke`: prove a REST-proxy setup works end to end (see provision/kafkarest/smoke.py)."""

from __future__ import annotations

import click

from provision.cli.kafka import build_client, connection_options, echo_json, handle_errors, output_option


@click.command()
@connection_options
@output_option
@click.option("--timeout", type=click.FloatRange(0), default=60.0, show_default=True,
              help="Seconds to wait for the new topic to be listed.")
@click.option("--keep-topic", is_flag=True, help="Do not delete the smoke-test topic at the end.")
@handle_errors
def smoke(output: str, timeout: float, keep_topic: bool) -> None:
    """Prove a REST-proxy setup works end to end.

    With no --config, --endpoint or KAFKAREST_ENDPOINT it tests the environment of this directory (where `provision
    up` ran: provision.toml and PROVISION_* as for `up`), as the environment's own app; --config is for clients.

    Gets a token, creates a fresh topic, produces Microsoft's six sample records (string with key, integer on
    partition 0, float, object, list, nested object), reads them back and compares them exactly, reads the
    partition metadata, and deletes the topic. One line per step: PASS, FAIL, SKIP or WARN (cleanup only).
    Exit code 1 when any step fails, 2 when the configuration is invalid.
    """
    from provision.kafkarest.smoke import run_smoke

    def show(step) -> None:
        click.echo(f"{step.status:<4}  {step.name:<12}  {step.seconds:7.2f}s  {step.detail}")

    with _client() as kr:
        report = run_smoke(kr, timeout=timeout, cleanup=not keep_topic, on_step=show if output == "text" else None)
    if output == "json":
        echo_json(report.to_dict())
    else:
        verdict = "PASSED" if report.ok else "FAILED"
        click.echo(f"smoke test {verdict} against {report.endpoint} in {report.seconds:.2f}s")
    if not report.ok:
        raise SystemExit(1)



def _client():
    """The client of --config/flags/env when any names an endpoint; else the environment's own app (where `up`
    ran): its endpoint from Azure, its secret as `up` holds it (the state directory or the Key Vault)."""
    import os

    from provision.cli.kafka import _OVERRIDES

    overrides = click.get_current_context().meta.get(_OVERRIDES, {})
    if overrides.get("config_file") or overrides.get("KAFKAREST_ENDPOINT") or os.environ.get("KAFKAREST_ENDPOINT"):
        return build_client()
    return environment_client()


def environment_client():
    from provision import clientconfig
    from provision.cli.env import Runner, run_async
    from provision.errors import InvalidInput, ProvisionError
    from provision.spec import SpecError

    import os
    from pathlib import Path

    from provision import spec as specmod
    from provision.context import state_dir_for

    try:
        r = Runner({})
    except SpecError as e:
        raise InvalidInput(f"{e} (no --config given: smoke tests the environment of this directory)") from None
    # An environment is "here" when this directory set one up or the caller names one; otherwise this is a client
    # without a configuration, and nothing should start an emulator or call Azure on a guess.
    named = any(os.environ.get(f.env) for f in specmod.FIELDS) or os.environ.get("PROVISION_CONFIG")
    if not (named or Path("provision.toml").exists() or state_dir_for(r.spec).exists()):
        raise InvalidInput("KAFKAREST_ENDPOINT: is not set, and no environment was set up here (no provision.toml, "
                           "no .provision/ state); pass --config CLIENT.env, or run `provision smoke` where "
                           "`provision up` ran")
    ctx = r.context()
    from provision import engine
    from provision.resources.app_registration import held_secret

    async def read() -> tuple[dict, dict | None]:
        try:
            out = await engine.current_outputs(ctx)
        except ProvisionError as e:
            raise InvalidInput(f"KAFKAREST_ENDPOINT: is not set, and environment {ctx.spec.values['name']} has no "
                               f"cluster to test ({e}); run `provision smoke` where `provision up` ran, or pass "
                               f"--config CLIENT.env") from None
        return out, await held_secret(ctx)

    out, held = run_async(read())
    if not out.get("endpoint") or not out.get("clientId"):
        raise ProvisionError(f"environment {ctx.spec.values['name']} has no REST proxy endpoint or app yet "
                             f"(cluster {out.get('clusterState')}); run `provision up`")
    secret = (held or {}).get("clientSecret")
    if not secret:
        raise ProvisionError(f"no client secret of the environment's app is held here ({ctx.state_dir}) or in its "
                             f"Key Vault; run `provision up` (it adds one), or pass --config CLIENT.env")
    doc = engine.client_document(ctx, out["endpoint"], out["clientId"])
    doc["AZURE_CLIENT_SECRET"] = secret
    return clientconfig.load(None, doc, environ={}).build_client()
