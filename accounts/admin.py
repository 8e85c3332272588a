"""The platform admin for people and accounts: users, agencies, advertisers, memberships, API keys.

Platform staff use it; advertisers never see it. API keys are issued here (the token is shown once,
then only its hash is kept) and revoked here; they are never edited into another scope or role.
"""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.forms import BaseUserCreationForm
from django.contrib.auth.forms import UserChangeForm as BaseUserChangeForm
from django.db import transaction
from django.db.models import Count, QuerySet
from django.http import HttpRequest
from django.utils.html import format_html

from accounts.audit import Actor, record, snapshot
from accounts.models import Advertiser, Agency, ApiKey, AuditLog, Membership, User


class UserCreationForm(BaseUserCreationForm):
    """Email and the password twice; the rest is set on the change page, as for Django's own users."""

    class Meta:
        model = User
        fields = ("email", "full_name")

    def clean_email(self) -> str:
        email: str = self.cleaned_data["email"].strip().lower()
        if User.objects.filter(email__iexact=email).exists():
            raise forms.ValidationError("A user with this email address already exists.", code="unique")
        return email


class UserChangeForm(BaseUserChangeForm):
    class Meta:
        model = User
        fields = "__all__"


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    readonly_fields = ("created_at",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Membership]:
        return super().get_queryset(request).select_related("user", "agency", "advertiser")


class UserMembershipInline(MembershipInline):
    fk_name = "user"
    fields = ("agency", "advertiser", "role", "created_at")
    autocomplete_fields = ("agency", "advertiser")
    verbose_name_plural = "memberships (each on an agency or on an advertiser, not both)"


class MemberInline(MembershipInline):
    """Members of an agency or an advertiser: whoever has a role there."""

    fields = ("user", "role", "created_at")
    autocomplete_fields = ("user",)
    verbose_name = "member"
    verbose_name_plural = "members"


class AgencyMemberInline(MemberInline):
    fk_name = "agency"


class AdvertiserMemberInline(MemberInline):
    fk_name = "advertiser"


EMPTY = "—"


def admin_actor(request: HttpRequest) -> Actor:
    return Actor.from_request(request, source=AuditLog.Source.ADMIN)


# ---------------------------------------------------------------------------------------------------
# Audited base class


