"""Placeholder: `provision smoke` is being built."""

import click


@click.command()
def smoke() -> None:
    """Prove a REST-proxy setup works end to end."""
    raise click.ClickException("not implemented yet")
