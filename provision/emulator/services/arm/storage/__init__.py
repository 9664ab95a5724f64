from provision.emulator.services.arm.storage.responses import routes

__all__ = ["routes"]
