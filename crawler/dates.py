"""Publication dates as ISO 8601 with an offset, from whatever form an outlet prints."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from functools import lru_cache
from zoneinfo import ZoneInfo

# Oldest date we believe for an online news article; anything before is a parsing accident.
EARLIEST = datetime(1990, 1, 1, tzinfo=UTC)

# Indonesian zone abbreviations that dateparser does not know.
_ZONES = {"WIB": "+07:00", "WITA": "+08:00", "WIT": "+09:00", "ICT": "+07:00"}
_ZONE_RE = re.compile(r"\b(WIB|WITA|WIT|ICT)\b")

# dateparser knows full Thai month names but not the dotted abbreviations newspapers print.
_THAI_ABBR = {
    "ม.ค.": "มกราคม", "ก.พ.": "กุมภาพันธ์", "มี.ค.": "มีนาคม", "เม.ย.": "เมษายน",
    "พ.ค.": "พฤษภาคม", "มิ.ย.": "มิถุนายน", "ก.ค.": "กรกฎาคม", "ส.ค.": "สิงหาคม",
    "ก.ย.": "กันยายน", "ต.ค.": "ตุลาคม", "พ.ย.": "พฤศจิกายน", "ธ.ค.": "ธันวาคม",
}
# Thai Buddhist-era years (2567 BE = 2024 CE) are 543 ahead of the common era.
_BE_OFFSET = 543
_YEAR_RE = re.compile(r"(?<!\d)(2[4-6]\d\d)(?!\d)")
_THAI_NOISE = re.compile(r"(วันที่|วัน(จันทร์|อังคาร|พุธ|พฤหัสบดี|พฤหัส|ศุกร์|เสาร์|อาทิตย์)|พ\.ศ\.|เวลา|น\.)")


@lru_cache(maxsize=64)
def _zone(name: str) -> ZoneInfo | timezone:
    try:
        return ZoneInfo(name)
    except Exception:
        return UTC


def _plausible(dt: datetime, now: datetime | None = None) -> bool:
    now = now or datetime.now(UTC)
    return EARLIEST <= dt <= now + timedelta(days=2)


def _finish(dt: datetime, tz: str) -> datetime:
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=_zone(tz))
    return dt


def parse_date(value: object, tz: str = "UTC", *, now: datetime | None = None) -> datetime | None:
    """A timezone-aware datetime from `value`, or None when it is absent, unreadable or absurd.

    A value without an offset is taken in the source's time zone `tz`.
    """
    if value is None:
        return None
    if isinstance(value, datetime):
        dt = _finish(value, tz)
        return dt if _plausible(dt, now) else None
    text = " ".join(str(value).split())
    if not text or len(text) > 120:
        return None
    try:
        dt = datetime.fromisoformat(text.replace(" ", "T", 1) if re.match(r"\d{4}-\d\d-\d\d \d", text) else text)
    except ValueError:
        dt = _parse_free(text, tz)
    if dt is None:
        return None
    dt = _finish(dt, tz)
    return dt if _plausible(dt, now) else None


def _parse_free(text: str, tz: str) -> datetime | None:
    offset = None
    m = _ZONE_RE.search(text)
    if m:
        offset = _ZONES[m.group(1)]
        text = _ZONE_RE.sub(" ", text)
    thai = bool(re.search(r"[\u0e00-\u0e7f]", text))
    if thai:
        for abbr, full in _THAI_ABBR.items():
            text = text.replace(abbr, f" {full} ")
        text = _THAI_NOISE.sub(" ", text)
        text = _YEAR_RE.sub(lambda y: str(int(y.group(1)) - _BE_OFFSET), text)
    text = re.sub(r"\s*[|•·]\s*|\s+-\s+", " ", text).strip(" ,")
    settings = {"DATE_ORDER": "DMY", "PREFER_DAY_OF_MONTH": "first", "REQUIRE_PARTS": ["day", "month", "year"]}
    import dateparser  # only for dates printed in words; ISO dates, the common case, never load it

    try:
        dt = dateparser.parse(text, languages=["id", "th", "en"], settings=settings)
    except Exception:  # dateparser raises assorted errors on odd input
        return None
    if dt is None:
        return None
    if offset:
        hours, minutes = offset[1:].split(":")
        sign = 1 if offset[0] == "+" else -1
        dt = dt.replace(tzinfo=timezone(sign * timedelta(hours=int(hours), minutes=int(minutes))))
    elif dt.tzinfo is None:
        dt = dt.replace(tzinfo=_zone(tz))
    return dt


def iso(dt: datetime | None) -> str | None:
    return dt.isoformat() if dt else None


def to_utc_text(dt: datetime) -> str:
    """The form SQLite's datetime() gives, for comparing with archived dates."""
    return dt.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
