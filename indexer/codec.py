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

import heapq
import pickle
import sys
import zlib
from array import array
from bisect import bisect_left, bisect_right
from itertools import accumulate, chain, groupby, islice
from operator import itemgetter

from whoosh import writing
from whoosh.codec.whoosh3 import (
    LENGTHS_COLUMN,
    WHOOSH3_HEADER_MAGIC,
    W3Codec,
    W3FieldWriter,
    W3LeafMatcher,
    W3PostingsWriter,
    W3TermsReader,
    _lenfield,
)
from whoosh.filedb import filetables
from whoosh.matching import ListMatcher
from whoosh.reading import SegmentReader
from whoosh.util.numeric import byte_to_length, length_to_byte
from whoosh.writing import PostingPool

INLINE = 5
# The tag that starts a posting list of split blocks (Whoosh's is b"W3Bl").
SPLIT_MAGIC = b"CCb1"
# A list of DIRECTORY_MIN blocks or more ends with their directory (each block's last document
# and place, their count, this tag): a search for some articles goes to their blocks, where
# Whoosh reads every block's header in turn (for a frequent word at 10^6 articles, 7,800 of them:
# two thirds of the query's time). A reader of blocks stops at the last block, before it.
DIRECTORY_MAGIC = b"CCd1"
DIRECTORY_MIN = 8
COMPRESS_MIN = 128  # bytes: zlib makes a smaller block larger (its own header and checksum)
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
    def start_postings(self, format_, terminfo):
        super().start_postings(format_, terminfo)
        self._held = None  # a copied block, written once it is known whether it is the last
        self._directory = array("I"), array("I")  # each block's last document and place in the list

    def written(self):
        return self._blockcount > 0 or self._held is not None

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
        elif self._held:
            held, self._held = self._held, None
            self._emit(*held, last=True)
        lasts, places = self._directory
        if len(lasts) >= DIRECTORY_MIN:  # after the last block, where a reader of blocks stops
            self._postfile.write(_little(lasts) + _little(places) + len(lasts).to_bytes(4, "little") + DIRECTORY_MAGIC)
        terminfo.set_extent(self._startoffset, self._postfile.tell() - self._startoffset)
        return terminfo

    def _write_block(self, last=False):
        """A block of Whoosh's header and split data: a 4-byte length of the first part, then the
        first part (a weights kind byte, the documents' deltas as uint32, the weights as float32
        or one float64), then the values, each part zlib-compressed at the codec's level."""
        if self._byteids:  # term vectors' blocks: Whoosh's own layout
            return super()._write_block(last)
        self._terminfo.add_block(self)
        ids, weights = self._ids, self._weights
        deltas = array("I", ids)
        if len(ids) > 1:
            deltas[1:] = array("I", [b - a for a, b in zip(ids, ids[1:])])
        first = _weights_head(weights) + _little(deltas)
        values = self._mini_values()
        if isinstance(values, tuple):  # bytes strings: their number and lengths, then them joined
            values = _little(array("I", [len(values), *map(len, values)])) + b"".join(values)
        rest = values or b""
        comp = self._compression if len(first) + len(rest) >= COMPRESS_MIN else 0
        if comp:
            first, rest = zlib.compress(first, comp), zlib.compress(rest, comp)
        self._put((len(ids), ids[-1], self._maxweight, comp, length_to_byte(self._minlength),
                   length_to_byte(self._maxlength)), first, rest, last=last)
        self._new_block()

    def copy_block(self, m, moved: int | list[int]):
        """Add the split block `m` reads without decoding its values (a merge's bulk: a word's
        positions), its documents moved up by `moved`, or renumbered when `moved` lists their new
        numbers (a merge drops deleted articles): only the documents and the header change.
        Postings buffered before it are written first, as a block of their own."""
        if self._ids:
            self._write_block()
        b = m._postfile.get(m._dataoffset, m._nextoffset - m._dataoffset)
        cut = 4 + int.from_bytes(b[:4], "little")
        first, rest, comp = b[4:cut], b[cut:], m._compression
        if comp:
            first = zlib.decompress(first)
        count = m._blocklength
        weights, at = _weights_of(first, count)
        if isinstance(moved, int):
            deltas = _array("I", first[at:at + 4 * count])
            deltas[0] += moved
            firstid, lastid = deltas[0], m._maxid + moved
        else:
            deltas = array("I", [moved[0]] + [b - a for a, b in zip(moved, moved[1:])])
            firstid, lastid = moved[0], moved[-1]
        if weights is None or isinstance(weights, float):
            weights = (1.0 if weights is None else weights,) * count
        block = _CopiedBlock(count, firstid, lastid, m._maxweight, m._minlength, m._maxlength, weights)
        first = first[:at] + _little(deltas)
        if comp:
            first = zlib.compress(first, comp)
        self._terminfo.add_block(block)
        self._release()
        self._held = ((count, block.max_id(), m._maxweight, comp, length_to_byte(m._minlength),
                       length_to_byte(m._maxlength)), first, rest)

    def _put(self, info, first, rest, last=False):
        self._release()
        self._emit(info, first, rest, last)

    def _release(self):
        """Write the copied block held back (not the list's last: another block follows it)."""
        if self._held:
            held, self._held = self._held, None
            self._emit(*held, last=False)

    def _emit(self, info, first, rest, last):
        postfile = self._postfile
        if not self._blockcount:
            postfile.write(SPLIT_MAGIC)
        self._blockcount += 1
        self._directory[0].append(info[1])
        self._directory[1].append(postfile.tell() - self._startoffset)
        infobytes = pickle.dumps(info, 2)
        length = len(infobytes) + 4 + len(first) + len(rest)
        postfile.write_int(-length if last else length)
        postfile.write(infobytes)
        postfile.write(len(first).to_bytes(4, "little"))
        postfile.write(first)
        postfile.write(rest)


