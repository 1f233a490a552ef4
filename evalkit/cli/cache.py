"""``evalkit cache stats | clear [--older-than 7d] | explain RESULT``."""

from __future__ import annotations

import re
from datetime import timedelta

import typer

from evalkit.cli.common import DB_OPTION, WAIT_OPTION, out_console, print_json, wait_for_store
from evalkit.errors import InputError

cache_app = typer.Typer(help="The response cache.", no_args_is_help=True, rich_markup_mode=None)

_AGE = re.compile(r"^(\d+(?:\.\d+)?)\s*([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_age(text: str) -> timedelta:
    match = _AGE.match(text.strip())
    if not match:
        raise InputError(
            f"--older-than {text!r} is not an age", fix="e.g. --older-than 7d (s, m, h, d, w)"
        )
    return timedelta(**{_UNITS[match.group(2)]: float(match.group(1))})


@cache_app.command("stats")
def stats(as_json: bool = typer.Option(False, "--json"), db: str = DB_OPTION) -> None:
    """Entries, size, hits and what the cache saved."""
    from evalkit import api

    data = api.cache_stats(db=db)
    if as_json:
        print_json({"schema": "evalkit.cache.stats/1", **data})
        return
    console = out_console()
    hits = data["hits"]
    console.print(
        f"{data['entries']} entries · {data['output_chars']} output characters · "
        f"oldest {str(data['oldest'])[:19]} · newest {str(data['newest'])[:19]}",
        markup=False,
    )
    console.print(
        f"results answered from the cache: {hits['hits']} of {hits['results']} · "
        f"saved ${hits['saved_usd']:.4f}",
        markup=False,
    )
    for row in data["by_model"]:
        console.print(
            f"  {row['provider_type']:<10} {row['model']:<40} {row['entries']:>7}", markup=False
        )


@cache_app.command("clear")
def clear(
    older_than: str = typer.Option(None, "--older-than", help="Only entries older than, e.g. 7d."),
    db: str = DB_OPTION,
    wait: float = WAIT_OPTION,
) -> None:
    """Delete cached answers (all, or the older ones)."""
    from evalkit import api

    age = parse_age(older_than) if older_than else None
    with wait_for_store(wait):
        removed = api.cache_clear(older_than=age, db=db)
    out_console().print(f"removed {removed} cache entries", markup=False)


@cache_app.command("explain")
def explain(
    result: str = typer.Argument(..., help="A result id (or a unique prefix)."),
    as_json: bool = typer.Option(False, "--json"),
    db: str = DB_OPTION,
) -> None:
    """Why a result hit or missed the cache."""
    from evalkit import api

    data = api.cache_explain(result, db=db)
    if as_json:
        print_json({"schema": "evalkit.cache.explain/1", **data})
        return
    console = out_console()
    console.print(
        f"result {data['result']} · {data['case_id']} · {data['prompt']} · "
        f"{data['provider']} · key {data['key']}",
        markup=False,
    )
    if data["status"] == "hit":
        console.print(
            f"hit: answered by the entry stored {str(data['entry_created_at'])[:19]}", markup=False
        )
    elif "nearest" in data:
        near = data["nearest"]
        console.print(
            f"miss: the nearest entry then ({near['key']}, stored "
            f"{str(near['created_at'])[:19]}) differs in: "
            f"{', '.join(near['differs_in'])}",
            markup=False,
        )
    else:
        console.print("miss: no entry for this provider or model was cached", markup=False)
    if data["status"] == "miss" and data["now_cached"]:
        console.print("its answer is in the cache now", markup=False)
    for score in data.get("scores", []):
        if score["status"] == "reused":
            how = f"reused from the score cache (key {score['key']})"
        elif score["cacheable"]:
            how = "scored" + (" (reusable now)" if score["now_cached"] else "")
        else:
            how = "scored (this scorer's scores are never reused)"
        console.print(f"  score {score['scorer']}: {how}", markup=False)


def register(app: typer.Typer) -> None:
    app.add_typer(cache_app, name="cache")
