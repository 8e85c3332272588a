from celery import shared_task


@shared_task(name="config.tasks.heartbeat", soft_time_limit=10, time_limit=20, ignore_result=True)
def heartbeat() -> None:
    """Runs every minute from beat; its recorded success tells /healthz that beat and a worker run."""
