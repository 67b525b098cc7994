"""``sign_webhook``: Standard Webhooks headers over the raw body, one event or a batch."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json

import pytest
from conversions_client import send_webhook, sign_webhook

SECRET = "whsec_" + base64.b64encode(b"k" * 32).decode()
OTHER = "whsec_" + base64.b64encode(b"o" * 32).decode()


def test_headers_sign_id_timestamp_and_body():
    signed = sign_webhook(SECRET, {"event_name": "purchase"}, msg_id="msg_1", timestamp=1700000000)
    mac = hmac.new(b"k" * 32, b'msg_1.1700000000.{"event_name":"purchase"}', hashlib.sha256)
    assert signed.headers["webhook-signature"] == "v1," + base64.b64encode(mac.digest()).decode()
    assert (signed.headers["webhook-id"], signed.headers["webhook-timestamp"]) == \
        ("msg_1", "1700000000")


def test_a_list_is_sent_as_a_batch():
    signed = sign_webhook(SECRET, [{"event_id": "a"}, {"event_id": "b"}])
    assert json.loads(signed.body) == {"events": [{"event_id": "a"}, {"event_id": "b"}]}


def test_two_secrets_give_two_entries_one_for_each():
    both = sign_webhook([SECRET, OTHER], b"{}", msg_id="m", timestamp=1)
    first = sign_webhook(SECRET, b"{}", msg_id="m", timestamp=1)
    second = sign_webhook(OTHER, b"{}", msg_id="m", timestamp=1)
    assert both.headers["webhook-signature"] == " ".join(
        [first.headers["webhook-signature"], second.headers["webhook-signature"]])


def test_id_and_timestamp_default_to_a_new_id_and_now_at_each_call():
    one, two = sign_webhook(SECRET, b"{}"), sign_webhook(SECRET, b"{}")
    assert one.msg_id != two.msg_id
    assert one.msg_id.startswith("msg_")
    assert one.timestamp > 1_700_000_000


def test_a_secret_without_its_prefix_is_the_same_key():
    with_prefix = sign_webhook(SECRET, b"{}", msg_id="m", timestamp=1)
    without = sign_webhook(SECRET.removeprefix("whsec_"), b"{}", msg_id="m", timestamp=1)
    assert with_prefix.headers == without.headers


@pytest.mark.parametrize("secret", ["whsec_not base64!", "whsec_", "e9" * 31 + "e"])
def test_a_secret_that_is_not_base64_is_refused(secret):
    with pytest.raises(ValueError, match="whsec_"):
        sign_webhook(secret, b"{}")


def test_no_secret_is_refused():
    with pytest.raises(ValueError, match="at least one"):
        sign_webhook([], b"{}")


def test_the_tenant_is_named_exactly_once():
    for names in ({}, {"buyer_id": "b", "tenant_id": "t"}):
        with pytest.raises(ValueError, match="exactly one"):
            send_webhook("http://127.0.0.1:1", SECRET, {}, **names)
