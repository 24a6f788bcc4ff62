# SPDX-License-Identifier: Apache-2.0
"""OAuth 2 / OpenID Connect sign-ins and mutual TLS certificates for card schemes (issue 13).

Wire: it speaks HTTP to authorization servers (authlib builds the requests, joserfc checks ID tokens).
`signins.SignIns` is the service; the bridge reaches it through `core/bridge/ports.py`'s `TokenSource`.
"""
