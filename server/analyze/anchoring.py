"""The evidence bounds the model: an LLM's score may move within the band the facts put a batch in, and
one band above it, never below it and never further up.

Why: the same facts give the rules scorer a score calibrated on labelled scenarios (routine activity low,
threats high or critical); a language model reads the facts more flexibly, but a weak or miscalibrated
one scores a person with a knife at the door 0 and a parcel delivery 90. With the model's score clamped to
`[floor of the evidence's band, ceiling of the band above]`:

- routine activity (evidence low) can reach medium at most, never high or critical, whatever the model;
- a threat (evidence high or critical) stays high or critical, whatever the model;
- a model that agrees with the evidence, or escalates it by one band, is taken at its word.

When the model's own score had to be moved, its explanation does not match the score the event gets
(and a model that far off the facts often wrote little sense), so the event carries the evidence's
summary, and the reasoning says what the model said and why it was bounded. Risk factors of both count.
The same holds for a summary that names nothing that was seen (a small model's "the camera was
disabled on Tuesday" for a parcel delivery): a notification must say what the camera saw.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass

from server.analyze.risk import RISK_BANDS, RiskLevel, risk_level
from server.analyze.schema import REASONING_MAX_CHARS, RISK_FACTORS_MAX_ITEMS, RiskAssessment, fit
from server.vocabulary import ObjectGroup, group_of


@dataclass(frozen=True, slots=True)
class Bounds:
    """The scores a model may give a batch whose evidence scored `evidence`."""

    low: int
    high: int

    @classmethod
    def around(cls, evidence: int) -> Bounds:
        levels = [level for level, _low, _high in RISK_BANDS]
        index = levels.index(risk_level(evidence))
        return cls(RISK_BANDS[index][1], RISK_BANDS[min(index + 1, len(RISK_BANDS) - 1)][2])

    def clamp(self, score: int) -> int:
        return min(max(score, self.low), self.high)


#: Words that name an object of a group in a summary, besides the class names themselves (irregular
#: plurals listed: `names_what_was_seen` adds only -s and -es).
GROUP_WORDS: dict[ObjectGroup, tuple[str, ...]] = {
    ObjectGroup.PERSON: (
        "people",
        "someone",
        "somebody",
        "man",
        "men",
        "woman",
        "women",
        "visitor",
        "stranger",
        "resident",
        "child",
        "children",
        "kid",
    ),
    ObjectGroup.VEHICLE: ("vehicle", "van", "pickup"),
    ObjectGroup.ANIMAL: ("animal", "pet"),
}


def names_what_was_seen(summary: str, seen: Collection[str]) -> bool:
    """Whether the summary mentions one of the classes seen (or a plain word for its group), as a word
    of its own or its plural: "cat" is not in "indicates", nor "man" in "many"."""
    text = summary.lower()
    words = {name.lower() for name in seen} | {
        word for name in seen for word in GROUP_WORDS.get(group_of(name), ())
    }
    return any(re.search(rf"\b{re.escape(word)}(?:s|es)?\b", text) for word in words)


def anchor(
    model: RiskAssessment, evidence: RiskAssessment, backend: str, seen: Collection[str]
) -> RiskAssessment:
    """The assessment an event gets from `model`'s answer, bounded by the `evidence` (the rules scorer's)
    for a batch in which the classes `seen` were detected."""
    bounds = Bounds.around(evidence.risk_score)
    score = bounds.clamp(model.risk_score)
    grounded = names_what_was_seen(model.summary, seen)
    if score == model.risk_score and grounded:
        return model
    level: RiskLevel = risk_level(evidence.risk_score)
    if score != model.risk_score:
        direction = "raised" if score > model.risk_score else "lowered"
        note = (
            f"The {backend} model scored {model.risk_score}; {direction} to {score}: the facts put this batch "
            f"at {level.value} ({evidence.risk_score}), which allows {bounds.low}-{bounds.high}. "
        )
    else:
        note = f"The {backend} model scored {score}; its summary named nothing that was seen. "
    factors = list(dict.fromkeys([*evidence.risk_factors, *model.risk_factors]))[:RISK_FACTORS_MAX_ITEMS]
    return RiskAssessment(
        risk_factors=factors,
        reasoning=fit(note + evidence.reasoning, REASONING_MAX_CHARS),
        risk_score=score,
        summary=evidence.summary,
    )
