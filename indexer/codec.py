"""Whoosh's W3 posting format, with its short posting lists stored inline and its blocks split.

Whoosh writes every term's postings as a pickled, zlib-compressed block in the postings file, and
its option to keep a short list inside the term's own entry instead fails (`W3PostingsWriter`
calls a `set_inline` its term info names `set_inlined`), so it ships switched off. Most terms of
a small segment occur in one or two articles: each then cost a block, a pickle and a compression
of a few bytes. This codec keeps lists shorter than INLINE postings in the term's entry, which
Whoosh's reader already reads (as a list matcher, with block-quality skipping), and reads each
document's field length once per field instead of once per posting.

Its blocks keep Whoosh's headers (length, last document, highest weight, lengths: what skipping
reads) but split the data: the documents and weights as two arrays, compressed on their own, then
the values (a word's positions) compressed apart. Whoosh pickles one tuple of every posting's
number, weight and positions, so scoring a block, which needs no positions, unpickled about 380
Python objects (49 µs a block of a frequent word; 6.5 µs now). Posting lists written so start
with their own tag (SPLIT_MAGIC): segments written in Whoosh's layout are read as before, and a
merge rewrites them.
"""

from __future__ import annotations

import pickle
import sys
import zlib
from array import array
from itertools import accumulate, islice, repeat

from whoosh import writing
from whoosh.codec.whoosh3 import (
    WHOOSH3_HEADER_MAGIC,
    W3Codec,
    W3FieldWriter,
    W3LeafMatcher,
    W3PostingsWriter,
    W3TermsReader,
)
from whoosh.matching import ListMatcher
from whoosh.reading import SegmentReader
from whoosh.util.numeric import length_to_byte
from whoosh.writing import PostingPool

INLINE = 5
# The tag that starts a posting list of split blocks (Whoosh's is b"W3Bl").
SPLIT_MAGIC = b"CCb1"
_WEIGHTS_ONE, _WEIGHTS_SAME, _WEIGHTS_EACH = 0, 1, 2


def _little(values: array) -> bytes:
    if sys.byteorder == "big":
        values = array(values.typecode, values)
        values.byteswap()
    return values.tobytes()


def _array(typecode: str, data) -> array:
    values = array(typecode, data)
    if sys.byteorder == "big":
        values.byteswap()
    return values


class _PostingsWriter(W3PostingsWriter):
    def finish_postings(self):
        terminfo, self._terminfo = self._terminfo, None
        # Only postings that each carry a value (frequencies, positions) go inline: Whoosh's list
        # matcher reads an empty value as a string, which a merge then refuses.
        if not self.written() and len(self) < self._inlinelimit and len(self._values) == len(self._ids):
            terminfo.add_block(self)
            terminfo.set_inlined(self._ids, self._weights, self._values)
            return terminfo
        if self._ids:
            self._terminfo = terminfo  # the block writer adds its statistics to it
            self._write_block(last=True)
            self._terminfo = None
        terminfo.set_extent(self._startoffset, self._postfile.tell() - self._startoffset)
        return terminfo

    def _write_block(self, last=False):
        """A block of Whoosh's header and split data: a 4-byte length of the first part, then the
        first part (a weights kind byte, the documents' deltas as uint32, the weights as float32
        or one float64), then the values, each part zlib-compressed at the codec's level."""
        if self._byteids:  # term vectors' blocks: Whoosh's own layout
            return super()._write_block(last)
        if not self._blockcount:
            self._postfile.write(SPLIT_MAGIC)
        self._terminfo.add_block(self)
        ids, weights = self._ids, self._weights
        deltas = array("I", ids)
        if len(ids) > 1:
            deltas[1:] = array("I", [b - a for a, b in zip(ids, ids[1:])])
        if all(w == 1.0 for w in weights):
            head = bytes((_WEIGHTS_ONE,))
        elif all(w == weights[0] for w in weights):
            head = bytes((_WEIGHTS_SAME,)) + _little(array("d", [weights[0]]))
        else:
            head = bytes((_WEIGHTS_EACH,)) + _little(array("f", weights))
        first = head + _little(deltas)
        values = self._mini_values()
        if isinstance(values, tuple):  # bytes strings: their number and lengths, then them joined
            values = _little(array("I", [len(values), *map(len, values)])) + b"".join(values)
        rest = values or b""
        comp = self._compression
        if comp:
            first, rest = zlib.compress(first, comp), zlib.compress(rest, comp)
        infobytes = pickle.dumps((len(ids), ids[-1], self._maxweight, comp, length_to_byte(self._minlength),
                                  length_to_byte(self._maxlength)), 2)
        length = len(infobytes) + 4 + len(first) + len(rest)
        postfile = self._postfile
        postfile.write_int(-length if last else length)
        postfile.write(infobytes)
        postfile.write(len(first).to_bytes(4, "little"))
        postfile.write(first)
        postfile.write(rest)
        self._blockcount += 1
        self._new_block()


