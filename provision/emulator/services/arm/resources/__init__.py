from provision.emulator.services.arm.resources.responses import routes

__all__ = ["routes"]
