"""The traffic simulator: a seeded synthetic world of people, bots and publishers' placements
(world, audience), their ad requests through the day (traffic), the ground truth of clicks and
conversions (truth), what follows each decision (outcomes), batches for the Celery delivery loop
(batches, delivery.loop) and the runs of `manage.py simulate` (runner)."""
