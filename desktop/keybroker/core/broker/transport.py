"""Where a value may travel: never in clear to a host that is not loopback, unless the user allowed that
host (DESIGN §4). Loopback means 127.0.0.0/8, ::1 and the name "localhost". Pure: no I/O, no DNS.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

#: URL schemes whose traffic is encrypted; anything else to a non-loopback host counts as clear text.
_ENCRYPTED_SCHEMES = frozenset({"https", "wss"})


def _is_loopback_host(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # ::ffff:127.0.0.1; Python versions disagree on its is_loopback
    return address.is_loopback


def is_loopback_url(url: str) -> bool:
    """Whether `url` names a loopback host: 127.0.0.0/8, ::1 or "localhost" (no other name)."""
    try:
        host = urlsplit(url.strip()).hostname  # lowercased, IPv6 brackets stripped
    except ValueError:
        return False
    return host is not None and _is_loopback_host(host)


def insecure_transport_reason(
    url: str, *, allowed_insecure_hosts: frozenset[str] = frozenset()
) -> str | None:
    """Why a value must not be sent to `url`, or None when it may (DESIGN §4).

    Encrypted schemes go anywhere; anything else only to loopback or to a host the user allowed. The
    reason names the host and the fix, never the whole URL (its query could hold a credential).
    """
    try:
        parts = urlsplit(url.strip())
        host, port = parts.hostname, parts.port
    except ValueError:
        return "the agent's URL is malformed (bad host or port), so Keybroker cannot tell whether it is safe"
    if host is None:
        return "the agent's URL names no host, so Keybroker cannot tell whether it is safe"
    scheme = parts.scheme.lower()
    if scheme in _ENCRYPTED_SCHEMES or _is_loopback_host(host):
        return None
    allowed = {h.strip().lower().strip("[]") for h in allowed_insecure_hosts}
    if host in allowed or (port is not None and f"{host}:{port}" in allowed):
        return None
    shown = f"[{host}]" if ":" in host else host
    return (
        f"{shown} is not a loopback address and {scheme or 'this URL'}:// is not encrypted, so the value "
        f"would travel in clear; serve the agent over https, or allow plain http to {shown} "
        "in Keybroker's settings"
    )
