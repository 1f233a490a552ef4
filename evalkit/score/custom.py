"""``python``: a scorer written as one Python function in the user's project.

```yaml
scorers:
  - {type: python, function: "checks:cites_source", args: {min_links: 1}}
```

``function`` is ``module:function``; the module is imported from the project root (the folder
of evalkit.yaml) when the suite loads, so a typo is a file:line error before any call. The
function is called once per output as ``function(output, case, **args)`` — plus
``result=...`` if it has a parameter of that name — where ``output`` is the stripped output
text and ``case`` the ``evalkit.records.Case`` (``id``, ``vars``, ``reference``,
``references``, ``tags``, ``metadata``). It may be ``async``. It returns:

* ``True`` / ``False`` — pass or fail (value 1 or 0);
* a number — the value; pass/fail only with a ``threshold``;
* ``(value, passed)`` or ``(value, passed, detail)`` — ``passed`` may be None (undecided);
* a dict with ``value``, ``passed`` and ``detail`` keys (each optional);
* ``None`` — undecided.

An exception is stored as an undecided score whose detail names it. Synchronous functions
run on a worker thread, a batch at a time, so calls continue. The signature holds the module
path and a hash of the function's source: edit the function and its scores stop being
comparable with older ones, as they should.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import importlib
import inspect
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field, PrivateAttr, field_validator

from evalkit.errors import InputError, did_you_mean
from evalkit.load.source import LineMap, display_path
from evalkit.score.base import Outcome, ScoreInput, Scorer, ScorerOptions, project_root

__all__ = ["PythonScorer", "load_function", "to_outcome"]


class PythonOptions(ScorerOptions):
    #: ``module:function``, importable from the project root.
    function: str
    #: Keyword arguments passed to the function (part of the signature).
    args: dict[str, Any] = Field(default_factory=dict)

    _func: Callable[..., Any] | None = PrivateAttr(default=None)

    @field_validator("function")
    @classmethod
    def _shape(cls, value: str) -> str:
        module, sep, name = value.partition(":")
        if not sep or not module or not name.isidentifier():
            raise ValueError(f"{value!r} is not module:function")
        return value


def _module_names(root: Path) -> list[str]:
    """Importable module names in the project root (``checks.py``, packages)."""
    names = [p.stem for p in root.glob("*.py")]
    names += [p.parent.name for p in root.glob("*/__init__.py")]
    return sorted(names)


def _user_frame(exc: BaseException, root: Path) -> tuple[str, int] | None:
    """The innermost traceback frame in a file under ``root``: where the user's code failed."""
    import traceback

    found = None
    for frame in traceback.extract_tb(exc.__traceback__):
        try:
            Path(frame.filename).resolve().relative_to(root.resolve())
        except ValueError:
            continue
        found = (frame.filename, frame.lineno or 0)
    return found


def load_function(spec: str, root: Path, *, named_by: str = "") -> Callable[..., Any]:
    """Import ``module:function`` with ``root`` first on the import path.

    Errors name the file at fault: the suite line (``named_by``) for a module or function
    that does not exist, the module's own file and line for one that fails to import."""
    module_name, _, name = spec.partition(":")
    by = f" (named by {named_by})" if named_by else ""
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.split(".")[0] != exc.name.split(".")[0]:
            where = _user_frame(exc, root)
            raise InputError(
                f"importing module '{module_name}'{by} failed: {exc}",
                path=display_path(Path(where[0])) if where else None,
                line=where[1] if where else None,
                fix=f"pip install {exc.name.split('.')[0]}, or remove the import",
            ) from None
        raise InputError(
            f"cannot import module '{module_name}'",
            fix=did_you_mean(
                module_name,
                _module_names(root),
                also=f"put {module_name.replace('.', '/')}.py in the project root "
                f"({display_path(root)}) or install it",
            ),
        ) from None
    except SyntaxError as exc:
        raise InputError(
            f"importing module '{module_name}'{by} failed: SyntaxError: {exc.msg}",
            path=display_path(Path(exc.filename)) if exc.filename else None,
            line=exc.lineno,
            fix="fix the module so that it imports",
        ) from None
    except Exception as exc:  # a failing import inside the user's module
        where = _user_frame(exc, root)
        raise InputError(
            f"importing module '{module_name}'{by} failed: {type(exc).__name__}: {exc}",
            path=display_path(Path(where[0])) if where else None,
            line=where[1] if where else None,
            fix="fix the module so that it imports",
        ) from None
    func = getattr(module, name, None)
    shown = display_path(Path(module.__file__)) if module.__file__ else module_name
    if func is None:
        functions = [k for k, v in vars(module).items() if callable(v) and not k.startswith("_")]
        raise InputError(
            f"module '{module_name}' has no function '{name}'",
            fix=did_you_mean(
                name, functions, also=f"define `def {name}(output, case): ...` in {shown}"
            ),
        )
    if not callable(func):
        raise InputError(
            f"'{name}' in {shown} is a {type(func).__name__}, not a function",
            fix=f"name a function, e.g. `def {name}(output, case): ...`",
        )
    return func


