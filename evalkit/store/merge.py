"""Shards into one run: ``evalkit merge STORE... [--into DB]``.

A matrix of CI jobs runs ``evalkit run --shard I/N`` each into its own store. Merging finds,
per suite, one shard run in each store, checks that together they are exactly one run split
N ways — same suite file and cases (suite hash), same configuration and provider identities
(config hash), same prompts, providers and repeats, shards 1..N each once, no case in two
shards, each completed — and copies them into the target store as **one** run: result ids are
derived again from the merged run's id (as if it had run unsharded under that id, so
``--resume`` and replay work on it), scores follow their results, and the cases, prompt
versions and cache entries the shards stored are added where missing. Summary, gates and the
verdict are then computed once over the whole plan by ``evalkit.api.merge``.

Anything else is refused with the reason (exit 2): a merged run must mean what an unsharded
run would.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from evalkit.errors import InputError
from evalkit.records import content_hash
from evalkit.store.db import CACHE_COLUMNS, RESULT_COLUMNS, SCORE_COLUMNS, Store
from evalkit.store.runs import new_run_id, record_providers

__all__ = ["MergePlan", "ShardRun", "copy_shards", "plan_merge"]

#: Options that must be equal across shards (``shard`` itself differs; concurrency may).
_SAME_OPTIONS = ("providers", "prompts", "repeat", "limit", "no_cache", "replay", "scorers")


@dataclass
class ShardRun:
    """One shard's run in one store."""

    store: Path
    run: dict[str, Any]
    index: int
    count: int

    @property
    def id(self) -> str:
        return str(self.run["id"])

    @property
    def options(self) -> dict[str, Any]:
        return _options(self.run)


@dataclass
class MergePlan:
    """The shard runs of one suite that make one run."""

    suite: str
    shards: list[ShardRun]
    #: The merged run's id (sortable by the first shard's start).
    run_id: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def options(self) -> dict[str, Any]:
        """The run's options (those of its first shard; they are equal but for ``shard``)."""
        return self.shards[0].options


def _options(run: dict[str, Any]) -> dict[str, Any]:
    options = run.get("options")
    if isinstance(options, str):
        options = json.loads(options)
    return options or {}


def _shard_runs(store: Store, path: Path) -> dict[str, list[ShardRun]]:
    """The store's sharded runs, by suite."""
    out: dict[str, list[ShardRun]] = {}
    for run in store.records("SELECT * FROM runs ORDER BY started_at, id"):
        shard = _options(run).get("shard")
        if not shard:
            continue
        index, _, count = str(shard).partition("/")
        out.setdefault(str(run["suite"]), []).append(ShardRun(path, run, int(index), int(count)))
    return out


def plan_merge(stores: Sequence[tuple[Path, Store]]) -> list[MergePlan]:
    """Check the shard stores and return one plan per suite; raise ``InputError`` with the
    reason when they are not one run split N ways."""
    if len(stores) < 2:
        raise InputError(
            "merge needs the stores of at least two shards",
            fix="e.g. evalkit merge shard-1.duckdb shard-2.duckdb --into merged.duckdb",
        )
    by_suite: dict[str, list[ShardRun]] = {}
    for path, store in stores:
        found = _shard_runs(store, path)
        if not found:
            raise InputError(
                f"{path} holds no sharded run",
                fix="merge the stores written by `evalkit run --shard I/N`",
            )
        for suite, runs in found.items():
            if len(runs) > 1:
                raise InputError(
                    f"{path} holds {len(runs)} sharded runs of suite '{suite}' "
                    f"({', '.join(r.id for r in runs)})",
                    fix="give each shard job a fresh store (one shard run per suite and store)",
                )
            by_suite.setdefault(suite, []).extend(runs)
    plans = []
    for suite, shards in sorted(by_suite.items()):
        _check(suite, shards)
        shards.sort(key=lambda s: s.index)
        started = min(s.run["started_at"] for s in shards)
        plans.append(MergePlan(suite, shards, new_run_id(_aware(started))))
    return plans


