"""When an alert rule is active: weekdays plus a daily wall-clock window in an IANA timezone.

Semantics (fixed and tested here):

* `start_time < end_time`: a same-day window `[start, end)` on each listed day.
* `start_time > end_time`: an overnight window. It *starts* on a listed day and runs past midnight;
  the part after midnight belongs to the previous day's entry. "fri 22:00-06:00" therefore covers
  Saturday 02:00 but not Friday 02:00 (that belongs to a Thursday night). This matches how people say
  it ("Friday night") and keeps a schedule's days meaning "the nights that start on these days".
* `start_time == end_time`: the whole of each listed day (00:00 to 24:00 local).

DST: the window is compared with the instant's *local wall-clock* time, obtained by converting the
aware instant with zoneinfo. Every real instant has exactly one wall-clock reading, so nothing is
ambiguous at evaluation time. Consequences, on purpose: a window boundary that falls into a
spring-forward gap (e.g. 02:30 in America/Chicago on the second Sunday of March) simply is never
reached that night, so the window is shorter by the gap; a window covering a fall-back hour covers
both occurrences of that hour (it is longer). This is what a wall clock on the wall would do.
"""

from __future__ import annotations

import re
from datetime import datetime, time
from functools import cache, lru_cache
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, WithJsonSchema

from server.alerts.errors import invalid

DAY_NAMES: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
"""Index in this tuple == `datetime.weekday()`."""

_HHMM = re.compile(r"^(\d{2}):(\d{2})$")


def parse_hhmm(value: str) -> time:
    """Parse "HH:MM" (00:00-23:59) strictly; the message says exactly what is wrong."""
    match = _HHMM.match(value)
    if match is None:
        raise invalid("time_format", f"'{value}' is not a time in HH:MM form (e.g. '06:30')")
    hour, minute = int(match.group(1)), int(match.group(2))
    if hour > 23:
        raise invalid("time_range", f"'{value}' is not a valid time: the hour must be 00-23")
    if minute > 59:
        raise invalid("time_range", f"'{value}' is not a valid time: the minutes must be 00-59")
    return time(hour, minute)


def _check_hhmm(value: str) -> str:
    parse_hhmm(value)
    return value


@cache
def _zone_names() -> frozenset[str]:
    """The IANA zone names of the time zone database (read once: it walks the database's folder)."""
    return frozenset(available_timezones())


@lru_cache(maxsize=256)
def load_timezone(name: str) -> ZoneInfo:
    """Resolve an IANA name; cached because every rule evaluation needs it."""
    try:
        if name.rsplit("/", 1)[-1] == "localtime":
            # /etc/localtime-style keys mean "whatever this host is set to": a rule must not change
            # meaning when the server moves.
            raise ZoneInfoNotFoundError(name)
        if name not in _zone_names():
            # The host's other trees (`right/…` counts leap seconds, `posix/…`, `posixrules`) are
            # files ZoneInfo reads, but no IANA names: PostgreSQL, which counts in the zone too,
            # knows none of them.
            raise ZoneInfoNotFoundError(name)
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        # ValueError: keys that are not even well-formed paths ("../x", "", absolute paths).
        raise invalid(
            "timezone",
            f"unknown timezone '{name}': use an IANA name such as 'Europe/Berlin' or 'UTC'",
        ) from None


def _check_timezone(value: str) -> str:
    load_timezone(value)
    return value


def _check_days(value: list[str]) -> list[str]:
    if not value:
        raise invalid("days_empty", "days must list at least one day (mon, tue, wed, thu, fri, sat, sun)")
    seen: set[str] = set()
    for day in value:
        if day not in DAY_NAMES:
            raise invalid(
                "day",
                f"unknown day '{day}': use three-letter lower-case names mon, tue, wed, thu, fri, sat, sun",
            )
        if day in seen:
            raise invalid("day_repeated", f"day '{day}' is listed more than once")
        seen.add(day)
    return value


# The JSON schemas describe the accepted values precisely (for OpenAPI clients and fuzzers) while
# the validators keep producing the human messages above rather than pydantic's generic ones.
HHMM = Annotated[
    str,
    AfterValidator(_check_hhmm),
    WithJsonSchema({"type": "string", "pattern": "^([01][0-9]|2[0-3]):[0-5][0-9]$", "examples": ["22:00"]}),
]
Days = Annotated[
    list[str],
    AfterValidator(_check_days),
    WithJsonSchema(
        {
            "type": "array",
            "items": {"enum": list(DAY_NAMES)},
            "minItems": 1,
            "maxItems": 7,
            "uniqueItems": True,
        }
    ),
]
TimezoneName = Annotated[str, AfterValidator(_check_timezone)]


class Schedule(BaseModel):
    """A rule's active time; stored as JSON in `alert_rules.schedule` exactly as given.

    A schedule without a timezone follows the home's zone (the server's `HSI_TIMEZONE`), so a default
    rule such as "a person at night" means night where the home is, and keeps meaning it when the
    setting changes. Whoever evaluates such a schedule resolves it first (`in_home_zone`).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    days: Days = Field(description="Days a window starts on: mon..sun, lower-case.")
    start_time: HHMM = Field(description="Local start, HH:MM (inclusive).")
    end_time: HHMM = Field(description="Local end, HH:MM (exclusive); earlier than start = overnight.")
    timezone: TimezoneName | None = Field(
        default=None,
        description="IANA timezone the times are in, e.g. America/Chicago; null: the home's zone (HSI_TIMEZONE).",
    )

    def in_home_zone(self, home_timezone: str) -> Schedule:
        """This schedule with `home_timezone` filled in when it names no zone of its own."""
        return self if self.timezone is not None else self.model_copy(update={"timezone": home_timezone})

    @property
    def start(self) -> time:
        return parse_hhmm(self.start_time)

    @property
    def end(self) -> time:
        return parse_hhmm(self.end_time)

    @property
    def tz(self) -> ZoneInfo:
        if self.timezone is None:
            raise ValueError("this schedule follows the home's zone: resolve it with in_home_zone first")
        return load_timezone(self.timezone)

    def local(self, instant: datetime) -> datetime:
        """The wall-clock reading of `instant` in this schedule's timezone."""
        if instant.tzinfo is None or instant.utcoffset() is None:
            raise ValueError("Schedule.contains needs a timezone-aware datetime")
        return instant.astimezone(self.tz)

    def contains(self, instant: datetime) -> bool:
        """Whether `instant` (aware) falls inside the schedule; see the module docstring."""
        local = self.local(instant)
        wall = local.time().replace(tzinfo=None)
        today = DAY_NAMES[local.weekday()]
        start, end = self.start, self.end
        if start == end:
            return today in self.days
        if start < end:
            return today in self.days and start <= wall < end
        if wall >= start:
            return today in self.days
        yesterday = DAY_NAMES[(local.weekday() - 1) % 7]
        return wall < end and yesterday in self.days

    def describe(self) -> str:
        """Short human form for "why not" messages, e.g. "mon,fri 22:00-06:00 America/Chicago"."""
        return f"{','.join(self.days)} {self.start_time}-{self.end_time} {self.timezone or 'home time'}"
