"""One module per Azure resource kind, each one object with a declared interface (provision.resources.base):
its dependencies, `read`, `diff`, `apply`, `delete` and how it tells what it owns. The engine derives order and
concurrency from the dependencies; adding a kind is one module and one line in `registry()`."""

from __future__ import annotations

from typing import Any


def registry() -> dict[str, Any]:
    """Every resource kind by key, in a dependency-respecting order (imported on first use: `--help` stays fast)."""
    from provision.resources.app_registration import APP_REGISTRATION
    from provision.resources.group_membership import GROUP_MEMBERSHIP
    from provision.resources.hdinsight_kafka import HDINSIGHT_KAFKA
    from provision.resources.key_vault import KEY_VAULT
    from provision.resources.network import NETWORK
    from provision.resources.resource_group import RESOURCE_GROUP
    from provision.resources.security_group import SECURITY_GROUP
    from provision.resources.storage import STORAGE

    kinds = [RESOURCE_GROUP, KEY_VAULT, APP_REGISTRATION, SECURITY_GROUP, GROUP_MEMBERSHIP, NETWORK, STORAGE, HDINSIGHT_KAFKA]
    return {r.key: r for r in kinds}
