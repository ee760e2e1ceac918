#!/usr/bin/env python3
"""Turn the benchmarks' CSV files into the README's tables and chart.

    cargo bench                                  # every case writes target/bench-results/CASE.csv
    python3 scripts/bench_report.py              # prints the tables, writes docs/bench.svg
    python3 scripts/bench_report.py --write-csv docs/bench-results.csv   # also keep the combined CSV

Options: --dir DIR (default target/bench-results: every CASE.csv in it, and
the CASE-targets.csv beside each), --csv PATH (a combined CSV instead, such
as docs/bench-results.csv; may be given more than once), --svg PATH (default
docs/bench.svg), --write-csv PATH (write the rows read, combined, to PATH).
Standard library only.

The chart shows, for each case, every contender's median as a bar and its
min..max as a line, chanio's bars dark, and the case's machine noise in its
title; the tables list the same numbers, so the two always agree. "spread"
is (max - min) / median of a contender's runs; "machine noise" is the same
for a fixed reference job timed on every core between the case's rounds
(see benches/common/mod.rs): a contender spreading far more than the noise
is noisy by itself, a case with high noise ran on a busy machine. The
reference job's median time shows steady load that does not spread: it
rises when other work shares the cores all along.
"""

import argparse
import csv
import glob
import html
import os
import sys
from collections import OrderedDict

# The order of cases in the tables and chart; a case not named here comes
# after these, in name order.
CASE_ORDER = [
    "spsc_small",
    "spsc_bulk",
    "handoff",
    "mpmc",
    "pipeline",
    "fanout",
    "broadcast_scaling",
    "many_paths",
    "late_readers_memory",
    "retention",
]

COLUMNS = [
    "case", "contender", "unit", "better", "median", "min", "max", "runs",
    "work_per_run", "message_bytes", "noise_pct", "reference_ms", "load_avg",
]


def read_rows(paths):
    rows = []
    for path in paths:
        with open(path, newline="") as f:
            for row in csv.DictReader(f):
                for key in ("median", "min", "max"):
                    row[key] = float(row[key])
                # CSVs from before the noise columns have none.
                for key in ("noise_pct", "reference_ms", "load_avg"):
                    value = row.get(key) or ""
                    row[key] = float(value) if value else None
                rows.append(row)
    return rows


def read_targets(paths):
    targets = []
    for path in paths:
        with open(path, newline="") as f:
            targets.extend(csv.DictReader(f))
    return targets


def case_key(case):
    return (CASE_ORDER.index(case), "") if case in CASE_ORDER else (len(CASE_ORDER), case)


def by_case(rows):
    """Rows grouped by case and unit: one chart panel shares one scale."""
    cases = {}
    for row in rows:
        cases.setdefault(row["case"], OrderedDict()).setdefault(row["unit"], []).append(row)
    panels = OrderedDict()
    for case in sorted(cases, key=case_key):
        units = cases[case]
        for unit, unit_rows in units.items():
            panels[case if len(units) == 1 else f"{case} [{unit}]"] = unit_rows
    return panels


def fmt(value):
    if value == 0:
        return "0"
    magnitude = abs(value)
    for limit, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if magnitude >= limit:
            return f"{value / limit:.3g}{suffix}"
    return f"{value:.3g}"


def spread(row):
    if row["median"]:
        return (row["max"] - row["min"]) / row["median"]
    # Every run gave 0 (a count of errors, say): no spread, unless they differ.
    return 0.0 if row["max"] == row["min"] else float("inf")


def noise_text(row):
    return "n/a" if row["noise_pct"] is None else f"{row['noise_pct']:.0f}%"


def table(cases):
    lines = [
        "| case | contender | median | min | max | spread | unit |",
        "|---|---|---:|---:|---:|---:|---|",
    ]
    for case, rows in cases.items():
        for row in rows:
            name = row["contender"]
            if name.startswith("chanio"):
                name = f"**{name}**"
            lines.append(
                f"| {case} | {name} | {fmt(row['median'])} | {fmt(row['min'])} | "
                f"{fmt(row['max'])} | {spread(row):.0%} | {row['unit']} ({row['better']} is better) |"
            )
    return "\n".join(lines)


def optional(value, form):
    return "n/a" if value is None else form.format(value)


