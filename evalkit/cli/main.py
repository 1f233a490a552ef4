"""The ``evalkit`` command: parse arguments, call ``evalkit.api``, print.

Every command module registers itself on ``app``. The group below is the one place that turns
exceptions into a message on stderr and an exit code, so no command needs its own error
handling and no traceback reaches the user:

* ``EvalkitError`` → its message and fix; exit 2 (input) or 3 (incomplete);
* a usage error (an unknown option or command, a value out of range) → the same one-message
  form, with the closest valid name; exit 2;
* any other exception is a bug in evalkit: one short message naming a log file that holds
  the traceback (``cli/crash.py``); exit 3;
* SIGINT / SIGTERM: during a run, ``errors.Interrupted`` (the run is marked interrupted and
  named for ``--resume``); elsewhere one line; exit 130 / 143.

Heavy modules are imported inside commands, which keeps ``evalkit --help`` instant. The
console script (``main``) leaves without the interpreter's teardown, once exit handlers have
run and the output is flushed (``_leave``).
"""

from __future__ import annotations

import os
import re
import signal
import sys
import threading
from typing import Any

# No pydantic plugins in the command's process: looking them up scans every installed
# package's entry points before the first model is built (≈ 15 ms of each command).
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")

import typer
from typer.core import TyperGroup

from evalkit import __version__
from evalkit.errors import EvalkitError, closest

__all__ = ["Terminated", "app", "main"]


#: The click that typer runs on (its own vendored copy in recent typer versions).
_click = sys.modules[typer.BadParameter.__module__]
UsageError: type[Exception] = _click.UsageError
ClickException: type[Exception] = _click.ClickException


def _stderr(text: str) -> None:
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


_BOUND_WORDS = (
    ("Input should be greater than or equal to ", "must be ≥ "),
    ("Input should be less than or equal to ", "must be ≤ "),
    ("Input should be greater than ", "must be > "),
    ("Input should be less than ", "must be < "),
)
_SUGGESTION = re.compile(
    r"\s*(?:\(?Did you mean (?:one of )?|\(Possible options: )(?P<names>.+?)\??\)?$"
)


def usage_message(exc: Any) -> str:
    """A usage error in evalkit's one-message form: what is wrong, then the fix."""
    message = exc.format_message().strip()
    for old, new in _BOUND_WORDS:
        message = message.replace(old, new)
    fix = f"see `{exc.ctx.command_path if exc.ctx else 'evalkit'} -h`"
    suggestion = _SUGGESTION.search(message)
    if suggestion:
        message = message[: suggestion.start()].rstrip()
        names = [n.strip() for n in suggestion.group("names").split(",")]
        typed = getattr(exc, "option_name", None)
        near = closest(typed, names) if typed and len(names) > 1 else None
        fix = f"did you mean {near or ' or '.join(names)}? Or {fix}"
    message = message[:1].lower() + message[1:].rstrip(".")
    return f"error: {message}\n  ({fix})"


class _Group(TyperGroup):
    """Turns every exception into one message and an exit code."""

    def make_context(
        self, info_name: str | None, args: list[str], parent: Any = None, **extra: Any
    ) -> Any:
        try:
            ctx = super().make_context(info_name, args, parent=parent, **extra)
        except UsageError as exc:
            if type(exc).__name__ == "NoArgsIsHelpError":  # `evalkit runs`: show the help
                raise
            _stderr(usage_message(exc))
            raise typer.Exit(2) from None
        ctx.meta["evalkit.args"] = list(args)
        return ctx

    def invoke(self, ctx: Any) -> Any:
        from evalkit.store.sharing import waiting

        try:
            with waiting(None, _stderr):  # a store another process holds: say that we wait
                return super().invoke(ctx)
        except EvalkitError as exc:
            _stderr(exc.render())
            raise typer.Exit(exc.exit_code) from None
        except UsageError as exc:
            if type(exc).__name__ == "NoArgsIsHelpError":
                raise
            _stderr(usage_message(exc))
            raise typer.Exit(2) from None
        except (typer.Exit, typer.Abort, ClickException):
            raise
        except BrokenPipeError:  # `evalkit query ... | head`: the reader has gone
            import contextlib
            import os

            with contextlib.suppress(OSError, ValueError):  # no flush error at exit
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            raise typer.Exit(141) from None
        except Exception as exc:  # a bug in evalkit: the traceback goes to a log file
            from evalkit.cli.crash import crash_message, write_crash_log

            path = write_crash_log(exc, ctx.meta.get("evalkit.args", sys.argv[1:]))
            _stderr(crash_message(exc, path))
            raise typer.Exit(3) from None
        except KeyboardInterrupt as exc:  # outside a run (a run raises Interrupted)
            signum = signal.SIGTERM if isinstance(exc, Terminated) else signal.SIGINT
            _stderr(f"interrupted by {signum.name}")
            raise typer.Exit(128 + signum) from None


app = typer.Typer(
    cls=_Group,
    name="evalkit",
    help="Evaluate LLM prompts and providers; fail CI on a significant regression.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    # Should pretty exceptions ever be turned on, they must not print local variables:
    # those can hold API keys.
    pretty_exceptions_show_locals=False,
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
        exports,
        importer,
        init,
        merge,
        prompts,
        providers,
        query,
        report,
        run,
        runs,
        store,
    )

    commands = (run, runs, baseline, compare, report, prompts, providers, cache, query, init)
    for module in (*commands, importer):
        module.register(app)
    for module in (merge, exports, store):  # beyond one machine
        module.register(app)


_register()


class Terminated(KeyboardInterrupt):
    """SIGTERM outside a run's event loop: stop as Ctrl-C would, with exit 143 (while a run's
    loop is running, ``evalkit.run.interrupts`` handles both signals)."""


def _terminate(signum: int, frame: Any) -> None:
    raise Terminated()


def main() -> None:
    """The console script: run the command, then leave without tearing the interpreter down."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _terminate)
    try:
        app()
    except SystemExit as exc:
        _leave(exc.code)
    _leave(0)


def _leave(code: object) -> None:
    """Exit with ``code`` once exit handlers have run and the output is flushed, skipping the
    interpreter's teardown: freeing every module and object of a run (DuckDB, NumPy, pydantic)
    took a fifth of a second after the command's work was done. Only when no other
    non-daemon thread runs (those the normal exit would wait for)."""
    if isinstance(code, str):  # sys.exit("message"): the message, exit 1
        _stderr(code)
        code = 1
    status = 0 if code is None else code if isinstance(code, int) else 1
    others = [t for t in threading.enumerate() if t is not threading.main_thread()]
    if any(not t.daemon for t in others):
        sys.exit(status)
    import atexit
    import os

    run_exit_handlers = getattr(atexit, "_run_exitfuncs", None)
    if run_exit_handlers is None:  # not CPython: the ordinary exit
        sys.exit(status)
    run_exit_handlers()  # servers stopped, logs and exporters flushed
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe (`evalkit query ... | head`)
            if stream is sys.stdout and status == 0:
                status = 120  # what the interpreter's own exit reports then
    os._exit(status)


if __name__ == "__main__":
    main()
