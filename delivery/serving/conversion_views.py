"""The conversion endpoints: the server-to-server postback and the pixel.

- `POST /t/conversions` (JSON or form-encoded body) and `GET /t/conversions` (query string, for the
  affiliate networks that only send GET postbacks): fields `token`, `event_id`, `time`, `value`,
  `currency`, `click_id`, `user_key`. The event is named by its `token` (from the event's page in Ads
  Manager), or, with `Authorization: Bearer <API key>` of a manager or admin, by `event` (its name or
  id within the key's accounts; `advertiser` picks one account of an agency key). Answers JSON:
  201 with the conversion, 200 for a duplicate (`"duplicate": true`), 400
  `{"errors": {"<field>": ["<why>"]}}`, 401 for a missing or wrong token or key, 403 for a key
  whose role is read only, 404 for an event the key cannot see.
- `GET /t/px/<token>`: the same query parameters, for a confirmation page; answers a 1x1 GIF
  always (a broken image on the advertiser's page helps nobody): 200 when recorded or a duplicate,
  400 with the reason in `X-Adwright-Error` when refused.

No session, no CSRF (the token or key is the credential), no cookies: the pixel's user comes from
its `user_key` parameter. Nothing is cached.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

import orjson
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, QueryDict
from django.http.multipartparser import MultiPartParserError
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods

from accounts.access import role_on
from accounts.models import ApiKey
from campaigns.models import Conversion, ConversionEvent
from delivery.conversions import ConversionError, Received, receive
from delivery.serving.tracking_views import PIXEL, client_ip

log = logging.getLogger(__name__)

FIELDS = ("event_id", "time", "value", "currency", "click_id", "user_key")
_TOKEN = re.compile(r"[A-Za-z0-9_-]{16,64}")
_EVENT_ID = re.compile(r"[0-9]{1,18}")
_EVENT_NAME_MAX_LENGTH = 100  # ConversionEvent.name


class Refused(Exception):
    """A request answered with an error status and its `errors`, before or instead of the intake's
    own checks (a missing or wrong credential, an unreadable body, the database away)."""

    def __init__(self, status: int, field: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.errors = {field: [message]}


@csrf_exempt
@require_http_methods(["GET", "POST"])
def conversions(request: HttpRequest) -> HttpResponse:
    try:
        params = _params(request)
        received = _receive(request, _event(request, params), params, Conversion.Source.POSTBACK)
    except Refused as exc:
        response = _json({"errors": exc.errors}, exc.status)
        if exc.status == 401:
            response["WWW-Authenticate"] = 'Bearer realm="conversions"'
        elif exc.status == 503:
            response["Retry-After"] = "60"
        return response
    except ConversionError as exc:
        return _json({"errors": exc.errors}, 400)
    conversion = received.conversion
    body = {
        "conversion_id": conversion.pk,
        "duplicate": received.duplicate,
        "attribution": conversion.attribution,
        "campaign_id": conversion.campaign_id,
        "test": conversion.test,
    }
    return _json(body, 200 if received.duplicate else 201)


@require_GET
def pixel(request: HttpRequest, token: str) -> HttpResponse:
    status, error = 200, ""
    try:
        _receive(request, _event_by_token(token), _fields(request.GET), Conversion.Source.PIXEL)
    except Refused as exc:
        status, error = (503 if exc.status == 503 else 400), _describe(exc.errors)
    except ConversionError as exc:
        status, error = 400, _describe(exc.errors)
    response = HttpResponse(PIXEL, content_type="image/gif", status=status)
    response["Cache-Control"] = "no-store"
    if error:
        # Header values are ASCII: whatever else the message holds is escaped, never sent raw.
        response["X-Adwright-Error"] = error.encode("ascii", "backslashreplace").decode("ascii")
    return response


def _receive(request: HttpRequest, event: ConversionEvent, params: dict[str, Any], source: str) -> Received:
    with _database_available():
        return receive(
            event=event,
            event_id=params.get("event_id"),
            occurred_at=params.get("time"),
            value=params.get("value"),
            currency=params.get("currency"),
            click_id=params.get("click_id"),
            user_key=params.get("user_key"),
            source=source,
            ip=client_ip(request),
        )


@contextmanager
def _database_available() -> Iterator[None]:
    """The database away is no reason for a 500: the sender is told to try again (503), and as
    nothing was stored, its retry is not a duplicate."""
    try:
        yield
    except (OperationalError, InterfaceError) as exc:
        log.exception("conversion not stored")
        raise Refused(
            503, "database", "Conversions cannot be stored right now; send it again later."
        ) from exc


# Reading the request ------------------------------------------------------------------------------


def _params(request: HttpRequest) -> dict[str, Any]:
    """The query string's fields, overridden by the body's (JSON or form-encoded)."""
    params = _fields(request.GET, extra=("token", "event", "advertiser"))
    if request.method != "POST":
        return params
    try:
        form = request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data")
        if request.content_type == "application/json" or (not form and request.body.lstrip()[:1] == b"{"):
            body = _json_body(request.body)
        else:
            body = _fields(request.POST, extra=("token", "event", "advertiser"))
    except (RequestDataTooBig, TooManyFieldsSent, MultiPartParserError, UnicodeDecodeError):
        raise Refused(400, "body", "The request body could not be read (too large, or malformed).") from None
    return {**params, **body}


def _fields(query: QueryDict, extra: tuple[str, ...] = ()) -> dict[str, Any]:
    return {name: query[name] for name in (*FIELDS, *extra) if name in query}


def _json_body(raw: bytes) -> dict[str, Any]:
    def constant(name: str) -> None:
        raise ValueError(name)

    try:
        body = json.loads(raw or b"{}", parse_float=Decimal, parse_constant=constant)
    except (ValueError, RecursionError):
        raise Refused(400, "body", "The body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise Refused(400, "body", "The body must be a JSON object of fields.")
    return body


# Who sends it ------------------------------------------------------------------------------------


def _event(request: HttpRequest, params: dict[str, Any]) -> ConversionEvent:
    with _database_available():
        return _authenticated_event(request, params)


def _authenticated_event(request: HttpRequest, params: dict[str, Any]) -> ConversionEvent:
    authorization = str(request.META.get("HTTP_AUTHORIZATION", ""))
    if not authorization:
        token = params.get("token")
        if token is None or token == "":
            raise Refused(
                401,
                "token",
                "Required: the event's token from Ads Manager, or an API key in the Authorization header.",
            )
        return _event_by_token(token, status=401)
    parts = authorization.split()
    if (
        len(parts) != 2
        or parts[0].lower() != "bearer"
        or not parts[1].isascii()
        or not parts[1].isprintable()
    ):
        raise Refused(401, "authorization", "Send one API key: Authorization: Bearer <key>.")
    key = ApiKey.authenticate(parts[1])
    if key is None:
        raise Refused(401, "authorization", "The API key is not valid, or it has been revoked.")
    event = _event_for_key(key, params)
    role = role_on(key, event.advertiser)
    if role is None or not role.can_edit:
        raise Refused(
            403, "authorization", "This API key is read only: conversions need a manager or admin key."
        )
    return event


def _event_by_token(token: Any, *, status: int = 400) -> ConversionEvent:
    event = None
    if isinstance(token, str) and _TOKEN.fullmatch(token):
        with _database_available():
            event = ConversionEvent.objects.select_related("advertiser").filter(token=token).first()
    if event is None:
        raise Refused(status, "token", "Not a conversion event's token: copy the URL from the event's page.")
    return event


def _event_for_key(key: ApiKey, params: dict[str, Any]) -> ConversionEvent:
    events = ConversionEvent.objects.for_user(key).select_related("advertiser")
    named, token, advertiser = params.get("event"), params.get("token"), params.get("advertiser")
    if token not in (None, ""):
        if not (isinstance(token, str) and _TOKEN.fullmatch(token)):
            raise Refused(404, "token", "Not a conversion event's token.")
        events = events.filter(token=token)
    elif isinstance(named, int) and not isinstance(named, bool) and 0 < named < 10**18:
        events = events.filter(pk=named)
    elif isinstance(named, str) and _EVENT_ID.fullmatch(named.strip()):
        events = events.filter(pk=int(named))
    elif (
        isinstance(named, str)
        and named.strip()
        and len(named) <= _EVENT_NAME_MAX_LENGTH
        and named.isprintable()
    ):
        events = events.filter(name__iexact=named.strip())
    else:
        raise Refused(400, "event", "Required with an API key: the conversion event's name or id.")
    if advertiser not in (None, ""):
        if not _EVENT_ID.fullmatch(str(advertiser).strip()):
            raise Refused(400, "advertiser", "An advertiser id is a whole number.")
        events = events.filter(advertiser_id=int(str(advertiser).strip()))
    found = list(events[:2])
    if not found:
        raise Refused(404, "event", "No conversion event of this API key's accounts has this name or id.")
    if len(found) > 1:
        raise Refused(
            400, "event", "Several of this key's accounts have an event of this name: add advertiser=<id>."
        )
    return found[0]


def _json(body: dict[str, Any], status: int) -> HttpResponse:
    response = HttpResponse(orjson.dumps(body), status=status, content_type="application/json")
    response["Cache-Control"] = "no-store"
    return response


def _describe(errors: dict[str, list[str]]) -> str:
    return "; ".join(f"{field}: {' '.join(messages)}" for field, messages in errors.items())
