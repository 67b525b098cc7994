"""Production defaults for ``gunicorn -c config/gunicorn.conf.py wsgi:app``."""
import multiprocessing
import os
import tempfile

bind = os.environ.get("BIND", "127.0.0.1:8000")
# One process per core (the GIL limits each to one), each with threads: requests in flight
# in a worker share one commit (conversions/store/writer/group_commit.py), so durable writes
# stay cheap.
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count()))
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", 8))
# At most this many threads of a worker wait for request bodies (wsgi_hmac.BodyDeadline):
# two stay free for everything else, health checks included, whatever slow senders do.
os.environ.setdefault("CONVERSIONS_BODY_READERS", str(max(1, threads - 2)))
# Likewise for threads waiting on a write (conversions/store/writer/group_commit.py): a stopped
# writer process holds at most these, never the health checks' threads.
os.environ.setdefault("CONVERSIONS_WRITE_WAITERS", str(max(1, threads - 2)))
# On a SQLite file, one writer process started by this master runs every worker's event writes
# (conversions/store/writer/process.py); CONVERSIONS_SQLITE_WRITER=inline keeps them in each worker.
os.environ.setdefault("CONVERSIONS_SQLITE_WRITER", "process")
# Each worker listens on its own socket (SO_REUSEPORT) and the kernel spreads connections
# across them: on one shared socket the first worker to wake takes most keep-alive
# connections and the other core idles.
reuse_port = True
# Bounded request lines and headers; bodies are bounded by the app and the middleware.
limit_request_line = 8190
limit_request_fields = 64
timeout = 30
graceful_timeout = 20
keepalive = 5
# One line a request on stdout; ACCESS_LOG="" turns it off (it costs every request a write).
# The path without its query string: a pixel's parameters may hold the personal data the
# service refuses, which must not land on disk here either.
accesslog = os.environ.get("ACCESS_LOG", "-") or None
access_log_format = '%(h)s "%(m)s %(U)s %(H)s" %(s)s %(b)s %(M)sms'
# A postback URL holds its token: every log record of a worker, the access log's included,
# masks it (conversions/web/logs.py, installed when the worker loads the app).
# One control socket per user would clash between instances on one host.
control_socket_disable = True
# Prometheus' multiprocess mode: every process (workers, the writer process, this master)
# writes its samples to files here and GET /metrics merges them. Set before any process imports
# prometheus_client, which reads it once; emptied in on_starting (files of an earlier run
# would be counted again). Unset: a private directory of this server's own, removed on exit.
_own_metrics_directory = None
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    _own_metrics_directory = tempfile.mkdtemp(prefix="conversions-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = _own_metrics_directory


def on_starting(server):  # type: ignore[no-untyped-def]
    """Say at start-up when rate limits would be counted per worker (memory storage); start
    the writer process before the workers, for a SQLite file (store/writer/supervisor.py)."""
    from config.checks import rate_limit_storage_warning
    from conversions.store.writer import supervisor

    _empty_metrics_directory()
    warning = rate_limit_storage_warning(server.cfg.workers)
    if warning:
        server.log.warning(warning)
    config = _settings()
    _bind_metrics_port(server, config["METRICS_BIND"])
    if supervisor.start_if_wanted(config):
        server.log.info("writer process listening at %s", os.environ[supervisor.SOCKET_ENV])
        supervisor.exit_hooks.append(_writer_exited)


def when_ready(server):  # type: ignore[no-untyped-def]
    """Say where the service is served (gunicorn's own line leaves the address blank when
    each worker binds its own socket)."""
    served = [bind for bind in server.cfg.bind if bind != _metrics_bind[0]]
    server.log.info("serving http://%s with %d workers", ", http://".join(served),
                    server.cfg.workers)
    if _metrics_bind[0]:
        server.log.info("serving Prometheus' /metrics at http://%s/metrics", _metrics_bind[0])


def on_reload(server):  # type: ignore[no-untyped-def]
    """A reload (SIGHUP) read the binds anew: the workers it starts listen on METRICS_BIND
    too."""
    _bind_metrics_port(server, _settings()["METRICS_BIND"])


def _settings():  # type: ignore[no-untyped-def]
    """The app's settings, as the workers will read them."""
    from flask import Flask

    from config import load

    app = Flask("conversions")
    load(app)
    return app.config


_metrics_bind = [""]  # the metrics port's bind added to gunicorn's, once known


def _bind_metrics_port(server, bind):  # type: ignore[no-untyped-def]
    """Listen on METRICS_BIND too, whatever --bind or BIND named (the app answers only
    /metrics there: conversions/monitoring/exposition.py)."""
    from conversions.monitoring.exposition import metrics_port

    port = metrics_port(bind)
    if port is None:
        return
    taken = {address[1] for address in server.cfg.address if isinstance(address, tuple)}
    if port in taken:
        raise RuntimeError(f"METRICS_BIND {bind} must use a port of its own, not one of "
                           f"{', '.join(server.cfg.bind)}")
    _metrics_bind[0] = bind
    server.cfg.set("bind", [*server.cfg.bind, bind])


def _empty_metrics_directory():  # type: ignore[no-untyped-def]
    directory = os.environ["PROMETHEUS_MULTIPROC_DIR"]
    os.makedirs(directory, mode=0o700, exist_ok=True)
    for name in os.listdir(directory):
        if name.endswith(".db"):
            os.unlink(os.path.join(directory, name))


def _writer_exited(pid):  # type: ignore[no-untyped-def]
    """Count the writer process's restart and retire its live gauges."""
    from prometheus_client import multiprocess

    from conversions.observability import instruments

    instruments.writer_restarted()
    multiprocess.mark_process_dead(pid)


def child_exit(server, worker):  # type: ignore[no-untyped-def]
    """Retire a dead worker's live gauges (its counters and histograms stay counted)."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):  # type: ignore[no-untyped-def]
    """Stop the writer process once the workers have stopped; remove the metrics directory
    made here."""
    import shutil

    from conversions.store.writer import supervisor

    supervisor.stop()
    if _own_metrics_directory:
        shutil.rmtree(_own_metrics_directory, ignore_errors=True)


def worker_exit(server, worker):
    """Stop the worker's job scheduler and save its last tallies (conversions/jobs/scheduler.py)."""
    from conversions.jobs import scheduler

    scheduler.stop()


def post_worker_init(worker):  # type: ignore[no-untyped-def]
    """Move what loading the app made (about 100,000 objects) out of the cyclic collector's
    reach: a full collection then walks only what requests made since, not the whole heap,
    which held every thread of the worker for 15 to 70 ms (the p99 of the pixel and the
    goal). Garbage from the loading is collected first, so none of it is kept for good."""
    import gc

    gc.collect()
    gc.freeze()
