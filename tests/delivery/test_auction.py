"""The auction's invariants, as Hypothesis properties, and a few plain examples.

Pure functions only: no database, no Redis, no settings.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from delivery import auction as auction_module
from delivery.auction import AuctionResult, Pricing, Sale, impression_price_micros, run_auction

INT64_MAX = 2**63 - 1

# Bids cluster on a few round values often, so that equal eCPMs (and the tie-break) come up a lot.
ecpms = st.one_of(
    st.integers(0, 12).map(lambda x: x * 250_000),
    st.integers(0, 10**12),
)
tie_keys = st.one_of(st.integers(-3, 3), st.integers(-(2**63), INT64_MAX))
candidates = st.lists(st.tuples(ecpms, tie_keys), max_size=30)
reserves = st.one_of(st.just(0), st.integers(0, 12).map(lambda x: x * 250_000), st.integers(0, 10**12))
counts = st.integers(1, 5)
pricings = st.sampled_from(list(Pricing))


def run(cands, reserve=0, count=1, pricing=Pricing.SECOND_PRICE, as_arrays=True) -> AuctionResult:
    ecpm = [e for e, _ in cands]
    ties = [t for _, t in cands]
    if as_arrays:
        ecpm_arg = np.array(ecpm, dtype=np.int64)
        ties_arg = np.array(ties, dtype=np.int64)
        return run_auction(ecpm_arg, ties_arg, reserve_cpm_micros=reserve, count=count, pricing=pricing)
    return run_auction(ecpm, ties, reserve_cpm_micros=reserve, count=count, pricing=pricing)


def reference(cands, reserve, count, pricing) -> AuctionResult:
    """The rules written the slow, obvious way, to compare against."""
    ranked = sorted(
        (i for i, (e, _) in enumerate(cands) if e >= reserve),
        key=lambda i: (-cands[i][0], cands[i][1], i),
    )
    sales = []
    for position, i in enumerate(ranked[:count]):
        bid = cands[i][0]
        below = cands[ranked[position + 1]][0] if position + 1 < len(ranked) else None
        second_price = reserve if below is None else max(reserve, below)
        price = bid if pricing is Pricing.FIRST_PRICE else second_price
        sales.append(Sale(i, bid, price, below))
    best_loser = cands[ranked[count]][0] if count < len(ranked) else None
    return AuctionResult(tuple(sales), len(ranked), best_loser)


def winners(result: AuctionResult) -> list[int]:
    return [sale.index for sale in result.sales]


def position_of(result: AuctionResult, index: int) -> int | None:
    return next((p for p, sale in enumerate(result.sales) if sale.index == index), None)


# --- the rules, all at once -------------------------------------------------------------------------


@given(candidates, reserves, counts, pricings)
def test_matches_the_rules_written_out(cands, reserve, count, pricing):
    assert run(cands, reserve, count, pricing) == reference(cands, reserve, count, pricing)


@given(candidates, reserves, counts, pricings)
def test_plain_sequences_give_the_same_answer_as_arrays(cands, reserve, count, pricing):
    assert run(cands, reserve, count, pricing, as_arrays=False) == run(cands, reserve, count, pricing)


# Lists of 256+ candidates are slow to generate on a busy machine; the rules, not the speed, are tested.
@settings(max_examples=40, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 40).map(lambda x: x * 100_000), st.integers(-5, 5)), min_size=256),
    st.integers(0, 20).map(lambda x: x * 100_000),
    counts,
    pricings,
)
def test_many_candidates_take_the_partition_path_and_still_follow_the_rules(cands, reserve, count, pricing):
    # Few distinct values: many candidates tie at the partition threshold, and the tie keys must decide.
    participants = sum(e >= reserve for e, _ in cands)
    assume(participants >= auction_module._PARTITION_FROM)
    assert run(cands, reserve, count, pricing) == reference(cands, reserve, count, pricing)


# --- one position -----------------------------------------------------------------------------------


@given(candidates, reserves, pricings)
def test_the_winner_has_the_highest_ecpm_at_or_above_the_reserve(cands, reserve, pricing):
    result = run(cands, reserve, 1, pricing)
    eligible = [e for e, _ in cands if e >= reserve]
    if not eligible:
        assert result.sales == ()
        assert result.winner is None
        return
    assert result.winner is not None
    assert result.winner.bid_cpm_micros == max(eligible)
    assert result.winner.bid_cpm_micros == cands[result.winner.index][0]


@given(ecpms, tie_keys, reserves, counts, st.lists(st.tuples(ecpms, tie_keys), max_size=10))
def test_a_lone_bidder_pays_the_reserve(ecpm, tie, reserve, count, below_reserve):
    assume(ecpm >= reserve)
    assume(all(e < reserve for e, _ in below_reserve))  # the others do not take part
    result = run([*below_reserve, (ecpm, tie)], reserve, count)
    assert len(result.sales) == 1
    sale = result.sales[0]
    assert sale.index == len(below_reserve)
    assert sale.price_cpm_micros == reserve
    assert sale.runner_up_cpm_micros is None
    assert result.best_loser_cpm_micros is None
    assert result.participants == 1


@given(candidates, reserves, st.integers(0, 10**12))
def test_the_price_does_not_depend_on_the_winners_own_bid(cands, reserve, raise_by):
    before = run(cands, reserve)
    assume(before.winner is not None)
    index = before.winner.index
    raised = list(cands)
    raised[index] = (cands[index][0] + raise_by, cands[index][1])
    after = run(raised, reserve)
    assert after.winner is not None
    assert after.winner.index == index
    assert after.winner.price_cpm_micros == before.winner.price_cpm_micros


@given(candidates, reserves, counts, st.data())
def test_the_price_of_any_position_does_not_depend_on_its_own_bid(cands, reserve, count, data):
    before = run(cands, reserve, count)
    assume(before.sales)
    position = data.draw(st.integers(0, len(before.sales) - 1))
    sale = before.sales[position]
    # Raise the bid while keeping the position: strictly below the bid of the position above.
    ceiling = 10**13 if position == 0 else before.sales[position - 1].bid_cpm_micros - 1
    assume(ceiling >= sale.bid_cpm_micros)
    new_bid = data.draw(st.integers(sale.bid_cpm_micros, ceiling))
    raised = list(cands)
    raised[sale.index] = (new_bid, cands[sale.index][1])
    after = run(raised, reserve, count)
    assert after.sales[position].index == sale.index
    assert after.sales[position].price_cpm_micros == sale.price_cpm_micros


@given(candidates, reserves, counts, pricings, st.data())
def test_a_higher_bid_never_loses_a_win_or_a_position(cands, reserve, count, pricing, data):
    assume(cands)
    index = data.draw(st.integers(0, len(cands) - 1))
    raise_by = data.draw(st.integers(0, 10**12))
    raised = list(cands)
    raised[index] = (cands[index][0] + raise_by, cands[index][1])
    before = position_of(run(cands, reserve, count, pricing), index)
    after = position_of(run(raised, reserve, count, pricing), index)
    if before is not None:
        assert after is not None, "raising the bid turned a win into a loss"
        assert after <= before, "raising the bid moved the ad down"


@given(candidates, reserves, counts, pricings, st.integers(1, 10_000))
def test_scaling_every_bid_and_the_reserve_scales_the_prices(cands, reserve, count, pricing, k):
    result = run(cands, reserve, count, pricing)
    scaled = run([(e * k, t) for e, t in cands], reserve * k, count, pricing)
    assert winners(scaled) == winners(result)
    assert [s.price_cpm_micros for s in scaled.sales] == [s.price_cpm_micros * k for s in result.sales]


# --- every sale, either rule ------------------------------------------------------------------------


@given(candidates, reserves, counts, pricings)
def test_nothing_is_sold_below_the_reserve_or_above_the_bid(cands, reserve, count, pricing):
    for sale in run(cands, reserve, count, pricing).sales:
        assert sale.bid_cpm_micros == cands[sale.index][0]
        assert reserve <= sale.price_cpm_micros <= sale.bid_cpm_micros
        assert isinstance(sale.price_cpm_micros, int)
        assert isinstance(sale.bid_cpm_micros, int)
        assert isinstance(sale.index, int)


@given(candidates, reserves, counts, pricings)
def test_the_same_input_gives_the_same_answer(cands, reserve, count, pricing):
    assert run(cands, reserve, count, pricing) == run(list(cands), reserve, count, pricing)


@given(
    st.lists(st.tuples(ecpms, st.integers(-(2**63), INT64_MAX)), max_size=30, unique_by=lambda c: c[1]),
    reserves,
    counts,
    pricings,
    st.data(),
)
def test_shuffling_the_candidates_with_their_tie_keys_gives_the_same_winners(
    cands, reserve, count, pricing, data
):
    # With distinct tie keys the order of the input plays no part: ties rotate only with the keys.
    permutation = data.draw(st.permutations(range(len(cands))))
    shuffled = [cands[i] for i in permutation]
    result = run(cands, reserve, count, pricing)
    shuffled_result = run(shuffled, reserve, count, pricing)
    assert [permutation[s.index] for s in shuffled_result.sales] == winners(result)
    assert [
        (s.bid_cpm_micros, s.price_cpm_micros, s.runner_up_cpm_micros) for s in shuffled_result.sales
    ] == [(s.bid_cpm_micros, s.price_cpm_micros, s.runner_up_cpm_micros) for s in result.sales]


@given(candidates, reserves, counts)
def test_multi_slot_gsp(cands, reserve, count):
    result = run(cands, reserve, count)
    participants = sum(e >= reserve for e, _ in cands)
    assert result.participants == participants
    assert len(result.sales) == min(count, participants)
    assert len(set(winners(result))) == len(result.sales), "one ad took two positions"
    prices = [s.price_cpm_micros for s in result.sales]
    bids = [s.bid_cpm_micros for s in result.sales]
    assert prices == sorted(prices, reverse=True), "a lower position paid more"
    assert bids == sorted(bids, reverse=True)
    for position, sale in enumerate(result.sales):
        assert sale.price_cpm_micros <= sale.bid_cpm_micros
        # Each winner pays what the one below it bid, or the reserve if that is higher.
        if position + 1 < len(result.sales):
            below = result.sales[position + 1].bid_cpm_micros
            assert sale.price_cpm_micros == max(reserve, below)
            assert sale.runner_up_cpm_micros == below
    if result.sales:
        assert result.sales[-1].runner_up_cpm_micros == result.best_loser_cpm_micros


@given(candidates, reserves, counts)
def test_first_price_pays_the_own_bid(cands, reserve, count):
    first = run(cands, reserve, count, Pricing.FIRST_PRICE)
    second = run(cands, reserve, count, Pricing.SECOND_PRICE)
    assert winners(first) == winners(second), "the rule sets prices, not who wins"
    for sale in first.sales:
        assert sale.price_cpm_micros == sale.bid_cpm_micros


# --- examples ---------------------------------------------------------------------------------------


def test_two_bidders_the_higher_wins_and_pays_the_lower_bid():
    result = run_auction([1_500_000, 2_000_000], [0, 0], reserve_cpm_micros=1_000_000)
    assert result.sales == (
        Sale(index=1, bid_cpm_micros=2_000_000, price_cpm_micros=1_500_000, runner_up_cpm_micros=1_500_000),
    )
    assert result.best_loser_cpm_micros == 1_500_000
    assert result.participants == 2


def test_the_reserve_sets_the_price_when_the_runner_up_bids_less():
    result = run_auction([2_000_000, 500_000], [0, 0], reserve_cpm_micros=1_000_000)
    assert result.winner == Sale(0, 2_000_000, 1_000_000, None)
    assert result.participants == 1
    assert result.best_loser_cpm_micros is None


def test_a_reserve_above_everyone_sells_nothing():
    result = run_auction([900_000, 999_999], [1, 2], reserve_cpm_micros=1_000_000, count=3)
    assert result == AuctionResult(sales=(), participants=0, best_loser_cpm_micros=None)
    assert result.winner is None


def test_a_bid_equal_to_the_reserve_takes_part_and_pays_it():
    result = run_auction([1_000_000], [0], reserve_cpm_micros=1_000_000)
    assert result.winner == Sale(0, 1_000_000, 1_000_000, None)


def test_no_candidates_sells_nothing():
    assert run_auction([], [], reserve_cpm_micros=0).sales == ()
    assert run_auction(np.array([], dtype=np.int64), np.array([], dtype=np.int64)).sales == ()


def test_a_zero_reserve_and_a_zero_bid():
    result = run_auction([0, 0], [5, 4])
    assert winners(result) == [1]
    assert result.winner.price_cpm_micros == 0


def test_equal_bids_go_to_the_smaller_tie_key_then_the_smaller_index():
    assert run_auction([3_000, 3_000, 3_000], [9, 2, 7]).winner.index == 1
    assert run_auction([3_000, 3_000, 3_000], [9, 2, 7], count=3).sales == (
        Sale(1, 3_000, 3_000, 3_000),
        Sale(2, 3_000, 3_000, 3_000),
        Sale(0, 3_000, 0, None),
    )
    assert winners(run_auction([3_000, 3_000, 3_000], [4, 4, 4], count=3)) == [0, 1, 2]


def test_three_positions_from_four_bidders():
    result = run_auction(
        [4_000_000, 1_000_000, 3_000_000, 2_000_000], [0, 0, 0, 0], reserve_cpm_micros=1_500_000, count=3
    )
    assert result.sales == (
        Sale(0, 4_000_000, 3_000_000, 3_000_000),
        Sale(2, 3_000_000, 2_000_000, 2_000_000),
        Sale(3, 2_000_000, 1_500_000, None),
    )
    assert result.participants == 3
    assert result.best_loser_cpm_micros is None


def test_more_positions_than_bidders_sells_what_there_is():
    result = run_auction([5_000, 7_000], [0, 0], count=4)
    assert result.sales == (Sale(1, 7_000, 5_000, 5_000), Sale(0, 5_000, 0, None))


def test_first_price_example():
    result = run_auction([1_500_000, 2_000_000], [0, 0], reserve_cpm_micros=1_000_000, pricing="first_price")
    assert result.winner == Sale(1, 2_000_000, 2_000_000, 1_500_000)


def test_unsigned_and_narrow_integer_arrays_are_accepted():
    result = run_auction(np.array([10, 20], dtype=np.int32), np.array([2**64 - 1, 3], dtype=np.uint64))
    assert result.winner == Sale(1, 20, 10, 10)


def test_the_result_is_frozen():
    sale = run_auction([10], [0]).winner
    with pytest.raises(AttributeError):
        sale.price_cpm_micros = 0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"ecpm_cpm_micros": [1], "tie_keys": [1], "reserve_cpm_micros": -1}, "reserve_cpm_micros"),
        ({"ecpm_cpm_micros": [1], "tie_keys": [1], "reserve_cpm_micros": 1.5}, "reserve_cpm_micros"),
        ({"ecpm_cpm_micros": [1], "tie_keys": [1], "count": 0}, "count"),
        ({"ecpm_cpm_micros": [1], "tie_keys": [1], "count": 1.5}, "count"),
        ({"ecpm_cpm_micros": [1, 2], "tie_keys": [1], "count": 1}, "2 candidates but tie_keys has 1"),
        ({"ecpm_cpm_micros": [1.5], "tie_keys": [1]}, "ecpm_cpm_micros must hold integers"),
        ({"ecpm_cpm_micros": [1], "tie_keys": [0.5]}, "tie_keys must hold integers"),
        ({"ecpm_cpm_micros": [2**70], "tie_keys": [0]}, "ecpm_cpm_micros must hold integers"),
        ({"ecpm_cpm_micros": np.array([2**63], dtype=np.uint64), "tie_keys": [0]}, "too large"),
        ({"ecpm_cpm_micros": [[1]], "tie_keys": [[1]]}, "one-dimensional"),
        ({"ecpm_cpm_micros": [1], "tie_keys": [1], "pricing": "vickrey"}, "unknown pricing rule"),
    ],
)
def test_bad_input_is_refused_clearly(kwargs, message):
    with pytest.raises(ValueError, match=message):
        run_auction(**kwargs)


# --- one impression's price -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cpm", "one"), [(0, 0), (999, 0), (1_000, 1), (1_999, 1), (2_500_000, 2_500), (1_234_567, 1_234)]
)
def test_impression_price_is_the_cpm_price_floor_divided_by_a_thousand(cpm, one):
    assert impression_price_micros(cpm) == one


@given(st.integers(0, 10**15))
def test_an_impression_never_costs_more_than_a_thousandth_of_the_cpm_price(cpm):
    one = impression_price_micros(cpm)
    assert one * 1000 <= cpm < (one + 1) * 1000


def test_a_negative_price_is_refused():
    with pytest.raises(ValueError, match="price_cpm_micros"):
        impression_price_micros(-1)
