"""What ads may not say or link to: prohibited terms and denied landing-page domains."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import models

from accounts.models import domain_validator
from campaigns.models.creative import RejectionReason


def _normalise_term(term: str) -> str:
    return " ".join(term.split()).lower()


class ProhibitedTerm(models.Model):
    """A word or phrase that may not appear in an ad (checked as a whole word, any case)."""

    term = models.CharField(max_length=100, unique=True, help_text="Stored in lower case.")
    reason = models.CharField(
        max_length=32, choices=RejectionReason.choices, default=RejectionReason.PROHIBITED_PRODUCT
    )
    blocking = models.BooleanField(
        default=True, help_text="Reject automatically; otherwise the match is only shown to the reviewer."
    )
    note = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["term"]

    def __str__(self) -> str:
        return self.term

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.term = _normalise_term(self.term)
        super().save(*args, **kwargs)

    def clean(self) -> None:
        self.term = _normalise_term(self.term)
        if not self.term:
            raise ValidationError({"term": ["Enter a word or phrase."]})


class DeniedDomain(models.Model):
    """A domain that landing pages may not point to; its subdomains are denied with it."""

    domain = models.CharField(max_length=253, unique=True, validators=[domain_validator])
    note = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["domain"]

    def __str__(self) -> str:
        return self.domain

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.domain = self.domain.strip().lower().rstrip(".")
        super().save(*args, **kwargs)

    def clean_fields(self, exclude: Any = None) -> None:
        # Before the validator runs, so that "Example.COM." is accepted as example.com.
        self.domain = self.domain.strip().lower().rstrip(".")
        super().clean_fields(exclude=exclude)
