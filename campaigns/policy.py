"""Automatic policy checks on a creative, run before a human reviewer looks at it.

Each check is a plain function of the creative (and the configuration it needs) returning one
CheckResult; run_checks() runs them all, check_and_decide() stores the results on the creative and
acts on them: a failed blocking check rejects the creative at once (audited as the system, the note
saying which checks failed and what matched); a creative of a trusted advertiser that passes
everything is approved (REVIEW_AUTO_APPROVE_TRUSTED); anything else waits for a reviewer, who sees
each result.

Reasons given when a check fails (RejectionReason):
- prohibited_terms: the matched term's own reason (prohibited product by default).
- landing_https, landing_domain_denied: "other", explained by the note. A plain-http page or a
  denied domain says nothing about whether the page matches the ad, nor is the domain necessarily
  a prohibited product; the note names the rule.
- landing_domain_declared: landing_page_mismatch, but it does not block: a reviewer decides (agencies
  and marketplaces legitimately link to pages they do not own).
- image_dimensions, image_size: low_image_quality.
- near_duplicate_of_rejected: the first reason the earlier creative was given; only creatives rejected
  by a reviewer count (an automatic rejection is about text or the landing page, not the image).
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from typing import Any
from urllib.parse import unquote, urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from accounts.audit import Actor
from campaigns import creative_specs
from campaigns.models import Creative, DeniedDomain, ProhibitedTerm, RejectionReason

DEFAULT_NEAR_DUPLICATE_MAX_DISTANCE = 6  # of 64 bits: re-encoded or resized copies stay within this


@dataclass(frozen=True, slots=True)
class CheckResult:
    check: str
    label: str
    passed: bool
    blocking: bool
    detail: str
    matched: tuple[str, ...] = field(default=())
    reason: str = ""

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["matched"] = list(self.matched)
        return data


def _result(
    check: str, label: str, *, passed: bool, blocking: bool, detail: str, **extra: Any
) -> CheckResult:
    """`blocking`: whether failing this check rejects the creative (shown for passed checks too)."""
    return CheckResult(check, label, passed, blocking, detail, **extra)


# ---------------------------------------------------------------------------------------------------
# Prohibited words and phrases


@lru_cache(maxsize=4096)
def _term_pattern(term: str) -> re.Pattern[str]:
    # Whole words only (so "casino" does not flag "occasional"), any case, any whitespace between the
    # words of a phrase. \w is Unicode-aware on str patterns, so "café" is one word.
    words = [re.escape(word) for word in term.split()]
    return re.compile(r"(?<!\w)" + r"\s+".join(words) + r"(?!\w)", re.IGNORECASE)


_TAG = re.compile(r"<[^>]*>")


def _url_words(url: str) -> str:
    """The path and query of a URL as words: /buy-casino_chips?x=1 -> "buy casino chips x 1"."""
    parts = urlsplit(url)
    return re.sub(r"[/\-_.?=&+]+", " ", unquote(f"{parts.path} {parts.query}")).strip()


def ad_texts(creative: Creative) -> dict[str, str]:
    """What a person sees or is sent to: the ad's text, by field."""
    texts = {
        "headline": creative.headline,
        "body": creative.body,
        "landing URL": _url_words(creative.landing_url or ""),
    }
    if creative.vast_xml:
        texts["VAST XML"] = html.unescape(_TAG.sub(" ", creative.vast_xml.replace("<![CDATA[", "")))
    return {where: text for where, text in texts.items() if text}


def check_prohibited_terms(creative: Creative, terms: Iterable[ProhibitedTerm]) -> CheckResult:
    texts = ad_texts(creative)
    hits: list[tuple[ProhibitedTerm, str]] = []
    for term in terms:
        pattern = _term_pattern(term.term)
        places = [where for where, text in texts.items() if pattern.search(text)]
        if places:
            hits.append((term, ", ".join(places)))
    label = "Prohibited words"
    if not hits:
        return _result("prohibited_terms", label, passed=True, blocking=True, detail="No prohibited words.")
    blocking_hits = [term for term, _ in hits if term.blocking]
    reason_term = blocking_hits[0] if blocking_hits else hits[0][0]
    detail = "; ".join(
        f'"{term.term}" in {places} ({term.get_reason_display()}{"" if term.blocking else ", for review"})'
        for term, places in hits
    )
    return _result(
        "prohibited_terms",
        label,
        passed=False,
        blocking=bool(blocking_hits),
        detail=f"Found {detail}.",
        matched=tuple(term.term for term, _ in hits),
        reason=reason_term.reason,
    )


# ---------------------------------------------------------------------------------------------------
# Landing page


def landing_host(url: str) -> str:
    host = (urlsplit(url).hostname or "").rstrip(".").lower()
    try:
        return host.encode("idna").decode("ascii")  # declared domains are ASCII (punycode)
    except UnicodeError:
        return host


