# SPDX-License-Identifier: Apache-2.0
"""The bridge benchmark's results and its Markdown tables (medians over rounds; latencies in ms).

Ratios and differences are taken per round (the targets of one round ran back to back) and the median
of those is reported, which holds up better than a ratio of medians when the machine's load drifts.
"""

from __future__ import annotations

import math
import os
import platform
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bridge_workloads import WORKLOADS, Workload

TARGETS = ("direct", "passthrough", "bridge")
NO_CALLER = "bridge-nocaller"
#: The bridge whose audit commits are not synced (`--diagnose`; bridge_server.py `--no-sync`).
NO_SYNC = "bridge-nosync"
AIOHTTP = "passthrough-aiohttp"
FULL_PATH = "bridge-full"
#: The bridge on asyncio's own loop and h11 (`--loops`); "bridge" then runs on uvloop and httptools.
ASYNCIO_LOOP = "bridge-asyncio"
#: The bridge from another checkout (`--baseline DIR`): a before/after in one run.
BASELINE = "bridge-base"


def median(values: list[float]) -> float:
    clean = [v for v in values if v is not None and not math.isnan(v)]
    return statistics.median(clean) if clean else math.nan


@dataclass
class Cell:
    """Every round's result for one measurement (workload, concurrency, target)."""

    results: list[dict[str, Any]] = field(default_factory=list)

    def med(self, key: str) -> float:
        return median([r[key] for r in self.results if r.get(key) is not None])


def ratio_median(a: Cell, b: Cell, key: str = "rps") -> float:
    """Median over rounds of a[key] / b[key]."""
    pairs = zip(a.results, b.results, strict=False)
    return median([x[key] / y[key] for x, y in pairs if y.get(key) and x.get(key) is not None])


def diff_median(a: Cell, b: Cell, key: str) -> float:
    """Median over rounds of a[key] - b[key]."""
    pairs = zip(a.results, b.results, strict=False)
    return median([x[key] - y[key] for x, y in pairs if x.get(key) is not None and y.get(key) is not None])


