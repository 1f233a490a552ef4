"""The JSON Schemas of the ``--json`` outputs, generated from the contract models.

``python -m evalkit.contracts [DIR]`` writes them (default ``docs/schemas/``);
``--check`` exits 1 when a committed file differs from what the models generate.

The models forbid unknown fields (a producer must declare what it adds), but the published
schemas do not: ``--json`` output only ever gains fields, so a consumer validating with them
keeps working when a field is added.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["SCHEMAS", "describe_fields", "generate", "main", "render"]

#: File stem → (model, title). The file is ``<stem>.schema.json``.
SCHEMAS = {
    "evalkit.run.1": ("Evaluation", "evalkit.run/1"),
    "evalkit.compare.1": ("Comparison", "evalkit.compare/1"),
    "evalkit.run.show.1": ("StoredRun", "evalkit.run.show/1"),
}


def generate(name: str) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of one output, by file stem (see ``SCHEMAS``)."""
    import evalkit.contracts as contracts

    describe_fields()
    model_name, title = SCHEMAS[name]
    model = getattr(contracts, model_name)
    schema: dict[str, Any] = _open(model.model_json_schema(mode="serialization", by_alias=True))
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        **schema,
        "title": title,
    }


def describe_fields() -> None:
    """Give every contract field its attribute docstring as its description (the string just
    below the field in the class body), then rebuild the models."""
    from evalkit.contracts.base import Contract

    models: list[type[Contract]] = []
    queue = list(Contract.__subclasses__())
    while queue:
        model = queue.pop(0)
        if model not in models:
            models.append(model)
            queue.extend(model.__subclasses__())
    changed = False
    for model in models:
        for field, text in _attribute_docstrings(model).items():
            info = model.model_fields.get(field)
            if info is not None and info.description is None:
                info.description = text
                changed = True
    if changed:
        for model in models:
            model.model_rebuild(force=True)


def _attribute_docstrings(model: type) -> dict[str, str]:
    """``{field: docstring}`` from a class's source (an annotated assignment followed by a
    string expression)."""
    import ast
    import inspect
    import itertools
    import textwrap

    try:
        source = textwrap.dedent(inspect.getsource(model))
    except (OSError, TypeError):
        return {}
    tree = ast.parse(source)
    body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
    found: dict[str, str] = {}
    for statement, following in itertools.pairwise(body):
        if (
            isinstance(statement, ast.AnnAssign)
            and isinstance(statement.target, ast.Name)
            and isinstance(following, ast.Expr)
            and isinstance(following.value, ast.Constant)
            and isinstance(following.value.value, str)
        ):
            found[statement.target.id] = inspect.cleandoc(following.value.value)
    return found


def _open(node: Any) -> Any:
    """The schema without ``additionalProperties: false`` anywhere (see the module doc)."""
    if isinstance(node, dict):
        return {
            k: _open(v) for k, v in node.items() if not (k == "additionalProperties" and v is False)
        }
    if isinstance(node, list):
        return [_open(v) for v in node]
    return node


def render(name: str) -> str:
    """The file's text: the schema, indented, with a final newline."""
    return json.dumps(generate(name), indent=2, ensure_ascii=False, sort_keys=False) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """Write (or with ``--check``, compare) every schema file."""
    args = list(sys.argv[1:] if argv is None else argv)
    check = "--check" in args
    args = [a for a in args if a != "--check"]
    folder = Path(args[0]) if args else Path("docs/schemas")
    stale = []
    for name in SCHEMAS:
        path = folder / f"{name}.schema.json"
        text = render(name)
        if check:
            if not path.is_file() or path.read_text(encoding="utf-8") != text:
                stale.append(str(path))
            continue
        folder.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path}")
    if stale:
        print("out of date (run `python -m evalkit.contracts`): " + ", ".join(stale))
        return 1
    return 0
