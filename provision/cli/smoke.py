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

    Gets a token, creates a fresh topic, produces Microsoft's six sample records (string with key, integer on
    partition 0, float, object, list, nested object), reads them back and compares them exactly, reads the
    partition metadata, and deletes the topic. One line per step: PASS, FAIL, SKIP or WARN (cleanup only).
    Exit code 1 when any step fails, 2 when the configuration is invalid.
    """
    from provision.kafkarest.smoke import run_smoke

    def show(step) -> None:
        click.echo(f"{step.status:<4}  {step.name:<12}  {step.seconds:7.2f}s  {step.detail}")

    with build_client() as kr:
        report = run_smoke(kr, timeout=timeout, cleanup=not keep_topic, on_step=show if output == "text" else None)
    if output == "json":
        echo_json(report.to_dict())
    else:
        verdict = "PASSED" if report.ok else "FAILED"
        click.echo(f"smoke test {verdict} against {report.endpoint} in {report.seconds:.2f}s")
    if not report.ok:
        raise SystemExit(1)

