"""The bench's table: printed, and written as JSON, Markdown and a PNG plot."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

COLUMNS = ("scenario", "requests/s", "events/s", "p50 ms", "p99 ms", "server CPU µs/request",
           "ratio", "target", "met", "errors", "rows stored / 2xx")


def _cells(row: dict[str, Any]) -> list[str]:
    ratio = row.get("ratio")
    met = row.get("met")
    check = row.get("rows_stored")
    return [
        row["scenario"],
        f"{row['rps']:,.0f}",
        f"{row['events_per_s']:,.0f}" if row.get("events_per_s") else "",
        f"{row['p50_ms']:.1f}",
        f"{row['p99_ms']:.1f}",
        _cpu(row),
        f"{ratio:.0%} of {row['ratio_to']}" if ratio is not None else "",
        row.get("target", ""),
        "" if met is None else ("yes" if met else "NO"),
        f"{row['non_2xx'] + row['socket_errors']:,}",
        "" if check is None else f"{check:,} / {row['answered_2xx']:,}"
        + (f" (+{row['unread_at_deadline']} unread)" if row["unread_at_deadline"] else "")
        + ("" if row["rows_ok"] else " MISMATCH"),
    ]


def _cpu(row: dict[str, Any]) -> str:
    """The server's CPU time per request (and per event for a batch)."""
    cpu, events = row.get("cpu_us"), row.get("events") or 1
    if cpu is None:
        return ""
    return f"{cpu:,.0f}" + (f" ({cpu / events:,.0f}/event)" if events > 1 else "")


def _load(machine: dict[str, Any]) -> str:
    before = machine["load_average_before"][0]
    after = machine.get("load_average_after", [before])[0]
    return f"{before:.1f} before, {after:.1f} after"


def markdown(rows: list[dict[str, Any]], machine: dict[str, Any]) -> str:
    lines = [f"Measured {machine['when']} on {machine['cpu']} ({machine['nproc']} cores), "
             f"{machine['duration']} s a scenario, {machine['connections']} connections, "
             f"gunicorn {machine['workers']}; load average {_load(machine)}.", "",
             "| " + " | ".join(COLUMNS) + " |", "|" + " --- |" * len(COLUMNS)]
    lines += ["| " + " | ".join(_cells(row)) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def text(rows: list[dict[str, Any]]) -> str:
    table = [list(COLUMNS)] + [_cells(row) for row in rows]
    widths = [max(len(r[i]) for r in table) for i in range(len(COLUMNS))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True))
                     for r in table)


def plot(rows: list[dict[str, Any]], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [row["scenario"] for row in rows]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 7), sharex=True)
    throughput = [row.get("events_per_s") or row["rps"] for row in rows]
    references = ("baseline", "Flask route, no work", "raw body", "naive, synchronous=FULL")
    colours = ["tab:grey" if name in references else "tab:blue" for name in names]
    top.bar(names, throughput, color=colours)
    top.set_ylabel("requests/s (events/s for batches)")
    top.set_yscale("log")
    top.set_title(title)
    bottom.bar(names, [row["p99_ms"] for row in rows], color=colours)
    bottom.axhline(15, color="tab:red", linestyle="--", linewidth=1, label="15 ms target")
    bottom.set_ylabel("p99 latency (ms)")
    bottom.set_yscale("log")
    bottom.legend()
    plt.setp(bottom.get_xticklabels(), rotation=30, ha="right")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def write(rows: list[dict[str, Any]], machine: dict[str, Any], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "latest.json").write_text(json.dumps({"machine": machine, "rows": rows}, indent=2))
    (out / "latest.md").write_text(markdown(rows, machine))
    plot(rows, out / "latest.png", f"conversions bench, {machine['when']}")
