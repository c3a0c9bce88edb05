"""REDACT_PII: mask e-mail addresses, payment card numbers and phone numbers in message text."""

import re
import unicodedata
from collections.abc import Iterator

from phonenumbers import Leniency, PhoneNumberMatch, PhoneNumberMatcher

EMAIL_MASK = "[email]"
CARD_MASK = "[card]"
PHONE_MASK = "[phone]"


def _combining_marks() -> str:
    # Python's \w has no combining marks, which Indic and other scripts need inside a word
    # (संपर्क@डाटामेल.भारत); emoji variation selectors and keycaps (above U+2000) stay out.
    codes = [*range(0x300, 0x2000), *range(0x3000, 0x3100)]
    return "".join(chr(code) for code in codes if unicodedata.category(chr(code)).startswith("M"))


_MARKS = _combining_marks()
_WORD = rf"[\w{_MARKS}]"
_LABEL_CHAR = rf"[\w{_MARKS}-]"
_LOCAL_CHAR = rf"[\w{_MARKS}.!#$%&'*+=?^`{{|}}~-]"
_LABEL = rf"(?!_){_WORD}(?:{_LABEL_CHAR}{{0,61}}(?<![_-]))?"
# Local part: the RFC's atext and dots, starting at a word start (so it cannot begin with a
# quote or bracket around the address), at most 64 characters as RFC 5321 allows. The last
# domain label must hold a letter, so "a@b.1" or "user@10.0.0.1" are not taken for addresses.
_EMAIL = re.compile(
    rf"(?<!{_WORD}){_WORD}{_LOCAL_CHAR}{{0,63}}"
    rf"@(?:{_LABEL}\.)+(?={_LABEL_CHAR}*[^\W\d_]){_LABEL}"
)

# A phone number has at least 7 digits, apart by at most 4 punctuation characters: only such a
# cluster (and what is around it) is searched for card and phone numbers.
MIN_PHONE_DIGITS = 7
_PHONE_HINT = re.compile(rf"\d(?:[\Wx]{{0,4}}\d){{{MIN_PHONE_DIGITS - 1},}}")
_CARD_HINT = re.compile(r"[0-9](?:[ -]?[0-9]){12}")
# Around a cluster: room for a label ("order number is"), a leading "+(" and an extension.
CONTEXT_CHARS = 40
WHITESPACE = " \n\t"
OPENING_BRACKETS = "([\uff08\uff3b"
CLOSING_BRACKETS = ")]\uff09\uff3d"
_OPENING_LEAD = re.compile(rf"[{re.escape(OPENING_BRACKETS)}]\s*")

# Digits that may hold a card: groups apart by single spaces or dashes, not glued to a word,
# a plus sign (an international phone number) or a decimal point.
_DIGIT_RUN = re.compile(r"(?<![\w+])(?<![0-9][.,])[0-9]+(?:[ -][0-9]+)*")
_DIGIT_GROUP = re.compile(r"[0-9]+")
_GLUED_AFTER = re.compile(r"\w|[.,][0-9]")
CARD_DIGITS = range(13, 20)
MAX_CARD_GROUPS = 5

