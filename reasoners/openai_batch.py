"""A provider's Batch API (OpenAI's `/v1/batches`): upload every request at once, wait, read back.

Cheaper than online requests (OpenAI bills batches at half price) and meant for offline scoring
runs with a large `run.batch_size`. The requests are the exact bodies the online path sends; each
output line becomes the same response an online call would, and a line the provider failed
becomes a failed response naming its status. The control-plane calls (upload, create, poll,
download) use the OpenAI client's own bounded retries.

A submitted batch is paid for, so it is recorded (in `records`, keyed by the endpoint and the exact
request file) until its results are read: a run killed while waiting re-attaches to it when run
again instead of submitting the same requests twice. The record is removed once the results are
read, so a later run of the same requests (those that failed) submits a new batch.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cascade.core import write_atomic

log = logging.getLogger(__name__)

ENDPOINT = "/v1/chat/completions"
_WAITING = {"validating", "in_progress", "finalizing", "cancelling"}
CANCEL_GRACE_S = 900.0
"""How long a cancelled batch may take to stop before its requests are given up."""


@dataclass(frozen=True)
class LineResult:
    """One request's outcome: a chat completion body, or an error message."""

    body: dict[str, Any] | None = None
    error: str | None = None


def request_lines(bodies: Sequence[dict[str, Any]]) -> bytes:
    """The batch input file: one JSON line per request, `custom_id` = its position."""
    lines = [
        json.dumps({"custom_id": str(i), "method": "POST", "url": ENDPOINT, "body": body})
        for i, body in enumerate(bodies)
    ]
    return ("\n".join(lines) + "\n").encode()


def read_lines(text: str, results: dict[int, LineResult]) -> None:
    """Fill `results` from an output or error file of a finished batch."""
    for line in text.splitlines():
        if not line.strip():
            continue
        record = json.loads(line)
        index = int(record["custom_id"])
        response = record.get("response") or {}
        status = response.get("status_code")
        body = response.get("body") or {}
        if status == 200 and not record.get("error"):
            results[index] = LineResult(body=body)
            continue
        error = record.get("error") or body.get("error") or {}
        message = error.get("message") if isinstance(error, dict) else str(error)
        label = f"HTTP {status}" if status else "batch error"
        results[index] = LineResult(error=f"{label} (batch line): {message or 'no message'}")


def record_path(records: Path, base_url: str, lines: bytes) -> Path:
    """Where the batch of exactly these request lines sent to `base_url` is recorded."""
    key = hashlib.sha256(base_url.encode() + b"\n" + lines).hexdigest()
    return records / f"{key}.json"


def attach(client: Any, record: Path) -> Any | None:
    """The recorded batch, if an earlier run submitted it and the provider still knows it."""
    try:
        batch_id = json.loads(record.read_text())["batch"]
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as error:
        log.warning("unreadable batch record %s (%s): submitting anew", record, error)
        return None
    try:
        batch = client.batches.retrieve(batch_id)
    except Exception as error:
        if getattr(error, "status_code", None) != 404:
            raise  # the provider may be unreachable: keep the record for the next run
        log.warning("batch %s (%s) is unknown to the provider: submitting anew", batch_id, record)
        return None
    log.info("re-attached to batch %s (%s), submitted by an earlier run", batch_id, batch.status)
    return batch


def submit(client: Any, lines: bytes, record: Path) -> Any:
    """Upload the request file, create the batch and record it before anything else happens."""
    upload = client.files.create(file=("cascade-requests.jsonl", lines), purpose="batch")
    batch = client.batches.create(
        input_file_id=upload.id, endpoint=ENDPOINT, completion_window="24h"
    )
    write_atomic(record, json.dumps({"batch": batch.id, "base_url": str(client.base_url)}))
    log.info("batch %s submitted (recorded in %s)", batch.id, record)
    return batch


def run_batch(
    client: Any,
    bodies: Sequence[dict[str, Any]],
    *,
    poll_s: float,
    timeout_s: float,
    records: Path,
    sleep: Callable[[float], None] = time.sleep,
) -> list[LineResult]:
    """Submit `bodies` as one batch (or re-attach to the one an earlier run submitted), wait for
    it, and return one result per body, in order."""
    lines = request_lines(bodies)
    record = record_path(records, str(client.base_url), lines)
    batch = attach(client, record) or submit(client, lines, record)
    deadline = time.monotonic() + timeout_s
    cancelled = False
    while batch.status in _WAITING:
        now = time.monotonic()
        if now > deadline + CANCEL_GRACE_S:
            break
        if now > deadline and not cancelled:
            log.warning("batch %s unfinished after %.0f s: cancelling it", batch.id, timeout_s)
            batch, cancelled = client.batches.cancel(batch.id), True
            continue
        sleep(poll_s)
        batch = client.batches.retrieve(batch.id)
    results: dict[int, LineResult] = {}
    for file_id in (batch.output_file_id, batch.error_file_id):
        if file_id:
            read_lines(client.files.content(file_id).text, results)
    record.unlink(missing_ok=True)  # read: a later run of these requests submits anew
    missing = LineResult(error=f"batch {batch.id} ended {batch.status} without this request")
    if batch.status == "failed" and batch.errors and batch.errors.data:
        reasons = "; ".join(str(e.message) for e in batch.errors.data)
        missing = LineResult(error=f"batch {batch.id} failed: {reasons}")
    return [results.get(i, missing) for i in range(len(bodies))]
