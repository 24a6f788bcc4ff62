# SPDX-License-Identifier: Apache-2.0
"""The TLS contexts of the agents' connection pools: one verified context, shared, built on first use.

httpx builds a fresh context for every transport it makes, loading certifi's bundle each time (40-90 ms
and 1-3 MB per agent channel, even for `http://127.0.0.1` agents). Every channel to an https agent
shares `verified_context()` instead, built once (SSL contexts are safe to share between connections
and threads). A channel whose agent speaks plain http only gets `no_trust_context()`: it trusts no
certificate authority, so should an https connection ever be tried there it fails verification rather
than pass unchecked, and it costs no certificate loading.
"""

from __future__ import annotations

import functools
import ssl
from collections.abc import Iterable
from urllib.parse import urlsplit

__all__ = ["context_for", "no_trust_context", "verified_context"]


@functools.cache
def verified_context() -> ssl.SSLContext:
    """The context every https agent's pool uses: certifi's authorities, hostname checked."""
    import certifi  # httpx's own default trust store

    return ssl.create_default_context(cafile=certifi.where())


@functools.cache
def no_trust_context() -> ssl.SSLContext:
    """For plain-http agents: verification stays required, but no authority is trusted."""
    return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)


def _is_https(url: str) -> bool:
    try:
        return urlsplit(url).scheme.lower() == "https"
    except ValueError:
        return False


def context_for(urls: Iterable[str]) -> ssl.SSLContext:
    """`verified_context()` when any of the agent's URLs is https, else `no_trust_context()`."""
    return verified_context() if any(_is_https(u) for u in urls) else no_trust_context()
