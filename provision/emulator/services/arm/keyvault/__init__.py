from provision.emulator.services.arm.keyvault.responses import routes

__all__ = ["routes"]
