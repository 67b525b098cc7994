"""The settings page's forms: CSRF, validated settings saved for the service, rotation."""
from __future__ import annotations

import base64
import json
import logging
import re

from flask import current_app

from conversions.store.database import connection
from conversions.tenants import accounts, settings
from tests.support import REMOTE, csrf, post_form, post_goal, system_page


def test_a_post_without_the_csrf_token_is_refused(admin_app, signed_in, tenant):
    tenant_id = tenant["tenant_id"]
    for path, data in [
        ("/settings/system/limits", {"tenant_id": tenant_id,
                                     "freshness_window_seconds__all": "600"}),
        ("/settings/system/rotate", {"tenant_id": tenant_id, "kind": "pixel",
                                     "grace_seconds": "0"}),
        ("/settings/logout", {}),
    ]:
        for token in (None, "forged-token"):
            sent = {**data, "csrf_token": token} if token else data
            answer = post_form(signed_in, path, sent)
            assert answer.status_code == 400, path
            assert "security token" in answer.text
    with admin_app.app_context():
        assert settings.overrides(tenant_id) == {}
        assert len(accounts.live_keys(tenant_id, "pixel")[0]) == 1
    assert signed_in.get("/settings/system", environ_overrides=REMOTE).status_code == 200


def test_saved_settings_are_what_the_service_reads(admin_app, signed_in, tenant):
    tenant_id = tenant["tenant_id"]
    answer = post_form(signed_in, "/settings/system/limits", {
        "csrf_token": csrf(system_page(signed_in, tenant_id)), "tenant_id": tenant_id,
        "freshness_window_seconds__all": "3600", "rate_limit__webhook": "50 per minute"})
    assert answer.status_code == 302
    after = signed_in.get(answer.location, environ_overrides=REMOTE).text
    assert "Settings saved" in after
    assert 'value="3600"' in after
    with admin_app.app_context():
        assert settings.get(tenant_id, "freshness_window_seconds", "pixel") == 3600
        assert settings.get(tenant_id, "rate_limit", "webhook") == "50 per minute"
        assert settings.get(tenant_id, "rate_limit", "pixel") == current_app.config[
            "RATELIMIT_INGEST"]
    cleared = post_form(signed_in, "/settings/system/limits", {
        "csrf_token": csrf(after), "tenant_id": tenant_id, "rate_limit__webhook": "50 per minute"})
    assert cleared.status_code == 302
    with admin_app.app_context():
        assert settings.overrides(tenant_id) == {"rate_limit.webhook": "50 per minute"}


def test_an_invalid_setting_shows_why_and_saves_nothing(admin_app, signed_in, tenant):
    tenant_id = tenant["tenant_id"]
    answer = post_form(signed_in, "/settings/system/limits", {
        "csrf_token": csrf(system_page(signed_in, tenant_id)), "tenant_id": tenant_id,
        "freshness_window_seconds__all": "7200", "freshness_window_seconds__goal": "5",
        "rate_limit__pixel": "lots"})
    assert answer.status_code == 400
    errors = re.findall(r'class="error" role="alert">([^<]*)<', answer.text)
    assert "must be from 60 to 2592000 seconds" in errors
    assert "must be a rate limit such as &#39;600 per minute&#39;" in errors
    assert 'value="lots"' in answer.text  # what was typed is kept for correcting
    with admin_app.app_context():
        assert settings.overrides(tenant_id) == {}


def test_rotation_shows_the_new_secret_once_and_keeps_the_old_for_the_grace(
        admin_app, signed_in, tenant, caplog):
    tenant_id = tenant["tenant_id"]
    caplog.set_level(logging.DEBUG)
    answer = post_form(signed_in, "/settings/system/rotate", {
        "csrf_token": csrf(system_page(signed_in, tenant_id)), "tenant_id": tenant_id,
        "kind": "webhook", "grace_seconds": "600"})
    assert answer.status_code == 200
    assert answer.headers["Cache-Control"] == "no-store"
    shown = re.search(r'id="new-secret-value">([^<]+)<', answer.text).group(1)
    assert shown.startswith("whsec_")
    assert shown != tenant["webhook_secret"]
    with admin_app.app_context(), connection():
        live, _ = accounts.live_keys(tenant_id, "webhook")
    assert {key.secret for key in live} == {
        base64.b64decode(shown.removeprefix("whsec_")),
        base64.b64decode(tenant["webhook_secret"].removeprefix("whsec_"))}
    assert shown not in system_page(signed_in, tenant_id)
    cookie = signed_in.get_cookie("conversions_session").value
    serializer = admin_app.session_interface.get_signing_serializer(admin_app)
    assert shown not in json.dumps(serializer.loads(cookie))
    assert shown not in caplog.text
    assert "secret rotated" in caplog.text


def test_a_bad_grace_period_is_explained(signed_in, tenant):
    answer = post_form(signed_in, "/settings/system/rotate", {
        "csrf_token": csrf(system_page(signed_in, tenant["tenant_id"])),
        "tenant_id": tenant["tenant_id"], "kind": "pixel", "grace_seconds": "-5"})
    assert answer.status_code == 400
    assert "Number must be between 0 and 2592000" in answer.text
    assert "new-secret" not in answer.text


def test_a_rate_limit_saved_on_the_page_limits_the_running_service(signed_in, tenant):
    tenant_id = tenant["tenant_id"]
    saved = post_form(signed_in, "/settings/system/limits", {
        "csrf_token": csrf(system_page(signed_in, tenant_id)), "tenant_id": tenant_id,
        "rate_limit__goal": "1 per minute"})
    assert saved.status_code == 302
    statuses = [post_goal(signed_in, tenant, value=5, currency="USD").status_code
                for _ in range(2)]
    assert statuses == [202, 429]
