"""Times read in a time zone: an IANA name or a fixed offset, and the layouts spreadsheets
write (Google Ads' upload template) whose times may carry no offset of their own."""
from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from conversions.core import rules

# Google Ads' accepted time layouts without an ISO form (its upload template's help).
US_LAYOUTS = ("%m/%d/%Y %H:%M:%S", "%m/%d/%Y %I:%M:%S %p", "%m/%d/%Y %H:%M")
_OFFSET = re.compile(r"([+-])(\d{2}):?(\d{2})")


def time_zone(text: str) -> tzinfo:
    """An IANA name (``America/New_York``) or a fixed offset (``+hhmm``, ``-hh:mm``)."""
    text = text.strip()
    offset = _OFFSET.fullmatch(text)
    if offset:
        sign, hours, minutes = offset.groups()
        delta = timedelta(hours=int(hours), minutes=int(minutes))
        if delta >= timedelta(hours=24):
            raise ValueError(f"TimeZone {text} is not a valid offset")
        return timezone(-delta if sign == "-" else delta)
    try:
        return ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"TimeZone {text} is not an IANA time zone or a +hhmm offset") from None


def localised(naive: datetime, zone: tzinfo) -> datetime:
    """``naive`` read in ``zone``; a time the clocks skipped (spring forward) is refused, a
    repeated one (fall back) is the first of the two, as zoneinfo's ``fold=0``."""
    moment = naive.replace(tzinfo=zone)
    if moment.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != naive:
        raise ValueError(f"does not exist in {zone} (the clocks skipped it)")
    return moment


def read(text: str, zone: tzinfo, strict: bool) -> datetime:
    """A cell's time in UTC: ISO-8601 or Unix seconds only when ``strict``, else also the US
    layouts; an offset in the text beats ``zone``."""
    text = text.strip()
    if not text:
        raise ValueError("is required")
    if strict:
        try:
            return rules.parse_instant(text)
        except (ValueError, OverflowError, OSError):
            raise ValueError("must be ISO-8601 or Unix seconds") from None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        for layout in US_LAYOUTS:
            try:
                moment = datetime.strptime(text, layout)  # noqa: DTZ007 - zone applied below
                break
            except ValueError:
                continue
        else:
            raise ValueError("must be yyyy-mm-dd hh:mm:ss[+hhmm] or mm/dd/yyyy hh:mm:ss") \
                from None
    if moment.tzinfo is None:
        moment = localised(moment, zone)
    return moment.astimezone(UTC)
