"""Every JSON body (and the pixel's and postbacks' queries) held to the configured shape
(``core.budget``) before any rule runs: 400 ``json_too_complex`` beyond."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import current_app

from conversions.core import budget
from conversions.web.errors import ApiError

ERROR = "json_too_complex"


def shape(config: Mapping[str, Any]) -> budget.Shape:
    """The shape ``config`` allows (``JSON_MAX_DEPTH``, ``JSON_MAX_KEYS``,
    ``JSON_MAX_STRINGS``)."""
    return budget.Shape(int(config["JSON_MAX_DEPTH"]), int(config["JSON_MAX_KEYS"]),
                        int(config["JSON_MAX_STRINGS"]))


def message(err: budget.TooComplex) -> str:
    return f"The JSON is too complex: {err}."


def check(value: Any) -> None:
    """Refuse ``value`` past the app's shape."""
    try:
        budget.check_shape(value, shape(current_app.config))
    except budget.TooComplex as err:
        raise ApiError(400, ERROR, message(err)) from None
