#!/usr/bin/env python3
"""Turn the benchmark's CSV into the README's table and chart.

    cargo bench --bench compare              # writes target/bench-results.csv
    python3 scripts/bench_report.py          # writes docs/bench.svg, prints the table

Options: --csv PATH (default target/bench-results.csv), --svg PATH (default
docs/bench.svg). Standard library only. The chart shows, for each case, every
contender's median as a bar and its min..max as a line, chanio's bars dark;
the table lists the same numbers, so the two always agree.
"""

import argparse
import csv
import html
import sys
from collections import OrderedDict


def read_rows(path):
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    for row in rows:
        for key in ("median", "min", "max"):
            row[key] = float(row[key])
    return rows


def by_case(rows):
    """Rows grouped by case and unit: one chart panel shares one scale."""
    cases = OrderedDict()
    for row in rows:
        cases.setdefault(row["case"], OrderedDict()).setdefault(row["unit"], []).append(row)
    panels = OrderedDict()
    for case, units in cases.items():
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


def table(cases):
    lines = [
        "| case | contender | median | min | max | unit |",
        "|---|---|---:|---:|---:|---|",
    ]
    for case, rows in cases.items():
        for row in rows:
            name = row["contender"]
            if name.startswith("chanio"):
                name = f"**{name}**"
            lines.append(
                f"| {case} | {name} | {fmt(row['median'])} | {fmt(row['min'])} | "
                f"{fmt(row['max'])} | {row['unit']} ({row['better']} is better) |"
            )
    return "\n".join(lines)


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
            f"{html.escape(case)} ({html.escape(unit)}, {better} is better)</text>"
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


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--csv", default="target/bench-results.csv")
    parser.add_argument("--svg", default="docs/bench.svg")
    args = parser.parse_args()
    try:
        cases = by_case(read_rows(args.csv))
    except FileNotFoundError:
        sys.exit(f"{args.csv} not found: run `cargo bench --bench compare` first")
    with open(args.svg, "w") as f:
        f.write(svg(cases))
    print(table(cases))
    print(f"\nchart written to {args.svg}", file=sys.stderr)


if __name__ == "__main__":
    main()
