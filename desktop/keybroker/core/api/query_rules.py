# SPDX-License-Identifier: Apache-2.0
"""Query strings say only what the schema says: no unknown parameter, none given twice.

FastAPI ignores query parameters a route does not declare and keeps the last of repeated ones, so a
typo (`?ownr=demo`) or `?owner=a&owner=b` would be answered as if it were not there. Every route
depends on `strict_query`, which answers such a request with the API's 422 naming the parameter.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute

__all__ = ["strict_query"]

_DECLARED: dict[int, frozenset[str]] = {}


def _query_names(dependant: Any) -> set[str]:
    """The query parameters a route (and its dependencies) declares, by the name a client uses."""
    names = {str(field.alias) for field in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _query_names(sub)
    return names


def declared_query(route: APIRoute) -> frozenset[str]:
    """`_query_names` of a route, computed once."""
    found = _DECLARED.get(id(route))
    if found is None:
        found = _DECLARED[id(route)] = frozenset(_query_names(route.dependant))
    return found


def _error(name: str, msg: str, kind: str) -> dict[str, Any]:
    return {"loc": ("query", name), "msg": msg, "type": kind}


async def strict_query(request: Request) -> None:
    """Route dependency: refuse undeclared or repeated query parameters (422)."""
    if not request.query_params:
        return
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return
    declared = declared_query(route)
    errors = []
    for name in dict.fromkeys(request.query_params.keys()):
        if name not in declared:
            errors.append(_error(name, "unknown query parameter", "extra_forbidden"))
        elif len(request.query_params.getlist(name)) > 1:
            errors.append(_error(name, "given more than once", "too_long"))
    if errors:
        raise RequestValidationError(errors)
