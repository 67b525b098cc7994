"""Default settings. Each can be set as ``CONVERSIONS_<NAME>`` in the environment."""

# Storage. Unset: SQLite (WAL) at instance/conversions.db.
DATABASE_URL = ""
# Connections per process: at least gunicorn's threads per worker (GUNICORN_THREADS, 8) plus
# the scheduler's jobs; a request finding none free waits for one (up to 10 s).
DB_POOL_SIZE = 16
# SQLite durability: NORMAL survives a process crash; FULL also survives power loss.
SQLITE_SYNCHRONOUS = "NORMAL"
# Durability of an acknowledged event: "normal" (survives a crash of the service) or "full"
# (survives a power loss too: SQLite synchronous=FULL, PostgreSQL synchronous_commit=on).
# Unset: SQLITE_SYNCHRONOUS for SQLite, the server's own setting (on) for PostgreSQL.
# Concurrent requests share each commit (conversions/store/writer/group_commit.py), so "full"
# costs little.
DURABILITY = ""
SQLITE_BUSY_TIMEOUT_MS = 5000
# Who runs the event writes on a SQLite file: "process" (one writer process gunicorn's master
# starts and restarts, fed by every worker over a Unix socket, conversions/store/writer/process.py)
# or "inline" (each worker's own group commit). config/gunicorn.conf.py makes "process" its
# default; elsewhere (flask run, the tests) writes stay in process. PostgreSQL ignores it.
SQLITE_WRITER = "inline"
# The writer process's socket: set by gunicorn's master for its workers, not by hand (its key
# is in a file beside it, readable by the service's user alone).
SQLITE_WRITER_SOCKET = ""
# A write waits at most this long for the writer process's answer or for the SQLite writer lock
# (a process holding it may be stopped), then answers 503 store_unavailable with Retry-After: "it
# may have been stored; retrying is safe". With the writer process, at most WRITE_WAITERS threads
# a worker wait on writes at once (a write finding them all busy for half a second answers the
# same 503), so a stopped writer never holds every thread: config/gunicorn.conf.py sets it to its
# threads less two.
WRITE_TIMEOUT_SECONDS = 5.0
WRITE_WAITERS = 6

# The service's address as providers reach it, for the postback URLs it prints.
PUBLIC_URL = "http://127.0.0.1:8000"

# Secrets and admin access. Unset token: read and admin endpoints answer loopback only.
ADMIN_TOKEN = ""
# How long a worker may reuse a tenant's keys before looking them up again.
KEY_CACHE_SECONDS = 2.0

# Request bodies.
GOAL_MAX_BODY = 64 * 1024
WEBHOOK_MAX_BODY = 1024 * 1024
MAX_CONTENT_LENGTH = 64 * 1024
# A body must arrive within this many seconds (408 beyond), and at most BODY_READERS threads a
# process read bodies at once, so slow senders cannot hold every thread: a body finding them all
# busy waits up to BODY_READER_WAIT_SECONDS for one (503 beyond). config/gunicorn.conf.py sets
# BODY_READERS to its threads less two.
BODY_TIMEOUT_SECONDS = 10.0
BODY_READERS = 6
BODY_READER_WAIT_SECONDS = 1.0
# The shape of any JSON body (and of the pixel's and postbacks' parameters), checked before
# any rule: nesting depth, and object keys and strings in all (400 json_too_complex beyond).
# A full webhook batch (WEBHOOK_MAX_EVENTS events with a few properties each) fits.
JSON_MAX_DEPTH = 32
JSON_MAX_KEYS = 50_000
JSON_MAX_STRINGS = 50_000
# A provider's postback (Branch's webhook bodies carry the whole event).
POSTBACK_MAX_BODY = 256 * 1024
# An offline CSV upload (POST /api/conversions/imports and the settings page's upload); it is
# read as a stream into a scratch file, never whole into memory, and must arrive within
# BODY_TIMEOUT_SECONDS plus its length at BODY_STREAM_RATE bytes a second (100 MB: 6.5 min).
IMPORT_MAX_BODY = 1024 * 1024 * 1024
BODY_STREAM_RATE = 256 * 1024
# Offline conversions may be this old (Google Ads takes 90 days); they may not be in the future.
IMPORT_MAX_AGE_SECONDS = 90 * 24 * 3600
# Errors an import lists; past it, rows are still read and counted (errors_truncated).
IMPORT_MAX_ERRORS = 100_000

# Time rules.
WEBHOOK_TOLERANCE_SECONDS = 300
# How long a webhook-id is remembered. A signed goal's digest is kept with its event.
REPLAY_WINDOW_SECONDS = 7 * 24 * 3600
EVENT_MAX_AGE_SECONDS = 7 * 24 * 3600
EVENT_MAX_FUTURE_SECONDS = 300
FIRST_TOUCH_MAX_AGE_DAYS = 180
# The largest accepted event value (docs/signing.md: 10000); raise it, then replay dead letters.
MAX_EVENT_VALUE = 10000

# Rate limits (flask-limiter syntax) and their shared store. Tenants may override
# RATELIMIT_INGEST per source (conversions/tenants/settings.py).
RATELIMIT_STORAGE_URI = "memory://"
# flask-limiter's own limits (the settings page sign-in) also fail open if the store is down.
RATELIMIT_SWALLOW_ERRORS = True
# How long a Redis limit store may take to answer before the limits fail open.
RATELIMIT_REDIS_TIMEOUT_SECONDS = 0.5
RATELIMIT_INGEST = "6000 per minute"
# Per client address, on each ingestion endpoint (pixel, webhook, goal).
RATELIMIT_PER_ADDRESS = "1200 per minute"
# Failed signatures per tenant and client address; checked before any HMAC is computed.
SIGNATURE_FAILURE_LIMIT = "20 per minute"
# Unknown postback tokens per client address; checked before any token is looked up.
POSTBACK_GUESS_LIMIT = "20 per minute"
# Reverse proxies in front of the service whose X-Forwarded-For is trusted (0: trust none).
PROXY_FIX_HOPS = 0

