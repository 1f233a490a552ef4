"""The base of every contract model, and the verdict vocabulary.

Contracts are what one stage hands the next (a run's summary, its gates, a comparison) and
what ``--json`` prints. They are strict (``extra="forbid"``): a producer that adds a field
must add it here first, with its docstring, so the published schemas stay true.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

__all__ = ["BUDGET_VERDICTS", "VERDICTS", "BudgetVerdict", "Contract", "Verdict"]


class Contract(BaseModel):
    """A typed record exchanged between stages and printed by ``--json``."""

    model_config = ConfigDict(
        extra="forbid",
        populate_by_name=True,
        json_schema_serialization_defaults_required=True,
        # Validators are built on a contract's first use, not at import; attribute docstrings
        # become descriptions only when the schemas are generated (``contracts.schemas``):
        # reading every contract's source at import cost every command ≈ 0.1 s.
        defer_build=True,
    )

    def as_json(self) -> dict[str, Any]:
        """Plain JSON-ready data (the shape ``--json`` prints)."""
        return self.model_dump(mode="json", by_alias=True)


#: A metric's verdict. ``regressed`` / ``improved``: significant after Holm's correction;
#: ``equivalent``: the 95% interval lies inside ± the equivalence margin; ``inconclusive``:
#: neither (the data cannot tell); ``not comparable``: refused, with the reason.
Verdict = Literal["regressed", "improved", "equivalent", "inconclusive", "not comparable"]
VERDICTS: tuple[str, ...] = Verdict.__args__  # type: ignore[attr-defined]

#: A latency/cost budget's verdict: the whole 95% interval of the ratio beyond the tolerance
#: (``slower``/``costlier``, ``faster``/``cheaper``), inside it (``equivalent``), neither
#: (``inconclusive``), or the suite's gate failed (``over budget``).
BudgetVerdict = Literal[
    "slower", "faster", "costlier", "cheaper", "equivalent", "inconclusive", "over budget"
]
BUDGET_VERDICTS: tuple[str, ...] = BudgetVerdict.__args__  # type: ignore[attr-defined]


def legacy_verdict(value: Any) -> Any:
    """Comparisons stored before the verdict words were settled said ``unchanged`` for a
    change that was not significant; that is read back as ``inconclusive`` (no test shows
    that nothing changed)."""
    return "inconclusive" if value == "unchanged" else value
