from celery import shared_task
from django.core.management import call_command


@shared_task(
    name="accounts.tasks.clear_expired_sessions", soft_time_limit=120, time_limit=180, ignore_result=True
)
def clear_expired_sessions() -> None:
    """Hourly: expired login sessions are deleted, so the session table does not grow forever."""
    call_command("clearsessions")
