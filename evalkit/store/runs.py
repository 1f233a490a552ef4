"""Run-level reads and writes: runs, their providers, prompt versions and cases."""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from evalkit.errors import NotFoundError
from evalkit.records import Case, PromptVersion, StoredRun
from evalkit.store.db import Store, utcnow

__all__ = [
    "StoredAnswers",
    "case_counts",
    "done_result_ids",
    "finish_run",
    "get_run",
    "insert_run",
    "invocation_runs",
    "list_runs",
    "new_run_id",
    "record_cases",
    "record_comparison",
    "record_prompts",
    "record_providers",
    "reopen_run",
    "resolve_run",
    "run_providers",
    "runs_with_prompt",
]

LATEST = ("last", "latest")


def new_run_id(now: datetime | None = None) -> str:
    """``20261127-234501-123a4f``: UTC time to the millisecond (the last three digits),
    then three random hex digits; ids sort by time."""
    now = now or datetime.now(UTC)
    return (
        now.strftime("%Y%m%d-%H%M%S-") + f"{now.microsecond // 1000:03d}" + secrets.token_hex(2)[:3]
    )


def insert_run(store: Store, run: dict[str, Any]) -> None:
    row = {
        "status": "running",
        "started_at": utcnow(),
        **run,
    }
    for key in ("options", "tags", "summary"):
        if key in row and not isinstance(row[key], str | None):
            row[key] = json.dumps(row[key], default=str)
    names = ", ".join(row)
    marks = ", ".join("?" for _ in row)
    store.execute(f"INSERT INTO runs ({names}) VALUES ({marks})", list(row.values()))


def finish_run(
    store: Store,
    run_id: str,
    *,
    status: str,
    exit_code: int | None,
    summary: dict[str, Any] | None,
) -> None:
    store.execute(
        "UPDATE runs SET status = ?, ended_at = ?, exit_code = ?, summary = ? WHERE id = ?",
        [
            status,
            utcnow(),
            exit_code,
            json.dumps(summary, default=str) if summary else None,
            run_id,
        ],
    )


def reopen_run(store: Store, run_id: str) -> None:
    """A resumed run is running again."""
    store.execute("UPDATE runs SET status = 'running', ended_at = NULL WHERE id = ?", [run_id])


def record_comparison(
    store: Store,
    run_id: str,
    *,
    baseline: str | None,
    baseline_run_id: str | None,
    comparison: str | None,
    exit_code: int,
) -> None:
    """The baseline a run was compared with, the verdict (compact JSON) and the exit code."""
    store.execute(
        "UPDATE runs SET baseline = ?, baseline_run_id = ?, comparison = ?, exit_code = ? "
        "WHERE id = ?",
        [baseline, baseline_run_id, comparison, exit_code, run_id],
    )


def run_providers(store: Store, run_id: str) -> list[dict[str, Any]]:
    """The providers of a run with their recorded identities."""
    return store.records(
        "SELECT provider, type, model, identity FROM run_providers WHERE run_id = ?", [run_id]
    )


def invocation_runs(store: Store, run_id: str) -> list[str]:
    """The runs started by the same command as ``run_id`` (itself included), in order."""
    rows = store.fetchall(
        "SELECT id FROM runs WHERE invocation = (SELECT invocation FROM runs WHERE id = ?) "
        "ORDER BY started_at, id",
        [run_id],
    )
    return [str(r[0]) for r in rows] or [run_id]


def runs_with_prompt(
    store: Store, suite: str, suite_hash: str, prompt: str, prompt_hash: str, provider: str
) -> list[str]:
    """Completed runs of this suite file (newest first, at most 20) with results of this
    prompt version (same hash) on this provider."""
    rows = store.fetchall(
        "SELECT DISTINCT ru.id, ru.started_at FROM runs ru JOIN results r ON r.run_id = ru.id "
        "WHERE ru.suite = ? AND ru.suite_hash = ? AND ru.status = 'completed' "
        "AND r.prompt = ? AND r.prompt_hash = ? AND r.provider = ? "
        "ORDER BY ru.started_at DESC, ru.id DESC LIMIT 20",
        [suite, suite_hash, prompt, prompt_hash, provider],
    )
    return [str(r[0]) for r in rows]


