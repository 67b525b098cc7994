"""The settings page's postback set-up and CSV upload, in process."""
from __future__ import annotations

import io
import re

from conversions.core import clock
from conversions.core.periods import iso
from conversions.store.database import connection
from conversions.store.models import Event
from conversions.tenants import postback_tokens
from tests.support import REMOTE, csrf, post_form, system_page


def test_the_page_shows_each_providers_url_template(signed_in, tenant):
    html = system_page(signed_in, tenant["tenant_id"])
    assert 'id="postback-url-adjust"' in html
    assert "/api/conversions/postback/adjust/&lt;token&gt;?event_name={event_name}" in html
    assert "No live token" in html


def test_issuing_shows_the_token_once_and_it_works(signed_in, tenant):
    tenant_id = tenant["tenant_id"]
    answer = post_form(signed_in, "/settings/system/postback-token",
                  {"csrf_token": csrf(system_page(signed_in, tenant_id)), "tenant_id": tenant_id})
    assert answer.status_code == 200
    token = re.search(r'id="new-postback-token-value">(pb_[^<]+)<', answer.text).group(1)
    assert f"/api/conversions/postback/voluum/{token}?cid={{clickid}}" in answer.text
    assert signed_in.get(f"/api/conversions/postback/generic/{token}?event_name=lead"
                         ).status_code == 202
    again = system_page(signed_in, tenant_id)
    assert token not in again
    assert token[:10] + "…" in again


def test_revoking_a_token_refuses_its_postbacks(signed_in, tenant):
    tenant_id = tenant["tenant_id"]
    with connection():
        issued = postback_tokens.issue(tenant_id, "http://x")
    answer = post_form(signed_in, "/settings/system/postback-token/revoke", {
        "csrf_token": csrf(system_page(signed_in, tenant_id)), "tenant_id": tenant_id,
        "token_id": issued["token_id"]})
    assert answer.status_code == 302
    assert "Token revoked" in signed_in.get(answer.location, environ_overrides=REMOTE).text
    assert signed_in.get(f"/api/conversions/postback/generic/{issued['token']}?event_name=x"
                         ).status_code == 401


def test_the_allow_list_is_saved_or_its_error_shown(signed_in, tenant):
    tenant_id = tenant["tenant_id"]
    bad = post_form(signed_in, "/settings/system/postback-networks", {
        "csrf_token": csrf(system_page(signed_in, tenant_id)), "tenant_id": tenant_id,
        "networks": "192.0.2.0/24\nnot-an-address"})
    assert bad.status_code == 400
    assert "not-an-address is not an IP address or CIDR range" in bad.text
    good = post_form(signed_in, "/settings/system/postback-networks", {
        "csrf_token": csrf(system_page(signed_in, tenant_id)), "tenant_id": tenant_id,
        "networks": "192.0.2.7/24, 2001:db8::/32"})
    assert good.status_code == 302
    assert "192.0.2.0/24\n2001:db8::/32" in system_page(signed_in, tenant_id)
    with connection():
        assert postback_tokens.networks(tenant_id) == ["192.0.2.0/24", "2001:db8::/32"]


def test_a_forged_postback_form_is_refused(signed_in, tenant):
    for path in ("/settings/system/postback-token", "/settings/system/postback-networks",
                 "/settings/system/import"):
        answer = post_form(signed_in, path, {"tenant_id": tenant["tenant_id"]})
        assert answer.status_code == 400, path
        assert "security token" in answer.text
    with connection():
        assert postback_tokens.live(tenant["tenant_id"]) == []


CSV = ("event_name,event_ts,value,currency,event_id\n"
       "purchase,{now},5,USD,u-1\n"
       "purchase,not-a-time,5,USD,u-2\n")


def upload(client, tenant_id: str, body: str, **flags):
    data = {"csrf_token": csrf(system_page(client, tenant_id)), "tenant_id": tenant_id,
            "format": "generic", "file": (io.BytesIO(body.encode()), "offline.csv"), **flags}
    return post_form(client, "/settings/system/import", data, content_type="multipart/form-data")


def test_an_upload_shows_its_result_and_every_refused_row(signed_in, tenant):
    body = CSV.format(now=iso(clock.now_ms() - 60_000))
    refused = upload(signed_in, tenant["tenant_id"], body)
    assert refused.status_code == 422
    assert "Nothing was stored: 1 of 2 rows break rules." in refused.text
    assert "<td>3</td><td>event_ts</td><td><code>invalid_event</code></td>" in refused.text
    partial = upload(signed_in, tenant["tenant_id"], body, partial="y")
    assert partial.status_code == 200
    assert "<td>2</td><td>1</td><td>0</td><td>1</td>" in partial.text
    with connection():
        assert [e.dedup_key for e in Event.select()] == ["id:u-1"]


def test_an_upload_without_a_file_says_so(signed_in, tenant):
    answer = post_form(signed_in, "/settings/system/import", {
        "csrf_token": csrf(system_page(signed_in, tenant["tenant_id"])),
        "tenant_id": tenant["tenant_id"], "format": "generic"})
    assert answer.status_code == 400
    assert "Choose a CSV file." in answer.text


def test_the_chart_and_table_show_imported_events_right_after_an_upload(signed_in, tenant):
    body = CSV.format(now=iso(clock.now_ms() - 60_000))
    assert upload(signed_in, tenant["tenant_id"], body, partial="y").status_code == 200
    html = system_page(signed_in, tenant["tenant_id"])
    assert "<title>import: 1 events in 7 days</title>" in html
    assert '<th scope="col" class="num">import</th>' in html
