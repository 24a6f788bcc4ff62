"""`python -m keybroker` and the `keybroker` console script; also the PyInstaller entry."""

from __future__ import annotations

import sys


def main() -> None:
    """Entry point."""
    from keybroker.cli.main import main as cli_main

    sys.exit(cli_main())


if __name__ == "__main__":
    main()
