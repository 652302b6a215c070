"""The source registry: a TOML file of outlets, validated field by field."""

from __future__ import annotations

import datetime
import os
import re
import tomllib
from dataclasses import asdict, dataclass, field
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from archive.errors import CcnewsError
from crawler.addresses import forbidden_host

ENV_VAR = "CCNEWS_SOURCES"
SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]*$")


class RegistryError(CcnewsError, ValueError):
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
    schedule: str | None = None  # cron expression, e.g. "0 */6 * * *"
    every: str | None = None  # interval, e.g. "6h", "30m", "1d"
    adapt: bool = False  # adapt the interval to how often the source publishes, within bounds
    min_every: str | None = None
    max_every: str | None = None
    allow_link_local: bool = False  # allow hosts on link-local or cloud-metadata addresses
    # Hosts the outlet published on before (their pages survive in web archives), and the shape of
    # an article URL there when it differs from `article_pattern`.
    former_domains: list[str] = field(default_factory=list)
    former_article_pattern: str | None = None
    backfill_since: str | None = None  # the scheduler backfills from this date once, when never done
    extract: dict[str, Any] = field(default_factory=dict)  # extraction hints: crawler/outlet_hints.py

    @cached_property
    def scope(self) -> list[str]:
        """The hosts whose pages belong to this source: exactly the homepage's and the configured
        URLs' hosts (with or without `www.`), and those in `domains`; `*.example.com` there admits
        every subdomain. Sister outlets on other subdomains (pikiran-rakyat's, Antara's regional
        sites) are other sources."""
        hosts = {urlsplit(u).hostname for u in [self.homepage, *self.feeds, *self.sitemaps, *self.listings]}
        hosts.update(d.lower() for d in self.domains)
        return sorted(h.removeprefix("www.") for h in hosts if h)

    @cached_property
    def allowed_domains(self) -> list[str]:
        """Scrapy's allowed_domains (which admit subdomains): the scope without wildcards."""
        return sorted({h.removeprefix("*.") for h in self.scope})

    @cached_property
    def netlocs(self) -> list[str]:
        """The hosts of the homepage and configured URLs with their ports (sources on one host, as
        on 127.0.0.1, differ by port), `www.` aside."""
        out = []
        for u in [self.homepage, *self.feeds, *self.sitemaps, *self.listings]:
            parts = urlsplit(u)
            if parts.hostname:
                host = parts.hostname.lower().removeprefix("www.")
                out.append(f"{host}:{parts.port}" if parts.port else host)
        return list(dict.fromkeys(out))

    @cached_property
    def archive_hosts(self) -> list[str]:
        """Hosts whose captures belong to this source: its own, and those it published on before."""
        return sorted({*self.scope, *(h.lower().removeprefix("www.") for h in self.former_domains)})

    def is_former_host(self, host: str) -> bool:
        from crawler.discovery import host_allowed

        return host_allowed(f"http://{host}/", [h.lower().removeprefix("www.") for h in self.former_domains])

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


_STR_FIELDS = {"id", "name", "homepage", "language", "country", "city", "timezone", "article_pattern",
               "schedule", "every", "min_every", "max_every", "former_article_pattern", "backfill_since"}
_LIST_FIELDS = {"feeds", "sitemaps", "listings", "domains", "former_domains"}
_KNOWN = _STR_FIELDS | _LIST_FIELDS | {"delay", "keep", "adapt", "allow_link_local", "extract"}
# Bounds that keep a registry entry from hanging or flooding a crawl.
MAX_ID = 64
MAX_TEXT = 500
MAX_URL = 2000
MAX_LIST = 200
MAX_DELAY_S = 600.0
MIN_EVERY_S, MAX_EVERY_S = 60, 366 * 86400
CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# What [defaults] may set for every source that does not set it itself.
DEFAULTABLE = {"schedule", "every", "delay", "keep", "timezone", "language", "adapt", "min_every", "max_every"}
EVERY = re.compile(r"^(\d+)\s*(m|min|h|d|w)$")
EVERY_UNITS = {"m": 60, "min": 60, "h": 3600, "d": 86400, "w": 604800}
DEFAULT_EVERY = "6h"


