"""Checks over the whole test run, registered from ``tests/conftest.py``.

- Every log record of the run is written to ``tests/artifacts/logs/pytest.log``; at the end,
  that file and every gunicorn log of the run are searched for every secret the run issued
  (each ``accounts.create``/``rotate`` result, each postback token, the keys of
  ``tests/vectors/signing.json``, the admin tokens the tests configured). One found fails
  the run.
- schemathesis' case count is printed and written to ``tests/artifacts/schemathesis.json``.
"""
from __future__ import annotations

import base64
import contextlib
import functools
import json
import logging
from pathlib import Path

import pytest
from pythonjsonlogger.json import JsonFormatter

from conversions.tenants import accounts, postback_tokens
from tests import schemathesis_support, vectors

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
LOG_FILE = ARTIFACTS / "logs" / "pytest.log"
SERVER_LOGS = ARTIFACTS / "servers"

issued: set[str] = set()  # every secret the run handed out, in each form it may be written
_leaks: list[str] = []
_searched: list[str] = []


def forms(secret: str) -> set[str]:
    """The ways a secret could appear in text: as shown, and its key bytes re-encoded."""
    found = {secret}
    body = secret.removeprefix("whsec_")
    try:
        raw = base64.b64decode(body, validate=True) if secret.startswith("whsec_") \
            else bytes.fromhex(secret)
    except ValueError:
        return found
    return found | {body, raw.hex(), raw.hex().upper(), base64.b64encode(raw).decode()}


def record(*secrets: str) -> None:
    """Note secrets a test issued or configured, to be searched for in the logs."""
    for secret in secrets:
        if secret:
            issued.update(forms(secret))


def _recording(action):  # type: ignore[no-untyped-def]
    @functools.wraps(action)
    def wrapper(*args, **kwargs):  # type: ignore[no-untyped-def]
        result = action(*args, **kwargs)
        record(result.get("pixel_secret", ""), result.get("webhook_secret", ""),
               result.get("token", ""))
        return result

    return wrapper


def leaks(text: str, secrets: set[str]) -> list[str]:
    """Which of ``secrets`` occur in ``text`` (shortened, so the report does not leak them)."""
    return sorted(f"{secret[:6]}…" for secret in secrets if secret in text)


def pytest_configure(config: pytest.Config) -> None:
    accounts.create = _recording(accounts.create)
    accounts.rotate = _recording(accounts.rotate)
    postback_tokens.issue = _recording(postback_tokens.issue)
    LOG_FILE.parent.mkdir(parents=True, exist_ok=True)
    SERVER_LOGS.mkdir(parents=True, exist_ok=True)
    for old in SERVER_LOGS.glob("*.log"):
        old.unlink()
    handler = logging.FileHandler(LOG_FILE, mode="w", encoding="utf-8")
    handler.setFormatter(JsonFormatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    handler._suite_capture = True  # type: ignore[attr-defined]
    logging.getLogger().addHandler(handler)


def logged_text(config: pytest.Config) -> dict[str, str]:
    """Every log of the run: the captured records and each gunicorn log, by file."""
    for handler in logging.getLogger().handlers:
        with contextlib.suppress(ValueError):  # a stream pytest closed (a failed collection)
            handler.flush()
    files = [LOG_FILE, *SERVER_LOGS.glob("*.log")]
    factory = getattr(config, "_tmp_path_factory", None)
    if factory is not None:
        files += list(factory.getbasetemp().rglob("*.log"))
    return {str(path): path.read_text(errors="replace") for path in files if path.is_file()}


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    known = vectors.load()
    record(*(case["pixel_secret"] for case in known["goals"]),
           *(secret for case in known["webhooks"] for secret in case["webhook_secrets"]))
    for path, text in logged_text(session.config).items():
        _searched.append(path)
        found = leaks(text, issued)
        if found:
            _leaks.append(f"{path}: {', '.join(found)}")
    if _leaks and session.exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter) -> None:  # type: ignore[no-untyped-def]
    write = terminalreporter.write_line
    if schemathesis_support.cases:
        total = sum(schemathesis_support.cases.values())
        ARTIFACTS.joinpath("schemathesis.json").write_text(json.dumps(
            {"cases": total, "by_operation": dict(schemathesis_support.cases),
             "statuses": schemathesis_support.statuses}, indent=2))
        write(f"schemathesis: {total} cases over {len(schemathesis_support.cases)} "
              "operations and generation modes")
    write(f"secrets in logs: {len(issued)} forms of the run's secrets searched for in "
          f"{len(_searched)} log files: {'FOUND' if _leaks else 'none found'}")
    for leak in _leaks:
        write(f"SECRET FOUND IN LOGS: {leak}", red=True)
