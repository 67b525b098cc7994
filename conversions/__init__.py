"""Conversion event ingestion: blueprints, models, schemas, rules and commands."""