def every_seconds(value: str) -> int:
    m = EVERY.match(value.strip().lower())
    if not m or int(m.group(1)) == 0:
        raise ValueError(value)
    return int(m.group(1)) * EVERY_UNITS[m.group(2)]
KEEP_VALUES = ("all", "relevant")


def _check_url(value: str, where: str, allow_link_local: bool = False) -> str:
    try:
        parts = urlsplit(value)
        host = parts.hostname
    except ValueError:
        host = None
    if not host or parts.scheme not in ("http", "https"):
        raise RegistryError(f"{where}: {value[:200]!r} is not an http(s) URL")
    why = forbidden_host(host)
    if why and not allow_link_local:
        raise RegistryError(f"{where}: {value[:200]!r} is on {why}; set allow_link_local = true if you mean it")
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
    if not SLUG.match(raw["id"]) or len(raw["id"]) > MAX_ID:
        shown = raw["id"] if len(raw["id"]) <= MAX_ID else raw["id"][:MAX_ID] + "..."
        raise RegistryError(f"{where}, field 'id': {shown!r} must be a lowercase slug of at most {MAX_ID} characters")
    for name in _STR_FIELDS & set(raw):
        limit = MAX_URL if name in ("homepage", "article_pattern") else MAX_TEXT
        if len(raw[name]) > limit:
            raise RegistryError(f"{where}, field {name!r}: longer than {limit} characters")
        if CONTROL.search(raw[name]):
            raise RegistryError(f"{where}, field {name!r}: contains a control character (a newline?)")
    for name in _LIST_FIELDS & set(raw):
        if len(raw[name]) > MAX_LIST:
            raise RegistryError(f"{where}, field {name!r}: more than {MAX_LIST} entries")
        for value in raw[name]:
            if len(value) > MAX_URL or CONTROL.search(value):
                raise RegistryError(f"{where}, field {name!r}: {value[:80]!r} is too long or has a control character")
    if "extract" in raw:
        from crawler.outlet_hints import HintError, validate

        try:
            validate(raw["extract"], where)
        except HintError as exc:
            raise RegistryError(str(exc)) from None
    if "allow_link_local" in raw and not isinstance(raw["allow_link_local"], bool):
        raise RegistryError(f"{where}, field 'allow_link_local': expected true or false")
    allow = raw.get("allow_link_local", False)
    _check_url(raw["homepage"], f"{where}, field 'homepage'", allow)
    for name in ("feeds", "sitemaps", "listings"):
        for url in raw.get(name, []):
            _check_url(url, f"{where}, field {name!r}", allow)
    for host in raw.get("domains", []):
        why = forbidden_host(host.removeprefix("*."))
        if why and not allow:
            raise RegistryError(
                f"{where}, field 'domains': {host!r} is {why}; set allow_link_local = true if you mean it"
            )
    if "timezone" in raw:
        try:
            ZoneInfo(raw["timezone"])
        except (ZoneInfoNotFoundError, ValueError):
            raise RegistryError(f"{where}, field 'timezone': unknown time zone {raw['timezone']!r}") from None
    for name in ("article_pattern", "former_article_pattern"):
        if raw.get(name):
            try:
                re.compile(raw[name])
            except re.error as exc:
                raise RegistryError(f"{where}, field {name!r}: bad regex ({exc})") from None
    if raw.get("backfill_since"):
        try:
            datetime.date.fromisoformat(raw["backfill_since"])
        except ValueError:
            raise RegistryError(f"{where}, field 'backfill_since': {raw['backfill_since']!r} is not a date "
                                "(YYYY-MM-DD)") from None
    for host in raw.get("former_domains", []):
        if not re.fullmatch(r"[a-z0-9.-]+(:\d+)?", host.lower()) or forbidden_host(host.split(":")[0]):
            raise RegistryError(f"{where}, field 'former_domains': {host!r} is not a host name")
    if raw.get("schedule") and raw.get("every"):
        raise RegistryError(f"{where}: give either 'schedule' or 'every', not both")
    if raw.get("schedule"):
        from croniter import croniter

        if not croniter.is_valid(raw["schedule"]):
            raise RegistryError(
                f"{where}, field 'schedule': {raw['schedule']!r} is not a cron expression (like \"0 */6 * * *\")"
            )
    seconds = {}
    for name in ("every", "min_every", "max_every"):
        if raw.get(name):
            try:
                seconds[name] = every_seconds(raw[name])
            except ValueError:
                raise RegistryError(
                    f'{where}, field {name!r}: {raw[name]!r} is not an interval (like "30m", "6h", "1d")'
                ) from None
            if not MIN_EVERY_S <= seconds[name] <= MAX_EVERY_S:
                raise RegistryError(f"{where}, field {name!r}: {raw[name]!r} is outside 1 minute to 366 days")
    if seconds.get("min_every", 0) > seconds.get("max_every", MAX_EVERY_S):
        raise RegistryError(
            f"{where}: 'min_every' ({raw['min_every']}) is longer than 'max_every' ({raw['max_every']})"
        )
    if "every" in seconds and not seconds.get("min_every", 0) <= seconds["every"] <= seconds.get(
        "max_every", MAX_EVERY_S
    ):
        raise RegistryError(f"{where}, field 'every': {raw['every']!r} is outside min_every..max_every")
    if "adapt" in raw and not isinstance(raw["adapt"], bool):
        raise RegistryError(f"{where}, field 'adapt': expected true or false")
    if "keep" in raw and raw["keep"] not in KEEP_VALUES:
        raise RegistryError(f"{where}, field 'keep': expected one of {', '.join(KEEP_VALUES)}")
    if "delay" in raw:
        delay = raw["delay"]
        # `not 0 <= delay <= MAX` is also true for nan; inf and 1e308 are over the bound.
        if not isinstance(delay, (int, float)) or isinstance(delay, bool) or not 0 <= delay <= MAX_DELAY_S:
            raise RegistryError(f"{where}, field 'delay': expected a number of seconds from 0 to {MAX_DELAY_S:.0f}")
    return Source(**{k: (float(v) if k == "delay" else v) for k, v in raw.items()})


