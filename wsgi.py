"""The WSGI entry point: ``gunicorn -c config/gunicorn.conf.py wsgi:app``.

``app`` is the Flask app whose WSGI callable is wrapped in the HMAC middleware, so every
way of serving it (gunicorn, ``flask run``, the test client) verifies signatures first.
"""
from app import create_app

app = create_app()