def _within(host: str, domain: str) -> bool:
    return host == domain or host.endswith("." + domain)


def check_landing_https(creative: Creative) -> CheckResult:
    secure = urlsplit(creative.landing_url or "").scheme == "https"
    return _result(
        "landing_https",
        "Landing page uses https",
        passed=secure,
        blocking=True,
        detail="The landing page uses https."
        if secure
        else "The landing page must use https:// (people's data is sent to it).",
        reason="" if secure else RejectionReason.OTHER,
    )


def check_landing_domain_denied(creative: Creative, denied: Iterable[DeniedDomain]) -> CheckResult:
    host = landing_host(creative.landing_url or "")
    hit = next((entry for entry in denied if _within(host, entry.domain)), None)
    label = "Landing domain not denied"
    if hit is None:
        return _result(
            "landing_domain_denied", label, passed=True, blocking=True, detail=f"{host} is not denied."
        )
    why = f": {hit.note.strip()}" if hit.note.strip() else ""
    return _result(
        "landing_domain_denied",
        label,
        passed=False,
        blocking=True,
        detail=f"The landing page {host} is on the denied domain {hit.domain}{why}.",
        matched=(hit.domain,),
        reason=RejectionReason.OTHER,
    )


def check_landing_domain_declared(creative: Creative) -> CheckResult:
    host = landing_host(creative.landing_url or "")
    declared = [domain.lower() for domain in creative.advertiser.domains]
    label = "Landing domain is the advertiser's"
    match = next((domain for domain in declared if _within(host, domain)), None)
    if match is not None:
        return _result(
            "landing_domain_declared",
            label,
            passed=True,
            blocking=False,
            detail=f"{host} is the advertiser's domain {match}.",
        )
    detail = (
        f"{host} is not one of the advertiser's domains ({', '.join(declared)})."
        if declared
        else f"The advertiser has declared no domains to compare {host} with."
    )
    return _result(
        "landing_domain_declared",
        label,
        passed=False,
        blocking=False,
        detail=detail,
        matched=(host,),
        reason=RejectionReason.LANDING_PAGE_MISMATCH,
    )


# ---------------------------------------------------------------------------------------------------
# Image


def _has_image_format(creative: Creative) -> bool:
    return creative.format in (Creative.Format.BANNER, Creative.Format.NATIVE)


def check_image_dimensions(creative: Creative) -> CheckResult:
    label = "Image dimensions"
    if not _has_image_format(creative):
        return _result("image_dimensions", label, passed=True, blocking=True, detail="No image.")
    width, height = creative.width or 0, creative.height or 0
    try:
        if not creative.image:
            raise ValidationError("The creative has no image.")
        if creative.format == Creative.Format.BANNER:
            creative_specs.check_banner_dimensions(width, height)
        else:
            creative_specs.check_native_dimensions(width, height)
    except ValidationError as exc:
        return _result(
            "image_dimensions",
            label,
            passed=False,
            blocking=True,
            detail=" ".join(exc.messages),
            reason=RejectionReason.LOW_IMAGE_QUALITY,
        )
    return _result("image_dimensions", label, passed=True, blocking=True, detail=f"{width}x{height}.")


def check_image_size(creative: Creative) -> CheckResult:
    label = "Image file size"
    if not _has_image_format(creative) or not creative.image:
        return _result("image_size", label, passed=True, blocking=True, detail="No image.")
    try:
        size = creative.image.size
    except OSError:
        # The file is missing from storage: a reviewer should look, not a rule decide.
        return _result(
            "image_size",
            label,
            passed=False,
            blocking=False,
            detail="The stored image cannot be read.",
            reason=RejectionReason.LOW_IMAGE_QUALITY,
        )
    limit = creative_specs.MAX_IMAGE_BYTES
    if size > limit:
        return _result(
            "image_size",
            label,
            passed=False,
            blocking=True,
            detail=f"The image is {size / 1024:.0f} KB; the limit is {limit // 1024} KB.",
            reason=RejectionReason.LOW_IMAGE_QUALITY,
        )
    return _result("image_size", label, passed=True, blocking=True, detail=f"{size / 1024:.0f} KB.")


def near_duplicate_max_distance() -> int:
    return int(getattr(settings, "REVIEW_NEAR_DUPLICATE_MAX_DISTANCE", DEFAULT_NEAR_DUPLICATE_MAX_DISTANCE))


