"""Azure Resource Manager routes: the front door (core.py) plus one package per resource provider."""

from __future__ import annotations

from provision.emulator.services.arm import hdinsight, keyvault, network, resources, storage


def routes() -> list:
    # Order matters only where paths overlap: providers' specific routes before resource groups' generic ones.
    return [*hdinsight.routes(), *network.routes(), *storage.routes(), *keyvault.routes(), *resources.routes()]
