"""Syndicated-copy detection: copies found, and false merges among distinct articles.

    python bench/copies.py

Uses tests/fixtures/copies/pairs.json (copies and distinct same-event reports) and the 258
distinct real pages of ../shared/corpora/fundus (every pair among them is a potential false merge).
"""

from __future__ import annotations

import itertools
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

PAIRS = REPO / "tests" / "fixtures" / "copies" / "pairs.json"


def measure(corpus: Path | None = None) -> dict:
    from archive.copies import THRESHOLD, signature, similarity
    from bench.quality import DEFAULT_CORPUS

    data = json.loads(PAIRS.read_text("utf-8"))
    pairs = data["pairs"]
    known = {tuple(sorted(p)) for p in data.get("known_corpus_copies", [])}
    copies = [p for p in pairs if p["kind"] == "copy"]
    distinct = [p for p in pairs if p["kind"] == "distinct"]
    copy_sims = {p["id"]: similarity(p["a"], p["b"]) for p in copies}
    distinct_sims = {p["id"]: similarity(p["a"], p["b"]) for p in distinct}
    corpus = corpus or DEFAULT_CORPUS
    entries = []
    manifest = corpus / "manifest.jsonl"
    if manifest.exists():
        entries = [json.loads(line) for line in manifest.read_text("utf-8").splitlines()]
    t0 = time.perf_counter()
    sigs = [(e["file"], s) for e, s in ((e, signature(e["body_text"])) for e in entries) if s is not None]
    merged = [
        tuple(sorted((fa, fb))) for (fa, a), (fb, b) in itertools.combinations(sigs, 2) if a.jaccard(b) >= THRESHOLD
    ]
    merges = len([m for m in merged if m not in known])
    return {
        "threshold": THRESHOLD,
        "copies_found": sum(v >= THRESHOLD for v in copy_sims.values()), "copies": len(copies),
        "min_copy_similarity": min(copy_sims.values()),
        "distinct_merged": sum(v >= THRESHOLD for v in distinct_sims.values()), "distinct": len(distinct),
        "max_distinct_similarity": max(distinct_sims.values()),
        "corpus_articles": len(sigs), "corpus_pairs": len(sigs) * (len(sigs) - 1) // 2,
        "corpus_known_copies_found": len([m for m in merged if m in known]), "corpus_known_copies": len(known),
        "corpus_false_merges": merges, "corpus_seconds": time.perf_counter() - t0,
    }


def main() -> None:
    for k, v in measure().items():
        print(f"{k:24} {v:.3f}" if isinstance(v, float) else f"{k:24} {v}")


if __name__ == "__main__":
    main()
