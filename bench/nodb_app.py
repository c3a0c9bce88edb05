"""The baseline: a plain FastAPI endpoint with the same Pydantic schema and no database."""

from fastapi import FastAPI

from plugin_analytics.ingest.schemas import BatchCreate, BatchStatus, IngestStatus, ValidEvent

app = FastAPI()


@app.post("/client/update")
async def record_event(event: ValidEvent) -> IngestStatus:
    return IngestStatus()


@app.post("/client/batch")
async def record_batch(batch: BatchCreate) -> BatchStatus:
    received = len(batch["events"])
    return BatchStatus(received=received, new=received, duplicates=0)
