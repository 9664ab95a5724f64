from provision.emulator.services.arm.network.responses import routes

__all__ = ["routes"]
