"""Discovery-to-revenue lags as mergeable DDSketches (the ``ddsketch`` package), so a range of
days merges a few hundred stored sketches instead of reading every goal.

A sketch answers any quantile within ``RELATIVE_ACCURACY`` of the exact lag at that rank;
lags of 0 are kept exactly. Stored rows hold the sketch in DDSketch's own protobuf form.
"""
from __future__ import annotations

import math
import operator
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


def dump(sketch: BaseDDSketch) -> bytes:
    """The sketch in DDSketch's protobuf encoding."""
    return DDSketchProto.to_proto(sketch).SerializeToString()


def _summed(stores: list[ddsketch_pb2.Store]) -> DenseStore:
    """One dense store holding every bin count of ``stores`` (protobuf), added a slice at a
    time: ``DenseStore.merge`` adds them one key at a time, which a read of a few hundred
    rows cannot afford."""
    parts = [(part.contiguousBinIndexOffset, part.contiguousBinCounts) for part in stores
             if len(part.contiguousBinCounts)]
    store = DenseStore()
    if not parts:
        return store
    low = min(offset for offset, _ in parts)
    bins = [0.0] * (max(offset + len(counts) for offset, counts in parts) - low)
    for offset, counts in parts:
        start, end = offset - low, offset - low + len(counts)
        bins[start:end] = map(operator.add, bins[start:end], counts)
    store.bins, store.offset, store.min_key = bins, low, low
    store.max_key = low + len(bins) - 1
    store.count = sum(bins)
    return store


def merged(encoded: Iterable[bytes]) -> BaseDDSketch:
    """One sketch of every sketch in ``encoded`` (``dump``'s bytes)."""
    protos = []
    for data in encoded:
        proto = ddsketch_pb2.DDSketch()
        proto.ParseFromString(data)
        protos.append(proto)
    if not protos:
        return new()
    if len({(p.mapping.gamma, p.mapping.indexOffset) for p in protos}) > 1:
        raise ValueError("sketches of different accuracies cannot be merged")
    first = protos[0].mapping
    return BaseDDSketch(mapping=LogarithmicMapping.from_gamma_offset(first.gamma,
                                                                     first.indexOffset),
                        store=_summed([p.positiveValues for p in protos]),
                        negative_store=_summed([p.negativeValues for p in protos]),
                        zero_count=sum(p.zeroCount for p in protos))


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
