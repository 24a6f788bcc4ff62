# SPDX-License-Identifier: Apache-2.0
"""Prompt on screen after the request arrives (DESIGN §7: p95 <= 300 ms), in the real app under Xvfb.

    python bench/prompt_latency.py [--requests 20] [--vault memory|system]

What runs: Xvfb with trayer as the tray, the echo agent (bridge_agent.py, whose card demands one
secret), and the tray app itself (`python -m keybroker -v`, as `make run` starts it) over a throw-away
Keybroker home where the agent is added and nothing is stored or granted for it. Then N blocking
`message/send` requests through the bridge, one after another; each needs a pre-flight prompt.

For each request it takes three stamps:

- `sent`: just before the client opens its connection to the bridge (so the figures include the
  request's way in: they are an upper bound on "after the request arrives");
- `mapped`: when the X server told an independent client (xev, watching the root window) that a new
  top-level window was mapped: the prompt became viewable on the display, whatever the app thinks;
- `frame`: the app's own log line (ui/prompt_timing.py) stamped once the dialog's first frame was
  painted and flushed to the X server: what the user sees. This is the figure the target is about.

Then it answers like a user: focuses that window and presses Escape (XTEST), which denies; the
request must then come back completed (the agent ran without the value; the echoed text shows it
was not given). Any prompt that does not show, or answer that does not go through, fails the run.
It prints every request's figures, then p50 / p95 / max of both, with the first prompt after start
apart (it also pays for loading the A2A stack, once). The app's log lets ten lines of one kind through
a minute (log_rate.py), so after every ten prompts it waits for the next minute: 20 requests take
about 1.5 minutes. Numbers only: a benchmark never asserts.
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import re
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]

import memory  # noqa: E402
from bridge_common import SEEN_MARK, SLUG  # noqa: E402
from bridge_procs import loadavg  # noqa: E402
from bridge_workloads import _message_v03, _rpc  # noqa: E402
from memory import KEYBROKER, Rig, launched, wait_until  # noqa: E402
from x_events import MapWatch, XKeys, missing  # noqa: E402

from keybroker.cli.log_rate import RepeatLimit  # noqa: E402

#: ui/prompt_timing.py's line.
FRAME = re.compile(r"prompt (\S+) on screen (\d+) ms after it was asked \(first frame at ([0-9.]+)\)")
#: How long one prompt may take to show, and one answer to come back, before the run fails.
STEP_TIMEOUT = 60.0


class Failed(RuntimeError):
    """A prompt did not show or an answer did not go through."""


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile by the nearest-rank method (p95 of 20 values is the 19th)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


class Sender:
    """One blocking `message/send` through the bridge on a thread of its own (http.client: nothing
    to set up between the stamp and the request, unlike an httpx client's TLS context)."""

    def __init__(self, port: int, number: int) -> None:
        self.text = f"prompt latency {number}"
        body = _rpc("message/send", _message_v03(self.text, {})).replace("@ID@", f"m-{time.monotonic_ns()}")
        self.response: tuple[int, str] | None = None
        self.error: BaseException | None = None
        self.sent_wall = self.sent_mono = 0.0
        started = threading.Event()
        self._thread = threading.Thread(target=self._post, args=(port, body.encode(), started), daemon=True)
        self._thread.start()
        started.wait(STEP_TIMEOUT)

    def _post(self, port: int, body: bytes, started: threading.Event) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=STEP_TIMEOUT)
        try:
            self.sent_wall, self.sent_mono = time.time(), time.monotonic()
            started.set()
            connection.request("POST", f"/agents/{SLUG}", body, {"Content-Type": "application/json"})
            answer = connection.getresponse()
            self.response = (answer.status, answer.read().decode("utf-8", "replace"))
        except BaseException as exc:  # reported by result()
            self.error = exc
        finally:
            started.set()
            connection.close()

    def result(self) -> tuple[int, str]:
        self._thread.join(STEP_TIMEOUT)
        if self.error is not None:
            raise Failed(f"the request failed: {self.error!r}")
        if self.response is None:
            raise Failed("no answer to the request")
        return self.response


