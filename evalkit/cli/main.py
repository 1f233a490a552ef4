"""The ``evalkit`` command: parse arguments, call ``evalkit.api``, print.

Every command module registers itself on ``app``. The library raises ``EvalkitError``; the
group below is the one place that turns it into a message on stderr and an exit code
(2 input, 3 incomplete), so no command needs its own error handling and no traceback reaches
the user. Heavy modules are imported inside commands, which keeps ``evalkit --help`` instant.
"""

from __future__ import annotations

import sys
from typing import Any

import typer
from typer.core import TyperGroup

from evalkit import __version__
from evalkit.errors import EvalkitError

__all__ = ["app", "main"]


def _stderr(text: str) -> None:
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


class _Group(TyperGroup):
    """Turns evalkit errors into one message and an exit code."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except EvalkitError as exc:
            _stderr(exc.render())
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            _stderr(
                "interrupted: results finished so far are stored "
                "(continue with `evalkit run --resume last`)"
            )
            raise typer.Exit(130) from None


app = typer.Typer(
    cls=_Group,
    name="evalkit",
    help="Evaluate LLM prompts and providers; fail CI on a significant regression.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    # Plain click help: rich help rendering costs ~80 ms of imports on every --help.
    rich_markup_mode=None,
    add_completion=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"evalkit {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Evaluate LLM prompts and providers; fail CI on a significant regression."""


def _register() -> None:
    from evalkit.cli import (
        baseline,
        cache,
        compare,
        init,
        prompts,
        providers,
        query,
        report,
        run,
        runs,
    )

    for module in (run, runs, baseline, compare, report, prompts, providers, cache, query, init):
        module.register(app)


_register()


def main() -> None:
    app()


if __name__ == "__main__":
    main()
