#!/usr/bin/env python3
"""Charts for Tern's benchmarks, as SVG (Python 3 standard library only: no plotting library).

  charts.py compare RESULTS.json -o OUT.svg
      Benchmarks/compare/compare.sh's results: a panel per metric (TCP 1 and 4 streams, UDP 64-octet
      packet rate, ping RTT) with a bar per system, and the subject's ratios to wireguard-go and veth
      against issue 8's targets.
  charts.py roaming-results --csv handovers.csv [--timeline timeline.jsonl] [--meta KEY=VALUE ...] -o OUT.json
      Bundles Benchmarks/roaming/roaming.sh's per-handover CSV and probe timelines with the run's
      details into one results file (the input of `charts.py roaming`).
  charts.py roaming RESULTS.json -o OUT.svg
      The roaming benchmark's handover timeline.

Samples to try it on: Benchmarks/lib/samples/ (test_charts.py renders them).
"""
import argparse
import csv
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import comparechart  # noqa: E402
import roamingchart  # noqa: E402


def load(path):
    with open(path) as f:
        return json.load(f)


def write(path, text):
    """Written beside and renamed, so a reader never sees half a file."""
    temporary = path + ".tmp"
    with open(temporary, "w") as f:
        f.write(text)
    os.replace(temporary, path)


def cell(text):
    """A CSV cell as JSON: empty is null, numbers are numbers, anything else stays text."""
    if text is None or text == "":
        return None
    try:
        number = float(text)
    except ValueError:
        return text
    return int(number) if number.is_integer() and "." not in text else number


def meta_value(text):
    try:
        return json.loads(text)
    except ValueError:
        return text


def roaming_results(a):
    results = {"kind": "tern-roaming", "version": 1}
    for item in a.meta or []:
        key, _, text = item.partition("=")
        if key in ("systems", "scenarios"):
            results[key] = text.split()
        elif key.startswith("note."):
            results.setdefault("notes", {})[key[5:]] = text
        else:
            results[key] = meta_value(text)
    rows = []
    if os.path.exists(a.csv):
        with open(a.csv) as f:
            rows = [{k: cell(v) for k, v in row.items()} for row in csv.DictReader(f)]
    timelines = []
    if a.timeline and os.path.exists(a.timeline):
        with open(a.timeline) as f:
            timelines = [json.loads(line) for line in f if line.strip()]
    results["rows"] = rows
    results["timelines"] = timelines
    # Compact: the timelines' bins are thousands of small numbers.
    write(a.output, json.dumps(results, separators=(",", ":")) + "\n")
    return 0


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    compare = sub.add_parser("compare")
    compare.add_argument("results")
    compare.add_argument("-o", "--output", required=True)
    roaming = sub.add_parser("roaming")
    roaming.add_argument("results")
    roaming.add_argument("-o", "--output", required=True)
    bundle = sub.add_parser("roaming-results")
    bundle.add_argument("--csv", required=True)
    bundle.add_argument("--timeline")
    bundle.add_argument("--meta", action="append", help="KEY=VALUE (JSON values are parsed)")
    bundle.add_argument("-o", "--output", required=True)
    a = parser.parse_args()
    if a.command == "compare":
        write(a.output, comparechart.render(load(a.results)))
    elif a.command == "roaming":
        write(a.output, roamingchart.render(load(a.results)))
    else:
        return roaming_results(a)
    return 0


if __name__ == "__main__":
    sys.exit(main())
