"""The delivery app's models: inventory (publishers, placements) and the raw event tables."""

from delivery.models.events import (
    ClickEvent,
    DecisionEvent,
    ImpressionEvent,
    NoticeEvent,
    TruthEvent,
)
from delivery.models.inventory import Placement, PlacementQuerySet, Publisher
from delivery.models.ml import ModelVersion

__all__ = [
    "ClickEvent",
    "DecisionEvent",
    "ImpressionEvent",
    "ModelVersion",
    "NoticeEvent",
    "Placement",
    "PlacementQuerySet",
    "Publisher",
    "TruthEvent",
]
