"""Tagging precision and recall on two labelled sets.

    python bench/tagging.py

The development set (tests/fixtures/tagging/labelled.json: the 258 real pages and texts written
for known traps) is what the rules were written from; the held-out set (heldout.json) was written
and labelled after the rules, and no rule was changed for it, so its figures are the ones to
expect on new text. City mentions are scored as (article, city) pairs; relevance as a yes/no per
article.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

LABELS = REPO / "tests" / "fixtures" / "tagging" / "labelled.json"
HELDOUT = REPO / "tests" / "fixtures" / "tagging" / "heldout.json"


def items(corpus: Path | None, labels: Path = LABELS):
    from bench.quality import DEFAULT_CORPUS

    data = json.loads(labels.read_text("utf-8"))
    corpus = corpus or DEFAULT_CORPUS
    manifest = {}
    if (corpus / "manifest.jsonl").exists():
        for line in (corpus / "manifest.jsonl").read_text("utf-8").splitlines():
            e = json.loads(line)
            manifest[e["file"]] = e
    for f, label in data.get("fundus", {}).items():
        if f in manifest:
            yield f, manifest[f]["title"], manifest[f]["body_text"], label
    for t in data["texts"]:
        yield t["id"], t.get("title", ""), t["text"], t


def measure(corpus: Path | None = None, labels: Path = LABELS) -> dict:
    from crawler.tagging import tag

    tp = fp = fn = 0
    rtp = rfp = rfn = 0
    errors = []
    n = 0
    for key, title, text, label in items(corpus, labels):
        n += 1
        t = tag(title, text)
        got = {c["city"] for c in t.cities}
        want = set(label["cities"])
        tp += len(got & want)
        fp += len(got - want)
        fn += len(want - got)
        if got != want:
            errors.append((key, sorted(got - want), sorted(want - got)))
        if t.relevant and label["relevant"]:
            rtp += 1
        elif t.relevant:
            rfp += 1
            errors.append((key, "relevant?", t.relevance))
        elif label["relevant"]:
            rfn += 1
            errors.append((key, "missed relevant", t.relevance))
    return {
        "articles": n,
        "city_precision": tp / max(1, tp + fp), "city_recall": tp / max(1, tp + fn),
        "city_pairs": tp + fn,
        "relevance_precision": rtp / max(1, rtp + rfp), "relevance_recall": rtp / max(1, rtp + rfn),
        "relevant_articles": rtp + rfn,
        "errors": errors,
    }


def main() -> None:
    for name, labels in (("development set (the rules were written from it)", LABELS),
                         ("held-out set (written after the rules)", HELDOUT)):
        print(name)
        m = measure(labels=labels)
        for k, v in m.items():
            if k == "errors":
                for e in v:
                    print("  error:", e)
            else:
                print(f"  {k:22} {v:.3f}" if isinstance(v, float) else f"  {k:22} {v}")


if __name__ == "__main__":
    main()
