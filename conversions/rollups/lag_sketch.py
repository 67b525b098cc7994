"""Discovery-to-revenue lags as mergeable DDSketches (the ``ddsketch`` package), so a range of
days merges a few hundred stored sketches instead of reading every goal.

A sketch answers any quantile within ``RELATIVE_ACCURACY`` of the exact lag at that rank;
lags of 0 are kept exactly. Stored rows hold the sketch in DDSketch's own protobuf form, its
bins sparse when few.
"""
from __future__ import annotations

import math
import operator
from collections.abc import Iterable, Mapping

from ddsketch import DDSketch
from ddsketch.ddsketch import BaseDDSketch
from ddsketch.pb import ddsketch_pb2
from ddsketch.pb.proto import DDSketchProto
from ddsketch.store import DenseStore

RELATIVE_ACCURACY = 0.01
# The mapping of every sketch made here, DDSketch's own for this accuracy.
MAPPING = DDSketch(RELATIVE_ACCURACY)._mapping


def key(lag: float) -> int | None:
    """The sketch's bin key for a lag (not negative); None: a lag of 0, kept exactly.
    Counting keys and building the sketch once (``merged``) costs a fraction of adding
    each lag to a sketch."""
    return MAPPING.key(lag) if lag > MAPPING.min_possible else None


def proto(sketch: BaseDDSketch) -> ddsketch_pb2.DDSketch:
    """The sketch as DDSketch's protobuf message, as ``parse`` gives it: its bins dense, or
    sparse (``binCounts``) when they fill under a quarter of their range, as a few lags
    spread over a few hundred bins do (an hour's), so a read adds only those."""
    message = DDSketchProto.to_proto(sketch)
    for values, store in ((message.positiveValues, sketch._store),
                          (message.negativeValues, sketch._negative_store)):
        filled = {store.offset + index: count for index, count in enumerate(store.bins)
                  if count}
        if 4 * len(filled) < len(store.bins):
            values.Clear()
            for key, count in filled.items():
                values.binCounts[key] = count
    return message


def dump(sketch: BaseDDSketch) -> bytes:
    """The sketch in DDSketch's protobuf encoding."""
    return proto(sketch).SerializeToString()


def _summed(stores: list[ddsketch_pb2.Store], keys: Mapping[int, int]) -> DenseStore:
    """One dense store holding every bin count of ``stores`` (protobuf, dense or sparse) and
    ``keys``, dense bins added a slice at a time: ``DenseStore.merge`` adds them one key at
    a time, which a read of a few hundred rows cannot afford."""
    dense = [(part.contiguousBinIndexOffset, part.contiguousBinCounts) for part in stores
             if len(part.contiguousBinCounts)]
    sparse: list[Mapping[int, float]] = [part.binCounts for part in stores
                                         if len(part.binCounts)]
    if keys:
        sparse.append(keys)
    store = DenseStore()
    if not dense and not sparse:
        return store
    low = min([offset for offset, _ in dense] + [min(bins) for bins in sparse])
    high = max([offset + len(counts) for offset, counts in dense]
               + [max(bins) + 1 for bins in sparse])
    bins = [0.0] * (high - low)
    for offset, counts in dense:
        start, end = offset - low, offset - low + len(counts)
        bins[start:end] = map(operator.add, bins[start:end], counts)
    for part in sparse:
        for key, count in part.items():
            bins[key - low] += count
    store.bins, store.offset, store.min_key = bins, low, low
    store.max_key = low + len(bins) - 1
    store.count = sum(bins)
    return store


def parse(data: bytes) -> ddsketch_pb2.DDSketch:
    """A stored sketch (``dump``'s bytes), checked to have ``MAPPING``."""
    proto = ddsketch_pb2.DDSketch()
    proto.ParseFromString(data)
    if (proto.mapping.gamma, proto.mapping.indexOffset) != (MAPPING.gamma, MAPPING._offset):
        raise ValueError("sketches of different accuracies cannot be merged")
    return proto


def merged(protos: Iterable[ddsketch_pb2.DDSketch] = (),
           keys: Mapping[int | None, int] | None = None) -> BaseDDSketch:
    """One sketch of every parsed sketch in ``protos`` and of the lags counted by bin key
    (``key``) in ``keys``."""
    protos = list(protos)
    keys = keys or {}
    positive = {k: count for k, count in keys.items() if k is not None}
    negative = [p.negativeValues for p in protos
                if len(p.negativeValues.contiguousBinCounts) or len(p.negativeValues.binCounts)]
    return BaseDDSketch(mapping=MAPPING,
                        store=_summed([p.positiveValues for p in protos], positive),
                        negative_store=_summed(negative, {}),
                        zero_count=sum(p.zeroCount for p in protos) + keys.get(None, 0))


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