def noise_table(cases):
    lines = [
        "| case | runs per contender | machine noise | reference job (ms) | load average at start |",
        "|---|---:|---:|---:|---:|",
    ]
    for case, rows in cases.items():
        first = rows[0]
        runs = "/".join(sorted({r["runs"] for r in rows}, key=int))
        lines.append(
            f"| {case} | {runs} | {noise_text(first)} | {optional(first['reference_ms'], '{:.1f}')} | "
            f"{optional(first['load_avg'], '{:.2f}')} |"
        )
    return "\n".join(lines)


def targets_list(targets):
    ordered = sorted(targets, key=lambda t: case_key(t["case"]))
    return "\n".join(f"- {t['met']}: {t['target']}" for t in ordered)


def svg(cases):
    width, label_w, bar_h, gap, title_h = 900, 340, 16, 4, 28
    plot_w = width - label_w - 90
    parts, y = [], 10
    for case, rows in cases.items():
        top = max(r["max"] for r in rows) or 1.0
        unit = rows[0]["unit"]
        better = rows[0]["better"]
        parts.append(
            f'<text x="10" y="{y + 18}" font-size="15" font-weight="bold">'
            f"{html.escape(case)} ({html.escape(unit)}, {better} is better; "
            f"machine noise {noise_text(rows[0])})</text>"
        )
        y += title_h
        for row in rows:
            is_chanio = row["contender"].startswith("chanio")
            colour = "#1f4e79" if is_chanio else "#9db7d5"
            length = plot_w * row["median"] / top
            lo = label_w + plot_w * row["min"] / top
            hi = label_w + plot_w * row["max"] / top
            mid = y + bar_h / 2
            parts.append(
                f'<text x="{label_w - 8}" y="{mid + 4}" font-size="12" text-anchor="end">'
                f"{html.escape(row['contender'])}</text>"
            )
            parts.append(
                f'<rect x="{label_w}" y="{y}" width="{length:.1f}" height="{bar_h}" fill="{colour}"/>'
            )
            parts.append(
                f'<line x1="{lo:.1f}" y1="{mid}" x2="{hi:.1f}" y2="{mid}" stroke="#333" stroke-width="1.5"/>'
            )
            parts.append(
                f'<text x="{label_w + length + 6:.1f}" y="{mid + 4}" font-size="11">{fmt(row["median"])}</text>'
            )
            y += bar_h + gap
        y += 14
    header = (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{y}" '
        f'font-family="sans-serif"><rect width="100%" height="100%" fill="white"/>'
    )
    return header + "".join(parts) + "</svg>\n"


def write_combined(rows, path):
    with open(path, "w", newline="") as f:
        out = csv.writer(f, lineterminator="\n")
        out.writerow(COLUMNS)
        for row in sorted(rows, key=lambda r: case_key(r["case"])):
            out.writerow(["" if row.get(k) is None else row.get(k) for k in COLUMNS])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", default="target/bench-results")
    parser.add_argument("--csv", action="append", help="a combined CSV instead of --dir")
    parser.add_argument("--svg", default="docs/bench.svg")
    parser.add_argument("--write-csv", help="write the combined rows here")
    args = parser.parse_args()
    if args.csv:
        row_files, target_files = args.csv, []
    else:
        found = sorted(glob.glob(os.path.join(args.dir, "*.csv")))
        row_files = [p for p in found if not p.endswith("-targets.csv")]
        target_files = [p for p in found if p.endswith("-targets.csv")]
    try:
        rows = read_rows(row_files)
        targets = read_targets(target_files)
    except FileNotFoundError as e:
        sys.exit(f"{e.filename} not found: run `cargo bench` first")
    if not rows:
        sys.exit(f"no results in {args.dir}: run `cargo bench` first")
    cases = by_case(rows)
    with open(args.svg, "w") as f:
        f.write(svg(cases))
    print(table(cases))
    print()
    print(noise_table(cases))
    if targets:
        print()
        print(targets_list(targets))
    if args.write_csv:
        write_combined(rows, args.write_csv)
        print(f"combined CSV written to {args.write_csv}", file=sys.stderr)
    print(f"\nchart written to {args.svg}", file=sys.stderr)


if __name__ == "__main__":
    main()
