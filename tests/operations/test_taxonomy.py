"""The error taxonomy: every code the service can answer, as data, with recent counts."""
from __future__ import annotations

import re
from pathlib import Path

from conversions.core import taxonomy
from conversions.web.errors import _HTTP_CODES

ROOT = Path(__file__).resolve().parents[2]
# ApiError(400, "code", ...), Failure(401, "code", ...), refuse(400, "code", ...),
# {"error": "code", ...}
EMITTED = re.compile(
    r'(?:ApiError|Failure|refuse)\(\s*[1-5]\d\d,\s*"([a-z_]+)"|"error":\s*"([a-z_]+)"')


def emitted_codes() -> set[str]:
    codes = set(_HTTP_CODES.values()) | {"http_error"}
    for path in [*ROOT.glob("conversions/**/*.py"), *ROOT.glob("middleware/src/wsgi_hmac/*.py")]:
        for match in EMITTED.finditer(path.read_text()):
            codes.add(match.group(1) or match.group(2))
    return codes


def test_every_code_the_code_base_can_emit_is_in_the_taxonomy():
    found = emitted_codes()
    assert {"missing_signature", "pii_rejected", "store_unavailable", "internal_error"} <= found
    assert found - set(taxonomy.ERRORS) == set()


def test_taxonomy_endpoint_explains_each_code_and_counts_refusals(client, send_goal, run_jobs):
    send_goal(session="x@example.com")
    send_goal(value=20000)
    send_goal(value=20001)
    send_goal(signature="00" * 32)
    run_jobs("flush")
    answer = client.get("/api/conversions/ingestion/error-taxonomy",
                        query_string={"window_seconds": 3600}).json
    by_code = {entry["error"]: entry for entry in answer["errors"]}
    assert set(by_code) == set(taxonomy.ERRORS)
    assert answer["window_seconds"] == 3600
    for entry in by_code.values():
        assert 400 <= entry["status"] <= 599
        assert entry["description"]
        assert entry["action"]
    assert (by_code["invalid_event"]["count"], by_code["invalid_event"]["dead_letters"]) == (2, 2)
    assert (by_code["pii_rejected"]["count"], by_code["pii_rejected"]["dead_letters"]) == (1, 1)
    assert (by_code["invalid_signature"]["count"],
            by_code["invalid_signature"]["dead_letters"]) == (1, None)
    assert by_code["store_unavailable"]["count"] == 0
