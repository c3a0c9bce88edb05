"""Export encodings: CSV that spreadsheets cannot run, NDJSON with every field, and gzip.

CSV follows RFC 4180 (comma, double quotes, CRLF rows) and is UTF-8 without a byte order mark
unless asked for one (Excel needs it to read UTF-8). Formula neutralisation follows OWASP's CSV
injection guidance: a cell that starts with = + - @, a tab or a carriage return gets a leading
apostrophe, so a spreadsheet shows it as text instead of evaluating it. A cell that starts with
an apostrophe gets one too, which makes the rule exactly reversible: drop one leading apostrophe
from any cell that has one.
"""

import csv
import io
import json
import zlib
from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta
from typing import Any, Literal

Format = Literal["csv", "ndjson"]
CSV_COLUMNS = ("event_id", "user_id", "session_id", "event_type", "timestamp", "message")
# Every stored field, in the order NDJSON objects list them.
ALL_FIELDS = (
    "event_id", "user_id", "session_id", "event_type", "role", "message", "cta_id",
    "properties", "timestamp", "received_at",
    "model", "input_tokens", "output_tokens", "latency_ms",
)  # fmt: skip
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
NEEDS_APOSTROPHE = frozenset((*FORMULA_TRIGGERS, "'"))
NAIVE_EPOCH = datetime(1970, 1, 1)
UTF8_BOM = "\ufeff"
MEDIA_TYPES = {"csv": "text/csv; charset=utf-8", "ndjson": "application/x-ndjson"}


def file_name(kind: str, start: date | None, end: date | None, extension: str) -> str:
    if start and end:
        span = f"{start}_to_{end}"
    elif start or end:
        span = f"from_{start}" if start else f"until_{end}"
    else:
        span = "all"
    return f"{kind}_{span}.{extension}"


def neutralize(cell: str) -> str:
    """The cell as a spreadsheet will show but never evaluate (see the module's docstring)."""
    return "'" + cell if cell[:1] in NEEDS_APOSTROPHE else cell


def restore(cell: str) -> str:
    """The original of a neutralised cell."""
    return cell[1:] if cell.startswith("'") else cell


class UtcText:
    """ISO 8601 in UTC with a Z, as transcripts show times, of microseconds since the epoch
    (both databases hand exports their times so). Rows come in time order, so the text up to
    the minute is remembered for the next rows instead of made again for each one."""

    def __init__(self) -> None:
        self._minute: int | None = None
        self._prefix = ""

    def __call__(self, epoch_us: int) -> str:
        minute, us = divmod(epoch_us, 60_000_000)
        if minute != self._minute:
            self._minute = minute
            self._prefix = (NAIVE_EPOCH + timedelta(minutes=minute)).isoformat()[:17]
        second, us = divmod(us, 1_000_000)
        # As datetime.isoformat: no fraction when it is zero.
        return f"{self._prefix}{second:02d}.{us:06d}Z" if us else f"{self._prefix}{second:02d}Z"


def event_cells(rows: Iterable[Sequence[Any]], escape_formulas: bool) -> list[list[str]]:
    """CSV_COLUMNS cells of event rows (the time in epoch microseconds), neutralised if asked.
    One flat comprehension: this runs for every exported row."""
    utc_text = UtcText()
    if not escape_formulas:
        return [[e, u, s, t, utc_text(at), m] for e, u, s, t, at, m in rows]
    x = NEEDS_APOSTROPHE  # the time cell starts with a digit: never neutralised
    return [
        [
            "'" + e if e[:1] in x else e,
            "'" + u if u[:1] in x else u,
            "'" + s if s[:1] in x else s,
            "'" + t if t[:1] in x else t,
            utc_text(at),
            "'" + m if m[:1] in x else m,
        ]
        for e, u, s, t, at, m in rows
    ]


class CsvEncoder:
    def __init__(self, columns: Sequence[str], *, bom: bool = False) -> None:
        self._buffer = io.StringIO()
        self._writer = csv.writer(self._buffer, lineterminator="\r\n")
        self._bom = bom
        self._columns = columns

    def header(self) -> str:
        self._writer.writerow(self._columns)
        return (UTF8_BOM if self._bom else "") + self._take()

    def rows(self, rows: Iterable[Sequence[Any]]) -> str:
        """CSV of `rows` (`None` becomes an empty cell)."""
        self._writer.writerows(rows)
        return self._take()

    def _take(self) -> str:
        text = self._buffer.getvalue()
        self._buffer.seek(0)
        self._buffer.truncate()
        return text


def ndjson_lines(rows: Iterable[dict[str, Any]]) -> str:
    return "".join(
        json.dumps(row, ensure_ascii=False, separators=(",", ":")) + "\n" for row in rows
    )


class Gzip:
    """Incremental gzip: each chunk is compressed as it is made, never the whole file."""

    def __init__(self) -> None:
        self._compressor = zlib.compressobj(6, zlib.DEFLATED, 31)  # 31: with a gzip header

    def feed(self, data: bytes) -> bytes:
        return self._compressor.compress(data)

    def finish(self) -> bytes:
        return self._compressor.flush()


class Identity:
    def feed(self, data: bytes) -> bytes:
        return data

    def finish(self) -> bytes:
        return b""


def accepts_gzip(accept_encoding: str | None) -> bool:
    """Whether an Accept-Encoding header allows gzip (RFC 9110: q=0 means "not acceptable")."""
    if not accept_encoding:
        return False
    weights: dict[str, float] = {}
    for part in accept_encoding.split(","):
        coding, _, params = part.strip().partition(";")
        weight = 1.0
        name, _, value = params.strip().partition("=")
        if name.strip().lower() == "q":
            try:
                weight = float(value)
            except ValueError:
                weight = 0.0
        weights[coding.strip().lower()] = weight
    return weights.get("gzip", weights.get("x-gzip", weights.get("*", 0.0))) > 0
