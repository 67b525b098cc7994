"""What config/gunicorn.conf.py's worker hooks do in each worker once the app is loaded."""
from __future__ import annotations

import gc
import runpy
import weakref

from tests.support import ROOT


class _Node:
    pass


def test_a_loaded_worker_leaves_the_app_out_of_full_collections(monkeypatch, tmp_path):
    monkeypatch.setenv("CONVERSIONS_BODY_READERS", "6")  # the config sets it by default
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))  # else it makes one
    hooks = runpy.run_path(str(ROOT / "config" / "gunicorn.conf.py"))
    gc.unfreeze()
    garbage = _Node()
    garbage.me = garbage  # a cycle only the collector frees
    gone = weakref.ref(garbage)
    del garbage
    try:
        hooks["post_worker_init"](None)
        assert gc.get_freeze_count() > 0
        assert gone() is None  # collected before the freeze, not kept for good
    finally:
        gc.unfreeze()
