"""Which creative cities, fields and network terms an article speaks of, and how relevant it is.

Matching is deliberately conservative, because a city name is often also a word or a name:
- Latin-script names match whole words, capitalised or in capitals ("Pekalongan", "PEKALONGAN"),
  never lowercase ("nasib malang" is bad luck, not Malang);
- a name inside an organisation ("PT Bandung Raya", "Bandung FC") does not count;
- names listed in `archive/data/ambiguous.csv` (Nan, Como, Alba, Malang...) count only with a
  context cue: "Kota Malang", "city of Como", "จังหวัดน่าน", the city's country named in the text,
  or network vocabulary in the article; and never as part of a personal name ("Jessica Alba").
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from archive import uccn

THAI = re.compile(r"[\u0e00-\u0e7f]")
# Relevance needs this much evidence: network vocabulary and a member city, say.
RELEVANT = 0.5

_CUE_BEFORE = re.compile(
    r"(?:\b(?:kota|kabupaten|kab\.|pemkot|pemkab|wali ?kota|walikota|provinsi|city of|province of|town of|"
    r"di kota|warga)\s+|(?:เมือง|จังหวัด|อำเภอ|ที่)\s*)$",
    re.I,
)
_CUE_AFTER = re.compile(r"^(?:\s+(?:city|province|municipality)\b|,\s+[A-Z][a-z]+)")
_ORG_BEFORE = re.compile(
    r"(?:\b(?:PT|CV|UD|Bank|Hotel|Toko|Restoran|Rumah Makan|Universitas|Institut|"
    r"FC|SC|SV|VfB|VfL|TSV|Füchse|SCC|LG|Real|Atletico|Atlético|Inter|AC)\.?\s+(?:[A-Z]\w*\s+){0,2}"
    r"|\bBank of\s+|\bUniversity of\s+|\bUniversidad de\s+)$"
)
_ORG_AFTER = re.compile(
    r"^\s+(?:[A-Z]\w*\s+){0,2}(?:Tbk|Inc|Ltd|FC|United|City|Forest|Rovers|Wanderers|Athletic|Hotspur|Corp|Group|"
    r"Chiefs|Yankees|Lakers|School|University|Universität|Times|Post|Magazine|Raya Textile)\b"
)
_SENTENCE_START = re.compile(r"(?:^|[.!?:\n\"“”]\s*)$")

# Countries in the languages ccnews reads, for the cities whose names are ambiguous.
COUNTRY_NAMES = {
    "Thailand": ["Thailand", "ประเทศไทย", "Thai"],
    "Italy": ["Italy", "Italia", "อิตาลี"],
    "Bulgaria": ["Bulgaria", "บัลแกเรีย"],
    "United Kingdom": ["England", "Inggris", "UK", "United Kingdom", "อังกฤษ"],
    "Ecuador": ["Ecuador", "Ekuador"],
    "Nigeria": ["Nigeria", "ไนจีเรีย"],
    "Cabo Verde": ["Cabo Verde", "Cape Verde", "Tanjung Verde"],
    "Colombia": ["Colombia", "Kolombia"],
    "Azerbaijan": ["Azerbaijan", "Azerbaijan"],
    "Turkey": ["Turkey", "Türkiye", "Turki", "ตุรกี"],
    "Japan": ["Japan", "Jepang", "ญี่ปุ่น"],
    "France": ["France", "Prancis", "Perancis", "ฝรั่งเศส"],
    "Spain": ["Spain", "Spanyol", "สเปน"],
    "Australia": ["Australia", "ออสเตรเลีย"],
    "Brazil": ["Brazil", "Brasil", "บราซิล"],
    "Norway": ["Norway", "Norwegia", "นอร์เวย์"],
    "Czech Republic": ["Czech", "Ceko"],
    "Portugal": ["Portugal"],
}


@dataclass
class Tags:
    cities: list[dict[str, Any]] = field(default_factory=list)  # city, country, field, mentions, score
    fields: list[dict[str, Any]] = field(default_factory=list)  # field, score, terms
    network: list[str] = field(default_factory=list)  # network terms found
    relevance: float = 0.0

    @property
    def relevant(self) -> bool:
        return self.relevance >= RELEVANT

    def as_dict(self) -> dict[str, Any]:
        return {"cities": self.cities, "fields": self.fields, "network": self.network, "relevance": self.relevance}


def _words(spellings: list[str]) -> re.Pattern:
    """Any of `spellings` as a whole word, any case, the first that fits in their order."""
    return re.compile(r"(?<![\w-])(" + "|".join(re.escape(n) for n in spellings) + r")(?![\w-])", re.I)


class _Names:
    """What `_words(names).finditer` finds, found faster: at each word start only the names whose
    first letter matches there are tried (a pattern per letter, made when first needed). One pattern
    of all 436 Latin names tried each in turn at every word start, 3.6 ms of the 4.7 ms an article's
    tags took. A letter matches as it does in that pattern (the same `re.I` rules)."""

    def __init__(self, names: list[str]):
        self._names = names
        firsts = sorted({n[0] for n in names})
        self._starts = re.compile(r"(?<![\w-])[" + "".join(re.escape(c) for c in firsts) + "]", re.I)
        self._by_letter: dict[str, re.Pattern | None] = {}

    def _starting(self, letter: str) -> re.Pattern | None:
        if letter not in self._by_letter:
            names = [n for n in self._names if re.fullmatch(re.escape(n[0]), letter, re.I)]
            self._by_letter[letter] = _words(names) if names else None
        return self._by_letter[letter]

    def finditer(self, text: str) -> Iterator[re.Match]:
        end = 0
        for start in self._starts.finditer(text):
            at = start.start()
            if at < end:  # inside the last name found: the search goes on after it
                continue
            pattern = self._starting(text[at])
            found = pattern.match(text, at) if pattern is not None else None
            if found:
                end = found.end()
                yield found


@dataclass(frozen=True)
class _Matcher:
    names: _Names  # Latin-script city names
    thai_names: list[tuple[str, uccn.City]]
    by_name: dict[str, list[uccn.City]]
    terms: _Names
    thai_terms: list[uccn.Term]
    term_by_text: dict[str, uccn.Term]


@lru_cache(maxsize=1)
def _matcher() -> _Matcher:
    by_name: dict[str, list[uccn.City]] = defaultdict(list)
    spellings: set[str] = set()
    thai: list[tuple[str, uccn.City]] = []
    for c in uccn.cities():
        for n in c.names:
            if THAI.search(n):
                thai.append((n, c))
            else:
                by_name[_key(n)].append(c)
                spellings.add(n)
    names = _Names(sorted(spellings, key=len, reverse=True))
    term_by_text = {}
    thai_terms = []
    for t in uccn.terms():
        if THAI.search(t.term):
            thai_terms.append(t)
        else:
            term_by_text.setdefault(t.term.casefold(), t)
    term_re = _Names(sorted(term_by_text, key=len, reverse=True))
    thai_terms.sort(key=lambda t: len(t.term), reverse=True)
    thai.sort(key=lambda p: len(p[0]), reverse=True)
    return _Matcher(names, thai, dict(by_name), term_re, thai_terms, term_by_text)


def _key(name: str) -> str:
    """Case- and accent-free form, so "İstanbul", "ISTANBUL" and "Istanbul" meet."""
    decomposed = unicodedata.normalize("NFKD", name.casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def _capitalised(s: str) -> bool:
    return s[:1].isupper()


def _has_country(text: str, country: str) -> bool:
    for name in COUNTRY_NAMES.get(country, [country]):
        if re.search(r"(?<!\w)" + re.escape(name) + r"(?!\w)", text):
            return True
    return False


def _accept(text: str, start: int, end: int, city: uccn.City, matched: str, network: bool) -> bool:
    before = text[max(0, start - 60) : start]
    after = text[end : end + 40]
    if not THAI.search(matched) and not (
        _capitalised(matched) and (matched[1:].islower() or matched.isupper() or " " in matched or "-" in matched)
    ):
        return False
    if _ORG_BEFORE.search(before) or _ORG_AFTER.search(after):
        return False
    if city.name == "York" and before.endswith("New "):
        return False
    # An alias such as "Kota Malang" carries its own cue; only the bare ambiguous name needs one.
    ambiguous = matched in uccn.ambiguous_names() or (matched.casefold() == city.name.casefold()
                                                      and city.name in uccn.ambiguous_names())
    if not ambiguous:
        return True
    cue = bool(_CUE_BEFORE.search(before) or _CUE_AFTER.search(after))
    if not cue and THAI.search(matched):
        return bool(re.search(r"(จังหวัด|เมือง)\s*$", before))
    prev_word = re.search(r"(\S+)\s+$", before)
    person = bool(prev_word and _capitalised(prev_word.group(1)) and not _SENTENCE_START.search(before)
                  and not _CUE_BEFORE.search(before))
    if person and not cue:
        return False
    if cue:
        return True
    if city.iso2 not in ("ID",) and _has_country(text, city.country):
        return not _SENTENCE_START.search(before)
    return network and not _SENTENCE_START.search(before)


_THAI_LETTER = re.compile(r"[\u0e01-\u0e4e]")


def tag(title: str | None, text: str | None) -> Tags:
    """Cities, fields and network terms of an article, with a relevance score in [0, 1)."""
    m = _matcher()
    title = title or ""
    body = text or ""
    full = f"{title}\n{body}"
    # Terms first: network vocabulary is itself a cue for ambiguous city names.
    term_hits: Counter = Counter()
    term_in_title: set[str] = set()
    for match in m.terms.finditer(full):
        t = m.term_by_text[match.group(1).casefold()]
        term_hits[t] += 1
        if match.start() < len(title):
            term_in_title.add(t.term)
    for t in m.thai_terms if _THAI_LETTER.search(full) else ():
        n = full.count(t.term)
        if n:
            term_hits[t] += n
            if t.term in title:
                term_in_title.add(t.term)
    network_terms = sorted({t.term for t in term_hits if t.meaning == "network"})
    has_network = bool(network_terms)

    mentions: Counter = Counter()
    title_mentions: set[str] = set()
    cities_by_key: dict[str, uccn.City] = {}
    latin = ((match.start(), match.end(), match.group(1), city)
             for match in m.names.finditer(full) for city in m.by_name.get(_key(match.group(1)), []))
    # Thai names are searched for only in text with Thai letters in it (each is a regex to run).
    thai = ((found.start(), found.end(), name, city)
            for name, city in (m.thai_names if _THAI_LETTER.search(full) else ())
            for found in re.finditer(re.escape(name), full))
    for start, end, matched, city in (*latin, *thai):
        if _accept(full, start, end, city, matched, has_network):
            key = f"{city.name}|{city.field}"
            cities_by_key[key] = city
            mentions[key] += 1
            if start < len(title):
                title_mentions.add(key)

    # A city designated for several fields (or listed twice) is one city for the reader.
    per_city: dict[str, dict[str, Any]] = {}
    for key, n in mentions.items():
        city = cities_by_key[key]
        entry = per_city.setdefault(city.name, {"city": city.name, "country": city.country, "field": city.field,
                                                "mentions": 0, "score": 0.0})
        entry["mentions"] = max(entry["mentions"], n)
        weight = n + (2 if key in title_mentions else 0)
        entry["score"] = max(entry["score"], round(1 - math.exp(-weight / 2), 3))
    city_list = sorted(per_city.values(), key=lambda c: (-c["score"], c["city"]))

    field_weight: dict[str, float] = defaultdict(float)
    field_terms: dict[str, set[str]] = defaultdict(set)
    economy = 0
    for t, n in term_hits.items():
        if t.meaning == "network":
            continue
        if t.meaning == "creative economy":
            economy += 1
            continue
        single_word = " " not in t.term and not THAI.search(t.term) or len(t.term) <= 4
        w = (0.5 if t.source == "ccnews" else 0.25) if single_word else 1.0
        field_weight[t.meaning] += w * min(n, 3) + (0.5 if t.term in term_in_title and not single_word else 0)
        field_terms[t.meaning].add(t.term)
    if has_network:
        # An article about the network and a member city speaks of that city's field.
        for c in city_list:
            field_weight[c["field"]] += 0.5
    fields = [
        {"field": f, "score": round(1 - math.exp(-w), 3), "terms": sorted(field_terms[f])}
        for f, w in field_weight.items() if w >= 0.5
    ]
    fields.sort(key=lambda f: (-f["score"], f["field"]))

    net_score = sum(2.0 + (1.0 if t in term_in_title else 0) for t in network_terms[:2])
    raw = (net_score + 1.0 * min(len(city_list), 2) + 0.5 * min(economy, 2)
           + min(2.0, sum(min(w, 1.0) for w in field_weight.values())))
    own_field = any(field_weight.get(c["field"], 0) >= 1.0 for c in city_list)
    if own_field:
        raw += 0.75  # a member city and work in its own creative field: a batik fair in Pekalongan
    if not has_network and not own_field:
        # Cities and culture words without the network or a city's own field (a film premiere in
        # London) stay below the bar.
        raw = min(raw, 2.4)
    relevance = round(raw / (raw + 2.5), 3)
    return Tags(city_list, fields, network_terms, relevance)


def retag_archive(archive, progress=None) -> Counter:
    """Tag every archived article again (after the city list or the rules change)."""
    import json

    counts: Counter = Counter()
    ids = archive.article_ids()
    for start in range(0, len(ids), 500):
        rows = archive.get_articles(ids[start : start + 500])
        with archive.transaction():
            for row in rows.values():
                tags = tag(row.get("title"), row.get("text")).as_dict()
                before = (
                    json.loads(row.get("cities") or "[]"),
                    json.loads(row.get("fields") or "[]"),
                    row.get("relevance"),
                )
                after = ([c["city"] for c in tags["cities"]], [f["field"] for f in tags["fields"]], tags["relevance"])
                changed = before != after
                archive.set_tags(row["id"], tags, reindex=changed)
                counts["changed" if changed else "unchanged"] += 1
        if progress:
            progress(min(start + 500, len(ids)), len(ids))
    return counts