def case_counts(
    store: Store, run_id: str, prompt: str, provider: str
) -> list[tuple[str, str, int]]:
    """(case id, case hash, results) of one prompt version on one provider in a run."""
    rows = store.fetchall(
        "SELECT case_id, case_hash, count(*) FROM results WHERE run_id = ? AND prompt = ? "
        "AND provider = ? GROUP BY ALL",
        [run_id, prompt, provider],
    )
    return [(str(c), str(h), int(n)) for c, h, n in rows]


def record_providers(store: Store, run_id: str, identities: dict[str, dict[str, Any]]) -> None:
    rows = [
        (run_id, pid, ident.get("type"), ident.get("model"), json.dumps(ident, default=str))
        for pid, ident in identities.items()
    ]
    store.insert_columns(
        "run_providers",
        [
            ("run_id", "VARCHAR"),
            ("provider", "VARCHAR"),
            ("type", "VARCHAR"),
            ("model", "VARCHAR"),
            ("identity", "JSON"),
        ],
        rows,
    )


def record_prompts(store: Store, prompts: Iterable[PromptVersion]) -> list[str]:
    """Store each prompt version; return a warning for each version edited in place."""
    warnings: list[str] = []
    rows = []
    for prompt in prompts:
        earlier = store.fetchall(
            "SELECT hash FROM prompt_versions WHERE name = ? AND version = ? AND hash <> ? "
            "ORDER BY first_seen",
            [prompt.name, prompt.version, prompt.hash],
        )
        if earlier:
            warnings.append(
                f"{prompt.ref} was edited after it was used (hash {earlier[-1][0]} → "
                f"{prompt.hash}); results are stored under the new hash. Prefer a new version "
                f"file (v{prompt.number + 1}.yaml) so runs stay comparable."
            )
        rows.append(
            (
                prompt.name,
                prompt.version,
                prompt.hash,
                prompt.source,
                str(prompt.path),
                prompt.description,
                prompt.parent,
                utcnow(),
            )
        )
    if rows:
        columns = [
            ("name", "VARCHAR"),
            ("version", "VARCHAR"),
            ("hash", "VARCHAR"),
            ("source", "VARCHAR"),
            ("path", "VARCHAR"),
            ("description", "VARCHAR"),
            ("parent", "VARCHAR"),
            ("first_seen", "TIMESTAMP"),
        ]
        # Keep first_seen of versions already stored.
        new = [
            r
            for r in rows
            if not store.fetchone(
                "SELECT 1 FROM prompt_versions WHERE name = ? AND version = ? AND hash = ?",
                [r[0], r[1], r[2]],
            )
        ]
        store.insert_columns("prompt_versions", columns, new, replace=False)
    return warnings


def record_cases(store: Store, suite: str, cases: Sequence[Case]) -> None:
    known = {
        (row[0], row[1])
        for row in store.fetchall("SELECT id, hash FROM cases WHERE suite = ?", [suite])
    }
    now = utcnow()
    rows = [
        (
            suite,
            c.id,
            c.hash,
            json.dumps(c.vars, default=str),
            json.dumps(c.reference),
            json.dumps(list(c.tags)),
            json.dumps(c.metadata, default=str),
            now,
            None if c.conversation is None else json.dumps(c.conversation, ensure_ascii=False),
            None
            if c.context is None
            else json.dumps([p.as_dict() for p in c.context], default=str),
        )
        for c in cases
        if (c.id, c.hash) not in known
    ]
    store.insert_columns(
        "cases",
        [
            ("suite", "VARCHAR"),
            ("id", "VARCHAR"),
            ("hash", "VARCHAR"),
            ("vars", "JSON"),
            ("reference", "JSON"),
            ("tags", "JSON"),
            ("metadata", "JSON"),
            ("first_seen", "TIMESTAMP"),
            ("conversation", "JSON"),
            ("context", "JSON"),
        ],
        rows,
        replace=False,
    )


def done_result_ids(store: Store, run_id: str) -> set[str]:
    """Results of a run that need no redoing: answered (or failed for good) and scored."""
    rows = store.fetchall(
        "SELECT id FROM results WHERE run_id = ? AND (error_class IS NULL OR error_class IN "
        "('bad_request', 'auth', 'not_found'))",
        [run_id],
    )
    return {r[0] for r in rows}


