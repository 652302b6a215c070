"""Helpers shared by the tests: fixture sites (an outlet and a city website built from lists of
articles, served on 127.0.0.1), the real `ccnews` command run as a user runs it, and reading the
archive. The pytest fixtures are in conftest.py."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from ccnews.sites import SiteArticle, SiteServer, SiteSpec, build_site

HERE = Path(__file__).parent
FIXTURES = HERE / "fixtures"
REPO = HERE.parent
SEED = (FIXTURES / "seed-article.txt").read_text("utf-8")
SEED_LINES = [line.strip() for line in SEED.splitlines() if line.strip()]
SEED_TITLE, SEED_BODY = SEED_LINES[0], SEED_LINES[1:-1]
SEED_SUMBER = SEED_LINES[-1]

BACA_JUGA = "Baca Juga: Pekan Batik Nusantara Ramai Pengunjung dari Mancanegara"
GOOGLE_NEWS = "Cek Berita dan Artikel lainnya di Google News"

P101 = "/read/101/kejar-kota-kreatif-chiang-mai-belajar-ke-kota-batik"
P102 = "/read/102/pekan-batik-nusantara-ramai-pengunjung"
P103 = "/read/103/bandung-pekan-desain-kota"
P104 = "/read/104/ambon-kota-musik-dunia-rayakan-hari-musik"
P105 = "/read/105/arsip-lama-festival-2012"
P106 = "/read/106/jakarta-kota-sastra-festival-literasi"
P107 = "/read/107/chiang-mai-craft-week-welcomes-batik-makers"
P110 = "/read/110/chiang-mai-thai-craft-fair"
P202 = "/read/202/kreasi-batik-dengan-charset-keliru"
PRIVATE = "/private/read/999/rahasia-redaksi"
P120 = "/read/120/kawanan-kalong-serang-kebun-warga"
P121 = "/read/121/motif-batik-baru-dikembangkan-perajin-muda"
CITY_BATIK = "/berita/pekan-batik-nusantara-dibuka"
CITY_CRAFT_COPY = "/berita/chiang-mai-craft-week-batik"

THAI_TEXT = [
    "เชียงใหม่ซึ่งได้รับการประกาศให้เป็นเมืองสร้างสรรค์ขององค์การยูเนสโกด้านหัตถกรรมและศิลปะพื้นบ้านเมื่อปี 2560 "
    "จัดงานเทศกาลหัตถกรรมประจำปีที่ลานวัฒนธรรมกลางเมือง มีช่างฝีมือจากชุมชนต่างๆ นำผ้าทอ เครื่องเงิน และเครื่องเขินมาจัดแสดง",
    "ผู้จัดงานกล่าวว่าปีนี้มีคณะผู้แทนจากเมืองเปอกาลองงัน ประเทศอินโดนีเซีย มาสาธิตการทำผ้าบาติกเขียนมือ "
    "และหารือเรื่องการแลกเปลี่ยนช่างฝีมือรุ่นใหม่ระหว่างสองเมืองในเครือข่ายเมืองสร้างสรรค์",
    "นอกจากนี้ยังมีเวทีเสวนาเรื่องเศรษฐกิจสร้างสรรค์ของภาคเหนือ "
    "และตลาดนัดงานคราฟต์ที่เปิดให้นักท่องเที่ยวซื้อสินค้าจากผู้ผลิตโดยตรงตลอดสามวันของงาน",
]


def outlet_spec() -> SiteSpec:
    para = lambda city, field: (  # noqa: E731 - a short text factory
        f"{city.upper()} – Pemerintah kota {city} kembali menggelar rangkaian kegiatan {field} yang melibatkan "
        f"komunitas kreatif, pelajar dan pelaku usaha kecil. Kegiatan ini menjadi bagian dari komitmen {city} "
        "dalam Jejaring Kota Kreatif UNESCO dan berlangsung selama satu pekan di sejumlah ruang publik kota."
    )
    return SiteSpec(
        name="Warta Uji", lang="id", listing_path="/kategori/berita", per_listing_page=1,
        articles=[
            SiteArticle(
                path=P101, title=SEED_TITLE, pages=[SEED_BODY[:3] + [BACA_JUGA] + SEED_BODY[3:]],
                published="2016-03-11T08:30:00+07:00", shown_date="Jumat, 11 Maret 2016 08:30 WIB",
                byline="Reporter: Nul | Editor: Ratna Dewi", meta_date=False, footer=[GOOGLE_NEWS],
                feed_suffix="?utm_source=rss&utm_medium=feed", tags=["kota kreatif", "UNESCO"],
            ),
            SiteArticle(
                path=P102, title="Pekan Batik Nusantara Ramai Pengunjung",
                pages=[
                    ["Halaman pertama: " + para("Pekalongan", "pameran batik tulis dan cap")],
                    ["Halaman kedua: para perajin dari Lasem dan Solo memperagakan cara mencanting motif jlamprang "
                     "di hadapan ratusan pelajar yang datang bergiliran sejak pagi hingga sore hari."],
                    ["Halaman ketiga: panitia menutup pameran dengan lelang kain batik tulis langka yang hasilnya "
                     "disumbangkan untuk beasiswa anak-anak perajin di kampung batik Kauman."],
                ],
                published="2024-10-02T19:15:00+07:00", shown_date="Rabu, 2 Oktober 2024 19:15 WIB",
                byline="Penulis: Dimas Prasetyo", in_feed=False,
            ),
            SiteArticle(
                path=P103, title="Bandung Gelar Pekan Desain Kota", pages=[[para("Bandung", "pekan desain")]],
                published="2024-09-15T10:00:00+07:00", shown_date="15 September 2024", byline="Oleh: Rina Kartika",
                in_feed=False, in_listing=False, in_sitemap=False,
            ),
            SiteArticle(
                path=P104, title="Ambon Kota Musik Dunia Rayakan Hari Musik", pages=[[para("Ambon", "musik")]],
                published="2024-03-09T20:00:00+09:00", shown_date="Sabtu, 9 Maret 2024 20:00 WIT",
                in_feed=False, in_listing=False, in_sitemap=False,
            ),
            SiteArticle(
                path=P105, title="Arsip Lama Festival 2012", pages=[[para("Surakarta", "festival keraton")]],
                published="2012-05-01T10:00:00+07:00", shown_date="1 Mei 2012",
                in_feed=False, in_listing=False, in_sitemap=False,
            ),
            SiteArticle(
                path=P106, title="Jakarta Kota Sastra Luncurkan Festival Literasi",
                pages=[[para("Jakarta", "festival literasi")]], published="2025-02-20T13:45:00+07:00",
                shown_date="Kamis, 20 Februari 2025 13:45 WIB", in_feed=False,
            ),
            SiteArticle(
                path=P107, title="Chiang Mai Craft Week Welcomes Batik Makers", lang="en",
                pages=[CRAFT_WEEK],
                published="2024-12-05T09:00:00+07:00", shown_date="5 December 2024", byline="By Somchai Wongsa",
                in_feed=False,
            ),
            SiteArticle(
                path=P120, title="Kawanan Kalong Serang Kebun Warga",
                pages=[[
                    "Kawanan kalong menyerang kebun buah warga di lereng gunung setiap malam selama sepekan terakhir. "
                    "Petani memasang jaring dan lampu untuk melindungi pohon jambu dan mangga yang mulai berbuah.",
                    "Menurut petugas dinas pertanian, kalong mencari makan lebih jauh karena hutan di sekitar desa "
                    "semakin sempit. Warga diminta tidak memburu satwa itu karena berperan menyebarkan biji tanaman.",
                ]],
                published="2024-07-01T08:00:00+07:00", shown_date="Senin, 1 Juli 2024", in_listing=False,
            ),
            SiteArticle(
                path=P121, title="Motif Batik Baru Dikembangkan Perajin Muda",
                pages=[[
                    "Sejumlah motif batik baru dikembangkan oleh perajin muda dari Pemalang dan Batang dalam program "
                    "pelatihan desain. Hasil kreatifnya dipamerkan di balai desa dan menarik minat pembeli dari kota.",
                    "Pelatih program mengatakan para peserta belajar menggabungkan motif pesisir dengan warna-warna "
                    "cerah yang disukai pembeli muda, tanpa meninggalkan teknik canting yang diwariskan turun-temurun.",
                ]],
                published="2024-08-12T09:30:00+07:00", shown_date="Senin, 12 Agustus 2024", in_listing=False,
            ),
            SiteArticle(
                path=P110, title="เชียงใหม่เมืองสร้างสรรค์ จัดงานเทศกาลหัตถกรรม", lang="th", pages=[THAI_TEXT],
                published="2024-02-05T09:15:00+07:00", shown_date="วันที่ 5 ก.พ. 2567 เวลา 09:15 น.",
                meta_date=False, in_feed=False, in_listing=False, in_sitemap=False,
            ),
        ],
    )


def outlet_routes() -> dict:
    html = {"Content-Type": "text/html; charset=utf-8"}
    return {
        "/atom.xml": {"file": "atom.xml", "headers": {"Content-Type": "application/atom+xml"}},
        "/sitemap_index.xml": {"file": "sitemap_index.xml", "headers": {"Content-Type": "application/xml"}},
        "/sitemap-articles.xml.gz": {
            "file": "sitemap-articles.xml",
            "gzip": True,
            "headers": {"Content-Type": "application/x-gzip"},
        },
        "/news-sitemap.xml": {"file": "news-sitemap.xml", "headers": {"Content-Type": "application/xml"}},
        "/lama/101": {"redirect": "{{BASE}}" + P101, "status": 301},
        P101 + "/": {"redirect": P101, "status": 301},
        "/read/500/server-sedang-rusak": {
            "status": 500,
            "body": "<html><body>Internal error</body></html>",
            "headers": html,
        },
        "/read/201/data-anggaran-kreatif": {"file": "data.json", "headers": {"Content-Type": "application/json"}},
        # The server says Latin-1; the page is UTF-8.
        P202: {"file": "charset.html", "headers": {"Content-Type": "text/html; charset=iso-8859-1"}},
        PRIVATE: {"file": "charset.html", "headers": html},
    }


CRAFT_WEEK = [
    "Batik makers from Pekalongan joined silversmiths, weavers and lacquer artists at this year's "
    "Chiang Mai Craft Week, a festival the northern Thai city has organised since it joined the UNESCO "
    "Creative Cities Network for Crafts and Folk Art in 2017.",
    "The Indonesian delegation ran daily demonstrations of hand-drawn batik and met the creative city "
    "office to plan a residency exchange for young artisans from both cities.",
]


def city_spec() -> SiteSpec:
    return SiteSpec(
        name="Kota Uji",
        lang="id",
        listing_path="/berita",
        per_listing_page=5,
        extra_sitemap_paths=["/berita/indeks"],
        articles=[
            SiteArticle(
                path="/berita/kejar-kota-kreatif-chiang-mai-belajar-ke-kota-batik",
                title=SEED_TITLE,
                pages=[SEED_BODY + [SEED_SUMBER]],
                published="2016-03-12T09:00:00+07:00",
                shown_date="12 Maret 2016",
                meta_date=False,
            ),
            SiteArticle(
                # The city's own report of the event warta-uji covers in P102: same facts, own words.
                path=CITY_BATIK,
                title="Pekan Batik Nusantara Resmi Dibuka di Museum Batik",
                pages=[
                    [
                        "Museum Batik di Kota Pekalongan menjadi pusat keramaian selama Pekan Batik Nusantara. "
                        "Sejak dibuka Rabu (2/10), belasan ribu pengunjung tercatat hadir menurut panitia "
                        "penyelenggara.",
                        "Seratus lebih perajin dari Lasem, Yogyakarta, Solo dan Pekalongan sendiri memamerkan "
                        "kain batik tulis maupun cap. Pemerintah kota menyiapkan bus gratis dari alun-alun "
                        "menuju lokasi pameran.",
                    ]
                ],
                published="2024-10-02T16:00:00+07:00",
                shown_date="2 Oktober 2024",
            ),
            SiteArticle(
                # warta-uji's P107, republished with a new headline and a closing line.
                path=CITY_CRAFT_COPY,
                title="Pekalongan Batik Makers at Chiang Mai Craft Week",
                lang="en",
                pages=[CRAFT_WEEK + ["Source: Warta Uji."]],
                published="2024-12-06T10:00:00+07:00",
                shown_date="6 December 2024",
            ),
        ],
    )


def city_routes() -> dict:
    links = "".join(f'<li><a href="/berita/item-{n}">Berita singkat nomor {n}</a></li>' for n in range(40))
    return {
        "/berita/indeks": {"body": f"<html><head><title>Indeks</title></head><body><ul>{links}</ul></body></html>",
                           "headers": {"Content-Type": "text/html; charset=utf-8"}},
    }


def make_site(root: Path, spec: SiteSpec, routes: dict, extra_dir: Path | None = None) -> Path:
    if extra_dir:
        shutil.copytree(extra_dir, root, dirs_exist_ok=True)
    return build_site(root, spec, routes)


REGISTRY = """\
[[source]]
id = "warta-uji"
name = "Warta Uji"
homepage = "{outlet}/"
language = "id"
country = "ID"
city = "Pekalongan"
timezone = "Asia/Jakarta"
feeds = ["{outlet}/feed", "{outlet}/atom.xml"]
sitemaps = ["{outlet}/sitemap_index.xml"]
listings = ["{outlet}/kategori/berita"]
article_pattern = "/read/\\\\d+/"
delay = 0.0

