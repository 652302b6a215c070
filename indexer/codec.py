"""Whoosh's W3 posting format, with its short posting lists stored inline.

Whoosh writes every term's postings as a pickled, zlib-compressed block in the postings file, and
its option to keep a short list inside the term's own entry instead fails (`W3PostingsWriter`
calls a `set_inline` its term info names `set_inlined`), so it ships switched off. Most terms of
a small segment occur in one or two articles: each then cost a block, a pickle and a compression
of a few bytes. This codec keeps lists shorter than INLINE postings in the term's entry, which
Whoosh's reader already reads (as a list matcher, with block-quality skipping), and reads each
document's field length once per field instead of once per posting.
"""

from __future__ import annotations

import pickle
from itertools import accumulate, islice, repeat

from whoosh import writing
from whoosh.codec.whoosh3 import W3Codec, W3FieldWriter, W3LeafMatcher, W3PostingsWriter, W3TermsReader
from whoosh.matching import ListMatcher
from whoosh.reading import SegmentReader
from whoosh.writing import PostingPool

INLINE = 5


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
        return super().postings_reader(dbfile, terminfo, format_, term=term, scorer=scorer)

    def postings_writer(self, dbfile, byteids=False):
        return _PostingsWriter(dbfile, blocklimit=self._blocklimit, byteids=byteids,
                               compression=self._compression, inlinelimit=self._inlinelimit)


def blocks(terms, terminfo, format_, values: bool = True, wanted=None):
    """A term's postings a block at a time, as (ids, weights, values) sequences: an inline list
    is one block. Without `values`, the values are None (a search's scores need no positions).
    With `wanted`, a block whose highest document number `wanted` refuses is passed over without
    being read (its header holds that number)."""
    if terminfo.is_inlined():
        ids, weights, vals = terminfo.inlined_postings()
        yield ids, weights, vals if values else None
        return
    offset, length = terminfo.extent()
    m = W3LeafMatcher(terms._postfile, offset, length, format_)
    while not m._atend:
        if wanted is None or wanted(m._maxid):
            m._read_data()
            ids = m._data[0]
            m._ids = ids if m._byteids else list(accumulate(ids))  # Whoosh decodes the deltas in Python
            m._read_weights()
            if values:
                m._read_values()
            yield m._ids, m._weights, m._values if values else None
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

    CHUNK = 20_000

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
