"""``GET /lp.js``: one script, long-cached, revalidated by a strong ETag."""
from __future__ import annotations

import json
import re
from pathlib import Path

from conversions.ingest.snippet import first_touch_sources

ASSETS = Path(__file__).resolve().parents[2] / "conversions" / "ingest" / "assets"
DATA = ASSETS / "first_touch_sources.json"


def embedded_sources(script: bytes) -> dict:
    match = re.search(rb"var SOURCES = (\{.*?\});\n", script)
    assert match, "the script does not embed the sources"
    return json.loads(match.group(1))


def test_script_is_served_with_a_long_cache_and_a_strong_etag(client):
    response = client.get("/lp.js")
    assert response.status_code == 200
    assert response.mimetype == "text/javascript"
    assert response.cache_control.public
    assert response.cache_control.max_age == 86400
    etag, weak = response.get_etag()
    assert etag
    assert not weak
    assert "Set-Cookie" not in response.headers


def test_matching_etag_answers_304_without_a_body(client):
    first = client.get("/lp.js")
    again = client.get("/lp.js", headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304
    assert again.data == b""
    assert again.headers["ETag"] == first.headers["ETag"]
    other = client.get("/lp.js", headers={"If-None-Match": '"something-else"'})
    assert other.status_code == 200
    assert other.data == first.data


def test_max_age_is_configurable(app, client):
    app.config["LP_JS_MAX_AGE_SECONDS"] = 600
    assert client.get("/lp.js").cache_control.max_age == 600


def test_the_script_embeds_the_one_source_list(client):
    on_disk = json.loads(DATA.read_text())
    served = embedded_sources(client.get("/lp.js").data)
    assert served == first_touch_sources()
    assert served == {bucket: on_disk[bucket] for bucket in ("ai_search", "search", "social")}
    engines = {source["engine"] for source in served["ai_search"]}
    assert {"chatgpt", "perplexity", "gemini", "copilot", "claude"} <= engines


def test_source_list_is_well_formed():
    data = first_touch_sources()
    names = [source["engine"] for sources in data.values() for source in sources]
    assert len(names) == len(set(names))
    for source in (s for sources in data.values() for s in sources):
        assert source["hosts"], source
        for text in source["hosts"] + source["utm_sources"]:
            assert text == text.strip().lower(), source
