"""Runs as Parquet files: ``evalkit export RUN... --parquet DIR``, ``evalkit import DIR`` and
``evalkit run --replay DIR``.

An export is a folder any Parquet reader opens (pandas, Polars, Spark, DuckDB) without evalkit:

    evalkit-export.json      the manifest: {"schema": "evalkit.export/1", "runs": [...],
                             "tables": {name: {"file", "rows", "columns": {name: type}}}}
    runs.parquet             the runs (one row each), as in the store's ``runs`` table
    run_providers.parquet    each run's provider identities
    results.parquet          every result of those runs (output, provenance, latency, tokens)
    scores.parquet           every score of those results, with its signature
    cases.parquet            the cases the results answer (suite, id, hash, vars, reference)
    prompt_versions.parquet  the prompt versions they used (name, version, hash, source)

Columns and types are those of the store's tables (docs/store.md); JSON columns are
Parquet strings with the JSON logical type. Rows are sorted, so exporting the same runs twice
writes the same rows (a repository diff shows only what changed). ``schema`` changes its
number only when a column changes meaning or goes away; new columns may be added within
``evalkit.export/1``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from evalkit.errors import InputError, NotFoundError
from evalkit.store.db import Store

__all__ = ["MANIFEST", "SCHEMA", "export_runs", "import_export", "is_export", "replay_source"]

SCHEMA = "evalkit.export/1"
MANIFEST = "evalkit-export.json"

#: table -> (the rows of the exported runs, sort order). ``{runs}`` is the quoted run ids.
_TABLES: dict[str, tuple[str, str]] = {
    "runs": ("SELECT * FROM runs WHERE id IN ({runs})", "id"),
    "run_providers": ("SELECT * FROM run_providers WHERE run_id IN ({runs})", "run_id, provider"),
    "results": ("SELECT * FROM results WHERE run_id IN ({runs})", "run_id, id"),
    "scores": ("SELECT * FROM scores WHERE run_id IN ({runs})", "run_id, result_id, scorer"),
    "cases": (
        "SELECT * FROM cases WHERE (suite, id, hash) IN "
        "(SELECT DISTINCT suite, case_id, case_hash FROM results WHERE run_id IN ({runs}))",
        "suite, id, hash",
    ),
    "prompt_versions": (
        "SELECT * FROM prompt_versions WHERE (name || '@' || version, hash) IN "
        "(SELECT DISTINCT prompt, prompt_hash FROM results WHERE run_id IN ({runs}))",
        "name, version, hash",
    ),
}
#: Rows a store already holds (by these columns) are not imported again.
_KEYS = {
    "runs": ("id",),
    "run_providers": ("run_id", "provider"),
    "results": ("id",),
    "scores": ("result_id", "scorer"),
    "cases": ("suite", "id", "hash"),
    "prompt_versions": ("name", "version", "hash"),
}


def _quote(text: str) -> str:
    return "'" + str(text).replace("'", "''") + "'"


def is_export(ref: str | Path) -> bool:
    """Whether ``ref`` names an export folder (it holds ``evalkit-export.json``)."""
    try:
        return (Path(ref) / MANIFEST).is_file()
    except (OSError, ValueError):
        return False


def export_runs(
    store: Store, refs: Sequence[str], directory: Path, *, overwrite: bool = False
) -> dict[str, Any]:
    """Write the runs ``refs`` to ``directory`` (see the module docstring); returns the
    manifest."""
    from evalkit import __version__
    from evalkit.store.runs import resolve_run

    if not refs:
        raise InputError("name the run(s) to export", fix="e.g. evalkit export last --parquet DIR")
    run_ids = sorted({resolve_run(store, ref) for ref in refs})
    if (directory / MANIFEST).exists() and not overwrite:
        raise InputError(
            f"{directory} already holds an export",
            fix="choose another directory, or pass --overwrite to replace it",
        )
    directory.mkdir(parents=True, exist_ok=True)
    runs_sql = ", ".join(_quote(r) for r in run_ids)
    tables: dict[str, Any] = {}
    for table, (sql, order) in _TABLES.items():
        query = f"{sql.format(runs=runs_sql)} ORDER BY {order}"
        target = directory / f"{table}.parquet"
        with store._lock:
            columns = {
                str(row[0]): str(row[1])
                for row in store.con.execute(f"DESCRIBE {query}").fetchall()
            }
            store.con.execute(
                f"COPY ({query}) TO {_quote(str(target))} (FORMAT parquet, COMPRESSION zstd)"
            )
            (rows,) = store.con.execute(
                f"SELECT count(*) FROM read_parquet({_quote(str(target))})"
            ).fetchone() or (0,)
        tables[table] = {"file": target.name, "rows": int(rows), "columns": columns}
    runs = store.records(
        "SELECT r.id, r.suite, r.started_at, r.status, r.config_hash, "
        "(SELECT count(*) FROM results WHERE run_id = r.id) AS results "
        f"FROM runs r WHERE r.id IN ({runs_sql}) ORDER BY r.id"
    )
    version = store.fetchone("SELECT max(version) FROM schema_migrations")
    manifest = {
        "schema": SCHEMA,
        "evalkit_version": __version__,
        "exported_at": datetime.now(UTC).replace(tzinfo=None).isoformat(timespec="seconds"),
        "store_schema": int(version[0]) if version and version[0] is not None else None,
        "runs": [{**r, "started_at": str(r["started_at"])} for r in runs],
        "tables": tables,
    }
    (directory / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest


def read_manifest(directory: Path) -> dict[str, Any]:
    """The export's manifest, checked: its schema and every table file it names."""
    path = directory / MANIFEST
    if not path.is_file():
        raise InputError(
            f"{directory} is not an evalkit export (no {MANIFEST})",
            path=directory,
            fix="give a directory written by `evalkit export RUN... --parquet DIR`",
        )
    text = path.read_text(encoding="utf-8")
    try:
        manifest = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(
            f"not valid JSON: {exc.msg}", path=path, line=exc.lineno, fix="export the runs again"
        ) from None
    line = next((i for i, t in enumerate(text.splitlines(), 1) if '"schema"' in t), 1)
    schema = manifest.get("schema") if isinstance(manifest, dict) else None
    if schema != SCHEMA:
        raise InputError(
            f"export schema {schema!r} is not {SCHEMA!r}",
            path=path,
            line=line,
            fix="export it again with this evalkit, or upgrade evalkit to read it",
        )
    for table in _TABLES:
        info = manifest.get("tables", {}).get(table)
        if not info or not (directory / str(info.get("file", ""))).is_file():
            raise InputError(
                f"the export lacks its {table} table ({table}.parquet)",
                path=path,
                fix="export the runs again (every table file must stay with the manifest)",
            )
    return dict(manifest)


