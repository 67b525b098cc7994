"""The read endpoints: liveness, readiness, health, stats, metrics and attribution, source
freshness and its alerts. May import ``core``, ``store``, ``tenants``, ``rollups`` and ``web``."""
