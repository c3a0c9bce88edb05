"""What the guards on ingestion cost: single-event ingestion on SQLite, as shipped and with write
keys, a rate limit or PII redaction on, against the same app without security headers and CORS.

Each variant runs on a fresh database in alternate rounds (so drifts of the machine hit all
alike), one uvicorn worker loaded by wrk (-t1 -c64); figures are ratios to the unguarded app.
Usage: python bench/access.py [--seconds 10] [--rounds 3]
"""

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.conftest import migrate

from bench.ingest import measure, post, server_env, single_body

WRITE_KEY = "wk_bench_0123456789"
PII_MESSAGE = "Call me on (415) 555-0132 or mail ana@example.com about the Pro plan, please."
TARGET = 0.10  # at most 10% slower than the unguarded app, as shipped


def with_key(lua: str) -> str:
    return f'wrk.headers["X-Write-Key"] = "{WRITE_KEY}"\n{lua}'


def pii_body() -> str:
    return json.dumps({**json.loads(single_body()), "message": PII_MESSAGE})


# label: (app, extra environment, wrk script)
VARIANTS = {
    "unguarded (reference)": ("bench.unguarded_app:app", {}, post(single_body())),
    "as shipped (headers, CORS)": ("main:app", {}, post(single_body())),
    "+ write key, rate limit": (
        "main:app",
        {"WRITE_KEYS": WRITE_KEY, "INGEST_RATE_LIMIT": "100000000/minute"},
        with_key(post(single_body())),
    ),
    "+ REDACT_PII, no PII in text": ("main:app", {"REDACT_PII": "true"}, post(single_body())),
    "+ REDACT_PII, phone and e-mail": ("main:app", {"REDACT_PII": "true"}, post(pii_body())),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is needed: apt-get install wrk")
    rates: dict[str, list[float]] = {label: [] for label in VARIANTS}
    with tempfile.TemporaryDirectory() as tmp:
        for round_ in range(args.rounds):
            for n, (label, (app, env, lua)) in enumerate(VARIANTS.items()):
                url = f"sqlite:///{tmp}/{n}_{round_}.db"
                migrate(url)
                load = measure(app, {**server_env(url), **env}, "/client/update", lua, args.seconds)
                assert load.refused == 0, f"{label}: {load.refused} requests refused"
                rates[label].append(load.requests_per_s)
    reference = sum(rates["unguarded (reference)"]) / args.rounds
    for label, runs in rates.items():
        mean = sum(runs) / len(runs)
        line = f"{label:>32}  {mean:8.0f} req/s  {mean / reference:5.2f}x"
        if label == "as shipped (headers, CORS)":
            verdict = "met" if 1 - mean / reference <= TARGET else "MISSED"
            line += f"   (cost {1 - mean / reference:.1%}; target <= {TARGET:.0%}: {verdict})"
        print(line, flush=True)


if __name__ == "__main__":
    main()
