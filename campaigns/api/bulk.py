"""Bulk writes: `POST /api/v1/{campaigns,ad-groups,creatives}/bulk` creates or updates up to 1,000
objects in one request.

Body: `{"items": [...], "all_or_nothing": false}`. An item without `id` is a create, with the fields of
`POST /{resource}`; an item with `id` is a partial update, as `PATCH /{resource}/{id}`. The answer
has one result per item, in order: `{"index", "id", "status": "created" | "updated"}`, or
`{"index", "error": {"code", "message", "fields"}}` in the API's one error shape.

Each item is checked as the single-object endpoints check it: its parent among the caller's objects
(another tenant's id is unknown: 400), the object to update among the caller's (else not_found), the
caller's role on the item's advertiser (an analyst's item fails with permission_denied), the
per-advertiser rate limit (one hit per item: a bulk of 1,000 weighs what 1,000 calls do), the
serializer and the model's full_clean(). Every write is audited, as a single write is.

- Default: each valid item is written in its own savepoint, so that one failure loses no other item.
  The answer is 200 whatever the items' fates.
- `all_or_nothing: true`: nothing is written unless every item is valid and written; otherwise 400
  with the error shape (`fields` named `items[3].name`...) and the results (the valid items read
  "skipped").

Speed (1,000 creates well under 3 s on two cores): the parents and the objects the items name are
loaded with one query each, roles are checked once per advertiser, the model's constraints that would
cost a query per item (uniqueness) are checked for the whole batch in one query, and the audit
entries are inserted in one statement.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.core.exceptions import NON_FIELD_ERRORS
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DatabaseError, models, transaction
from django.db.models import Q
from django.http import Http404
from rest_framework import exceptions, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from accounts import audit
from accounts.access import advertiser_of, require_edit
from accounts.api.errors import error_body, exception_handler
from accounts.api.ratelimit import limit_advertiser
from accounts.models import Advertiser, AuditLog
from campaigns.api.fields import OwnedRelatedField, parse_id

if TYPE_CHECKING:
    from campaigns.api.views import CampaignsViewSet

MAX_ITEMS = 1000
NOT_FOUND = "Not found. It does not exist, or it is not yours to see."


class BulkRequestSerializer(serializers.Serializer):
    """Objects to create or update in one request."""

    items = serializers.ListField(
        child=serializers.JSONField(), max_length=MAX_ITEMS, help_text=f"Up to {MAX_ITEMS} items."
    )
    all_or_nothing = serializers.BooleanField(
        default=False, help_text="Write every item or none: any failure answers 400 and writes nothing."
    )


@dataclass(slots=True)
class Item:
    index: int
    data: Any
    instance: Any = None  # the object to write, once the item is valid
    before: dict[str, Any] | None = None  # an update's stored values, for the audit entry
    advertiser: Advertiser | None = None  # whose object it is (its role and rate limit were checked)
    error: dict[str, Any] | None = None

    @property
    def is_update(self) -> bool:
        return isinstance(self.data, dict) and self.data.get("id") is not None

    def result(self, *, written: bool) -> dict[str, Any]:
        if self.error is not None:
            return {"index": self.index, "error": self.error}
        if not written:
            return {"index": self.index, "status": "skipped"}
        outcome = "updated" if self.is_update else "created"
        return {"index": self.index, "id": self.instance.pk, "status": outcome}


class _RollBack(Exception):
    """Leaves the transaction of an all-or-nothing request that cannot be written whole."""


class BulkWrite:
    """One bulk request on one resource's viewset (its queryset, serializer and parent)."""

    def __init__(self, view: CampaignsViewSet, request: Request) -> None:
        self.view = view
        self.request = request
        self.serializer_class = view.get_serializer_class()
        self.parent_field: str = self.serializer_class.parent_field
        self.model: type[models.Model] = self.serializer_class.Meta.model
        self.context: dict[str, Any] = {**view.get_serializer_context(), "known": {}}
        # One serializer for the creates and one for the updates, reused item after item: building a
        # ModelSerializer's fields costs more than validating an item.
        self.creating = self.serializer_class(context=self.context)
        self.updating = self.serializer_class(partial=True, context=self.context)
        # Parents were found among the caller's objects: full_clean() need not query each again.
        self.parent_fields = [
            name for name, field in self.creating.fields.items() if isinstance(field, OwnedRelatedField)
        ]
        self.objects: dict[int, Any] = {}
        self.refused: dict[int, str | None] = {}  # advertiser id -> why the caller may not edit it
        self.updated_by: dict[int, int] = {}

    def __call__(self) -> Response:
        envelope = BulkRequestSerializer(data=self.request.data)
        envelope.is_valid(raise_exception=True)
        items = [Item(index, data) for index, data in enumerate(envelope.validated_data["items"])]
        all_or_nothing = envelope.validated_data["all_or_nothing"]
        written = False
        try:
            with transaction.atomic():
                self.load(items)
                for item in items:
                    self.validate(item)
                self.check_unique([item for item in items if item.error is None])
                if all_or_nothing and any(item.error for item in items):
                    raise _RollBack
                self.write(items, savepoints=not all_or_nothing)
                if all_or_nothing and any(item.error for item in items):
                    raise _RollBack
                written = True
        except _RollBack:
            pass
        results = [item.result(written=written) for item in items]
        if written:
            return Response({"results": results}, status=status.HTTP_200_OK)
        failed = [item for item in items if item.error is not None]
        message = f"{len(failed)} of {len(items)} items are not valid; nothing was written."
        body = error_body("invalid", message, self.fields_of(failed))
        return Response({**body, "results": results}, status=status.HTTP_400_BAD_REQUEST)

    # Loading what the items name, in one query per kind --------------------------------------------

    def load(self, items: list[Item]) -> None:
        dicts = [item.data for item in items if isinstance(item.data, dict)]
        ids = {parse_id(data.get("id")) for data in dicts if data.get("id") is not None} - {None}
        if ids:
            locked = self.view.bulk_update_queryset().select_for_update(of=("self",)).filter(pk__in=ids)
            self.objects = {obj.pk: obj for obj in locked.order_by("pk")}
        for name in self.parent_fields:
            field = self.creating.fields[name]
            wanted = {parse_id(data.get(name)) for data in dicts if data.get(name) is not None} - {None}
            found = field.get_queryset().filter(pk__in=wanted) if wanted else []
            self.context["known"][name] = {obj.pk: obj for obj in found}

    # Checking each item ------------------------------------------------------------------------------

    def validate(self, item: Item) -> None:
        try:
            if not isinstance(item.data, dict):
                raise exceptions.ValidationError(["An item is a JSON object."])
            serializer = self.update_serializer(item) if item.is_update else self.create_serializer(item)
            validated = serializer.run_validation(item.data)
            instance = serializer.instance
            if instance is None:
                instance = self.model(**validated)
            else:  # as AuditedSerializer.update does, without saving yet
                for name, value in validated.items():
                    setattr(instance, name, value)
            # Uniqueness is checked for the whole batch (check_unique); the check constraints repeat
            # rules that clean() states, and the database enforces them at the write.
            instance.full_clean(exclude=self.parent_fields, validate_constraints=False)
            item.instance = instance
        except exceptions.Throttled:
            raise  # the advertiser's limit: the whole request answers 429, nothing written
        except (exceptions.APIException, DjangoValidationError, DjangoPermissionDenied, Http404) as exc:
            item.error = self.error_of(exc)

    def create_serializer(self, item: Item) -> Any:
        # The role is checked before the fields, as for an update: an analyst learns only that.
        parents = self.context["known"].get(self.parent_field, {})
        parent = parents.get(parse_id(item.data.get(self.parent_field)))
        if parent is not None:
            item.advertiser = advertiser_of(parent)
            self.require_edit(item.advertiser)
        return self.creating

    def update_serializer(self, item: Item) -> Any:
        pk = parse_id(item.data["id"])
        if pk is None:
            raise exceptions.ValidationError({"id": ["An object id is a positive integer."]})
        obj = self.objects.get(pk)
        if obj is None:
            raise exceptions.NotFound(NOT_FOUND)
        if pk in self.updated_by:
            raise exceptions.ValidationError(
                {"id": [f"Item {self.updated_by[pk]} already updates this object; send one item per object."]}
            )
        self.updated_by[pk] = item.index
        item.advertiser = advertiser_of(obj)
        self.require_edit(item.advertiser)
        item.before = audit.snapshot(obj)
        self.updating.instance = obj
        return self.updating

    def require_edit(self, advertiser: Advertiser) -> None:
        """As a single write: the advertiser's rate limit, then the caller's role (asked once)."""
        limit_advertiser(advertiser.pk)
        if advertiser.pk not in self.refused:
            try:
                require_edit(self.request.user, advertiser)
                self.refused[advertiser.pk] = None
            except DjangoPermissionDenied as exc:
                self.refused[advertiser.pk] = str(exc)
        why = self.refused[advertiser.pk]
        if why is not None:
            raise DjangoPermissionDenied(why)

    def check_unique(self, items: list[Item]) -> None:
        """The model's unique constraints, for all items at once: among the items, and against the
        stored rows (one query per constraint), with the message full_clean() would give."""
        updated = {item.instance.pk for item in items if item.is_update}
        for constraint in self.model._meta.constraints:
            if not isinstance(constraint, models.UniqueConstraint) or not constraint.fields:
                continue
            attnames = [self.model._meta.get_field(name).attname for name in constraint.fields]  # type: ignore[union-attr]
            keyed: list[tuple[tuple[Any, ...], Item]] = []
            for item in items:
                if item.error is not None:  # refused by a constraint already checked
                    continue
                if constraint.condition is not None and not holds(constraint.condition, item.instance):
                    continue
                key = tuple(getattr(item.instance, name) for name in attnames)
                if None not in key:
                    keyed.append((key, item))
            if not keyed:
                continue
            stored = self.model._default_manager.filter(
                **{f"{name}__in": {key[i] for key, _ in keyed} for i, name in enumerate(attnames)}
            ).exclude(pk__in=updated)
            if constraint.condition is not None:
                stored = stored.filter(constraint.condition)
            taken = set(stored.values_list(*attnames))
            for key, item in keyed:
                if key in taken:
                    item.error = self.error_of(unique_violation(constraint, item.instance))
                    item.instance = None
                taken.add(key)

    # Writing ---------------------------------------------------------------------------------------

    def write(self, items: list[Item], *, savepoints: bool) -> None:
        actor = self.view.actor
        entries = []
        for item in items:
            if item.error is not None:
                continue
            try:
                with transaction.atomic(savepoint=savepoints):
                    item.instance.save()
            except DatabaseError as exc:  # a constraint the batch checks could not see (a race)
                item.error = self.error_of(self.database_error(exc, item.instance))
                if not savepoints:
                    return  # the transaction is broken: the caller rolls it back
                continue
            log_entry = audit.entry(
                actor=actor,
                action="update" if item.is_update else "create",
                obj=item.instance,
                before=item.before,
                after=audit.snapshot(item.instance),
                advertiser=item.advertiser,
            )
            if log_entry is not None:
                entries.append(log_entry)
        AuditLog.objects.bulk_create(entries)

    def database_error(self, exc: DatabaseError, obj: models.Model) -> DjangoValidationError:
        """The violated constraint's message, as full_clean() would have given it."""
        name = getattr(getattr(exc.__cause__, "diag", None), "constraint_name", None)
        for constraint in self.model._meta.constraints:
            if constraint.name == name and isinstance(constraint, models.UniqueConstraint):
                return unique_violation(constraint, obj)
            if constraint.name == name:
                return DjangoValidationError({NON_FIELD_ERRORS: [constraint.get_violation_error_message()]})
        message = "The item conflicts with the stored data; retry it."
        return DjangoValidationError({NON_FIELD_ERRORS: [message]})

    # Errors in the API's shape -------------------------------------------------------------------------

    def error_of(self, exc: Exception) -> dict[str, Any]:
        """The item's error exactly as the API would answer it for a single request."""
        response = exception_handler(exc, {"view": self.view, "request": self.request})
        assert response is not None  # noqa: S101 - the handler answers every exception it is given
        return dict(response.data["error"])

    @staticmethod
    def fields_of(failed: list[Item]) -> dict[str, list[str]]:
        fields: dict[str, list[str]] = {}
        for item in failed:
            assert item.error is not None  # noqa: S101
            if not item.error["fields"]:
                fields[f"items[{item.index}]"] = [item.error["message"]]
            prefix = f"items[{item.index}]"
            for path, messages in item.error["fields"].items():
                where = prefix if path == "non_field_errors" else f"{prefix}.{path}"
                fields.setdefault(where, []).extend(messages)
        return fields


