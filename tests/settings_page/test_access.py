"""Who reaches /settings/system: loopback without a token, a signed-in session with one."""
from __future__ import annotations

from tests.support import ADMIN_TOKEN, REMOTE, csrf, sign_in


def test_without_a_token_a_remote_address_is_refused(app, client, tenant):
    remote = client.get("/settings/system", environ_overrides=REMOTE)
    assert remote.status_code == 403
    assert remote.mimetype == "text/html"
    assert "loopback" in remote.text
    assert tenant["domain"] not in remote.text
    assert client.get("/settings/system").status_code == 200  # the test client is 127.0.0.1


def test_without_a_token_a_remote_post_is_refused(app, client, tenant):
    answer = client.post("/settings/system/limits", environ_overrides=REMOTE,
                         data={"tenant_id": tenant["tenant_id"], "rate_limit__all": "1/second"})
    assert answer.status_code == 403


def test_with_a_token_an_unauthenticated_visitor_is_sent_to_sign_in(admin_app, tenant):
    client = admin_app.test_client()
    for environ in (REMOTE, {}):  # loopback is no way round the token
        answer = client.get("/settings/system", environ_overrides=environ)
        assert answer.status_code == 302
        assert answer.location.endswith("/settings/login")
    post = client.post("/settings/system/rotate", environ_overrides=REMOTE,
                       data={"tenant_id": tenant["tenant_id"], "kind": "pixel"})
    assert post.status_code == 401


def test_a_wrong_token_is_refused(admin_app, tenant):
    client = admin_app.test_client()
    answer = sign_in(client, "not-the-token")
    assert answer.status_code == 401
    assert "not the admin token" in answer.text
    assert client.get("/settings/system", environ_overrides=REMOTE).status_code == 302


def test_signing_in_opens_the_page_and_signing_out_closes_it(signed_in, tenant):
    page = signed_in.get("/settings/system", environ_overrides=REMOTE)
    assert page.status_code == 200
    assert tenant["domain"] in page.text
    out = signed_in.post("/settings/logout", data={"csrf_token": csrf(page.text)},
                         environ_overrides=REMOTE)
    assert out.status_code == 302
    assert signed_in.get("/settings/system", environ_overrides=REMOTE).status_code == 302


def test_a_session_cookie_copied_before_sign_out_no_longer_opens_the_page(admin_app, signed_in,
                                                                         tenant):
    page = signed_in.get("/settings/system", environ_overrides=REMOTE)
    copied = signed_in.get_cookie(admin_app.config["SESSION_COOKIE_NAME"]).value
    signed_in.post("/settings/logout", data={"csrf_token": csrf(page.text)},
                   environ_overrides=REMOTE)
    thief = admin_app.test_client()
    thief.set_cookie(admin_app.config["SESSION_COOKIE_NAME"], copied)
    answer = thief.get("/settings/system", environ_overrides=REMOTE)
    assert answer.status_code == 302
    assert answer.location.endswith("/settings/login")
    assert sign_in(thief).status_code == 302  # signing in again opens a new session
    assert thief.get("/settings/system", environ_overrides=REMOTE).status_code == 200


def test_a_new_admin_token_ends_sessions_opened_with_the_old(admin_app, signed_in, tenant):
    admin_app.config["ADMIN_TOKEN"] = ADMIN_TOKEN + "-rotated"
    assert signed_in.get("/settings/system", environ_overrides=REMOTE).status_code == 302


def test_the_bearer_token_also_opens_the_page(admin_app, tenant):
    answer = admin_app.test_client().get("/settings/system", environ_overrides=REMOTE,
                                         headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    assert answer.status_code == 200


def test_the_session_cookie_is_secure_httponly_and_samesite_by_default(app):
    app.config["ADMIN_TOKEN"] = ADMIN_TOKEN  # SESSION_COOKIE_SECURE left at its default
    answer = app.test_client().get("/settings/login")
    cookie = answer.headers["Set-Cookie"]
    assert cookie.startswith("conversions_session=")
    for flag in ("Secure", "HttpOnly", "SameSite=Strict"):
        assert flag in cookie.split("; ")


def test_html_responses_carry_the_security_headers(admin_app, signed_in):
    for answer in (admin_app.test_client().get("/settings/login"),
                   signed_in.get("/settings/system", environ_overrides=REMOTE),
                   admin_app.test_client().get("/settings/system", environ_overrides=REMOTE,
                                               follow_redirects=True)):
        assert answer.mimetype == "text/html"
        policy = answer.headers["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in policy
        assert "default-src 'self'" in policy
        assert "unsafe-inline" not in policy
        assert answer.headers["X-Content-Type-Options"] == "nosniff"
        assert answer.headers["Referrer-Policy"] == "no-referrer"
        assert answer.headers["Cache-Control"] == "no-store"
    json_answer = admin_app.test_client().get("/healthz")
    assert json_answer.headers["X-Content-Type-Options"] == "nosniff"
    assert "Content-Security-Policy" not in json_answer.headers


def test_the_page_has_no_inline_script_or_style(signed_in, tenant):
    page = signed_in.get("/settings/system", environ_overrides=REMOTE).text
    assert "<script" not in page
    assert "<style" not in page
    assert " style=" not in page


def test_with_no_tenant_the_page_says_how_to_create_one(signed_in):
    page = signed_in.get("/settings/system", environ_overrides=REMOTE)
    assert page.status_code == 200
    assert "No tenants yet" in page.text
    assert "tenant create --domain" in page.text


def test_an_unknown_tenant_is_a_404_page(signed_in, tenant):
    page = signed_in.get("/settings/system?tenant_id=nope", environ_overrides=REMOTE)
    assert page.status_code == 404
    assert "No tenant has the id nope" in page.text


def test_guessing_the_token_is_rate_limited(admin_app, tenant):
    admin_app.config["SETTINGS_LOGIN_RATE_LIMIT"] = "3 per minute"
    client = admin_app.test_client()
    statuses = [sign_in(client, f"guess-{n}").status_code for n in range(4)]
    assert statuses == [401, 401, 401, 429]
    refused = sign_in(client)  # even the right token, until the window passes
    assert refused.status_code == 429
    assert refused.mimetype == "text/html"
    assert "Too many sign-in attempts" in refused.text


def test_sign_in_over_plain_http_with_a_secure_cookie_says_why_it_cannot_stick(app):
    app.config["ADMIN_TOKEN"] = ADMIN_TOKEN
    assert "plain-http" in app.test_client().get("/settings/login").text
    https = app.test_client().get("/settings/login", base_url="https://localhost")
    assert "plain-http" not in https.text
