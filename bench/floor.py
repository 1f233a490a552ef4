"""The floors `bench/calls.py` compares `evalkit run` with, each run as its own command so its
whole wall (interpreter start, imports, the calls) is measured exactly like `evalkit run`'s:

- the SDK floor (the default): a bare `openai.AsyncOpenAI` loop at the same concurrency doing
  the same three checks (contains, regex, sentence BLEU), storing nothing;
- the transport floor (``--transport``): the same loop over `httpx2` (the SDK's own HTTP
  client, which evalkit's `openai` provider uses directly), posting JSON and reading the
  answer with `json.loads` — what a hand-written client without the SDK costs.

    python bench/floor.py BASE_URL CASES CONCURRENCY [--stream] [--transport]
"""

from __future__ import annotations

import asyncio
import re
import sys
from collections.abc import Awaitable, Callable
from typing import Any

ANSWER_WORD = "Paris"
REFERENCE = "Paris is the capital, with 2102650 inhabitants in 2023."
PATTERN = r"[0-9]{4}"


async def checked_loop(ask: Callable[[int], Awaitable[str]], cases: int, concurrency: int) -> int:
    """``ask(i)`` for every case at ``concurrency``, each answer put through the three checks
    (contains, regex, sentence BLEU); exit code 1 unless every answer passed both checks."""
    from sacrebleu.metrics import BLEU

    bleu = BLEU(effective_order=True)
    pattern = re.compile(PATTERN)
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(cases):
        queue.put_nowait(i)
    checked = 0

    async def worker() -> None:
        nonlocal checked
        while not queue.empty():
            text = (await ask(queue.get_nowait())).strip()
            ok = ANSWER_WORD in text and pattern.search(text) is not None
            bleu.sentence_score(text, [REFERENCE])
            checked += ok

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    if checked != cases:
        print(f"only {checked} of {cases} answers passed both checks", file=sys.stderr)
        return 1
    return 0


async def main(base_url: str, cases: int, concurrency: int, stream: bool) -> int:
    import openai

    client = openai.AsyncOpenAI(base_url=base_url + "/v1", api_key="x", max_retries=0)

    async def ask(i: int) -> str:
        messages = [{"role": "user", "content": f"Q: question number {i}?\nA:"}]
        if stream:
            parts = []
            response = await client.chat.completions.create(
                model="fake-model",
                messages=messages,  # type: ignore[arg-type]
                max_tokens=32,
                temperature=0,
                stream=True,
                stream_options={"include_usage": True},
            )
            async for chunk in response:
                for choice in chunk.choices:
                    if choice.delta.content:
                        parts.append(choice.delta.content)
            return "".join(parts)
        response = await client.chat.completions.create(
            model="fake-model",
            messages=messages,  # type: ignore[arg-type]
            max_tokens=32,
            temperature=0,
        )
        return response.choices[0].message.content or ""

    try:
        return await checked_loop(ask, cases, concurrency)
    finally:
        await client.close()


async def transport(base_url: str, cases: int, concurrency: int, stream: bool) -> int:
    import json

    import httpx2

    client = httpx2.AsyncClient(
        base_url=base_url + "/v1",
        headers={"Authorization": "Bearer x", "Content-Type": "application/json"},
        timeout=60,
        limits=httpx2.Limits(max_connections=1000, max_keepalive_connections=100),
    )

    async def ask(i: int) -> str:
        body: dict[str, Any] = {
            "model": "fake-model",
            "messages": [{"role": "user", "content": f"Q: question number {i}?\nA:"}],
            "max_tokens": 32,
            "temperature": 0,
        }
        if stream:
            body["stream"] = True
            body["stream_options"] = {"include_usage": True}
            parts = []
            async with client.stream("POST", "/chat/completions", content=json.dumps(body)) as r:
                r.raise_for_status()
                async for line in r.aiter_lines():
                    if not line.startswith("data:") or line[5:].strip() == "[DONE]":
                        continue
                    for choice in json.loads(line[5:]).get("choices") or ():
                        parts.append((choice.get("delta") or {}).get("content") or "")
            return "".join(parts)
        response = await client.post("/chat/completions", content=json.dumps(body))
        response.raise_for_status()
        return str(json.loads(response.content)["choices"][0]["message"]["content"] or "")

    try:
        return await checked_loop(ask, cases, concurrency)
    finally:
        await client.aclose()


if __name__ == "__main__":
    url, n, j = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    loop = transport if "--transport" in sys.argv[4:] else main
    sys.exit(asyncio.run(loop(url, n, j, "--stream" in sys.argv[4:])))
