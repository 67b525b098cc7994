"""Peewee models. Times are Unix milliseconds (UTC); money is integer hundredths."""
from __future__ import annotations

from decimal import Decimal

from peewee import (
    AutoField,
    BigIntegerField,
    BlobField,
    BooleanField,
    CharField,
    ForeignKeyField,
    IntegerField,
    Model,
    TextField,
)

from conversions.core.sources import NAME_LENGTH
from conversions.store.database import database

# A postback's conversion status (RedTrack's four); None: the provider sends none.
STATUSES = ("approved", "pending", "declined", "other")


class BaseModel(Model):
    class Meta:
        database = database
        legacy_table_names = False


class Tenant(BaseModel):
    """A customer: found by ``domain`` (goals) or ``buyer_id`` (pixel, webhooks)."""

    id = CharField(primary_key=True, max_length=36)
    domain = CharField(unique=True, max_length=253)
    buyer_id = CharField(unique=True, null=True, max_length=64)
    created_at_ms = BigIntegerField()


class SigningKey(BaseModel):
    """One secret of a tenant. Live while ``expires_at_ms`` is null or in the future."""

    id = AutoField()
    tenant = ForeignKeyField(Tenant, backref="keys", on_delete="CASCADE")
    kind = CharField(max_length=8)
    secret = BlobField()
    created_at_ms = BigIntegerField()
    expires_at_ms = BigIntegerField(null=True)

    class Meta:
        indexes = ((("tenant", "kind"), False),)


class Event(BaseModel):
    """One accepted conversion event, as stored for figures and attribution."""

    id = AutoField()
    tenant = ForeignKeyField(Tenant, backref="events", on_delete="CASCADE")
    source_type = CharField(max_length=NAME_LENGTH)
    signed = BooleanField()
    event_name = CharField(max_length=64)
    value_hundredths = BigIntegerField(null=True)
    currency = CharField(max_length=3, null=True)
    session_id = CharField(max_length=128, null=True)
    properties = TextField(null=True)
    first_touch_bucket = CharField(max_length=64, null=True)
    first_touch_ts = CharField(max_length=64, null=True)
    first_touch_at_ms = BigIntegerField(null=True)
    occurred_at_ms = BigIntegerField()
    received_at_ms = BigIntegerField()
    # Idempotency: a client event_id ("id:...") or a signed goal's digest ("sig:...").
    dedup_key = CharField(max_length=200, null=True)
    # Postbacks: who sent it, its status (a declined one carries no value), and whether the
    # event time is the receipt time because none was sent.
    provider = CharField(max_length=16, null=True)
    status = CharField(max_length=16, null=True)
    time_estimated = BooleanField(null=True)

    class Meta:
        indexes = (
            (("tenant", "source_type", "dedup_key"), True),
            (("tenant", "source_type", "received_at_ms"), False),
            (("received_at_ms",), False),
            (("tenant", "occurred_at_ms"), False),
        )

    @property
    def value(self) -> Decimal | None:
        if self.value_hundredths is None:
            return None
        return Decimal(self.value_hundredths).scaleb(-2)


class WebhookDelivery(BaseModel):
    """A webhook-id seen for a tenant, kept for the replay window."""

    id = AutoField()
    tenant = ForeignKeyField(Tenant, on_delete="CASCADE")
    message_id = CharField(max_length=255)
    received_at_ms = BigIntegerField(index=True)
    event_count = BigIntegerField()

    class Meta:
        indexes = ((("tenant", "message_id"), True),)


class TenantSetting(BaseModel):
    """A per-tenant override of a default (``conversions/tenants/settings.py`` names them)."""

    id = AutoField()
    tenant = ForeignKeyField(Tenant, on_delete="CASCADE")
    name = CharField(max_length=64)
    value = CharField(max_length=200)
    updated_at_ms = BigIntegerField()

    class Meta:
        indexes = ((("tenant", "name"), True),)


class HourlyAggregate(BaseModel):
    """Events of one tenant, source, event name and currency in one hour of event time.

    Holds exactly the events received before the aggregation cursor; ``currency`` is ""
    for events without a value or currency. ``events`` and ``value_hundredths`` are the
    reports that count; ``superseded`` the reports another channel's report of the same
    conversion took over (``store.cross_channel``), which count nowhere.
    """

    id = AutoField()
    tenant = ForeignKeyField(Tenant, on_delete="CASCADE")
    source_type = CharField(max_length=NAME_LENGTH)
    event_name = CharField(max_length=64)
    hour_start_ms = BigIntegerField()
    currency = CharField(max_length=3, default="")
    events = BigIntegerField()
    value_hundredths = BigIntegerField()
    superseded = BigIntegerField(default=0)

    class Meta:
        indexes = (
            (("tenant", "hour_start_ms", "source_type", "event_name", "currency"), True),
        )


