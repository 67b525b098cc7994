"""Figures computed from stored events: in-process tallies of outcomes, hourly aggregation,
counts and sums by period (aggregates plus the tail), and first-touch attribution with its
lag. No Flask views; may import ``core`` and ``store``."""