class _CopiedBlock:
    """What a term's info adds up from a block copied by a merge (W3TermInfo.add_block)."""

    def __init__(self, count, first, last, maxweight, minlength, maxlength, weights):
        self._count, self._first, self._last = count, first, last
        self._maxweight, self._minlength, self._maxlength = maxweight, minlength or None, maxlength
        self._weights = weights

    def __len__(self):
        return self._count

    def min_id(self):
        return self._first

    def max_id(self):
        return self._last

    def max_weight(self):
        return self._maxweight

    def min_length(self):
        return self._minlength

    def max_length(self):
        return self._maxlength


def _weights_head(weights) -> bytes:
    if all(w == 1.0 for w in weights):
        return bytes((_WEIGHTS_ONE,))
    if all(w == weights[0] for w in weights):
        return bytes((_WEIGHTS_SAME,)) + _little(array("d", [weights[0]]))
    return bytes((_WEIGHTS_EACH,)) + _little(array("f", weights))


def _weights_of(first: bytes, count: int):
    """A split block's weights (None for all 1.0, one float when all equal, else an array) and
    where its documents start in its first part."""
    kind = first[0]
    if kind == _WEIGHTS_ONE:
        return None, 1
    if kind == _WEIGHTS_SAME:
        return _array("d", first[1:9])[0], 9
    return _array("f", first[1:1 + 4 * count]), 1 + 4 * count


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
        count = self._blocklength
        weights, at = _weights_of(first, count)
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
    """A segment's field lengths, each field's column read at once: Whoosh reads one from the
    column file for every posting it writes (a term's block records its shortest and longest
    document)."""

    _LENGTH = [0] + [byte_to_length(b) for b in range(1, 256)]

    def __init__(self, lengths):
        self._lengths = lengths
        self._field = None
        self._bytes = b""

    def doc_field_length(self, docnum, fieldname, default=0):
        if fieldname != self._field:  # postings come field by field
            self._field, self._bytes = fieldname, length_bytes(self._lengths, fieldname)
        data = self._bytes
        return self._LENGTH[data[docnum]] if docnum < len(data) else default


