from rest_framework.routers import SimpleRouter

from accounts.api import views


def register(router: SimpleRouter) -> None:
    """The accounts resources of /api/v1/."""
    router.register("advertisers", views.AdvertiserViewSet, basename="advertiser")
    router.register("members", views.MembershipViewSet, basename="member")
    router.register("api-keys", views.ApiKeyViewSet, basename="api-key")
    router.register("audit-log", views.AuditLogViewSet, basename="audit-log")
