"""Between our interest segments and the IAB Content Taxonomy 1.0 that OpenRTB speaks (cat, bcat).

A creative's category (Creative.category, an interest segment) is announced to exchanges as an IAB
category, and a publisher's blocked categories are matched against it; a site's or app's IAB
categories tell us what its audience is interested in.
"""

from __future__ import annotations

from collections.abc import Iterable

# Interest segment -> the IAB 1.0 category that describes it best (tier 2 where one fits exactly).
IAB_CATEGORY: dict[str, str] = {
    "automotive": "IAB2",
    "beauty": "IAB18-1",
    "books": "IAB1-1",
    "business": "IAB3",
    "cooking": "IAB8",
    "education": "IAB5",
    "entertainment": "IAB1",
    "family": "IAB6",
    "fashion": "IAB18",
    "finance": "IAB13",
    "fitness": "IAB7-18",
    "gaming": "IAB9-30",
    "health": "IAB7",
    "home_garden": "IAB10",
    "music": "IAB1-6",
    "news": "IAB12",
    "outdoors": "IAB9-6",  # Hobbies & Interests > Camping; hiking and climbing live in IAB17 sports too
    "pets": "IAB16",
    "real_estate": "IAB21",
    "science": "IAB15",
    "shopping": "IAB22",
    "sports": "IAB17",
    "technology": "IAB19",
    "travel": "IAB20",
}
# Tier-1 IAB categories whose audience maps onto one of our segments (for site/app `cat`).
SEGMENT_OF_TIER1: dict[str, str] = {
    "IAB1": "entertainment",
    "IAB2": "automotive",
    "IAB3": "business",
    "IAB5": "education",
    "IAB6": "family",
    "IAB7": "health",
    "IAB8": "cooking",
    "IAB10": "home_garden",
    "IAB12": "news",
    "IAB13": "finance",
    "IAB15": "science",
    "IAB16": "pets",
    "IAB17": "sports",
    "IAB18": "fashion",
    "IAB19": "technology",
    "IAB20": "travel",
    "IAB21": "real_estate",
    "IAB22": "shopping",
}


def iab_categories(segment: str) -> tuple[str, ...]:
    category = IAB_CATEGORY.get(segment)
    return (category,) if category else ()


def segments_of(categories: Iterable[str]) -> frozenset[str]:
    """The interest segments an IAB category list speaks of: exact tier 2 first, else its tier 1."""
    by_category = {iab: segment for segment, iab in IAB_CATEGORY.items()}
    out: set[str] = set()
    for category in categories:
        segment = by_category.get(category) or SEGMENT_OF_TIER1.get(category.split("-", 1)[0])
        if segment:
            out.add(segment)
    return frozenset(out)


def is_blocked(categories: Iterable[str], blocked: Iterable[str]) -> bool:
    """A blocked tier-1 category ("IAB18") blocks its tier-2 categories ("IAB18-1") too."""
    blocked = tuple(blocked)
    return any(cat == b or cat.startswith(b + "-") for cat in categories for b in blocked)