_URL = r"(?:\b(?i:https?|ftp)://|\b(?i:www)\.)[^\s<>\"'`]+"
_URL_PATTERN = re.compile(_URL)
# Numbers that are not phone numbers, blanked out before PhoneNumberMatcher reads the text.
# Each begins where an ASCII word does, which spares most of the work inside words.
_NOT_A_PHONE = re.compile(
    r"(?<![A-Za-z0-9_])(?=[\w#])(?:"
    + "|".join(
        [
            _URL,
            # UUIDs and identifiers such as INV-2026-4155550132 or SKU_12345678.
            r"\b[0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}\b",
            r"(?<![\w-])[A-Za-z][A-Za-z0-9_]*[-_]?[0-9][\w-]*",
            # Order, invoice or tracking numbers by their label, and #123456789.
            r"\b(?i:order|invoice|tracking|shipment|parcel|ticket|booking|reservation|"
            r"confirmation|reference|ref|case|receipt|serial|isbn)\b"
            r"(?:\s+(?i:number|no\.?|num|id|code))?(?:\s+(?i:is|was))?\s*[:#.]?\s*"
            r"[0-9](?:[ -]?[0-9])*[xX]?",
            r"#[0-9][0-9-]*",
            # Dates (2026-11-24T10:15:00Z, 24.11.2026, 11/24/26) but not 06.12.34.56.78.
            r"(?<![0-9][-/.])[0-9]{4}(?P<ymd>[-/.])[0-9]{1,2}(?P=ymd)[0-9]{1,2}"
            r"(?:[T ][0-9]{1,2}:[0-9]{2}(?::[0-9]{2}(?:[.,][0-9]+)?)?"
            r"(?:Z|[+-][0-9]{2}:?[0-9]{2})?)?"
            r"(?![-/.]?[0-9])",
            r"(?<![0-9][-/.])[0-9]{1,2}(?P<dmy>[-/.])[0-9]{1,2}(?P=dmy)[0-9]{2,4}(?![-/.]?[0-9])",
            # IPv4 addresses and amounts: 192.168.0.10, 1,299.00, 1.299,00, 12.345.678, 4.5
            r"(?<![0-9][.,])(?:[0-9]{1,3}\.){3}[0-9]{1,3}(?![.]?[0-9])",
            r"(?<![0-9][.,])[0-9]{1,3}(?:,[0-9]{3})+(?:\.[0-9]+)?(?![.,]?[0-9])",
            r"(?<![0-9][.,])[0-9]{1,3}(?:\.[0-9]{3})+,[0-9]+(?![.,]?[0-9])",
            r"(?<![0-9][.,])[0-9]{1,3}(?:\.[0-9]{3}){2,}(?![.,]?[0-9])",
            r"(?<![0-9][.,])[0-9]+[.,][0-9]+(?![.,]?[0-9])",
        ]
    )
    + ")"
)


def might_hold_pii(text: str) -> bool:
    """False when redact() certainly changes nothing: no "@" and no long enough run of digits.
    A microsecond or two; redact() itself can take milliseconds on text full of numbers."""
    return (
        "@" in text or _PHONE_HINT.search(text) is not None or _CARD_HINT.search(text) is not None
    )


def redact(text: str, region: str = "US") -> str:
    """Mask e-mail addresses, card and phone numbers; every other character is kept as is."""
    # Masking can uncover a number it first hid behind a neighbour, so mask until nothing
    # changes: that makes redact(redact(x)) == redact(x). The masks hold no digit and no "@",
    # so a second pass over a masked message finds little to search.
    while True:
        masked = _mask_once(text, region)
        if masked == text:
            return masked
        text = masked


def _mask_once(text: str, region: str) -> str:
    if "@" in text:
        text = _EMAIL.sub(EMAIL_MASK, text)
    pieces: list[str] = []
    last_end = 0
    for start, end in _number_windows(text):
        pieces += [text[last_end:start], _mask_phones(_mask_cards(text[start:end]), region)]
        last_end = end
    if not pieces:
        return text
    pieces.append(text[last_end:])
    return "".join(pieces)


def _number_windows(text: str) -> Iterator[tuple[int, int]]:
    # A window holds whole clusters and the 40 characters either side, cut after whitespace:
    # where the text has a space the window has its edge, and every pattern here reads the
    # two alike, so a window is masked as it would be within the whole text.
    start = end = -1
    for cluster in _PHONE_HINT.finditer(text):
        if cluster.end() + CONTEXT_CHARS <= end:
            continue
        next_start = _token_start(text, cluster.start() - CONTEXT_CHARS)
        if next_start > end:
            if end >= 0:
                yield start, end
            start = next_start
        end = _token_end(text, cluster.end() + CONTEXT_CHARS)
    if end >= 0:
        yield start, end


