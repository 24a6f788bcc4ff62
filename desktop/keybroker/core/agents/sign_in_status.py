# SPDX-License-Identifier: Apache-2.0
"""One sentence on a token or certificate scheme's state, for `agents show`, `auth list` and the
Sign-ins tab: signed in as whom and until when, a client set, a certificate valid until when.

`satisfied (...)` means the bridge can send the credential without asking anyone (the same prefix the
value schemes use, core/agents/status.py).
"""

from __future__ import annotations

import datetime

from keybroker.core.catalog.signins import SignInBook, SignInRecord

__all__ = ["sign_in_status", "until"]


def until(when: float, now: float) -> str:
    """`2026-12-07 14:05 UTC (in 9 min)` / `(ended)`."""
    stamp = datetime.datetime.fromtimestamp(when, datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    left = when - now
    if left <= 0:
        return f"{stamp} (ended)"
    if left < 3600:
        return f"{stamp} (in {max(1, int(left // 60))} min)"
    if left < 2 * 86400:
        return f"{stamp} (in {int(left // 3600)} h)"
    return f"{stamp} (in {int(left // 86400)} days)"


def _token_status(record: SignInRecord | None, now: float) -> str:
    if record is None or (record.client_id is None and record.signed_in is None):
        return "not signed in: will ask you to sign in when the agent refuses a request"
    if record.signed_in is not None:
        who = f" as {record.subject}" if record.subject else ""
        parts = [f"signed in{who} ({record.flow} flow)"]
        if record.expires is not None:
            parts.append(f"token expires {until(record.expires, now)}")
        if record.refresh_held:
            parts.append("refresh token held")
        return f"satisfied ({'; '.join(parts)})"
    if not record.public:
        return "satisfied (confidential client set: client credentials)"
    return "client set; not signed in: will ask you to sign in when the agent refuses a request"


def _certificate_status(record: SignInRecord | None, now: float) -> str:
    if record is None or record.cert_subject is None or record.cert_not_after is None:
        return "missing: import a client certificate (`keybroker auth cert S --cert FILE --key FILE`)"
    if record.cert_not_after <= now:
        return f"certificate {record.cert_subject} expired {until(record.cert_not_after, now)}"
    return f"satisfied (certificate {record.cert_subject} valid until {until(record.cert_not_after, now)})"


def sign_in_status(slug: str, scheme: str, kind: str, book: SignInBook, now: float) -> str:
    """The state of `slug`'s `scheme` of credential `kind` (`token` or `certificate`)."""
    record = book.find(slug, scheme)
    return _certificate_status(record, now) if kind == "certificate" else _token_status(record, now)
