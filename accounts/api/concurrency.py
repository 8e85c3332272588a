"""Optimistic concurrency: every object response carries an ETag of the object's stored state, and a
write with `If-Match` goes through only when the object still has that ETag (else 412).

The ETag hashes the stored field values (the audit snapshot), not the response: derived values such
as a campaign's delivery state change with the clock, and must not make a client's copy stale.
"""

from __future__ import annotations

import hashlib
import json

from django.db import models
from rest_framework.request import Request

from accounts.api.errors import PreconditionFailed
from accounts.audit import snapshot


def etag(obj: models.Model) -> str:
    text = json.dumps(snapshot(obj), sort_keys=True)
    return '"' + hashlib.sha256(text.encode()).hexdigest()[:32] + '"'


def check_if_match(request: Request, obj: models.Model) -> None:
    header = request.headers.get("If-Match")
    if header is None:
        return
    wanted = {tag.strip().removeprefix("W/") for tag in header.split(",")}
    if "*" in wanted:
        return
    if etag(obj) not in wanted:
        raise PreconditionFailed()
