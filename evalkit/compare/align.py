"""compare (alignment): read two runs from the store, decide which groups are compared, and
line their results up case by case.

A *group* is one system under test within a run: one prompt version on one provider. Two
groups are compared *like with like*: the same provider and the same prompt name (so
``support@v2`` in this run is compared with ``support@v1`` in the baseline: the version is
what changed), unless the user names the two sides (two prompt versions, or two providers).
When a run holds several versions of one prompt on one provider, equal versions pair first,
and a version left alone on each side pairs with the other.

Results pair up by (case id, case content hash, repeat index) within the run's suite. A case
whose id is in both runs with a different hash was *changed*; it is reported, never
compared, like the cases *added* or *removed*.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from evalkit.errors import InputError
from evalkit.store.db import Store

__all__ = ["Group", "Pairing", "RunData", "Sides", "align_cases", "load_run", "pair_groups"]


@dataclass
class ScorerInfo:
    """What one run's scores of one scorer (within one group) have in common."""

    name: str
    type: str
    signatures: dict[str, Any] = field(default_factory=dict)  # hash -> signature_json
    thresholds: set[float | None] = field(default_factory=set)
    decides: bool = False


@dataclass(eq=False)
class Group:
    """One prompt version × provider of one run, with its results keyed by (case, repeat)."""

    run_id: str
    suite: str
    prompt: str
    prompt_name: str
    provider: str
    prompt_hashes: set[str] = field(default_factory=set)
    models: set[str] = field(default_factory=set)
    params: list[Any] = field(default_factory=list)
    results: dict[tuple[str, int], dict[str, Any]] = field(default_factory=dict)
    case_hashes: dict[str, str] = field(default_factory=dict)
    #: result id -> scorer name -> score row
    scores: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    scorers: dict[str, ScorerInfo] = field(default_factory=dict)

    _by_case: dict[str, list[dict[str, Any]]] | None = field(default=None, repr=False)

    @property
    def label(self) -> str:
        return f"{self.prompt} · {self.provider}"

    def case_rows(self, case_id: str) -> list[dict[str, Any]]:
        """The results of one case, by repeat index."""
        if self._by_case is None:
            self._by_case = {}
            for key in sorted(self.results):
                self._by_case.setdefault(key[0], []).append(self.results[key])
        return self._by_case.get(case_id, [])

    @property
    def model(self) -> str | None:
        return ", ".join(sorted(self.models)) or None

    def describe(self) -> dict[str, Any]:
        return {
            "prompt": self.prompt,
            "provider": self.provider,
            "model": self.model,
            "prompt_hash": ", ".join(sorted(self.prompt_hashes)) or None,
            "params": self.params[0] if len(self.params) == 1 else self.params,
        }


@dataclass
class RunData:
    run: dict[str, Any]
    groups: dict[tuple[str, str], Group]

    @property
    def id(self) -> str:
        return str(self.run["id"])

    @property
    def suite(self) -> str:
        return str(self.run["suite"])


