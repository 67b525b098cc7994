"""Load and fault tooling (``make soak``); loopback only, bounded in time."""
