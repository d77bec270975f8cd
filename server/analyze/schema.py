"""The analysis output: one pydantic model, the JSON schema made from it, the grammar made from that.

A model asked for JSON in prose, and read with regular expressions, often answers malformed JSON. Here
one schema drives everything: llama.cpp decodes under a GBNF grammar generated
from it, an OpenAI-compatible server gets it as `response_format`, and every answer, whichever backend
wrote it, goes through the same strict `json.loads` + validation. No regex extraction anywhere.
"""

from __future__ import annotations

import copy
import json
import re
from functools import lru_cache
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints, ValidationError

from server.analyze.errors import AnalysisOutputError
from server.analyze.risk import MAX_SCORE, MIN_SCORE, RiskLevel, risk_level

SUMMARY_MAX_CHARS = 300
REASONING_MAX_CHARS = 1000
RISK_FACTORS_MAX_ITEMS = 8
RISK_FACTOR_MAX_CHARS = 80

#: Order in which the model writes the fields: factors and reasoning before the score, so a real LLM
#: commits to its evidence first and scores from it (better calibrated than score-first).
FIELD_ORDER = ("risk_factors", "reasoning", "risk_score", "summary")

_CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _clean_text(value: Any) -> Any:
    """A text without its control characters (tabs and line breaks aside) and surrounding blanks, before
    it is validated: no notification wants them, a text of blanks is no text (the length limits are
    checked after this), and PostgreSQL's text cannot hold NUL at all (an answer with one could not be
    stored, so its event would never be refined). The grammar keeps llama.cpp from writing control
    characters; an OpenAI-compatible server that ignores `response_format` may (`"\\u0000"` is JSON)."""
    return _CONTROL_CHARACTERS.sub("", value).strip() if isinstance(value, str) else value


#: A text of the output, cleaned (see above) before its length limits are checked.
Text = Annotated[str, BeforeValidator(_clean_text)]
RiskFactor = Annotated[
    str, StringConstraints(min_length=1, max_length=RISK_FACTOR_MAX_CHARS), BeforeValidator(_clean_text)
]


class RiskAssessment(BaseModel):
    """What every backend returns for a batch. `risk_level` is derived, never part of the output."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, title="RiskAssessment")

    risk_factors: list[RiskFactor] = Field(
        max_length=RISK_FACTORS_MAX_ITEMS, description="Short phrases: what raised or lowered the risk."
    )
    reasoning: Text = Field(
        min_length=1, max_length=REASONING_MAX_CHARS, description="Why this score, in a few sentences."
    )
    risk_score: int = Field(ge=MIN_SCORE, le=MAX_SCORE, description="0 (nothing of note) to 100.")
    summary: Text = Field(
        min_length=1, max_length=SUMMARY_MAX_CHARS, description="One sentence for a notification."
    )

    @property
    def risk_level(self) -> RiskLevel:
        """The band of `risk_score` (the one definition in `server.analyze.risk`)."""
        return risk_level(self.risk_score)


#: The JSON schema of the output, for `response_format` and for documentation (OpenAPI).
ASSESSMENT_JSON_SCHEMA: dict[str, Any] = RiskAssessment.model_json_schema()

# environment.md: the stock `char` rule admits raw control characters, which strict JSON refuses. One
# step further than that recipe, `\\uXXXX` escapes are left out too: raw UTF-8 already spells every
# character a text needs, a lone surrogate escape (`\\ud800`) is JSON that pydantic refuses as a string,
# and without 6-byte escapes no character costs more than 4 bytes, which bounds the answer's length.
_STRICT_CHAR_RULE = r'char ::= [^"\\\x7F\x00-\x1F] | "\\" ["\\/bfnrt]'
#: Most bytes one grammar `char` can take: a 4-byte UTF-8 character (escapes take 2).
_MAX_CHAR_BYTES = 4
_CHAR_RULE_LINE = re.compile(r"^char ::= .*$", re.MULTILINE)


def _bounded_integers_as_enums(node: Any) -> Any:
    """Rewrite `{"type": "integer", minimum, maximum}` as an enum of its values, recursively.

    llama-cpp-python's converter ignores integer bounds (it would let a model write 999 or -5); an
    enum of the 101 literals is the same set, which the converter does constrain.
    """
    if isinstance(node, list):
        return [_bounded_integers_as_enums(item) for item in node]
    if not isinstance(node, dict):
        return node
    if node.get("type") == "integer" and "minimum" in node and "maximum" in node:
        low, high = int(node["minimum"]), int(node["maximum"])
        if high - low > 1000:
            raise ValueError(f"integer range {low}..{high} too wide to spell out in a grammar")
        return {"enum": list(range(low, high + 1))}
    return {key: _bounded_integers_as_enums(value) for key, value in node.items()}


def gbnf_from_schema(schema: dict[str, Any], prop_order: tuple[str, ...] = ()) -> str:
    """GBNF for `schema`: llama-cpp-python's converter, integer bounds kept, control characters out."""
    from llama_cpp.llama_grammar import json_schema_to_gbnf  # heavy import, only where a grammar is built

    grammar = json_schema_to_gbnf(
        json.dumps(_bounded_integers_as_enums(copy.deepcopy(schema))), prop_order=list(prop_order)
    )
    if not _CHAR_RULE_LINE.search(grammar):
        raise RuntimeError("llama_cpp's grammar has no `char ::=` rule to make strict; check its version")
    return _CHAR_RULE_LINE.sub(lambda _match: _STRICT_CHAR_RULE, grammar)