def parse_registry(text: str, origin: str) -> dict[str, Source]:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RegistryError(f"{origin}: not valid TOML ({exc})") from None
    entries = data.get("source", [])
    if not isinstance(entries, list) or not entries:
        raise RegistryError(f"{origin}: no [[source]] entries")
    defaults = data.get("defaults", {})
    if not isinstance(defaults, dict):
        raise RegistryError(f"{origin}, [defaults]: expected a table")
    unknown = sorted(set(defaults) - DEFAULTABLE)
    if unknown:
        raise RegistryError(f"{origin}, [defaults]: field {unknown[0]!r} cannot have a default")
    unknown_top = sorted(set(data) - {"source", "defaults"})
    if unknown_top:
        raise RegistryError(f"{origin}: unknown table {unknown_top[0]!r} (expected [[source]] and [defaults])")
    sources: dict[str, Source] = {}
    for n, raw in enumerate(entries, 1):
        label = raw.get("id") if isinstance(raw, dict) else None
        if isinstance(label, str) and len(label) > MAX_ID:
            label = label[:MAX_ID] + "..."
        elif not isinstance(label, str):
            label = None
        where = f"{origin}, source #{n}" + (f" ({label})" if label else "")
        if isinstance(raw, dict):
            inherited = {k: v for k, v in defaults.items() if k not in raw}
            if "schedule" in raw or "every" in raw:
                inherited.pop("schedule", None)
                inherited.pop("every", None)
            raw = {**inherited, **raw}
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
        except UnicodeDecodeError as exc:
            raise RegistryError(f"{p}: the source registry is not UTF-8 text (byte {exc.start})") from None
        return parse_registry(text, str(p))
    # importlib.resources also reads from inside a packaged egg (Scrapyd).
    text = resources.files("crawler").joinpath("sources.toml").read_text(encoding="utf-8")
    return parse_registry(text, "bundled sources.toml")
