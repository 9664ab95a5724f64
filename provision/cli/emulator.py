"""`provision emulator …`: run the local Azure emulator that every test and every newcomer uses."""

from __future__ import annotations

import json
import shlex

import click

from provision.cli.options import output_option

from provision.emulator import launcher

data_dir_option = click.option(
    "--data-dir", envvar="PROVISION_EMULATOR_DIR", type=click.Path(file_okay=False),
    help="Where the emulator keeps its CA, keys and state (env PROVISION_EMULATOR_DIR; default: the user data dir).")


@click.group()
def emulator() -> None:
    """Run the local Azure emulator (Entra ID, Graph, ARM, Kafka REST proxy over TLS on 127.0.0.1)."""


@emulator.command()
@data_dir_option
@click.option("--port", type=click.IntRange(0, 65535), default=0, show_default=True,
              help="TCP port; 0 reuses the last port if free, else picks a free one.")
@output_option
def start(data_dir: str | None, port: int, output: str) -> None:
    """Start the emulator in the background; returns once it answers."""
    try:
        info = launcher.start(data_dir, port or None)
    except launcher.EmulatorError as e:
        raise click.ClickException(str(e)) from None
    _print_info(info, output, "running")


@emulator.command()
@data_dir_option
def stop(data_dir: str | None) -> None:
    """Stop the background emulator (its state is kept)."""
    if launcher.stop(data_dir):
        click.echo("emulator stopped")
    else:
        click.echo("emulator was not running")


@emulator.command()
@data_dir_option
@output_option
def status(data_dir: str | None, output: str) -> None:
    """Show whether the emulator runs, its URL and its CA certificate. Exit code 1 when it is not running."""
    info = launcher.status(data_dir)
    if info is None:
        if output == "json":
            click.echo(json.dumps({"running": False, "dataDir": str(launcher.resolve_data_dir(data_dir))}))
        else:
            click.echo(f"emulator not running (data dir {launcher.resolve_data_dir(data_dir)})")
        raise SystemExit(1)
    _print_info(info, output, "running")


@emulator.command()
@data_dir_option
@click.option("--port", type=click.IntRange(0, 65535), default=0, show_default=True)
def serve(data_dir: str | None, port: int) -> None:
    """Run the emulator in the foreground (Ctrl-C stops it)."""
    from provision.emulator.server import Emulator
    from provision.emulator.state import DataDirError

    try:
        emu = Emulator(launcher.resolve_data_dir(data_dir), port=port or None)
    except DataDirError as e:
        raise click.UsageError(str(e)) from None
    click.echo(f"emulator serving on {emu.url} (CA {emu.tls.ca_cert})", err=True)
    emu.serve_forever()


@emulator.command()
@click.option("--format", "fmt", type=click.Choice(["text", "json", "markdown"]), default="text", show_default=True,
              help="markdown: the README's table.")
@click.option("--service", help="Only services whose name contains this (case-insensitive), e.g. graph, network.")
def coverage(fmt: str, service: str | None) -> None:
    """List every operation the emulator emulates, per service (read from its routing tables).

    Anything else answers 501 NotImplementedInEmulator naming the operation (ARM, and Graph's real entity sets)."""
    from provision.emulator import coverage as cov

    ops = [o for o in cov.operations() if not service or service.lower() in o["service"].lower()]
    if fmt == "markdown":
        click.echo(cov.markdown(ops))
        return
    if fmt == "json":
        grouped: dict[str, list] = {}
        for o in ops:
            grouped.setdefault(o["service"], []).append({"methods": o["methods"], "path": o["path"]})
        click.echo(json.dumps({"services": grouped, "counts": cov.summary(ops)}, indent=2))
        return
    counts = cov.summary(ops)
    current = None
    for o in ops:
        if o["service"] != current:
            current = o["service"]
            click.echo(f"{'' if o is ops[0] else chr(10)}{current} ({counts[current]} operations)")
        click.echo(f"  {' '.join(o['methods']):<22} {o['path']}")


@emulator.command()
@data_dir_option
@click.option("--format", "fmt", type=click.Choice(["shell", "dotenv", "json", "github"]), default="shell",
              show_default=True, help="shell: export lines for eval; dotenv: KEY=value; github: for $GITHUB_ENV.")
@click.option("--start/--no-start", default=True, show_default=True, help="Start the emulator if it is not running.")
def env(data_dir: str | None, fmt: str, start: bool) -> None:
    """Print the environment variables that point Azure tools at the emulator.

    Includes the emulator operator's client secret (a local, throwaway credential), since that is what
    DefaultAzureCredential reads: eval "$(provision emulator env)".
    """
    try:
        info = launcher.start(data_dir) if start else launcher.status(data_dir)
    except launcher.EmulatorError as e:
        raise click.ClickException(str(e)) from None
    if info is None:
        raise click.ClickException("the emulator is not running; run `provision emulator start`")
    values = info.env()
    if fmt == "json":
        click.echo(json.dumps(values, indent=2))
    elif fmt == "shell":
        for k, v in values.items():
            click.echo(f"export {k}={shlex.quote(v)}")
    elif fmt == "github":  # $GITHUB_ENV takes raw name=value lines, no shell quoting
        for k, v in values.items():
            click.echo(f"{k}={v}")
    else:
        from provision.access import dotenv_text

        click.echo(dotenv_text(values), nl=False)


def _print_info(info: launcher.EmulatorInfo, output: str, state: str) -> None:
    if output == "json":
        click.echo(json.dumps({"running": True, **info.public()}, indent=2))
        return
    rows = [("status", state), ("url", info.url), ("CA certificate", str(info.ca_cert)),
            ("tenant", info.tenant_id), ("subscription", info.subscription_id),
            ("operator client id", info.client_id),
            ("operator secret", str(info.data_dir / "operator.json") + " (0600)"),
            ("data dir", str(info.data_dir)), ("pid", str(info.pid))]
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        click.echo(f"{k.ljust(width)}  {v}")
