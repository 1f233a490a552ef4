"""Baselines: a name, *per suite*, for the run later runs are compared with.

``evalkit baseline set main RUN`` names RUN's suite's baseline ``main``; each suite has its
own ``main`` (a run is one suite, and ``evalkit run --baseline main`` runs several suites),
so CI sets ``main`` from every run of a merge to the main branch. Setting a name again moves
it. ``--baseline REF`` accepts a baseline name, ``last``/``latest`` (the newest earlier
completed run of the same suite), or a run id (or unique prefix).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from evalkit.errors import InputError, NotFoundError, did_you_mean
from evalkit.store.baselines import (
    count_named,
    delete_named,
    list_named,
    name_exists,
    named_run,
    previous_completed_run,
    set_named,
)
from evalkit.store.db import Store
from evalkit.store.runs import LATEST, get_run, resolve_run

__all__ = [
    "check_reference",
    "delete_baseline",
    "list_baselines",
    "previous_run",
    "resolve_for_suite",
    "set_baseline",
]

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9._/@+-]{0,99}$")


def _check_name(name: str) -> None:
    if name in LATEST or not _NAME.match(name):
        raise InputError(
            f"'{name}' cannot name a baseline",
            fix="start with a letter; letters, digits and . _ / @ + - (e.g. main, release/1.2);"
            " not 'last' or 'latest'",
        )


def set_baseline(
    store: Store, name: str, refs: Sequence[str], suite: str | None = None
) -> list[dict[str, Any]]:
    """Point ``name`` at each run in ``refs`` (one per suite); returns what changed."""
    _check_name(name)
    if not refs:
        raise InputError("name the run(s)", fix=f"e.g. evalkit baseline set {name} last")
    runs: list[dict[str, Any]] = []
    for ref in refs:
        run = get_run(store, resolve_run(store, ref, suite))
        if suite and run["suite"] != suite:
            raise InputError(
                f"run {run['id']} is of suite '{run['suite']}', not '{suite}'",
                fix="drop --suite, or give a run of that suite",
            )
        if any(r["suite"] == run["suite"] for r in runs):
            raise InputError(
                f"two of the runs are of suite '{run['suite']}'",
                fix="give one run per suite (a baseline is named per suite)",
            )
        runs.append(run)
    changed = []
    for run in runs:
        previous = named_run(store, name, run["suite"])
        set_named(store, name, run["suite"], run["id"])
        changed.append(
            {
                "name": name,
                "suite": run["suite"],
                "run_id": run["id"],
                "previous": previous,
                "status": run["status"],
            }
        )
    return changed


def list_baselines(store: Store, suite: str | None = None) -> list[dict[str, Any]]:
    return list_named(store, suite)


def delete_baseline(store: Store, name: str, suite: str | None = None) -> int:
    count = count_named(store, name, suite)
    if not count:
        raise NotFoundError(
            f"no baseline '{name}'" + (f" for suite '{suite}'" if suite else ""),
            fix=did_you_mean(name, _names(store), also="see `evalkit baseline list`"),
        )
    delete_named(store, name, suite)
    return count


def check_reference(store: Store, ref: str) -> None:
    """Fail before running when ``--baseline REF`` can match nothing at all."""
    if ref in LATEST:
        return
    if name_exists(store, ref):
        return
    try:
        resolve_run(store, ref)
    except NotFoundError:
        raise NotFoundError(
            f"no baseline or run '{ref}' in {store.path}",
            fix=did_you_mean(
                ref,
                _names(store),
                also=f"set one first: `evalkit baseline set {ref} RUN` (or see `evalkit "
                "baseline list`, `evalkit runs list`)",
            ),
        ) from None


def _names(store: Store) -> list[str]:
    return sorted({str(row["name"]) for row in list_baselines(store)})


def previous_run(store: Store, suite: str, current: str) -> str | None:
    """The newest completed run of ``suite`` that started before ``current``."""
    return previous_completed_run(store, suite, current)


def resolve_for_suite(
    store: Store, ref: str, suite: str, current: str
) -> tuple[str | None, str | None, str | None]:
    """(baseline run id, baseline name, warning) for one suite's run ``current``.

    A name set for other suites but not this one, or a run of another suite, gives no run and
    a warning: the suite is reported, not compared (a suite new in a pull request has no
    baseline yet).
    """
    if ref in LATEST:
        earlier = previous_run(store, suite, current)
        if earlier is None:
            return None, None, f"no earlier completed run of suite '{suite}' to compare with"
        return earlier, None, None
    named = named_run(store, ref, suite)
    if named:
        return named, ref, None
    if name_exists(store, ref):
        return (
            None,
            None,
            (
                f"suite '{suite}' has no baseline '{ref}' yet: not compared "
                f"(set it with `evalkit baseline set {ref} RUN`)"
            ),
        )
    run_id = resolve_run(store, ref)
    run = get_run(store, run_id)
    if run["suite"] != suite:
        return None, None, f"run {run_id} is of suite '{run['suite']}': not compared"
    if run_id == current:
        return None, None, "the baseline is this run itself: not compared"
    return run_id, None, None
