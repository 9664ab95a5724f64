"""The `provision` command line: thin Click commands over the library. Azure SDKs are imported inside the
commands that need them, so `provision --help` stays fast."""

from __future__ import annotations

import click

from provision import __version__
from provision.cli.access import access
from provision.cli.doctor import doctor
from provision.cli.emulator import emulator
from provision.cli.env import COMMANDS as ENV_COMMANDS
from provision.cli.steps import GROUPS as STEP_GROUPS
from provision.cli.kafka import kafka
from provision.cli.smoke import smoke
from provision.cli.template import template


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.version_option(__version__, prog_name="provision")
def cli() -> None:
    """Set up Azure HDInsight Kafka with the Kafka REST proxy, and manage which client applications may call it.

    Runs against real Azure (public, China, US Gov) or the local Azure emulator shipped with this toolkit.
    """


for _cmd in [*ENV_COMMANDS, *STEP_GROUPS]:
    cli.add_command(_cmd)
cli.add_command(access)
cli.add_command(doctor)
cli.add_command(emulator)
cli.add_command(kafka)
cli.add_command(smoke)
cli.add_command(template)


def main() -> None:
    code: int | str | None = 0
    try:
        cli(prog_name="provision")  # standalone mode: ends in SystemExit
    except SystemExit as e:
        code = e.code
    if isinstance(code, str):  # sys.exit("message"), as the interpreter would show it
        click.echo(code, err=True)
        code = 1
    _leave(code or 0)


def _leave(code: int) -> None:
    """Exit without the interpreter's teardown. Finalizing the thousands of SDK modules a command imported costs
    about 0.3 s of every run and does nothing for us: what must reach disk was written and closed by the command,
    locks are released by the OS, and the local emulator runs in a process of its own. Logs and the standard
    streams are flushed first."""
    import logging
    import os
    import sys

    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe: nothing left to say to it
            pass
    os._exit(code)
