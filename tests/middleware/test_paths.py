"""A route guards every spelling of its path that a router may send to the same view.

The environ is built by hand (no werkzeug test client, which would decode and tidy the path
first), as a server that passes the raw path on would build it."""
from __future__ import annotations

import io
import json
import time

import pytest

from wsgi_hmac import HeaderHmacScheme, HmacMiddleware, Key, Keyring, Route
from wsgi_hmac.paths import may_differ, normal_path

SECRET = b"\x01" * 32


def lookup(environ, fresh):
    return Keyring("tenant-1", [Key("k1", SECRET)])


def reached_app(environ, start_response):
    start_response("200 OK", [("Content-Type", "application/json")])
    return [json.dumps({"verified": environ.get("hmac.verified", False)}).encode()]


def call(app, path: str, method: str = "POST", script_name: str = "") -> tuple[str, dict]:
    body = b'{"a":1}'
    environ = {
        "REQUEST_METHOD": method, "SCRIPT_NAME": script_name, "PATH_INFO": path,
        "QUERY_STRING": "", "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1", "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body), "wsgi.url_scheme": "http",
    }
    statuses = []
    answer = b"".join(app(environ, lambda status, headers: statuses.append(status)))
    return statuses[0], json.loads(answer)


def guarded(path: str = "/hooks/in") -> HmacMiddleware:
    return HmacMiddleware(reached_app, [Route(path, HeaderHmacScheme("X-Signature"), lookup)])


NEAR_MISSES = ["//hooks/in", "/hooks//in", "/hooks/in/", "/hooks/%69n", "/hooks/%2569n",
               "/hooks/%2Fin", "/hooks/./in", "/hooks/x/../in", "hooks/in", "/%68ooks/in//"]


@pytest.mark.parametrize("path", ["/hooks/in", *NEAR_MISSES])
def test_an_unsigned_request_to_any_spelling_of_the_path_never_reaches_the_app(path):
    status, answer = call(guarded(), path)
    assert status == "401 Unauthorized"
    assert answer["error"] == "missing_signature"


@pytest.mark.parametrize("method", ["post", "Post"])
def test_the_method_is_matched_in_capitals_as_frameworks_read_it(method):
    status, answer = call(guarded(), "/hooks/in", method=method)
    assert (status, answer["error"]) == ("401 Unauthorized", "missing_signature")


def test_a_route_written_with_a_trailing_slash_guards_the_path_without_one():
    status, _ = call(guarded("/hooks/in/"), "/hooks/in")  # Django's path("hooks/in/")
    assert status == "401 Unauthorized"


@pytest.mark.parametrize(("script_name", "path"), [
    pytest.param("/app", "/hooks/in", id="route-inside-the-mount"),
    pytest.param("", "/app/hooks/in", id="middleware-outside-the-mount"),
    pytest.param("/app/", "/hooks/in", id="mount-with-trailing-slash"),
])
def test_a_mounted_app_is_guarded_whether_the_route_names_the_mount_or_not(script_name, path):
    for route in ("/hooks/in", "/app/hooks/in"):
        if route == "/hooks/in" and not script_name:
            continue  # the full path /app/hooks/in is another path than /hooks/in
        status, _ = call(guarded(route), path, script_name=script_name)
        assert status == "401 Unauthorized", (route, script_name, path)


@pytest.mark.parametrize("path", ["/hooks/inn", "/hooks/in/x", "/hooks", "/", "", "/hooks/in%00"])
def test_other_paths_pass_through(path):
    status, answer = call(guarded(), path)
    assert (status, answer) == ("200 OK", {"verified": False})


def test_other_methods_pass_through():
    assert call(guarded(), "/hooks//in", method="GET") == ("200 OK", {"verified": False})


def test_a_route_path_in_unicode_guards_its_utf8_bytes():
    app = guarded("/hooks/café")
    assert call(app, "/hooks/caf\xc3\xa9")[0] == "401 Unauthorized"  # WSGI text of the bytes
    assert call(app, "/hooks/caf%C3%A9")[0] == "401 Unauthorized"


def test_two_routes_for_one_normal_path_are_refused_at_start_up():
    scheme = HeaderHmacScheme("X-Signature")
    with pytest.raises(ValueError, match="two routes"):
        HmacMiddleware(reached_app, [Route("/a", scheme, lookup), Route("/a/", scheme, lookup)])


@pytest.mark.parametrize(("path", "normal"), [
    ("/a/b", "/a/b"), ("", "/"), ("/", "/"), ("///", "/"), ("/a/../../b", "/b"),
    ("/caf%C3%A9", "/café"), ("/caf\xc3\xa9", "/café"), ("/\u20ac", "/\u20ac"),
    ("/%25%32%35", "/%"), ("/%ff", "/\ufffd"), ("/\ud800", "/?"), ("/%zz", "/%zz"),
])
def test_normal_path(path, normal):
    assert normal_path(path) == normal
    assert may_differ(path) or path == normal


@pytest.mark.parametrize("unit", ["%25", "%2541", "%252541", "/..", "//", "/%ff"])
def test_a_hostile_path_at_gunicorns_line_limit_costs_little_cpu(unit):
    path = "/" + unit * (8190 // len(unit))  # gunicorn's limit_request_line here is 8190
    started = time.process_time()
    normal_path(path)
    assert time.process_time() - started < 0.05  # about 1 ms: the ceiling catches any blow-up
