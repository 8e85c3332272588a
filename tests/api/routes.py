"""The API's routes as the URL configuration declares them: each (route name, HTTP method) once.

Read from config/api_urls.py (the router's patterns and the schema/docs views), so that the tenant
matrix and the "every route has an expectation" test follow the code, not a list kept by hand.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import models
from django.urls import URLPattern

# Methods a route answers besides the ones its view maps: HEAD follows GET, OPTIONS describes the route.
DERIVED_METHODS = ("HEAD", "OPTIONS")
WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")


@dataclass(frozen=True)
class Route:
    name: str
    pattern: URLPattern
    methods: tuple[str, ...]  # the methods the view maps (GET, POST, PUT, PATCH, DELETE)
    answers_options: bool = True

    @property
    def view_class(self) -> Any:
        callback = self.pattern.callback
        return getattr(callback, "cls", None) or callback.view_class  # type: ignore[attr-defined]

    @property
    def is_viewset(self) -> bool:
        return hasattr(self.pattern.callback, "actions")

    @property
    def takes_pk(self) -> bool:
        return "pk" in self.pattern.pattern.regex.groupindex

    @property
    def model(self) -> type[models.Model] | None:
        queryset = getattr(self.view_class, "queryset", None)
        return None if queryset is None else queryset.model

    @property
    def all_methods(self) -> tuple[str, ...]:
        head = ("HEAD",) if "GET" in self.methods else ()
        options = ("OPTIONS",) if self.answers_options else ()
        return self.methods + head + options

    @property
    def unmapped_methods(self) -> tuple[str, ...]:
        """Standard methods this route refuses (405)."""
        return tuple(m for m in ("GET", *WRITE_METHODS) if m not in self.methods)


def api_routes() -> list[Route]:
    from config.api_urls import urlpatterns

    routes = []
    for pattern in urlpatterns:
        if not isinstance(pattern, URLPattern) or pattern.name is None:
            continue  # the catch-all 404 for unknown paths (tests/api/test_errors.py)
        callback = pattern.callback
        actions = getattr(callback, "actions", None)
        if actions is not None:
            # The router maps every action the viewset has; http_method_names may still refuse some.
            allowed = callback.cls.http_method_names  # type: ignore[attr-defined]
            methods = tuple(method.upper() for method in actions if method in allowed)
            answers_options = "options" in allowed
        else:
            view_class = callback.view_class  # type: ignore[attr-defined]
            # as_view(http_method_names=...) narrows what the class would answer.
            allowed = callback.view_initkwargs.get("http_method_names", view_class.http_method_names)  # type: ignore[attr-defined]
            methods = tuple(
                m.upper()
                for m in ("get", *map(str.lower, WRITE_METHODS))
                if hasattr(view_class, m) and m in allowed
            )
            answers_options = "options" in allowed
        routes.append(
            Route(name=pattern.name, pattern=pattern, methods=methods, answers_options=answers_options)
        )
    return routes


def route_methods() -> list[tuple[str, str]]:
    """Every (route name, method) the API answers, HEAD and OPTIONS included."""
    return [(route.name, method) for route in api_routes() for method in route.all_methods]
