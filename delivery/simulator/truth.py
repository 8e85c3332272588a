"""The simulator's ground truth: the probability that a shown ad is clicked, and that a click converts.

The platform never reads this when it serves. The simulator draws clicks and conversions from it,
and keeps the probabilities beside the events (`truth` events, table delivery_truth), so that a
model's predictions can be judged against the best possible ones. Everything the truth depends on is
something the platform sees (the person's context, the placement, the format, the creative and
campaign ids, the hour, how often the person saw the campaign), except the noise: a model can learn
all of it but the noise, and the AUC of the true probabilities is the ceiling for its AUC.

Click, for one impression (a logistic model; coefficients in log-odds):

    logit p_click = logit(BASE_CTR[format])          banner 0.18%, native 0.7%, video 1.4%
                  + 1.0  if the person follows the creative's category (interest match)
                  + 0.4  if the page is about the creative's category (topic match)
                  + placement effect                 N(0, 0.25) per placement id, stable per seed
                  + DEVICE_CTR[device]               desktop 0, mobile +0.15, tablet +0.1, ctv -1.2
                  + HOUR_CTR[local hour]             -0.15 from midnight to 6 am, +0.1 from 7 to 11 pm
                  + ln(0.85) x earlier exposures     fatigue: each earlier impression of the same
                                                     campaign to the person today multiplies the odds
                                                     by 0.85
                  + creative quality                 N(0, 0.35) per creative id, stable per seed
                  + noise                            N(0, 0.25) per impression

Conversion, given a click:

    logit p_conversion = logit(0.03)
                       + 0.7  if interest match, + 0.3 if topic match
                       + campaign effect             N(0, 0.4) per campaign id (some convert better)
                       + creative effect             N(0, 0.2) per creative id
                       + DEVICE_CVR[device]          desktop +0.2, mobile -0.1, tablet 0, ctv -0.6
                       + AGE_CVR[age band]           13-17 -1.0, 18-24 -0.2, 25-54 +0.1, 55+ 0
                       + noise                       N(0, 0.2)

The stable effects are drawn from a generator seeded with (world seed, what, id), so a creative
keeps its quality from one run, process or worker to the next. Invalid traffic has its own truth:
crawlers follow `BOT_CTR` of the links they load, click spammers click `SPAM_CTR` of what they see,
and neither ever converts.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from functools import lru_cache

import numpy as np
from numpy.random import PCG64, Generator

from campaigns.audience import AGE_BANDS, DEVICES
from campaigns.targeting import INTEREST_SEGMENTS
from delivery import taxonomy
from delivery.request import CreativeInfo

FORMATS = ("banner", "native", "video")  # campaigns.models.Creative.Format values
BASE_CTR = np.array([0.0018, 0.007, 0.014])  # by FORMATS
INTEREST_CTR = 1.0
TOPIC_CTR = 0.4
PLACEMENT_CTR_SD = 0.25
DEVICE_CTR = {"desktop": 0.0, "mobile": 0.15, "tablet": 0.1, "ctv": -1.2}
NIGHT_CTR, EVENING_CTR = -0.15, 0.1
FATIGUE = 0.85  # odds multiplier per earlier exposure
CREATIVE_CTR_SD = 0.35
CLICK_NOISE_SD = 0.25

BASE_CVR = 0.03
INTEREST_CVR = 0.7
TOPIC_CVR = 0.3
CAMPAIGN_CVR_SD = 0.4
CREATIVE_CVR_SD = 0.2
DEVICE_CVR = {"desktop": 0.2, "mobile": -0.1, "tablet": 0.0, "ctv": -0.6}
AGE_CVR = {"13-17": -1.0, "18-24": -0.2, "25-34": 0.1, "35-44": 0.1, "45-54": 0.1, "55-64": 0.0, "65+": 0.0}
CONVERSION_NOISE_SD = 0.2

BOT_CTR = 0.005
SPAM_CTR = 0.4

_DEVICE_CTR = np.array([DEVICE_CTR[name] for name, _ in DEVICES])
_DEVICE_CVR = np.array([DEVICE_CVR[name] for name, _ in DEVICES])
_AGE_CVR = np.array([AGE_CVR[band[0]] for band in AGE_BANDS])
_HOUR_CTR = np.array([NIGHT_CTR if h < 6 else EVENING_CTR if h >= 19 else 0.0 for h in range(24)])

# Streams of the stable effects (what is drawn, for which id)
_PLACEMENT, _CREATIVE_CTR, _CREATIVE_CVR, _CAMPAIGN_CVR = 1, 2, 3, 4


def logit(p: np.ndarray | float) -> np.ndarray:
    p = np.asarray(p, dtype=np.float64)
    return np.log(p) - np.log1p(-p)


# Scores are clipped here: a probability is never exactly 0 or 1 (a model's log loss never meets log 0).
_MAX_SCORE = 30.0


def sigmoid(x: np.ndarray) -> np.ndarray:
    clipped = np.clip(np.asarray(x, dtype=np.float64), -_MAX_SCORE, _MAX_SCORE)
    return 1.0 / (1.0 + np.exp(-clipped))


def p_click(
    *,
    format_code: np.ndarray,
    interest_match: np.ndarray,
    topic_match: np.ndarray,
    placement_effect: np.ndarray,
    device_code: np.ndarray,
    local_hour: np.ndarray,
    exposures: np.ndarray,
    creative_effect: np.ndarray,
    noise: np.ndarray,
) -> np.ndarray:
    """The probability that each impression is clicked (a person's; see the module's formula)."""
    hour = np.floor(np.asarray(local_hour)).astype(np.int64) % 24
    score = (
        logit(BASE_CTR)[format_code]
        + INTEREST_CTR * np.asarray(interest_match, dtype=np.float64)
        + TOPIC_CTR * np.asarray(topic_match, dtype=np.float64)
        + placement_effect
        + _DEVICE_CTR[device_code]
        + _HOUR_CTR[hour]
        + np.log(FATIGUE) * np.asarray(exposures, dtype=np.float64)
        + creative_effect
        + noise
    )
    return sigmoid(score)


def p_conversion(
    *,
    interest_match: np.ndarray,
    topic_match: np.ndarray,
    device_code: np.ndarray,
    age_band: np.ndarray,
    campaign_effect: np.ndarray,
    creative_effect: np.ndarray,
    noise: np.ndarray,
) -> np.ndarray:
    """The probability that a click converts (a person's; see the module's formula)."""
    score = (
        logit(BASE_CVR)
        + INTEREST_CVR * np.asarray(interest_match, dtype=np.float64)
        + TOPIC_CVR * np.asarray(topic_match, dtype=np.float64)
        + campaign_effect
        + creative_effect
        + _DEVICE_CVR[device_code]
        + _AGE_CVR[age_band]
        + noise
    )
    return sigmoid(score)


# Stable effects ------------------------------------------------------------------------------------


@lru_cache(maxsize=100_000)
def _stable_normal(seed: int, stream: int, key: int) -> float:
    return float(Generator(PCG64([seed, stream, key])).standard_normal())


def _effects(seed: int, stream: int, ids: Iterable[int], sd: float) -> np.ndarray:
    return np.array([_stable_normal(seed, stream, int(i)) for i in ids], dtype=np.float64) * sd


def placement_effects(seed: int, placement_ids: Iterable[int]) -> np.ndarray:
    return _effects(seed, _PLACEMENT, placement_ids, PLACEMENT_CTR_SD)


def creative_quality(seed: int, creative_ids: Iterable[int]) -> np.ndarray:
    """The latent quality of each creative, in log-odds of a click."""
    return _effects(seed, _CREATIVE_CTR, creative_ids, CREATIVE_CTR_SD)


def creative_conversion_effects(seed: int, creative_ids: Iterable[int]) -> np.ndarray:
    return _effects(seed, _CREATIVE_CVR, creative_ids, CREATIVE_CVR_SD)


def campaign_conversion_effects(seed: int, campaign_ids: Iterable[int]) -> np.ndarray:
    return _effects(seed, _CAMPAIGN_CVR, campaign_ids, CAMPAIGN_CVR_SD)


# What a creative is about --------------------------------------------------------------------------


def creative_category(info: CreativeInfo) -> str:
    """The interest segment a creative is about: from its IAB categories (Creative.category), else one
    that its advertiser stands for, derived from the advertiser's name (stable across processes)."""
    segments = taxonomy.segments_of(info.categories)
    if segments:
        return min(segments)
    digest = hashlib.sha256(f"{info.advertiser_id}:{info.advertiser_name}".encode()).digest()
    return INTEREST_SEGMENTS[int.from_bytes(digest[:4], "big") % len(INTEREST_SEGMENTS)]


def category_code(info: CreativeInfo) -> int:
    return INTEREST_SEGMENTS.index(creative_category(info))
