"""One package per emulated Azure service: models (state, no HTTP) and responses (wire handling)."""
