"""A project with more cases than ``projects.py`` (so four shards each get some), answered by the
fake server's echo: a case passes when the echoed prompt holds its ``word``."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

#: Cases whose word is not in the prompt: they fail on every prompt version.
MISSING = {3, 7, 11, 19, 23, 31}


def write_numbers_project(
    root: Path,
    base_url: str,
    *,
    cases: int = 40,
    suites: tuple[str, ...] = ("numbers",),
    extra_config: str = "",
) -> Path:
    """evalkit.yaml (provider ``fake``), prompts/numbers/v1+v2 and one suite per name in
    ``suites`` (same cases); returns root."""

    def put(name: str, text: str) -> None:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")

    put(
        "evalkit.yaml",
        f"""
        providers:
          fake: {{type: openai, base_url: "{base_url}/v1", model: fake-model, stream: false}}
        defaults: {{provider: fake, concurrency: 4}}
        """,
    )
    if extra_config:
        with (root / "evalkit.yaml").open("a", encoding="utf-8") as config:
            config.write(textwrap.dedent(extra_config).lstrip("\n"))
    put(
        "prompts/numbers/v1.yaml",
        """
        messages: [{role: user, content: "v1: number n{{ n }}"}]
        params: {max_tokens: 16}
        """,
    )
    put(
        "prompts/numbers/v2.yaml",
        """
        parent: v1
        messages: [{role: user, content: "v2: say n{{ n }} please"}]
        params: {max_tokens: 16}
        """,
    )
    lines = [
        json.dumps(
            {
                "id": f"case-{i:03d}",
                "vars": {"n": i, "word": "absent" if i in MISSING else f"n{i}"},
                "reference": f"echo: v1: number n{i}",
            }
        )
        for i in range(cases)
    ]
    put("suites/numbers.jsonl", "\n".join(lines) + "\n")
    for name in suites:
        put(
            f"suites/{name}.yaml",
            f"""
            name: {name}
            prompt: [numbers@v1, numbers@v2]
            cases: numbers.jsonl
            scorers:
              - {{type: contains, value: "{{{{ word }}}}", name: has-word}}
              - {{type: chrf}}
            gates: {{pass_rate: 0.5}}
            """,
        )
    return root