def fmt(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None or math.isnan(value) else f"{value:.{digits}f}"


def per_second(cpu_ms: float) -> float:
    return 1000.0 / cpu_ms if cpu_ms and not math.isnan(cpu_ms) else math.nan


@dataclass
class Results:
    """Everything one run measured."""

    levels: list[int]
    rounds: int
    duration: float
    fulfil_concurrency: int
    plan: str
    targets: list[str]
    cells: dict[tuple[str, int, str], Cell] = field(default_factory=dict)
    fulfil: dict[tuple[str, str], Cell] = field(default_factory=dict)
    loads: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def cell(self, workload: str, level: int, target: str) -> Cell:
        return self.cells.setdefault((workload, level, target), Cell())

    def fulfil_cell(self, kind: str, target: str) -> Cell:
        return self.fulfil.setdefault((kind, target), Cell())


def _throughput(say: Callable[[str], None], r: Results) -> None:
    say(
        "| workload | c | direct req/s | pass-through req/s | bridge req/s | bridge/direct | "
        "pass/direct | bridge/pass | direct p50 / p99 | pass p50 / p99 | bridge p50 / p99 | "
        "bridge added p50 / p99 |"
    )
    say("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for workload in _measured(r):
        for c in r.levels:
            d, p, b = (r.cell(workload.name, c, t) for t in TARGETS)
            say(
                f"| {workload.label} | {c} | {d.med('rps'):.0f} | {p.med('rps'):.0f} | {b.med('rps'):.0f} | "
                f"{fmt(ratio_median(b, d))}x | {fmt(ratio_median(p, d))}x | {fmt(ratio_median(b, p))}x | "
                f"{fmt(d.med('p50'))} / {fmt(d.med('p99'))} | {fmt(p.med('p50'))} / {fmt(p.med('p99'))} | "
                f"{fmt(b.med('p50'))} / {fmt(b.med('p99'))} | "
                f"{fmt(diff_median(b, d, 'p50'))} / {fmt(diff_median(b, d, 'p99'))} |"
            )


def _measured(r: Results) -> list[Workload]:
    """The workloads this run measured (`--workloads`)."""
    names = {workload for workload, _, _ in r.cells}
    return [w for w in WORKLOADS if w.name in names]


def _first_event(say: Callable[[str], None], r: Results) -> None:
    full = FULL_PATH in r.targets
    say(
        "| streaming, first event | c | direct p50 / p99 | pass-through p50 / p99 | bridge p50 / p99 | "
        "bridge later than direct, p50 |"
        + (" full path p50 / p99 | full later than direct, p50 |" if full else "")
    )
    say("| --- | ---: | ---: | ---: | ---: | ---: |" + (" ---: | ---: |" if full else ""))
    for stream in (w for w in _measured(r) if w.streaming):
        for c in r.levels:
            d, p, b = (r.cell(stream.name, c, t) for t in TARGETS)
            line = (
                f"| {stream.label} | {c} | {fmt(d.med('first_p50'))} / {fmt(d.med('first_p99'))} | "
                f"{fmt(p.med('first_p50'))} / {fmt(p.med('first_p99'))} | "
                f"{fmt(b.med('first_p50'))} / {fmt(b.med('first_p99'))} | "
                f"{fmt(diff_median(b, d, 'first_p50'))} |"
            )
            if full:
                f = r.cell(stream.name, c, FULL_PATH)
                line += (
                    f" {fmt(f.med('first_p50'))} / {fmt(f.med('first_p99'))} | "
                    f"{fmt(diff_median(f, d, 'first_p50'))} |"
                )
            say(line)


def _fulfil(say: Callable[[str], None], r: Results) -> None:
    if not r.fulfil:
        say("(run-time demands not measured: `--workloads` left them out)")
        return
    say(
        "| fulfil a run-time demand (granted, cached value) | c | direct, resumed by hand p50 / p99 | "
        "bridge p50 / p99 | added p50 / p99 |"
    )
    say("| --- | ---: | ---: | ---: | ---: |")
    for kind, label in (("send", "message/send (0.3)"), ("stream", "message/stream (0.3)")):
        d, b = r.fulfil_cell(kind, "direct"), r.fulfil_cell(kind, "bridge")
        say(
            f"| {label} | {r.fulfil_concurrency} | {fmt(d.med('p50'))} / {fmt(d.med('p99'))} | "
            f"{fmt(b.med('p50'))} / {fmt(b.med('p99'))} | "
            f"{fmt(diff_median(b, d, 'p50'))} / {fmt(diff_median(b, d, 'p99'))} |"
        )


def _cpu(say: Callable[[str], None], r: Results) -> None:
    say(
        "| CPU ms per request (all threads) | c | agent (direct) | proxy | bridge | bridge / proxy | "
        "one core's worth, req/s: proxy | bridge |"
    )
    say("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for workload in _measured(r):
        for c in r.levels:
            d, p, b = (r.cell(workload.name, c, t) for t in TARGETS)
            proxy, bridge = p.med("front_cpu"), b.med("front_cpu")
            say(
                f"| {workload.label} | {c} | {fmt(d.med('agent_cpu'))} | {fmt(proxy)} | {fmt(bridge)} | "
                f"{fmt(ratio_median(b, p, 'front_cpu'), 1)}x | {fmt(per_second(proxy), 0)} | "
                f"{fmt(per_second(bridge), 0)} |"
            )


def _first_events(workload: Workload, direct: Cell, bridge: Cell, other: Cell) -> str:
    """How much later than direct's the first event came, the bridge's / another target's ("-": no stream)."""
    if not workload.streaming:
        return "-"
    return f"{fmt(diff_median(bridge, direct, 'first_p50'))} / {fmt(diff_median(other, direct, 'first_p50'))}"


def _diagnostic(say: Callable[[str], None], r: Results, target: str, name: str, what: str) -> None:
    """The bridge against `target`, the same bridge with one part of its work taken out (`what`)."""
    say(f"Diagnostic: the same bridge {what}; `{target}`, {name} below:")
    say("")
    say(
        f"| workload | c | bridge req/s | {name} req/s | {name}/direct | {name}/pass | "
        f"bridge p50 | {name} p50 | first event later than direct, bridge / {name} | "
        f"bridge CPU ms/req | {name} CPU ms/req |"
    )
    say("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for workload in _measured(r):
        for c in r.levels:
            d, p, b, n = (r.cell(workload.name, c, t) for t in (*TARGETS, target))
            first = _first_events(workload, d, b, n)
            say(
                f"| {workload.label} | {c} | {b.med('rps'):.0f} | {n.med('rps'):.0f} | "
                f"{fmt(ratio_median(n, d))}x | {fmt(ratio_median(n, p))}x | {fmt(b.med('p50'))} | "
                f"{fmt(n.med('p50'))} | {first} | {fmt(b.med('front_cpu'))} | {fmt(n.med('front_cpu'))} |"
            )
    say("")
    say(f"| run-time demand | c | bridge p50 / p99 | {name} p50 / p99 | {name} added p50 |")
    say("| --- | ---: | ---: | ---: | ---: |")
    for kind in ("send", "stream") if r.fulfil else ():
        d, b, n = (r.fulfil_cell(kind, t) for t in ("direct", "bridge", target))
        say(
            f"| {kind} | {r.fulfil_concurrency} | {fmt(b.med('p50'))} / {fmt(b.med('p99'))} | "
            f"{fmt(n.med('p50'))} / {fmt(n.med('p99'))} | {fmt(diff_median(n, d, 'p50'))} |"
        )


def _references(say: Callable[[str], None], r: Results) -> None:
    """The aiohttp pass-through (the limit) and, when measured, the bridge's full path, per request."""
    full = FULL_PATH in r.targets
    head = (
        "| workload | c | aiohttp pass req/s | aiohttp/direct | bridge/aiohttp | aiohttp p50 / p99 | "
        "aiohttp CPU ms/req |"
    )
    rule = "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"
    if full:
        head += " full-path req/s | full/direct | bridge/full | full p50 / p99 | full CPU ms/req |"
        rule += " ---: | ---: | ---: | ---: | ---: |"
    say(
        "References: the pass-through with an aiohttp client"
        + (", and the bridge's full path" if full else "")
        + ":"
    )
    say("")
    say(head)
    say(rule)
    for workload in _measured(r):
        for c in r.levels:
            d, b, a = (r.cell(workload.name, c, t) for t in ("direct", "bridge", AIOHTTP))
            line = (
                f"| {workload.label} | {c} | {a.med('rps'):.0f} | {fmt(ratio_median(a, d))}x | "
                f"{fmt(ratio_median(b, a))}x | {fmt(a.med('p50'))} / {fmt(a.med('p99'))} | "
                f"{fmt(a.med('front_cpu'))} |"
            )
            if full:
                f = r.cell(workload.name, c, FULL_PATH)
                line += (
                    f" {f.med('rps'):.0f} | {fmt(ratio_median(f, d))}x | {fmt(ratio_median(b, f))}x | "
                    f"{fmt(f.med('p50'))} / {fmt(f.med('p99'))} | {fmt(f.med('front_cpu'))} |"
                )
            say(line)
    if full:
        say("")
        say("| run-time demand | c | bridge added p50 | full-path added p50 |")
        say("| --- | ---: | ---: | ---: |")
        for kind in ("send", "stream") if r.fulfil else ():
            d, b, f = (r.fulfil_cell(kind, t) for t in ("direct", "bridge", FULL_PATH))
            say(
                f"| {kind} | {r.fulfil_concurrency} | {fmt(diff_median(b, d, 'p50'))} | "
                f"{fmt(diff_median(f, d, 'p50'))} |"
            )


def _baseline(say: Callable[[str], None], r: Results) -> None:
    """The bridge against the one from `--baseline` (same run): ratios to direct, p99, CPU, first event."""
    say("Before and after: the bridge against the bridge of `--baseline` (`before`), same run:")
    say("")
    say(
        "| workload | c | bridge/direct | before/direct | bridge/before | p99 bridge/direct | "
        "p99 before/direct | bridge CPU ms/req | before CPU ms/req | CPU bridge/before | "
        "first event later than direct, bridge / before |"
    )
    say("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for workload in _measured(r):
        for c in r.levels:
            d, b, o = (r.cell(workload.name, c, t) for t in ("direct", "bridge", BASELINE))
            first = _first_events(workload, d, b, o)
            say(
                f"| {workload.label} | {c} | {fmt(ratio_median(b, d))}x | {fmt(ratio_median(o, d))}x | "
                f"{fmt(ratio_median(b, o))}x | {fmt(ratio_median(b, d, 'p99'))}x | "
                f"{fmt(ratio_median(o, d, 'p99'))}x | {fmt(b.med('front_cpu'))} | "
                f"{fmt(o.med('front_cpu'))} | {fmt(ratio_median(b, o, 'front_cpu'))}x | {first} |"
            )
    if r.fulfil:
        say("")
        say("| run-time demand | c | bridge added p50 | before added p50 |")
        say("| --- | ---: | ---: | ---: |")
        for kind in ("send", "stream"):
            d, b, o = (r.fulfil_cell(kind, t) for t in ("direct", "bridge", BASELINE))
            say(
                f"| {kind} | {r.fulfil_concurrency} | {fmt(diff_median(b, d, 'p50'))} | "
                f"{fmt(diff_median(o, d, 'p50'))} |"
            )


def _loops(say: Callable[[str], None], r: Results) -> None:
    """The bridge on uvloop + httptools (`bridge`) against asyncio + h11 (`bridge-asyncio`), same run."""
    say("Event loop and HTTP parser: the bridge on uvloop + httptools vs asyncio + h11 (same run):")
    say("")
    say(
        "| workload | c | uvloop req/s | asyncio req/s | uvloop/asyncio | uvloop p50 / p99 | "
        "asyncio p50 / p99 | uvloop CPU ms/req | asyncio CPU ms/req | CPU uvloop/asyncio |"
    )
    say("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for workload in _measured(r):
        for c in r.levels:
            b, a = (r.cell(workload.name, c, t) for t in ("bridge", ASYNCIO_LOOP))
            say(
                f"| {workload.label} | {c} | {b.med('rps'):.0f} | {a.med('rps'):.0f} | "
                f"{fmt(ratio_median(b, a))}x | {fmt(b.med('p50'))} / {fmt(b.med('p99'))} | "
                f"{fmt(a.med('p50'))} / {fmt(a.med('p99'))} | {fmt(b.med('front_cpu'))} | "
                f"{fmt(a.med('front_cpu'))} | {fmt(ratio_median(b, a, 'front_cpu'))}x |"
            )


def report(say: Callable[[str], None], r: Results, load_before: str, load_after: str) -> None:
    """Print the Markdown tables."""
    say("## Results (medians over rounds; latencies in ms)")
    for section in (_throughput, _first_event, _fulfil, _cpu):
        say("")
        section(say, r)
    if AIOHTTP in r.targets:
        say("")
        _references(say, r)
    if NO_CALLER in r.targets:
        say("")
        _diagnostic(
            say,
            r,
            NO_CALLER,
            "no-caller",
            "without the calling-process lookup (`caller=None`)",
        )
    if NO_SYNC in r.targets:
        say("")
        _diagnostic(say, r, NO_SYNC, "no-sync", "with audit commits not synced before a value leaves")
    if ASYNCIO_LOOP in r.targets:
        say("")
        _loops(say, r)
    if BASELINE in r.targets:
        say("")
        _baseline(say, r)
    say("")
    failed = "; ".join(r.failures) if r.failures else "none"
    say(f"Failed requests: {failed}.")
    say("")
    say(
        f"Machine: {os.cpu_count()} CPUs, {r.plan}; Python {platform.python_version()}. "
        f"Load average (1/5/15 min): {load_before} at start, {load_after} at the end; "
        f"per round: {'; '.join(r.loads)}. {r.rounds} round(s) of {r.duration:g} s per measurement, "
        f"targets alternated."
    )
