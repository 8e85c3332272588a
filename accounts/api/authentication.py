"""API authentication: `Authorization: Bearer <key>` with the hashed API keys, or the browser session.

An authenticated key becomes `request.user` (it is a principal, like a User: accounts/access.py).
"""

from __future__ import annotations

from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.request import Request

from accounts.models import ApiKey


class ApiKeyAuthentication(BaseAuthentication):
    keyword = b"bearer"

    def authenticate(self, request: Request) -> tuple[ApiKey, ApiKey] | None:
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != self.keyword:
            return None
        if len(parts) != 2:
            raise AuthenticationFailed("Send one key: Authorization: Bearer <key>.")
        key = ApiKey.authenticate(parts[1].decode("ascii", errors="replace"))
        if key is None:
            raise AuthenticationFailed("The API key is not valid, or it has been revoked.")
        return key, key

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="api"'
