"""The severity an alert carries: the rule's own when it names one, else the event's risk level.

A rule written as "anything high or above" or "a person at night" says when to alert, not how bad the
event is; the analysis says that. So a rule without a severity gives its alerts the event's risk level
(`risk_level(score)`: low 0–29 … critical 85–100), and a "high" alert is never raised for a risk-10
"low" event unless a rule asked for exactly that. A rule with a severity keeps it, and the alert says
which of the two it is (`source`), next to the event's risk level, for the notification to show both.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from server.alerts.rule_spec import AlertSeverity
from server.analyze.risk import risk_level
from server.models import Severity

SeveritySource = Literal["rule", "risk", "default"]
"""`rule`: the rule names it; `risk`: the event's risk level; `default`: neither (an unscored event)."""


@dataclass(frozen=True, slots=True)
class AlertSeverityChoice:
    severity: Severity
    source: SeveritySource


def alert_severity(rule_severity: AlertSeverity | None, risk_score: int | None) -> AlertSeverityChoice:
    """The severity of an alert raised by a rule with `rule_severity` for an event scored `risk_score`.

    An event without a score (none is alerted on today: every event is scored, by the rules scorer at
    worst) falls back to medium, and says so.
    """
    if rule_severity is not None:
        return AlertSeverityChoice(Severity(rule_severity.value), "rule")
    if risk_score is None:
        return AlertSeverityChoice(Severity.MEDIUM, "default")
    return AlertSeverityChoice(Severity(risk_level(risk_score).value), "risk")
