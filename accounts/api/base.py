"""What every API view shares: the caller as a principal, tenant-scoped querysets, role checks,
rate limits, Idempotency-Key, ETag / If-Match, cursor pagination and audited writes.

A resource's viewset names its queryset and serializer; everything else comes from here, so that
no endpoint can forget the tenant filter or the audit entry.
"""

from __future__ import annotations

from typing import Any

from django.db import models, transaction
from django_filters.rest_framework import DjangoFilterBackend
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.filters import OrderingFilter
from rest_framework.pagination import CursorPagination
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.access import advertiser_of, require_edit
from accounts.api.concurrency import check_if_match, etag
from accounts.api.idempotency import Claim, Replay, claim
from accounts.api.ratelimit import Usage, limit_advertiser, limit_principal
from accounts.audit import Actor, record, snapshot
from accounts.models import ApiKey, AuditLog


class Pagination(CursorPagination):
    """Cursor pagination: stable under concurrent inserts, constant cost at any depth."""

    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 1000
    ordering = ("-created_at", "-id")

    def get_page_size(self, request: Request) -> int:
        """1 to max_page_size; anything else answers 400 rather than silently the default size."""
        values = request.query_params.getlist(self.page_size_query_param)
        if not values:
            return self.page_size
        value = values[0]
        if len(values) == 1 and value.isascii() and value.isdigit() and 1 <= int(value) <= self.max_page_size:
            return int(value)
        raise ValidationError(
            {self.page_size_query_param: [f"A whole number from 1 to {self.max_page_size}."]}
        )

    def decode_cursor(self, request: Request) -> Any:
        """A cursor this API did not give is a bad parameter (400), not a missing page (404)."""
        try:
            return super().decode_cursor(request)
        except NotFound:
            raise ValidationError(
                {self.cursor_query_param: ["Not a cursor that this list gave; start again without it."]}
            ) from None


class CanEditAdvertiser(BasePermission):
    """Reads for anyone the object is visible to; writes for admins and managers of its advertiser."""

    def has_object_permission(self, request: Request, view: APIView, obj: models.Model) -> bool:
        if request.method not in SAFE_METHODS:
            require_edit(request.user, advertiser_of(obj))  # raises PermissionDenied (403) with why
        return True


def api_actor(request: Request) -> Actor:
    principal = request.user
    if isinstance(principal, ApiKey):
        return Actor(source=AuditLog.Source.API, api_key=principal)
    return Actor(source=AuditLog.Source.API, user=principal)


class AuditedSerializer(serializers.ModelSerializer):
    """Saves through the model's own validation (full_clean), so the API keeps the same rules as
    the forms and the admin; Django ValidationErrors become 400s naming the field."""

    def create(self, validated_data: dict[str, Any]) -> Any:
        instance = self.Meta.model(**validated_data)
        instance.full_clean()
        instance.save()
        return instance

    def update(self, instance: Any, validated_data: dict[str, Any]) -> Any:
        for name, value in validated_data.items():
            setattr(instance, name, value)
        instance.full_clean()
        instance.save()
        return instance


