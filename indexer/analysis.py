"""Text analysis for a mixed Indonesian, Thai and English archive.

- Thai is written without spaces between words: Thai runs are segmented with PyThaiNLP (newmm).
- Indonesian words are stemmed with Sastrawi ("pengembangan", "dikembangkan" -> "kembang"), except
  proper nouns: Sastrawi finds roots inside place names ("Pekalongan" -> "kalong", a fruit bat;
  "Pemalang" -> "malang"; "Berlin" -> "lin"). Member-city names never stem, nor does a word
  written with a capital inside a sentence.
- Indonesian and English stop words are dropped from the stemmed fields only; the exact fields keep
  every word so that phrases match exactly.
- Case and accents fold ("Kréasi" finds "kreasi").
"""

from __future__ import annotations

import re
from functools import lru_cache

from whoosh.analysis import STOP_WORDS, CharsetFilter, Filter, LowercaseFilter, Token, Tokenizer
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


class MixedTokenizer(Tokenizer):
    """Words of Latin-script text and segmented Thai, with positions and character offsets.

    Each token carries `proper`: written with a capital and not at the start of a sentence.
    """

    def __call__(self, value, positions=False, chars=False, keeporiginal=False, removestops=True,
                 start_pos=0, start_char=0, tokenize=True, mode="", **kwargs):
        t = Token(positions, chars, removestops=removestops, mode=mode, **kwargs)
        nostem = value.startswith(NO_STEM)
        if nostem:
            value = value[len(NO_STEM):]
            start_char += len(NO_STEM)
        if not tokenize:
            t.original = t.text = value
            t.boost = 1.0
            t.proper = False
            if positions:
                t.pos = start_pos
            if chars:
                t.startchar, t.endchar = start_char, start_char + len(value)
            yield t
            return
        pos = start_pos
        for m in _TOKEN.finditer(value):
            if m.group(1):
                offset = m.start()
                for word in _thai_segmenter()(m.group(1)):
                    word = word.strip()
                    if not word:
                        offset += len(word)
                        continue
                    start = value.find(word, offset)
                    offset = start + len(word)
                    yield self._token(t, word, pos, start_char + start, positions, chars, keeporiginal, nostem)
                    pos += 1
            else:
                word = m.group(2)
                proper = nostem or (word[:1].isupper() and not word.isupper() and m.start() > 0
                                    and not _SENTENCE_END.search(value[max(0, m.start() - 3) : m.start()]))
                yield self._token(t, word, pos, start_char + m.start(), positions, chars, keeporiginal, proper)
                pos += 1

    @staticmethod
    def _token(t, word, pos, start, positions, chars, keeporiginal, proper):
        t.text = word
        t.boost = 1.0
        t.stopped = False
        t.proper = proper
        if keeporiginal:
            t.original = word
        if positions:
            t.pos = pos
        if chars:
            t.startchar, t.endchar = start, start + len(word)
        return t


class IndonesianStemFilter(Filter):
    """Stems words with Sastrawi, leaving proper nouns alone."""

    def __call__(self, tokens):
        for t in tokens:
            if not getattr(t, "proper", False):
                t.text = stem(t.text)
            yield t


class StopFilter(Filter):
    """Drops Indonesian and English stop words but keeps positions, so phrases still line up."""

    def __call__(self, tokens):
        stops = stop_words()
        for t in tokens:
            if t.text in stops:
                if t.removestops:
                    continue
                t.stopped = True
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


def exact_analyzer():
    return MixedTokenizer() | LowercaseFilter() | CharsetFilter(accent_map)


def stem_analyzer():
    return MixedTokenizer() | LowercaseFilter() | CharsetFilter(accent_map) | StopFilter() | IndonesianStemFilter()
