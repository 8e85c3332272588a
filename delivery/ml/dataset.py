"""Training rows from the logged events, labelled once their labels are final.

- pCTR: every valid impression (a decision whose impression was counted, not a test), labelled by
  whether a valid click followed. An impression becomes a row once `ML_CLICK_LABEL_HOURS` have passed
  since it: most clicks come within seconds, and a later one would count as a negative.
- pCVR: every valid click of an advertiser that tracks conversions (has a conversion event; the
  clicks of one that does not are unlabelled, not negatives), labelled by whether a counted
  conversion was attributed to it within `ML_CONVERSION_LABEL_HOURS` (24) of the click.
  Conversions come minutes to days after the click, so a click becomes a row only once that window
  has closed; a conversion after it counts as a negative (the fixed-window labelling of delayed
  feedback, Chapelle, KDD 2014). Attribution only credits clicks within their event's click window,
  a day or more.

The rows are read with a server-side cursor, a chunk at a time, straight into arrays (`Inputs` of
delivery.ml.features, whose definition serving shares), ordered by time. The simulator's ground truth
(delivery_truth) comes along where it exists: the true probability of each row's label.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from django.conf import settings
from django.db import connection, transaction

from campaigns.models import Conversion, Creative
from delivery import taxonomy
from delivery.index import FORMAT_CODE, size_code
from delivery.ml import features

CHUNK_ROWS = 50_000

_COLUMNS = """
    extract(epoch from d.at)::float8, d.country, d.region, d.language, coalesce(d.age, -1), d.gender,
    d.device_type, d.os, d.interests, d.keywords, coalesce(d.placement_id, -1),
    coalesce(d.publisher_id, -1), d.advertiser_id, d.campaign_id, d.ad_group_id, d.creative_id,
    d.exposures, d.event_id
"""

_CTR_SQL = f"""
SELECT {_COLUMNS},
       EXISTS (SELECT 1 FROM delivery_click c WHERE c.event_id = d.event_id
               AND c.decided_at = d.decided_at AND c.ivt_reason = '') AS label,
       t.p_click
FROM delivery_decision d
JOIN delivery_impression i ON i.event_id = d.event_id AND i.decided_at = d.decided_at
LEFT JOIN delivery_truth t ON t.event_id = d.event_id AND t.decided_at = d.decided_at
WHERE d.decided_at >= %(start)s AND d.decided_at < %(end)s AND NOT d.test AND i.ivt_reason = ''
  AND i.at < %(closed)s
ORDER BY d.at
"""  # noqa: S608 - no user input: the column list is a constant

_CVR_SQL = f"""
SELECT {_COLUMNS}, extract(epoch from c.at)::float8, t.p_conversion
FROM delivery_click c
JOIN delivery_decision d ON d.event_id = c.event_id AND d.decided_at = c.decided_at
JOIN delivery_impression i ON i.event_id = d.event_id AND i.decided_at = d.decided_at
LEFT JOIN delivery_truth t ON t.event_id = d.event_id AND t.decided_at = d.decided_at
WHERE d.decided_at >= %(start)s AND d.decided_at < %(end)s AND NOT d.test
  AND c.ivt_reason = '' AND i.ivt_reason = '' AND c.at < %(closed)s
  AND EXISTS (SELECT 1 FROM campaigns_conversionevent e WHERE e.advertiser_id = d.advertiser_id)
ORDER BY d.at
"""  # noqa: S608


@dataclass(slots=True)
class Rows:
    """Training rows of one kind, in time order."""

    kind: str
    at: np.ndarray  # epoch seconds of the request
    inputs: features.Inputs
    label: np.ndarray  # bool
    truth: np.ndarray  # the simulator's true probability of the label; NaN where there is none

    def __len__(self) -> int:
        return len(self.label)

    def take(self, rows: np.ndarray | slice) -> Rows:
        return Rows(
            self.kind,
            self.at[rows],
            features.Inputs(**{name: getattr(self.inputs, name)[rows] for name in features.Inputs.__slots__}),
            self.label[rows],
            self.truth[rows],
        )


def click_label_window() -> timedelta:
    return timedelta(hours=getattr(settings, "ML_CLICK_LABEL_HOURS", 1))


def conversion_label_window() -> timedelta:
    return timedelta(hours=getattr(settings, "ML_CONVERSION_LABEL_HOURS", 24))


def read(kind: str, *, start: datetime, end: datetime, now: datetime) -> Rows:
    """The rows of `kind` ("ctr" or "cvr") of the decisions made in [start, end) whose label is
    final at `now`."""
    if kind == "ctr":
        closed = now - click_label_window()
        sql = _CTR_SQL
    else:
        closed = now - conversion_label_window()
        sql = _CVR_SQL
    interned: dict[str, str] = {}
    parts = [
        _arrays(chunk, interned) for chunk in _chunks(sql, {"start": start, "end": end, "closed": closed})
    ]
    columns = [
        np.concatenate([part[i] for part in parts]) if parts else np.zeros(0, dtype=_EMPTY[i])
        for i in range(len(_EMPTY))
    ]
    if kind == "cvr":
        label = _conversion_labels(columns[17].tolist(), columns[18], start)
    else:
        label = columns[18].astype(bool)
    at = columns[0]
    return Rows(kind, at, inputs_from_columns(at, columns), label, columns[19])


# The types of the query's columns once read (text interned, lists as segment masks, ids as int64)
_TEXT, _MASK = {1, 2, 3, 5, 6, 7}, {8: features.joined_segment_mask, 9: features.joined_topic_mask}
_EMPTY = [
    np.float64, object, object, object, np.float64, object, object, object, np.int64, np.int64,
    np.int64, np.int64, np.int64, np.int64, np.int64, np.int64, np.int64, object, np.float64, np.float64,
]  # fmt: skip


def _arrays(chunk: list[tuple[Any, ...]], interned: dict[str, str]) -> list[np.ndarray]:
    """A chunk of rows as one array per column: the chunk's Python objects are let go at once."""
    out = []
    for i, column in enumerate(zip(*chunk, strict=True)):
        if i in _TEXT:
            out.append(np.array([interned.setdefault(v, v) for v in column], dtype=object))
        elif i in _MASK:
            out.append(np.fromiter(map(_MASK[i], column), dtype=np.int64, count=len(column)))
        elif i == 17:
            out.append(np.array([str(v) for v in column], dtype=object))
        elif i in (18, 19):
            out.append(np.array([np.nan if v is None else float(v) for v in column], dtype=np.float64))
        else:
            out.append(np.array(column, dtype=_EMPTY[i]))
    return out