class AuditedModelAdmin(admin.ModelAdmin):
    """Writes an audit entry (source "admin") for every save and delete made through the admin."""

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        with transaction.atomic():
            # The form has already written its values onto `obj`: read the stored row for "before".
            before = (
                snapshot(type(obj)._default_manager.select_for_update().get(pk=obj.pk)) if change else None
            )
            super().save_model(request, obj, form, change)
            action = "update" if change else "create"
            record(actor=admin_actor(request), action=action, obj=obj, before=before, after=snapshot(obj))

    def get_inlines(self, request: HttpRequest, obj: Any) -> Any:
        # The inlines here list an object's children: there are none on the add page.
        return super().get_inlines(request, obj) if obj is not None else ()

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        with transaction.atomic():
            record(actor=admin_actor(request), action="delete", obj=obj, before=snapshot(obj))
            super().delete_model(request, obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        actor = admin_actor(request)
        if any(field.name == "advertiser" for field in queryset.model._meta.concrete_fields):
            queryset = queryset.select_related("advertiser")
        with transaction.atomic():
            for obj in queryset:
                record(actor=actor, action="delete", obj=obj, before=snapshot(obj))
            super().delete_queryset(request, queryset)

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        """Inline rows (members on an advertiser's page, say) are audited like the page's own object."""
        actor = admin_actor(request)
        with transaction.atomic():
            model = formset.model
            # Form validation has already written the new values onto the instances: read the rows.
            touched = [f.instance.pk for f in formset.initial_forms if f.instance.pk is not None]
            stored = {obj.pk: snapshot(obj) for obj in model._default_manager.filter(pk__in=touched)}
            super().save_formset(request, form, formset, change)
            for obj in formset.new_objects:
                record(actor=actor, action="create", obj=obj, after=snapshot(obj))
            for obj, _fields in formset.changed_objects:
                record(actor=actor, action="update", obj=obj, before=stored.get(obj.pk), after=snapshot(obj))
            for obj in formset.deleted_objects:
                record(actor=actor, action="delete", obj=obj, before=stored.get(obj.pk))


@admin.register(User)
class UserAdmin(AuditedModelAdmin, BaseUserAdmin):
    form = UserChangeForm
    add_form = UserCreationForm
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        ("Personal info", {"fields": ("full_name",)}),
        ("Permissions", {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")}),
        ("Important dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = (
        (None, {"classes": ("wide",), "fields": ("email", "full_name", "password1", "password2")}),
    )
    readonly_fields = ("last_login", "date_joined")
    list_display = (
        "email",
        "full_name",
        "is_staff",
        "is_superuser",
        "is_active",
        "date_joined",
        "last_login",
    )
    list_filter = ("is_staff", "is_superuser", "is_active", "groups")
    search_fields = ("email", "full_name")
    ordering = ("email",)
    date_hierarchy = "date_joined"
    inlines = (UserMembershipInline,)

    def get_inlines(
        self, request: HttpRequest, obj: User | None
    ) -> list[type[admin.options.InlineModelAdmin]]:
        # The add page stays the short email-and-password form; memberships come on the change page.
        return list(super().get_inlines(request, obj)) if obj is not None else []


@admin.register(Agency)
class AgencyAdmin(AuditedModelAdmin):
    list_display = ("name", "slug", "advertiser_count", "created_at")
    search_fields = ("name", "slug")
    prepopulated_fields = {"slug": ("name",)}
    readonly_fields = ("created_at",)
    date_hierarchy = "created_at"
    inlines = (AgencyMemberInline,)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Agency]:
        return super().get_queryset(request).annotate(advertiser_count=Count("advertisers"))

    @admin.display(description="advertisers", ordering="advertiser_count")
    def advertiser_count(self, obj: Agency) -> int:
        return obj.advertiser_count  # type: ignore[attr-defined]


@admin.register(Advertiser)
class AdvertiserAdmin(AuditedModelAdmin):
    list_display = ("name", "agency", "status", "currency", "time_zone", "created_at")
    list_filter = ("status", "currency", "trusted")
    list_select_related = ("agency",)
    search_fields = ("name", "agency__name", "agency__slug")
    autocomplete_fields = ("agency",)
    readonly_fields = ("created_at",)
    date_hierarchy = "created_at"
    fields = ("name", "agency", "status", "currency", "time_zone", "domains", "trusted", "created_at")
    inlines = (AdvertiserMemberInline,)


@admin.register(Membership)
class MembershipAdmin(AuditedModelAdmin):
    list_display = ("user", "role", "agency", "advertiser", "created_at")
    list_filter = ("role",)
    list_select_related = ("user", "agency", "advertiser")
    search_fields = ("user__email", "user__full_name", "agency__name", "advertiser__name")
    autocomplete_fields = ("user", "agency", "advertiser")
    readonly_fields = ("created_at",)
    date_hierarchy = "created_at"


class ApiKeyStateFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("active", "Active"), ("revoked", "Revoked")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> QuerySet[ApiKey]:
        if self.value() == "active":
            return queryset.filter(revoked_at__isnull=True)
        if self.value() == "revoked":
            return queryset.filter(revoked_at__isnull=False)
        return queryset


@admin.register(ApiKey)
class ApiKeyAdmin(AuditedModelAdmin):
    """Issue and revoke keys. The secret's hash is never shown; the token is shown once, on creation."""

    list_display = (
        "name",
        "token_start",
        "scope",
        "role",
        "active",
        "created_by",
        "created_at",
        "last_used_at",
    )
    list_filter = (ApiKeyStateFilter, "role")
    list_select_related = ("agency", "advertiser", "created_by")
    search_fields = ("name", "prefix", "agency__name", "advertiser__name")
    autocomplete_fields = ("agency", "advertiser")
    date_hierarchy = "created_at"
    actions = ("revoke",)
    add_fields = ("name", "agency", "advertiser", "role")
    change_fields = (
        "name",
        "token_start",
        "agency",
        "advertiser",
        "role",
        "created_by",
        "created_at",
        "last_used_at",
        "revoked_at",
    )

    def get_fields(self, request: HttpRequest, obj: ApiKey | None = None) -> Any:
        return self.add_fields if obj is None else self.change_fields

    def get_readonly_fields(self, request: HttpRequest, obj: ApiKey | None = None) -> Any:
        # A key keeps the scope and role it was issued with: issue a new one rather than widen an old one.
        return () if obj is None else tuple(name for name in self.change_fields if name != "name")

    def save_model(self, request: HttpRequest, obj: ApiKey, form: Any, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        key, token = ApiKey.issue(
            name=obj.name,
            role=obj.role,
            agency=obj.agency,
            advertiser=obj.advertiser,
            created_by=request.user,  # type: ignore[arg-type]
        )
        # The admin goes on with `obj` (history entry, redirect to the new key): make it the stored row.
        for field in ApiKey._meta.concrete_fields:
            setattr(obj, field.attname, getattr(key, field.attname))
        obj._state.adding = False
        obj._state.db = key._state.db
        record(actor=admin_actor(request), action="create", obj=key, after=snapshot(key))
        messages.success(
            request,
            format_html(
                "The new token is <code>{}</code>. Copy it now: it is not stored and cannot be shown again.",
                token,
            ),
        )

    @admin.display(description="token starts with")
    def token_start(self, obj: ApiKey) -> str:
        return f"{ApiKey.TOKEN_PREFIX}_{obj.prefix}_…" if obj.prefix else "—"

    @admin.display(description="scope")
    def scope(self, obj: ApiKey) -> str:
        if obj.agency_id is not None:
            return f"Agency: {obj.agency}"
        return f"Advertiser: {obj.advertiser}"

    @admin.display(description="active", boolean=True, ordering="revoked_at")
    def active(self, obj: ApiKey) -> bool:
        return obj.is_active

    @admin.action(description="Revoke selected keys", permissions=["change"])
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        keys = list(queryset.filter(revoked_at__isnull=True))
        actor = admin_actor(request)
        for key in keys:
            with transaction.atomic():
                before = snapshot(key)
                key.revoke()
                record(actor=actor, action="revoke", obj=key, before=before, after=snapshot(key))
        self.message_user(request, f"Revoked {len(keys)} API key(s).", messages.SUCCESS)


# ---------------------------------------------------------------------------------------------------
# Audit log


class ObjectTypeFilter(admin.SimpleListFilter):
    """The audited models (those whose admin is an AuditedModelAdmin), rather than a DISTINCT over the
    whole log: that list is known, and the log grows without bound."""

    title = "object type"
    parameter_name = "object_type"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        audited = [
            m for m, ma in model_admin.admin_site._registry.items() if isinstance(ma, AuditedModelAdmin)
        ]
        return sorted((m._meta.label, str(m._meta.verbose_name).capitalize()) for m in audited)

    def queryset(self, request: HttpRequest, queryset: QuerySet[AuditLog]) -> QuerySet[AuditLog]:
        return queryset.filter(object_type=self.value()) if self.value() else queryset


def pretty_json(value: Any) -> str:
    if value is None:
        return EMPTY
    text = json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False)
    return format_html('<pre style="white-space: pre-wrap; margin: 0">{}</pre>', text)


@admin.register(AuditLog)
class AuditLogAdmin(admin.ModelAdmin):
    """Read only: the log is append-only (the database refuses UPDATE and DELETE as well)."""

    list_display = (
        "created_at",
        "actor_label",
        "source",
        "action",
        "object_type",
        "object_repr",
        "object_id",
        "advertiser",
    )
    list_filter = ("source", ObjectTypeFilter)
    list_select_related = ("advertiser",)
    search_fields = ("actor_label", "object_repr", "=object_id")
    date_hierarchy = "created_at"
    show_full_result_count = False  # the log grows without bound: skip the second COUNT(*)
    fields = (
        "created_at",
        "source",
        "actor_label",
        "actor_user",
        "actor_api_key",
        "action",
        "object_type",
        "object_id",
        "object_repr",
        "advertiser",
        "before_json",
        "after_json",
    )
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="before")
    def before_json(self, obj: AuditLog) -> str:
        return pretty_json(obj.before)

    @admin.display(description="after")
    def after_json(self, obj: AuditLog) -> str:
        return pretty_json(obj.after)
