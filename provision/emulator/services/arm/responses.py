"""Placeholder wiring: replaced by the service's real handlers."""


def routes() -> list:
    return []
