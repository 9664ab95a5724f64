from provision.emulator.services.arm.hdinsight.responses import routes

__all__ = ["routes"]