class DailyAggregate(BaseModel):
    """``HourlyAggregate`` summed by day of event time, so a range by day reads a row a day;
    each batch the aggregation adds is added to it too, and a day it recomputes is summed
    again from its hours."""

    id = AutoField()
    tenant = ForeignKeyField(Tenant, on_delete="CASCADE")
    source_type = CharField(max_length=NAME_LENGTH)
    event_name = CharField(max_length=64)
    day_start_ms = BigIntegerField()
    currency = CharField(max_length=3, default="")
    events = BigIntegerField()
    value_hundredths = BigIntegerField()
    superseded = BigIntegerField(default=0)

    class Meta:
        indexes = (
            (("tenant", "day_start_ms", "source_type", "event_name", "currency"), True),
        )


class HourlyAttribution(BaseModel):
    """Signed goals of one tenant, first-touch bucket and currency in one hour of event time,
    as ``DailyAttribution`` holds them by day: each batch the aggregation adds is merged into
    both, and an hour it recomputes from the raw events has its day merged again from the
    day's hours."""

    id = AutoField()
    tenant = ForeignKeyField(Tenant, on_delete="CASCADE")
    hour_start_ms = BigIntegerField()
    bucket = CharField(max_length=16)
    currency = CharField(max_length=3, default="")
    goals = BigIntegerField()
    revenue_hundredths = BigIntegerField(null=True)
    lag_histogram = TextField()
    lag_sketch = BlobField(null=True)

    class Meta:
        indexes = ((("tenant", "hour_start_ms", "bucket", "currency"), True),)


class DailyAttribution(BaseModel):
    """Signed goals of one tenant, first-touch bucket and currency in one day of event time.

    Holds exactly the goals received before the aggregation cursor: their count, revenue
    (None when none carried a value), the lag histogram's bin counts (JSON) and the lags'
    DDSketch (``conversions/rollups/lag_sketch.py``; None when no first touch was honored).
    ``currency`` is "" for goals without one.
    """

    id = AutoField()
    tenant = ForeignKeyField(Tenant, on_delete="CASCADE")
    day_start_ms = BigIntegerField()
    bucket = CharField(max_length=16)
    currency = CharField(max_length=3, default="")
    goals = BigIntegerField()
    revenue_hundredths = BigIntegerField(null=True)
    lag_histogram = TextField()
    lag_sketch = BlobField(null=True)

    class Meta:
        indexes = ((("tenant", "day_start_ms", "bucket", "currency"), True),)


class RollupRefresh(BaseModel):
    """An event stored with a receive time the aggregation cursor has passed (a dead-letter
    replay keeps its original one): the next aggregation run recomputes its periods."""

    id = AutoField()
    tenant = ForeignKeyField(Tenant, on_delete="CASCADE")
    occurred_at_ms = BigIntegerField()


# The JobCursor of the aggregation job: the receive time the rollups are exact up to.
AGGREGATE_CURSOR = "aggregate"
# The JobCursor of the raw-event prune: the event time before which events may be gone.
PRUNED_BEFORE = "raw_events_pruned"


class JobCursor(BaseModel):
    """How far a job has got, e.g. the receive time aggregates are exact up to."""

    name = CharField(primary_key=True, max_length=32)
    position_ms = BigIntegerField()


class JobRun(BaseModel):
    """One run of a scheduled job, for health: start, end, rows touched, error."""

    id = AutoField()
    job = CharField(max_length=32)
    started_at_ms = BigIntegerField()
    finished_at_ms = BigIntegerField(null=True)
    rows = BigIntegerField(null=True)
    error = TextField(null=True)
    holder = CharField(max_length=128)

    class Meta:
        indexes = ((("job", "started_at_ms"), False),)


class JobLease(BaseModel):
    """The cross-process lock of a job on SQLite (PostgreSQL uses advisory locks)."""

    job = CharField(primary_key=True, max_length=32)
    holder = CharField(max_length=128, null=True)
    expires_at_ms = BigIntegerField(default=0)


class OutcomeCount(BaseModel):
    """Accepted events and rejections per tenant (None: unknown), source, outcome and hour."""

    id = AutoField()
    tenant_id = CharField(max_length=36, null=True)
    source_type = CharField(max_length=NAME_LENGTH)
    outcome = CharField(max_length=64)
    hour_start_ms = BigIntegerField()
    count = BigIntegerField()

    class Meta:
        indexes = (
            (("tenant_id", "source_type", "outcome", "hour_start_ms"), True),
            (("hour_start_ms",), False),
        )


class SourceState(BaseModel):
    """What the staleness job last saw of a tenant's source."""

    id = AutoField()
    tenant = ForeignKeyField(Tenant, on_delete="CASCADE")
    source_type = CharField(max_length=NAME_LENGTH)
    last_event_at_ms = BigIntegerField(null=True)
    stale_since_ms = BigIntegerField(null=True)
    checked_at_ms = BigIntegerField()

    class Meta:
        indexes = ((("tenant", "source_type"), True),)