def length_bytes(perdoc, fieldname: str) -> bytes:
    """A segment's length byte of `fieldname` for each document, as its column holds them (it
    may stop before the last documents; b"" when the field has no lengths). Whoosh reads one at a
    time."""
    column = perdoc._cached_reader(_lenfield(fieldname), LENGTHS_COLUMN)
    if column is None:
        return b""
    if getattr(column, "_fixedlen", None) == 1:
        return column._dbfile.get(column._basepos, column._count)
    return bytes(column.load())


class _TermsTable(filetables.OrderedHashWriter):
    """Whoosh's terms table (an on-disk hash of every term, in order), keeping each term's hash
    and place in two arrays per bucket: Whoosh keeps a tuple of two integers per term, some 130
    bytes, until the table is written at the segment's end. Merging 10^6 articles writes some ten
    million terms: 1.2 GB of tuples."""

    def __init__(self, dbfile):
        super().__init__(dbfile)
        self.buckets = [(array("I"), array("q")) for _ in range(256)]

    def add(self, key, value):  # OrderedHashWriter.add and HashWriter.add, but for the bucket
        if key <= self.lastkey:
            raise ValueError(f"Keys must increase: {self.lastkey!r}..{key!r}")
        dbfile = self.dbfile
        place = dbfile.tell()
        self.index.append(place)
        dbfile.write(filetables._lengths.pack(len(key), len(value)))
        dbfile.write(key)
        dbfile.write(value)
        hashed = self.hashfn(key)
        hashes, places = self.buckets[hashed & 255]
        hashes.append(hashed)
        places.append(place)
        self.lastkey = key

    def _write_hashes(self):  # HashWriter._write_hashes over the arrays
        dbfile, pointer = self.dbfile, filetables._pointer
        for hashes, places in self.buckets:
            numslots = 2 * len(hashes)
            self.directory.append((dbfile.tell(), numslots))
            slots = [(0, 0)] * numslots  # no key starts at 0 (the header): an empty slot
            for hashed, place in zip(hashes, places):
                slot = (hashed >> 8) % numslots
                while slots[slot][1]:
                    slot = (slot + 1) % numslots
                slots[slot] = (hashed, place)
            dbfile.write(b"".join(pointer.pack(hashed, place) for hashed, place in slots))


class _FieldWriter(W3FieldWriter):
    def __init__(self, codec, storage, segment):
        super().__init__(codec, storage, segment)
        whooshs = self._tindex  # it has written its header only: written again, the same
        whooshs.dbfile.seek(whooshs.startoffset)
        self._tindex = _TermsTable(whooshs.dbfile)
        self._tindex.extras["fieldmap"] = self._fieldmap

    def add_postings(self, schema, lengths, items):
        """Whoosh's loop over the sorted postings of a segment (base.FieldWriter.add_postings with
        W3PostingsWriter.add_posting), without two method calls, four type assertions and a
        field-length column read per posting."""
        self.add_terms(schema, lengths, _by_term(items, 0))

    def add_terms(self, schema, lengths, terms):
        """Write the terms `terms` gives in order, as (fieldname, btext, source, parts): each part
        a block to copy as it is, (matcher, base), or postings to add, (ids, weights, values).
        The inner loop of every commit and merge, run once for every posting not copied."""
        length_of = _Lengths(lengths).doc_field_length if lengths else None
        lastfn = postings = None
        limit = 0
        for fieldname, btext, _, parts in terms:
            started = False  # a merged term whose articles were all deleted is not written
            for part in parts:
                if len(part) == 3 and not part[0]:  # every posting of it deleted
                    continue
                if not started:
                    if fieldname != lastfn:
                        if lastfn is not None:
                            self.finish_field()
                        self.start_field(fieldname, schema[fieldname])
                        lastfn, postings = fieldname, self._postwriter
                        limit = postings._blocklimit
                    self.start_term(btext)
                    started = True
                if len(part) == 2:
                    postings.copy_block(*part)
                    continue
                ids, weights, values = postings._ids, postings._weights, postings._values
                for docnum, weight, value in zip(*part):
                    if len(ids) >= limit:
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
            if started:
                self.finish_term()
        if lastfn is not None:
            self.finish_field()


