"""The offline demo: two small sites on 127.0.0.1 (a regional outlet and a city website that
republishes one of its articles), crawled into a data directory."""

from __future__ import annotations

import tempfile
from importlib import resources
from pathlib import Path

from ccnews.sites import SiteServer, build_site, load_spec

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


def start_demo_sites(workdir: str | Path | None = None) -> tuple[SiteServer, SiteServer]:
    """Build both demo sites and serve them; the caller stops them."""
    root = Path(workdir or tempfile.mkdtemp(prefix="ccnews-demo-"))
    spec_dir = resources.files("ccnews").joinpath("demo_site")
    outlet_dir = build_site(root / "outlet", load_spec(spec_dir.joinpath("outlet.json")))
    city_dir = build_site(root / "city", load_spec(spec_dir.joinpath("city.json")))
    outlet = SiteServer(outlet_dir)
    city = SiteServer(city_dir, names={"OUTLET": outlet})
    return outlet.start(), city.start()


def write_registry(path: str | Path, outlet: SiteServer, city: SiteServer) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(REGISTRY.format(outlet=outlet.base, city=city.base), encoding="utf-8")
    return path
