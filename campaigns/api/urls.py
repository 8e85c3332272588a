from rest_framework.routers import SimpleRouter

from campaigns.api import views


def register(router: SimpleRouter) -> None:
    """The campaigns resources of /api/v1/."""
    router.register("conversion-events", views.ConversionEventViewSet, basename="conversion-event")
