"""Keybroker: a local secrets broker for AI agents."""

__version__ = "0.1.0"
APP_ID = "io.github.keybroker.Keybroker"
VAULT_SERVICE = "keybroker"
