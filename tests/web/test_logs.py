"""Log records: every postback token masked, in the message, the traceback and the stack."""
from __future__ import annotations

import logging

import pytest
from pythonjsonlogger.json import JsonFormatter

from conversions.core.postback_providers import PATH as PATH_TEMPLATE
from conversions.core.postback_providers import PROVIDERS
from conversions.web.logs import mask_path, mask_tokens

TOKEN = "pb_Q2hhbmdlZC1ieS10aGUtdGVzdC1vbmx5LTEyMzQ"
PATH = f"/api/conversions/postback/adjust/{TOKEN}"


@pytest.mark.parametrize(("text", "masked"), [
    pytest.param(f"GET {PATH}?event=x HTTP/1.1", "GET /api/conversions/postback/adjust/[token]"
                 "?event=x HTTP/1.1", id="request-line"),
    pytest.param(f"https://conv.example{PATH}", "https://conv.example/api/conversions/"
                 "postback/adjust/[token]", id="url-at-the-end"),
    pytest.param(f"line: '{PATH}\\x00'", "line: '/api/conversions/postback/adjust/[token]\\x00'",
                 id="repr-escape"),
    pytest.param(f'{{"path": "{PATH}", "n": 1}}', '{"path": "/api/conversions/postback/adjust/'
                 '[token]", "n": 1}', id="json"),
    pytest.param(f"{PATH} and {PATH}#x", "/api/conversions/postback/adjust/[token] and "
                 "/api/conversions/postback/adjust/[token]#x", id="twice"),
    pytest.param(f"GET /api/conversions/postback/\xc2\xa0x\x85?<&/{TOKEN} HTTP/1.1",
                 "GET /api/conversions/postback/\xc2\xa0x\x85?<&/[token] HTTP/1.1",
                 id="any-provider-as-gunicorn-decodes-it"),
    pytest.param(f"/api/conversions/postback//{TOKEN}",
                 "/api/conversions/postback//[token]", id="no-provider"),
    pytest.param(f"{PATH}/more", "/api/conversions/postback/adjust/[token]", id="more-path"),
    pytest.param("GET /api/conversions/postback/adjust HTTP/1.1",
                 "GET /api/conversions/postback/adjust HTTP/1.1", id="no-token"),
    pytest.param("100% of /api/conversions/pixel", "100% of /api/conversions/pixel",
                 id="other-path"),
])
def test_mask_tokens(text, masked):
    assert mask_tokens(text) == masked


@pytest.mark.parametrize(("path", "masked"), [
    (PATH, "/api/conversions/postback/adjust/[token]"),
    (f"/api/conversions/postback/a \" b/{TOKEN} x/y", "/api/conversions/postback/a \" b/[token]"),
    ("/api/conversions/postback/adjust", "/api/conversions/postback/adjust"),
    ("/api/conversions/pixel", "/api/conversions/pixel"),
])
def test_mask_path(path, masked):
    assert mask_path(path) == masked


def test_the_route_of_every_provider_is_masked():
    for provider in PROVIDERS:
        url = PATH_TEMPLATE.format(provider=provider, token=TOKEN)
        assert mask_tokens(f"GET {url}?a=1") == \
            f"GET {PATH_TEMPLATE.format(provider=provider, token='[token]')}?a=1"


def test_every_record_is_masked_whoever_logs_it_and_however_it_is_written(app, caplog):
    """The message, its arguments, an exception quoting the URL and the stack: in the text
    and the JSON formats alike."""
    log = logging.getLogger("gunicorn.error")  # a logger that is not the service's
    try:
        raise RuntimeError(f"could not handle {PATH}")
    except RuntimeError:
        log.exception("Error handling request %s", PATH, stack_info=True)
    log.warning("Invalid request line: %r", f"GET  {PATH} HTTP/1.1")
    records = [r for r in caplog.records if r.name == "gunicorn.error"]
    assert len(records) == 2
    for formatter in (logging.Formatter(), JsonFormatter()):
        written = "\n".join(formatter.format(record) for record in records)
        assert TOKEN not in written
        assert "Error handling request /api/conversions/postback/adjust/[token]" in written
        assert "RuntimeError: could not handle /api/conversions/postback/adjust/[token]" \
            in written
        assert "Invalid request line: 'GET  /api/conversions/postback/adjust/[token] " \
            "HTTP/1.1'" in written


def test_a_decoded_path_among_named_arguments_is_masked_exactly(app, caplog):
    """gunicorn's access log passes its atoms by name; the path is decoded, so a provider
    segment may hold spaces and quotes."""
    path = f'/api/conversions/postback/a "b/{TOKEN}'
    logging.getLogger("gunicorn.access").info('"GET %(U)s HTTP/1.1" %(s)s',
                                              {"U": path, "s": "404"})
    (record,) = [r for r in caplog.records if r.name == "gunicorn.access"]
    assert record.getMessage() == '"GET /api/conversions/postback/a "b/[token] HTTP/1.1" 404'


def test_a_record_without_a_token_keeps_its_exception(app, caplog):
    try:
        raise ValueError("nothing secret")
    except ValueError:
        logging.getLogger("tests").exception("failed %d times", 2)
    (record,) = [r for r in caplog.records if r.name == "tests"]
    assert record.getMessage() == "failed 2 times"
    assert record.exc_info is not None
    assert record.exc_info[0] is ValueError