def _by_term(items, source):
    """Sorted postings (fieldname, btext, docnum, weight, value) as the terms `add_terms` writes.
    A document number of -1 marks a word for Whoosh's spelling graph, which it never writes."""
    for (fieldname, btext), group in groupby(items, itemgetter(0, 1)):
        ids, weights, values = [], [], []
        for _, _, docnum, weight, value in group:
            if docnum != -1:
                ids.append(docnum)
                weights.append(weight)
                values.append(value)
        if ids:
            yield fieldname, btext, source, ((ids, weights, values),)


def _segment_terms(reader, base, docmap, schema, source, limit):
    """A segment's terms as `add_terms` writes them into a merged segment where its documents
    start at `base` (or are renumbered by `docmap` when it has deletions): field by field in name
    order (the order of the pool's postings), each term's full blocks copied as they are, its
    short or inline ones re-read as postings."""
    terms = reader._terms
    for fieldname in sorted(name for name in terms.indexed_field_names() if name in schema):
        format_ = schema[fieldname].format
        for (name, btext), terminfo in terms.items_from(fieldname, b""):
            if name != fieldname:
                break
            yield fieldname, btext, source, _moved(terms, terminfo, format_, base, docmap, limit)


def _moved(terms, terminfo, format_, base, docmap, limit):
    if terminfo.is_inlined():
        ids, weights, values = terminfo.inlined_postings()
        yield _kept([d + base for d in ids] if docmap is None else [docmap.get(d) for d in ids], weights, values)
        return
    for m in _blocks_of(terms, terminfo, format_, None):
        copied = m._split and 2 * m._blocklength >= limit
        if docmap is None:
            if copied:
                yield m, base
                continue
            ids, weights = m.ids_and_weights()
            ids = [d + base for d in ids]
        else:
            ids, weights = m.ids_and_weights()
            ids = [docmap.get(d) for d in ids]
            if copied and None not in ids:
                yield m, ids
                continue
        m._read_values()
        yield _kept(ids, weights or (1.0,) * len(ids), m._values)


def _kept(ids, weights, values):
    """Postings without those of deleted articles (numbered None)."""
    if None not in ids:
        return ids, weights, values
    kept = [i for i, d in enumerate(ids) if d is not None]
    return [ids[i] for i in kept], [weights[i] for i in kept], [values[i] for i in kept]


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
    docs = docs if isinstance(docs, (set, frozenset)) else set(docs)
    ordered = sorted(docs)
    for m in _blocks_of(terms, terminfo, format_, wanted):
        ids, _ = m.ids_and_weights()
        lo, hi = bisect_left(ordered, ids[0]), bisect_right(ordered, ids[-1])
        if lo == hi:
            continue
        if (hi - lo) * 8 < len(ids):  # few candidates in the block: look each one up
            indexes = [i for d in ordered[lo:hi] if (i := bisect_left(ids, d)) < len(ids) and ids[i] == d]
        else:
            indexes = [bisect_left(ids, d) for d in sorted(docs.intersection(ids))]
        if indexes:
            yield from zip([ids[i] for i in indexes], m.values_at(indexes))


def _directory(postfile, offset: int, length: int, maxid: int):
    """A posting list's directory: each block's last document and place, or None. A list without
    one ends in a block's data, which could end in the tag: the directory must also agree with
    the list's last document and first block."""
    if length < 8 + 8 * DIRECTORY_MIN:
        return None
    tail = postfile.get(offset + length - 8, 8)
    count = int.from_bytes(tail[:4], "little")
    if tail[4:] != DIRECTORY_MAGIC or not DIRECTORY_MIN <= count <= (length - 8) // 8:
        return None
    raw = postfile.get(offset + length - 8 - 8 * count, 8 * count)
    if len(raw) != 8 * count:  # a file cut short
        return None
    both = _array("I", raw)
    lasts, places = both[:count], both[count:]
    return (lasts, places) if lasts[-1] == maxid and places[0] == len(SPLIT_MAGIC) else None


