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
# Concurrent requests share each commit (conversions/writer.py), so "full" costs little.
DURABILITY = ""
SQLITE_BUSY_TIMEOUT_MS = 5000

# Secrets and admin access. Unset token: read and admin endpoints answer loopback only.
ADMIN_TOKEN = ""
# How long a worker may reuse a tenant's keys before looking them up again.
KEY_CACHE_SECONDS = 2.0

# Request bodies.
GOAL_MAX_BODY = 64 * 1024
WEBHOOK_MAX_BODY = 1024 * 1024
MAX_CONTENT_LENGTH = 64 * 1024

# Time rules.
WEBHOOK_TOLERANCE_SECONDS = 300
REPLAY_WINDOW_SECONDS = 7 * 24 * 3600
EVENT_MAX_AGE_SECONDS = 7 * 24 * 3600
EVENT_MAX_FUTURE_SECONDS = 300
FIRST_TOUCH_MAX_AGE_DAYS = 180

# Rate limits (flask-limiter syntax) and their shared store. Tenants may override
# RATELIMIT_INGEST per source (conversions/settings.py).
RATELIMIT_STORAGE_URI = "memory://"
RATELIMIT_INGEST = "6000 per minute"
# Per client address, on each ingestion endpoint (pixel, webhook, goal).
RATELIMIT_PER_ADDRESS = "1200 per minute"
# Failed signatures per tenant and client address; checked before any HMAC is computed.
SIGNATURE_FAILURE_LIMIT = "20 per minute"
# Reverse proxies in front of the service whose X-Forwarded-For is trusted (0: trust none).
PROXY_FIX_HOPS = 0

# Webhooks: events a batch may hold (all or nothing).
WEBHOOK_MAX_EVENTS = 1000

# Monitoring: a source with no event within this window is stale (per tenant and source).
FRESHNESS_WINDOW_SECONDS = 24 * 3600

# Logging: "json" for one JSON object a line, "text" for people at a terminal.
LOG_FORMAT = "json"
LOG_LEVEL = "INFO"

# Scheduled jobs (conversions/jobs.py). Every serving process (wsgi.py, so each gunicorn
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
