from __future__ import annotations

import pytest
import sacrebleu

from scoring import case, make_scorer, score


def test_bleu_matches_sacrebleu_sentence_score():
    hyp, ref = "Le chat est sur le tapis.", "Le chat est assis sur le tapis."
    outcome, passed = score(make_scorer(type="bleu", threshold=20), hyp, case(reference=ref))
    expected = sacrebleu.sentence_bleu(hyp, [ref]).score
    assert outcome.value is not None and abs(outcome.value - expected) < 1e-9
    assert passed is (expected >= 20)


def test_chrf_matches_sacrebleu_and_threshold_decides():
    hyp, ref = "Bonjour le monde", "Bonjour tout le monde"
    expected = sacrebleu.sentence_chrf(hyp, [ref]).score
    high = make_scorer(type="chrf", threshold=expected + 1)
    low = make_scorer(type="chrf", threshold=expected - 1)
    assert score(high, hyp, case(reference=ref))[1] is False
    outcome, passed = score(low, hyp, case(reference=ref))
    assert passed is True and abs(outcome.value - expected) < 1e-9


def test_without_threshold_no_pass_fail():
    scorer = make_scorer(type="bleu")
    outcome, passed = score(scorer, "a b c d", case(reference="a b c d"))
    assert outcome.value == pytest.approx(100.0) and passed is None and not scorer.decides


def test_multiple_references():
    scorer = make_scorer(type="bleu")
    one, _ = score(scorer, "the cat sat", case(reference=["a dog ran"]))
    two, _ = score(scorer, "the cat sat", case(reference=["a dog ran", "the cat sat"]))
    assert two.value == pytest.approx(100.0) and (one.value or 0) < 100.0


def test_signature_carries_sacrebleu_settings():
    a = make_scorer(type="bleu").signature()
    b = make_scorer(type="bleu", tokenize="char").signature()
    assert (
        "tok:13a" in a["libs"]["sacrebleu"]
        and f"version:{sacrebleu.__version__}" in a["libs"]["sacrebleu"]
    )
    assert "tok:char" in b["libs"]["sacrebleu"]
    assert (
        make_scorer(type="bleu").signature_hash()
        != make_scorer(type="bleu", tokenize="char").signature_hash()
    )


@pytest.mark.parametrize(
    ("kind", "reference_fn"), [("bleu", sacrebleu.sentence_bleu), ("chrf", sacrebleu.sentence_chrf)]
)
def test_equal_to_sacrebleu_on_random_sentences(kind, reference_fn):
    """The reference-caching fast path gives sacrebleu's exact sentence scores."""
    import random

    rng = random.Random(1)
    words = [
        "le",
        "la",
        "chat",
        "chien",
        "est",
        "sur",
        "tapis",
        "maison",
        "grand",
        "petit",
        "un",
        "une",
        "bleu",
        "rouge",
        ".",
        "?",
    ]
    scorer = make_scorer(type=kind)
    for _ in range(300):
        hyp = " ".join(rng.choice(words) for _ in range(rng.randint(0, 12)))
        refs = [
            " ".join(rng.choice(words) for _ in range(rng.randint(1, 12)))
            for _ in range(rng.randint(1, 3))
        ]
        outcome, _ = score(scorer, hyp, case(reference=refs))
        assert outcome.value == pytest.approx(reference_fn(hyp.strip(), refs).score, abs=1e-9)


@pytest.mark.parametrize("tokenize", ["13a", "intl", "char", "zh", "none"])
@pytest.mark.parametrize("smooth_method", ["exp", "floor", "add-k", "none"])
@pytest.mark.parametrize("lowercase", [False, True])
def test_bleu_signature_written_out_equals_sacrebleus(tokenize, smooth_method, lowercase):
    from evalkit.score.bleu import _signature_text

    scorer = make_scorer(
        type="bleu", tokenize=tokenize, smooth_method=smooth_method, lowercase=lowercase
    )
    assert scorer.signature_text() == _signature_text(scorer.make_metric())


@pytest.mark.parametrize("char_order", [6, 4])
@pytest.mark.parametrize("word_order", [0, 2])
@pytest.mark.parametrize("lowercase", [False, True])
def test_chrf_signature_written_out_equals_sacrebleus(char_order, word_order, lowercase):
    from evalkit.score.bleu import _signature_text

    scorer = make_scorer(
        type="chrf", char_order=char_order, word_order=word_order, beta=3, lowercase=lowercase
    )
    assert scorer.signature_text() == _signature_text(scorer.make_metric())
