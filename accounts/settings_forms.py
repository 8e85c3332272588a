"""Forms of the account settings pages: members and API keys of one advertiser."""

from __future__ import annotations

from typing import Any

from django import forms

from accounts.models import Advertiser, Membership, Role, User

ROLE_HELP = "Admins also manage members and API keys; managers edit campaigns; analysts only read."


class AddMemberForm(forms.Form):
    email = forms.EmailField(
        label="Email address",
        help_text="Of someone who already has an Adwright login.",
        widget=forms.EmailInput(
            attrs={"autocomplete": "off", "autocapitalize": "none", "spellcheck": "false"}
        ),
    )
    role = forms.ChoiceField(choices=Role.choices, initial=Role.ANALYST, help_text=ROLE_HELP)

    def __init__(self, *args: Any, advertiser: Advertiser, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.advertiser = advertiser

    def clean_email(self) -> User:
        email = self.cleaned_data["email"].strip()
        user = User.objects.filter(email__iexact=email, is_active=True).first()
        if user is None:
            raise forms.ValidationError(
                "No one has an Adwright login with this email address; they need one first."
            )
        if Membership.objects.filter(user=user, advertiser=self.advertiser).exists():
            raise forms.ValidationError(
                f"{user.email} is already a member of this account; change their role below."
            )
        return user


class MemberRoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)


class ApiKeyForm(forms.Form):
    name = forms.CharField(
        label="Key name",
        max_length=100,
        help_text="What uses it, such as “Nightly report sync”: you will know what breaks if you revoke it.",
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )
    role = forms.ChoiceField(
        label="Key role",
        choices=Role.choices,
        initial=Role.ANALYST,
        help_text="Give a key the lowest role that does its job.",
    )
