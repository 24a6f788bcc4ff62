"""The management API's errors turned back into the `KeybrokerError` the server raised (api_client.py).

The server's body `{"error": {"code", "message", "hint", "exit_code"}}` names the class and the exit
code, so the CLI exits as the server would have. A foreign body (the bridge's Host and Origin guard:
`{"error": "forbidden_host", "message": ...}`) or none at all still maps by HTTP status.
"""

from __future__ import annotations

import httpx

from keybroker.core.api.error_codes import error_class
from keybroker.core.errors import KeybrokerError, PolicyDenied

_STATUS_FALLBACK: dict[int, int] = {400: 2, 401: 5, 403: 5, 404: 3, 405: 2, 413: 2, 422: 2, 502: 6, 503: 4}


def error_from(response: httpx.Response) -> KeybrokerError:
    """Rebuild the server's error; a foreign body (the bridge's guard) still maps by status."""
    try:
        data = response.json()
    except ValueError:
        data = None
    error = data.get("error") if isinstance(data, dict) else None
    fallback_exit = _STATUS_FALLBACK.get(response.status_code, 1)
    if isinstance(error, dict):
        code = str(error.get("code") or "")
        message = str(error.get("message") or f"HTTP {response.status_code}")
        hint = error.get("hint") if isinstance(error.get("hint"), str) else None
        exit_code = error.get("exit_code")
        exit_code = exit_code if isinstance(exit_code, int) else fallback_exit
    else:  # the guard's `{"error": "forbidden_host", "message": ...}`, or no JSON at all
        code = str(error or "")
        message = str(data.get("message")) if isinstance(data, dict) and data.get("message") else ""
        message = message or f"the instance answered HTTP {response.status_code}"
        hint, exit_code = None, fallback_exit
    if code == "unauthorized" or response.status_code == 401:
        return PolicyDenied(
            message, hint=hint or "the API token changed? `keybroker token` prints the current one"
        )
    return error_class(code, exit_code)(message, hint=hint)
