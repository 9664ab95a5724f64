"""Azure Key Vault's data plane (secrets), one origin per vault: see models.py and listeners.py."""

from provision.emulator.services.keyvault.responses import attach, close_vault, open_vault, remember_main_url

__all__ = ["attach", "close_vault", "open_vault", "remember_main_url"]
