"""Placeholder: `provision template …` is being built."""

import click


@click.group()
def template() -> None:
    """ARM deployment templates generated from the same objects the SDK path sends."""
