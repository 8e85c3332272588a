"""Account settings pages (members, API keys), under /a/<advertiser_id>/settings/: admins only.

Members and keys follow the API's rules (accounts/api/scopes.py): the last admin of a direct account
cannot be removed or demoted, and a key's token is shown once, in the response that creates it, and
never stored. Every change is written to the audit log with the person who made it.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.db import IntegrityError, transaction
from django.db.models import F, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import URLPattern, URLResolver, path
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from accounts.api.errors import Conflict
from accounts.api.scopes import refuse_last_admin
from accounts.audit import Actor, record, snapshot
from accounts.models import Advertiser, ApiKey, Membership, Role
from accounts.pages import account_admin_page
from accounts.settings_forms import AddMemberForm, ApiKeyForm, MemberRoleForm

TEMPLATE = "accounts/settings/settings.html"
# Both forms have a "role" field on the same page: distinct ids keep each label on its own control.
MEMBER_IDS = "member_%s"
KEY_IDS = "key_%s"


def _member(advertiser: Advertiser, pk: int) -> Membership:
    """A direct member of this account (404 for another account's member or an agency member)."""
    return get_object_or_404(
        Membership.objects.select_related("user", "advertiser"), advertiser=advertiser, pk=pk
    )


def _key(advertiser: Advertiser, pk: int) -> ApiKey:
    return get_object_or_404(ApiKey.objects.select_related("created_by"), advertiser=advertiser, pk=pk)


def _keys(advertiser: Advertiser) -> QuerySet[ApiKey]:
    """The account's keys, the working ones first, newest first."""
    return (
        ApiKey.objects.filter(advertiser=advertiser)
        .select_related("created_by")
        .order_by(F("revoked_at").asc(nulls_first=True), "-created_at", "-pk")
    )


def _settings_page(request: HttpRequest, advertiser: Advertiser, **context: Any) -> HttpResponse:
    members = Membership.objects.filter(advertiser=advertiser).select_related("user").order_by("user__email")
    agency_members = (
        Membership.objects.filter(agency_id=advertiser.agency_id)
        .select_related("user")
        .order_by("user__email")
        if advertiser.agency_id
        else Membership.objects.none()
    )
    context = {
        "advertiser": advertiser,
        "members": members,
        "agency_members": agency_members,
        "keys": _keys(advertiser),
        "roles": Role.choices,
        "member_form": AddMemberForm(advertiser=advertiser, auto_id=MEMBER_IDS),
        "key_form": ApiKeyForm(auto_id=KEY_IDS),
        **context,
    }
    return render(request, TEMPLATE, context)


@account_admin_page
def account_settings(request: HttpRequest, advertiser: Advertiser) -> HttpResponse:
    return _settings_page(request, advertiser)


@account_admin_page
@require_POST
def member_add(request: HttpRequest, advertiser: Advertiser) -> HttpResponse:
    form = AddMemberForm(request.POST, advertiser=advertiser, auto_id=MEMBER_IDS)
    if not form.is_valid():
        return _settings_page(request, advertiser, member_form=form)
    membership = Membership(
        user=form.cleaned_data["email"], advertiser=advertiser, role=form.cleaned_data["role"]
    )
    try:
        with transaction.atomic():
            membership.full_clean()
            membership.save()
            record(
                actor=Actor.from_request(request), action="create", obj=membership, after=snapshot(membership)
            )
    except IntegrityError:  # added by someone else a moment ago
        form.add_error("email", "This person is already a member of this account.")
        return _settings_page(request, advertiser, member_form=form)
    messages.success(
        request,
        f"{membership.user.email} can now use this account as {membership.get_role_display().lower()}.",
    )
    return redirect("account_settings", advertiser_id=advertiser.pk)


@account_admin_page
@require_POST
def member_role(request: HttpRequest, advertiser: Advertiser, pk: int) -> HttpResponse:
    """Change a member's role; with htmx, the member's row is swapped in place."""
    member = _member(advertiser, pk)
    form = MemberRoleForm(request.POST)
    error = ""
    if not form.is_valid():
        error = "Choose one of the roles."
    else:
        try:
            with transaction.atomic():
                locked = (
                    Membership.objects.select_for_update(of=("self",))
                    .select_related("advertiser", "user")
                    .get(pk=member.pk)
                )
                before = snapshot(locked)
                if locked.role == Role.ADMIN and form.cleaned_data["role"] != Role.ADMIN:
                    refuse_last_admin(locked)
                locked.role = form.cleaned_data["role"]
                locked.save(update_fields=["role"])
                record(
                    actor=Actor.from_request(request),
                    action="update",
                    obj=locked,
                    before=before,
                    after=snapshot(locked),
                )
                member = locked
        except Conflict as exc:
            error = str(exc.detail)
    if request.htmx:  # type: ignore[attr-defined]
        context = {"advertiser": advertiser, "member": member, "roles": Role.choices, "row_error": error}
        context["row_saved"] = not error
        return render(request, f"{TEMPLATE}#member-row", context)
    if error:
        messages.error(request, error)
    else:
        messages.success(request, f"{member.user.email} is now {member.get_role_display().lower()}.")
    return redirect("account_settings", advertiser_id=advertiser.pk)


@account_admin_page
def member_remove(request: HttpRequest, advertiser: Advertiser, pk: int) -> HttpResponse:
    """GET asks for confirmation; POST removes the member."""
    member = _member(advertiser, pk)
    if request.method == "POST":
        try:
            with transaction.atomic():
                locked = (
                    Membership.objects.select_for_update(of=("self",))
                    .select_related("advertiser", "user")
                    .get(pk=member.pk)
                )
                refuse_last_admin(locked)
                record(
                    actor=Actor.from_request(request), action="delete", obj=locked, before=snapshot(locked)
                )
                locked.delete()
        except Conflict as exc:
            messages.error(request, str(exc.detail))
            return redirect("account_settings", advertiser_id=advertiser.pk)
        messages.success(request, f"{member.user.email} no longer has access to {advertiser.name}.")
        if member.user_id == request.user.pk:
            return redirect("home")
        return redirect("account_settings", advertiser_id=advertiser.pk)
    context = {"advertiser": advertiser, "member": member, "is_self": member.user_id == request.user.pk}
    return render(request, "accounts/settings/member_remove.html", context)


@never_cache
@account_admin_page
@require_POST
def api_key_create(request: HttpRequest, advertiser: Advertiser) -> HttpResponse:
    """The token is in this response only (it is not stored): reloading the page does not show it."""
    form = ApiKeyForm(request.POST, auto_id=KEY_IDS)
    if request.htmx:  # type: ignore[attr-defined]  # the form's own section, errors included (htmx swaps 2xx only)
        return _api_keys_section(request, advertiser, form)
    if not form.is_valid():
        return _settings_page(request, advertiser, key_form=form)
    key, token = _issue_key(request, advertiser, form)
    return _settings_page(request, advertiser, new_key=key, new_token=token)


def _issue_key(request: HttpRequest, advertiser: Advertiser, form: ApiKeyForm) -> tuple[ApiKey, str]:
    with transaction.atomic():
        key, token = ApiKey.issue(
            name=form.cleaned_data["name"],
            role=form.cleaned_data["role"],
            advertiser=advertiser,
            created_by=request.user,  # type: ignore[arg-type]
        )
        record(actor=Actor.from_request(request), action="create", obj=key, after=snapshot(key))
    return key, token


def _api_keys_section(request: HttpRequest, advertiser: Advertiser, form: ApiKeyForm) -> HttpResponse:
    context: dict[str, Any] = {"advertiser": advertiser, "key_form": form}
    if form.is_valid():
        context["new_key"], context["new_token"] = _issue_key(request, advertiser, form)
        context["key_form"] = ApiKeyForm(auto_id=KEY_IDS)
    context["keys"] = _keys(advertiser)
    return render(request, f"{TEMPLATE}#api-keys", context)


@account_admin_page
def api_key_revoke(request: HttpRequest, advertiser: Advertiser, pk: int) -> HttpResponse:
    """GET asks for confirmation; POST revokes the key (programs using it stop working at once)."""
    key = _key(advertiser, pk)
    if request.method == "POST":
        with transaction.atomic():
            locked = ApiKey.objects.select_for_update().get(pk=key.pk)
            if locked.revoked_at is None:
                before = snapshot(locked)
                locked.revoke()
                record(
                    actor=Actor.from_request(request),
                    action="revoke",
                    obj=locked,
                    before=before,
                    after=snapshot(locked),
                )
        messages.success(request, f"API key “{key.name}” revoked. Programs using it are refused from now on.")
        return redirect("account_settings", advertiser_id=advertiser.pk)
    return render(request, "accounts/settings/api_key_revoke.html", {"advertiser": advertiser, "key": key})


urlpatterns: list[URLPattern | URLResolver] = [
    path("settings/", account_settings, name="account_settings"),
    path("settings/members/", member_add, name="settings_member_add"),
    path("settings/members/<int:pk>/role/", member_role, name="settings_member_role"),
    path("settings/members/<int:pk>/remove/", member_remove, name="settings_member_remove"),
    path("settings/api-keys/", api_key_create, name="settings_key_create"),
    path("settings/api-keys/<int:pk>/revoke/", api_key_revoke, name="settings_key_revoke"),
]
