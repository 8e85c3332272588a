"""The auction for one slot: who wins which position, and what each winner pays.

A pure function of its inputs. It does not touch the database, Redis or Django settings, so the
decision API, the OpenRTB bidder and the Celery delivery loop all use it as it is.

Inputs, per candidate: an eCPM bid and a tie key, both integers. The eCPM is in micros of USD per
thousand impressions (``*_cpm_micros``, like everything on the auction side). The slot also gives a
reserve (the higher of the placement floor and the request's bid floor; 0 means no reserve), how many
different ads it takes (``count``), and the pricing rule.

Ranking. Only candidates bidding at least the reserve take part. They are ranked by eCPM, highest
first. Equal eCPMs go to the smaller tie key, then the smaller index. The caller passes a hash of
(request id, ad group id) as the tie key, so ties rotate fairly from one request to the next, while
the same input always gives the same answer. The top ``count`` participants win positions 0, 1, ...

Second price, i.e. generalised second price (GSP) with a reserve. The winner at position i pays the
higher of the reserve and the eCPM of the participant ranked just below it (position i + 1, who may
be another winner or the best loser). A winner with no one below it, a lone bidder for example, pays
the reserve. Participants ranked below bid no more than the winner, and the reserve is no more than
the winner's bid because it takes part. So the price is never above the winner's bid and never below
the reserve. The price does not depend on the winner's own bid, which makes bidding your true value
the sensible choice in the single-position case.

First price (OpenRTB ``at=1``): each winner pays its own eCPM.

Rounding. Every price here is an integer number of micros CPM, and the auction never has to round
one. Turning a CPM price into the price of one impression divides by 1000. That division is floor
division (`impression_price_micros`), so that what one impression is billed can never be above the
bid or the cleared price. At most one micro (a millionth of a dollar) per impression is left
uncharged. The conversion is kept apart from the auction on purpose.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal
from enum import StrEnum

import numpy as np
import numpy.typing as npt

__all__ = ["AuctionResult", "Pricing", "Sale", "impression_price_micros", "run_auction"]

# With this many participants or more, and few positions to fill, partition before sorting.
_PARTITION_FROM = 256


class Pricing(StrEnum):
    SECOND_PRICE = "second_price"  # generalised second price with a reserve
    FIRST_PRICE = "first_price"  # each winner pays its own bid (OpenRTB at=1)


@dataclass(frozen=True, slots=True)
class Sale:
    """One position sold: which candidate won it, what it bid, and what it pays (micros CPM)."""

    index: int  # the candidate's index in the arrays passed to `run_auction`
    bid_cpm_micros: int  # the winner's eCPM
    price_cpm_micros: int  # reserve <= price <= bid
    # The eCPM of the participant ranked just below this winner (the one that sets its second price),
    # or None when no one is below it. For the last position, this is the best loser's eCPM.
    runner_up_cpm_micros: int | None


@dataclass(frozen=True, slots=True)
class AuctionResult:
    sales: tuple[Sale, ...]  # in position order; empty when no one bid at least the reserve
    participants: int  # how many candidates bid at least the reserve
    best_loser_cpm_micros: int | None  # the highest eCPM among participants that won nothing

    @property
    def winner(self) -> Sale | None:
        """The sale at position 0, or None when nothing was sold."""
        return self.sales[0] if self.sales else None


_IntArrayLike = npt.NDArray[np.integer] | Sequence[int]


def _int64_vector(values: _IntArrayLike, name: str, *, wrap: bool) -> npt.NDArray[np.int64]:
    """`values` as an int64 vector. With `wrap`, unsigned values past int64 wrap around (tie keys
    that are hashes: still one fixed order for the same input); without it they are refused."""
    array = np.asarray(values)
    if array.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {array.shape}")
    if array.size == 0:
        return np.empty(0, dtype=np.int64)
    if array.dtype.kind not in "iu":
        raise ValueError(f"{name} must hold integers that fit in 64 bits, got dtype {array.dtype}")
    if not wrap and array.dtype == np.uint64 and bool((array > np.iinfo(np.int64).max).any()):
        raise ValueError(f"{name} holds values too large for int64")
    return array.astype(np.int64, copy=False)


def run_auction(
    ecpm_cpm_micros: _IntArrayLike,
    tie_keys: _IntArrayLike,
    *,
    reserve_cpm_micros: int = 0,
    count: int = 1,
    pricing: Pricing | str = Pricing.SECOND_PRICE,
) -> AuctionResult:
    """Rank the candidates for one slot and price the top `count` of them (see the module docstring).

    `ecpm_cpm_micros` and `tie_keys` are parallel integer sequences, one entry per candidate (numpy
    int64 arrays on the serving path). Raises ValueError for a negative reserve, `count` < 1,
    arrays of different lengths, non-integer values or an unknown pricing rule.
    """
    ecpm = _int64_vector(ecpm_cpm_micros, "ecpm_cpm_micros", wrap=False)
    ties = _int64_vector(tie_keys, "tie_keys", wrap=True)
    if ecpm.shape != ties.shape:
        raise ValueError(f"ecpm_cpm_micros has {ecpm.size} candidates but tie_keys has {ties.size}")
    reserve = int(reserve_cpm_micros)
    if reserve != reserve_cpm_micros or reserve < 0:
        raise ValueError(f"reserve_cpm_micros must be an integer >= 0, got {reserve_cpm_micros!r}")
    if isinstance(count, bool) or int(count) != count or count < 1:
        raise ValueError(f"count must be an integer >= 1, got {count!r}")
    try:
        rule = pricing if isinstance(pricing, Pricing) else Pricing(pricing)
    except ValueError:
        choices = ", ".join(p.value for p in Pricing)
        raise ValueError(f"unknown pricing rule {pricing!r}; use one of: {choices}") from None

    (indices,) = (ecpm >= reserve).nonzero()
    participants = int(indices.size)
    if participants == 0:
        return AuctionResult(sales=(), participants=0, best_loser_cpm_micros=None)

    # The first count + 1 in rank order: the winners, and the one below the last winner.
    needed = min(int(count) + 1, participants)
    if participants >= _PARTITION_FROM and needed * 4 <= participants:
        # Keep every participant bidding at least the needed-th highest eCPM (ties included, so the
        # tie keys still decide among them), then sort only those.
        threshold = np.partition(ecpm[indices], participants - needed)[participants - needed]
        indices = indices[ecpm[indices] >= threshold]
    bids = ecpm[indices]
    # lexsort is stable and `indices` ascend, so equal (eCPM, tie key) pairs keep index order.
    # Participants bid >= reserve >= 0, so negating their eCPM cannot overflow.
    order = np.lexsort((ties[indices], -bids))[:needed]
    ranked_index = indices[order].tolist()
    ranked_bid = bids[order].tolist()

    winners = min(int(count), participants)
    sales = []
    for position in range(winners):
        bid = ranked_bid[position]
        below = ranked_bid[position + 1] if position + 1 < len(ranked_bid) else None
        if rule is Pricing.FIRST_PRICE:
            price = bid
        elif below is None:
            price = reserve  # no one below: the reserve alone sets the price
        else:
            price = max(reserve, below)
        # By construction reserve <= price <= bid; the min states the invariant and keeps it.
        sales.append(Sale(ranked_index[position], bid, min(price, bid), below))
    best_loser = ranked_bid[winners] if winners < len(ranked_bid) else None
    return AuctionResult(sales=tuple(sales), participants=participants, best_loser_cpm_micros=best_loser)


def impression_price_micros(price_cpm_micros: int) -> int:
    """The price of one impression, in micros, for a price per thousand impressions in micros.

    Floor division: one impression is never billed more than the cleared CPM price allows (so never
    above the bid); what is lost is under one micro per impression.
    """
    if price_cpm_micros < 0:
        raise ValueError(f"price_cpm_micros must be >= 0, got {price_cpm_micros!r}")
    return int(price_cpm_micros) // 1000


def click_price_micros(impression_price_micros: int, pctr: float) -> int:
    """What a click costs an ad group billed per click: the impression's cleared price over the
    predicted click rate (the generalised second price per click), in whole micros rounded down.

    The auction ranked the ad at CPC bid x pCTR, so the price over pCTR is never above the CPC bid.
    In Decimal, with pCTR's shortest decimal (0.01, not the binary float just above it), so that an
    integer amount is divided exactly before rounding down."""
    if pctr <= 0 or impression_price_micros <= 0:
        return 0
    rate = Decimal(repr(float(pctr)))
    return int((Decimal(impression_price_micros) / rate).to_integral_value(rounding=ROUND_FLOOR))