def _aware(value: datetime) -> datetime:
    from datetime import UTC

    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def _check(suite: str, shards: list[ShardRun]) -> None:
    first = shards[0]

    def differ(what: str, get: Any) -> None:
        values = {json.dumps(get(s), sort_keys=True, default=str) for s in shards}
        if len(values) > 1:
            shown = "; ".join(f"{s.store}: {get(s)}" for s in shards)
            raise InputError(
                f"the shards of suite '{suite}' are not one run: their {what} differ ({shown})",
                fix="merge the shards of one matrix run (same commit, evalkit.yaml, suite and "
                "options)",
            )

    differ("suite files or cases (suite hash)", lambda s: s.run["suite_hash"])
    differ(
        "configuration (config hash: evalkit.yaml, provider identities)",
        lambda s: s.run["config_hash"],
    )
    for option in _SAME_OPTIONS:
        differ(f"`{option}` options", lambda s, o=option: _options(s.run).get(o))
    commits = {s.run["git_commit"] for s in shards if s.run.get("git_commit")}
    if len(commits) > 1:
        differ("git commits", lambda s: s.run.get("git_commit"))
    differ("shard counts (N of --shard I/N)", lambda s: s.count)
    count = first.count
    seen: dict[int, ShardRun] = {}
    for shard in shards:
        if shard.index in seen:
            raise InputError(
                f"shard {shard.index}/{count} of suite '{suite}' is in two stores: "
                f"{seen[shard.index].store} and {shard.store}",
                fix="give each shard's store once",
            )
        seen[shard.index] = shard
    missing = sorted(set(range(1, count + 1)) - set(seen))
    if missing:
        raise InputError(
            f"suite '{suite}' is missing shard(s) {', '.join(f'{i}/{count}' for i in missing)}",
            fix="merge the stores of every shard job (a merged run must cover the whole plan)",
        )
    for shard in shards:
        if shard.run["status"] != "completed":
            raise InputError(
                f"shard {shard.index}/{count} of suite '{suite}' ({shard.store}, run "
                f"{shard.id}) is {shard.run['status']}",
                fix=f"finish it first: evalkit run --resume {shard.id} --db {shard.store}",
            )


