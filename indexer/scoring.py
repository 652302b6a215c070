"""The best matches of a query for words in much of the archive, scored a posting list at a time.

Whoosh scores a query a document at a time: for every match its matcher tree steps each posting
list, asks each term's scorer for the document's field length and sums the scores, about 6 µs per
match. When the words are in most articles every match has to be scored (block-max skipping finds
no block that cannot reach the top), so two frequent words took 0.6 s at 100,000 articles. Here
each term's postings are read a block at a time from Whoosh's own W3 blocks, scored in one pass
with Whoosh's BM25F figures (the searcher's idf and average field length, the model's B and K1,
in the same arithmetic as `whoosh.scoring.bm25`) and summed per document: the scores Whoosh's
collector gives, best first and ties by document number as its top-N collector orders them.

Only queries of terms, And and Or are scored here (`scorable`); an And reads its rarest part
first and the others only in the blocks that can hold its matches, as Whoosh's intersection skips.
This also keeps the top matches right: Whoosh's top-N collector replaces the matcher tree as its
minimum score rises (`Matcher.replace`), and for an And of Ors (every two-word query over title and
text) the replaced tree drops documents that belong in the top (Whoosh issue 413, "best result only
when limit=None"): the best article of a query could be missing from its first page.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from heapq import nlargest
from itertools import accumulate
from pickle import loads

from whoosh import query as wq
from whoosh.formats import Positions
from whoosh.reading import TermNotFound
from whoosh.scoring import BM25F
from whoosh.util import make_binary_tree
from whoosh.util.numeric import byte_to_length, length_to_byte

from indexer.codec import blocks, length_bytes, values_of

# A term is read only in the blocks holding candidate documents (an And's matches so far, a
# filter's articles) when it has this many times more postings than there are candidates.
NARROW = 8


def scorable(searcher) -> bool:
    """Whether the searcher ranks by BM25F (Whoosh's default model), the scores computed here."""
    return type(searcher.weighting) is BM25F


def _plain(q) -> bool:
    """An And, or an Or without Whoosh's coordination options: scored here part by part."""
    return type(q) is wq.And or (type(q) is wq.Or and not q.scale and not q.minmatch)


def top(searcher, q, limit: int | None, allow: set[int] | None = None) -> list[tuple[int, float]]:
    """(document number, score) of the best `limit` matches of `q` (every match with None) among
    the documents in `allow` (all with None), best first, ties by document number."""
    stats = _Stats(searcher)
    ordered = sorted(allow) if allow is not None else None
    groups = _groups(q, stats) if limit else None
    if groups and sum(map(len, groups)) > 1:
        return _top_bounded(searcher, stats, q, groups, limit, ordered)
    pairs: list[tuple[float, int]] = []
    for sub, offset, only in _segments(searcher, ordered):
        pairs += _segment_top(q, sub, offset, stats, only, limit)
    return _best(pairs, limit)


def _segment_top(q, sub, offset: int, stats: _Stats, only, limit: int | None) -> list[tuple[float, int]]:
    """(score, document number in the whole index) of a segment's best `limit` matches (all with
    None), every match scored; ties at the last place are all kept."""
    scores = _scores(q, sub, stats, only)
    if only is not None:
        scores = {d: s for d, s in scores.items() if d in only}
    if limit is not None and len(scores) > limit:
        floor = nlargest(limit, scores.values())[-1]
        return [(s, d + offset) for d, s in scores.items() if s >= floor]
    return [(s, d + offset) for d, s in scores.items()]


def _best(pairs: list[tuple[float, int]], limit: int | None) -> list[tuple[int, float]]:
    pairs.sort(key=lambda p: (-p[0], p[1]))
    return [(d, s) for s, d in (pairs if limit is None else pairs[:limit])]


def _segments(searcher, ordered: list[int] | None):
    """(segment searcher, its first document number, the documents of `ordered` in it as its own
    numbers or None for all) for every segment holding any of them."""
    for sub, offset in searcher.leaf_searchers():
        only = None
        if ordered is not None:
            only = set(_local(ordered, offset, offset + sub.reader().doc_count_all()))
            if not only:
                continue
        yield sub, offset, only


def _groups(q, stats: _Stats) -> list[list[tuple[wq.Term, float]]] | None:
    """The query as groups of terms an article must match one of each (an And of words, each an Or
    of its forms over title and text; an Or of terms is one group), each term with the product of
    the boosts above it; None for any other query."""
    if type(q) is wq.And and q.subqueries and q.boost > 0:
        groups = [_leaves(part, q.boost, stats) for part in q.subqueries]
        return None if any(g is None for g in groups) else groups
    leaves = _leaves(q, 1.0, stats)
    return [leaves] if leaves else None


def _leaves(q, factor: float, stats: _Stats) -> list[tuple[wq.Term, float]] | None:
    """The terms of an Or of terms (a word over title and text, and its forms), each with the
    product of the boosts above it (positive); None for any other query."""
    factor *= q.boost
    if factor <= 0:
        return None
    if type(q) is wq.Term:
        return [(q, factor)] if q.fieldname in stats.scored else None
    if type(q) is not wq.Or or not _plain(q) or not q.subqueries:
        return None
    found = []
    for part in q.subqueries:
        leaves = _leaves(part, factor, stats)
        if leaves is None:
            return None
        found += leaves
    return found


# Bounds are compared with this relative slack: the sums they bound are added in another order.
SLACK = 1e-9


class _Bounded:
    """A segment's part of a query of groups of terms (`_groups`), read a term at a time into
    partial sums: `partial` holds each article's score so far, `seen` which groups it matched,
    `left` the sum of the bounds of the terms not read yet."""

    def __init__(self, searcher, stats: _Stats, sub, offset: int, only, groups):
        self.sub, self.offset, self.only = sub, offset, only
        self.stats = stats
        reader = sub.reader()
        self.cheap = reader.doc_count_all() / NARROW
        k1p1 = stats.model.K1 + 1
        self.unread = []  # (bound, postings, group, term, factor)
        for group, leaves in enumerate(groups):
            for term, factor in leaves:
                btext = searcher.schema[term.fieldname].to_bytes(term.text)
                try:
                    terminfo = reader._terms.term_info(term.fieldname, btext)
                except (KeyError, TermNotFound):
                    continue
                # BM25 grows with the weight and falls with the length: the term's highest weight
                # in its shortest article bounds its score (Whoosh's block quality, for the list).
                weight, shortest = terminfo.max_weight(), terminfo.min_length()
                norm = stats.norms(term.fieldname)[length_to_byte(shortest) if shortest else 0]
                bound = factor * searcher.idf(term.fieldname, btext) * (weight * k1p1) / (weight + norm)
                self.unread.append((bound * (1 + SLACK), terminfo.doc_frequency(), group, term, factor))
        self.unread.sort(key=lambda u: (-u[0], u[1]))
        self.groups = len(groups)
        self.held = {u[2] for u in self.unread}  # groups with a term in the segment
        self.all = (1 << self.groups) - 1
        self.partial: dict[int, float] = {}
        self.seen: dict[int, int] = {}
        self.left = sum(u[0] for u in self.unread)

    def empty(self) -> bool:
        """No article of the segment can match: a group has none of its terms in it."""
        return len(self.held) < self.groups

    def whole(self) -> bool:
        """Every term is cheap to read: scoring the segment whole costs less than bounding it."""
        return all(u[1] <= self.cheap for u in self.unread)

    def read(self, index: int = 0) -> None:
        """The unread term at `index` read whole: its scores added to the partial sums."""
        bound, _, group, term, factor = self.unread.pop(index)
        self.left = max(0.0, self.left - bound) if self.unread else 0.0
        partial, only, reader = self.partial, self.only, self.sub.reader()
        scores = _term(term, reader, self.stats, only)
        self.stats.read[id(reader), term.fieldname, term.text] = scores
        if only is not None:
            scores = {d: s for d, s in scores.items() if d in only}
        get = partial.get
        partial.update({d: get(d, 0.0) + s * factor for d, s in scores.items()})
        if self.groups > 1:
            seen, mask = self.seen, 1 << group
            get = seen.get
            seen.update({d: get(d, 0) | mask for d in scores})

    def read_cheap(self) -> None:
        for index in range(len(self.unread) - 1, -1, -1):
            if self.unread[index][1] <= self.cheap:
                self.read(index)

    def required(self) -> int:
        """The groups an article must have been seen in: those whose terms were all read."""
        unread = {u[2] for u in self.unread}
        return sum(1 << g for g in range(self.groups) if g not in unread)

    def floor(self, limit: int) -> float:
        """A bound below the segment's `limit`-th best score: articles seen in every group match,
        and their partial sums never exceed their scores."""
        if self.groups == 1:
            return _floor(self.partial.values(), limit) * (1 - SLACK)
        seen, every = self.seen, self.all
        return _floor((s for d, s in self.partial.items() if seen[d] == every), limit) * (1 - SLACK)

    def candidates(self, floor: float) -> set[int]:
        """The articles that can still score `floor`: seen in every group whose terms were all
        read, and with their partial sum and the bounds of the unread terms reaching it."""
        cut = floor / (1 + SLACK) - self.left
        found = {d for d, s in self.partial.items() if s >= cut}
        need, seen = self.required(), self.seen
        if self.groups == 1 or not need:
            return found
        return {d for d in found if seen[d] & need == need}

    def leading(self, count: int) -> list[int]:
        """The segment's `count` articles of the highest partial sums."""
        return nlargest(count, self.partial, key=self.partial.get)

    def exact(self, q, docs) -> dict[int, float]:
        """The scores of `docs` that match, numbered as in the whole index (`_scores`' figures)."""
        if not docs:
            return {}
        scores = _scores(q, self.sub, self.stats, set(docs))
        return {d + self.offset: s for d, s in scores.items() if d in docs}


def _top_bounded(searcher, stats: _Stats, q, groups, limit: int, ordered) -> list[tuple[int, float]]:
    """`top` for terms, an Or of terms or an And of those, pruned as MaxScore prunes: a term's
    score in an article is at most its highest weight in its shortest article gives (its term
    info holds both), so once the `limit`-th best score passes the bounds of the terms not yet
    read, an article seen in none of the terms read cannot reach the top, and the unread terms are
    only read in the blocks of the articles that still can. A frequent word's title postings are
    read whole and its text postings only where the title already scores near the top (every one
    of them was scored: 1.1 s for a word in 88% of 10^6 articles); two words read the rarer one
    whole and the other's text only for the articles it can lift into the top. The top's scores are
    then computed by `_scores` for those articles: the same figures as scoring every match."""
    pairs: list[tuple[float, int]] = []
    pending: list[_Bounded] = []
    # A segment whose terms are all cheap to read is scored whole; the others' cheap terms are read.
    for sub, offset, only in _segments(searcher, ordered):
        segment = _Bounded(searcher, stats, sub, offset, only, groups)
        if segment.empty():
            continue
        if segment.whole():
            pairs += _segment_top(q, sub, offset, stats, only, limit)
            continue
        segment.read_cheap()
        pending.append(segment)
    exact = {d: s for s, d in pairs}
    # A first floor: the exact scores of the best articles by their partial sums.
    size = limit * 2
    leading = sorted(((seg.partial[d], d, i) for i, seg in enumerate(pending) for d in seg.leading(limit * 6)),
                     reverse=True)
    while leading and len(exact) < limit:
        batch, leading = leading[:size], leading[size:]
        for i, segment in enumerate(pending):
            exact.update(segment.exact(q, {d for _, d, j in batch if j == i}))
        size *= 2
    floor = _floor(exact.values(), limit)
    for segment in pending:
        while segment.unread and segment.left >= floor:
            if len(segment.unread) == 1:  # read last: the segment is scored whole instead
                break
            segment.read()
            floor = max(floor, segment.floor(limit))
        if segment.unread and segment.left >= floor:
            found = _segment_top(q, segment.sub, segment.offset, stats, segment.only, limit)
            exact.update((d, s) for s, d in found)
        else:
            offset = segment.offset
            exact.update(segment.exact(q, {d for d in segment.candidates(floor) if d + offset not in exact}))
        floor = max(floor, _floor(exact.values(), limit))
    return _best([(s, d) for d, s in exact.items()], limit)


def _floor(scores, limit: int) -> float:
    """The `limit`-th best of `scores`, 0 when there are fewer."""
    best = nlargest(limit, scores)
    return best[-1] if len(best) == limit else 0.0


def term_docs(searcher, fieldname: str, btexts: list[bytes], only: set[int] | None = None) -> set[int] | None:
    """The documents holding any of the terms `btexts` of `fieldname`, read a block at a time
    (Whoosh's matchers step through them one document at a time, a union of matchers for a
    pattern or a range); None when a segment is not one of W3 posting blocks. With `only`, at
    least those of its documents that hold a term: only the blocks that can hold them are read."""
    found: set[int] = set()
    format_ = searcher.schema[fieldname].format
    ordered = sorted(only) if only is not None else None
    for sub, offset in searcher.leaf_searchers():
        reader = sub.reader()
        terms = getattr(reader, "_terms", None)
        if terms is None or not hasattr(terms, "_postfile"):
            return None
        candidates = None
        if ordered is not None:
            candidates = _local(ordered, offset, offset + reader.doc_count_all())
            if not candidates:
                continue
        docs: set[int] = set()
        for btext in btexts:
            try:
                terminfo = terms.term_info(fieldname, btext)
            except (KeyError, TermNotFound):
                continue
            narrow = candidates is not None and len(candidates) * NARROW < terminfo.doc_frequency()
            for ids, _, _ in blocks(terms, terminfo, format_, values=False,
                                    wanted=_wanted(candidates) if narrow else None):
                docs.update(ids)
        docs.difference_update(reader._perdoc.deleted_docs())
        found.update((d + offset for d in docs) if offset else docs)
    return found


class _Stats:
    """BM25F's figures, as `whoosh.scoring.BM25FScorer` takes them from the top searcher."""

    def __init__(self, searcher):
        self.searcher = searcher
        self.model = searcher.weighting
        self.scored = {name for name, field in searcher.schema.items() if field.scorable}
        self._norms: dict[str, list[float]] = {}
        self._sizes: dict[tuple[int, str, str], int] = {}
        # A term's scores in a segment, read whole (within the search's filter): the pruned
        # ranking reads the cheap terms first and scores its candidates from them again.
        self.read: dict[tuple[int, str, str], dict[int, float]] = {}

    def norms(self, fieldname: str) -> list[float]:
        """K1 * ((1 - B) + B * length / average length) for each of the 256 length bytes."""
        norms = self._norms.get(fieldname)
        if norms is None:
            B = self.model._field_B.get(fieldname, self.model.B)  # noqa: N806 - BM25's names
            K1 = self.model.K1  # noqa: N806
            avgfl = self.searcher.avg_field_length(fieldname) or 1
            norms = self._norms[fieldname] = [K1 * ((1 - B) + B * byte_to_length(b) / avgfl) for b in range(256)]
        return norms

    def size(self, q, reader) -> int:
        """Whoosh's estimate of the matches of `q` in the segment of `reader`, a term's looked up once."""
        if type(q) is not wq.Term:
            return q.estimate_size(reader)
        key = (id(reader), q.fieldname, q.text)
        size = self._sizes.get(key)
        if size is None:
            size = self._sizes[key] = q.estimate_size(reader)
        return size


def _scores(q, sub, stats: _Stats, only) -> dict[int, float]:
    """The matching documents of the segment searcher `sub` with their scores, summed as Whoosh's
    intersection and union matchers sum them (a compound of one query keeps that query's score,
    boosts multiply). With `only` (a set of documents), the result holds at least those of them
    that match; documents outside it may be left out. Terms of scored fields, And and Or are
    scored here; any other query (a phrase's position check, NOT, a prefix, a range) through its
    own Whoosh matcher."""
    if type(q) is wq.Term and q.fieldname in stats.scored:
        scores = _term(q, sub.reader(), stats, only)
    elif type(q) is wq.Phrase and q.slop == 1 and q.fieldname in stats.scored and only is None:
        docs = _with_every_word(sub.reader(), q)
        return _matched(q, sub, None) if docs is None else _phrase(q, sub.reader(), stats, docs)
    elif not _plain(q) or not q.subqueries:
        return _matched(q, sub, only)
    elif len(q.subqueries) == 1:
        return _scores(q.subqueries[0], sub, stats, only)  # Whoosh's matcher is the one's
    elif type(q) is wq.Or:
        # Largest first (fewest updates), by an order that does not depend on `only`: the sums of
        # three or more parts are then added in the same order whatever documents are asked for.
        reader = sub.reader()
        ordered = sorted(q.subqueries, key=lambda part: stats.size(part, reader), reverse=True)
        parts = [_scores(part, sub, stats, only) for part in ordered]
        scores = parts[0]
        for part in parts[1:]:
            get = scores.get
            scores.update({d: s + v if (v := get(d)) is not None else s for d, s in part.items()})
    else:  # And: the rarest first, each next one read only where the others matched
        scores = None
        reader = sub.reader()
        for part in sorted(q.subqueries, key=lambda part: stats.size(part, reader)):
            found = _scores(part, sub, stats, only if scores is None else scores.keys())
            if scores is None:
                scores = found
            else:
                scores = {d: scores[d] + found[d] for d in scores.keys() & found.keys()}
            if not scores:
                return {}
    if q.boost != 1.0:
        boost = q.boost
        scores = {d: s * boost for d, s in scores.items()}
    return scores


def _matched(q, sub, only) -> dict[int, float]:
    """Whoosh's own matcher for `q`, stepped through every match (or to each document of
    `only`): the scores its collector would see, without the collector's matcher replacement."""
    m = q.matcher(sub, sub.context())
    scores: dict[int, float] = {}
    if only is None:
        while m.is_active():
            scores[m.id()] = m.score()
            m.next()
        return scores
    for d in sorted(only):
        if not m.is_active():
            break
        if m.id() < d:
            m.skip_to(d)
            if not m.is_active():
                break
        if m.id() == d:
            scores[d] = m.score()
    return scores


def _with_every_word(reader, q) -> set[int] | None:
    """The segment's documents where the phrase `q` occurs (where its words all occur, for a
    phrase with slop), read a block at a time, the rarest word first, and checked on the words'
    positions. Whoosh's phrase matcher finds them by stepping both words' postings one at a time
    (194 ms for two words in 5% and 21% of 10^6 articles); its score for each is then its own.
    None when the segment is not one of W3 posting blocks."""
    terms = getattr(reader, "_terms", None)
    if terms is None or not hasattr(terms, "_postfile") or q.fieldname not in reader.schema:
        return None
    field = reader.schema[q.fieldname]
    infos = []
    for word in q.words:
        try:
            infos.append(terms.term_info(q.fieldname, field.to_bytes(word)))
        except (KeyError, TermNotFound, ValueError):
            return set()
    positional = q.slop == 1 and field.format.supports("positions")
    order = sorted(range(len(infos)), key=lambda i: infos[i].doc_frequency())
    docs = None
    values: dict[int, dict[int, bytes]] = {}
    for k, i in enumerate(order):
        terminfo = infos[i]
        narrow = docs is not None and len(docs) * NARROW < terminfo.doc_frequency()
        wanted = _wanted(sorted(docs)) if narrow else None
        if docs is not None and positional and k == len(order) - 1:
            # The last word's blocks are read once: the documents left are those holding it, and
            # its positions in them are taken on the way.
            values[i] = dict(values_of(terms, terminfo, field.format, docs, wanted))
            docs = set(values[i])
        else:
            found: set[int] = set()
            for ids, _, _ in blocks(terms, terminfo, field.format, values=False, wanted=wanted):
                found.update(ids)
            docs = found if docs is None else docs & found
        if not docs:
            return docs
    if not positional:
        return docs
    # Each word's positions in those documents; the phrase is where they follow one another.
    decode = _positions if type(field.format) is Positions else field.format.decode_positions
    starts = None
    for i in order:
        left = docs if starts is None else starts.keys()
        got = values.get(i)
        if got is None:
            got = dict(values_of(terms, infos[i], field.format, left, _wanted(sorted(left))))
        at = {d: {p - i for p in decode(got[d])} for d in left if d in got}
        starts = at if starts is None else {d: both for d, ps in starts.items() if (both := ps & at.get(d, set()))}
        if not starts:
            return set()
    return set(starts)


def _positions(value: bytes):
    """The positions Whoosh's `Positions.decode_positions` gives: its pickled deltas, added up."""
    return accumulate(loads(value[4:] if value.endswith(b".") else value[4:] + b"."))


def _phrase(q, reader, stats: _Stats, docs: set[int]) -> dict[int, float]:
    """The scores of the phrase `q` in the documents `docs` where it occurs, as Whoosh's phrase
    matcher gives them: the sum of its words' scores, added as its tree of intersections adds
    them (`make_binary_tree`), times the phrase's boost."""
    if not docs:
        return {}
    words = [_term(wq.Term(q.fieldname, word), reader, stats, docs) for word in q.words]
    docs = docs.intersection(*words)  # not deleted
    scores = make_binary_tree(lambda a, b: {d: a[d] + b[d] for d in docs}, words)
    scores = {d: scores[d] for d in docs} if len(words) == 1 else scores
    return {d: s * q.boost for d, s in scores.items()} if q.boost != 1.0 else scores


def _term(q, reader, stats: _Stats, only) -> dict[int, float]:
    read = stats.read.get((id(reader), q.fieldname, q.text))
    if read is not None:  # a new dict: callers add to the one they get
        return dict(read) if only is None else {d: s for d in only if (s := read.get(d)) is not None}
    fieldname = q.fieldname
    field = reader.schema[fieldname]
    btext = field.to_bytes(q.text)
    terms = reader._terms
    try:
        terminfo = terms.term_info(fieldname, btext)
    except (KeyError, TermNotFound):
        return {}
    wanted = None
    if only is not None and len(only) * NARROW < terminfo.doc_frequency():
        wanted = _wanted(sorted(only))
    else:
        only = None
    idf = stats.searcher.idf(fieldname, btext)
    k1p1 = stats.model.K1 + 1  # bm25's (K1 + 1), the same float
    norms = stats.norms(fieldname)
    lengths = _length_bytes(reader, fieldname)
    scores: dict[int, float] = {}
    for ids, weights, _ in blocks(terms, terminfo, field.format, values=False, wanted=wanted):
        if weights is None:
            weights = (1.0,) * len(ids)
        if only is not None:
            kept = [i for i, d in enumerate(ids) if d in only]
            ids, weights = [ids[i] for i in kept], [weights[i] for i in kept]
        # whoosh.scoring.bm25(idf, tf, fl, avgfl, B, K1), its operations in its order
        scores.update(zip(ids, [idf * ((w * k1p1) / (w + norms[lengths[d]])) for d, w in zip(ids, weights)]))
    for d in reader._perdoc.deleted_docs():
        scores.pop(d, None)
    return scores


def _local(ordered: list[int], offset: int, end: int) -> list[int]:
    """The segment's own numbers of the sorted documents `ordered` from `offset` up to `end`."""
    lo, hi = bisect_left(ordered, offset), bisect_left(ordered, end)
    return [d - offset for d in ordered[lo:hi]] if offset else ordered[lo:hi]


class _wanted:
    """For blocks met in order: whether the block ending at `maxid` can hold a candidate."""

    def __init__(self, candidates: list[int]):
        self._candidates = candidates
        self._last = -1

    def __call__(self, maxid: int) -> bool:
        candidates = self._candidates
        i = bisect_right(candidates, self._last)
        self._last = maxid
        return i < len(candidates) and candidates[i] <= maxid

    def blocks(self, lasts) -> list[int]:
        """The blocks (given by their last documents, in order) that can hold a candidate."""
        candidates = self._candidates
        if len(candidates) > len(lasts):
            return [i for i, last in enumerate(lasts) if self(last)]
        found, end = [], len(lasts)
        for d in candidates:
            i = bisect_left(lasts, d)
            if i == end:
                break
            if not found or found[-1] != i:
                found.append(i)
        return found


def _length_bytes(reader, fieldname: str) -> bytes:
    """The segment's length byte of `fieldname` for every document."""
    raw = length_bytes(reader._perdoc, fieldname)
    return raw + bytes(max(0, reader.doc_count_all() - len(raw)))
