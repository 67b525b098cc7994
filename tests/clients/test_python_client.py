"""clients/python as a user installs it: ``pip install ./clients/python``, then used alone."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.support import ROOT
from tests.vectors import PATH, load

pytestmark = pytest.mark.slow

USE = """
import json, sys
sys.path.insert(0, sys.argv[1])
import conversions_client
from conversions_client import sign_goal
case = json.load(open(sys.argv[2], encoding="utf-8"))["goals"][0]
goal = dict(case["goal"])
signed = sign_goal(case["tenant_id"], case["pixel_secret"], goal.pop("event_name"),
                   goal.pop("session_id", None), **goal)
print(json.dumps({"module": conversions_client.__file__, "signature": signed.signature}))
"""


def test_pip_installs_it_and_it_works_alone(tmp_path):
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                    "--disable-pip-version-check", "--target", str(target),
                    str(ROOT / "clients" / "python")], check=True, timeout=300,
                   capture_output=True)
    installed = target / "conversions_client"
    assert (installed / "py.typed").is_file()
    script = tmp_path / "use.py"
    script.write_text(USE)
    # -I: no PYTHONPATH, no user site, not the script's folder; -S: no site-packages either.
    # So only the standard library and the installed copy can be imported.
    run = subprocess.run([sys.executable, "-I", "-S", str(script), str(target), str(PATH)],
                         capture_output=True, text=True, check=True, timeout=60, cwd=tmp_path)
    answer = json.loads(run.stdout)
    assert answer["module"].startswith(str(installed))
    assert answer["signature"] == load()["goals"][0]["escaped"]["signature"]
