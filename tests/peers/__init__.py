"""Real third-party servers for tests (scripts/peers/*.sh install them; see scripts/peers/README.md)."""
