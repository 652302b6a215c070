"""Page text decoded right even when the server's or the page's charset declaration lies."""

from __future__ import annotations

import re

from charset_normalizer import from_bytes
from scrapy.http import TextResponse
from w3lib.encoding import html_body_declared_encoding, resolve_encoding


def _is_utf8(body: bytes) -> bool:
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def page_text(response: TextResponse) -> tuple[str, str]:
    """(text, encoding) for an HTML response.

    Scrapy decodes by the HTTP header first, then the page's own declaration. Small outlets often
    declare one charset and send another; bytes that are valid UTF-8 with non-ASCII content are
    UTF-8 whatever the declaration says (a Latin-1 page is almost never valid UTF-8), and bytes
    that are not valid UTF-8 under a UTF-8 declaration are decoded by the page's own meta
    declaration or, failing that, by detection.
    """
    body = response.body
    declared = resolve_encoding(response.encoding or "") or "utf-8"
    if declared != "utf-8":
        if not body.isascii() and _is_utf8(body):
            return body.decode("utf-8"), "utf-8"
        return response.text, declared
    text = response.text  # decoded as UTF-8, each bad byte a U+FFFD: none there, none in the bytes
    if "\ufffd" not in text or _is_utf8(body):
        return text, "utf-8"
    meta = resolve_encoding(html_body_declared_encoding(body) or "")
    if meta and meta != "utf-8":
        return body.decode(meta, errors="replace"), meta
    return _undeclared(body)


_THAI_LANG = re.compile(rb"<html[^>]*\blang=[\"']?th", re.I)


def _undeclared(body: bytes) -> tuple[str, str]:
    """Bytes that are not valid UTF-8 and declare nothing else."""
    text = body.decode("utf-8", errors="replace")
    bad = text.count("\ufffd")
    good = sum(1 for ch in text if ord(ch) > 127) - bad
    if good > bad:
        return text, "utf-8"  # UTF-8 with a few broken bytes: keep it, mark the damage
    # A single-byte page. Detection is unreliable on text that is mostly ASCII, so take the page's
    # own word for Thai, and otherwise Windows-1252 (what browsers do with ISO-8859-1 too).
    if _THAI_LANG.search(body[:4096]):
        return body.decode("cp874", errors="replace"), "cp874"
    try:
        return body.decode("cp1252"), "cp1252"
    except UnicodeDecodeError:
        pass
    best = from_bytes(body[:200_000]).best()
    if best is not None and best.encoding:
        enc = resolve_encoding(best.encoding) or best.encoding
        return body.decode(enc, errors="replace"), enc
    return text, "utf-8"
