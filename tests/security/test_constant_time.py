"""Secrets are compared in constant time: ``hmac.compare_digest``, never ``==``."""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SERVICE_CODE = sorted(
    [*ROOT.joinpath("conversions").rglob("*.py"),
     *ROOT.joinpath("middleware", "src").rglob("*.py"),
     ROOT / "app.py", ROOT / "wsgi.py"]
)
SECRET_NAME = re.compile(r"secret|signature|token|digest|hmac|mac$|^sig$|_sig$|password", re.I)
CONSTANT = re.compile(r"^[A-Z0-9_]+$")  # SECRET_KINDS is a list of kinds, not a secret
EQUALITY = (ast.Eq, ast.NotEq, ast.In, ast.NotIn)


def _names(node: ast.AST):
    for inner in ast.walk(node):
        if isinstance(inner, ast.Name):
            yield inner.id
        elif isinstance(inner, ast.Attribute):
            yield inner.attr
        elif isinstance(inner, ast.Call) and isinstance(inner.func, ast.Name):
            yield inner.func.id


def secret_comparisons(source: str) -> list[str]:
    """Every ``==``/``!=``/``in`` whose operands name a secret, signature, token or digest."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Compare) or not any(isinstance(op, EQUALITY)
                                                        for op in node.ops):
            continue
        operands = [node.left, *node.comparators]
        if any(SECRET_NAME.search(name) and not CONSTANT.match(name)
               for operand in operands for name in _names(operand)):
            found.append(f"line {node.lineno}: {ast.unparse(node)}")
    return found


def calls(source: str, dotted: str) -> bool:
    module, _, name = dotted.rpartition(".")
    return any(isinstance(node, ast.Attribute) and node.attr == name
               and isinstance(node.value, ast.Name) and node.value.id == module
               for node in ast.walk(ast.parse(source)))


@pytest.mark.parametrize("path", SERVICE_CODE, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_secret_is_compared_with_equality(path):
    assert secret_comparisons(path.read_text()) == []


@pytest.mark.parametrize("path", SERVICE_CODE, ids=lambda p: str(p.relative_to(ROOT)))
def test_code_that_computes_a_mac_compares_it_in_constant_time(path):
    source = path.read_text()
    if calls(source, "hmac.new") or calls(source, "hmac.digest"):
        assert calls(source, "hmac.compare_digest"), path


def test_the_token_and_signature_checks_use_compare_digest():
    for module in ("conversions/web/auth.py", "middleware/src/wsgi_hmac/schemes.py"):
        assert calls((ROOT / module).read_text(), "hmac.compare_digest"), module


@pytest.mark.parametrize("snippet", [
    "ok = signature == expected",
    "ok = request.headers['X'] != self.webhook_secret",
    "ok = hmac.new(k, m, 'sha256').hexdigest() == sent",
    "ok = presented in tokens",
    "if given_sig == computed: pass",
])
def test_the_check_finds_an_equality_on_a_secret(snippet):
    assert secret_comparisons(snippet)


def test_the_check_leaves_other_comparisons_alone():
    assert secret_comparisons("ok = kind in SECRET_KINDS and status == 200") == []
