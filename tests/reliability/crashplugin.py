"""A scorer plugin with a bug, installed as a real distribution (a dist-info with an
``evalkit.scorers`` entry point on PYTHONPATH), to crash evalkit on purpose."""

from __future__ import annotations

import os
from pathlib import Path

PLUGIN = '''
import os
from typing import Literal

from evalkit.score.base import Outcome, PerItemScorer, ScorerOptions


class BoomOptions(ScorerOptions):
    when: Literal["start", "decide"] = "start"


class Boom(PerItemScorer):
    """Raises where it is told to: a bug in a plugin."""

    type = "boom"
    Options = BoomOptions

    async def start(self):
        if self.options.when == "start":
            key = os.environ.get("OPENAI_API_KEY", "")
            raise RuntimeError(f"boom while starting (the key was {key})")

    @property
    def decides(self):
        return True

    def decide(self, value):
        if self.options.when == "decide":
            raise ZeroDivisionError("boom while deciding")
        return value >= 1

    def score_one(self, item):
        return Outcome(1.0)
'''


def install(site: Path) -> dict[str, str]:
    """Write the plugin under ``site``; return an environment that finds it."""
    (site / "boom_plugin").mkdir(parents=True, exist_ok=True)
    (site / "boom_plugin/__init__.py").write_text(PLUGIN, encoding="utf-8")
    info = site / "boom_plugin-0.1.dist-info"
    info.mkdir(exist_ok=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: boom-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[evalkit.scorers]\nboom = boom_plugin:Boom\n")
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(
            [str(site), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
        ),
    }