def copy_shards(plan: MergePlan, sources: dict[Path, Store], target: Store) -> dict[str, Any]:
    """Write the plan's shards into ``target`` as one run (``plan.run_id``); returns the
    merged run's run-level numbers (cache hits, spend, retries, elapsed) for its summary."""
    shards = plan.shards
    merged_from = [
        {"store": str(s.store), "run_id": s.id, "shard": f"{s.index}/{s.count}"} for s in shards
    ]
    already = target.fetchall("SELECT id, options FROM runs WHERE suite = ?", [plan.suite])
    shard_ids = {s.id for s in shards}
    for run_id, options in already:
        earlier = {
            m.get("run_id") for m in (_options({"options": options}).get("merged_from") or [])
        }
        if earlier & shard_ids:
            raise InputError(
                f"these shards of suite '{plan.suite}' are already merged in the target, "
                f"as run {run_id}",
                fix="use that run, or merge into another --into store",
            )
    result_names = [name for name, _ in RESULT_COLUMNS]
    score_names = [name for name, _ in SCORE_COLUMNS]
    at = {name: i for i, name in enumerate(result_names)}
    results: list[tuple[Any, ...]] = []
    scores: list[tuple[Any, ...]] = []
    cache_keys: set[str] = set()
    case_owner: dict[str, int] = {}
    for shard in shards:
        source = sources[shard.store]
        remap: dict[str, str] = {}
        for row in source.fetchall(
            f"SELECT {', '.join(f'{chr(34)}{n}{chr(34)}' for n in result_names)} FROM results "
            "WHERE run_id = ? ORDER BY repeat, case_id, prompt, provider",
            [shard.id],
        ):
            case = str(row[at["case_id"]])
            owner = case_owner.setdefault(case, shard.index)
            if owner != shard.index:
                raise InputError(
                    f"case '{case}' of suite '{plan.suite}' is in shards {owner}/{shard.count} "
                    f"and {shard.index}/{shard.count}",
                    fix="shards must hold disjoint cases: merge the stores of one matrix run",
                )
            new_id = result_id_for(row, at, plan.run_id)
            remap[str(row[0])] = new_id
            values = list(row)
            values[at["id"]], values[at["run_id"]] = new_id, plan.run_id
            results.append(tuple(values))
            if row[at["cache_key"]]:
                cache_keys.add(str(row[at["cache_key"]]))
        for row in source.fetchall(
            f"SELECT {', '.join(f'{chr(34)}{n}{chr(34)}' for n in score_names)} FROM scores "
            "WHERE run_id = ? ORDER BY result_id, scorer",
            [shard.id],
        ):
            values = list(row)
            values[0], values[1] = remap[str(row[0])], plan.run_id
            scores.append(tuple(values))
    _copy_reference_rows(plan, sources, target, cache_keys)
    first = shards[0].run
    options = _options(first)
    options.pop("shard", None)
    options["merged_from"] = merged_from
    run_row: dict[str, Any] = {
        "id": plan.run_id,
        "suite": plan.suite,
        "suite_path": first.get("suite_path"),
        "suite_hash": first.get("suite_hash"),
        "started_at": min(s.run["started_at"] for s in shards),
        "status": "running",
        "git_commit": first.get("git_commit"),
        "git_dirty": any(bool(s.run.get("git_dirty")) for s in shards),
        "evalkit_version": first.get("evalkit_version"),
        "config_hash": first.get("config_hash"),
        "options": json.dumps(options, default=str),
        "tags": first.get("tags")
        if isinstance(first.get("tags"), str | None)
        else json.dumps(first.get("tags")),
        "planned": sum(int(s.run.get("planned") or 0) for s in shards),
    }
    names = ", ".join(run_row)
    target.execute(
        f"INSERT INTO runs ({names}) VALUES ({', '.join('?' for _ in run_row)})",
        list(run_row.values()),
    )
    identities = {
        str(r["provider"]): json.loads(r["identity"]) if r["identity"] else {}
        for r in sources[shards[0].store].records(
            "SELECT provider, identity FROM run_providers WHERE run_id = ?", [shards[0].id]
        )
    }
    record_providers(target, plan.run_id, identities)
    for start in range(0, max(len(results), len(scores)), 5000):
        target.insert_columns(
            "results", RESULT_COLUMNS, results[start : start + 5000], replace=False
        )
        target.insert_columns("scores", SCORE_COLUMNS, scores[start : start + 5000], replace=False)
    return _run_numbers(shards)


def result_id_for(row: Sequence[Any], at: dict[str, int], run_id: str) -> str:
    """The result id an unsharded run ``run_id`` gives this result (``run.plan.result_id``,
    from the columns that make it)."""
    return str(
        content_hash(
            [
                run_id,
                row[at["case_id"]],
                row[at["case_hash"]],
                row[at["prompt"]],
                row[at["prompt_hash"]],
                row[at["provider"]],
                row[at["repeat"]],
            ],
            length=20,
        )
    )