class _LeafMatcher(W3LeafMatcher):
    """Whoosh's block matcher, reading blocks of both layouts: Whoosh's pickled tuples and the
    split blocks of this codec (the posting list's tag tells which)."""

    def _read_header(self):
        postfile = self._postfile
        postfile.seek(self._startoffset)
        magic = postfile.read(4)
        if magic not in (SPLIT_MAGIC, WHOOSH3_HEADER_MAGIC):
            raise Exception(f"Block tag error {magic!r}")  # Whoosh's own message
        self._split = magic == SPLIT_MAGIC
        self._baseoffset = postfile.tell()

    def _read_data(self):
        if not self._split:
            return super()._read_data()
        b = self._postfile.get(self._dataoffset, self._nextoffset - self._dataoffset)
        cut = 4 + int.from_bytes(b[:4], "little")
        first, self._rest = b[4:cut], b[cut:]
        if self._compression:
            first = zlib.decompress(first)
        count, kind = self._blocklength, first[0]
        if kind == _WEIGHTS_ONE:
            weights, at = None, 1
        elif kind == _WEIGHTS_SAME:
            weights, at = _array("d", first[1:9])[0], 9
        else:
            weights, at = _array("f", first[1:1 + 4 * count]), 1 + 4 * count
        self._data = (_array("I", first[at:at + 4 * count]), weights, None)

    def _read_values(self):
        if self._split:
            if self._data is None:
                self._read_data()
            if self._data[2] is None and self._fixedsize != 0:
                self._data = (*self._data[:2], self._split_values())
        return super()._read_values()

    def _split_values(self):
        rest = self._rest
        if self._compression and rest:
            rest = zlib.decompress(rest)
        fixedsize = self._fixedsize
        if fixedsize is not None and fixedsize > 0:
            return rest
        if not rest:
            return ()
        count = int.from_bytes(rest[:4], "little")
        ends = list(accumulate(_array("I", rest[4:4 + 4 * count]), initial=4 + 4 * count))
        return tuple(rest[a:b] for a, b in zip(ends, ends[1:]))

    def values_at(self, indexes: list[int]) -> list:
        """The values of the block's postings at `indexes`, without splitting the others."""
        if not self._split or (self._fixedsize is not None and self._fixedsize >= 0):
            self._read_values()
            return [self._values[i] for i in indexes]
        if self._data is None:
            self._read_data()
        rest = self._rest
        if self._compression and rest:
            rest = zlib.decompress(rest)
        if not rest:
            return [b""] * len(indexes)
        count = int.from_bytes(rest[:4], "little")
        ends = list(accumulate(_array("I", rest[4:4 + 4 * count]), initial=4 + 4 * count))
        return [rest[ends[i]:ends[i + 1]] for i in indexes]

    def ids_and_weights(self):
        """The block's documents (a list) and weights (a sequence, or None for all 1.0), read
        without its values."""
        if self._data is None:
            self._read_data()
        ids, weights = self._data[0], self._data[1]
        ids = ids if self._byteids else list(accumulate(ids))  # Whoosh decodes the deltas in Python
        if isinstance(weights, float):
            weights = (weights,) * self._blocklength
        return ids, weights