def _chunks(sql: str, params: dict[str, Any]) -> Iterator[list[tuple[Any, ...]]]:
    """The query's rows, a chunk at a time, from a server-side cursor (inside a transaction)."""
    with transaction.atomic():
        connection.ensure_connection()
        raw = connection.connection
        assert raw is not None  # noqa: S101 - ensured just above
        with raw.cursor(name="ml_training_rows") as cursor:
            cursor.itersize = CHUNK_ROWS
            cursor.execute(sql, params)
            while chunk := cursor.fetchmany(CHUNK_ROWS):
                yield chunk


def _conversion_labels(event_ids: list[str], click_at: np.ndarray, start: datetime) -> np.ndarray:
    window = conversion_label_window().total_seconds()
    first: dict[str, float] = {}
    for event_id, occurred_at in (
        Conversion.objects.counted()
        .filter(attribution=Conversion.Attribution.CLICK, occurred_at__gte=start)
        .values_list("attributed_event_id", "occurred_at")
    ):
        key, seconds = str(event_id), occurred_at.timestamp()
        if key not in first or seconds < first[key]:
            first[key] = seconds
    delay = np.array([first.get(str(e), np.inf) for e in event_ids], dtype=np.float64) - click_at
    return (delay >= -1.0) & (delay <= window)


def inputs_from_columns(at: np.ndarray, columns: list[np.ndarray]) -> features.Inputs:
    """Inputs of logged decisions: the columns of _COLUMNS, in order, as `_arrays` made them, with the
    creatives' own facts (format, size, what they are about) as the index reads them."""
    (_, country, region, language, age, gender, device, os_name, interests, topics, placement,
     publisher, advertiser, campaign, ad_group, creative, exposures) = columns[:17]  # fmt: skip
    fmt, size, segments = creative_facts(creative)
    pairs: dict[tuple[str, str], int] = {}
    zones = np.fromiter(
        (pairs.setdefault((c, r), features.zone_index(c, r)) for c, r in zip(country, region, strict=True)),
        dtype=np.int64,
        count=len(country),
    )
    hour, weekday = features.local_time(zones, at.astype(np.int64))
    ages = age.astype(np.float64)
    ages[ages < 0] = np.nan
    return features.Inputs(
        country=country,
        language=language,
        age=ages,
        gender=gender,
        device_type=device,
        os=os_name,
        interests=interests,
        topics=topics,
        placement=placement,
        publisher=publisher,
        local_hour=hour,
        weekday=weekday,
        format=fmt,
        size=size,
        segments=segments,
        advertiser=advertiser,
        campaign=campaign,
        ad_group=ad_group,
        creative=creative,
        exposures=exposures,
        day=(at // 86_400).astype(np.int64),
    )


def creative_facts(creative_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Format code, size code and segment mask of each creative (as the index snapshot has them);
    a creative deleted since is format and size unknown (-1, 0), about nothing."""
    unique, inverse = np.unique(creative_ids, return_inverse=True)
    fmt = np.full(len(unique), -1, dtype=np.int64)
    size = np.zeros(len(unique), dtype=np.int64)
    segments = np.zeros(len(unique), dtype=np.int64)
    position = {int(c): i for i, c in enumerate(unique.tolist())}
    for c in Creative.objects.filter(pk__in=unique.tolist()).values(
        "id", "format", "width", "height", "category"
    ):
        i = position[c["id"]]
        fmt[i] = FORMAT_CODE.get(c["format"], -1)
        size[i] = size_code(c["width"], c["height"]) if c["format"] == Creative.Format.BANNER else 0
        segments[i] = features.creative_mask(taxonomy.iab_categories(c["category"]))
    inverse = inverse.reshape(-1)
    return fmt[inverse], size[inverse], segments[inverse]
