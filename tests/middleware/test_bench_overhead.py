"""middleware/bench_overhead.py runs and prints every figure the middleware's README quotes."""
from __future__ import annotations

import re
import subprocess
import sys

from tests.support import ROOT


def test_the_overhead_script_prints_each_figure():
    run = subprocess.run([sys.executable, str(ROOT / "middleware" / "bench_overhead.py"),
                          "--rounds", "50"], capture_output=True, text=True, check=True,
                         timeout=120)
    rows = re.findall(r"^(passed through|header scheme|Standard Webhooks)\b[^:\n]* (-?[\d.]+)$",
                      run.stdout, re.M)
    assert [name for name, _ in rows] == ["passed through", "header scheme", "Standard Webhooks"]
    assert re.search(r"^Standard Webhooks verification: wsgi_hmac [\d.]+, standardwebhooks "
                     r"Webhook.verify [\d.]+ \([\d.]+x the time\)$", run.stdout, re.M)
