"""Risk bands, the assessment schema, its grammar and the strict parser."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from server.analyze.errors import AnalysisOutputError
from server.analyze.risk import RISK_BANDS, RiskLevel, band_bounds, clamp_score, risk_level, validate_score
from server.analyze.schema import (
    ASSESSMENT_JSON_SCHEMA,
    ASSESSMENT_MAX_BYTES,
    REASONING_MAX_CHARS,
    RISK_FACTOR_MAX_CHARS,
    RISK_FACTORS_MAX_ITEMS,
    SUMMARY_MAX_CHARS,
    RiskAssessment,
    assessment_grammar,
    parse_assessment,
)


def valid(**overrides: object) -> dict[str, object]:
    body: dict[str, object] = {
        "risk_factors": ["person at an entry point"],
        "reasoning": "A person stood at the front door for 20 s in daylight.",
        "risk_score": 12,
        "summary": "Person at the front door.",
    }
    body.update(overrides)
    return body


@pytest.mark.parametrize(
    ("score", "level"),
    [
        (0, RiskLevel.LOW),
        (29, RiskLevel.LOW),
        (30, RiskLevel.MEDIUM),
        (59, RiskLevel.MEDIUM),
        (60, RiskLevel.HIGH),
        (84, RiskLevel.HIGH),
        (85, RiskLevel.CRITICAL),
        (100, RiskLevel.CRITICAL),
    ],
)
def test_band_edges(score: int, level: RiskLevel) -> None:
    assert risk_level(score) is level
    assert RiskAssessment.model_validate(valid(risk_score=score)).risk_level is level


def test_bands_cover_every_score_exactly_once() -> None:
    for score in range(0, 101):
        assert sum(low <= score <= high for _, low, high in RISK_BANDS) == 1
    assert band_bounds("high") == (60, 84)
    assert band_bounds(RiskLevel.CRITICAL) == (85, 100)


@pytest.mark.parametrize("score", [-1, 101, 1000, 50.5, "50", None, True])
def test_invalid_scores_are_rejected(score: object) -> None:
    with pytest.raises(ValueError, match="risk score"):
        validate_score(score)
    with pytest.raises(ValueError):
        risk_level(score)  # type: ignore[arg-type]


@pytest.mark.parametrize("score", [-1, 101, 50.0, "50", True])
def test_schema_rejects_invalid_scores(score: object) -> None:
    with pytest.raises(AnalysisOutputError, match="risk_score"):
        parse_assessment(json.dumps(valid(risk_score=score)))


def test_clamp_score_rounds_into_range() -> None:
    assert clamp_score(-7.2) == 0
    assert clamp_score(29.5) == 30
    assert clamp_score(29.49) == 29
    assert clamp_score(250) == 100
    with pytest.raises(ValueError):
        clamp_score(float("nan"))


def test_parse_valid_output() -> None:
    result = parse_assessment("  " + json.dumps(valid(risk_score=61)) + "\n")
    assert result.risk_score == 61
    assert result.risk_level is RiskLevel.HIGH
    assert result.risk_factors == ["person at an entry point"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "output is empty"),
        ("   ", "output is empty"),
        ('{"risk_score": 5,', "not valid JSON: Expecting property name enclosed in double quotes at line 1 column 18"),
        ("Sure! " + json.dumps(valid()), "not valid JSON: Expecting value at line 1 column 1 (char 0)"),
        (json.dumps(valid()) + " Hope this helps", "not valid JSON: Extra data at line 1"),
        ("[1, 2]", "must be a JSON object, got list"),
        ('"just text"', "must be a JSON object, got str"),
    ],
)
def test_parse_errors_are_precise(text: str, message: str) -> None:
    with pytest.raises(AnalysisOutputError) as caught:
        parse_assessment(text)
    assert message in str(caught.value)


def test_parse_names_the_bad_fields() -> None:
    body = valid(risk_score=150)
    del body["summary"]
    with pytest.raises(AnalysisOutputError) as caught:
        parse_assessment(json.dumps(body))
    message = str(caught.value)
    assert "risk_score: Input should be less than or equal to 100 (got 150)" in message
    assert "summary: Field required" in message


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"risk_level": "high"}, "risk_level: Extra inputs are not permitted"),
        ({"summary": ""}, "summary: String should have at least 1 character"),
        ({"summary": "x" * (SUMMARY_MAX_CHARS + 1)}, "summary: String should have at most 300 characters"),
        ({"reasoning": "x" * (REASONING_MAX_CHARS + 1)}, "reasoning: String should have at most 1000"),
        ({"risk_factors": ["a"] * (RISK_FACTORS_MAX_ITEMS + 1)}, "risk_factors: List should have at most 8 items"),
        ({"risk_factors": ["x" * (RISK_FACTOR_MAX_CHARS + 1)]}, "risk_factors.0: String should have at most 80"),
        ({"risk_factors": "night"}, "risk_factors: Input should be a valid list"),
        ({"reasoning": "\\ud800"}, "reasoning"),
    ],
)
def test_schema_limits(overrides: dict[str, object], field: str) -> None:
    text = json.dumps(valid(**overrides)).replace("\\\\ud800", "\\ud800")
    with pytest.raises(AnalysisOutputError) as caught:
        parse_assessment(text)
    assert field in str(caught.value)


def test_json_schema_is_closed_and_complete() -> None:
    assert ASSESSMENT_JSON_SCHEMA["additionalProperties"] is False
    assert set(ASSESSMENT_JSON_SCHEMA["required"]) == {"risk_score", "summary", "reasoning", "risk_factors"}
    score = ASSESSMENT_JSON_SCHEMA["properties"]["risk_score"]
    assert (score["type"], score["minimum"], score["maximum"]) == ("integer", 0, 100)


def test_grammar_is_strict_and_bounded() -> None:
    from llama_cpp import LlamaGrammar

    grammar = assessment_grammar()
    rules = dict(line.split(" ::= ", 1) for line in grammar.splitlines() if " ::= " in line)
    # environment.md's control-character fix, without \u escapes.
    assert rules["char"] == '[^"\\\\\\x7F\\x00-\\x1F] | "\\\\" ["\\\\/bfnrt]'
    # Integer bounds survive the conversion: exactly the literals 0..100.
    literals = [part.strip().strip('"') for part in rules["risk-score"].split("|")]
    assert literals == [str(number) for number in range(101)]
    assert rules["root"].index("risk-factors-kv") < rules["root"].index("risk-score-kv")
    LlamaGrammar.from_string(grammar, verbose=False)  # llama.cpp accepts it


def test_output_length_bound_holds_for_the_longest_answer() -> None:
    longest = RiskAssessment(
        risk_factors=["𝔵" * RISK_FACTOR_MAX_CHARS] * RISK_FACTORS_MAX_ITEMS,
        reasoning="𝔵" * REASONING_MAX_CHARS,
        risk_score=100,
        summary="𝔵" * SUMMARY_MAX_CHARS,
    )
    text = json.dumps(longest.model_dump(), ensure_ascii=False)  # one space after each , and :
    assert len(text.encode("utf-8")) <= ASSESSMENT_MAX_BYTES
    assert parse_assessment(text) == longest


# Texts as they come out of validation (no control characters, no surrounding blanks: see the next test).
texts = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=60
).filter(lambda text: text == text.strip())


@given(
    score=st.integers(0, 100),
    summary=texts,
    reasoning=texts,
    factors=st.lists(texts, max_size=RISK_FACTORS_MAX_ITEMS),
)
def test_round_trip(score: int, summary: str, reasoning: str, factors: list[str]) -> None:
    original = RiskAssessment(risk_factors=factors, reasoning=reasoning, risk_score=score, summary=summary)
    parsed = parse_assessment(original.model_dump_json())
    assert parsed == original
    assert parsed.risk_level is risk_level(score)


def test_texts_lose_control_characters_and_surrounding_blanks() -> None:
    """A review's findings: a NUL in a text (valid JSON: "\\u0000") could not be stored in PostgreSQL,
    so the event was never refined; a text of blanks passed the length limits as a text."""
    parsed = parse_assessment(
        json.dumps(valid(summary=" A person\u0000 at the door.\u0007 ", reasoning="Night.\nAlone.\t"))
    )
    assert (parsed.summary, parsed.reasoning) == ("A person at the door.", "Night.\nAlone.")
    for blank in ("   ", "\u0000", " \n "):
        with pytest.raises(AnalysisOutputError, match="summary: String should have at least 1 character"):
            parse_assessment(json.dumps(valid(summary=blank)))
