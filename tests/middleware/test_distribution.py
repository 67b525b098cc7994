"""What the repository builds, as ``pip install`` would: the middleware's and the Python client's
distributions, each one distinctive package; the repository root none at all."""
from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.support import ROOT

pytestmark = pytest.mark.slow

# Each distribution the repository builds, and the one top-level name its wheel may install.
DISTRIBUTIONS = {"middleware": "wsgi_hmac", "clients/python": "conversions_client"}
GENERIC = {"app", "wsgi", "config", "middleware", "tests", "conversions", "bench", "tools"}

USE = """
import io, json, wsgi_hmac
from wsgi_hmac import HeaderHmacScheme, HmacMiddleware, Key, Keyring, Route

def app(environ, start_response):
    start_response("200 OK", [])
    return [b"reached"]

lookup = lambda environ, fresh: Keyring("t", [Key("k", b"s")])
guarded = HmacMiddleware(app, [Route("/hooks/in", HeaderHmacScheme("X-Signature"), lookup)])
said = []
environ = {"REQUEST_METHOD": "POST", "PATH_INFO": "/hooks//in", "CONTENT_LENGTH": "2",
           "wsgi.input": io.BytesIO(b"{}")}
answer = b"".join(guarded(environ, lambda status, headers: said.append(status)))
print(json.dumps({"module": wsgi_hmac.__file__, "status": said[0],
                  "error": json.loads(answer)["error"]}))
"""


def build(source: Path, out: Path) -> list[Path]:
    """The sdist and wheel of ``source``, as ``python -m build`` makes them."""
    subprocess.run([sys.executable, "-m", "build", "--outdir", str(out), str(source)],
                   check=True, capture_output=True, timeout=300)
    return sorted(out.iterdir())


def top_level(wheel: Path) -> set[str]:
    with zipfile.ZipFile(wheel) as archive:
        return {name.split("/")[0] for name in archive.namelist()
                if not name.split("/")[0].endswith(".dist-info")}


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> dict[str, list[Path]]:
    return {source: build(ROOT / source, tmp_path_factory.mktemp(source.replace("/", "-")))
            for source in DISTRIBUTIONS}


@pytest.mark.parametrize("source", DISTRIBUTIONS)
def test_each_wheel_installs_one_distinctive_package(built, source):
    (wheel,) = [path for path in built[source] if path.suffix == ".whl"]
    assert top_level(wheel) == {DISTRIBUTIONS[source]}
    assert not top_level(wheel) & GENERIC


def test_the_repository_root_is_no_distribution(tmp_path):
    """``pip install .`` at the root refuses: nothing of the service lands in site-packages."""
    run = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet",
                          "--disable-pip-version-check", "-w", str(tmp_path), str(ROOT)],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode != 0
    assert list(tmp_path.iterdir()) == []


def test_the_middleware_passes_twine_check(built):
    run = subprocess.run([sys.executable, "-m", "twine", "check", "--strict",
                          *map(str, built["middleware"])],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    assert {path.name for path in built["middleware"]} == {
        "wsgi_hmac-0.1.0.tar.gz", "wsgi_hmac-0.1.0-py3-none-any.whl"}


def test_the_middleware_wheel_works_in_an_empty_venv_with_nothing_else(built, tmp_path):
    (wheel,) = [path for path in built["middleware"] if path.suffix == ".whl"]
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    where = "import sysconfig; print(sysconfig.get_path('purelib'))"
    site = Path(subprocess.run([python, "-c", where], capture_output=True, text=True,
                               check=True).stdout.strip())
    before = {path.name for path in site.iterdir()}
    subprocess.run([python, "-m", "pip", "install", "--quiet", "--no-index",
                    "--disable-pip-version-check", str(wheel)],
                   check=True, capture_output=True, timeout=120)
    added = {path.name for path in site.iterdir()} - before
    assert added == {"wsgi_hmac", "wsgi_hmac-0.1.0.dist-info"}  # no dependency came along
    script = tmp_path / "use.py"
    script.write_text(USE)
    run = subprocess.run([python, "-I", str(script)], capture_output=True, text=True,
                         check=True, timeout=60, cwd=tmp_path)
    answer = json.loads(run.stdout)
    assert answer["module"].startswith(str(site / "wsgi_hmac"))
    assert (answer["status"], answer["error"]) == ("401 Unauthorized", "missing_signature")