@lru_cache(maxsize=1)
def assessment_grammar() -> str:
    """The GBNF grammar of `RiskAssessment`, fields in `FIELD_ORDER`."""
    return gbnf_from_schema(ASSESSMENT_JSON_SCHEMA, FIELD_ORDER)


def max_output_bytes(schema: dict[str, Any], root: dict[str, Any] | None = None) -> int:
    """Upper bound on the bytes of any text the grammar of `schema` accepts (with llama.cpp's converter).

    Covers the subset the assessment uses (objects with all properties required, arrays with maxItems,
    strings with maxLength, enums, $ref); anything else is refused rather than guessed. Each `space` is
    at most one byte, each string character at most `_MAX_CHAR_BYTES`.
    """
    root = root or schema
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return max_output_bytes(root["$defs"][name], root)
    if "enum" in schema:
        return max(len(json.dumps(value)) for value in schema["enum"]) + 1
    kind = schema.get("type")
    if kind == "string" and "maxLength" in schema:
        return 2 + schema["maxLength"] * _MAX_CHAR_BYTES + 1
    if kind == "integer" and "minimum" in schema and "maximum" in schema:
        return max(len(str(schema["minimum"])), len(str(schema["maximum"]))) + 1
    if kind == "array" and "maxItems" in schema:
        item = max_output_bytes(schema["items"], root)
        return 2 + 2 + schema["maxItems"] * (item + 2)
    if kind == "object" and "properties" in schema:
        total = 2 + 1  # braces, space
        for key, value in schema["properties"].items():
            total += len(json.dumps(key)) + 1 + 1 + 1 + max_output_bytes(value, root) + 2  # key : sep
        return total
    raise ValueError(f"cannot bound the output length of schema {schema!r}")


#: No answer under the grammar is longer than this; a token carries ≥ 1 byte, so it is a token bound too.
ASSESSMENT_MAX_BYTES: int = max_output_bytes(ASSESSMENT_JSON_SCHEMA)


def fit(text: str, limit: int) -> str:
    """Shorten `text` to `limit` characters on a word boundary, with an ellipsis (for the fields above)."""
    if len(text) <= limit:
        return text
    return text[: limit - 1].rsplit(" ", 1)[0] + "…"


def parse_assessment(text: str) -> RiskAssessment:
    """Strictly parse one backend answer; AnalysisOutputError says exactly what is wrong.

    The whole text must be one JSON object (surrounding whitespace aside) and valid against the schema:
    no extracting a JSON-looking part from prose, no coercing "42" into 42.
    """
    if not isinstance(text, str):
        raise AnalysisOutputError(f"output is {type(text).__name__}, not text")
    if not text.strip():
        raise AnalysisOutputError("output is empty")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        start = max(0, err.pos - 20)
        near = text[start : err.pos + 20]
        raise AnalysisOutputError(
            f"output is not valid JSON: {err.msg} at line {err.lineno} column {err.colno} "
            f"(char {err.pos}), near {near!r}"
        ) from None
    if not isinstance(data, dict):
        raise AnalysisOutputError(f"output must be a JSON object, got {type(data).__name__}")
    try:
        return RiskAssessment.model_validate(data)
    except ValidationError as err:
        raise AnalysisOutputError(f"output does not match the schema: {describe_errors(err)}") from None


def describe_errors(err: ValidationError) -> str:
    """`risk_score: Input should be less than or equal to 100 (got 150)`; problems joined by '; '."""
    problems = []
    for problem in err.errors():
        where = ".".join(str(part) for part in problem.get("loc", ())) or "output"
        shown = problem.get("input")
        got = "" if problem["type"] == "missing" else f" (got {_short_repr(shown)})"
        problems.append(f"{where}: {problem['msg']}{got}")
    return "; ".join(problems)


def _short_repr(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"
