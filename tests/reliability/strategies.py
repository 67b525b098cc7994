"""Hypothesis strategies: goal events a client may sign, and arbitrary bodies."""
from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import strategies as st

from conversions.core.rules import CURRENCIES

# Letters of any script, spaces and a little punctuation: never an email, phone number or SSN.
SAFE_TEXT = st.characters(categories=("L", "Zs"), exclude_characters="\u00a0")
NAME_TEXT = st.characters(categories=("L",), include_characters="_.:-")


def _instant(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


instants = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1),
                        timezones=st.just(UTC)).map(_instant)

# The arguments of ``conversions_client.sign_goal`` (and of clients/js's ``signGoal``) for
# an event that follows every rule, so the service must accept it.
valid_goals = st.fixed_dictionaries(
    {"event_name": st.text(NAME_TEXT, min_size=1, max_size=64),
     "session_id": st.none() | st.text(SAFE_TEXT, max_size=128)},
    optional={
        "value": st.decimals(min_value=0, max_value=10000, places=2).map(float),
        "currency": st.sampled_from(sorted(CURRENCIES)) | st.sampled_from(["usd", "Eur"]),
        "plan": st.text(SAFE_TEXT, max_size=50),
        "first_touch_bucket": st.sampled_from(["ai_search", "paid_social"])
        | st.text(SAFE_TEXT, min_size=1, max_size=64),
        "first_touch_ts": instants,
    },
)

# Anything a client may be asked to sign: any text, values with any number of decimals.
wild_goals = st.fixed_dictionaries(
    {"event_name": st.text(min_size=1, max_size=80),
     "session_id": st.none() | st.text(max_size=140)},
    optional={
        "value": st.floats(min_value=0, max_value=1e9, allow_nan=False),
        "currency": st.text(max_size=4),
        "plan": st.text(max_size=60),
        "first_touch_bucket": st.text(max_size=70),
        "first_touch_ts": instants | st.text(max_size=30),
    },
)

json_scalars = (st.none() | st.booleans() | st.integers()
                | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=40))
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=10), inner, max_size=4),
                           max_leaves=12)
GOAL_KEYS = ["event_name", "session_id", "properties", "first_touch_bucket", "first_touch_ts"]
PROPERTY_KEYS = ["value", "currency", "plan"]

# Objects shaped like a goal whose every value may be of any JSON type, plus stray keys.
goal_shaped = st.dictionaries(
    st.sampled_from(GOAL_KEYS) | st.text(max_size=12),
    json_values | st.dictionaries(st.sampled_from(PROPERTY_KEYS) | st.text(max_size=8),
                                  json_values, max_size=4),
    max_size=7,
)
