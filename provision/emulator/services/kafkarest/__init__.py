from provision.emulator.services.kafkarest.responses import routes

__all__ = ["routes"]
