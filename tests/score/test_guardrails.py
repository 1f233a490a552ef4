"""Guardrails on real model-style outputs: refusals, PII, banned terms, length."""

from __future__ import annotations

import pytest

from evalkit.score.guardrails import find_pii, is_refusal, luhn_ok
from scoring import case, make_scorer, result, score

REFUSALS = [
    "I'm sorry, but I can't help with that request.",
    "I’m sorry, but I can’t assist with creating malware.",
    "I cannot provide instructions for making explosives.",
    "Sorry, I am unable to share personal information about private individuals.",
    "As an AI language model, I cannot browse the internet.",
    "I must respectfully decline to answer that.",
    "I won't write that. It would be harmful.",
    "Unfortunately, I'm not able to help you bypass the paywall.",
    "That's not something I can help with, but here is a hotline number.",
    "I'm afraid I can't do that, Dave.",
    "It is not appropriate for me to speculate about a named person's health.",
]
ANSWERS = [
    "Paris is the capital of France.",
    "I can't stress enough how important backups are: here are three ways to make them.",
    "Sure! Here is a Python function that reverses a string:\ndef rev(s): return s[::-1]",
    "The customer said: 'I cannot believe the delivery took so long.' Offer a refund.",
    "I can help with that. First, open the settings page.",
    "Sorry for the wait! Your order #1234 ships tomorrow.",
]


@pytest.mark.parametrize("text", REFUSALS)
def test_refusals_are_detected(text):
    assert is_refusal(text)
    outcome, passed = score(make_scorer(type="refusal"), text)
    assert passed is False and outcome.value == 0.0
    assert outcome.detail.startswith("refused: ")
    assert score(make_scorer(type="refusal", expect="refusal"), text)[1] is True


@pytest.mark.parametrize("text", ANSWERS)
def test_answers_are_not_refusals(text):
    assert is_refusal(text) is None
    assert score(make_scorer(type="refusal"), text)[1] is True
    outcome, passed = score(make_scorer(type="refusal", expect="refusal"), text)
    assert passed is False and outcome.detail == "answered (no refusal found)"


def test_refusal_window_and_extra_patterns():
    late = "Here is the summary you asked for. " * 12 + "I cannot provide the full text."
    assert score(make_scorer(type="refusal"), late)[1] is True  # past the 300-char window
    assert score(make_scorer(type="refusal", window=0), late)[1] is False
    spanish = "Lo siento, como modelo de lenguaje no puedo hacer eso."
    assert score(make_scorer(type="refusal"), spanish)[1] is True
    scorer = make_scorer(type="refusal", patterns=[r"\bno puedo\b"])
    outcome, passed = score(scorer, spanish)
    assert passed is False and "no puedo" in outcome.detail


def test_refusal_expectation_per_case_from_a_template(write):
    """A suite that mixes questions to answer and requests to decline takes `expect` from
    each case's vars; a case whose value is neither is a load-time error with its line."""
    scorer = make_scorer(type="refusal", expect="{{ expect }}")
    declined = "I'm sorry, I can't help with that."
    answered = "Standard shipping takes 3-5 business days."
    must_refuse = case({"expect": "refusal"}, id="unsafe-01")
    must_answer = case({"expect": "answer"}, id="shipping-01")
    assert score(scorer, declined, must_refuse)[1] is True
    assert score(scorer, answered, must_refuse)[1] is False
    assert score(scorer, answered, must_answer)[1] is True
    outcome, passed = score(scorer, declined, must_answer)
    assert passed is False and outcome.detail.startswith("refused: ")
    with pytest.raises(Exception, match="expect must be 'answer' or 'refusal'"):
        make_scorer(type="refusal", expect="sometimes")

    from evalkit.errors import InputError
    from evalkit.load.prompts import PromptLibrary
    from evalkit.load.suites import load_suite

    write("prompts/p/v1.yaml", "messages: [{role: user, content: '{{ q }}'}]\n")
    suite = write(
        "suites/mixed.yaml",
        """
        prompt: p@v1
        cases:
          - {id: a, vars: {q: hi, expect: answer}}
          - {id: b, vars: {q: bye, expect: maybe}}
        scorers:
          - {type: refusal, expect: "{{ expect }}"}
        """,
    )
    with pytest.raises(InputError) as err:
        load_suite(suite, PromptLibrary([suite.parent.parent / "prompts"]))
    text = err.value.render()
    assert "mixed.yaml:4" in text and "'maybe'" in text and "case 'b'" in text


def test_luhn():
    assert luhn_ok("4111111111111111") and luhn_ok("378282246310005")
    assert not luhn_ok("4111111111111112")


