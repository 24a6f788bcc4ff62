# SPDX-License-Identifier: Apache-2.0
"""The bridge benchmark's load generator: a raw asyncio HTTP/1.1 client, standard library only.

Cheap on purpose (an httpx client would cost more CPU than the servers it measures). It reads one job
per line on stdin (JSON, see `Job`) and answers each with one line of JSON (see `run_job`), until EOF.
Each of `concurrency` workers holds one keep-alive connection and sends requests back to back for
`warmup` seconds (not counted), then `duration` seconds (counted: completions in that window give the
throughput, their times the latencies), or until `max_requests` were counted; a window in which fewer
than `min_requests` completed goes on until they have (at most MIN_WAIT seconds more).

A request is a POST of `body` with `@ID@` replaced by a fresh id; its answer must be HTTP 200,
contain every string of `expect`, none of `reject` (e.g. a secret the bridge must mask) and no
JSON-RPC `"error"`. For SSE answers (chunked), the time of the first chunk carrying `data:` is the
first-event latency. With `resume`, each operation is two
requests, like a client fulfilling a run-time demand by hand: the first answer must contain
`resume_expect` (the agent's `auth-required`); its task and context ids go into `resume` (`@TASK@`,
`@CTX@`), which is sent on the same connection; the pair's time is the operation's latency.
"""

from __future__ import annotations

import asyncio
import json
import math
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

#: Seconds one response may take before the request counts as failed.
REQUEST_TIMEOUT = 30.0
#: A job gives up after this many failed requests.
MAX_ERRORS = 50
#: How long past its window a job may run to count `min_requests`.
MIN_WAIT = 30.0


@dataclass
class Job:
    """One measurement: a target, a request, a concurrency and a time window."""

    port: int
    path: str
    body: str
    headers: dict[str, str] = field(default_factory=dict)
    expect: list[str] = field(default_factory=list)
    reject: list[str] = field(default_factory=list)
    concurrency: int = 1
    warmup: float = 0.5
    duration: float = 3.0
    max_requests: int = 20_000
    min_requests: int = 10
    resume: str | None = None
    resume_expect: list[str] = field(default_factory=list)


class Failed(Exception):
    """A request whose answer was not what the job expects."""


@dataclass
class Answer:
    status: int
    body: bytes
    first_event: float | None


def _header_value(head: bytes, name: bytes) -> bytes | None:
    lower = head.lower()
    at = lower.find(b"\r\n" + name + b":")
    if at < 0:
        return None
    start = at + len(name) + 3
    end = lower.find(b"\r\n", start)
    return head[start:end].strip()


async def read_answer(reader: asyncio.StreamReader) -> Answer:
    """One HTTP/1.1 response: status, body (chunked or sized) and when the first SSE event came."""
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    first_event: float | None = None
    encoding = _header_value(head, b"transfer-encoding")
    if encoding is not None and b"chunked" in encoding.lower():
        chunks: list[bytes] = []
        while True:
            size_line = await reader.readuntil(b"\r\n")
            size = int(size_line.split(b";", 1)[0], 16)
            if size == 0:
                await reader.readuntil(b"\r\n")  # no trailers are sent
                break
            chunk = (await reader.readexactly(size + 2))[:-2]
            if first_event is None and b"data:" in chunk:
                first_event = time.perf_counter()
            chunks.append(chunk)
        body = b"".join(chunks)
    else:
        length = _header_value(head, b"content-length")
        body = await reader.readexactly(int(length)) if length is not None else await reader.read()
    if (_header_value(head, b"connection") or b"").lower() == b"close":
        raise ConnectionResetError("the server closed the connection")
    return Answer(status, body, first_event)


