"""Discovery-to-revenue lags as mergeable DDSketches (the ``ddsketch`` package), so a range of
days merges a few dozen stored sketches instead of reading every goal.

A sketch answers any quantile within ``RELATIVE_ACCURACY`` of the exact lag at that rank;
lags of 0 are kept exactly. Stored rows hold the sketch in DDSketch's own protobuf form.
"""
from __future__ import annotations

import math
from collections.abc import Iterable

from ddsketch import DDSketch
from ddsketch.ddsketch import BaseDDSketch
from ddsketch.mapping import LogarithmicMapping
from ddsketch.pb import ddsketch_pb2
from ddsketch.pb.proto import DDSketchProto
from ddsketch.store import DenseStore

RELATIVE_ACCURACY = 0.01


def new() -> BaseDDSketch:
    return DDSketch(RELATIVE_ACCURACY)


def of(lags_ms: Iterable[int]) -> BaseDDSketch:
    """A sketch of ``lags_ms``."""
    sketch = new()
    for lag in lags_ms:
        sketch.add(lag)
    return sketch


def dump(sketch: BaseDDSketch) -> bytes:
    """The sketch in DDSketch's protobuf encoding."""
    return DDSketchProto.to_proto(sketch).SerializeToString()


def _store(proto: ddsketch_pb2.Store) -> DenseStore:
    """A dense store from its protobuf form, its bins taken whole: ``StoreProto.from_proto``
    adds them one call at a time, which costs a read of many rows too much."""
    store = DenseStore()
    bins = [float(count) for count in proto.contiguousBinCounts]
    if bins:
        store.bins = bins
        store.offset = store.min_key = proto.contiguousBinIndexOffset
        store.max_key = store.offset + len(bins) - 1
        store.count = sum(bins)
    return store


def load(data: bytes) -> BaseDDSketch:
    """A sketch from ``dump``'s bytes."""
    proto = ddsketch_pb2.DDSketch()
    proto.ParseFromString(data)
    mapping = LogarithmicMapping.from_gamma_offset(proto.mapping.gamma, proto.mapping.indexOffset)
    return BaseDDSketch(mapping=mapping, store=_store(proto.positiveValues),
                        negative_store=_store(proto.negativeValues), zero_count=proto.zeroCount)


def merged(sketches: Iterable[BaseDDSketch]) -> BaseDDSketch:
    total = new()
    for sketch in sketches:
        total.merge(sketch)
    return total


def at_index(sketch: BaseDDSketch, index: int) -> float:
    """The lag at 0-based ``index`` of the ascending lags, within the relative accuracy."""
    count = int(sketch.count)
    if count == 1:
        return float(sketch.get_quantile_value(0))
    # DDSketch reads rank q * (n - 1) and returns the first bin whose running count exceeds
    # it; half a rank past ``index`` lands on that lag's bin without floating-point doubt.
    return float(sketch.get_quantile_value(min((index + 0.5) / (count - 1), 1.0)))


def median(sketch: BaseDDSketch) -> float:
    """The middle lag, or the mean of the two middle lags (count must not be 0)."""
    count = int(sketch.count)
    return (at_index(sketch, (count - 1) // 2) + at_index(sketch, count // 2)) / 2


def nearest_rank(sketch: BaseDDSketch, percent: int) -> float:
    """The nearest-rank percentile: the lag at position ``ceil(percent / 100 * n)``."""
    count = int(sketch.count)
    return at_index(sketch, max(math.ceil(percent * count / 100), 1) - 1)