def check_near_duplicate(creative: Creative, rejected: Iterable[tuple[int, str, list[str]]]) -> CheckResult:
    """`rejected`: (id, image_hash, rejection_reasons) of the rejected creatives, any advertiser."""
    label = "Not a rejected image again"
    check = "near_duplicate_of_rejected"
    max_distance = near_duplicate_max_distance()
    if not creative.image_hash:
        return _result(check, label, passed=True, blocking=True, detail="No image.")
    mine = int(creative.image_hash, 16)
    if mine.bit_count() <= max_distance:
        # A flat image (one colour, or brightening steadily) hashes to almost all zeros like every
        # other flat image: comparing would match images that look nothing alike.
        return _result(check, label, passed=True, blocking=True, detail="The image is too plain to compare.")
    best: tuple[int, int, list[str]] | None = None
    for other_id, other_hash, reasons in rejected:
        if other_id == creative.pk:
            continue
        distance = (mine ^ int(other_hash, 16)).bit_count()
        if distance <= max_distance and (best is None or distance < best[0]):
            best = (distance, other_id, reasons)
    if best is None:
        return _result(
            check, label, passed=True, blocking=True, detail="Not like any rejected creative's image."
        )
    distance, other_id, reasons = best
    return _result(
        check,
        label,
        passed=False,
        blocking=True,
        detail=f"The image is a near-duplicate of rejected creative #{other_id} "
        f"({distance} of 64 bits differ).",
        matched=(f"#{other_id}",),
        reason=reasons[0] if reasons else RejectionReason.OTHER,
    )


# ---------------------------------------------------------------------------------------------------
# Running the checks and acting on them


def run_checks(creative: Creative) -> list[CheckResult]:
    terms = list(ProhibitedTerm.objects.all())
    denied = list(DeniedDomain.objects.all())
    # Only what a person rejected: they saw the image. An automatic rejection is about text or the
    # landing page (the checks find that again), and must not condemn every ad with the same picture.
    rejected = (
        Creative.objects.filter(review_status=Creative.ReviewStatus.REJECTED, reviewed_by__isnull=False)
        .exclude(image_hash="")
        .values_list("id", "image_hash", "rejection_reasons")
    )
    return [
        check_prohibited_terms(creative, terms),
        check_landing_https(creative),
        check_landing_domain_denied(creative, denied),
        check_landing_domain_declared(creative),
        check_image_dimensions(creative),
        check_image_size(creative),
        check_near_duplicate(creative, rejected.iterator(chunk_size=2000)),
    ]


def auto_approve_trusted() -> bool:
    return bool(getattr(settings, "REVIEW_AUTO_APPROVE_TRUSTED", True))


def rejection_note(failed: list[CheckResult]) -> str:
    lines = ["Rejected automatically by the policy checks:"]
    lines += [f"- {result.label}: {result.detail}" for result in failed]
    return "\n".join(lines)


@transaction.atomic
def check_and_decide(creative: Creative, *, actor: Actor | None = None) -> list[CheckResult]:
    """Run the checks on a creative in review, store the results, and reject or approve it when the
    rules decide. `actor` is who caused the run (an edit, a recheck); the decision is the system's."""
    from campaigns.services import review_creative  # services hooks these checks in

    results = run_checks(creative)
    checked_at = timezone.now()
    stored = [result.as_json() for result in results]
    # A queryset update: the results are not content, so no content hash or review state moves.
    Creative.objects.filter(pk=creative.pk).update(policy_checks=stored, policy_checked_at=checked_at)
    creative.policy_checks, creative.policy_checked_at = stored, checked_at
    if creative.review_status != Creative.ReviewStatus.PENDING:
        return results
    failed = [result for result in results if result.blocking and not result.passed]
    if failed:
        note = rejection_note(failed)
        if actor is not None and actor.source != Actor.system().source:
            note += f"\n(Checks run after a change by {actor.label}.)"
        review_creative(
            creative=creative,
            actor=Actor.system(),
            approve=False,
            reasons=list(dict.fromkeys(result.reason for result in failed)),
            note=note,
        )
    elif all(result.passed for result in results) and creative.advertiser.trusted and auto_approve_trusted():
        review_creative(creative=creative, actor=Actor.system(), approve=True)
    return results


def recheck_pending(*, actor: Actor | None = None) -> dict[str, int]:
    """Re-run the checks on the whole review queue (after the term or domain lists change).
    Returns how many creatives were checked, rejected and approved."""
    counts = {"checked": 0, "rejected": 0, "approved": 0}
    for creative_id in (
        Creative.objects.awaiting_review().order_by("submitted_at", "id").values_list("id", flat=True)
    ):
        with transaction.atomic():
            creative = Creative.objects.select_for_update().filter(pk=creative_id).first()
            if creative is None or creative.review_status != Creative.ReviewStatus.PENDING:
                continue  # decided by a reviewer meanwhile
            check_and_decide(creative, actor=actor)
            counts["checked"] += 1
            if creative.review_status == Creative.ReviewStatus.REJECTED:
                counts["rejected"] += 1
            elif creative.review_status == Creative.ReviewStatus.APPROVED:
                counts["approved"] += 1
    return counts