def unique_violation(constraint: models.UniqueConstraint, obj: models.Model) -> DjangoValidationError:
    """The error UniqueConstraint.validate() raises (a non-field error, as full_clean() reports it)."""
    default = constraint.default_violation_error_message % {"name": constraint.name}
    message = constraint.get_violation_error_message()
    if constraint.condition is None and message == default:
        error = obj.unique_error_message(type(obj), constraint.fields)
    else:
        error = DjangoValidationError(message, code=constraint.violation_error_code)
    return DjangoValidationError({NON_FIELD_ERRORS: [error]})


def holds(condition: Q, obj: models.Model) -> bool:
    """A constraint's condition, evaluated on an unsaved object, for the simple conditions models here
    use (equality and isnull lookups joined by AND / OR / NOT; another lookup reads as true). The
    database enforces the constraint at the write in any case: this only gives the error its message
    before anything is written."""
    results = []
    children: list[Any] = list(condition.children)
    for child in children:
        if isinstance(child, Q):
            results.append(holds(child, obj))
            continue
        lookup, value = child
        name, _, kind = lookup.partition("__")
        field: Any = obj._meta.get_field(name)
        current = getattr(obj, field.attname, None)
        if kind in ("", "exact"):
            results.append(current == value)
        elif kind == "isnull":
            results.append((current is None) == bool(value))
        else:
            results.append(True)
    outcome = all(results) if condition.connector == Q.AND else any(results)
    return not outcome if condition.negated else outcome