def _blocks_of(terms, terminfo, format_, wanted):
    """The matcher of a term's posting blocks, at each block `wanted` accepts (every one with None).
    With `wanted`, a list's directory, when it has one, tells which blocks to go to; without one
    every block's header is read in turn (Whoosh's way)."""
    offset, length = terminfo.extent()
    if isinstance(length, tuple):  # as W3TermInfo.from_bytes reads it (Whoosh only ever wrote it)
        length = length[0]
    m = _LeafMatcher(terms._postfile, offset, length, format_)
    directory = _directory(terms._postfile, offset, length, terminfo.max_id()) if wanted and m._split else None
    if directory:
        lasts, places = directory
        for i in wanted.blocks(lasts):
            m._goto(offset + places[i])
            yield m
        return
    while not m._atend:
        if wanted is None or wanted(m._maxid):
            yield m
        m._next_block()


class MergeReader(SegmentReader):
    """A segment read for merging into another (its stored fields, lengths and columns; its
    postings too when it has deletions, Whoosh's way)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Whoosh looks on disk for a field's lengths at every article it copies, when the field
        # has none (it is not scored): a stat call per field and article.
        perdoc = self._perdoc
        for name in self.schema.names():
            if not perdoc.has_column(_lenfield(name)):
                perdoc._readers[_lenfield(name)] = None


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
    """Whoosh's segment writer with the chunked posting pool, and merges that stream.

    Whoosh merges a segment by adding every one of its postings to the pool, which sorts them
    again (to disk, past `limitmb`) although each segment's terms are already in order and its
    documents follow the previous one's: merging the twenty segments of 10^6 articles ran for 26
    minutes and reached 1.96 GB. Here the segments are merged term by term side by side
    (`merge_segment`), their full blocks copied without decoding positions (renumbered where a
    segment's deleted articles are dropped)."""

    def __init__(self, ix, *args, limitmb: int = 128, **kwargs):
        super().__init__(ix, *args, limitmb=limitmb, **kwargs)
        self.pool = _Pool(self._tempstorage, self.newsegment, limitmb=limitmb)
        self._merged: list[list] = []  # [reader, its first document here, old: new number or None]

    def merge_segment(self, segment):
        """Add `segment`'s articles to the segment being written."""
        reader = MergeReader(self.storage, self.schema, segment)
        if not isinstance(reader._terms, W3TermsReader):
            try:
                self.add_reader(reader)  # Whoosh's way, through the pool
            finally:
                reader.close()
            return
        self._check_state()
        base = self.docnum
        self._merged.append([reader, base, None])
        names = set(self.schema.names()) | {name for name in reader.indexed_field_names() if name in self.schema}
        self._merged[-1][2] = self.write_per_doc(names, reader)  # old: new number, with deletions
        self._added = True

    def _flush_segment(self):
        if not self._merged:
            return super()._flush_segment()
        self.perdocwriter.close()
        lengths = self.per_document_reader() if self.codec.length_stats else None
        schema, limit = self.schema, self.codec._blocklimit
        sources = [_by_term(self.pool.iter_postings(), 0)]  # this writer's new documents come first
        sources += [_segment_terms(reader, base, docmap, schema, i, limit)
                    for i, (reader, base, docmap) in enumerate(self._merged, 1)]
        terms = ((fieldname, btext, None, chain.from_iterable(term[3] for term in same))
                 for (fieldname, btext), same in groupby(heapq.merge(*sources), itemgetter(0, 1)))
        try:
            self.fieldwriter.add_terms(schema, lengths, terms)
            self.fieldwriter.close()
        finally:
            if lengths:
                lengths.close()
            self._close_merged()

    def _close_merged(self):
        for reader, _, _ in self._merged:
            reader.close()
        self._merged = []

    def cancel(self):
        self._close_merged()
        super().cancel()
