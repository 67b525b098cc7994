"""The project's WSGI application, wrapped in the middleware: ``gunicorn config.wsgi``.

The route "/hooks/in" guards "/hooks/in/" too (paths are compared in their normal form), so
it covers Django's ``path("hooks/in/")``.
"""
import os

from django.core.wsgi import get_wsgi_application
from hook_keys import ROUTES  # middleware/examples/hook_keys.py, on the Python path

from wsgi_hmac import BodyDeadline, HmacMiddleware

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

application = BodyDeadline(HmacMiddleware(get_wsgi_application(), ROUTES),
                           seconds=float(os.environ.get("HOOK_BODY_SECONDS", "10")))