def _token_start(text: str, index: int) -> int:
    index = max(index, 0)
    return max(text.rfind(space, 0, index) for space in WHITESPACE) + 1


def _token_end(text: str, index: int) -> int:
    found = [text.find(space, index) for space in WHITESPACE]
    return min([position for position in found if position >= 0], default=len(text))


def _mask_cards(text: str) -> str:
    if _CARD_HINT.search(text) is None:
        return text
    # URLs are blanked out (same length, so offsets still hold): their long ids are not cards.
    screened = _URL_PATTERN.sub(_blank, text)
    spans = [span for run in _DIGIT_RUN.finditer(screened) for span in _card_spans(screened, run)]
    return _replace(text, spans, CARD_MASK)


def _mask_phones(text: str, region: str) -> str:
    screened = _NOT_A_PHONE.sub(_blank, text)
    if _PHONE_HINT.search(screened) is None:
        return text
    # VALID: a real number of its country (not merely of a possible length), with the national
    # prefix where one is required, and not glued to Latin letters. The stricter levels also
    # refuse common groupings such as "0151 2345 6789" or "+31 6 1234 5678".
    matches = PhoneNumberMatcher(
        screened, region, leniency=Leniency.VALID, min_candidate_length=MIN_PHONE_DIGITS
    )
    return _replace(text, [_phone_span(match) for match in matches], PHONE_MASK)


def _phone_span(match: PhoneNumberMatch) -> tuple[int, int]:
    # In "(+49 30 901820)" the matcher takes the "(" whose ")" is left outside: keep it.
    raw = match.raw_string
    unclosed = sum(map(raw.count, OPENING_BRACKETS)) > sum(map(raw.count, CLOSING_BRACKETS))
    lead = _OPENING_LEAD.match(raw) if unclosed else None
    return match.start + (lead.end() if lead else 0), match.end


def _card_spans(text: str, run: re.Match[str]) -> Iterator[tuple[int, int]]:
    groups = [group.span() for group in _DIGIT_GROUP.finditer(text, run.start(), run.end())]
    if _GLUED_AFTER.match(text, run.end()):
        groups.pop()
    first = 0
    while first < len(groups):
        last = _longest_card(text, groups, first)
        if last is None:
            first += 1
            continue
        yield groups[first][0], groups[last][1]
        first = last + 1


def _longest_card(text: str, groups: list[tuple[int, int]], first: int) -> int | None:
    for last in range(min(len(groups), first + MAX_CARD_GROUPS) - 1, first - 1, -1):
        if _is_card(text, groups[first : last + 1]):
            return last
    return None


def _is_card(text: str, groups: list[tuple[int, int]]) -> bool:
    digits = "".join(text[start:end] for start, end in groups)
    return (
        len(digits) in CARD_DIGITS
        and digits[0] != "0"
        and _card_grouping([end - start for start, end in groups])
        and _luhn_valid(digits)
    )


def _card_grouping(lengths: list[int]) -> bool:
    # As cards print them: 4-4-4-4 (and 4-4-4-1 to 4-4-4-4-3), 4-6-5 and 4-6-4, or no groups.
    # This keeps lists of small numbers ("scores 12 15 18 21 24 27 30") from reading as a card.
    if len(lengths) == 1 or lengths in ([4, 6, 4], [4, 6, 5]):
        return True
    *head, tail = lengths
    return len(head) in (3, 4) and all(length == 4 for length in head) and tail <= 4


def _luhn_valid(digits: str) -> bool:
    total = 0
    for position, digit in enumerate(reversed(digits)):
        value = int(digit)
        if position % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def _blank(match: re.Match[str]) -> str:
    return "_" * len(match.group())


def _replace(text: str, spans: list[tuple[int, int]], mask: str) -> str:
    if not spans:
        return text
    pieces: list[str] = []
    last_end = 0
    for start, end in spans:
        pieces += [text[last_end:start], mask]
        last_end = end
    pieces.append(text[last_end:])
    return "".join(pieces)