def next_frame(log: Path, seen: int, timeout: float) -> tuple[str, float, float, int]:
    """(prompt id, first-frame wall time, seconds from the broker's asking to that frame, lines seen) of
    the next first-frame line after `seen` of them."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = FRAME.findall(log.read_text(errors="replace"))
        if len(found) > seen:
            prompt_id, after_ms, at = found[seen]
            return prompt_id, float(at), float(after_ms) / 1000, seen + 1
        time.sleep(0.005)
    raise Failed(f"no prompt on screen within {timeout:g} s:\n{log.read_text(errors='replace')[-3000:]}")


def measure(
    requests: int, vault: str, say: object = print, profile: Path | None = None
) -> dict[str, list[float]]:
    """Run the app and the N requests; {"frame": [...], "mapped": [...], "asked": [...]} in seconds, in
    request order ("asked": from the send to the broker's asking, i.e. the bridge's share)."""
    workdir = Path(tempfile.mkdtemp(prefix="kb-prompt-"))
    rig = Rig(workdir)
    watch = MapWatch(rig.display.display)
    keys = XKeys(rig.display.display)
    figures: dict[str, list[float]] = {"frame": [], "mapped": [], "asked": []}
    try:
        argv = [*KEYBROKER, "-v"]
        if profile is not None:  # the whole app under cProfile, stats written when it quits
            argv = [sys.executable, "-m", "cProfile", "-o", str(profile), "-m", "keybroker", "-v"]
        with launched(rig, vault, argv) as (process, log, home):
            instance = home / "runtime" / "instance.json"
            shown = {"ready": instance.exists, "icon": lambda: "tray icon shown" in log.read_text()}
            wait_until(shown, process, log)
            port = int(json.loads(instance.read_text())["port"])
            time.sleep(1.0)  # let the start settle: the first request should meet an idle app
            seen = 0
            limit = RepeatLimit()
            batch_start = 0.0
            for number in range(1, requests + 1):
                if number > 1 and (number - 1) % limit.burst == 0:
                    # The app logs `limit.burst` lines of one kind a window, then counts them (log_rate.py):
                    # past that its "on screen" lines would be left out. Wait for the next window, which
                    # starts with the first such line, stamped like `frame_at` (wall clock).
                    time.sleep(max(0.0, batch_start + limit.window + 1.0 - time.time()))
                sender = Sender(port, number)
                prompt_id, frame_at, ui_share, seen = next_frame(log, seen, STEP_TIMEOUT)
                if (number - 1) % limit.burst == 0:
                    batch_start = frame_at
                mapped = watch.first_after(sender.sent_mono, STEP_TIMEOUT)
                if mapped is None:
                    raise Failed(f"prompt {prompt_id}: the app logged a frame but X mapped no window")
                keys.escape(mapped.window)
                status, text = sender.result()
                if status != 200 or '"completed"' not in text or sender.text not in text:
                    raise Failed(f"request {number}: answered {status}: {text[:300]}")
                if SEEN_MARK in text:
                    raise Failed(f"request {number}: the agent got a value although the prompt was denied")
                figures["frame"].append(frame_at - sender.sent_wall)
                figures["mapped"].append(mapped.at - sender.sent_mono)
                figures["asked"].append(frame_at - ui_share - sender.sent_wall)
                say(  # type: ignore[operator]
                    f"{number:>4}  {prompt_id:<20} asked {figures['asked'][-1] * 1000:7.1f} ms"
                    f"   mapped {figures['mapped'][-1] * 1000:7.1f} ms"
                    f"   first frame {figures['frame'][-1] * 1000:7.1f} ms   denied, completed"
                )
                time.sleep(0.2)  # the dialog is gone and the focus back before the next one
    finally:
        keys.close()
        watch.close()
        rig.close()
        shutil.rmtree(workdir, ignore_errors=True)
    return figures


def summary(figures: dict[str, list[float]]) -> list[str]:
    lines = ["| from the request's send to | n | p50 ms | p95 ms | max ms | first ms | p95 without first |"]
    lines.append("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for key, label in (
        ("asked", "the broker asks the prompter (bridge's share)"),
        ("mapped", "window mapped (X server, seen by xev)"),
        ("frame", "first frame on screen (app's log)"),
    ):
        values = [v * 1000 for v in figures[key]]
        rest = values[1:] or values
        lines.append(
            f"| {label} | {len(values)} | {statistics.median(values):.1f} | {percentile(values, 95):.1f} | "
            f"{max(values):.1f} | {values[0]:.1f} | {percentile(rest, 95):.1f} |"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=20, help="prompts to measure (default 20)")
    parser.add_argument("--vault", choices=("memory", "system"), default="memory")
    parser.add_argument("--source", type=Path, help="the desktop/ directory to run (default: this tree's)")
    parser.add_argument(
        "--profile", type=Path, metavar="FILE", help="run the app under cProfile, stats to FILE"
    )
    args = parser.parse_args(argv)
    if args.requests < 1:
        parser.error("--requests must be at least 1")
    if args.source is not None:
        memory.SOURCE = args.source.resolve()  # what the app runs (bench/memory.py's app_env reads it)
    gone = missing()
    if gone:
        sys.stderr.write(f"prompt_latency: needs {', '.join(gone)} (make deps installs them)\n")
        return 2
    when = time.strftime("%Y-%m-%d %H:%M:%S")
    print(f"# Prompt on screen  ({when}), {args.requests} requests, {args.vault} vault, load {loadavg()}")
    try:
        figures = measure(args.requests, args.vault, profile=args.profile.resolve() if args.profile else None)
    except Failed as exc:
        sys.stderr.write(f"prompt_latency: {exc}\n")
        return 1
    print()
    for line in summary(figures):
        print(line)
    print(f"\n{args.requests} of {args.requests} prompts appeared and were answered. Load now: {loadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
