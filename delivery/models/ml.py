"""The model registry: each trained pCTR or pCVR model, with what it was trained on and how it did.

A version is trained by delivery.ml.train, judged on a later holdout of time, and becomes active only
when it beats the active one on that same holdout; otherwise it stays a candidate. Staff may promote
a candidate or roll back to an earlier version in the admin. The artifact (the LightGBM model with
its feature tables and calibration, delivery.ml.artifact) is kept in the row itself, so that every
web and worker process on every machine loads the same bytes from PostgreSQL.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q


class ModelVersion(models.Model):
    class Kind(models.TextChoices):
        CTR = "ctr", "pCTR: click, given an impression"
        CVR = "cvr", "pCVR: conversion, given a click"

    class Status(models.TextChoices):
        CANDIDATE = "candidate", "Candidate"
        ACTIVE = "active", "Active"
        RETIRED = "retired", "Retired"

    kind = models.CharField(max_length=8, choices=Kind.choices)
    number = models.PositiveIntegerField(help_text="The version's number among its kind's, from 1.")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.CANDIDATE)
    created_at = models.DateTimeField(auto_now_add=True)
    trained_by = models.CharField(max_length=200, help_text="beat, the command, or the admin user.")
    spec_fingerprint = models.CharField(max_length=64, help_text="The feature specification's hash.")
    spec = models.JSONField(help_text="The features, in order, and which are categorical.")
    window_start = models.DateTimeField(help_text="The first event trained on.")
    window_end = models.DateTimeField(help_text="The end of the events read (labels closed before it).")
    holdout_start = models.DateTimeField(help_text="Rows from here on were kept out of training.")
    rows_train = models.PositiveBigIntegerField()
    rows_calibration = models.PositiveBigIntegerField()
    rows_holdout = models.PositiveBigIntegerField()
    positives = models.PositiveBigIntegerField(help_text="Clicks (pCTR) or conversions (pCVR) in all rows.")
    metrics = models.JSONField(default=dict, help_text="Holdout metrics, comparisons and charts' data.")
    training_seconds = models.FloatField()
    peak_memory_bytes = models.PositiveBigIntegerField()
    artifact = models.BinaryField(help_text="delivery.ml.artifact: the model, its tables, its calibration.")
    artifact_sha256 = models.CharField(max_length=64)
    decision = models.TextField(blank=True, help_text="Why it became active or stayed a candidate.")
    promoted_at = models.DateTimeField(null=True, blank=True)
    promoted_by = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["kind", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["kind", "number"], name="ml_model_version_number"),
            models.UniqueConstraint(
                fields=["kind"], condition=Q(status="active"), name="ml_one_active_model_per_kind"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display().split(':')[0]} v{self.number}"