class _InlineMatcher(ListMatcher):
    """Whoosh's list matcher, whose copy keeps the term info that block-quality skipping reads."""

    def copy(self):
        return self.__class__(self._ids, self._weights, self._values, self._format, self._scorer, self._i,
                              self._all_weights, self._term, self._terminfo)


class _Lengths:
    """A segment's field lengths, each read once: Whoosh looks one up from the column for every
    posting it writes (a term's block records its shortest and longest document)."""

    def __init__(self, lengths):
        self._lengths = lengths
        self._field = None
        self._cache: dict[int, int] = {}

    def doc_field_length(self, docnum, fieldname, default=0):
        if fieldname != self._field:  # postings come field by field
            self._field, self._cache = fieldname, {}
        try:
            return self._cache[docnum]
        except KeyError:
            value = self._cache[docnum] = self._lengths.doc_field_length(docnum, fieldname, default)
            return value


class _FieldWriter(W3FieldWriter):
    def add_postings(self, schema, lengths, items):
        """Whoosh's loop over the sorted postings of a segment (base.FieldWriter.add_postings with
        W3PostingsWriter.add_posting), without two method calls, four type assertions and a
        field-length column read per posting: the commit's inner loop, run once for every posting
        written or merged."""
        length_of = _Lengths(lengths).doc_field_length if lengths else None
        lastfn = lasttext = None
        postings = ids = weights = values = None
        limit = 0
        for fieldname, btext, docnum, weight, value in items:
            if fieldname != lastfn:
                if lasttext is not None:
                    self.finish_term()
                if lastfn is not None:
                    self.finish_field()
                self.start_field(fieldname, schema[fieldname])
                lastfn, lasttext = fieldname, None
                postings = self._postwriter
                limit = postings._blocklimit
            if docnum == -1:  # a word for the spelling graph (Whoosh's convention), not a posting
                continue
            if btext != lasttext:
                if lasttext is not None:
                    self.finish_term()
                self.start_term(btext)
                lasttext = btext
                ids, weights, values = postings._ids, postings._weights, postings._values
            elif len(ids) >= limit:
                postings._write_block()
                ids, weights, values = postings._ids, postings._weights, postings._values
            ids.append(docnum)
            weights.append(weight)
            if weight > postings._maxweight:
                postings._maxweight = weight
            if value:
                values.append(value)
            if length_of is not None:
                length = length_of(docnum, fieldname)
                if length:
                    if postings._minlength is None or length < postings._minlength:
                        postings._minlength = length
                    if length > postings._maxlength:
                        postings._maxlength = length
        if lasttext is not None:
            self.finish_term()
        if lastfn is not None:
            self.finish_field()


class Codec(W3Codec):
    """W3Codec with posting lists of fewer than `inlinelimit` articles inline. Segments record the
    codec that wrote them, so this class must stay importable at this path (or the index be
    rebuilt: a version bump)."""

    def __init__(self, blocklimit: int = 128, compression: int = 3, inlinelimit: int = INLINE):
        super().__init__(blocklimit=blocklimit, compression=compression, inlinelimit=inlinelimit)

    def field_writer(self, storage, segment):
        return _FieldWriter(self, storage, segment)

    def postings_reader(self, dbfile, terminfo, format_, term=None, scorer=None):
        if terminfo.is_inlined():
            ids, weights, values = terminfo.inlined_postings()
            return _InlineMatcher(ids, weights, values, format_, scorer=scorer, term=term, terminfo=terminfo)
        offset, length = terminfo.extent()
        return _LeafMatcher(dbfile, offset, length, format_, term=term, scorer=scorer)

    def postings_writer(self, dbfile, byteids=False):
        return _PostingsWriter(dbfile, blocklimit=self._blocklimit, byteids=byteids,
                               compression=self._compression, inlinelimit=self._inlinelimit)