def _copy_reference_rows(
    plan: MergePlan, sources: dict[Path, Store], target: Store, cache_keys: set[str]
) -> None:
    """Cases, prompt versions and cache entries of the shards, where the target lacks them."""
    seen_cases = {
        (r[0], r[1])
        for r in target.fetchall("SELECT id, hash FROM cases WHERE suite = ?", [plan.suite])
    }
    seen_prompts = {
        tuple(r) for r in target.fetchall("SELECT name, version, hash FROM prompt_versions")
    }
    case_cols = [
        ("suite", "VARCHAR"),
        ("id", "VARCHAR"),
        ("hash", "VARCHAR"),
        ("vars", "JSON"),
        ("reference", "JSON"),
        ("tags", "JSON"),
        ("metadata", "JSON"),
        ("first_seen", "TIMESTAMP"),
    ]
    prompt_cols = [
        ("name", "VARCHAR"),
        ("version", "VARCHAR"),
        ("hash", "VARCHAR"),
        ("source", "VARCHAR"),
        ("path", "VARCHAR"),
        ("description", "VARCHAR"),
        ("parent", "VARCHAR"),
        ("first_seen", "TIMESTAMP"),
    ]
    cases: list[tuple[Any, ...]] = []
    prompts: list[tuple[Any, ...]] = []
    cache: list[tuple[Any, ...]] = []
    keys = sorted(cache_keys)
    stored = {
        r[0]
        for r in target.fetchall(
            "SELECT key FROM cache WHERE key IN (SELECT unnest(?::VARCHAR[]))", [keys]
        )
    }
    for shard in plan.shards:
        source = sources[shard.store]
        for row in source.fetchall(
            f"SELECT {', '.join(n for n, _ in case_cols)} FROM cases WHERE suite = ? AND "
            "(id, hash) IN (SELECT DISTINCT case_id, case_hash FROM results WHERE run_id = ?)",
            [plan.suite, shard.id],
        ):
            if (row[1], row[2]) not in seen_cases:
                seen_cases.add((row[1], row[2]))
                cases.append(tuple(row))
        for row in source.fetchall(
            f"SELECT {', '.join(n for n, _ in prompt_cols)} FROM prompt_versions WHERE "
            "(name || '@' || version, hash) IN "
            "(SELECT DISTINCT prompt, prompt_hash FROM results WHERE run_id = ?)",
            [shard.id],
        ):
            if tuple(row[:3]) not in seen_prompts:
                seen_prompts.add(tuple(row[:3]))
                prompts.append(tuple(row))
        wanted = [k for k in keys if k not in stored]
        if wanted:
            for row in source.fetchall(
                f"SELECT {', '.join(n for n, _ in CACHE_COLUMNS)} FROM cache "
                "WHERE key IN (SELECT unnest(?::VARCHAR[]))",
                [wanted],
            ):
                if row[0] not in stored:
                    stored.add(row[0])
                    cache.append(tuple(row))
    target.insert_columns("cases", case_cols, cases, replace=False)
    target.insert_columns("prompt_versions", prompt_cols, prompts, replace=False)
    target.insert_columns("cache", CACHE_COLUMNS, cache, replace=False)


def _run_numbers(shards: list[ShardRun]) -> dict[str, Any]:
    """Run-level numbers of the merged run, from the shards' stored summaries."""
    out: dict[str, Any] = {
        "cache_hits": 0,
        "spent_usd": 0.0,
        "retries": 0,
        "throttled_to": {},
        "elapsed_s": 0.0,
        "prepare_s": 0.0,
        "shards": len(shards),
    }
    for shard in shards:
        stored = shard.run.get("summary") or {}
        if isinstance(stored, str):
            stored = json.loads(stored)
        numbers = (stored.get("summary") or {}).get("run") or {}
        out["cache_hits"] += int(numbers.get("cache_hits") or 0)
        out["spent_usd"] += float(numbers.get("spent_usd") or 0.0)
        out["retries"] += int(numbers.get("retries") or 0)
        # Shards run side by side: the merged run took as long as the slowest.
        out["elapsed_s"] = max(out["elapsed_s"], float(numbers.get("elapsed_s") or 0.0))
        out["prepare_s"] = max(out["prepare_s"], float(numbers.get("prepare_s") or 0.0))
        for pid, lowest in (numbers.get("throttled_to") or {}).items():
            out["throttled_to"][pid] = min(lowest, out["throttled_to"].get(pid, lowest))
        out["scores_reused"] = out.get("scores_reused", 0) + int(numbers.get("scores_reused") or 0)
        for key in _SUMMED:  # per purpose, class or provider: summed over the shards
            total = out.setdefault(key, {})
            for name, value in (numbers.get(key) or {}).items():
                total[name] = total.get(name, 0) + value
    return out


#: Run-level counters kept per purpose, error class or provider, summed over the shards.
_SUMMED = (
    "spent_by_purpose",
    "retries_by_class",
    "requests",
    "calls_by_purpose",
    "cache_hits_by_purpose",
)


def stored_gates(shards: Sequence[ShardRun]) -> dict[str, Any]:
    """The suite's gates as the shards recorded them (gate name -> limit)."""
    gates: dict[str, Any] = {}
    for shard in shards:
        stored = shard.run.get("summary") or {}
        if isinstance(stored, str):
            stored = json.loads(stored)
        for gate in stored.get("gates") or []:
            gates[str(gate["gate"])] = gate["limit"]
    return gates
