"""A local Azure emulator: Entra ID, Microsoft Graph, Azure Resource Manager and the Kafka REST proxy over TLS.

Only `provision.emulator.launcher` is meant for the CLI (how to start, stop and reach it); the rest is the
emulator's own implementation.
"""
