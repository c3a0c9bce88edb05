"""What the guards on ingestion cost: single-event ingestion on SQLite, as shipped and with write
keys, a rate limit or PII redaction on, against the same app without security headers and CORS.

Each variant runs on a fresh database in alternate rounds (so drifts of the machine hit all
alike), one uvicorn worker loaded by wrk (-t1 -c64); figures are ratios to the unguarded app.
Usage: python bench/access.py [--seconds 10] [--rounds 3]
"""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.ingest import Variants, alternating, alternating_args, post, single_body

WRITE_KEY = "wk_bench_0123456789"
PII_MESSAGE = "Call me on (415) 555-0132 or mail ana@example.com about the Pro plan, please."
TARGET = 0.10  # at most 10% slower than the unguarded app, as shipped


def with_key(lua: str) -> str:
    return f'wrk.headers["X-Write-Key"] = "{WRITE_KEY}"\n{lua}'


def pii_body() -> str:
    return json.dumps({**json.loads(single_body()), "message": PII_MESSAGE})


UPDATE = "/client/update"
VARIANTS: Variants = {
    "unguarded (reference)": ("bench.unguarded_app:app", {}, UPDATE, post(single_body())),
    "as shipped (headers, CORS)": ("main:app", {}, UPDATE, post(single_body())),
    "+ write key, rate limit": (
        "main:app",
        {"WRITE_KEYS": WRITE_KEY, "INGEST_RATE_LIMIT": "100000000/minute"},
        UPDATE,
        with_key(post(single_body())),
    ),
    "+ REDACT_PII, no PII in text": (
        "main:app",
        {"REDACT_PII": "true"},
        UPDATE,
        post(single_body()),
    ),
    "+ REDACT_PII, phone and e-mail": (
        "main:app",
        {"REDACT_PII": "true"},
        UPDATE,
        post(pii_body()),
    ),
}


def main() -> None:
    args = alternating_args(__doc__)
    rates = alternating(VARIANTS, args.seconds, args.rounds)
    reference = rates["unguarded (reference)"]
    for label, mean in rates.items():
        line = f"{label:>32}  {mean:8.0f} req/s  {mean / reference:5.2f}x"
        if label == "as shipped (headers, CORS)":
            verdict = "met" if 1 - mean / reference <= TARGET else "MISSED"
            line += f"   (cost {1 - mean / reference:.1%}; target <= {TARGET:.0%}: {verdict})"
        print(line, flush=True)


if __name__ == "__main__":
    main()
