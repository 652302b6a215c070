"""Reference data about the UNESCO Creative Cities Network, shipped in `archive/data/`."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

FIELDS = ["Crafts and Folk Art", "Design", "Film", "Gastronomy", "Literature", "Media Arts", "Music", "Architecture"]


@dataclass(frozen=True)
class City:
    name: str
    country: str
    iso2: str
    field: str
    year: int | None
    aliases: tuple[str, ...]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys((self.name, *self.aliases)))


@dataclass(frozen=True)
class Term:
    term: str
    language: str
    meaning: str  # a field, "network" or "creative economy"
    source: str


def _rows(name: str) -> list[dict[str, str]]:
    text = resources.files("archive").joinpath("data", name).read_text(encoding="utf-8")
    return list(csv.DictReader(io.StringIO(text)))


@lru_cache(maxsize=1)
def cities() -> tuple[City, ...]:
    out = []
    for r in _rows("uccn_cities.csv"):
        year = int(r["year_designated"]) if r["year_designated"].strip().isdigit() else None
        aliases = tuple(a.strip() for a in r["aliases"].split("|") if a.strip())
        out.append(City(r["city"].strip(), r["country"].strip(), r["iso2"].strip(), r["field"].strip(), year, aliases))
    return tuple(out)


@lru_cache(maxsize=1)
def terms() -> tuple[Term, ...]:
    rows = _rows("terms.csv") + _rows("extra_terms.csv")
    return tuple(
        Term(r["term"].strip(), r["language"].strip(), r["meaning"].strip(), r["source"].strip()) for r in rows
    )


@lru_cache(maxsize=1)
def ambiguous_names() -> frozenset[str]:
    return frozenset(r["name"].strip() for r in _rows("ambiguous.csv") if r["name"].strip())


@lru_cache(maxsize=1)
def place_words() -> frozenset[str]:
    """Lowercased single words of member-city names and aliases: proper nouns never to stem."""
    words = set()
    for c in cities():
        for n in c.names:
            for w in n.replace("-", " ").split():
                if len(w) > 2:
                    words.add(w.casefold())
    return frozenset(words)


def city_by_name(name: str) -> City | None:
    folded = name.casefold()
    for c in cities():
        if c.name.casefold() == folded or any(a.casefold() == folded for a in c.aliases):
            return c
    return None


def field_name(value: str) -> str | None:
    """The canonical field for a user's spelling ('crafts', 'design', 'media-arts')."""
    v = value.casefold().replace("-", " ").replace("_", " ").strip()
    for f in FIELDS:
        if v == f.casefold() or f.casefold().startswith(v):
            return f
    return None
