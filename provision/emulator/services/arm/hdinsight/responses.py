"""Placeholder wiring: replaced by the provider's real handlers."""


def routes() -> list:
    return []
