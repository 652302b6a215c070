"""Search filters from what a person types (dates, sources, cities, fields), for the command line
and the web page alike: one reading, one set of errors."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

from archive import Archive, resolve_data_dir
from archive.errors import CcnewsError

DATE_FORMS = "YYYY-MM-DD, YYYY-MM, YYYY, an ISO date-time, today, yesterday or N days ago"
FIELDS_HELP = "crafts, design, film, gastronomy, literature, media-arts, music, architecture"


class FilterProblem(CcnewsError):
    """A filter that cannot be: `option` names it (--since, --city...)."""

    def __init__(self, option: str, message: str):
        super().__init__(f"{option}: {message}")
        self.option, self.message = option, message


def date_bound(value: str | None, end: bool, option: str | None = None) -> datetime | None:
    """A --since (start of the period) or --until (its end) value, in UTC.

    YYYY and YYYY-MM mean the whole year or month, so `--since 2016 --until 2016` is 2016.
    """
    if not value:
        return None
    option = option or ("--until" if end else "--since")
    v = " ".join(value.strip().lower().split())
    today = datetime.now(UTC).date()
    ago = re.fullmatch(r"(\d{1,5}) days? ago", v)
    try:
        if v in ("today", "yesterday") or ago:
            first = last = today - timedelta(days=0 if v == "today" else 1 if v == "yesterday" else int(ago[1]))
        elif re.fullmatch(r"\d{4}", v):
            first, last = date(int(v), 1, 1), date(int(v), 12, 31)
        elif re.fullmatch(r"\d{4}-\d{2}", v):
            first = date(int(v[:4]), int(v[5:]), 1)
            last = (first.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
        elif re.fullmatch(r"\d{4}-\d{2}-\d{2}", v):
            first = last = date.fromisoformat(v)
        else:
            dt = datetime.fromisoformat(value.strip())
            return dt if dt.tzinfo else dt.replace(tzinfo=UTC)
    except (ValueError, OverflowError):
        raise FilterProblem(option, f"{value!r} is not a date (use {DATE_FORMS})") from None
    return datetime.combine(last, time.max, UTC) if end else datetime.combine(first, time.min, UTC)


def date_range(since: str | None, until: str | None) -> tuple[datetime | None, datetime | None]:
    first, last = date_bound(since, False), date_bound(until, True)
    if first and last and first > last:
        raise FilterProblem("--since", f"{since} is later than --until {until}")
    return first, last


def check_known(filters, data_dir: Path | str | None) -> None:
    """An unknown source or language is an error naming what the archive holds, not an empty result."""
    if not (filters.sources or filters.language):
        return
    path = resolve_data_dir(data_dir)
    if not (path / "archive.db").exists():
        return  # the command itself says there is no archive
    with Archive(path, create=False) as archive:
        for option, column, values in (("--source", "source", filters.sources),
                                       ("--lang", "language", (filters.language,) if filters.language else ())):
            for value in values:
                # One indexed lookup per value; the whole list only to say what the archive holds.
                if not archive.holds(column, value):
                    have = archive.known_values()["sources" if column == "source" else "languages"]
                    holds = ", ".join(sorted(have)) or "nothing yet"
                    raise FilterProblem(option, f"the archive holds no article with {option[2:]} {value!r} "
                                                f"(it holds: {holds})")


def make_filters(data_dir: Path | str | None, *, sources: Iterable[str] = (), since: str | None = None,
                 until: str | None = None, lang: str | None = None, cities: Iterable[str] = (),
                 fields: Iterable[str] = (), relevant: bool = False):
    """The index's Filters for what was typed, or FilterProblem naming the first thing wrong."""
    from archive.uccn import city_by_name, field_name
    from crawler.tagging import RELEVANT
    from indexer import Filters

    city_names = []
    for c in cities:
        found = city_by_name(c)
        if found is None:
            raise FilterProblem("--city", f"{c!r} is not a member city of the network")
        city_names.append(found.name)
    field_names = []
    for value in fields:
        name = field_name(value)
        if name is None:
            raise FilterProblem("--field", f"{value!r} is not a creative field ({FIELDS_HELP})")
        field_names.append(name)
    first, last = date_range(since, until)
    filters = Filters(
        sources=tuple(sources), since=first, until=last, language=lang.lower() if lang else None,
        cities=tuple(city_names), fields=tuple(field_names), min_relevance=RELEVANT if relevant else None,
    )
    check_known(filters, data_dir)
    return filters
