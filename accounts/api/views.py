"""The accounts resources of /api/v1/: advertisers, members, API keys and the audit log.

Reads are open to anyone with a role on the object; every write here is an admin's (of the
advertiser, or of the agency), audited with source "api" like the rest of the API.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import status
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.permissions import SAFE_METHODS, BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api import schema
from accounts.api.base import ReadViewSet, WriteViewSet
from accounts.api.concurrency import check_if_match
from accounts.api.filters import AdvertiserFilter, ApiKeyFilter, AuditLogFilter, MembershipFilter
from accounts.api.ratelimit import limit_advertiser
from accounts.api.schema import errors
from accounts.api.scopes import (
    AdministeredApiKeyQuerySet,
    MembershipQuerySet,
    administered_agencies,
    refuse_last_admin,
    require_admin_of,
)
from accounts.api.serializers import (
    AdvertiserSerializer,
    ApiKeyCreateSerializer,
    ApiKeySerializer,
    AuditLogSerializer,
    MembershipRoleSerializer,
    MembershipSerializer,
)
from accounts.audit import record, snapshot
from accounts.models import Advertiser, ApiKey, AuditLog, Membership

NOT_FOUND = "Not found. It does not exist, or it is not yours to see."


class ScopedObjectMixin:
    """For objects on an advertiser *or* an agency (members, API keys) and audit entries, which may
    have no advertiser: the per-advertiser rate limit applies when there is one."""

    def get_object(self, *, for_update: bool = False) -> Any:
        queryset = self.get_queryset()  # type: ignore[attr-defined]
        if for_update:
            queryset = queryset.select_for_update(of=("self",))
        obj = queryset.filter(pk=self.kwargs["pk"]).first()  # type: ignore[attr-defined]
        if obj is None:
            raise NotFound(NOT_FOUND)
        if obj.advertiser_id is not None:
            limit_advertiser(obj.advertiser_id)
        self.check_object_permissions(self.request, obj)  # type: ignore[attr-defined]
        return obj


# ---------------------------------------------------------------------------------------------------
# Advertisers


class CanAdminAdvertiser(BasePermission):
    """Reads for anyone with a role on the advertiser; changes for its admins, while it is active."""

    def has_object_permission(self, request: Request, view: APIView, obj: Advertiser) -> bool:
        if request.method not in SAFE_METHODS:
            require_admin_of(request.user, advertiser=obj)
        return True


ADVERTISER_EXAMPLE = OpenApiExample(
    "Advertiser",
    value={
        "id": 12,
        "agency": 3,
        "name": "Acme Shoes",
        "currency": "EUR",
        "time_zone": "Europe/Paris",
        "status": "active",
        "domains": ["acme-shoes.example"],
        "created_at": "2025-03-01T09:30:00Z",
    },
    response_only=True,
)


@extend_schema_view(
    list=extend_schema(
        summary="List advertisers",
        description="The advertiser accounts the caller has a role on, directly or through its agency.",
        parameters=schema.READ_PARAMETERS,
        responses={200: AdvertiserSerializer(many=True), **schema.list_errors()},
    ),
    retrieve=extend_schema(
        summary="Get an advertiser",
        parameters=schema.OBJECT_PARAMETERS,
        responses={200: AdvertiserSerializer, **errors(*schema.OBJECT_ERRORS)},
        examples=[ADVERTISER_EXAMPLE],
    ),
    create=extend_schema(
        summary="Create an advertiser",
        description=(
            "Agency admins only (a user with the admin role on the agency, or an agency key with the "
            "admin role), into an agency they admin. `status` is set by the platform."
        ),
        parameters=schema.CREATE_PARAMETERS,
        request=AdvertiserSerializer,
        responses={201: AdvertiserSerializer, **errors(*schema.CREATE_ERRORS)},
        examples=[
            OpenApiExample(
                "New advertiser",
                value={"name": "Acme Shoes", "currency": "EUR", "time_zone": "Europe/Paris"},
                request_only=True,
            ),
            ADVERTISER_EXAMPLE,
        ],
    ),
    update=extend_schema(
        summary="Replace an advertiser's settings",
        description="Admins of the advertiser. `currency` can change only while it has no campaigns.",
        parameters=schema.UPDATE_PARAMETERS,
        responses={200: AdvertiserSerializer, **errors(*schema.UPDATE_ERRORS)},
    ),
    partial_update=extend_schema(
        summary="Change an advertiser's settings",
        description="Admins of the advertiser. `currency` can change only while it has no campaigns.",
        parameters=schema.UPDATE_PARAMETERS,
        responses={200: AdvertiserSerializer, **errors(*schema.UPDATE_ERRORS)},
        examples=[
            OpenApiExample(
                "Rename", value={"name": "Acme Shoes EU", "time_zone": "Europe/Berlin"}, request_only=True
            )
        ],
    ),
)
class AdvertiserViewSet(WriteViewSet):
    """Advertiser accounts. Agency admins create them; advertiser admins change their settings."""

    queryset = Advertiser.objects.order_by("-created_at", "-id")
    serializer_class = AdvertiserSerializer
    permission_classes = (IsAuthenticated, CanAdminAdvertiser)
    filterset_class = AdvertiserFilter
    ordering_fields = ("created_at", "name", "id")

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        if not administered_agencies(request.user).exists():
            raise PermissionDenied("Only an admin of an agency can create advertisers.")
        return super().create(request, *args, **kwargs)

    def perform_create(self, serializer: Any) -> Any:
        advertiser = serializer.save()  # the agency's admin role is checked in validate()
        record(actor=self.actor, action="create", obj=advertiser, after=snapshot(advertiser))
        return advertiser


# ---------------------------------------------------------------------------------------------------
# Members


class CanAdminScope(BasePermission):
    """Reads for anyone who sees the object; changes for admins of its advertiser or agency."""

    def has_object_permission(self, request: Request, view: APIView, obj: Any) -> bool:
        if request.method not in SAFE_METHODS:
            # Taking access away (removing a member, revoking a key) stays possible on an account
            # the platform has suspended; giving it is a change like any other.
            granting = getattr(view, "action", None) not in ("destroy", "revoke")
            require_admin_of(request.user, advertiser=obj.advertiser, agency=obj.agency, granting=granting)
        return True


MEMBER_EXAMPLE = OpenApiExample(
    "Member",
    value={
        "id": 40,
        "user": {"id": 7, "email": "ana@acme-shoes.example", "full_name": "Ana Lima"},
        "advertiser": 12,
        "agency": None,
        "role": "manager",
        "created_at": "2025-03-01T09:30:00Z",
    },
    response_only=True,
)


@extend_schema_view(
    list=extend_schema(
        summary="List members",
        description="Who has which role on the caller's advertisers and agencies.",
        parameters=schema.READ_PARAMETERS,
        responses={200: MembershipSerializer(many=True), **schema.list_errors()},
    ),
    retrieve=extend_schema(
        summary="Get a membership",
        parameters=schema.OBJECT_PARAMETERS,
        responses={200: MembershipSerializer, **errors(*schema.OBJECT_ERRORS)},
        examples=[MEMBER_EXAMPLE],
    ),
    create=extend_schema(
        summary="Give a user a role",
        description=(
            "On an advertiser or on an agency (then on all its advertisers), by the email of an existing "
            "user. Only an admin of that advertiser or agency can do it."
        ),
        parameters=schema.CREATE_PARAMETERS,
        responses={201: MembershipSerializer, **errors(*schema.CREATE_ERRORS)},
        examples=[
            OpenApiExample(
                "Manager of an advertiser",
                value={"email": "ana@acme-shoes.example", "advertiser": 12, "role": "manager"},
                request_only=True,
            ),
            MEMBER_EXAMPLE,
        ],
    ),
    partial_update=extend_schema(
        summary="Change a member's role",
        description="Admins of the advertiser or agency. The last admin cannot step down (409).",
        parameters=schema.UPDATE_PARAMETERS,
        responses={
            200: MembershipRoleSerializer,
            **errors(*schema.UPDATE_ERRORS, 409, _409="It is the last admin of its account or agency."),
        },
        examples=[OpenApiExample("Make analyst", value={"role": "analyst"}, request_only=True)],
    ),
    destroy=extend_schema(
        summary="Remove a member",
        description="Admins of the advertiser or agency. The last admin cannot be removed (409).",
        parameters=[*schema.RATE_LIMIT_HEADERS, schema.IF_MATCH],
        responses={
            204: OpenApiResponse(description="Removed."),
            **errors(401, 403, 404, 412, 429, 409, _409="It is the last admin of its account or agency."),
        },
    ),
)
class MembershipViewSet(ScopedObjectMixin, WriteViewSet):
    """Memberships: a user's role on an advertiser, or on an agency and so on all its advertisers."""

    http_method_names = ("get", "post", "patch", "delete", "head", "options")
    queryset = MembershipQuerySet(Membership).select_related("user").order_by("-created_at", "-id")
    serializer_class = MembershipSerializer
    permission_classes = (IsAuthenticated, CanAdminScope)
    filterset_class = MembershipFilter
    ordering_fields = ("created_at", "id")

    def get_serializer_class(self) -> Any:
        return MembershipRoleSerializer if self.action == "partial_update" else MembershipSerializer

    def perform_create(self, serializer: Any) -> Any:
        membership = serializer.save()  # the caller's admin role is checked in validate()
        if membership.advertiser_id is not None:
            limit_advertiser(membership.advertiser_id)
        record(actor=self.actor, action="create", obj=membership, after=snapshot(membership))
        return membership

    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        with transaction.atomic():
            membership = self.get_object(for_update=True)
            check_if_match(request, membership)
            refuse_last_admin(membership)
            record(actor=self.actor, action="delete", obj=membership, before=snapshot(membership))
            membership.delete()
        return Response(status=status.HTTP_204_NO_CONTENT)


