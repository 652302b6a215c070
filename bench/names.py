"""Search on proper nouns: Indonesian place names against the roots Sastrawi finds inside them.

    python bench/names.py

For every place name that Sastrawi changes ("Pekalongan" -> "kalong", "Pemalang" -> "malang"), one
article mentions the place and another uses the root as an ordinary word. Searching the place name
should find only the first. Reported for ccnews's analysis and, for comparison, for stemming every
word (what a plain Sastrawi analyzer does).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

PLACES = """Pekalongan Pemalang Lamongan Tangerang Purwakarta Karawang Pandeglang Serang Cilegon Bekasi
Kuningan Majalengka Sumedang Garut Tasikmalaya Ciamis Banjar Cilacap Banyumas Purbalingga Banjarnegara
Kebumen Purworejo Wonosobo Magelang Boyolali Klaten Sukoharjo Wonogiri Karanganyar Sragen Grobogan Blora
Rembang Pati Kudus Jepara Demak Semarang Temanggung Kendal Batang Tegal Brebes Pacitan Ponorogo Trenggalek
Tulungagung Blitar Kediri Malang Lumajang Jember Banyuwangi Bondowoso Situbondo Probolinggo Pasuruan
Sidoarjo Mojokerto Jombang Nganjuk Madiun Magetan Ngawi Bojonegoro Tuban Gresik Bangkalan Sampang Pamekasan
Sumenep Mataram Kupang Makassar Manado Palembang Pekanbaru Jambi Bengkulu Lampung Pontianak Banjarmasin
Samarinda Balikpapan Kendari Palu Gorontalo Ternate Jayapura Sorong Denpasar Gianyar Tabanan Singaraja
Berlin Bandung Surakarta Ambon Jakarta Sukabumi Pemangkat Pelaihari Perbaungan Penajam""".split()


def collisions() -> list[tuple[str, str]]:
    from indexer.analysis import _stemmer

    out = []
    for place in PLACES:
        root = _stemmer().stem(place.lower())
        if root and root != place.lower():
            out.append((place, root))
    return out


def measure() -> dict:
    from archive import Archive
    from indexer import index as ix_mod
    from indexer import search, sync

    pairs = collisions()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        with Archive(data) as archive:
            for n, (place, root) in enumerate(pairs):
                for kind, text in (
                    ("place", f"Pemerintah daerah di {place} membuka pameran kerajinan untuk para perajin muda "
                              f"dan pelaku usaha kecil. Warga {place} datang sejak pagi."),
                    ("root", f"Kata {root} muncul dalam cerita rakyat tentang {root} yang sering dibicarakan "
                             f"warga desa. Para petani menyebut {root} setiap musim panen."),
                ):
                    archive.store_article({"url": f"http://127.0.0.1/{kind}/{n}", "source": "names",
                                           "title": f"{kind} {n}", "text": text}, pages=[])
            sync(archive, data)
            ok = naive_ok = 0
            for n, (place, root) in enumerate(pairs):
                hits = {h.url for h in search(data, place.lower(), limit=10).hits}
                ok += hits == {f"http://127.0.0.1/place/{n}"}
            # A plain Sastrawi analyzer stems the query and every indexed word alike.
            from indexer.analysis import _stemmer

            for n, (place, root) in enumerate(pairs):
                query = _stemmer().stem(place.lower())
                hits = {h.url for h in search(data, f"text:{query}", limit=10).hits}
                naive_ok += f"http://127.0.0.1/root/{n}" not in hits
        del ix_mod
    return {"places_with_collisions": len(pairs), "places_checked": len(PLACES),
            "precision_ccnews": ok / max(1, len(pairs)),
            "naive_stemming_keeps_apart": naive_ok / max(1, len(pairs)),
            "examples": pairs[:8]}


def main() -> None:
    for k, v in measure().items():
        print(f"{k:28} {v:.3f}" if isinstance(v, float) else f"{k:28} {v}")


if __name__ == "__main__":
    main()