def import_export(store: Store, directory: Path) -> dict[str, Any]:
    """Add an export's runs to ``store`` in one transaction. Runs the store already has are
    skipped (an import can be repeated); cases and prompt versions are added where missing."""
    manifest = read_manifest(directory)
    files = {t: str(directory / manifest["tables"][t]["file"]) for t in _TABLES}
    store_columns: dict[str, list[str]] = {}
    for table, file in files.items():
        have = [str(r[1]) for r in store.fetchall(f"PRAGMA table_info('{table}')")]
        given = [
            str(r[0])
            for r in store.fetchall(f"DESCRIBE SELECT * FROM read_parquet({_quote(file)})")
        ]
        extra = [c for c in given if c not in have]
        if extra:
            raise InputError(
                f"{table}.parquet has columns this store does not know: {', '.join(extra)}",
                path=Path(file),
                fix="upgrade evalkit (the export was written by a newer one)",
            )
        missing = [c for c in _KEYS[table] if c not in given]
        if missing:
            raise InputError(
                f"{table}.parquet lacks its key column(s) {', '.join(missing)}",
                path=Path(file),
                fix="export the runs again",
            )
        store_columns[table] = given
    exported = [str(r["id"]) for r in manifest.get("runs", [])]
    present = {
        str(r[0])
        for r in store.fetchall(
            "SELECT id FROM runs WHERE id IN (SELECT unnest(?::VARCHAR[]))", [exported]
        )
    }
    new = [r for r in exported if r not in present]
    counts: dict[str, int] = {}

    def work() -> None:
        for table, file in files.items():
            cols = ", ".join(f'"{c}"' for c in store_columns[table])
            match = " AND ".join(f't."{k}" = p."{k}"' for k in _KEYS[table])
            source = f"read_parquet({_quote(file)})"
            by_run = "id" if table == "runs" else "run_id"
            where = (
                f"p.{by_run} IN (SELECT unnest(?::VARCHAR[]))"
                if table not in ("cases", "prompt_versions")
                else "true"
            )
            params = [new] if table not in ("cases", "prompt_versions") else []
            picked = ", ".join(f"p.{c}" for c in cols.split(", "))
            sql = (
                f"INSERT INTO {table} ({cols}) SELECT {picked} "
                f"FROM {source} p WHERE {where} AND NOT EXISTS "
                f"(SELECT 1 FROM {table} t WHERE {match})"
            )
            row = store.con.execute(sql, params).fetchone()
            counts[table] = int(row[0]) if row and row[0] is not None else 0

    if new:
        store.transaction(work)
    return {
        "schema": "evalkit.import/1",
        "directory": str(directory),
        "imported": new,
        "already_present": sorted(present),
        "rows": counts,
    }


