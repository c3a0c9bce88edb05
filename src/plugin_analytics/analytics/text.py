"""Counting what users write: the same question asked in different spellings, the words and
the phrases that come up most. Deterministic: ties are broken by the text itself."""

import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterable
from importlib.resources import files

SHOWN_CHARS = 200
MIN_WORD_CHARS = 3
STOPWORDS = frozenset(
    word
    for line in (files(__package__) / "stopwords.txt").read_text("utf-8").splitlines()
    if not line.startswith("#")
    for word in line.split()
)
# After NFKC, which has made full-width ? and ! and the ellipsis plain.
TRAILING_PUNCTUATION = re.compile(r"[\s?!.。]+$")
WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)*")


def question_key(message: str) -> str:
    """What two spellings of one question share: case, spacing and closing punctuation aside."""
    text = unicodedata.normalize("NFKC", message).casefold()
    return TRAILING_PUNCTUATION.sub("", " ".join(text.split()))


def shorten(text: str, limit: int = SHOWN_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def most_frequent(messages: Iterable[str], limit: int) -> list[tuple[str, int]]:
    """The `limit` most frequent messages: messages that differ only in case, spacing or
    closing punctuation count as one, shown (shortened) as their most frequent spelling. Ties
    go by the text, so the order messages came in changes nothing."""
    counts: Counter[str] = Counter()
    spellings: defaultdict[str, Counter[str]] = defaultdict(Counter)
    for message in messages:
        key = question_key(message)
        if key:
            counts[key] += 1
            spellings[key][" ".join(message.split())] += 1
    return [
        (shorten(min(spellings[key].items(), key=_rank)[0]), count)
        for key, count in _top(counts, limit, least=1)
    ]


def words(message: str) -> list[str]:
    """The message's words, case-folded, apostrophes kept inside them (don't, o'clock)."""
    text = unicodedata.normalize("NFKC", message).casefold().replace("\u2019", "'")
    return WORD.findall(text)


def _topical(word: str) -> bool:
    return len(word) >= MIN_WORD_CHARS and word not in STOPWORDS


def topics(messages: Iterable[str], limit: int) -> list[tuple[str, int]]:
    """The words most messages hold (each message counts a word once), function words and
    small talk left out."""
    counts: Counter[str] = Counter()
    for message in messages:
        counts.update({word for word in words(message) if _topical(word)})
    return _top(counts, limit, least=1)


def phrases(messages: Iterable[str], limit: int) -> list[tuple[str, int]]:
    """Runs of two or three words that start and end with a topical word ("free trial",
    "cancel my subscription") and that at least two messages hold. A pair is left out when a
    run of three holding it is as frequent: it says nothing the longer one does not."""
    counts: Counter[str] = Counter()
    for message in messages:
        found: set[str] = set()
        tokens = words(message)
        for size in (2, 3):
            for start in range(len(tokens) - size + 1):
                run = tokens[start : start + size]
                if _topical(run[0]) and _topical(run[-1]):
                    found.add(" ".join(run))
        counts.update(found)
    frequent = {phrase: n for phrase, n in counts.items() if n >= 2}
    covered = {
        part
        for phrase, n in frequent.items()
        if phrase.count(" ") == 2
        for part in (phrase.rsplit(" ", 1)[0], phrase.split(" ", 1)[1])
        if frequent.get(part) == n
    }
    return _top(Counter({p: n for p, n in frequent.items() if p not in covered}), limit, least=2)


def _top(counts: Counter[str], limit: int, least: int) -> list[tuple[str, int]]:
    ranked = sorted((item for item in counts.items() if item[1] >= least), key=_rank)
    return ranked[:limit]


def _rank(item: tuple[str, int]) -> tuple[int, str]:
    return -item[1], item[0]