# ---------------------------------------------------------------------------------------------------
# API keys


API_KEY_EXAMPLE = {
    "id": 5,
    "name": "Nightly sync",
    "token_prefix": "adw_3f9a0c1b2d4e_…",
    "advertiser": None,
    "agency": 3,
    "role": "manager",
    "is_active": True,
    "created_by": "owner@northwind.example",
    "created_at": "2025-03-01T09:30:00Z",
    "last_used_at": None,
    "revoked_at": None,
}


@extend_schema_view(
    list=extend_schema(
        summary="List API keys",
        description=(
            "The keys of the advertisers and agencies the caller is an admin of (an empty list for "
            "anyone else). The secret is never shown again: `token_prefix` recognises a key."
        ),
        parameters=schema.READ_PARAMETERS,
        responses={200: ApiKeySerializer(many=True), **schema.list_errors()},
    ),
    retrieve=extend_schema(
        summary="Get an API key",
        parameters=schema.OBJECT_PARAMETERS,
        responses={200: ApiKeySerializer, **errors(*schema.OBJECT_ERRORS)},
        examples=[OpenApiExample("Key", value=API_KEY_EXAMPLE, response_only=True)],
    ),
    create=extend_schema(
        summary="Create an API key",
        description=(
            "Admins of the advertiser or agency. A key can create keys only within its own scope and "
            "role. The response carries the `token`, once: it is not stored, and a replay of this "
            "request with the same Idempotency-Key answers `token: null`."
        ),
        parameters=schema.CREATE_PARAMETERS,
        responses={201: ApiKeyCreateSerializer, **errors(*schema.CREATE_ERRORS)},
        examples=[
            OpenApiExample(
                "Agency key",
                value={"name": "Nightly sync", "agency": 3, "role": "manager"},
                request_only=True,
            ),
            OpenApiExample(
                "Created",
                value={**API_KEY_EXAMPLE, "token": "adw_3f9a0c1b2d4e_Zt1…"},
                response_only=True,
                status_codes=["201"],
            ),
        ],
    ),
    destroy=extend_schema(
        summary="Revoke an API key",
        description="The same as `POST /api-keys/{id}/revoke`: the key stops working; its row stays.",
        parameters=[*schema.RATE_LIMIT_HEADERS, schema.IF_MATCH],
        responses={204: OpenApiResponse(description="Revoked."), **errors(401, 403, 404, 412, 429)},
    ),
    revoke=extend_schema(
        summary="Revoke an API key",
        description="The key answers 401 from its next call. Revoking a revoked key changes nothing.",
        parameters=[*schema.UPDATE_PARAMETERS, schema.IDEMPOTENCY_KEY],
        request=None,
        responses={200: ApiKeySerializer, **errors(401, 403, 404, 409, 412, 422, 429)},
    ),
)
class ApiKeyViewSet(ScopedObjectMixin, WriteViewSet):
    """API keys of advertisers and agencies: issued with a role, revoked, never edited."""

    http_method_names = ("get", "post", "delete", "head", "options")  # type: ignore[assignment]
    queryset = AdministeredApiKeyQuerySet(ApiKey).select_related("created_by").order_by("-created_at", "-id")
    serializer_class = ApiKeySerializer
    permission_classes = (IsAuthenticated, CanAdminScope)
    filterset_class = ApiKeyFilter
    ordering_fields = ("created_at", "id", "last_used_at")
    secret_fields = ("token",)  # never kept for Idempotency-Key replays

    def get_serializer_class(self) -> Any:
        return ApiKeyCreateSerializer if self.action == "create" else ApiKeySerializer

    def perform_create(self, serializer: Any) -> Any:
        key = serializer.save()  # the caller's admin role on the scope is checked in validate()
        if key.advertiser_id is not None:
            limit_advertiser(key.advertiser_id)
        record(actor=self.actor, action="create", obj=key, after=snapshot(key))
        return key

    @action(detail=True, methods=["post"])
    def revoke(self, request: Request, pk: str | None = None) -> Response:
        return self.change(request, "revoke", ApiKey.revoke)

    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        self.change(request, "revoke", ApiKey.revoke)
        return Response(status=status.HTTP_204_NO_CONTENT)


