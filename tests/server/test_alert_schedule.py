"""Alert rule schedules: validation messages, same-day and overnight windows, timezones and DST."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from server.alerts.schedule import DAY_NAMES, Schedule

ZONES = ["America/Chicago", "Europe/Berlin", "Australia/Lord_Howe", "UTC", "Asia/Kolkata"]


def sched(days: list[str], start: str, end: str, tz: str = "America/Chicago") -> Schedule:
    return Schedule(days=days, start_time=start, end_time=end, timezone=tz)


def at(local: str, tz: str = "America/Chicago", fold: int = 0) -> datetime:
    """An aware instant given as local wall-clock time in `tz`."""
    return datetime.fromisoformat(local).replace(tzinfo=ZoneInfo(tz), fold=fold)


def minutes_inside(schedule: Schedule, utc_start: datetime, hours: int) -> int:
    """Real (elapsed) minutes of [utc_start, utc_start + hours) that the schedule covers."""
    return sum(schedule.contains(utc_start + timedelta(minutes=m)) for m in range(hours * 60))


def error_text(exc: pytest.ExceptionInfo[ValidationError]) -> str:
    return " | ".join(e["msg"] for e in exc.value.errors())


# --- validation -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("start_time", "25:00", "'25:00' is not a valid time: the hour must be 00-23"),
        ("end_time", "12:60", "'12:60' is not a valid time: the minutes must be 00-59"),
        ("start_time", "7:00", "'7:00' is not a time in HH:MM form"),
        ("start_time", "07:00:00", "'07:00:00' is not a time in HH:MM form"),
        ("end_time", "noon", "'noon' is not a time in HH:MM form"),
        ("timezone", "Mars/Olympus_Mons", "unknown timezone 'Mars/Olympus_Mons'"),
        ("timezone", "america/chicago", "unknown timezone 'america/chicago'"),
        ("timezone", "", "unknown timezone ''"),
        ("timezone", "../../etc/passwd", "unknown timezone '../../etc/passwd'"),
        ("timezone", "localtime", "unknown timezone 'localtime'"),
        ("days", [], "days must list at least one day"),
        ("days", ["monday"], "unknown day 'monday': use three-letter lower-case names"),
        ("days", ["Mon"], "unknown day 'Mon'"),
        ("days", ["mon", "tue", "mon"], "day 'mon' is listed more than once"),
    ],
)
def test_invalid_values_are_rejected_with_a_clear_message(field: str, value: object, message: str) -> None:
    data: dict[str, object] = {"days": ["mon"], "start_time": "22:00", "end_time": "06:00", "timezone": "UTC"}
    data[field] = value
    with pytest.raises(ValidationError) as exc:
        Schedule.model_validate(data)
    assert message in error_text(exc)
    assert exc.value.errors()[0]["loc"] == (field,)


def test_unknown_fields_are_rejected() -> None:
    with pytest.raises(ValidationError) as exc:
        Schedule.model_validate(
            {"days": ["mon"], "start_time": "22:00", "end_time": "06:00", "timezone": "UTC", "tz": "UTC"}
        )
    assert exc.value.errors()[0]["type"] == "extra_forbidden"


def test_without_a_timezone_it_follows_the_home_zone_once_resolved() -> None:
    home = Schedule.model_validate({"days": ["mon"], "start_time": "22:00", "end_time": "06:00"})
    assert home.timezone is None and "home time" in home.describe()
    # Unresolved it cannot say what time it is: evaluating it is a programming error, said loudly.
    with pytest.raises(ValueError, match="in_home_zone"):
        home.contains(datetime(2025, 1, 6, 23, 0, tzinfo=UTC))
    # Monday 23:00 in Auckland is Monday 10:00 UTC: night at home, although day in UTC.
    auckland = home.in_home_zone("Pacific/Auckland")
    assert auckland.timezone == "Pacific/Auckland"
    assert auckland.contains(datetime(2025, 1, 6, 10, 0, tzinfo=UTC))
    assert not home.in_home_zone("UTC").contains(datetime(2025, 1, 6, 10, 0, tzinfo=UTC))
    # A schedule that names its zone keeps it.
    named = sched(["mon"], "22:00", "06:00", "UTC")
    assert named.in_home_zone("Pacific/Auckland") is named


def test_round_trips_through_json_unchanged() -> None:
    original = {
        "days": ["fri", "sat"],
        "start_time": "22:00",
        "end_time": "06:00",
        "timezone": "Europe/Berlin",
    }
    assert Schedule.model_validate(original).model_dump() == original


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        sched(["mon"], "09:00", "17:00").contains(datetime(2025, 1, 6, 10, 0))


# --- windows ----------------------------------------------------------------------------------------


def test_same_day_window_is_start_inclusive_end_exclusive() -> None:
    s = sched(["mon", "tue", "wed", "thu", "fri"], "09:00", "17:00")
    assert s.contains(at("2025-01-06T09:00"))  # Monday
    assert s.contains(at("2025-01-06T16:59:59"))
    assert not s.contains(at("2025-01-06T17:00"))
    assert not s.contains(at("2025-01-06T08:59:59"))
    assert not s.contains(at("2025-01-04T12:00"))  # Saturday


def test_overnight_window_after_midnight_belongs_to_the_previous_day() -> None:
    friday_night = sched(["fri"], "22:00", "06:00")
    assert friday_night.contains(at("2025-01-10T22:00"))  # Friday evening
    assert friday_night.contains(at("2025-01-10T23:59"))
    assert friday_night.contains(at("2025-01-11T02:00"))  # Saturday 02:00 is still Friday night
    assert friday_night.contains(at("2025-01-11T05:59"))
    assert not friday_night.contains(at("2025-01-11T06:00"))  # end is exclusive
    assert not friday_night.contains(at("2025-01-10T02:00"))  # Friday 02:00 is Thursday night
    assert not friday_night.contains(at("2025-01-11T22:30"))  # Saturday evening: not listed
    assert not friday_night.contains(at("2025-01-10T12:00"))


def test_overnight_window_wraps_from_sunday_to_monday() -> None:
    sunday_night = sched(["sun"], "23:00", "01:00", "Europe/Berlin")
    assert sunday_night.contains(at("2025-01-13T00:30", "Europe/Berlin"))  # Monday 00:30
    assert not sunday_night.contains(at("2025-01-12T00:30", "Europe/Berlin"))  # Sunday 00:30: Sat night


def test_equal_start_and_end_means_the_whole_day() -> None:
    s = sched(["sat"], "00:00", "00:00")
    assert s.contains(at("2025-01-11T00:00"))
    assert s.contains(at("2025-01-11T23:59:59"))
    assert not s.contains(at("2025-01-12T00:00"))
    assert not s.contains(at("2025-01-10T23:59:59"))


def test_instants_are_judged_in_the_schedules_own_timezone() -> None:
    # 2025-01-06T20:30Z is Monday 21:30 in Berlin and Monday 14:30 in Chicago.
    instant = datetime(2025, 1, 6, 20, 30, tzinfo=UTC)
    assert sched(["mon"], "21:00", "22:00", "Europe/Berlin").contains(instant)
    assert not sched(["mon"], "21:00", "22:00", "America/Chicago").contains(instant)
    assert sched(["mon"], "14:00", "15:00", "America/Chicago").contains(instant)
    # Kolkata's +05:30 pushes the same instant into Tuesday 02:00, i.e. Monday night.
    assert sched(["mon"], "22:00", "06:00", "Asia/Kolkata").contains(instant)
    assert not sched(["tue"], "22:00", "06:00", "Asia/Kolkata").contains(instant)


# --- DST --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tz", "day", "start", "end", "real_minutes"),
    [
        # Spring forward: 02:00 -> 03:00 in Chicago; 02:xx never happens.
        ("America/Chicago", "2025-03-09", "02:00", "03:00", 0),
        ("America/Chicago", "2025-03-09", "01:00", "04:00", 120),
        ("America/Chicago", "2025-03-09", "02:30", "03:30", 30),
        # Fall back: 01:00-02:00 happens twice.
        ("America/Chicago", "2025-11-02", "01:00", "02:00", 120),
        ("America/Chicago", "2025-11-02", "00:00", "00:00", 25 * 60),
        # Berlin: 02:00 -> 03:00 in March, 03:00 -> 02:00 in October.
        ("Europe/Berlin", "2025-03-30", "00:00", "00:00", 23 * 60),
        ("Europe/Berlin", "2025-10-26", "02:00", "03:00", 120),
        # Lord Howe shifts by 30 minutes: 02:00 -> 02:30 in October, 02:00 -> 01:30 in April.
        ("Australia/Lord_Howe", "2025-10-05", "02:00", "03:00", 30),
        ("Australia/Lord_Howe", "2025-10-05", "00:00", "00:00", 23 * 60 + 30),
        ("Australia/Lord_Howe", "2025-04-06", "01:30", "02:00", 60),
        ("Australia/Lord_Howe", "2025-04-06", "00:00", "00:00", 24 * 60 + 30),
    ],
)
def test_windows_follow_the_wall_clock_across_dst(
    tz: str, day: str, start: str, end: str, real_minutes: int
) -> None:
    weekday = DAY_NAMES[datetime.fromisoformat(day).weekday()]
    s = sched([weekday], start, end, tz)
    local_midnight = at(f"{day}T00:00", tz)
    covered = minutes_inside(s, local_midnight.astimezone(UTC) - timedelta(hours=2), 30)
    assert covered == real_minutes


@pytest.mark.parametrize(
    ("tz", "night", "real_hours"),
    [
        ("Europe/Berlin", "2025-03-29", 7),  # Saturday 22:00 -> Sunday 06:00 loses an hour
        ("Europe/Berlin", "2025-10-25", 9),  # ... and gains one in autumn
        ("America/Chicago", "2025-03-08", 7),
        ("America/Chicago", "2025-11-01", 9),
        ("Australia/Lord_Howe", "2025-10-04", 7.5),
        ("Australia/Lord_Howe", "2025-04-05", 8.5),
    ],
)
def test_overnight_window_across_a_dst_change(tz: str, night: str, real_hours: float) -> None:
    s = sched(["sat"], "22:00", "06:00", tz)
    noon = at(f"{night}T12:00", tz).astimezone(UTC)
    assert minutes_inside(s, noon, 24) == real_hours * 60


def test_fall_back_hour_is_covered_in_both_folds() -> None:
    s = sched(["sun"], "01:00", "02:00")
    assert s.contains(at("2025-11-02T01:30", fold=0))  # CDT
    assert s.contains(at("2025-11-02T01:30", fold=1))  # CST, one hour later
    assert at("2025-11-02T01:30", fold=1).astimezone(UTC) - at("2025-11-02T01:30", fold=0).astimezone(
        UTC
    ) == timedelta(hours=1)


# --- properties -------------------------------------------------------------------------------------

instants = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2040, 12, 31), timezones=st.just(UTC)
)
clock = st.builds(time, hour=st.integers(0, 23), minute=st.integers(0, 59))
day_sets = st.lists(st.sampled_from(DAY_NAMES), min_size=1, max_size=7, unique=True)


def hhmm(t: time) -> str:
    return f"{t.hour:02d}:{t.minute:02d}"


@settings(max_examples=300, deadline=None)
@given(instant=instants, tz=st.sampled_from(ZONES), days=day_sets, a=clock, b=clock)
def test_same_day_window_is_local_time_and_weekday(
    instant: datetime, tz: str, days: list[str], a: time, b: time
) -> None:
    start, end = sorted((a, b))
    if start == end:
        return
    s = sched(days, hhmm(start), hhmm(end), tz)
    local = instant.astimezone(ZoneInfo(tz))
    expected = DAY_NAMES[local.weekday()] in days and start <= local.time() < end
    assert s.contains(instant) == expected


@settings(max_examples=300, deadline=None)
@given(instant=instants, tz=st.sampled_from(ZONES), a=clock, b=clock)
def test_everyday_overnight_window_is_the_complement_of_the_day_window(
    instant: datetime, tz: str, a: time, b: time
) -> None:
    early, late = sorted((a, b))
    if early == late:
        return
    every_day = list(DAY_NAMES)
    overnight = sched(every_day, hhmm(late), hhmm(early), tz)
    daytime = sched(every_day, hhmm(early), hhmm(late), tz)
    assert overnight.contains(instant) != daytime.contains(instant)


@settings(max_examples=200, deadline=None)
@given(instant=instants, tz=st.sampled_from(ZONES), a=clock, b=clock, days=day_sets)
def test_overnight_window_is_the_union_of_its_nights(
    instant: datetime, tz: str, a: time, b: time, days: list[str]
) -> None:
    """A multi-day overnight schedule covers an instant iff one of its single-day schedules does."""
    early, late = sorted((a, b))
    if early == late:
        return
    combined = sched(days, hhmm(late), hhmm(early), tz)
    singles = [sched([d], hhmm(late), hhmm(early), tz) for d in days]
    assert combined.contains(instant) == any(s.contains(instant) for s in singles)
