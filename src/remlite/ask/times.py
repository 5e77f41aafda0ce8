"""Time expressions in questions: found in the text, kept in the plan as written, resolved to a
window of instants (UTC) when the plan runs.

Semantics (the evaluation set in benchmarks/nl_dataset.py uses the same):
    today / yesterday          that calendar day
    this week / last week      Monday 00:00 of the current week .. now / the previous Monday..Sunday
    this month / last month    the 1st 00:00 .. now / the previous calendar month
    this year / last year      likewise for years
    last|past N days|weeks|months|hours   now - N units .. now ("last 7 days"; "recently": 7 days)
    in March [2025]            that month; without a year the most recent March (this year's when it
                               has begun)
    in 2025                    that year
    since|after DATE           DATE .. (open); before|until DATE: (open) .. DATE
    on DATE                    that day;  between DATE and DATE

Hand-written rather than dateparser: these ~12 shapes are all the planner needs, and matching them
costs ~15 µs a question, where `dateparser.search.search_dates` takes milliseconds (it tries every
locale's patterns) — the planner's whole budget is 5 ms.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Final

from remlite.ask.plan import TimeRange
from remlite.errors import InvalidInput

MONTHS: Final = {
    name: number
    for number, names in enumerate(
        [
            ("january", "jan"),
            ("february", "feb"),
            ("march", "mar"),
            ("april", "apr"),
            ("may",),
            ("june", "jun"),
            ("july", "jul"),
            ("august", "aug"),
            ("september", "sep", "sept"),
            ("october", "oct"),
            ("november", "nov"),
            ("december", "dec"),
        ],
        1,
    )
    for name in names
}
_MONTH = (
    r"(january|february|march|april|may|june|july|august|september|sept|october|november|december"
    r"|jan|feb|mar|apr|jun|jul|aug|sep|oct|nov|dec)"
)
_DATE = r"(\d{4}-\d{2}-\d{2}(?:[t ]\d{2}:\d{2}(?::\d{2})?)?z?)"
_UNITS: Final = {"hour": "hours", "day": "days", "week": "weeks", "month": "months", "year": "years"}
_NUMBERS: Final = {
    "a": 1,
    "an": 1,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "ten": 10,
    "thirty": 30,
    "few": 3,
    "couple of": 2,
}

# (pattern, how its match becomes a TimeRange); the first pattern that matches wins, so longer
# forms come first ("last 7 days" before "last week").
_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(rf"\bbetween {_DATE} and {_DATE}\b"), "between"),
    (re.compile(rf"\b(?:since|after|from) {_DATE}"), "since"),
    (re.compile(rf"\b(?:before|until|till) {_DATE}"), "until"),
    (re.compile(rf"\bon {_DATE}"), "on"),
    (
        re.compile(
            r"\b(?:in the )?(?:last|past|previous) "
            r"(\d+|a|an|one|two|three|four|five|six|seven|ten|thirty|few|couple of) "
            r"(hour|day|week|month|year)s?\b"
        ),
        "relative",
    ),
    (
        re.compile(
            r"\b(today|yesterday|this week|last week|this month|last month|this year|last year|recently|"
            r"past week|past month|past year)\b"
        ),
        "named",
    ),
    (re.compile(rf"\b(?:in|during|of) {_MONTH}(?: (\d{{4}}))?\b"), "month"),
    (re.compile(rf"\b{_MONTH} (\d{{4}})\b"), "month"),
    (re.compile(r"\b(?:in|during) (\d{4})\b"), "year"),
    (re.compile(rf"\b{_DATE}\b"), "on"),
]
_SYNONYMS: Final = {
    "past week": "last 7 days",
    "past month": "last 30 days",
    "past year": "last 365 days",
    "recently": "last 7 days",
}


def find_time(text: str) -> tuple[TimeRange, tuple[int, int]] | None:
    """The first time expression in lower-cased `text` and where it is, or None."""
    for pattern, shape in _PATTERNS:
        match = pattern.search(text)
        if match is None:
            continue
        groups = match.groups()
        if shape == "between":
            found = TimeRange(since=groups[0], until=groups[1])
        elif shape == "since":
            found = TimeRange(since=groups[0])
        elif shape == "until":
            found = TimeRange(until=groups[0])
        elif shape == "on":
            found = TimeRange(since=groups[0][:10], until=groups[0][:10])
        elif shape == "relative":
            amount = groups[0] if groups[0].isdigit() else str(_NUMBERS[groups[0]])
            found = TimeRange(phrase=f"last {amount} {groups[1]}s")
        elif shape == "named":
            found = TimeRange(phrase=_SYNONYMS.get(groups[0], groups[0]))
        elif shape == "month":
            found = TimeRange(phrase=f"in {groups[0]}" + (f" {groups[1]}" if groups[1] else ""))
        else:
            found = TimeRange(phrase=f"in {groups[0]}")
        return found, match.span()
    return None


def resolve(window: TimeRange, now: datetime | None = None) -> tuple[datetime | None, datetime | None]:
    """The window's [since, until] as UTC instants (None: open); InvalidInput for a phrase or date
    it cannot read (a plan from an LLM or an HTTP body may hold anything)."""
    current = now or datetime.now(UTC)
    if window.phrase is not None:
        return _phrase(window.phrase.strip().lower(), current)
    return (
        _instant(window.since, end=False) if window.since else None,
        _instant(window.until, end=True) if window.until else None,
    )


def _phrase(phrase: str, now: datetime) -> tuple[datetime, datetime]:
    today = datetime(now.year, now.month, now.day, tzinfo=UTC)
    phrase = _SYNONYMS.get(phrase, phrase)
    if phrase == "today":
        return today, now
    if phrase == "yesterday":
        return today - timedelta(days=1), today - timedelta(microseconds=1)
    monday = today - timedelta(days=today.weekday())
    if phrase == "this week":
        return monday, now
    if phrase == "last week":
        return monday - timedelta(days=7), monday - timedelta(microseconds=1)
    first = today.replace(day=1)
    if phrase == "this month":
        return first, now
    if phrase == "last month":
        return _month_start(first - timedelta(days=1)), first - timedelta(microseconds=1)
    if phrase == "this year":
        return today.replace(month=1, day=1), now
    if phrase == "last year":
        return datetime(now.year - 1, 1, 1, tzinfo=UTC), datetime(now.year, 1, 1, tzinfo=UTC) - timedelta(
            microseconds=1
        )
    match = re.fullmatch(r"last (\d+) (hour|day|week|month|year)s?", phrase)
    if match:
        amount, unit = int(match.group(1)), match.group(2)
        if unit == "month":
            delta = timedelta(days=30 * amount)
        elif unit == "year":
            delta = timedelta(days=365 * amount)
        else:
            delta = timedelta(**{_UNITS[unit]: amount})
        return now - delta, now
    match = re.fullmatch(rf"in {_MONTH}(?: (\d{{4}}))?", phrase)
    if match:
        month = MONTHS[match.group(1)]
        year = int(match.group(2)) if match.group(2) else (now.year if month <= now.month else now.year - 1)
        start = datetime(year, month, 1, tzinfo=UTC)
        return start, _month_start(start + timedelta(days=32)) - timedelta(microseconds=1)
    match = re.fullmatch(r"in (\d{4})", phrase)
    if match:
        year = int(match.group(1))
        return datetime(year, 1, 1, tzinfo=UTC), datetime(year + 1, 1, 1, tzinfo=UTC) - timedelta(microseconds=1)
    raise InvalidInput(f"not a time phrase: {phrase!r} (e.g. 'this week', 'last 7 days', 'in March', 'last month')")


def _month_start(day: datetime) -> datetime:
    return datetime(day.year, day.month, 1, tzinfo=UTC)


def _instant(text: str, *, end: bool) -> datetime:
    value = text.strip().replace(" ", "T").upper()
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            start = datetime(day.year, day.month, day.day, tzinfo=UTC)
            return start + timedelta(days=1, microseconds=-1) if end else start
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(f"not a date or time: {text!r} (use ISO 8601, e.g. 2025-10-01)") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
