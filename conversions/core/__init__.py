"""The domain's own rules and forms, with no framework and no database: the clock, periods,
the canonical form of a signed goal, validation rules (PII, names, currency, time), money, and
the error taxonomy. Imports the standard library and ``iso4217`` only."""
