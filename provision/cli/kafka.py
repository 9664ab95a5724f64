"""Placeholder: `provision kafka …` is being built."""

import click


@click.group()
def kafka() -> None:
    """Call the Kafka REST proxy: topics, produce, consume, partitions, brokers."""