# ---------------------------------------------------------------------------------------------------
# Audit log


AUDIT_EXAMPLE = OpenApiExample(
    "Budget change",
    value={
        "id": 981,
        "created_at": "2025-03-01T09:30:00Z",
        "advertiser": 12,
        "source": "api",
        "action": "update",
        "object_type": "campaigns.Campaign",
        "object_id": "77",
        "object_repr": "Spring sale",
        "actor_label": "API key Nightly sync (3f9a0c1b2d4e)",
        "actor_user": None,
        "actor_api_key": 5,
        "before": {"budget_micros": 50000000},
        "after": {"budget_micros": 80000000},
    },
    response_only=True,
)


@extend_schema_view(
    list=extend_schema(
        summary="List audit log entries",
        description=(
            "Every change to the caller's advertisers, newest first: who, from where, before and after."
        ),
        parameters=schema.READ_PARAMETERS,
        responses={200: AuditLogSerializer(many=True), **schema.list_errors()},
        examples=[AUDIT_EXAMPLE],
    ),
    retrieve=extend_schema(
        summary="Get an audit log entry",
        parameters=schema.OBJECT_PARAMETERS,
        responses={200: AuditLogSerializer, **errors(*schema.OBJECT_ERRORS)},
        examples=[AUDIT_EXAMPLE],
    ),
)
class AuditLogViewSet(ScopedObjectMixin, ReadViewSet):
    """The audit log of the caller's advertisers (read only; the log is append-only)."""

    queryset = AuditLog.objects.order_by("-created_at", "-id")
    serializer_class = AuditLogSerializer
    filter_backends = (DjangoFilterBackend,)  # type: ignore[assignment]  # newest first, always
    filterset_class = AuditLogFilter