def request_bytes(port: int, path: str, headers: dict[str, str], body: bytes) -> bytes:
    """A POST with a JSON body on a keep-alive connection."""
    lines = [
        f"POST {path} HTTP/1.1",
        f"Host: 127.0.0.1:{port}",
        "Content-Type: application/json",
        f"Content-Length: {len(body)}",
        *(f"{k}: {v}" for k, v in headers.items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def check(answer: Answer, expect: Sequence[str], reject: Sequence[str] = ()) -> None:
    """Raise Failed unless the answer is a 200 with every expected string, no rejected one, no error."""
    if answer.status != 200:
        raise Failed(f"HTTP {answer.status}: {answer.body[:300]!r}")
    if b'"error"' in answer.body:
        raise Failed(f"JSON-RPC error: {answer.body[:300]!r}")
    for text in expect:
        if text.encode() not in answer.body:
            raise Failed(f"no {text!r} in the answer: {answer.body[:300]!r}")
    for n, text in enumerate(reject):
        if text.encode() in answer.body:
            raise Failed(f"rejected string #{n} found in the answer (not shown)")


def task_ids(body: bytes) -> tuple[str, str]:
    """(task id, context id) of the task in a send result (0.3 or 1.0) or in the first SSE event."""
    text = body.decode()
    if text.lstrip().startswith("{"):
        payload = json.loads(text)
    else:
        data = next(line[5:] for line in text.splitlines() if line.startswith("data:"))
        payload = json.loads(data)
    result = payload["result"]
    inner = result.get("task") or result.get("statusUpdate") or result
    return str(inner.get("taskId") or inner["id"]), str(inner["contextId"])


@dataclass
class Tally:
    """What the workers of one job measured."""

    window_start: float
    window_end: float
    max_requests: int
    min_requests: int
    hard_end: float
    latencies: list[float] = field(default_factory=list)
    first_events: list[float] = field(default_factory=list)
    errors: int = 0
    first_error: str = ""
    capped_at: float | None = None
    last_done: float = 0.0
    completed: int = 0

    def record(self, started: float, done: float, first_event: float | None) -> None:
        self.completed += 1
        in_window = done <= self.window_end or len(self.latencies) < self.min_requests
        if self.window_start <= done and in_window and self.capped_at is None:
            self.latencies.append(done - started)
            self.last_done = done
            if first_event is not None:
                self.first_events.append(first_event - started)
            if len(self.latencies) >= self.max_requests:
                self.capped_at = done

    def fail(self, problem: str) -> None:
        self.errors += 1
        self.first_error = self.first_error or problem

    def running(self, now: float) -> bool:
        """True while workers should send: in the window, or short of `min_requests` (up to `hard_end`)."""
        if self.capped_at is not None or self.errors >= MAX_ERRORS or now >= self.hard_end:
            return False
        return now < self.window_end or len(self.latencies) < self.min_requests

    @property
    def end(self) -> float:
        """Where the counted window ended (later than planned when `min_requests` took longer)."""
        if self.capped_at is not None:
            return self.capped_at
        return max(self.window_end, self.last_done)


async def worker(job: Job, tally: Tally, prefix: str) -> None:
    body = job.body.encode()
    resume = job.resume.encode() if job.resume is not None else None
    reader: asyncio.StreamReader | None = None
    writer: asyncio.StreamWriter | None = None
    n = 0
    try:
        while tally.running(time.perf_counter()):
            n += 1
            ident = f"{prefix}-{n}".encode()
            try:
                if reader is None or writer is None:
                    reader, writer = await asyncio.open_connection("127.0.0.1", job.port)
                started = time.perf_counter()
                writer.write(request_bytes(job.port, job.path, job.headers, body.replace(b"@ID@", ident)))
                answer = await asyncio.wait_for(read_answer(reader), REQUEST_TIMEOUT)
                if resume is not None:
                    check(answer, job.resume_expect)
                    task_id, context_id = task_ids(answer.body)
                    second = (
                        resume.replace(b"@ID@", ident + b"-r")
                        .replace(b"@TASK@", task_id.encode())
                        .replace(b"@CTX@", context_id.encode())
                    )
                    writer.write(request_bytes(job.port, job.path, job.headers, second))
                    answer = await asyncio.wait_for(read_answer(reader), REQUEST_TIMEOUT)
                check(answer, job.expect, job.reject)
                tally.record(started, time.perf_counter(), answer.first_event)
            except Failed as exc:
                tally.fail(str(exc))
            except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError) as exc:
                tally.fail(f"{type(exc).__name__}: {exc}")
                if writer is not None:
                    writer.close()
                reader = writer = None
    finally:
        if writer is not None:
            writer.close()


def percentile(sorted_values: list[float], q: float) -> float:
    """The q-quantile (nearest rank) of an ascending list, in milliseconds."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(q * len(sorted_values)))
    return sorted_values[rank - 1] * 1000.0


async def run_job(job: Job) -> dict[str, Any]:
    """Run one job; its throughput, latency percentiles (ms) and errors."""
    now = time.perf_counter()
    start, end = now + job.warmup, now + job.warmup + job.duration
    tally = Tally(start, end, job.max_requests, min(job.min_requests, job.max_requests), end + MIN_WAIT)
    prefix = uuid.uuid4().hex[:12]
    await asyncio.gather(*(worker(job, tally, f"{prefix}-{i}") for i in range(job.concurrency)))
    elapsed = max(tally.end - tally.window_start, 1e-9)
    latencies = sorted(tally.latencies)
    firsts = sorted(tally.first_events)
    return {
        "n": len(latencies),
        "completed": tally.completed,
        "elapsed": elapsed,
        "rps": len(latencies) / elapsed,
        "p50": percentile(latencies, 0.50),
        "p99": percentile(latencies, 0.99),
        "first_p50": percentile(firsts, 0.50) if firsts else None,
        "first_p99": percentile(firsts, 0.99) if firsts else None,
        "errors": tally.errors,
        "first_error": tally.first_error,
    }


def main() -> None:
    for line in sys.stdin:
        if not line.strip():
            continue
        job = Job(**json.loads(line))
        result = asyncio.run(run_job(job))
        sys.stdout.write(json.dumps(result) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