def to_outcome(value: Any) -> Outcome:
    """A user function's return value as an ``Outcome`` (see the module docstring)."""
    if value is None:
        return Outcome(None, None, None)
    if isinstance(value, bool):
        return Outcome(1.0 if value else 0.0, value)
    if isinstance(value, int | float):
        return Outcome(float(value))
    if isinstance(value, tuple) and 2 <= len(value) <= 3:
        number = None if value[0] is None else float(value[0])
        passed = None if value[1] is None else bool(value[1])
        detail = None if len(value) < 3 or value[2] is None else str(value[2])
        return Outcome(number, passed, detail)
    if isinstance(value, dict) and set(value) <= {"value", "passed", "detail"}:
        return to_outcome((value.get("value"), value.get("passed"), value.get("detail")))
    raise TypeError(
        f"returned {type(value).__name__} {str(value)[:80]!r}; expected a bool, a "
        "number, (value, passed[, detail]), a dict or None"
    )


def _source_hash(func: Callable[..., Any]) -> str:
    try:
        text = inspect.getsource(func)
    except (OSError, TypeError):
        text = repr(func)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


class PythonScorer(Scorer):
    """A function in the user's project: bool, number, (value, passed, detail) or None."""

    type = "python"
    version = "1"
    Options = PythonOptions
    examples: ClassVar[dict[str, str]] = {"function": 'function: "checks:cites_source"'}

    def __init__(self, spec: Any, context: Any) -> None:
        super().__init__(spec, context)
        if self.options._func is None:
            root = context.root or Path.cwd()
            self.options._func = load_function(self.options.function, root)
        self.func: Callable[..., Any] = self.options._func
        params = inspect.signature(self.func).parameters
        self._wants_result = "result" in params or any(
            p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()
        )
        self._gave_verdicts = False

    @classmethod
    def resolve(cls, options: ScorerOptions, where: LineMap, suite_path: Path) -> None:
        assert isinstance(options, PythonOptions)
        named_by = f"{where.path}:{where.line(('function',))}"
        try:
            options._func = load_function(
                options.function, project_root(suite_path), named_by=named_by
            )
        except InputError as exc:
            if exc.path:  # an error inside the module: it names its own file and line
                raise
            raise where.error(("function",), exc.message, exc.fix) from None

    @property
    def decides(self) -> bool:
        """A threshold, or a function that returned pass/fail verdicts (booleans)."""
        return self.threshold is not None or self._gave_verdicts

    def signature(self) -> dict[str, Any]:
        sig = super().signature()
        module = sys.modules.get(self.func.__module__)
        file = getattr(module, "__file__", None)
        if file and self.context.root is not None:
            with contextlib.suppress(ValueError):  # outside the project: keep it absolute
                file = str(Path(file).resolve().relative_to(self.context.root.resolve()))
        sig["function"] = {
            "module": self.func.__module__,
            "file": file,
            "source_hash": _source_hash(self.func),
        }
        return sig

    def _call(self, item: ScoreInput) -> Any:
        kwargs = dict(self.options.args)
        if self._wants_result:
            kwargs["result"] = item.result
        return self.func(item.output, item.case, **kwargs)

    def _one(self, item: ScoreInput, value: Any) -> Outcome:
        try:
            outcome = to_outcome(value)
        except TypeError as exc:
            return Outcome(None, None, f"{self.options.function} {exc}")
        if outcome.passed is not None:
            self._gave_verdicts = True
        return outcome

    def _run_sync(self, items: Sequence[ScoreInput]) -> list[Outcome]:
        outcomes = []
        for item in items:
            try:
                outcomes.append(self._one(item, self._call(item)))
            except Exception as exc:
                outcomes.append(Outcome(None, None, f"error: {type(exc).__name__}: {exc}"))
        return outcomes

    async def score_batch(self, items: Sequence[ScoreInput]) -> list[Outcome]:
        if not inspect.iscoroutinefunction(self.func):
            return await asyncio.to_thread(self._run_sync, items)

        async def one(item: ScoreInput) -> Outcome:
            try:
                return self._one(item, await self._call(item))
            except Exception as exc:
                return Outcome(None, None, f"error: {type(exc).__name__}: {exc}")

        return list(await asyncio.gather(*(one(item) for item in items)))
