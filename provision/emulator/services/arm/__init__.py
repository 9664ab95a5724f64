from provision.emulator.services.arm.responses import routes

__all__ = ["routes"]
