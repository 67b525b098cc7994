"""The WSGI entry point: ``gunicorn -c config/gunicorn.conf.py wsgi:app``.

``app`` is the Flask app whose WSGI callable is wrapped in the HMAC middleware, so every
way of serving it (gunicorn, ``flask run``, the test client) verifies signatures first.
Serving processes also run the scheduled jobs unless ``CONVERSIONS_SCHEDULER_ENABLED=0``.
"""
from app import create_app
from conversions.jobs import scheduler

app = create_app()
scheduler.start_if_enabled(app)