class IngestionFailure(BaseModel):
    """A dead letter: an authenticated event refused by a rule or not stored by a fault.

    ``payload`` is the event as JSON with personal data masked; never a secret or signature.
    ``replayable`` is False when masking or truncation changed it (it cannot be replayed).
    """

    id = AutoField()
    tenant = ForeignKeyField(Tenant, on_delete="CASCADE")
    source_type = CharField(max_length=NAME_LENGTH)
    reason = CharField(max_length=64)
    status = IntegerField()
    received_at_ms = BigIntegerField()
    payload = TextField()
    detail = TextField(null=True)
    replayable = BooleanField()
    # The delivery's own id when it has one (a webhook-id), so a replay dedups against it.
    delivery_id = CharField(max_length=255, null=True)
    replayed_at_ms = BigIntegerField(null=True)
    event_id = BigIntegerField(null=True)

    class Meta:
        indexes = (
            (("tenant", "source_type", "id"), False),
            (("received_at_ms",), False),
            (("reason", "id"), False),
        )


class IngestionTestEvent(BaseModel):
    """A request flagged as a test: validated like a real one, kept apart, never counted."""

    id = AutoField()
    tenant = ForeignKeyField(Tenant, on_delete="CASCADE")
    source_type = CharField(max_length=NAME_LENGTH)
    test_code = CharField(max_length=64)
    received_at_ms = BigIntegerField()
    verdict = CharField(max_length=8)  # accepted | rejected
    error = CharField(max_length=64, null=True)
    detail = TextField(null=True)
    payload = TextField()

    class Meta:
        indexes = ((("tenant", "source_type", "id"), False),)


class Generation(BaseModel):
    """A counter a change bumps, so every process can tell its cached copy is stale
    (``conversions/store/generations.py``)."""

    name = CharField(primary_key=True, max_length=32)
    value = BigIntegerField()


class PostbackKey(BaseModel):
    """A secret of a tenant's postback URLs, kept only as its SHA-256; live until revoked."""

    id = AutoField()
    tenant = ForeignKeyField(Tenant, backref="postback_keys", on_delete="CASCADE")
    key_hash = CharField(max_length=64, unique=True)
    # The token's first characters, so people can tell tokens apart without the secret; a
    # look-up starts there and compares the hashes in constant time.
    hint = CharField(max_length=16, index=True)
    created_at_ms = BigIntegerField()
    revoked_at_ms = BigIntegerField(null=True)


class PostbackNetwork(BaseModel):
    """An address range a tenant's postbacks may come from; none: any address."""

    id = AutoField()
    tenant = ForeignKeyField(Tenant, on_delete="CASCADE")
    cidr = CharField(max_length=64)
    created_at_ms = BigIntegerField()

    class Meta:
        indexes = ((("tenant", "cidr"), True),)


# In dependency order: a table comes after those it refers to.
class ConversionClaim(BaseModel):
    """One conversion as its channels reported it: the identity ``(tenant, event_name,
    event_key)`` (``event_key`` an ``id:`` dedup key) within a window of receipt, and the
    report that counts (``winner``). Its row is the lock two reports of one conversion take
    in turn, on every instance (``store.cross_channel``)."""

    id = AutoField()
    tenant = ForeignKeyField(Tenant, on_delete="CASCADE")
    event_name = CharField(max_length=64)
    event_key = CharField(max_length=200)
    winner = BigIntegerField()  # the counting report's event id
    received_at_ms = BigIntegerField()  # the first report's receipt: the window starts there
    occurred_at_ms = BigIntegerField()  # the counting report's event time
    server = BooleanField()  # an authenticated report came (webhook, postback, import)
    browser = BooleanField()  # a pixel came
    server_value = BigIntegerField(null=True)
    server_currency = CharField(max_length=3, null=True)
    browser_value = BigIntegerField(null=True)
    browser_currency = CharField(max_length=3, null=True)

    class Meta:
        indexes = ((("tenant", "event_name", "event_key"), True),)


class SupersededEvent(BaseModel):
    """A stored report that no longer counts: another channel's report of the same
    conversion won (``by``). The report itself stays as it was received."""

    event = BigIntegerField(primary_key=True)
    tenant = ForeignKeyField(Tenant, on_delete="CASCADE")
    occurred_at_ms = BigIntegerField(index=True)  # the report's, for the retention prune
    by = BigIntegerField()
    at_ms = BigIntegerField()


class HourlyCoverage(BaseModel):
    """Conversions with an ``event_id`` of one tenant and event name in one hour of the
    counting report's event time: how many the server reported, the browser, both, and of
    those both with different values or currencies. Kept exact by every write."""

    id = AutoField()
    tenant = ForeignKeyField(Tenant, on_delete="CASCADE")
    event_name = CharField(max_length=64)
    hour_start_ms = BigIntegerField()
    server = BigIntegerField(default=0)
    browser = BigIntegerField(default=0)
    both = BigIntegerField(default=0)
    value_mismatches = BigIntegerField(default=0)

    class Meta:
        indexes = ((("tenant", "hour_start_ms", "event_name"), True),)


MODELS = [Tenant, SigningKey, Event, WebhookDelivery, TenantSetting, HourlyAggregate,
          DailyAggregate, HourlyAttribution, DailyAttribution, RollupRefresh, JobCursor,
          JobRun, JobLease, OutcomeCount, SourceState, IngestionFailure, IngestionTestEvent,
          Generation, PostbackKey, PostbackNetwork, ConversionClaim, SupersededEvent,
          HourlyCoverage]