# ---------------------------------------------------------------------------------------------------
# The OpenAPI document's description of bulk requests and answers.


class BulkItemError(serializers.Serializer):
    """Why an item was not written, in the API's error shape."""

    code = serializers.CharField(help_text="invalid, not_found, permission_denied...")
    message = serializers.CharField()
    fields = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        help_text="Per field path in the item (`targeting.countries[2]`): its messages.",
    )


class BulkResult(serializers.Serializer):
    """One item's outcome: its id and status, or its error."""

    index = serializers.IntegerField(help_text="The item's position in `items`, from 0.")
    id = serializers.IntegerField(required=False, help_text="The object created or updated.")
    status = serializers.ChoiceField(
        choices=["created", "updated", "skipped"],
        required=False,
        help_text="skipped: valid, but not written because another item failed (all_or_nothing).",
    )
    error = BulkItemError(required=False, help_text="Why this item was not written.")


class BulkResponse(serializers.Serializer):
    """One result per item, in the order of `items`."""

    results = BulkResult(many=True)


class BulkFailure(serializers.Serializer):
    """Nothing was written: the body is not a valid bulk request, or (all_or_nothing) an item failed."""

    error = BulkItemError(help_text="`fields` names each failed item's fields as `items[3].name`.")
    results = BulkResult(
        many=True, required=False, help_text="With all_or_nothing: the result of each item, in order."
    )


def bulk_item_serializer(base: type[serializers.ModelSerializer]) -> type[serializers.ModelSerializer]:
    """For the document: an item is the resource's create body, or `id` and the fields to change."""

    def get_fields(self: Any) -> dict[str, serializers.Field]:
        fields = base.get_fields(self)
        for field in fields.values():
            field.required = False
        if "image" in fields:
            fields["image"] = serializers.CharField(
                required=False, help_text="In bulk, an image is a data URI: data:image/png;base64,…"
            )
        return fields

    name = base.__name__.removesuffix("Serializer")
    item = type(
        f"{name}BulkItemSerializer",
        (base,),
        {
            "__module__": __name__,
            "__doc__": f"Without `id`: a new {name.lower()} (the fields of a create). With `id`: an update "
            "of that object, with only the fields to change.",
            "id": serializers.IntegerField(required=False, help_text="Update this object; omit to create."),
            "get_fields": get_fields,
        },
    )
    return type(
        f"{name}BulkRequestSerializer",
        (BulkRequestSerializer,),
        {"__module__": __name__, "items": item(many=True, help_text=f"Up to {MAX_ITEMS} items.")},
    )
