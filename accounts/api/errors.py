"""One error shape for the whole API:

    {"error": {"code": "invalid", "message": "...", "fields": {"targeting.countries[2]": ["..."]}}}

`fields` names each offending field by its path in the request body (dots for objects, [i] for list
items), so that a client can point at the exact input. Model-level ValidationErrors and status
transitions refused by the rules come out in the same shape.
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import NON_FIELD_ERRORS
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.serializers import as_serializer_error
from rest_framework.settings import api_settings
from rest_framework.views import exception_handler as drf_exception_handler

log = logging.getLogger(__name__)


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The request conflicts with the current state of the object."
    default_code = "conflict"


class PreconditionFailed(exceptions.APIException):
    status_code = status.HTTP_412_PRECONDITION_FAILED
    default_detail = "The object has changed since you read it (If-Match does not match its ETag)."
    default_code = "precondition_failed"


class Unprocessable(exceptions.APIException):
    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    default_detail = "The request cannot be processed."
    default_code = "unprocessable"


class ServiceUnavailable(exceptions.APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "A service the API needs is unavailable; retry later."
    default_code = "unavailable"


def flatten(detail: Any, prefix: str = "") -> dict[str, list[str]]:
    """{"targeting": {"countries[2]": ["..."]}, "ad_groups": [{}, {"bid_micros": [...]}]} ->
    {"targeting.countries[2]": [...], "ad_groups[1].bid_micros": [...]}"""
    out: dict[str, list[str]] = {}
    if isinstance(detail, dict):
        for raw_key, value in detail.items():
            key = f"[{raw_key}]" if isinstance(raw_key, int) else str(raw_key)  # a ListField's items
            path = key if not prefix else (f"{prefix}{key}" if key.startswith("[") else f"{prefix}.{key}")
            out.update(flatten(value, path))
    elif isinstance(detail, list) and any(isinstance(item, (dict, list)) for item in detail):
        for index, item in enumerate(detail):
            if item:
                out.update(flatten(item, f"{prefix}[{index}]"))
    elif isinstance(detail, list):
        out.setdefault(prefix or "non_field_errors", []).extend(str(item) for item in detail)
    else:
        out.setdefault(prefix or "non_field_errors", []).append(str(detail))
    return out


def error_body(code: str, message: str, fields: dict[str, list[str]] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "fields": fields or {}}}


def _translate(exc: Exception) -> Exception:
    from campaigns.models import TransitionError  # errors are shared by every app's API

    if isinstance(exc, TransitionError):
        return Conflict(detail=" ".join(exc.messages), code="invalid_transition")
    if isinstance(exc, DjangoValidationError):
        detail = as_serializer_error(exc)
        if NON_FIELD_ERRORS in detail:  # full_clean()'s "__all__" is the API's non_field_errors
            detail[api_settings.NON_FIELD_ERRORS_KEY] = detail.pop(NON_FIELD_ERRORS)
        return exceptions.ValidationError(detail=detail)
    if isinstance(exc, Http404):
        return exceptions.NotFound("Not found. It does not exist, or it is not yours to see.")
    if isinstance(exc, DjangoPermissionDenied):
        return exceptions.PermissionDenied(str(exc) or None)
    return exc


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    exc = _translate(exc)
    response = drf_exception_handler(exc, context)
    if response is None:
        log.exception("Unhandled API error", exc_info=exc)
        return Response(
            error_body("server_error", "Something went wrong on our side; it has been logged."),
            status=status.HTTP_500_INTERNAL_SERVER_ERROR,
        )
    if isinstance(exc, exceptions.ValidationError):
        fields = flatten(exc.detail)
        first_path, first_messages = next(iter(fields.items()), ("", [""]))
        where = "" if first_path == "non_field_errors" else f"{first_path}: "
        message = (
            f"{where}{first_messages[0]}" if len(fields) == 1 else f"{len(fields)} fields are not valid."
        )
        response.data = error_body("invalid", message, fields)
    elif isinstance(exc, exceptions.APIException):
        codes = exc.get_codes()
        code = codes if isinstance(codes, str) else exc.default_code
        response.data = error_body(str(code), str(exc.detail))
    return response


@csrf_exempt  # an unknown path is a 404 whatever the method, never a CSRF page
def not_found(request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
    """Unknown paths under /api/ answer in the API's shape, not with an HTML page."""
    return JsonResponse(error_body("not_found", f"No API endpoint at {request.path}."), status=404)