# Webhooks: events a batch may hold (all or nothing).
WEBHOOK_MAX_EVENTS = 1000

# Cross-channel deduplication: a pixel and a server report with the same event_name and
# event_id received within this window are one conversion (per tenant: dedup_window_seconds).
DEDUP_WINDOW_SECONDS = 48 * 3600

# Monitoring: a source with no event within this window is stale (per tenant and source).
FRESHNESS_WINDOW_SECONDS = 24 * 3600

# Logging: "json" for one JSON object a line, "text" for people at a terminal.
LOG_FORMAT = "json"
LOG_LEVEL = "INFO"

# Scheduled jobs (conversions/jobs/tasks.py). Every serving process (wsgi.py, so each gunicorn
# worker) runs a scheduler when enabled; create_app alone (tests, the CLI) never starts one.
# A database lock makes each job run once per interval across processes and hosts; the
# tally flush runs in every process.
SCHEDULER_ENABLED = True
AGGREGATE_INTERVAL_SECONDS = 60
STALENESS_INTERVAL_SECONDS = 60
PRUNE_INTERVAL_SECONDS = 3600
FLUSH_INTERVAL_SECONDS = 10
# A job holding its lock longer than this is presumed dead and its lease taken over.
JOB_LEASE_SECONDS = 600
# Events received this recently may still be committing: aggregation leaves them to the tail.
AGGREGATE_SETTLE_SECONDS = 10
# Raw events are kept this many days of event time (0: kept for ever); the rollups keep
# every figure of older periods. It must exceed the oldest event the service accepts
# (IMPORT_MAX_AGE_SECONDS, EVENT_MAX_AGE_SECONDS, a dead letter replayed at the end of
# FAILURES_MAX_AGE_DAYS) by a day (config/checks.py), so no accepted event lands in a period
# already pruned.
RAW_EVENT_RETENTION_DAYS = 0
# Job runs are kept this long for health.
JOB_RUN_RETENTION_SECONDS = 7 * 24 * 3600
# Staleness alerts: POSTed as JSON when set, retried with a growing delay.
ALERT_WEBHOOK_URL = ""
ALERT_ATTEMPTS = 4
ALERT_RETRY_SECONDS = 2.0
# Health's error counts cover this many seconds by default.
HEALTH_WINDOW_SECONDS = 24 * 3600
# Test and operations aid: a file holding a clock offset in seconds, read by every process.
CLOCK_FILE = ""

# Dead letters (refused authenticated events): kept at most this many per tenant and source,
# and this many days (no longer than the replay window, so a replay still dedups against the
# sender's own retry); payloads over the size (UTF-8 bytes) are truncated (and so not
# replayable).
FAILURES_MAX_ROWS = 1000
FAILURES_MAX_AGE_DAYS = 7
FAILURES_MAX_PAYLOAD = 64 * 1024
# The dead-letter listing answers at most this many bytes of payloads and details a page
# (at least one row), whatever ?limit= asks.
FAILURES_PAGE_MAX_BYTES = 1024 * 1024
# Test events (flagged requests, stored apart): the latest kept per tenant and source, each
# with at most this many bytes of its payload (a verdict, not a copy for replay).
TEST_EVENTS_MAX_ROWS = 100
TEST_EVENTS_MAX_PAYLOAD = 2048

# /lp.js: how long browsers and CDNs may cache the snippet before revalidating its ETag.
LP_JS_MAX_AGE_SECONDS = 86400

# GET /api/conversions/attribution without ?from=: this many days before ?to= (default now).
ATTRIBUTION_DEFAULT_DAYS = 30

# The /settings/system page (people sign in with ADMIN_TOKEN). Unset SECRET_KEY: one is made
# once in SECRET_KEY_FILE (default instance/secret_key, mode 0600) and shared by all workers.
SECRET_KEY = ""
SECRET_KEY_FILE = ""
# The session cookie is Secure (HTTPS only); set CONVERSIONS_SESSION_COOKIE_SECURE=false only
# to sign in over plain http on loopback (development, tests).
SESSION_COOKIE_SECURE = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Strict"
SESSION_COOKIE_NAME = "conversions_session"
PERMANENT_SESSION_LIFETIME = 8 * 3600
# Sign-in attempts per client address (flask-limiter syntax), so the token cannot be guessed.
SETTINGS_LOGIN_RATE_LIMIT = "10 per minute"
# The page's chart covers this many days (its attribution, ATTRIBUTION_DEFAULT_DAYS).
SETTINGS_PAGE_DAYS = 7
# A sign-in lasts PERMANENT_SESSION_LIFETIME from the login, not from the last request.
SESSION_REFRESH_EACH_REQUEST = False

# Prometheus' instruments (GET /metrics, conversions/observability): 0 records nothing on the
# request path (make bench measures both); /metrics still answers with the store's figures.
METRICS_ENABLED = True
# host:port of a listener of its own for GET /metrics, unguarded there (bind it where only
# Prometheus reaches); config/gunicorn.conf.py adds it to gunicorn's binds. Empty: none.
METRICS_BIND = ""
# Tenants (by domain, comma-separated, at most 20) whose events get their own series in
# conversions_tenant_events_received_total; every other tenant's count as tenant="other".
# Empty (the default): no tenant label at all.
METRICS_TENANTS = ""
