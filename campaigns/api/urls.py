from rest_framework.routers import SimpleRouter

from campaigns.api import views


def register(router: SimpleRouter) -> None:
    """The campaigns resources of /api/v1/."""
    router.register("campaigns", views.CampaignViewSet, basename="campaign")
    router.register("ad-groups", views.AdGroupViewSet, basename="ad-group")
    router.register("creatives", views.CreativeViewSet, basename="creative")
    router.register("conversion-events", views.ConversionEventViewSet, basename="conversion-event")