class TenantViewSet(viewsets.GenericViewSet):
    pagination_class = Pagination
    filter_backends = (DjangoFilterBackend, OrderingFilter)
    ordering_fields: Any = ("created_at",)
    permission_classes = (*viewsets.GenericViewSet.permission_classes, CanEditAdvertiser)
    lookup_value_regex = r"\d+"

    # Response fields never kept for Idempotency-Key replays (a new API key's token).
    secret_fields: tuple[str, ...] = ()

    _claim: Claim | None = None
    _usage: Usage | None = None

    # The caller --------------------------------------------------------------------------------

    @property
    def actor(self) -> Actor:
        return api_actor(self.request)

    def get_queryset(self) -> Any:
        return super().get_queryset().for_user(self.request.user)

    def require_edit(self, advertiser: Any) -> None:
        limit_advertiser(advertiser.pk)
        require_edit(self.request.user, advertiser)

    # The request's life ------------------------------------------------------------------------

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)  # authentication, permissions
        if request.user and request.user.is_authenticated:
            self._usage = limit_principal(request.user)
            self._claim = claim(request)  # may answer at once with the stored response

    def handle_exception(self, exc: Exception) -> Response:
        if isinstance(exc, Replay):
            return exc.response
        return super().handle_exception(exc)

    def finalize_response(self, request: Request, response: Any, *args: Any, **kwargs: Any) -> Any:
        response = super().finalize_response(request, response, *args, **kwargs)
        if self._claim is not None:
            self._claim.store(response, secret_fields=self.secret_fields)
            self._claim = None
        if self._usage is not None:
            response["X-RateLimit-Limit"] = str(self._usage.limit)
            response["X-RateLimit-Remaining"] = str(self._usage.remaining)
            response["X-RateLimit-Reset"] = str(self._usage.reset_seconds)
        return response

    def get_object(self, *, for_update: bool = False) -> Any:
        """The object named in the URL, among those the caller may see (else 404); for a write,
        403 unless the caller's role may edit it. With for_update, the row is locked."""
        queryset = self.get_queryset()
        if for_update:
            queryset = queryset.select_for_update(of=("self",))
        try:
            obj = queryset.get(pk=self.kwargs["pk"])
        except queryset.model.DoesNotExist:
            raise NotFound("Not found. It does not exist, or it is not yours to see.") from None
        limit_advertiser(advertiser_of(obj).pk)
        self.check_object_permissions(self.request, obj)
        return obj

    # Responses ----------------------------------------------------------------------------------

    def object_response(self, obj: Any, status_code: int = status.HTTP_200_OK) -> Response:
        response = Response(self.get_serializer(obj).data, status=status_code)
        response["ETag"] = etag(obj)
        return response


class ReadViewSet(mixins.ListModelMixin, TenantViewSet):
    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return self.object_response(self.get_object())


class WriteViewSet(ReadViewSet):
    """Create, read and update (no delete: objects are archived, for reports and the audit log)."""

    http_method_names = ("get", "post", "patch", "put", "head", "options")

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        with transaction.atomic():
            obj = self.perform_create(serializer)
        response = self.object_response(obj, status.HTTP_201_CREATED)
        response["Location"] = request.build_absolute_uri(f"{request.path.rstrip('/')}/{obj.pk}")
        return response

    def perform_create(self, serializer: Any) -> Any:
        self.require_edit(self.advertiser_for_create(serializer.validated_data))
        obj = serializer.save()
        record(actor=self.actor, action="create", obj=obj, after=snapshot(obj))
        return obj

    def advertiser_for_create(self, data: dict[str, Any]) -> Any:
        """The advertiser a new object will belong to (its own field, or its parent's)."""
        return data["advertiser"]

    def update(self, request: Request, *args: Any, partial: bool = False, **kwargs: Any) -> Response:
        with transaction.atomic():
            obj = self.get_object(for_update=True)
            check_if_match(request, obj)
            before = snapshot(obj)
            serializer = self.get_serializer(obj, data=request.data, partial=partial)
            serializer.is_valid(raise_exception=True)
            obj = serializer.save()
            record(actor=self.actor, action="update", obj=obj, before=before, after=snapshot(obj))
        return self.object_response(obj)

    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return self.update(request, *args, partial=True, **kwargs)

    def change(self, request: Request, action: str, change: Any) -> Response:
        """A named state change (pause, activate, archive...) on one object, with If-Match honoured."""
        with transaction.atomic():
            obj = self.get_object(for_update=True)
            check_if_match(request, obj)
            before = snapshot(obj)
            change(obj)
            record(actor=self.actor, action=action, obj=obj, before=before, after=snapshot(obj))
        return self.object_response(obj)
