from provision.emulator.services.graph.responses import routes

__all__ = ["routes"]
