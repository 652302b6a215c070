"""An outlet's extraction quirks in the outlet's place: hints as data in its registry entry
(`[source.extract]`), and, where data is not enough, a small hook module `crawler/outlets/<id>.py`
with `postprocess(record, html) -> record`.

Hints, each optional:
    body = "div.detail-text"       CSS selector (or "xpath:..."): the article body
    title = "h1.judul"             the headline
    byline = ".penulis"            the authors' line (cleaned like any byline)
    date = ".tanggal"              the publication date: the element's datetime/content, else its text
    date_format = "%d/%m/%Y %H:%M" strptime format of that date, when dateparser would misread it
    drop = [".baca-juga", ".iklan"]  elements removed before extraction
    boilerplate = ["^Editor: .*$"]   lines removed from the body (regular expressions)
"""

from __future__ import annotations

import importlib
import re
from datetime import datetime
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

KNOWN = {"body", "title", "byline", "date", "date_format", "drop", "boilerplate"}


class HintError(ValueError):
    pass


def validate(hints: Any, where: str) -> dict[str, Any]:
    """The hints of a registry entry, checked: selectors compile, patterns compile."""
    if not isinstance(hints, dict):
        raise HintError(f"{where}, [extract]: expected a table")
    unknown = sorted(set(hints) - KNOWN)
    if unknown:
        raise HintError(f"{where}, [extract]: unknown hint {unknown[0]!r} (known: {', '.join(sorted(KNOWN))})")
    for key in ("body", "title", "byline", "date", "date_format"):
        if key in hints and not isinstance(hints[key], str):
            raise HintError(f"{where}, [extract] {key}: expected a string")
    for key in ("drop", "boilerplate"):
        if key in hints and (not isinstance(hints[key], list) or not all(isinstance(v, str) for v in hints[key])):
            raise HintError(f"{where}, [extract] {key}: expected a list of strings")
    for key in ("body", "title", "byline", "date", *[f"drop:{i}" for i in range(len(hints.get("drop", [])))]):
        selector = hints["drop"][int(key[5:])] if key.startswith("drop:") else hints.get(key)
        if selector:
            try:
                _xpath(selector)
            except Exception as exc:  # noqa: BLE001 - cssselect and lxml raise several types
                raise HintError(f"{where}, [extract] {key.split(':')[0]}: bad selector {selector!r} ({exc})") from None
    for pattern in hints.get("boilerplate", []):
        try:
            re.compile(pattern)
        except re.error as exc:
            raise HintError(f"{where}, [extract] boilerplate: bad regex {pattern!r} ({exc})") from None
    return hints


def _xpath(selector: str) -> str:
    if selector.startswith("xpath:"):
        from lxml import etree

        etree.XPath(selector[6:])
        return selector[6:]
    from cssselect import GenericTranslator

    return GenericTranslator().css_to_xpath(selector)


def select(tree: Any, selector: str) -> list[Any]:
    return tree.xpath(_xpath(selector))


def drop(tree: Any, hints: dict[str, Any]) -> None:
    """Remove the elements the hints name, before anything reads the page."""
    for selector in hints.get("drop", []):
        for el in select(tree, selector):
            parent = el.getparent()
            if parent is not None:
                parent.remove(el)


def text_of(tree: Any, selector: str | None, separator: str = " ") -> str | None:
    if not selector:
        return None
    found = select(tree, selector)
    if not found:
        return None
    el = found[0]
    if not hasattr(el, "itertext"):
        return str(el).strip() or None
    if separator == "\n":
        blocks = [" ".join(p.text_content().split()) for p in el.xpath(".//p|.//li|.//h2|.//h3|.//blockquote")]
        blocks = [b for b in blocks if b]
        if blocks:
            return "\n".join(blocks)
    return " ".join(" ".join(el.itertext()).split()) or None


def date_of(tree: Any, hints: dict[str, Any], tz: str) -> str | None:
    """The publication date the hints point at, as ISO 8601 with the source's offset."""
    if not hints.get("date"):
        return None
    found = select(tree, hints["date"])
    if not found:
        return None
    el = found[0]
    value = el.get("datetime") or el.get("content") if hasattr(el, "get") else None
    value = value or (" ".join(" ".join(el.itertext()).split()) if hasattr(el, "itertext") else str(el))
    if hints.get("date_format"):
        # The format may match only part of the text ("Diposting: 12/06/2025 09:15 WIB").
        for start in range(len(value)):
            for end in range(len(value), start, -1):
                try:
                    dt = datetime.strptime(value[start:end].strip(), hints["date_format"])
                except ValueError:
                    continue
                if dt.tzinfo is None:
                    dt = dt.replace(tzinfo=ZoneInfo(tz))
                return dt.isoformat()
        return None
    from crawler.dates import iso, parse_date

    return iso(parse_date(value, tz))


@lru_cache(maxsize=256)
def hook(source_id: str | None):
    """The outlet's `postprocess(record, html)`, from crawler/outlets/<id>.py, if it has one (looked
    up once per source and process, not once per article)."""
    if not source_id:
        return None
    name = source_id.replace("-", "_")
    try:
        module = importlib.import_module(f"crawler.outlets.{name}")
    except ModuleNotFoundError as exc:
        if exc.name in (f"crawler.outlets.{name}", "crawler.outlets"):
            return None
        raise
    return getattr(module, "postprocess", None)
