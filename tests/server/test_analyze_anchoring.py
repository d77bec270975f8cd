"""The evidence bounds the model (server/analyze/anchoring.py): whatever a model scores, routine stays
below high and threats stay high or critical; a model that agrees with the facts is taken at its word."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from server.analyze.anchoring import Bounds, anchor
from server.analyze.risk import RISK_BANDS, RiskLevel, risk_level
from server.analyze.schema import RiskAssessment

LEVELS = [level for level, _low, _high in RISK_BANDS]
SEEN = frozenset({"person", "car"})


def assessment(
    score: int, summary: str = "model summary", factors: tuple[str, ...] = ("model factor",)
) -> RiskAssessment:
    return RiskAssessment(
        risk_factors=list(factors), reasoning=f"reasoning of {summary}", risk_score=score, summary=summary
    )


@pytest.mark.parametrize(
    ("evidence", "bounds"),
    [
        (0, (0, 59)),
        (29, (0, 59)),
        (30, (30, 84)),
        (59, (30, 84)),
        (60, (60, 100)),
        (85, (85, 100)),
        (100, (85, 100)),
    ],
)
def test_a_model_may_move_within_the_evidence_band_and_one_above(
    evidence: int, bounds: tuple[int, int]
) -> None:
    assert Bounds.around(evidence) == Bounds(*bounds)


@given(model=st.integers(0, 100), evidence=st.integers(0, 100))
def test_the_final_level_is_the_evidence_level_or_one_above(model: int, evidence: int) -> None:
    final = anchor(assessment(model), assessment(evidence, "facts"), "llama_cpp", SEEN).risk_score
    got, floor = LEVELS.index(risk_level(final)), LEVELS.index(risk_level(evidence))
    assert floor <= got <= floor + 1
    if risk_level(evidence) is RiskLevel.LOW:
        assert risk_level(final) in (RiskLevel.LOW, RiskLevel.MEDIUM)  # routine never becomes an alarm
    if evidence >= 60:
        assert final >= 60  # a threat never becomes nothing


def test_a_model_within_its_bounds_is_taken_as_it_answered() -> None:
    model = assessment(45, "Someone looked around the driveway late in the evening.")
    assert anchor(model, assessment(35, "facts"), "llama_cpp", frozenset({"person"})) is model
    assert anchor(model, assessment(35, "facts"), "llama_cpp", SEEN) is model
    escalated = assessment(80, "A stranger tried the car doors.")
    assert anchor(escalated, assessment(40, "facts"), "llama_cpp", SEEN) is escalated


def test_a_model_outside_its_bounds_is_moved_and_the_facts_tell_the_story() -> None:
    evidence = RiskAssessment(
        risk_factors=["night-time activity", "person at an entry point"],
        reasoning="Rules score 65 (high): person at Front Door (entry point) (0.90); at 02:14, night (+50).",
        risk_score=65,
        summary="Person at Front Door (entry point) on Front Yard at 02:14 (night).",
    )
    model = assessment(0, "The camera was disabled on Tuesday.", ("low", "low detection confidence"))
    bounded = anchor(model, evidence, "llama_cpp", SEEN)
    assert bounded.risk_score == 60 and bounded.risk_level is RiskLevel.HIGH
    assert bounded.summary == evidence.summary
    assert bounded.reasoning.startswith(
        "The llama_cpp model scored 0; raised to 60: the facts put this batch at high (65), which allows 60-100. "
    )
    assert bounded.reasoning.endswith(evidence.reasoning)
    assert bounded.risk_factors == [
        "night-time activity",
        "person at an entry point",
        "low",
        "low detection confidence",
    ]

    lowered = anchor(assessment(95), assessment(10, "A parcel delivery."), "openai", SEEN)
    assert lowered.risk_score == 59 and lowered.summary == "A parcel delivery."
    assert lowered.reasoning.startswith(
        "The openai model scored 95; lowered to 59: the facts put this batch at low"
    )


def test_a_summary_that_names_nothing_seen_gives_way_to_the_facts() -> None:
    evidence = assessment(10, "Car passing on Street at 16:00 (afternoon).")
    model = assessment(10, "The camera was disabled on Tuesday and nothing happened.")
    grounded = anchor(model, evidence, "llama_cpp", frozenset({"car"}))
    assert grounded.risk_score == 10 and grounded.summary == evidence.summary
    assert grounded.reasoning.startswith(
        "The llama_cpp model scored 10; its summary named nothing that was seen. "
    )
    # A plain word for the group counts: "people" names persons, "vehicle" a truck.
    assert anchor(
        assessment(20, "Two people at the door."), evidence, "x", frozenset({"person"})
    ).summary == ("Two people at the door.")
    assert anchor(assessment(20, "A vehicle stopped."), evidence, "x", frozenset({"truck"})).summary == (
        "A vehicle stopped."
    )
    # A class named inside another word is not named ("cat" in "indicates", "car" in "scarcely", "man"
    # in "many": such summaries were kept before); a plural is.
    for summary, seen in (
        ("Nothing indicates a problem at this location.", "cat"),
        ("Scarcely anything moved.", "car"),
        ("Not many things changed.", "man"),
    ):
        assert anchor(assessment(10, summary), evidence, "x", frozenset({seen})).summary == evidence.summary
    plural = anchor(assessment(10, "Two cars parked."), evidence, "x", frozenset({"car"}))
    assert plural.summary == "Two cars parked."
    # Irregular plurals too (a review's finding: "Two men walked up" was replaced by the rules' text).
    for summary in ("Two men walked up to the door.", "Two women stood there.", "Three children played."):
        assert anchor(assessment(10, summary), evidence, "x", frozenset({"person"})).summary == summary
