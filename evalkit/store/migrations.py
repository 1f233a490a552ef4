"""Numbered schema migrations of the DuckDB store.

Each migration runs once, in order, inside a transaction, and is recorded in
``schema_migrations``. Never edit a released migration: add the next number. The tables and
their key columns are part of the contract (users query them with ``evalkit query``); see the
docs/store.md.
"""

from __future__ import annotations

__all__ = ["FILE_ONLY", "MIGRATIONS", "UNINDEXED_KEYS"]

_INITIAL = """
CREATE TABLE runs (
    id              VARCHAR PRIMARY KEY,   -- sortable by time: 20261127-234501-123a4f
    suite           VARCHAR NOT NULL,
    suite_path      VARCHAR,
    suite_hash      VARCHAR,               -- hash of the suite file and its case file
    started_at      TIMESTAMP NOT NULL,    -- UTC
    ended_at        TIMESTAMP,
    status          VARCHAR NOT NULL,      -- running | completed | incomplete | interrupted
    git_commit      VARCHAR,
    git_dirty       BOOLEAN,
    evalkit_version VARCHAR,
    config_hash     VARCHAR,               -- evalkit.yaml + provider identities + suite
    options         JSON,                  -- repeat, concurrency, limit, shard, overrides
    tags            JSON,                  -- --tag K=V labels
    planned         INTEGER,               -- calls planned
    exit_code       INTEGER,
    summary         JSON                   -- the summary evalkit printed, for `runs show`
);

CREATE TABLE run_providers (
    run_id    VARCHAR NOT NULL,
    provider  VARCHAR NOT NULL,            -- provider id from evalkit.yaml
    type      VARCHAR NOT NULL,
    model     VARCHAR,
    identity  JSON,                        -- type, model, base_url, mode, weights (never keys)
    PRIMARY KEY (run_id, provider)
);

CREATE TABLE prompt_versions (
    name        VARCHAR NOT NULL,
    version     VARCHAR NOT NULL,          -- v2
    hash        VARCHAR NOT NULL,          -- templates + params
    source      VARCHAR,                   -- the file's text
    path        VARCHAR,
    description VARCHAR,
    parent      VARCHAR,
    first_seen  TIMESTAMP,
    PRIMARY KEY (name, version, hash)
);

CREATE TABLE cases (
    suite      VARCHAR NOT NULL,
    id         VARCHAR NOT NULL,
    hash       VARCHAR NOT NULL,           -- vars + reference
    vars       JSON,
    reference  JSON,
    tags       JSON,
    metadata   JSON,
    first_seen TIMESTAMP,
    PRIMARY KEY (suite, id, hash)
);

CREATE TABLE results (
    id             VARCHAR PRIMARY KEY,    -- deterministic: run, case, prompt, provider, repeat
    run_id         VARCHAR NOT NULL,
    suite          VARCHAR NOT NULL,
    case_id        VARCHAR NOT NULL,       -- the case's own id
    case_hash      VARCHAR NOT NULL,
    prompt         VARCHAR NOT NULL,       -- name@vN
    prompt_name    VARCHAR NOT NULL,
    prompt_version VARCHAR NOT NULL,
    prompt_hash    VARCHAR NOT NULL,
    provider       VARCHAR NOT NULL,       -- provider id
    provider_type  VARCHAR,
    model          VARCHAR,
    params         JSON,                   -- effective generation params
    repeat         INTEGER NOT NULL,
    input          JSON,                   -- rendered messages or completion prompt
    output         VARCHAR,
    error          VARCHAR,                -- message, when the call failed
    error_class    VARCHAR,                -- rate_limit, server_error, timeout, connection, ...
    latency_ms     DOUBLE,
    ttft_ms        DOUBLE,
    input_tokens   INTEGER,
    output_tokens  INTEGER,
    cost_usd       DOUBLE,
    cache_hit      BOOLEAN,
    served_by      VARCHAR,                -- provider that answered (fallback chains)
    attempts       INTEGER,
    finish_reason  VARCHAR,
    passed         BOOLEAN,                -- all pass/fail scorers passed; NULL: undecided
    created_at     TIMESTAMP
);

CREATE TABLE scores (
    result_id      VARCHAR NOT NULL,
    run_id         VARCHAR NOT NULL,
    scorer         VARCHAR NOT NULL,       -- the scorer's name in the suite
    scorer_type    VARCHAR NOT NULL,
    signature      VARCHAR NOT NULL,       -- hash of signature_json
    signature_json JSON,                   -- scorer version, options, library versions, models
    value          DOUBLE,
    passed         BOOLEAN,                -- NULL: no pass/fail outcome, or undecided
    threshold      DOUBLE,
    detail         VARCHAR,
    PRIMARY KEY (result_id, scorer)
);

CREATE TABLE baselines (
    name    VARCHAR PRIMARY KEY,
    run_id  VARCHAR NOT NULL,
    suite   VARCHAR,
    set_at  TIMESTAMP
);
-- No secondary indexes: rows arrive grouped by run, so DuckDB's zone maps already skip
-- other runs' blocks, and every index would slow the batched inserts.
"""

_CACHE = """
CREATE TABLE cache (
    key                 VARCHAR PRIMARY KEY,  -- hash of everything that changes the answer
    provider_type       VARCHAR,
    model               VARCHAR,
    components          JSON,     -- what the key is made of (the input as a hash): cache explain
    output              VARCHAR,
    input_tokens        INTEGER,
    output_tokens       INTEGER,
    cached_input_tokens INTEGER,
    latency_ms          DOUBLE,   -- of the call that produced the answer
    ttft_ms             DOUBLE,
    finish_reason       VARCHAR,
    served_by           VARCHAR,
    cost_usd            DOUBLE,   -- what the answer cost when it was produced
    created_at          TIMESTAMP
);

ALTER TABLE results ADD COLUMN cache_key VARCHAR;
ALTER TABLE results ADD COLUMN cached_input_tokens INTEGER;
"""

