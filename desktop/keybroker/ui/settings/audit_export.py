# SPDX-License-Identifier: Apache-2.0
"""Writing audit events to CSV or JSON (no Qt here: the Activity tab calls it on a worker thread).

Events never hold a value, so exports hold none either. CSV cells that a spreadsheet would run as a
formula (`=`, `+`, `-`, `@`, tab, CR at the start) get a leading `'` (OWASP's advice): keys and details
can come from an agent, and an agent is not trusted. JSON keeps every field exactly, hashes included,
so the chain can be checked elsewhere.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from keybroker import __version__
from keybroker.core.catalog.rows import AUDIT_ROWS
from keybroker.core.models import AuditEvent
from keybroker.ui.settings.formatting import iso_utc

#: The audit table's columns (core/catalog/rows.py), the time in UTC ISO 8601 instead of epoch seconds.
CSV_FIELDS = tuple("time" if name == "ts" else name for name in AUDIT_ROWS.names)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: object) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def to_csv(events: Sequence[AuditEvent]) -> str:
    """One header row, then one row per event (time in UTC, ISO 8601)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_FIELDS)
    for e in events:
        row = e.to_json()
        row["time"] = iso_utc(e.ts)
        writer.writerow([_cell(row[f]) if f not in ("seq",) else row[f] for f in CSV_FIELDS])
    return out.getvalue()


def to_json(events: Sequence[AuditEvent], *, filters: Mapping[str, Any], exported_at: float) -> str:
    """`{"exported", "keybroker", "filters", "count", "events": [...]}`."""
    doc = {
        "exported": iso_utc(exported_at),
        "keybroker": __version__,
        "filters": dict(filters),
        "count": len(events),
        "events": [{**e.to_json(), "time": iso_utc(e.ts)} for e in events],
    }
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def format_for(path: Path, chosen_filter: str = "") -> str:
    """`csv` or `json`: from the file's suffix, else from the filter the user picked."""
    suffix = path.suffix.lower()
    if suffix in (".csv", ".json"):
        return suffix[1:]
    return "json" if "json" in chosen_filter.lower() else "csv"


def with_suffix(path: Path, fmt: str) -> Path:
    """Add `.csv`/`.json` when the name has no suffix of either kind."""
    return path if path.suffix.lower() in (".csv", ".json") else path.with_name(path.name + "." + fmt)


def write_export(
    path: Path,
    events: Sequence[AuditEvent],
    fmt: str,
    *,
    filters: Mapping[str, Any],
    exported_at: float,
) -> Path:
    """Write the export atomically (a temp file next to it, then rename); returns the path written."""
    if fmt not in ("csv", "json"):
        raise ValueError(f"unknown export format {fmt!r}")
    text = to_csv(events) if fmt == "csv" else to_json(events, filters=filters, exported_at=exported_at)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8", newline="") as f:
            f.write(text)
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path