def resolve_run(store: Store, ref: str, suite: str | None = None) -> str:
    """A run id from ``last``/``latest``, a full id, a unique prefix, or a baseline name."""
    ref = ref.strip()
    if ref in LATEST:
        sql = (
            "SELECT id FROM runs"
            + (" WHERE suite = ?" if suite else "")
            + " ORDER BY started_at DESC, id DESC LIMIT 1"
        )
        row = store.fetchone(sql, [suite] if suite else [])
        if row is None:
            where = f" of suite '{suite}'" if suite else ""
            raise NotFoundError(
                f"there is no run{where} in {store.path}", fix="run `evalkit run` first"
            )
        return str(row[0])
    row = store.fetchone("SELECT id FROM runs WHERE id = ?", [ref])
    if row:
        return str(row[0])
    rows = store.fetchall("SELECT id FROM runs WHERE id LIKE ? ORDER BY id", [ref + "%"])
    if len(rows) == 1:
        return str(rows[0][0])
    if len(rows) > 1:
        raise NotFoundError(
            f"run '{ref}' is ambiguous ({len(rows)} runs start with it)",
            fix="give more characters of the run id",
        )
    # Baselines are named per suite: `main` is a run of each suite that has one.
    named = store.fetchall(
        "SELECT suite, run_id FROM baselines WHERE name = ?"
        + (" AND suite = ?" if suite else "")
        + " ORDER BY suite",
        [ref, suite] if suite else [ref],
    )
    if len(named) == 1:
        return str(named[0][1])
    if len(named) > 1:
        raise NotFoundError(
            f"baseline '{ref}' is set for {len(named)} suites "
            f"({', '.join(str(r[0]) for r in named)})",
            fix="name the suite (e.g. --suite), or give a run id",
        )
    raise NotFoundError(
        f"no run or baseline '{ref}' in {store.path}", fix="see `evalkit runs list` (or use `last`)"
    )


def list_runs(store: Store, suite: str | None = None, limit: int = 20) -> list[dict[str, Any]]:
    sql = (
        "SELECT r.id, r.suite, r.started_at, r.ended_at, r.status, r.exit_code, r.planned, "
        "r.git_commit, count(res.id) AS results, "
        "avg(CASE WHEN res.passed THEN 1.0 WHEN NOT res.passed THEN 0.0 END) AS pass_rate, "
        "count(res.error_class) AS errors "
        "FROM runs r LEFT JOIN results res ON res.run_id = r.id "
        + ("WHERE r.suite = ? " if suite else "")
        + "GROUP BY ALL ORDER BY r.started_at DESC, r.id DESC LIMIT ?"
    )
    return store.records(sql, [suite, limit] if suite else [limit])


def get_run(store: Store, run_id: str) -> dict[str, Any]:
    rows = store.records("SELECT * FROM runs WHERE id = ?", [run_id])
    if not rows:
        raise NotFoundError(f"no run '{run_id}'", fix="see `evalkit runs list`")
    run = rows[0]
    for key in ("options", "tags", "summary"):
        if isinstance(run.get(key), str):
            run[key] = json.loads(run[key])
    return run


def git_info(root: os.PathLike[str] | str) -> tuple[str | None, bool | None]:
    """(commit, dirty) of the project's git checkout, or (None, None) outside one."""
    import subprocess

    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
        return commit or None, bool(status)
    except (OSError, subprocess.SubprocessError):
        return None, None


class StoredAnswers:
    """Stored answers for ``replay`` providers, read from a store (``AnswerSource``)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def stored_run(self, run: str, provider: str) -> StoredRun:
        """A stored run's (or an export folder's) answered results of ``provider``."""
        from evalkit.store.exports import replay_source

        run_id, rows, identity = replay_source(self.store, run, provider)
        for row in rows:
            for key in ("tool_calls", "transcript"):
                row[key] = json.loads(row[key]) if row.get(key) else None
        return StoredRun(
            run_id, {(r["case_id"], r["prompt"], r["repeat"]): r for r in rows}, identity
        )
