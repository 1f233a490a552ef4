"""``python -m evalkit.contracts [--check] [DIR]``: write the JSON Schemas of the outputs."""

from evalkit.contracts.schemas import main

raise SystemExit(main())
