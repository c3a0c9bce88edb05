"""What the SDK-compatible APIs cost against our own: the same chat events sent as Segment's
/v1/batch and /v1/track and PostHog's /batch/ and /capture, as ratios to /client/batch and
/client/update, on SQLite.

Each variant runs on a fresh database in alternate rounds (so drifts of the machine hit all
alike), one uvicorn worker loaded by wrk (-t1 -c64). No event carries an id, so every request
stores new events. Usage: python bench/sdk.py [--seconds 10] [--rounds 3]
"""

import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.ingest import BATCH_SIZE, Variants, alternating, alternating_args, post

CONTEXT = {"library": {"name": "analytics-python", "version": "2.4.0"}}


def chat(i: int) -> dict[str, Any]:
    return {
        "user": f"u{i % 50}",
        "session": f"s{i % 200}",
        "role": "assistant" if i % 2 else "user",
        "message": f"Message number {i} of the conversation about pricing.",
    }


def native(i: int) -> dict[str, Any]:
    c = chat(i)
    return {
        "user_id": c["user"], "session_id": c["session"], "event_type": "message",
        "role": c["role"], "message": c["message"],
    }  # fmt: skip


def segment(i: int) -> dict[str, Any]:
    c = chat(i)
    return {
        "type": "track", "userId": c["user"], "event": "message", "context": CONTEXT,
        "timestamp": "2026-11-24T10:00:00+00:00",
        "properties": {"session_id": c["session"], "role": c["role"], "message": c["message"]},
    }  # fmt: skip


def posthog(i: int) -> dict[str, Any]:
    c = chat(i)
    return {
        "event": "message", "distinct_id": c["user"], "timestamp": "2026-11-24T10:00:00+00:00",
        "properties": {
            "$session_id": c["session"], "role": c["role"], "message": c["message"],
            "$lib": "posthog-python", "$lib_version": "7.91.1",
        },
    }  # fmt: skip


SENT_AT = "2026-11-24T10:00:01+00:00"
BATCHES = list(range(BATCH_SIZE))
# label: (path, body); each reference is the baseline of the variants after it
BODIES = {
    "/client/batch (reference)": ("/client/batch", {"events": [native(i) for i in BATCHES]}),
    "Segment /v1/batch": ("/v1/batch", {"batch": [segment(i) for i in BATCHES], "sentAt": SENT_AT}),
    "PostHog /batch/": (
        "/batch/",
        {"api_key": "k", "batch": [posthog(i) for i in BATCHES], "sent_at": SENT_AT},
    ),
    "/client/update (reference)": ("/client/update", native(1)),
    "Segment /v1/track": ("/v1/track", {**segment(1), "sentAt": SENT_AT}),
    "PostHog /capture": ("/capture", {**posthog(1), "api_key": "k", "sent_at": SENT_AT}),
}


def main() -> None:
    args = alternating_args(__doc__)
    variants: Variants = {
        label: ("main:app", {}, path, post(json.dumps(body)))
        for label, (path, body) in BODIES.items()
    }
    rates = alternating(variants, args.seconds, args.rounds)
    reference = 0.0
    for label, mean in rates.items():
        if "reference" in label:
            reference = mean
        print(f"{label:>28}  {mean:8.0f} req/s  {mean / reference:5.2f}x", flush=True)


if __name__ == "__main__":
    main()