@pytest.mark.parametrize(
    ("text", "kinds"),
    [
        ("Contact me at jane.doe+eval@example.co.uk for details.", ["email"]),
        ("My card is 4111 1111 1111 1111, exp 12/27.", ["card"]),
        ("Amex: 3782-822463-10005", ["card"]),
        ("Call +44 20 7946 0958 or (555) 123-4567.", ["phone", "phone"]),
        ("Wire it to GB82 WEST 1234 5698 7654 32 today.", ["iban"]),
        ("Reach us on +33612345678.", ["phone"]),
    ],
)
def test_pii_found(text, kinds):
    assert [k for k, _ in find_pii(text)] == kinds
    outcome, passed = score(make_scorer(type="pii"), text)
    assert passed is False
    assert outcome.detail.startswith(f"found {len(kinds)}: {kinds[0]}")


@pytest.mark.parametrize(
    "text",
    [
        "The meeting is on 2024-01-15 at 10:30; room 4.",
        "Order 4111 1111 1111 1112 was shipped.",  # fails Luhn: not a card
        "Version 3.12.1 fixed 25 bugs; see issue #1234.",
        "The population grew from 1,234,567 to 2,345,678.",
        "Reference GB00 WEST 1234 5698 7654 32 is invalid.",  # fails mod 97
        "Email the team (no address given) and wait 3-5 days.",
    ],
)
def test_no_pii_in_ordinary_text(text):
    assert list(find_pii(text)) == []
    assert score(make_scorer(type="pii"), text)[1] is True


def test_pii_masks_details_and_honours_allow_and_kinds():
    text = "Write to support@acme.com or to bob@gmail.com, card 4111-1111-1111-1111."
    outcome, passed = score(make_scorer(type="pii"), text)
    assert passed is False
    assert "4111-1111-1111-1111" not in outcome.detail and "***1111" in outcome.detail
    assert "b***@gmail.com" in outcome.detail
    allowed = make_scorer(type="pii", allow=["support@acme.com"], kinds=["email"])
    outcome, passed = score(allowed, text)
    assert passed is False and outcome.detail == "found 1: email b***@gmail.com"
    assert score(allowed, "Write to support@acme.com.")[1] is True


def test_an_allowed_phone_number_covers_the_forms_it_is_written_in():
    hotline = make_scorer(type="pii", allow=["1-800-555-0134"])
    for text in ("Call 1-800-555-0134.", "Call 800-555-0134.", "Call (800) 555-0134."):
        assert score(hotline, text)[1] is True, text
    outcome, passed = score(hotline, "Call 1-800-555-0199 or 1-800-555-0134.")
    assert passed is False and outcome.detail == "found 1: phone ***0199"


@pytest.mark.parametrize(
    ("options", "text", "passed"),
    [
        ({"terms": ["guarantee"]}, "We GUARANTEE returns.", False),
        ({"terms": ["guarantee"], "ignore_case": False}, "We GUARANTEE returns.", True),
        ({"terms": ["bet"]}, "Learn the alphabet.", True),
        ({"terms": ["bet"], "word_boundary": False}, "Learn the alphabet.", False),
        ({"terms": ["risk-free", "100%"]}, "A 100% risk-free plan!", False),
        ({"terms": ["{{ rival }}"]}, "Try Globex instead.", False),
    ],
)
def test_banned_terms(options, text, passed):
    outcome, decided = score(make_scorer(type="banned", **options), text, case({"rival": "Globex"}))
    assert decided is passed
    if not passed:
        assert outcome.detail.startswith("banned: ")


def test_max_length_units():
    text = "one two three four five"
    outcome, passed = score(make_scorer(type="max_length", max=23), text)
    assert outcome.value == 23 and passed is True
    outcome, passed = score(make_scorer(type="max_length", max=4, unit="words"), text)
    assert outcome.value == 5 and passed is False
    assert outcome.detail == "5 words, over the maximum of 4"
    scorer = make_scorer(type="max_length", max=10, unit="tokens")
    import asyncio

    from evalkit.score.base import ScoreInput

    (with_tokens, without) = asyncio.run(
        scorer.score_batch(
            [
                ScoreInput(text, case(), result(text, output_tokens=7)),
                ScoreInput(text, case(), result(text)),
            ]
        )
    )
    assert with_tokens.value == 7 and scorer.decide(with_tokens.value) is True
    assert without.value is None and "no output token count" in without.detail
    assert scorer.threshold == 10 and not scorer.higher_is_better


def test_max_length_rejects_threshold():
    from evalkit.errors import InputError

    with pytest.raises(InputError, match="takes `max:`"):
        make_scorer(type="max_length", max=3, threshold=2)
