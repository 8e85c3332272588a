"""The review queue in the admin (campaigns/admin_review.py): who may see it and decide, the review
page, bulk decisions, resubmission, and the audit trail of every decision."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.audit import Actor
from accounts.models import Advertiser, AuditLog, User
from campaigns.models import Creative, ProhibitedTerm
from campaigns.reviewers import reviewers_group
from campaigns.services import update_creative
from tests.admin_helpers import messages_of
from tests.conftest import Tenants, client_for
from tests.factories import AdGroupFactory, CampaignFactory, CreativeFactory, UserFactory

pytestmark = pytest.mark.django_db

QUEUE = "admin:campaigns_creativereview_changelist"


def review_url(creative: Creative) -> str:
    return reverse("admin:campaigns_creativereview_change", args=[creative.pk])


@dataclass
class Queue:
    advertiser: Advertiser
    oldest: Creative
    middle: Creative
    newest: Creative
    approved: Creative
    archived: Creative


def make_reviewer(email: str = "reviewer@adwright.test") -> User:
    user = UserFactory.create(email=email, is_staff=True)
    user.groups.add(reviewers_group())
    return user


@pytest.fixture
def reviewer(db: None) -> User:
    return make_reviewer()


@pytest.fixture
def other_staff(db: None) -> User:
    """Staff who may edit creatives, but are not reviewers."""
    user = UserFactory.create(email="support@adwright.test", is_staff=True)
    user.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_creative", "change_creative", "view_creativereview"])
    )
    return user


@pytest.fixture
def queue(tenants: Tenants) -> Queue:
    advertiser = tenants.advertiser
    Advertiser.objects.filter(pk=advertiser.pk).update(domains=["example.com"])
    group = AdGroupFactory.create(campaign=CampaignFactory.create(advertiser=advertiser))
    now = timezone.now()

    def pending(name: str, waited: timedelta, **fields: Any) -> Creative:
        return CreativeFactory.create(ad_group=group, name=name, submitted_at=now - waited, **fields)

    return Queue(
        advertiser=advertiser,
        middle=pending("Middle", timedelta(hours=1)),
        newest=pending("Newest", timedelta(minutes=10), landing_url="https://elsewhere.example/offer"),
        oldest=pending("Oldest", timedelta(hours=3, minutes=12)),
        approved=CreativeFactory.create(ad_group=group, name="Approved", approved=True),
        archived=pending("Archived", timedelta(days=2), status=Creative.Status.ARCHIVED),
    )


def decisions_of(creative: Creative) -> list[AuditLog]:
    return list(
        AuditLog.objects.filter(
            object_type="campaigns.Creative", object_id=str(creative.pk), action__in=["approve", "reject"]
        ).order_by("created_at", "id")
    )


def run_action(client: Client, action: str, creatives: list[Creative], **extra: Any) -> Any:
    data = {"action": action, "_selected_action": [c.pk for c in creatives], "index": 0, **extra}
    return client.post(reverse(QUEUE), data, follow=True)


# Who sees the queue --------------------------------------------------------------------------------


def test_reviewer_sees_the_queue_oldest_first(reviewer: User, queue: Queue) -> None:
    response = client_for(reviewer).get(reverse(QUEUE))
    assert response.status_code == 200
    names = [creative.name for creative in response.context["cl"].result_list]
    assert names == ["Oldest", "Middle", "Newest"]  # neither the approved nor the archived one
    page = response.content.decode()
    assert "3 h 12 min" in page
    assert "elsewhere.example" in page and "undeclared" in page  # not among the declared domains
    assert "Acme Shoes" in page


def test_reviewer_is_not_a_superuser_and_cannot_add_or_delete(reviewer: User, queue: Queue) -> None:
    client = client_for(reviewer)
    assert not reviewer.is_superuser
    assert client.get(reverse("admin:campaigns_creativereview_add")).status_code == 403
    assert (
        client.get(reverse("admin:campaigns_creativereview_delete", args=[queue.oldest.pk])).status_code
        == 403
    )
    # Nor edit creatives, campaigns or events elsewhere in the admin: view only.
    assert client.get(reverse("admin:campaigns_creative_change", args=[queue.oldest.pk])).status_code == 200
    response = client.post(reverse("admin:campaigns_creative_change", args=[queue.oldest.pk]), {"name": "x"})
    assert response.status_code == 403
    assert client.get(reverse("admin:accounts_user_changelist")).status_code == 403


def test_other_staff_get_403_on_the_queue_and_its_decisions(other_staff: User, queue: Queue) -> None:
    client = client_for(other_staff)
    # They may look at the queue (view permission) but not decide.
    response = client.post(review_url(queue.oldest), {"decision": "approve"})
    assert response.status_code == 403
    response = run_action(client, "approve", [queue.oldest])
    queue.oldest.refresh_from_db()
    assert queue.oldest.review_status == Creative.ReviewStatus.PENDING
    # Nor through the creatives' own actions, which need the review permission too.
    response = client.post(
        reverse("admin:campaigns_creative_changelist"),
        {"action": "approve", "_selected_action": [queue.oldest.pk], "index": 0},
        follow=True,
    )
    assert "No action selected." in messages_of(response)
    queue.oldest.refresh_from_db()
    assert queue.oldest.review_status == Creative.ReviewStatus.PENDING
    assert decisions_of(queue.oldest) == []

    bare = UserFactory.create(email="helpdesk@adwright.test", is_staff=True)
    assert client_for(bare).get(reverse(QUEUE)).status_code == 403
    assert client_for(bare).get(review_url(queue.oldest)).status_code == 403


def test_advertisers_are_sent_to_the_admin_login(tenants: Tenants, queue: Queue) -> None:
    for url in (reverse(QUEUE), review_url(queue.oldest)):
        response = client_for(tenants.owner).get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("admin:login"))
    response = client_for(tenants.owner).post(review_url(queue.oldest), {"decision": "approve"})
    assert response.status_code == 302
    queue.oldest.refresh_from_db()
    assert queue.oldest.review_status == Creative.ReviewStatus.PENDING


# One at a time, on the review page ----------------------------------------------------------------


def test_approve_on_the_review_page_goes_to_the_next_in_the_queue(reviewer: User, queue: Queue) -> None:
    client = client_for(reviewer)
    page = client.get(review_url(queue.oldest))
    assert page.status_code == 200
    assert b'name="decision" value="approve"' in page.content

    response = client.post(review_url(queue.oldest), {"decision": "approve"})

    assert response.status_code == 302
    assert response["Location"] == review_url(queue.middle)
    queue.oldest.refresh_from_db()
    assert queue.oldest.review_status == Creative.ReviewStatus.APPROVED
    assert queue.oldest.reviewed_by == reviewer
    [entry] = decisions_of(queue.oldest)
    assert (entry.action, entry.actor_user, entry.source) == ("approve", reviewer, AuditLog.Source.ADMIN)
    assert entry.after["review_status"] == "approved"
    assert messages_of(client.get(response["Location"])) == ["“Oldest” approved."]


def test_reject_with_reasons_and_a_note(reviewer: User, queue: Queue) -> None:
    response = client_for(reviewer).post(
        review_url(queue.middle),
        {"decision": "reject", "reasons": ["misleading_claims", "trademark"], "note": "The logo is Nike's."},
    )
    assert response.status_code == 302
    queue.middle.refresh_from_db()
    assert queue.middle.review_status == Creative.ReviewStatus.REJECTED
    assert queue.middle.rejection_reasons == ["misleading_claims", "trademark"]
    [entry] = decisions_of(queue.middle)
    assert (entry.action, entry.actor_user, entry.actor_label) == (
        "reject",
        reviewer,
        "reviewer@adwright.test",
    )
    assert entry.after["rejection_reasons"] == ["misleading_claims", "trademark"]
    assert entry.after["review_note"] == "The logo is Nike's."


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({"reasons": ["other"], "note": " "}, "Note: Explain an “Other” rejection in the note."),
        ({"note": "bad"}, "Reasons: This field is required."),
        ({"reasons": ["not_a_reason"]}, "Reasons: Select a valid choice."),
    ],
)
def test_a_bad_rejection_is_shown_on_the_form(reviewer: User, queue: Queue, data: dict, error: str) -> None:
    response = client_for(reviewer).post(review_url(queue.oldest), {"decision": "reject", **data})
    assert response.status_code == 200
    assert error in response.content.decode()
    queue.oldest.refresh_from_db()
    assert queue.oldest.review_status == Creative.ReviewStatus.PENDING
    assert decisions_of(queue.oldest) == []


def test_a_decided_creative_is_not_decided_twice(reviewer: User, queue: Queue) -> None:
    response = client_for(reviewer).post(
        review_url(queue.approved), {"decision": "reject", "reasons": ["other"]}
    )
    assert response.status_code == 302
    queue.approved.refresh_from_db()
    assert queue.approved.review_status == Creative.ReviewStatus.APPROVED
    assert decisions_of(queue.approved) == []


def test_the_review_page_needs_a_post_and_a_csrf_token(reviewer: User, queue: Queue) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(reviewer)
    assert client.post(review_url(queue.oldest), {"decision": "approve"}).status_code == 403
    queue.oldest.refresh_from_db()
    assert queue.oldest.review_status == Creative.ReviewStatus.PENDING


def test_unknown_creative_is_404(reviewer: User, queue: Queue) -> None:
    client = client_for(reviewer)
    assert client.get(reverse("admin:campaigns_creativereview_change", args=[999999])).status_code == 404
    # The admin sends non-numeric ids to its own "does not exist" redirect.
    assert client.get("/admin/campaigns/creativereview/abc/change/").status_code in (302, 404)


# In bulk --------------------------------------------------------------------------------------------


def test_bulk_approve(reviewer: User, queue: Queue) -> None:
    response = run_action(client_for(reviewer), "approve", [queue.oldest, queue.newest])
    assert messages_of(response) == ["2 creatives approved."]
    for creative in (queue.oldest, queue.newest):
        creative.refresh_from_db()
        assert creative.review_status == Creative.ReviewStatus.APPROVED
        [entry] = decisions_of(creative)
        assert (entry.action, entry.actor_user) == ("approve", reviewer)
    assert [c.name for c in response.context["cl"].result_list] == ["Middle"]


def test_bulk_reject_asks_for_reasons_then_rejects(reviewer: User, queue: Queue) -> None:
    client = client_for(reviewer)
    first = run_action(client, "reject", [queue.oldest, queue.middle])
    assert "admin/campaigns/creative/reject_confirmation.html" in [t.name for t in first.templates]
    assert Creative.objects.filter(review_status=Creative.ReviewStatus.REJECTED).count() == 0

    response = run_action(
        client, "reject", [queue.oldest, queue.middle], confirm="yes", reasons=["low_image_quality"], note=""
    )
    assert messages_of(response) == ["2 creatives rejected."]
    for creative in (queue.oldest, queue.middle):
        creative.refresh_from_db()
        assert creative.rejection_reasons == ["low_image_quality"]
        [entry] = decisions_of(creative)
        assert (entry.action, entry.actor_user, entry.after["rejection_reasons"]) == (
            "reject",
            reviewer,
            ["low_image_quality"],
        )


def test_bulk_reject_as_other_needs_a_note(reviewer: User, queue: Queue) -> None:
    response = run_action(client_for(reviewer), "reject", [queue.oldest], confirm="yes", reasons=["other"])
    assert "Explain an “Other” rejection in the note." in response.content.decode()
    assert decisions_of(queue.oldest) == []


# Policy checks ---------------------------------------------------------------------------------------


def test_policy_check_results_are_shown_and_rerun(reviewer: User, queue: Queue) -> None:
    ProhibitedTerm.objects.create(term="casino", blocking=False)
    update_creative(creative=queue.oldest, actor=Actor(source="web"), headline="Casino night")
    client = client_for(reviewer)

    response = run_action(client, "recheck", [queue.oldest, queue.middle])
    assert messages_of(response) == ["Checked 2: 0 rejected and 0 approved automatically."]
    page = response.content.decode()
    assert "1 failed: Prohibited words (casino)" in page
    queue.oldest.refresh_from_db()
    failed = [check["check"] for check in queue.oldest.policy_checks if not check["passed"]]
    assert failed == ["prohibited_terms"]

    filtered = client.get(reverse(QUEUE), {"failed": "prohibited_terms"})
    assert [c.name for c in filtered.context["cl"].result_list] == ["Oldest"]

    review = client.get(review_url(queue.oldest)).content.decode()
    assert "failed · for review" in review and "casino" in review
    assert review.count("review-badge--passed") == len(queue.oldest.policy_checks) - 1


def test_the_queue_lists_with_a_fixed_number_of_queries(
    reviewer: User, queue: Queue, django_assert_max_num_queries: Any
) -> None:
    client = client_for(reviewer)
    client.get(reverse(QUEUE))
    for n in range(10):
        CreativeFactory.create(ad_group=queue.oldest.ad_group, name=f"More {n}")
    with django_assert_max_num_queries(16):
        assert client.get(reverse(QUEUE)).status_code == 200


# Resubmission ------------------------------------------------------------------------------------


def test_a_rejected_creative_edited_returns_to_the_queue_marked_resubmitted(
    reviewer: User, queue: Queue, tenants: Tenants
) -> None:
    client = client_for(reviewer)
    client.post(review_url(queue.oldest), {"decision": "reject", "reasons": ["misleading_claims"]})
    queue.oldest.refresh_from_db()
    assert queue.oldest.review_status == Creative.ReviewStatus.REJECTED
    assert "Oldest" not in [c.name for c in client.get(reverse(QUEUE)).context["cl"].result_list]

    update_creative(
        creative=queue.oldest, actor=Actor(source="web", user=tenants.owner), headline="Honest claim"
    )

    queue.oldest.refresh_from_db()
    assert queue.oldest.review_status == Creative.ReviewStatus.PENDING
    listed = client.get(reverse(QUEUE)).context["cl"].result_list
    # Back at the end of the queue: its submission is the edit's.
    assert [c.name for c in listed] == ["Middle", "Newest", "Oldest"]
    assert [c.was_rejected for c in listed] == [False, False, True]


def test_reviewers_see_advertisers_declared_domains_on_the_review_page(reviewer: User, queue: Queue) -> None:
    page = client_for(reviewer).get(review_url(queue.newest)).content.decode()
    assert "example.com" in page
    assert "elsewhere.example is not a declared domain" in page
    assert "#3 of 3" in page


def test_rechecking_rejects_what_a_new_blocking_term_catches(reviewer: User, queue: Queue) -> None:
    caught = CreativeFactory.create(ad_group=queue.oldest.ad_group, name="Chips", headline="Casino chips")
    ProhibitedTerm.objects.create(term="casino", blocking=True)

    response = run_action(client_for(reviewer), "recheck", [caught, queue.oldest])

    assert messages_of(response) == ["Checked 2: 1 rejected and 0 approved automatically."]
    caught.refresh_from_db()
    assert (caught.review_status, caught.rejection_reasons) == ("rejected", ["prohibited_product"])
    [entry] = decisions_of(caught)
    assert (entry.action, entry.source) == ("reject", AuditLog.Source.SYSTEM)
