"""One exception tree for the whole library.

The library raises; one handler in the CLI (``evalkit.cli.main``) turns an error into a message
and an exit code. Nothing below prints.

::

    EvalkitError                     base class; ``exit_code`` says how the CLI ends
    ├── InputError         (exit 2)  a file or an argument is wrong: names file, line and fix
    │   └── NotFoundError  (exit 2)  a run, baseline, prompt, suite or provider that does not exist
    ├── SetupError         (exit 2)  something to install or configure (binary, model, API key)
    ├── ProviderCallError            one call failed; carries an ``error_class``; retried or stored
    ├── RunIncomplete      (exit 3)  the run could not complete (error budget, server died)
    ├── StoreError         (exit 3)  the DuckDB store could not be opened or written
    └── Interrupted  (exit 130/143)  SIGINT or SIGTERM stopped a run: names the run to resume

``ProviderCallError`` never reaches the user directly: the runner retries it, stores it on the
result as ``error_class`` and counts it against the error budget. Its message is redacted of
every secret the environment holds (``redact``), since servers may echo request headers.
``did_you_mean`` gives the fix for an unknown name: the closest valid one.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

__all__ = [
    "EvalkitError",
    "InputError",
    "Interrupted",
    "NotFoundError",
    "ProviderCallError",
    "RunIncomplete",
    "SetupError",
    "StoreError",
    "closest",
    "did_you_mean",
    "display_path",
    "redact",
    "register_secret_env",
]

#: Environment variables whose values are secrets, by a word at the end of their name
#: (``OPENAI_API_KEY``, ``HF_TOKEN``) or followed by ``_`` (``AWS_SECRET_ACCESS_KEY``).
_SECRET_WORDS = ("KEY", "TOKEN", "SECRET", "PASSWORD", "PASSWD", "CREDENTIALS", "AUTH")
#: More variables holding secrets: those named by ``api_key_env:`` in evalkit.yaml.
_SECRET_ENV: set[str] = set()


def register_secret_env(name: str) -> None:
    """Treat the value of environment variable ``name`` as a secret (see ``redact``)."""
    _SECRET_ENV.add(name)


def _secrets() -> list[str]:
    import os

    found = []
    for name, value in os.environ.items():
        upper = name.upper()
        named = name in _SECRET_ENV or any(
            upper.endswith(w) or f"{w}_" in upper for w in _SECRET_WORDS
        )
        if named and len(value) >= 6:
            found.append(value)
    return sorted(set(found), key=len, reverse=True)


def redact(text: str) -> str:
    """``text`` with every secret the environment holds (API keys, tokens) replaced by
    ``[redacted]``: error messages of providers may echo request headers."""
    for secret in _secrets():
        if secret in text:
            text = text.replace(secret, "[redacted]")
    return text


def _distance(a: str, b: str) -> int:
    """Edit distance counting a swap of two neighbours as one edit (optimal string
    alignment), so ``modle`` is one edit from ``model``."""
    rows = [list(range(len(b) + 1))]
    for i in range(1, len(a) + 1):
        row = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            row[j] = min(rows[-1][j] + 1, row[j - 1] + 1, rows[-1][j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                row[j] = min(row[j], rows[-2][j - 2] + 1)
        rows.append(row)
    return rows[-1][-1]


def closest(name: str, choices: Iterable[str]) -> str | None:
    """The valid name closest to a misspelt ``name``, if one is close enough: fewest edits
    (a swap counts once), then the same length, then difflib's similarity."""
    import difflib

    lowered = name.lower()
    scored = []
    for choice in dict.fromkeys(choices):
        if choice == name:
            continue
        edits = _distance(lowered, choice.lower())
        ratio = difflib.SequenceMatcher(None, lowered, choice.lower()).ratio()
        if edits < len(name) and (edits <= max(1, len(name) // 4) or ratio >= 0.75):
            scored.append((edits, abs(len(choice) - len(name)), -ratio, choice))
    return min(scored)[3] if scored else None


def did_you_mean(name: str, choices: Iterable[str], *, also: str = "") -> str:
    """A fix for an unknown name: ``did you mean 'x'?`` when one is close, then ``also``
    (e.g. the list of valid names)."""
    near = closest(name, choices)
    if not near:
        return also
    return f"did you mean '{near}'?" + (f" {also[:1].upper()}{also[1:]}" if also else "")


def display_path(path: Path) -> str:
    """A path as the user would type it: relative to the working directory when inside it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


class EvalkitError(Exception):
    """Base of every error evalkit raises on purpose."""

    exit_code: int = 1

    def __init__(self, message: str, *, fix: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix

    def render(self) -> str:
        """The message a user sees: one line, then the fix indented on a second line."""
        text = f"error: {self.message}"
        if self.fix:
            text += f"\n  ({self.fix})"
        return redact(text)


class InputError(EvalkitError):
    """A user file or argument is wrong. ``path``/``line`` locate it (``line`` is 1-based)."""

    exit_code = 2

    def __init__(
        self,
        message: str,
        *,
        path: str | Path | None = None,
        line: int | None = None,
        fix: str | None = None,
    ) -> None:
        self.path = str(path) if path is not None else None
        self.line = line
        where = ""
        if self.path:
            where = self.path + (f":{line}" if line else "") + ": "
        super().__init__(where + message, fix=fix)


class NotFoundError(InputError):
    """A named thing (run, baseline, prompt version, provider id, suite) does not exist."""


class SetupError(EvalkitError):
    """Something must be installed or configured first; ``fix`` says what."""

    exit_code = 2


class RunIncomplete(EvalkitError):
    """The run could not complete: too many failed calls, or a provider went away."""

    exit_code = 3


class StoreError(EvalkitError):
    """The store could not be opened, migrated or written."""

    exit_code = 3


class Interrupted(EvalkitError):
    """A signal stopped the invocation: what finished is stored, the run interrupted is marked
    so, and the fix says how to resume it. Exit 128 + the signal (SIGINT 130, SIGTERM 143)."""

    def __init__(
        self,
        signal_name: str,
        exit_code: int,
        *,
        interrupted: dict[str, tuple[int, int]] | None = None,
        completed: list[str] | None = None,
        not_started: list[str] | None = None,
    ) -> None:
        self.exit_code = exit_code
        #: run id -> (results stored, results planned) of the runs the signal cut short.
        self.interrupted = dict(interrupted or {})
        parts = []
        for run_id, (stored, planned) in self.interrupted.items():
            parts.append(f"run {run_id} stopped with {stored} of {planned} results stored")
        if completed:
            parts.append(f"completed before it: {', '.join(completed)}")
        if not_started:
            parts.append(f"not started: {', '.join(not_started)}")
        if not self.interrupted:
            parts.insert(0, "no run was cut short")
        message = f"interrupted by {signal_name}: calls in flight cancelled; " + "; ".join(parts)
        fix = "run the command again"
        if self.interrupted:
            first = next(iter(self.interrupted))
            fix = f"continue with `evalkit run --resume {first}`: only the missing calls are made"
        super().__init__(message, fix=fix)

    def render(self) -> str:
        return redact(f"{self.message}\n  ({self.fix})")


class ProviderCallError(EvalkitError):
    """One provider call failed.

    ``error_class`` is a short stable word stored on the result (``rate_limit``,
    ``server_error``, ``timeout``, ``connection``, ``malformed``, ``empty``, ``bad_request``,
    ``auth``, ``not_found``, ``unavailable``, ``unknown``). ``retryable`` says whether trying
    again may help; ``retry_after`` is the server's hint in seconds, if it gave one.
    """

    exit_code = 3

    def __init__(
        self,
        error_class: str,
        message: str,
        *,
        retryable: bool = False,
        retry_after: float | None = None,
        status: int | None = None,
    ) -> None:
        # The message is stored with the result and shown in reports: a server that echoes
        # request headers into its error must not put the API key there.
        super().__init__(redact(message))
        self.error_class = error_class
        self.retryable = retryable
        self.retry_after = retry_after
        self.status = status
