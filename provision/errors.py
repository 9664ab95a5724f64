"""Errors the library raises, and the exit codes the CLI maps them to.

    0  success
    1  an operation failed (Azure said no, a deployment failed, a timeout)
    2  usage or validation error — reported before any API write
    3  `plan --detailed-exitcode`: changes pending (as `terraform plan -detailed-exitcode` uses 2, but 2 is ours)
"""

from __future__ import annotations

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_CHANGES = 0, 1, 2, 3


class ProvisionError(Exception):
    """An operation failed. The message is one or two lines a person can act on."""

    exit_code = EXIT_FAILED


class InvalidInput(ProvisionError):
    """Bad input found before any write."""

    exit_code = EXIT_USAGE


class AlreadyExists(ProvisionError):
    """An object with our name exists but is not ours (or not what we need): never adopted silently."""


class ConsistencyTimeout(ProvisionError):
    """Entra replication (or an ARM operation) did not converge within the bound."""


class DeploymentFailed(ProvisionError):
    pass
