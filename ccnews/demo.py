"""The offline demo: two small sites on 127.0.0.1 (a regional outlet and a city website that
republishes one of its articles), crawled into a data directory, and a small web archive holding
the outlet's 2016 pages from its former domain, backfilled into the same archive."""

from __future__ import annotations

import tempfile
from importlib import resources
from pathlib import Path

from ccnews.sites import ArchiveServer, SiteArticle, SiteServer, _page_html, build_site, load_spec, write_capture_warc

REGISTRY = """\
# Written by `ccnews demo`: the two demo sites, served from 127.0.0.1.
[[source]]
id = "demo-outlet"
name = "Kabar Pesisir (demo outlet)"
homepage = "{outlet}/"
language = "id"
country = "ID"
city = "Pekalongan"
timezone = "Asia/Jakarta"
feeds = ["{outlet}/feed"]
listings = ["{outlet}/kategori/berita"]
article_pattern = "/read/\\\\d+/"
# In 2016 the outlet published on a WordPress site that is gone; its pages survive in the archive.
former_domains = ["{former}"]
former_article_pattern = "/\\\\d{{4,}}/[a-z0-9-]+/?$"
delay = 0.0

[[source]]
id = "demo-city"
name = "Pemerintah Kota Pekalongan (demo city site)"
homepage = "{city}/"
language = "id"
country = "ID"
city = "Pekalongan"
timezone = "Asia/Jakarta"
article_pattern = "/berita/[a-z0-9-]+$"
delay = 0.0
"""


FORMER_DOMAIN = "kabarpesisir.example"
# The founding article lives only in the web archive, at its 2016 address.
FOUNDING_PATH = "/read/101/kejar-kota-kreatif-chiang-mai-thailand-belajar-ke-kota-batik"
FORMER_PATH = "/24530/kejar-kota-kreatif-chiang-mai-thailand-belajar-ke-kota-batik/"


def start_demo_sites(workdir: str | Path | None = None) -> tuple[SiteServer, SiteServer, ArchiveServer]:
    """Build both demo sites and the demo web archive and serve them; the caller stops them."""
    root = Path(workdir or tempfile.mkdtemp(prefix="ccnews-demo-"))
    spec_dir = resources.files("ccnews").joinpath("demo_site")
    spec = load_spec(spec_dir.joinpath("outlet.json"))
    founding = next(a for a in spec.articles if a.path == FOUNDING_PATH)
    spec.articles = [a for a in spec.articles if a is not founding]
    outlet_dir = build_site(root / "outlet", spec)
    city_dir = build_site(root / "city", load_spec(spec_dir.joinpath("city.json")))
    old = SiteArticle(**{**founding.__dict__, "path": FORMER_PATH})
    page = _page_html(spec, old, 1).replace("{{BASE}}", f"http://{FORMER_DOMAIN}")
    warc = write_capture_warc(root / "kabar-pesisir-2016.warc.gz",
                              [(f"http://{FORMER_DOMAIN}{FORMER_PATH}", "2016-03-14T06:12:40Z", page)])
    outlet = SiteServer(outlet_dir)
    city = SiteServer(city_dir, names={"OUTLET": outlet})
    return outlet.start(), city.start(), ArchiveServer([warc]).start()


def write_registry(path: str | Path, outlet: SiteServer, city: SiteServer) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(REGISTRY.format(outlet=outlet.base, city=city.base, former=FORMER_DOMAIN), encoding="utf-8")
    return path
