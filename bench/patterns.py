"""CPU of the two rules that once backtracked: ``python -m bench.patterns [--rules FILE]``.

Times ``money()`` and ``pii_kind()`` on the inputs that made the old patterns quadratic, at
10 KiB, 64 KiB and 1 MiB; ``--rules FILE`` measures another copy of the rules module (e.g. an
older one from ``git show``). A case over ``--budget`` seconds is extrapolated (quadratically,
and marked) at the next size instead of run.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import time
from collections.abc import Callable
from types import ModuleType, SimpleNamespace
from typing import Any

SIZES = (10 * 1024, 64 * 1024, 1024 * 1024)


def load_rules(path: str | None) -> Any:
    """The rules to measure: ``money`` and ``pii_kind`` of the installed modules, or both from
    one older ``rules.py`` (before the layout put money in its own module)."""
    if path is None:
        from conversions.core import money, rules

        return SimpleNamespace(money=money.parse, pii_kind=rules.pii_kind)
    spec = importlib.util.spec_from_file_location("rules_under_test", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def cases(rules: ModuleType) -> dict[str, Callable[[int], Any]]:
    def decimal(size: int) -> Any:
        try:
            return rules.money("1" * (size - 1) + "x")
        except ValueError:
            return None

    def email(size: int) -> Any:
        return rules.pii_kind("a" * (size - 1) + "@")

    return {"decimal": decimal, "email": email}


def cpu_seconds(work: Callable[[int], Any], size: int) -> float:
    start = time.process_time()
    work(size)
    return time.process_time() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rules", help="a rules.py to measure instead of the installed one")
    parser.add_argument("--budget", type=float, default=120.0,
                        help="CPU seconds above which the next size is extrapolated")
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES),
                        help="input sizes in bytes (default: 10 KiB, 64 KiB, 1 MiB)")
    args = parser.parse_args()
    for name, work in cases(load_rules(args.rules)).items():
        last: tuple[int, float] | None = None
        for size in args.sizes:
            if last is not None and last[1] > args.budget:
                estimate = last[1] * (size / last[0]) ** 2
                row = {"case": name, "bytes": size, "cpu_s": round(estimate, 1),
                       "extrapolated": True}
            else:
                seconds = cpu_seconds(work, size)
                row = {"case": name, "bytes": size, "cpu_s": round(seconds, 6),
                       "extrapolated": False}
                last = (size, seconds)
            print(json.dumps(row), flush=True)  # one line as each is known: runs may be long


if __name__ == "__main__":
    main()
