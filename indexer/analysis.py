"""Text analysis for a mixed Indonesian, Thai and English archive.

- Thai is written without spaces between words: Thai runs are segmented with PyThaiNLP (newmm).
- Indonesian words are stemmed with Sastrawi ("pengembangan", "dikembangkan" -> "kembang"), except
  proper nouns: Sastrawi finds roots inside place names ("Pekalongan" -> "kalong", a fruit bat;
  "Pemalang" -> "malang"; "Berlin" -> "lin"). Member-city names never stem, nor does a word
  written with a capital inside a sentence.
- One positional field holds every word as written, and beside an Indonesian word whose stem differs,
  its marked stem ("~kembang") at the same position: a word query finds the word and its stem, a
  phrase matches the words as written. Stop words are never stemmed.
- Case and accents fold ("Kréasi" finds "kreasi").
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import lru_cache

from whoosh.analysis import STOP_WORDS, Filter, Token, Tokenizer
from whoosh.support.charset import accent_map

from archive.uccn import place_words

# Put before a text that is not Indonesian: its words are indexed unstemmed (Sastrawi on German or
# Korean words is slow and finds false roots). The indexer adds it; the tokenizer drops it.
NO_STEM = "\x02nostem\x03"
INDONESIAN = {"id", "ms", "jv", "su"}  # Sastrawi's rules fit Indonesian and its close neighbours

_THAI_RUN = r"[\u0e01-\u0e4e]+"
_WORD = r"\w+(?:[.'’]\w+)*"
_TOKEN = re.compile(f"({_THAI_RUN})|({_WORD})")
_SENTENCE_END = re.compile(r"[.!?:\n\"“”(]\s*$")


@lru_cache(maxsize=1)
def _thai_segmenter():
    from pythainlp.tokenize import word_tokenize  # imported only when Thai text appears

    return lambda run: word_tokenize(run, engine="newmm", keep_whitespace=False)


@lru_cache(maxsize=1)
def _stemmer():
    from Sastrawi.Stemmer.StemmerFactory import StemmerFactory

    return StemmerFactory().create_stemmer()


@lru_cache(maxsize=1)
def stop_words() -> frozenset[str]:
    from Sastrawi.StopWordRemover.StopWordRemoverFactory import StopWordRemoverFactory

    return frozenset(StopWordRemoverFactory().get_stop_words()) | frozenset(STOP_WORDS)


@lru_cache(maxsize=200_000)
def stem(word: str) -> str:
    """The Indonesian stem of a lowercased word, or the word itself for names and non-words."""
    if word in place_words() or not word.isalpha() or len(word) <= 4 or re.search(r"[\u0e00-\u0e7f]", word):
        return word
    return _stemmer().stem(word) or word


def _spans(value: str) -> Iterator[tuple[str, int, bool]]:
    """(word as written, start offset, written as a name) of each word of `value`, without the
    NO_STEM mark (every word of an unstemmed text counts as written as a name). Thai runs are
    segmented; a word counts as a name when it has a capital and does not start a sentence."""
    nostem = value.startswith(NO_STEM)
    skip = len(NO_STEM) if nostem else 0
    for m in _TOKEN.finditer(value, skip):
        if m.group(1):
            offset = m.start()
            for word in _thai_segmenter()(m.group(1)):
                word = word.strip()
                if not word:
                    continue
                start = value.find(word, offset)
                offset = start + len(word)
                yield word, start, nostem
        else:
            word = m.group(2)
            start = m.start()
            proper = nostem or (word[:1].isupper() and not word.isupper() and start > skip
                                and not _SENTENCE_END.search(value[max(skip, start - 3) : start]))
            yield word, start, proper


@lru_cache(maxsize=65_536)  # the frequent words; a few MB in the indexing process
def fold(word: str) -> str:
    """A word as every field indexes it: lowercased, accents folded ("Kréasi" -> "kreasi")."""
    return word.lower().translate(accent_map)


@lru_cache(maxsize=4)
def scan(value: str) -> tuple[list[str], list[bool], bool]:
    """The folded words of `value`, whether each was written as a name, and whether the text is
    stemmed (Indonesian): one analysis shared by the fields that index the same text."""
    words, proper = [], []
    for word, _start, is_name in _spans(value):
        words.append(fold(word))
        proper.append(is_name)
    return words, proper, not value.startswith(NO_STEM)


# Terms indexed beside a word, at its position, in the same field. A stem is marked so that a
# phrase never matches through it and a word's own postings stay apart from its stem's.
STEM_MARK = "~"  # "~kembang": an Indonesian word stemmed ("pengembangan")
NAME_MARK = "^"  # "^pemalang": a word Sastrawi would stem, written as a name ("Pemalang")
MARKS = (STEM_MARK, NAME_MARK)


def word_positions(value: str) -> dict[str, list[int]]:
    """Every term of a text field with its positions: each word as written (folded); for an
    Indonesian word whose stem differs, its stem marked (or, written as a name, the word marked,
    which tells at query time whether a word is mostly a name). Stop words are never stemmed."""
    words, proper, stemming = scan(value)
    positions: dict[str, list[int]] = {}
    for i, word in enumerate(words):
        if word in positions:
            positions[word].append(i)
        else:
            positions[word] = [i]
    if stemming:
        stops = stop_words()
        for i, word in enumerate(words):
            if word in stops:
                continue
            root = stem(word)
            if root != word:
                term = NAME_MARK + word if proper[i] else STEM_MARK + root
                positions.setdefault(term, []).append(i)
    return positions


def pair_counts(value: str) -> dict[str, int]:
    """The indexed word pairs of a text (see `pair_words`) with their frequencies."""
    words = scan(value)[0]
    common = pair_words()
    counts: dict[str, int] = {}
    for first, second in zip(words, words[1:]):
        if first in common or second in common:
            key = f"{first} {second}"
            counts[key] = counts.get(key, 0) + 1
    return counts


class MixedTokenizer(Tokenizer):
    """Words of Latin-script text and segmented Thai, with positions and character offsets (for
    queries and highlighting; the index reads `scan`, the same words without Token objects).

    Each token carries `proper`: written with a capital and not at the start of a sentence.
    """

    def __call__(self, value, positions=False, chars=False, keeporiginal=False, removestops=True,
                 start_pos=0, start_char=0, tokenize=True, mode="", **kwargs):
        t = Token(positions, chars, removestops=removestops, mode=mode, **kwargs)
        if not tokenize:
            value = value.removeprefix(NO_STEM)
            t.original = t.text = value
            t.boost = 1.0
            t.proper = False
            if positions:
                t.pos = start_pos
            if chars:
                t.startchar, t.endchar = start_char, start_char + len(value)
            yield t
            return
        for pos, (word, start, proper) in enumerate(_spans(value), start_pos):
            t.text = word
            t.boost = 1.0
            t.stopped = False
            t.proper = proper
            if keeporiginal:
                t.original = word
            if positions:
                t.pos = pos
            if chars:
                t.startchar, t.endchar = start_char + start, start_char + start + len(word)
            yield t


class StemMatchFilter(Filter):
    """For highlighting: a word that is not itself among the matched terms takes its marked stem
    when that is ("pengembangan" lights up for a query matched through "~kembang")."""

    def __init__(self, terms: frozenset[str]):
        self.stems = {t for t in terms if t.startswith(STEM_MARK)}

    def __call__(self, tokens):
        stems, stops = self.stems, stop_words()
        for t in tokens:
            # as indexed: names and stop words are not stemmed
            if stems and not t.proper and t.text not in stops and STEM_MARK + stem(t.text) in stems:
                t.text = STEM_MARK + stem(t.text)
            yield t


@lru_cache(maxsize=1)
def pair_words() -> frozenset[str]:
    """Words whose pairs are indexed: stop words, member-city names and the words of the network
    and creative-field terms, the words phrases are made of and whose posting lists are long.
    A pair of two other words is rare and is matched on positions, which is then quick.
    (Lucene's CommonGrams; indexing every pair doubled the index time.)"""
    from archive.uccn import terms

    words = set(stop_words()) | set(place_words())
    for term in terms():
        words.update(w.casefold() for w in re.findall(r"\w+", term.term))
    return frozenset(words)


class PairFilter(Filter):
    """Each token joined to the next ("kota kreatif") when either is one of `pair_words()`: such a
    two-word phrase is one term to look up instead of two long posting lists to intersect and
    compare positions in."""

    def __call__(self, tokens):
        common = pair_words()
        prev, prev_common = None, False
        for t in tokens:
            word = t.text
            is_common = word in common
            if prev is not None and (prev_common or is_common):
                t.text = f"{prev} {word}"
                yield t
            prev, prev_common = word, is_common


def pair(first: str, second: str) -> str | None:
    """The indexed pair term of two adjacent words, or None when that pair is not indexed."""
    common = pair_words()
    return f"{first} {second}" if first in common or second in common else None


def pairs_analyzer():
    return exact_analyzer() | PairFilter()


class FoldFilter(Filter):
    """Each token folded as the index folds it (`fold`)."""

    def __call__(self, tokens):
        for t in tokens:
            t.text = fold(t.text)
            yield t


def exact_analyzer():
    return MixedTokenizer() | FoldFilter()


def highlight_analyzer(terms: frozenset[str]):
    """The words of a body as the text field matches them, for its snippet."""
    return exact_analyzer() | StemMatchFilter(terms)
