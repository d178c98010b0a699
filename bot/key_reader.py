"""How one text is read for keys, once its disguises are undone: whitespace joined, each
candidate weighed against the known forms and for randomness, and traced back to where it
stands in the original."""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from itertools import pairwise

from bot.disguise import Traced
from bot.key_formats import (
    ALNUM,
    BROAD_MIN_BODY,
    BROAD_PREFIX,
    ENCODED_JSON,
    EXACT_FORMATS,
    KEY_CHARS,
    MARKED_KINDS,
    PREFIX,
    PREFIX_WORDS,
)
from bot.randomness import (
    is_plain_word,
    is_small_word,
    is_words,
    looks_like_hex_secret,
    looks_random,
    piece_looks_random,
)

_PIECES = re.compile(r"\S+")
# The longest word-like piece taken for the middle of a key, between two line breaks.
_WORD_IN_A_KEY = 3
_WORD_IN_A_SHORT_KEY = 7


@dataclass(frozen=True, slots=True)
class FoundKey:
    """A key as its provider issued it; text[start:end] of the text searched is where it
    stands, disguises included (and anything after a line break that reads as more of it)."""

    key: str
    start: int
    end: int


class KeyReader:
    """One reading of one text: its plain form, then that form without whitespace."""

    def __init__(self, text: str, traced: Traced, *, growing: bool) -> None:
        self._traced = traced
        self._growing = growing
        plain = traced.text
        pieces = list(_PIECES.finditer(plain))
        self.joined = "".join(p.group(0) for p in pieces)
        self._origin: list[int] = []
        # Positions in `joined` that follow whitespace in the plain text, in order.
        self._gap_list: list[int] = []
        for piece in pieces:
            if self._origin:
                self._gap_list.append(len(self._origin))
            self._origin.extend(range(piece.start(), piece.end()))
        self._gaps = frozenset(self._gap_list)
        self.undecided = len(text)

    def span(self, start: int, end: int) -> tuple[int, int]:
        """The original span of joined[start:end]."""
        first, last = self._origin[start], self._origin[end - 1]
        return self._traced.starts[first], self._traced.ends[last]

    def hold(self, start: int) -> None:
        """Text growing: from joined[start] on, nothing is decided yet."""
        if self._growing and start < len(self.joined):
            self.undecided = min(self.undecided, self.span(start, start + 1)[0])

    def keys(self) -> list[FoundKey]:
        found: list[FoundKey] = []
        joined = self.joined
        taken = 0
        for prefix in PREFIX.finditer(joined):
            start = prefix.start()
            if start < taken:
                continue
            ends = self._key_at(start)
            if ends is not None:
                key_end, hidden_end = ends
                found.append(FoundKey(joined[start:key_end], *self.span(start, hidden_end)))
                taken = hidden_end
        self._hold_partial_prefix()
        return found

    def _key_at(self, start: int) -> tuple[int, int] | None:
        """Where the key starting at joined[start] ends, and where what is hidden with it ends.

        A line break can fall just where a fixed form would end, or a random token follow a
        key on the next line: the key is the fixed form, and what goes on past the break and
        still reads as a key is hidden with it.
        """
        exact = self._exact_end(start)
        broad = self._broad_end(start)
        if exact is None:
            return None if broad is None else (broad, broad)
        return exact, max(exact, broad or exact)

    def _exact_end(self, start: int) -> int | None:
        """The end of a known form that starts here and ends at a space or a stop.

        When forms of several lengths fit (OpenAI's halves are 58 or 74 characters), a key
        broken by a line break could end at either: the longer one counts only if what it
        adds past the shorter is more of the key, not the words after it.
        """
        joined = self.joined
        ends = []
        for form in EXACT_FORMATS:
            match = form.pattern.match(joined, start)
            if match is None:
                continue
            end = match.end()
            if end == len(joined):
                self.hold(start)  # more key characters may follow
            elif joined[end] in KEY_CHARS and end not in self._gaps:
                continue  # a longer string than this form: perhaps the broad one
            # A marker is evidence enough; a bare length must look random too.
            if form.random_from is None or self._random_form(start + form.random_from, end):
                ends.append(end)
        if not ends:
            return None
        shortest = min(ends)
        return max(end for end in ends if self._continues(shortest, end))

    def _continues(self, end: int, longer: int) -> bool:
        """Whether joined[end:longer] is more of a key: pieces of key material only."""
        cuts = [end, *self._gaps_within(end, longer), longer]
        return all(self._key_material(a, b) for a, b in pairwise(cuts) if a < b)

    def _broad_end(self, start: int) -> int | None:
        kind = BROAD_PREFIX.match(self.joined, start)
        assert kind is not None, "every prefix is a broad one too"
        body = kind.end()
        end, open_ended = self._walk(body)
        if open_ended:
            self.hold(start)
        if end - body < BROAD_MIN_BODY or self.joined.startswith(ENCODED_JSON, body):
            return None
        if kind.group(0) in MARKED_KINDS and not self._glued(start):
            # `sk-proj-`, `sk-svcacct-` or `sk-admin-` starting a word is a key's own mark:
            # prose never writes it, so its body needs no proof of randomness (a key cut
            # short, or of a shape not yet known, must not slip through for reading as words).
            return end
        if self._random_pieces(body, end) and not self._words_then_token(start, body, end):
            return end
        if not self._glued(start) and looks_like_hex_secret(self.joined[body:end]):
            return end
        return None

    def _walk(self, body: int) -> tuple[int, bool]:
        """Where a key whose body starts at `body` ends, and whether more text could lengthen it.

        A key runs over key characters and on past a space or line break, unless what follows
        is a word or another key.
        """
        joined, gaps = self.joined, self._gaps
        at = body
        while at < len(joined):
            if joined[at] not in KEY_CHARS:
                return at, False
            if at in gaps:
                piece_end = self._piece_end(at)
                if not self._goes_on(at, piece_end, short_so_far=at - body < BROAD_MIN_BODY):
                    # The word may still grow into more of the key, and so may the piece after
                    # it that _goes_on read to judge a short word (`ad802c\n943\t930acd` is
                    # words until the last piece has grown long enough to read as random).
                    after = piece_end in gaps and self._piece_end(piece_end) == len(joined)
                    return at, piece_end == len(joined) or after
                at = piece_end
                continue
            at += 1
        return at, True

    def _goes_on(self, at: int, piece_end: int, *, short_so_far: bool) -> bool:
        """Whether the piece joined[at:piece_end], after whitespace, is more of the key."""
        if self._another_key_in(at, piece_end):
            return False
        if self._key_material(at, piece_end):
            return True
        # A few letters between two breaks (`...LL\nX\nOD-ep...`) are the middle of a key when
        # more of it follows: a word as short as this after a whole key (`OK`, `a`) is followed
        # by words. Before the key is long enough to be one, a longer word-like piece
        # (`...FEc\nyckqie\nosh...`) is taken in too.
        longest = _WORD_IN_A_SHORT_KEY if short_so_far else _WORD_IN_A_KEY
        joined = self.joined
        if not (
            piece_end - at <= longest and piece_end in self._gaps and joined[piece_end] in KEY_CHARS
        ):
            return False
        return self._key_material(piece_end, self._piece_end(piece_end))

    def _key_material(self, at: int, piece_end: int) -> bool:
        piece = self.joined[at:piece_end]
        return not (
            self._another_key_in(at, piece_end)
            or is_plain_word(piece)
            or piece.startswith(ENCODED_JSON)
            or not piece_looks_random(piece)
        )

    def _another_key_in(self, at: int, piece_end: int) -> bool:
        """A prefix starts in the piece: another key, glued to a word or with its own `sk`
        and `-` cut apart by a space."""
        # A prefix that starts in the piece ends at most three characters past it.
        prefix = PREFIX.search(self.joined, at, piece_end + 3)
        return prefix is not None and prefix.start() < piece_end

    def _random_pieces(self, body: int, end: int) -> bool:
        """Whether joined[body:end] is a generated secret, not words: as a whole, and in each
        piece when whitespace cut it (so `hash When skip` is not taken for one key)."""
        if not looks_random(self.joined[body:end]):
            return False
        cuts = [body, *self._gaps_within(body, end), end]
        return all(piece_looks_random(self.joined[a:b]) for a, b in pairwise(cuts))

    def _random_form(self, body: int, end: int) -> bool:
        """A key of a fixed length is random, and not made up to its length from what follows
        a line break: `sk-<42 characters> thanks` is a shorter key and the word after it, and
        `question eyJhbGciOi...` words and a JWT."""
        cuts = [body, *self._gaps_within(body, end), end]
        pieces = [self.joined[a:b] for a, b in pairwise(cuts)]
        made_up = len(pieces) > 1 and (
            is_small_word(pieces[-1]) or any(p.startswith(ENCODED_JSON) for p in pieces)
        )
        return not made_up and self._random_pieces(body, end)

    def _gaps_within(self, body: int, end: int) -> list[int]:
        return self._gap_list[bisect_right(self._gap_list, body) : bisect_left(self._gap_list, end)]

    def _words_then_token(self, start: int, body: int, end: int) -> bool:
        """`whisk-admin eyJhbGciOi...`: a word ending in `sk-`, more words, then a random token
        after a space. A key glued to a word and cut by a space after a head that reads as
        words needs all three by chance; ordinary text has them together all the time."""
        gaps = self._gaps_within(body, end)
        return bool(gaps) and self._glued(start) and is_words(self.joined[body : gaps[0]])

    def _glued(self, start: int) -> bool:
        """The key starts inside a word (`mykeysk-...`, `task-...`), not on its own."""
        return start > 0 and self.joined[start - 1] in ALNUM and start not in self._gaps

    def _piece_end(self, at: int) -> int:
        joined, gaps = self.joined, self._gaps
        end = at + 1
        while end < len(joined) and joined[end] in KEY_CHARS and end not in gaps:
            end += 1
        return end

    def _hold_partial_prefix(self) -> None:
        for word in PREFIX_WORDS:
            for length in range(1, len(word)):
                if self.joined.endswith(word[:length]):
                    self.hold(len(self.joined) - length)
