"""Production defaults for ``gunicorn -c config/gunicorn.conf.py wsgi:app``."""
import multiprocessing
import os

bind = os.environ.get("BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", min(4, multiprocessing.cpu_count() * 2)))
worker_class = "sync"
# Bounded request lines and headers; bodies are bounded by the app and the middleware.
limit_request_line = 8190
limit_request_fields = 64
timeout = 30
graceful_timeout = 20
keepalive = 5
accesslog = "-"
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms'
# One control socket per user would clash between instances on one host.
control_socket_disable = True


def worker_exit(server, worker):
    """Stop the worker's job scheduler and save its last tallies (conversions/scheduler.py)."""
    from conversions import scheduler

    scheduler.stop()