# Baselines are named per suite (`main` of suite A and `main` of suite B are different runs),
# and a run records the baseline it was compared with. (Number 2 is the response cache.)
_BASELINES = """
CREATE TABLE baselines_by_suite (
    name    VARCHAR NOT NULL,
    run_id  VARCHAR NOT NULL,
    suite   VARCHAR NOT NULL,
    set_at  TIMESTAMP,
    PRIMARY KEY (name, suite)
);
INSERT INTO baselines_by_suite
    SELECT b.name, b.run_id, coalesce(b.suite, r.suite, ''), b.set_at
    FROM baselines b LEFT JOIN runs r ON r.id = b.run_id;
DROP TABLE baselines;
ALTER TABLE baselines_by_suite RENAME TO baselines;

ALTER TABLE runs ADD COLUMN baseline VARCHAR;          -- the --baseline reference as given
ALTER TABLE runs ADD COLUMN baseline_run_id VARCHAR;   -- the run it resolved to
ALTER TABLE runs ADD COLUMN comparison JSON;           -- verdict, per-metric verdicts, flips
"""

# Reusable scores (the score cache), each result's weighted score, and the invocation a run
# belonged to (so `runs show last` can show every suite one `evalkit run` ran).
_SCORE_CACHE = """
CREATE TABLE score_cache (
    key          VARCHAR PRIMARY KEY,  -- hash of scorer signature, case content hash, output
    scorer_type  VARCHAR,
    signature    VARCHAR,
    value        DOUBLE,
    detail       VARCHAR,
    created_at   TIMESTAMP
);

ALTER TABLE scores ADD COLUMN cache_hit BOOLEAN;    -- value reused from the score cache
ALTER TABLE results ADD COLUMN score DOUBLE;         -- weighted mean of pass/fail outcomes
ALTER TABLE runs ADD COLUMN invocation VARCHAR;     -- runs started by one command share it
"""

# Conversations and tool calls: the calls a model made (beside its text), every request of a
# conversation or agent loop (its trajectory), the script a case was run with, and the calls of
# a cached answer (a cache hit must give back the calls as well as the text).
_TOOLS = """
ALTER TABLE results ADD COLUMN tool_calls JSON;     -- [{id, name, arguments, turn, step}]
ALTER TABLE results ADD COLUMN transcript JSON;     -- one entry per request (turns, steps)
ALTER TABLE cases ADD COLUMN conversation JSON;     -- messages, turns, tool_results, max_steps
ALTER TABLE cache ADD COLUMN tool_calls JSON;       -- [{id, name, arguments}]
"""

# A case's retrieved passages (`context:`), stored with the case like its vars.
_CASE_CONTEXT = """
ALTER TABLE cases ADD COLUMN context JSON;          -- [{id, text, metadata?}]; NULL: none
"""

#: Keys evalkit keeps unique itself, without an index: results, scores and the two caches grow
#: with every run, and DuckDB (in the 1.4 storage format evalkit writes) writes a table's
#: index out whole at every checkpoint — every run's end, each one slower as the store grew
#: (0.4 s at 80,000 results) and three quarters of the file. Only one process writes a store
#: at a time (``store/sharing.py``), so a write that replaces deletes the rows it replaces
#: first (``store.db.write_rows``), as the team store, which has no indexes, does.
UNINDEXED_KEYS: dict[str, tuple[str, ...]] = {
    "results": ("id",),
    "scores": ("result_id", "scorer"),
    "cache": ("key",),
    "score_cache": ("key",),
}

#: The first line of a migration that only changes how a DuckDB file stores its tables
#: (nothing for the team store, whose tables have no indexes).
FILE_ONLY = "-- file only"


def _rebuilt(table: str, not_null: tuple[str, ...]) -> str:
    """``table`` copied into a table of the same columns without its primary key."""
    return (
        f"CREATE TABLE {table}__new AS SELECT * FROM {table};\n"
        f"DROP TABLE {table};\n"
        f"ALTER TABLE {table}__new RENAME TO {table};\n"
        + "".join(f"ALTER TABLE {table} ALTER COLUMN {c} SET NOT NULL;\n" for c in not_null)
    )


_UNINDEXED = (
    FILE_ONLY
    + "\n"
    + "".join(
        _rebuilt(table, not_null)
        for table, not_null in (
            (
                "results",
                (
                    "id",
                    "run_id",
                    "suite",
                    "case_id",
                    "case_hash",
                    "prompt",
                    "prompt_name",
                    "prompt_version",
                    "prompt_hash",
                    "provider",
                    "repeat",
                ),
            ),
            ("scores", ("result_id", "run_id", "scorer", "scorer_type", "signature")),
            ("cache", ("key",)),
            ("score_cache", ("key",)),
        )
    )
)

#: (number, name, SQL). Append only.
MIGRATIONS: list[tuple[int, str, str]] = [
    (1, "initial", _INITIAL),
    (2, "response cache", _CACHE),
    (3, "baselines per suite; a run's baseline", _BASELINES),
    (4, "score cache; weighted score; invocation", _SCORE_CACHE),
    (5, "tool calls, transcripts, case conversations", _TOOLS),
    (6, "case context", _CASE_CONTEXT),
    (7, "results, scores and caches without primary-key indexes", _UNINDEXED),
]
