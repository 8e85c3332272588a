from rest_framework.routers import SimpleRouter


def register(router: SimpleRouter) -> None:
    """The accounts resources of /api/v1/."""
