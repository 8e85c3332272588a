"""The creative editor's form. The image is checked by campaigns.creative_specs (type, byte size,
IAB or native dimensions) as soon as it arrives, and the model's clean() checks what each format
needs; both put their message next to the field."""

from __future__ import annotations

import base64
from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from accounts.audit import Actor
from campaigns import creative_specs, services
from campaigns.models import AdGroup, Creative

IMAGE_ACCEPT = ",".join(creative_specs.IMAGE_FORMATS.values())


class CreativeForm(forms.ModelForm):
    image = forms.FileField(
        required=False,
        widget=forms.FileInput(attrs={"accept": IMAGE_ACCEPT}),
        help_text=(
            f"PNG, JPEG, GIF or WebP, up to {creative_specs.MAX_IMAGE_BYTES // 1024} KB. Banners: an IAB "
            "size such as 300x250 or 728x90. Native: 1.91:1 or square, at least "
            f"{creative_specs.NATIVE_MIN_WIDTH} pixels wide."
        ),
    )

    landing_url = forms.URLField(
        max_length=2048,
        assume_scheme="https",
        label="Landing page URL",
        help_text="Where a click goes: a full https:// address.",
        widget=forms.URLInput(attrs={"placeholder": "https://"}),
    )
    vast_url = forms.URLField(
        max_length=2048, required=False, assume_scheme="https", label="VAST tag URL",
        help_text="Or paste the VAST document below.",
    )  # fmt: skip

    class Meta:
        model = Creative
        fields = (
            "name",
            "format",
            "image",
            "headline",
            "body",
            "call_to_action",
            "landing_url",
            "category",
            "vast_url",
            "vast_xml",
        )
        labels = {
            "category": "What the ad is about",
            "name": "Creative name",
            "landing_url": "Landing page URL",
            "vast_url": "VAST tag URL",
            "vast_xml": "VAST XML",
            "call_to_action": "Call to action",
        }
        help_texts = {
            "landing_url": "Where a click goes: a full https:// address.",
            "vast_url": "Or paste the VAST document below.",
            "headline": f"Native ads: up to {Creative.HEADLINE_MAX} characters.",
            "body": f"Native ads: up to {Creative.BODY_MAX} characters.",
        }
        widgets = {
            "format": forms.RadioSelect,
            "body": forms.Textarea(attrs={"rows": 3}),
            "vast_xml": forms.Textarea(attrs={"rows": 5, "spellcheck": "false"}),
            "landing_url": forms.URLInput(attrs={"placeholder": "https://"}),
        }

    def __init__(self, *args: Any, ad_group: AdGroup, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.ad_group = ad_group
        self.instance.ad_group = ad_group
        fields: Any = self.fields  # choice fields, typed as plain Field by the stubs
        fields["format"].choices = Creative.Format.choices  # no empty choice: a radio per format
        fields["call_to_action"].choices = [("", "Choose…"), *fields["call_to_action"].choices[1:]]
        self.image_info: creative_specs.ImageInfo | None = None

    def clean_image(self) -> Any:
        upload = self.cleaned_data.get("image")
        if upload is False:  # "clear" ticked
            return None
        if upload and hasattr(upload, "content_type"):
            self.image_info = creative_specs.inspect_image(upload)  # ValidationError: next to the field
            return upload
        return self.instance.image if self.instance.pk else upload

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        info, fmt = self.image_info, data.get("format")
        if info is not None and "image" not in self.errors:
            try:
                if fmt == Creative.Format.BANNER:
                    creative_specs.check_banner_dimensions(info.width, info.height)
                elif fmt == Creative.Format.NATIVE:
                    creative_specs.check_native_dimensions(info.width, info.height)
            except ValidationError as exc:
                self.add_error("image", exc)
        return data

    def _post_clean(self) -> None:
        # A refused upload keeps its precise message, without the model's "needs an image" too.
        errors: Any = self._errors  # type: ignore[attr-defined]
        image_errors = errors.pop("image", None) if errors else None
        super()._post_clean()  # type: ignore[misc]
        if image_errors is not None:
            errors["image"] = image_errors

    def preview_image_url(self, stored_url: str) -> str:
        """A data: URL of a fresh, accepted upload (so the preview shows it before it is stored),
        the stored image's URL, or ''."""
        upload = self.files.get(self.add_prefix("image")) if self.is_bound else None
        if upload is not None and self.image_info is not None and "image" not in self.errors:
            upload.seek(0)
            encoded = base64.b64encode(upload.read()).decode()
            upload.seek(0)
            return f"data:{creative_specs.IMAGE_FORMATS[self.image_info.format]};base64,{encoded}"
        return stored_url if self.instance.pk and self.instance.image else ""

    def preview_size(self) -> tuple[int, int] | None:
        if self.image_info is not None and "image" not in self.errors:
            return self.image_info.width, self.image_info.height
        if self.instance.pk and self.instance.width and self.instance.height:
            return self.instance.width, self.instance.height
        return None

    def save_with(self, *, actor: Actor) -> Creative:
        """Create through the service, or update in place with an audit entry."""
        fields = {name: self.cleaned_data.get(name) or "" for name in self._meta.fields or ()}
        fields["image"] = self.cleaned_data.get("image") or ""
        if self.instance.pk is None:
            return services.create_creative(ad_group=self.ad_group, actor=actor, **fields)
        return services.update_creative(creative=self.instance, actor=actor, **fields)
