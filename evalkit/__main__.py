"""``python -m evalkit`` is ``evalkit``."""

from evalkit.cli.main import main

main()
