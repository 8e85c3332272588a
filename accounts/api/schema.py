"""What the OpenAPI document says about every endpoint: the Bearer key, the one error shape with an
example per status, and the headers of the API's conventions (Idempotency-Key, If-Match, ETag,
rate limits). Resources' viewsets use these in their `extend_schema` declarations.

Imported by the resources' views, so that the extensions here are registered before the schema is
generated.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension, OpenApiSerializerExtension
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse
from rest_framework import serializers

from accounts.api.errors import error_body


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.api.authentication.ApiKeyAuthentication"
    name = "apiKey"

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "adw_<prefix>_<secret>",
            "description": (
                "An API key: `Authorization: Bearer adw_…`. Keys are issued by "
                "`manage.py create_api_key` or by `POST /api/v1/api-keys`; a revoked key answers 401."
            ),
        }


class ErrorResponse(serializers.Serializer):
    """The one error shape of the API (accounts/api/errors.py); described by the extension below."""


ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "fields"],
            "properties": {
                "code": {"type": "string", "description": "Machine-readable, e.g. `invalid`, `not_found`."},
                "message": {"type": "string", "description": "For people: what is wrong and what to do."},
                "fields": {
                    "type": "object",
                    "description": "Per field path in the request body (`targeting.countries[2]`): "
                    "its messages. Empty unless the code is `invalid`.",
                    "additionalProperties": {"type": "array", "items": {"type": "string"}},
                },
            },
        }
    },
}


class ErrorResponseExtension(OpenApiSerializerExtension):
    target_class = ErrorResponse

    def map_serializer(self, auto_schema: Any, direction: Any) -> dict[str, Any]:
        return ERROR_SCHEMA


def _example(
    name: str, code: str, message: str, fields: dict[str, list[str]] | None = None
) -> OpenApiExample:
    return OpenApiExample(name, value=error_body(code, message, fields), response_only=True)


ERRORS: dict[int, tuple[str, list[OpenApiExample]]] = {
    400: (
        "The request is not valid; `fields` names each offending field.",
        [
            _example(
                "Invalid field",
                "invalid",
                "name: This field is required.",
                {"name": ["This field is required."]},
            ),
            _example(
                "Foreign id in the body",
                "invalid",
                'advertiser: Invalid pk "42" - object does not exist.',
                {"advertiser": ['Invalid pk "42" - object does not exist.']},
            ),
        ],
    ),
    401: (
        "No credentials, or an API key that is not valid or has been revoked.",
        [
            _example(
                "Revoked key",
                "authentication_failed",
                "The API key is not valid, or it has been revoked.",
            )
        ],
    ),
    403: (
        "The caller's role does not allow this (an analyst's write, a non-admin's change to members).",
        [_example("Not an admin", "permission_denied", "Only an admin of this account can do this.")],
    ),
    404: (
        "No such object among the caller's: it does not exist, or it belongs to another tenant.",
        [_example("Not found", "not_found", "Not found. It does not exist, or it is not yours to see.")],
    ),
    409: (
        "The request conflicts with the object's state, or its Idempotency-Key is still in progress.",
        [
            _example(
                "In progress",
                "in_progress",
                "A request with this Idempotency-Key is still in progress; retry shortly.",
            )
        ],
    ),
    412: (
        "`If-Match` does not match the object's current ETag: read it again, then retry.",
        [
            _example(
                "Stale ETag",
                "precondition_failed",
                "The object has changed since you read it (If-Match does not match its ETag).",
            )
        ],
    ),
    422: (
        "The Idempotency-Key was already used with a different request.",
        [
            _example(
                "Key reused",
                "idempotency_key_reused",
                "This Idempotency-Key was used with a different request; use a new key for a new request.",
            )
        ],
    ),
    429: (
        "Too many requests for this key or advertiser; wait `Retry-After` seconds.",
        [_example("Rate limited", "throttled", "Too many requests for key; retry in 12s.")],
    ),
}


def errors(*codes: int, **described: str) -> dict[int, OpenApiResponse]:
    """Error responses for `extend_schema(responses=...)`; `described` overrides a description by
    status (`_409="..."`)."""
    out = {}
    for code in codes:
        description, examples = ERRORS[code]
        out[code] = OpenApiResponse(
            ErrorResponse, description=described.get(f"_{code}", description), examples=examples
        )
    return out


# Statuses any call can answer (authentication, rate limit), lists (a bad filter, page size or
# cursor), reads of one object (404), writes.
READ_ERRORS = (401, 429)
LIST_ERRORS = (400, 401, 429)
OBJECT_ERRORS = (401, 404, 429)
CREATE_ERRORS = (400, 401, 403, 409, 422, 429)
UPDATE_ERRORS = (400, 401, 403, 404, 412, 429)

# Every answer after authentication carries the caller's rate-limit state; a 429 says when to retry.
COUNTED = [200, 201, 204, 400, 403, 404, 409, 412, 422]
RATE_LIMIT_HEADERS = [
    OpenApiParameter(
        "X-RateLimit-Limit",
        OpenApiTypes.INT,
        OpenApiParameter.HEADER,
        response=COUNTED,
        description="Requests allowed per minute for this key (or user).",
    ),
    OpenApiParameter(
        "X-RateLimit-Remaining",
        OpenApiTypes.INT,
        OpenApiParameter.HEADER,
        response=COUNTED,
        description="Requests left in the current minute.",
    ),
    OpenApiParameter(
        "X-RateLimit-Reset",
        OpenApiTypes.INT,
        OpenApiParameter.HEADER,
        response=COUNTED,
        description="Seconds until the window resets.",
    ),
    OpenApiParameter(
        "Retry-After",
        OpenApiTypes.INT,
        OpenApiParameter.HEADER,
        response=[429],
        description="Seconds to wait before the next request.",
    ),
]
ETAG = OpenApiParameter(
    "ETag",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    response=[200, 201],
    description="The object's version; send it back in `If-Match` to update only that version.",
)
IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    description=(
        "Any unique string (a UUID): a retry with the same key and body returns the first response "
        "(`Idempotent-Replayed: true`) and does nothing new, for 24 hours. The same key with another "
        "body answers 422."
    ),
)
IF_MATCH = OpenApiParameter(
    "If-Match",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    description="The ETag you read: the change is made only if the object still has it (else 412).",
)

READ_PARAMETERS = [*RATE_LIMIT_HEADERS]
OBJECT_PARAMETERS = [*RATE_LIMIT_HEADERS, ETAG]
CREATE_PARAMETERS = [*RATE_LIMIT_HEADERS, ETAG, IDEMPOTENCY_KEY]
UPDATE_PARAMETERS = [*RATE_LIMIT_HEADERS, ETAG, IF_MATCH]


def list_errors() -> dict[int, OpenApiResponse]:
    return errors(
        *LIST_ERRORS,
        _400="A filter, `page_size` or `cursor` is not valid; `fields` names the parameter.",
    )
