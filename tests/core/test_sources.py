"""The source registry: every source declares every property, and the places keyed by source
read it (a new source fails here until it is declared whole)."""
from __future__ import annotations

import dataclasses

from conversions.core import sources
from conversions.core.sources import Authentication
from conversions.operations.replay import REVALIDATORS
from conversions.store import models

# Every property of every source, written out: a new source or property is added here too.
DECLARED = {
    "pixel": {"authentication": Authentication.BROWSER, "key_kind": None, "replayable": False,
              "rate_limited": True, "watched": True, "chart": ("none", "#1b6ca8", "solid")},
    "webhook": {"authentication": Authentication.HMAC, "key_kind": "webhook", "replayable": True,
                "rate_limited": True, "watched": True, "chart": ("8 4", "#b35900", "dashed")},
    "goal": {"authentication": Authentication.HMAC, "key_kind": "pixel", "replayable": True,
             "rate_limited": True, "watched": True, "chart": ("2 3", "#5b3f9e", "dotted")},
    "postback": {"authentication": Authentication.TOKEN, "key_kind": None, "replayable": True,
                 "rate_limited": True, "watched": True,
                 "chart": ("12 3 2 3", "#2e7d32", "dash-dot")},
    "import": {"authentication": Authentication.ADMIN, "key_kind": None, "replayable": False,
               "rate_limited": False, "watched": False,
               "chart": ("1 4", "#7a1f4d", "sparse dots")},
}


def test_every_property_of_every_source() -> None:
    properties = {field.name for field in dataclasses.fields(sources.Source)} - {"name"}
    assert {name: {p: getattr(source, p) for p in properties}
            for name, source in sources.SOURCES.items()} == DECLARED
    for source in sources.SOURCES.values():
        for prop in properties:
            assert getattr(source, prop) is not None or prop == "key_kind", (source.name, prop)


def test_names_fit_the_stored_columns() -> None:
    columns = [model.source_type for model in vars(models).values()
               if isinstance(model, type) and issubclass(model, models.BaseModel)
               and hasattr(model, "source_type")]
    assert len(columns) >= 7
    assert {column.max_length for column in columns} == {sources.NAME_LENGTH}
    assert all(0 < len(name) <= sources.NAME_LENGTH for name in sources.NAMES)


def test_chart_styles_are_distinct_patterns() -> None:
    for part in (0, 2):  # the SVG pattern and its words
        drawn = [source.chart[part] for source in sources.SOURCES.values()]
        assert len(set(drawn)) == len(drawn)


def test_replay_has_a_validator_for_each_replayable_source() -> None:
    assert set(REVALIDATORS) == set(sources.REPLAYABLE)


def test_secrets_name_what_they_verify() -> None:
    assert sources.SECRET_KINDS == ("pixel", "webhook")
    assert sources.VERIFIED_BY == {"pixel": ("goal",), "webhook": ("webhook",)}
    assert [s.name for s in sources.SOURCES.values() if s.authenticated] == [
        "webhook", "goal", "postback", "import"]
