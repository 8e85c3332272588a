from django.apps import AppConfig


class DeliveryConfig(AppConfig):
    name = "delivery"
    verbose_name = "Delivery"

    def ready(self) -> None:
        # Cache invalidation, not business logic: whatever changes what can serve (from a page, the
        # API, the admin or a shell) tells the serving processes to rebuild their targeting index.
        from django.db import transaction
        from django.db.models.signals import post_delete, post_save

        from accounts.models import Advertiser
        from campaigns.models import AdGroup, Campaign, Creative
        from delivery.engine import bump_version
        from delivery.models import Placement, Publisher

        def changed(**kwargs: object) -> None:
            transaction.on_commit(bump_version)

        for model in (Advertiser, Campaign, AdGroup, Creative, Placement, Publisher):
            post_save.connect(changed, sender=model, dispatch_uid=f"index-version-{model.__name__}")
            post_delete.connect(changed, sender=model, dispatch_uid=f"index-deleted-{model.__name__}")

        # The same for the budgets that serving holds in Redis: a saved budget holds from the next
        # request (a lower one even before the save commits: delivery.budget.sync_budget).
        from delivery.budget import sync_budget

        budget_fields = {"budget_micros", "budget_type", "ends_at"}

        def budget_changed(
            instance: Campaign, created: bool, update_fields: object = None, **kw: object
        ) -> None:
            # A new campaign has spent nothing; a save of other fields changes no cap.
            if created or (isinstance(update_fields, frozenset) and not update_fields & budget_fields):
                return
            sync_budget(instance)

        post_save.connect(budget_changed, sender=Campaign, dispatch_uid="budget-sync")

        from delivery import engine
        from delivery.gate import BudgetGate

        engine.set_gate(BudgetGate())

        from delivery.ml.serving import ModelScorer

        engine.set_scorer(ModelScorer())