def replay_source(
    store: Store, ref: str, provider: str
) -> tuple[str, list[dict[str, Any]], dict[str, Any] | None]:
    """What ``--replay`` answers from: (run id, the provider's answered results, its identity)
    of a stored run (``ref``: id, prefix, baseline name, last) or of an export folder."""
    columns = (
        "case_id, prompt, repeat, output, latency_ms, ttft_ms, input_tokens, output_tokens, "
        "cached_input_tokens, finish_reason, model, cost_usd, tool_calls, transcript"
    )
    if is_export(ref):
        directory = Path(ref)
        manifest = read_manifest(directory)
        runs = [str(r["id"]) for r in manifest.get("runs", [])]
        if len(runs) != 1:
            raise InputError(
                f"the export {directory} holds {len(runs)} runs; --replay answers from one",
                path=directory / MANIFEST,
                fix="export the run to replay alone (evalkit export RUN --parquet DIR), or "
                "`evalkit import` it and --replay the run id",
            )
        results = _quote(str(directory / manifest["tables"]["results"]["file"]))
        providers = _quote(str(directory / manifest["tables"]["run_providers"]["file"]))
        present = {c[0] for c in store.fetchall(f"DESCRIBE SELECT * FROM read_parquet({results})")}
        # an export written before a column existed answers NULL for it
        picked = ", ".join(
            c if c in present else f"NULL AS {c}" for c in (x.strip() for x in columns.split(","))
        )
        rows = store.records(
            f"SELECT {picked} FROM read_parquet({results}) WHERE provider = ? "
            "AND error_class IS NULL",
            [provider],
        )
        ident = store.fetchone(
            f"SELECT identity FROM read_parquet({providers}) WHERE provider = ?", [provider]
        )
        run_id = runs[0]
    else:
        from evalkit.store.runs import resolve_run

        run_id = resolve_run(store, ref)
        rows = store.records(
            f"SELECT {columns} FROM results WHERE run_id = ? AND provider = ? "
            "AND error_class IS NULL",
            [run_id, provider],
        )
        ident = store.fetchone(
            "SELECT identity FROM run_providers WHERE run_id = ? AND provider = ?",
            [run_id, provider],
        )
    if not rows and is_export(ref):
        raise NotFoundError(
            f"the export {ref} has no answer from provider '{provider}'",
            fix="replay with the provider ids of the exported run (-p ID)",
        )
    identity = json.loads(ident[0]) if ident and ident[0] else None
    return run_id, rows, identity
