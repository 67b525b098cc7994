"""Every server of a bench run: the production settings, on the bench's port, no access log.

The access log is off for all of them alike (the baseline too), so the run measures the
applications, not gunicorn's log formatting.
"""
import os
from pathlib import Path

exec((Path(__file__).resolve().parents[1] / "config" / "gunicorn.conf.py").read_text())  # noqa: S102

bind = os.environ["BENCH_BIND"]
accesslog = None