[[source]]
id = "kota-uji"
name = "Kota Uji"
homepage = "{city}/"
language = "id"
country = "ID"
city = "Pekalongan"
timezone = "Asia/Jakarta"
delay = 0.0
"""


class Sites:
    def __init__(self, root: Path):
        self.outlet = SiteServer(make_site(root / "outlet", outlet_spec(), outlet_routes(), FIXTURES / "outlet-extra"))
        self.city = SiteServer(make_site(root / "city", city_spec(), city_routes()))
        self.registry = root / "sources.toml"
        self.registry.write_text(REGISTRY.format(outlet=self.outlet.base, city=self.city.base), "utf-8")

    def start(self) -> Sites:
        self.outlet.start()
        self.city.start()
        return self

    def stop(self) -> None:
        self.outlet.stop()
        self.city.stop()


def run_ccnews(*args: str, data_dir: Path | None = None, registry: Path | None = None, env: dict | None = None,
               timeout: float = 240, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run the real `ccnews` command in its own process, as a user would."""
    full_env = {**os.environ, "COLUMNS": "200", **(env or {})}
    if data_dir:
        full_env["CCNEWS_DATA"] = str(data_dir)
    if registry:
        full_env["CCNEWS_SOURCES"] = str(registry)
    return subprocess.run(
        [sys.executable, "-m", "ccnews", *args], capture_output=True, text=True, env=full_env,
        timeout=timeout, cwd=cwd or REPO,
    )


FAST = ("-s", "AUTOTHROTTLE_START_DELAY=0.01")


def hits(requests: list[tuple[str, str, int]], path: str) -> int:
    """How many of `requests` asked for `path` (with its query) and got a full 200 answer."""
    return sum(1 for p, _m, status in requests if p == path and status == 200)


def articles(data_dir: Path) -> list[dict]:
    import sqlite_utils

    db = sqlite_utils.Database(data_dir / "archive.db")
    rows = list(db.query("select * from articles order by id"))
    for r in rows:
        r["authors"] = json.loads(r["authors"])
    db.close()
    return rows


def by_path(rows: list[dict], path: str) -> dict:
    found = [r for r in rows if r["url"].split("/", 3)[-1].split("?")[0] == path.lstrip("/")]
    assert len(found) == 1, f"{path}: {len(found)} records among {[r['url'] for r in rows]}"
    return found[0]
