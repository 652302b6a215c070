"""The source registry: a TOML file of outlets, validated field by field."""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

ENV_VAR = "CCNEWS_SOURCES"
SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]*$")


class RegistryError(ValueError):
    """A registry problem, naming the file, the entry and the field."""


@dataclass(frozen=True)
class Source:
    id: str
    name: str
    homepage: str
    language: str = "id"
    country: str = ""
    city: str = ""
    timezone: str = "UTC"
    feeds: list[str] = field(default_factory=list)
    sitemaps: list[str] = field(default_factory=list)
    listings: list[str] = field(default_factory=list)
    article_pattern: str | None = None
    delay: float = 1.0
    domains: list[str] = field(default_factory=list)
    keep: str = "all"  # "relevant": archive only articles about creative-city work

    @property
    def allowed_domains(self) -> list[str]:
        """Hosts the crawl may follow: the homepage's and those of the configured URLs."""
        hosts = {urlsplit(u).hostname for u in [self.homepage, *self.feeds, *self.sitemaps, *self.listings]}
        hosts.update(self.domains)
        return sorted(h.removeprefix("www.") for h in hosts if h)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


_STR_FIELDS = {"id", "name", "homepage", "language", "country", "city", "timezone", "article_pattern"}
_LIST_FIELDS = {"feeds", "sitemaps", "listings", "domains"}
_KNOWN = _STR_FIELDS | _LIST_FIELDS | {"delay", "keep"}
KEEP_VALUES = ("all", "relevant")


def _check_url(value: str, where: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise RegistryError(f"{where}: {value!r} is not an http(s) URL")
    return value


def parse_source(raw: dict[str, Any], where: str) -> Source:
    if not isinstance(raw, dict):
        raise RegistryError(f"{where}: expected a table")
    unknown = sorted(set(raw) - _KNOWN)
    if unknown:
        raise RegistryError(f"{where}: unknown field {unknown[0]!r}")
    for name in ("id", "name", "homepage"):
        if name not in raw:
            raise RegistryError(f"{where}: field {name!r} is required")
    for name in _STR_FIELDS & set(raw):
        if not isinstance(raw[name], str):
            raise RegistryError(f"{where}, field {name!r}: expected a string")
    for name in _LIST_FIELDS & set(raw):
        if not isinstance(raw[name], list) or not all(isinstance(v, str) for v in raw[name]):
            raise RegistryError(f"{where}, field {name!r}: expected a list of strings")
    if not SLUG.match(raw["id"]):
        raise RegistryError(f"{where}, field 'id': {raw['id']!r} must be a lowercase slug")
    _check_url(raw["homepage"], f"{where}, field 'homepage'")
    for name in ("feeds", "sitemaps", "listings"):
        for url in raw.get(name, []):
            _check_url(url, f"{where}, field {name!r}")
    if "timezone" in raw:
        try:
            ZoneInfo(raw["timezone"])
        except (ZoneInfoNotFoundError, ValueError):
            raise RegistryError(f"{where}, field 'timezone': unknown time zone {raw['timezone']!r}") from None
    if raw.get("article_pattern"):
        try:
            re.compile(raw["article_pattern"])
        except re.error as exc:
            raise RegistryError(f"{where}, field 'article_pattern': bad regex ({exc})") from None
    if "keep" in raw and raw["keep"] not in KEEP_VALUES:
        raise RegistryError(f"{where}, field 'keep': expected one of {', '.join(KEEP_VALUES)}")
    if "delay" in raw:
        if not isinstance(raw["delay"], (int, float)) or isinstance(raw["delay"], bool) or raw["delay"] < 0:
            raise RegistryError(f"{where}, field 'delay': expected a number of seconds >= 0")
    return Source(**{k: (float(v) if k == "delay" else v) for k, v in raw.items()})


def parse_registry(text: str, origin: str) -> dict[str, Source]:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RegistryError(f"{origin}: not valid TOML ({exc})") from None
    entries = data.get("source", [])
    if not isinstance(entries, list) or not entries:
        raise RegistryError(f"{origin}: no [[source]] entries")
    sources: dict[str, Source] = {}
    for n, raw in enumerate(entries, 1):
        label = raw.get("id") if isinstance(raw, dict) else None
        where = f"{origin}, source #{n}" + (f" ({label})" if label else "")
        src = parse_source(raw, where)
        if src.id in sources:
            raise RegistryError(f"{where}, field 'id': duplicate id {src.id!r}")
        sources[src.id] = src
    return sources


def load_registry(path: str | os.PathLike | None = None) -> dict[str, Source]:
    """The registry at `path`, else at $CCNEWS_SOURCES, else the bundled one."""
    path = path or os.environ.get(ENV_VAR) or None
    if path:
        p = Path(path)
        try:
            text = p.read_text(encoding="utf-8")
        except OSError as exc:
            raise RegistryError(f"{p}: cannot read source registry ({exc.strerror or exc})") from None
        return parse_registry(text, str(p))
    # importlib.resources also reads from inside a packaged egg (Scrapyd).
    text = resources.files("crawler").joinpath("sources.toml").read_text(encoding="utf-8")
    return parse_registry(text, "bundled sources.toml")
