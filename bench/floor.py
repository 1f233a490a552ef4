"""The floor `bench/calls.py` compares `evalkit run` with: a bare `openai.AsyncOpenAI` loop
at the same concurrency doing the same three checks (contains, regex, sentence BLEU), storing
nothing. Run as its own command, so its whole wall (interpreter start, imports, the calls)
is measured exactly like `evalkit run`'s.

    python bench/floor.py BASE_URL CASES CONCURRENCY [--stream]
"""

from __future__ import annotations

import asyncio
import re
import sys

ANSWER_WORD = "Paris"
REFERENCE = "Paris is the capital, with 2102650 inhabitants in 2023."
PATTERN = r"[0-9]{4}"


async def main(base_url: str, cases: int, concurrency: int, stream: bool) -> int:
    import openai
    from sacrebleu.metrics import BLEU

    bleu = BLEU(effective_order=True)
    pattern = re.compile(PATTERN)
    client = openai.AsyncOpenAI(base_url=base_url + "/v1", api_key="x", max_retries=0)
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(cases):
        queue.put_nowait(i)
    checked = 0

    async def worker() -> None:
        nonlocal checked
        while not queue.empty():
            i = queue.get_nowait()
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
                text = "".join(parts)
            else:
                response = await client.chat.completions.create(
                    model="fake-model",
                    messages=messages,  # type: ignore[arg-type]
                    max_tokens=32,
                    temperature=0,
                )
                text = response.choices[0].message.content or ""
            text = text.strip()
            ok = ANSWER_WORD in text and pattern.search(text) is not None
            bleu.sentence_score(text, [REFERENCE])
            checked += ok

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    await client.close()
    if checked != cases:
        print(f"only {checked} of {cases} answers passed both checks", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    url, n, j = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    sys.exit(asyncio.run(main(url, n, j, "--stream" in sys.argv[4:])))
