from provision.emulator.services.identity.responses import routes

__all__ = ["routes"]
