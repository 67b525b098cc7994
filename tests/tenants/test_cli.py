"""``flask --app app tenant ...`` and ``init-db``."""
from __future__ import annotations

import base64
import json
import re
import uuid

from conversions.store.database import connection
from conversions.tenants import accounts


def create(runner, *args):
    result = runner.invoke(args=["tenant", "create", *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_create_prints_the_tenant_with_both_secrets(runner):
    created = create(runner, "--domain", "Shop.Example.com", "--buyer-id", "42")
    uuid.UUID(created["tenant_id"])
    assert created["domain"] == "shop.example.com"
    assert created["buyer_id"] == "42"
    assert re.fullmatch(r"[0-9a-f]{64}", created["pixel_secret"])
    assert created["webhook_secret"].startswith("whsec_")
    assert len(base64.b64decode(created["webhook_secret"][6:])) == 32


def test_buyer_id_is_optional(runner):
    assert create(runner, "--domain", "a.example")["buyer_id"] is None


def test_duplicate_domain_is_a_clear_error(runner):
    create(runner, "--domain", "a.example")
    result = runner.invoke(args=["tenant", "create", "--domain", "a.example"])
    assert result.exit_code != 0
    assert "exists already" in result.output


def test_unusable_buyer_id_or_domain_is_a_clear_error(runner):
    for args in (["--domain", "b.example", "--buyer-id", "b" * 65],
                 ["--domain", "b.example", "--buyer-id", " 42"],
                 ["--domain", "b\x01.example"]):
        result = runner.invoke(args=["tenant", "create", *args])
        assert result.exit_code == 1, result.output  # a message, not a traceback
        assert "must be" in result.output


def test_list_shows_no_secret(runner):
    created = create(runner, "--domain", "a.example", "--buyer-id", "7")
    result = runner.invoke(args=["tenant", "list"])
    listed = json.loads(result.output)
    assert [t["tenant_id"] for t in listed] == [created["tenant_id"]]
    assert created["pixel_secret"] not in result.output
    assert "secret" not in result.output


def test_rotate_with_grace_keeps_the_old_key_live(runner):
    created = create(runner, "--domain", "a.example")
    result = runner.invoke(args=["tenant", "rotate-secret", created["tenant_id"],
                                 "--kind", "pixel", "--grace", "3600"])
    assert result.exit_code == 0, result.output
    rotated = json.loads(result.output)
    assert rotated["pixel_secret"] != created["pixel_secret"]
    assert "webhook_secret" not in rotated
    with connection():
        secrets = {k.secret.hex() for k in accounts.live_keys(created["tenant_id"], "pixel")}
    assert secrets == {created["pixel_secret"], rotated["pixel_secret"]}


def test_rotate_without_grace_retires_the_old_key_at_once(runner):
    created = create(runner, "--domain", "a.example")
    runner.invoke(args=["tenant", "rotate-secret", created["tenant_id"], "--kind", "webhook"])
    with connection():
        keys = accounts.live_keys(created["tenant_id"], "webhook")
    assert len(keys) == 1
    assert base64.b64encode(keys[0].secret).decode() != created["webhook_secret"][6:]


def test_rotate_with_a_grace_beyond_the_longest_is_a_clear_error(runner):
    created = create(runner, "--domain", "a.example")
    result = runner.invoke(args=["tenant", "rotate-secret", created["tenant_id"], "--kind",
                                 "pixel", "--grace", str(10**20)])
    assert result.exit_code == 1, result.output
    assert "grace must be" in result.output


def test_rotate_unknown_tenant_is_a_clear_error(runner):
    result = runner.invoke(args=["tenant", "rotate-secret", "nope", "--kind", "pixel"])
    assert result.exit_code != 0
    assert "no tenant nope" in result.output


def test_init_db_is_idempotent(runner):
    assert runner.invoke(args=["init-db"]).exit_code == 0
    assert runner.invoke(args=["init-db"]).exit_code == 0