def blocks(terms, terminfo, format_, values: bool = True, wanted=None):
    """A term's postings a block at a time, as (ids, weights, values) sequences: an inline list
    is one block. Without `values`, the values are None (a search's scores need no positions) and
    the weights may be None (all 1.0). With `wanted`, a block whose highest document number
    `wanted` refuses is passed over without being read (its header holds that number)."""
    if terminfo.is_inlined():
        ids, weights, vals = terminfo.inlined_postings()
        yield ids, weights, vals if values else None
        return
    for m in _blocks_of(terms, terminfo, format_, wanted):
        ids, weights = m.ids_and_weights()
        if values:
            m._read_values()
            if weights is None:
                weights = (1.0,) * len(ids)
        yield ids, weights, m._values if values else None


def values_of(terms, terminfo, format_, docs, wanted=None):
    """(document, value) of a term's postings in the documents `docs`, only those values decoded;
    `wanted` as for `blocks`."""
    if terminfo.is_inlined():
        ids, _, vals = terminfo.inlined_postings()
        yield from ((d, v) for d, v in zip(ids, vals) if d in docs)
        return
    for m in _blocks_of(terms, terminfo, format_, wanted):
        ids, _ = m.ids_and_weights()
        indexes = [i for i, d in enumerate(ids) if d in docs]
        if indexes:
            yield from zip([ids[i] for i in indexes], m.values_at(indexes))


def _blocks_of(terms, terminfo, format_, wanted):
    """The matcher of a term's posting blocks, at each block `wanted` accepts (every one with None)."""
    offset, length = terminfo.extent()
    m = _LeafMatcher(terms._postfile, offset, length, format_)
    while not m._atend:
        if wanted is None or wanted(m._maxid):
            yield m
        m._next_block()


class MergeReader(SegmentReader):
    """A segment read for merging into another: its postings a block at a time, where Whoosh's
    reader looks each term up again and steps through its postings with four method calls each
    (two thirds of a merge's time). Segments with deletions, or of another codec, are read
    Whoosh's way."""

    def iter_postings(self):
        terms = self._terms
        if self.has_deletions() or not isinstance(terms, W3TermsReader):
            yield from super().iter_postings()
            return
        schema = self.schema
        for (fieldname, btext), terminfo in terms.items():
            if fieldname not in schema:
                continue
            for ids, weights, values in blocks(terms, terminfo, schema[fieldname].format):
                yield from zip(repeat(fieldname), repeat(btext), ids, weights, values)


class _Pool(PostingPool):
    """Whoosh's posting pool, whose runs on disk (when a commit's postings outgrow `limitmb`) are
    pickled in chunks: Whoosh pickles and unpickles each posting on its own, which made a bulk
    rebuild spend more time on its sort files than on indexing (531 docs/s at 20,000 articles;
    937 with a pool large enough never to write a run)."""

    # The final merge of the runs holds one chunk of each run at once: a tier merge of 20,000
    # articles beside a crawl spilled some 45 runs, and chunks of 20,000 postings took the
    # indexing process from 180 to 359 MB; chunks of 2,000 cost the same time.
    CHUNK = 2_000

    def _write_run(self, f, items):
        items = iter(items)
        while chunk := list(islice(items, self.CHUNK)):
            pickle.dump(chunk, f, pickle.HIGHEST_PROTOCOL)
        f.close()

    def _read_run(self, path):
        f = self._open_run(path)
        try:
            while True:
                try:
                    chunk = pickle.load(f)
                except EOFError:
                    return
                yield from chunk
        finally:
            f.close()
            self._remove_run(path)


class SegmentWriter(writing.SegmentWriter):
    """Whoosh's segment writer with the chunked posting pool."""

    def __init__(self, ix, *args, limitmb: int = 128, **kwargs):
        super().__init__(ix, *args, limitmb=limitmb, **kwargs)
        self.pool = _Pool(self._tempstorage, self.newsegment, limitmb=limitmb)
