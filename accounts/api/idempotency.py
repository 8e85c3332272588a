"""Idempotency-Key on POST: a retried request returns the first response and does nothing new.

The key is scoped to the caller (a key or a user). The first request with a key claims it in Redis
(SET NX, "in progress"); its response is stored for 24 hours when it completes. A retry with the same
key and the same request gets the stored response (with `Idempotent-Replayed: true`); the same key
with another request answers 422; a retry while the first is still running answers 409. A 5xx
response is not stored, so the client may retry it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

import redis
from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.core.serializers.json import DjangoJSONEncoder
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.api.errors import Conflict, ServiceUnavailable, Unprocessable
from accounts.api.ratelimit import _client, principal_scope

HEADER = "Idempotency-Key"
KEPT_SECONDS = 24 * 60 * 60
IN_PROGRESS_SECONDS = 120  # a claim left by a process that died frees itself after this
MAX_KEY_LENGTH = 255
REPLAYED_HEADERS = ("Location", "ETag")


class Replay(Exception):
    def __init__(self, response: Response) -> None:
        self.response = response


def _canonical(value: Any) -> Any:
    if isinstance(value, UploadedFile):
        digest = hashlib.sha256()
        for chunk in value.chunks():
            digest.update(chunk)
        value.seek(0)
        return {"file": value.name, "sha256": digest.hexdigest()}
    if isinstance(value, dict):
        return {str(k): _canonical(v) for k, v in value.items()}
    if hasattr(value, "lists"):  # QueryDict / MultiValueDict from a form or multipart body
        return {k: [_canonical(v) for v in vs] for k, vs in value.lists()}
    if isinstance(value, (list, tuple)):
        return [_canonical(v) for v in value]
    return value


def fingerprint(request: Request) -> str:
    """The request as the client meant it: method, path, query and parsed body (files by content),
    so that a retried multipart upload with a new boundary still matches."""
    body = {"data": _canonical(request.data), "files": _canonical(getattr(request, "FILES", {}))}
    text = json.dumps(
        [request.method, request.path, request.GET.urlencode(), body], sort_keys=True, cls=DjangoJSONEncoder
    )
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(slots=True)
class Claim:
    redis_key: str
    fingerprint: str

    def store(self, response: Response, *, secret_fields: tuple[str, ...] = ()) -> None:
        """Keep the response for replays; `secret_fields` (a new API key's token) are not kept: a
        replay answers them as null, and the client that lost the first answer revokes that key."""
        client = _client(settings.REDIS_URL)
        if response.status_code >= 500 or response.status_code == 429:
            # Not an answer to keep: the retry (after Retry-After, for a 429) must run for real.
            client.delete(self.redis_key)
            return
        data = response.data
        if secret_fields and isinstance(data, dict):
            data = {name: (None if name in secret_fields else value) for name, value in data.items()}
        record = {
            "state": "done",
            "fingerprint": self.fingerprint,
            "status": response.status_code,
            "data": data,
            "headers": {name: response[name] for name in REPLAYED_HEADERS if response.has_header(name)},
        }
        client.set(self.redis_key, json.dumps(record, cls=DjangoJSONEncoder), ex=KEPT_SECONDS)


def claim(request: Request) -> Claim | None:
    """For a POST with an Idempotency-Key: claim it, or raise Replay / 409 / 422."""
    key = request.headers.get(HEADER)
    if request.method != "POST" or key is None:
        return None
    if not key.strip() or len(key) > MAX_KEY_LENGTH:
        raise Unprocessable(
            f"{HEADER} must be 1 to {MAX_KEY_LENGTH} characters.", code="invalid_idempotency_key"
        )
    digest = hashlib.sha256(key.encode()).hexdigest()
    redis_key = f"adwright:idempotency:{principal_scope(request.user)}:{digest}"
    current = Claim(redis_key=redis_key, fingerprint=fingerprint(request))
    pending = json.dumps({"state": "pending", "fingerprint": current.fingerprint})
    client = _client(settings.REDIS_URL)
    try:
        if client.set(redis_key, pending, nx=True, ex=IN_PROGRESS_SECONDS):
            return current
        stored_raw = client.get(redis_key)
    except (redis.RedisError, OSError):
        raise ServiceUnavailable(f"{HEADER} cannot be honoured right now; retry later.") from None
    if stored_raw is None:  # expired between the two calls: claim again
        return claim(request)
    stored = json.loads(stored_raw)
    if stored["fingerprint"] != current.fingerprint:
        raise Unprocessable(
            f"This {HEADER} was used with a different request; use a new key for a new request.",
            code="idempotency_key_reused",
        )
    if stored["state"] == "pending":
        raise Conflict(
            f"A request with this {HEADER} is still in progress; retry shortly.", code="in_progress"
        )
    response = Response(stored["data"], status=stored["status"], headers=stored["headers"])
    response["Idempotent-Replayed"] = "true"
    raise Replay(response)
