"""The bundled registry against the evidence: every real article URL of a bundled outlet (from
../shared/sources/real-article-urls.tsv) is in the source's scope and matches its pattern; its
section, tag, listing and media pages, and its sister outlets' articles, do not."""

from __future__ import annotations

import csv
import os

import pytest
from helpers import REPO

from crawler.discovery import not_a_page
from crawler.registry import load_registry
from crawler.webarchive import SourceMap

EVIDENCE = REPO.parent / "shared" / "sources" / "real-article-urls.tsv"
if not EVIDENCE.exists():
    if os.environ.get("CI"):
        raise RuntimeError(f"the outlet evidence is missing at {EVIDENCE}")
    pytest.skip(f"no evidence file at {EVIDENCE}", allow_module_level=True)

# URLs in the evidence that are not articles of the source they are listed under: listings,
# media, policy pages, page 2 of an article, sister outlets on the same CMS, other sites.
NOT_ITS_ARTICLES = {
    "https://radarpekalongan.co.id/pkm-itsnu",  # another domain, not the outlet's
    "https://radarpekalongan.disway.id/kategori/1/pekalongan",  # a listing
    "https://disway.id/read/798306/daging-babi?_gl=1*3oozdl",  # sister outlets on the Disway network
    "https://harian.disway.id/read/746933/luncurkan-lima-produk-inovasi-assie-unair-2023-diikuti-50-peserta-start-up",
    "https://jateng.disway.id/read/702166/jebol-kandang-banteng-solo-massa-relawan-sambernyawa-siap-menangkan-ahmad-luthfi-di-pilgub-jateng-2024",
    "https://rakyatbengkulu.disway.id/read/663311/dampak-el-nino-makin-meluas-tercatat-55-hektar-sawah-di-rejang-lebong-alami-kekeringan",
    "https://pekalongankota.go.id/upload/berita/berita_20250605023633.jpeg",
    "https://pekalongankota.go.id/berita",
    "https://pekalongankota.go.id/halaman/kebijakan-privasi.html",
    "https://rkb.pekalongankota.go.id/berita868-1-pemkot-ikuti-rakernas-jkpi-di-banda-aceh.html",  # another city site
    "https://jatengprov.go.id/opd/",
    "https://www.suaramerdeka.com/storage/images/2019/02/04/bca-5c57ad3870d25.png",
    "https://solopos.espos.id/top-9-sekolah-di-klaten-raih-penghargaan-adiwiyata-nasional-2172305/2",  # page 2
}
# Section, tag and listing pages of each outlet, which the pattern must reject.
SECTIONS = {
    "radar-pekalongan": ["https://radarpekalongan.disway.id/kategori/lokal/30", "https://radarpekalongan.disway.id/tag/batik",
                         "https://radarpekalongan.disway.id/rss", "http://www.radarpekalongan.com/category/pekalongan/"],
    "pekalongankota": ["https://pekalongankota.go.id/berita-kota/index.html"],
    "jatengprov": ["https://jatengprov.go.id/beritadaerah/", "https://jatengprov.go.id/publik/feed/"],
    "suaramerdeka": ["https://www.suaramerdeka.com/jawa-tengah", "https://www.suaramerdeka.com/tag/batik"],
    "solopos": ["https://solopos.espos.id/jateng", "https://solopos.espos.id/tag/batik"],
    "pikiran-rakyat": ["https://www.pikiran-rakyat.com/news", "https://www.pikiran-rakyat.com/tag/batik"],
    "antara-jakarta": ["https://www.antaranews.com/metro", "https://www.antaranews.com/rss/terkini.xml",
                       "https://ambon.antaranews.com/berita/127753/1153-keluarga"],
    "chiangmai-news": ["https://www.chiangmainews.co.th/category/news/", "https://www.chiangmainews.co.th/feed/"],
    "chiangmai-citylife": ["https://www.chiangmaicitylife.com/citynews/general/", "https://www.chiangmaicitylife.com/clg/our-city/"],
    "bangkok-post": ["https://www.bangkokpost.com/thailand/general", "https://www.bangkokpost.com/life/travel"],
}
# The evidence file names this outlet by its former id.
RENAMED = {"bangkok-post-north": "bangkok-post"}


def evidence_rows():
    with open(EVIDENCE, encoding="utf-8") as fh:
        return [(RENAMED.get(r["source"], r["source"]), r["url"]) for r in csv.DictReader(fh, delimiter="\t")]


def accepted(smap: SourceMap, source_id: str, url: str) -> bool:
    src = smap.registry[source_id]
    return smap.source_for(url) is src and smap.accepts(src, url) and not not_a_page(url)


ROWS = evidence_rows()


@pytest.mark.parametrize("source_id, url", ROWS, ids=[u[:80] for _s, u in ROWS])
def test_the_source_takes_its_real_articles_and_nothing_else_in_the_evidence(source_id, url):
    registry = load_registry()
    assert source_id in registry, f"the evidence names {source_id}, which the registry lacks"
    assert accepted(SourceMap(registry), source_id, url) == (url not in NOT_ITS_ARTICLES)


@pytest.mark.parametrize("source_id, url", [(s, u) for s, urls in SECTIONS.items() for u in urls])
def test_section_tag_and_listing_pages_are_not_articles(source_id, url):
    assert not accepted(SourceMap(load_registry()), source_id, url)


def test_every_bundled_entry_says_how_sure_it_is():
    text = (REPO / "crawler" / "sources.toml").read_text("utf-8")
    entries = text.split("[[source]]")[1:]
    assert len(entries) == len(load_registry())
    for entry in entries:
        comment = entry.strip().splitlines()[0]
        assert comment.startswith("# ") and any(
            v in comment for v in ("confirmed", "plausible", "contradicted", "unknown")
        ), entry[:200]