def _loads(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def load_run(store: Store, run_id: str) -> RunData:
    """A stored run, grouped by prompt version × provider."""
    from evalkit.store.results import run_results, run_scores
    from evalkit.store.runs import get_run

    run = get_run(store, run_id)
    groups: dict[tuple[str, str], Group] = {}
    owner: dict[str, Group] = {}
    for row in run_results(store, run_id):
        key = (row["prompt"], row["provider"])
        group = groups.get(key)
        if group is None:
            group = groups[key] = Group(
                run_id, run["suite"], row["prompt"], row["prompt_name"], row["provider"]
            )
        group.prompt_hashes.add(row["prompt_hash"])
        if row["model"]:
            group.models.add(row["model"])
        params = _loads(row["params"])
        if params not in group.params:
            group.params.append(params)
        group.results[(row["case_id"], int(row["repeat"]))] = row
        group.case_hashes[row["case_id"]] = row["case_hash"]
        owner[row["id"]] = group
    for row in run_scores(store, run_id):
        group = owner.get(row["result_id"])
        if group is None:
            continue
        group.scores.setdefault(row["result_id"], {})[row["scorer"]] = row
        info = group.scorers.get(row["scorer"])
        if info is None:
            info = group.scorers[row["scorer"]] = ScorerInfo(row["scorer"], row["scorer_type"])
        info.signatures.setdefault(row["signature"], _loads(row["signature_json"]))
        info.thresholds.add(row["threshold"])
        if row["passed"] is not None or row["threshold"] is not None:
            info.decides = True
    for group in groups.values():  # scores carry no suite order: sort for stable reports
        group.scorers = dict(sorted(group.scorers.items()))
    return RunData(run, dict(sorted(groups.items())))


# -- which groups are compared ----------------------------------------------------------------
@dataclass(frozen=True)
class Sides:
    """What the user named: two prompt versions and/or two providers (None: like with like).
    A single value filters both sides."""

    prompts: tuple[str, ...] = ()
    providers: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for what, values in (("--prompt", self.prompts), ("--provider", self.providers)):
            if len(values) > 2:
                raise InputError(
                    f"{what} was given {len(values)} times",
                    fix=f"give {what} once (to filter) or twice (the two sides)",
                )


@dataclass
class Pairing:
    baseline: Group
    candidate: Group

    @property
    def label(self) -> str:
        a, b = self.baseline, self.candidate
        prompt = a.prompt if a.prompt == b.prompt else f"{a.prompt} → {b.prompt}"
        provider = a.provider if a.provider == b.provider else f"{a.provider} → {b.provider}"
        return f"{prompt} · {provider}"


def _matches(group: Group, prompt: str | None, provider: str | None) -> bool:
    if prompt is not None and prompt not in (group.prompt, group.prompt_name):
        return False
    return provider is None or group.provider == provider


def _pair_within(
    a: list[Group], b: list[Group], key: Any, exact: Any
) -> tuple[list[Pairing], list[Group], list[Group]]:
    """Pair groups with equal ``exact`` keys first (e.g. the same prompt version), then the
    one group left on each side with equal ``key``."""
    pairs: list[Pairing] = []
    left_a, left_b = list(a), list(b)
    for ga in list(left_a):
        for gb in left_b:
            if exact(ga) == exact(gb):
                pairs.append(Pairing(ga, gb))
                left_a.remove(ga)
                left_b.remove(gb)
                break
    for k in {key(g) for g in left_a}:
        only_a = [g for g in left_a if key(g) == k]
        only_b = [g for g in left_b if key(g) == k]
        if len(only_a) == 1 and len(only_b) == 1:
            pairs.append(Pairing(only_a[0], only_b[0]))
            left_a.remove(only_a[0])
            left_b.remove(only_b[0])
    return pairs, left_a, left_b


def pair_groups(
    a: RunData, b: RunData, sides: Sides | None = None
) -> tuple[list[Pairing], list[Group], list[Group]]:
    """(pairings, baseline groups left unpaired, candidate groups left unpaired)."""
    sides = sides or Sides()
    prompts, providers = sides.prompts, sides.providers
    pa = pb = prompts[0] if prompts else None
    qa = qb = providers[0] if providers else None
    if len(prompts) == 2:
        pa, pb = prompts
    if len(providers) == 2:
        qa, qb = providers
    ga = [g for g in a.groups.values() if _matches(g, pa, qa)]
    gb = [g for g in b.groups.values() if _matches(g, pb, qb)]
    # (key, exact): groups pair when ``exact`` is equal, else when ``key`` is equal and one
    # group is left on each side. What the user named (or the version) may differ.
    if len(prompts) == 2 and len(providers) == 2:
        key: Any = lambda g: ()  # noqa: E731
        exact: Any = key
    elif len(prompts) == 2:
        key = exact = lambda g: g.provider
    elif len(providers) == 2:
        key, exact = (lambda g: g.prompt_name), (lambda g: g.prompt)
    else:
        key = lambda g: (g.prompt_name, g.provider)  # noqa: E731
        exact = lambda g: (g.prompt, g.provider)  # noqa: E731
    # Groups outside the named sides are not part of the comparison (nor "unpaired").
    pairs, left_a, left_b = _pair_within(ga, gb, key, exact)
    order = {id(g): i for i, g in enumerate(a.groups.values())}
    pairs.sort(key=lambda p: order.get(id(p.baseline), 0))
    return pairs, left_a, left_b


# -- cases ------------------------------------------------------------------------------------
@dataclass
class Alignment:
    """The cases two groups share (same id and content), and what differs."""

    cases: list[str]
    #: (case, repeat index) -> (baseline row, candidate row); only repeats both sides ran.
    repeats: int
    added: list[str]
    removed: list[str]
    changed: list[str]
    #: Repeats run by only one side (by case count), reported.
    unmatched_repeats: int = 0


def align_cases(a: Group, b: Group) -> Alignment:
    ha, hb = a.case_hashes, b.case_hashes
    common = sorted(c for c in ha if c in hb and ha[c] == hb[c])
    changed = sorted(c for c in ha if c in hb and ha[c] != hb[c])
    removed = sorted(c for c in ha if c not in hb)
    added = sorted(c for c in hb if c not in ha)
    repeats = 0
    unmatched = 0
    ra: dict[str, set[int]] = {}
    rb: dict[str, set[int]] = {}
    for case, rep in a.results:
        ra.setdefault(case, set()).add(rep)
    for case, rep in b.results:
        rb.setdefault(case, set()).add(rep)
    for case in common:
        both = ra[case] & rb[case]
        unmatched += len(ra[case] ^ rb[case])
        if both:
            repeats = max(repeats, max(both) + 1)
    return Alignment(common, repeats, added, removed, changed, unmatched)


def value_matrix(
    group: Group, alignment: Alignment, other: Group, value: Any
) -> Sequence[Sequence[float]]:
    """A (cases, repeats) list of lists of ``value(row)`` (NaN where this side or the other
    lacks the repeat)."""
    nan = float("nan")
    out = []
    for case in alignment.cases:
        row = []
        for rep in range(alignment.repeats):
            mine = group.results.get((case, rep))
            theirs = other.results.get((case, rep))
            if mine is None or theirs is None:
                row.append(nan)
                continue
            got = value(mine)
            row.append(nan if got is None else float(got))
        out.append(row)
    return out
