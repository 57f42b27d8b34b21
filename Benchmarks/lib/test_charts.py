#!/usr/bin/env python3
"""Tests for the benchmark charts (Python 3 standard library only; run by scripts/test.sh):

    python3 Benchmarks/lib/test_charts.py

They render the samples in Benchmarks/lib/samples/, parse the SVG as XML and look for the bars, lines
and points the data calls for; and they run probe.py's timeline export on a made-up probe log with a
known outage. Nothing here needs root or the network.
"""
import csv
import json
import os
import subprocess
import sys
import tempfile
import unittest
import xml.etree.ElementTree as ElementTree

HERE = os.path.dirname(os.path.abspath(__file__))
SAMPLES = os.path.join(HERE, "samples")
PROBE = os.path.join(HERE, "..", "roaming", "probe.py")
SVG = "{http://www.w3.org/2000/svg}"
sys.path.insert(0, HERE)

import comparechart  # noqa: E402
import roamingchart  # noqa: E402


def parse(svg_text):
    root = ElementTree.fromstring(svg_text)
    assert root.tag == SVG + "svg", root.tag
    return root


def shapes(root, tag, **attributes):
    """Elements `tag` whose data-* attributes have the given values (data_system="tern" ...)."""
    found = []
    for element in root.iter(SVG + tag):
        if all(element.get(k.replace("_", "-")) == str(v) for k, v in attributes.items()):
            found.append(element)
    return found


def texts(root):
    return ["".join(t.itertext()) for t in root.iter(SVG + "text")]


class CompareChartTests(unittest.TestCase):
    def setUp(self):
        with open(os.path.join(SAMPLES, "compare-sample.json")) as f:
            self.results = json.load(f)
        self.root = parse(comparechart.render(self.results))

    def test_a_bar_per_system_and_metric(self):
        for system in self.results["systems"]:
            for metric in ("tcp1", "tcp4", "udp64", "rtt"):
                bars = shapes(self.root, "rect", data_system=system["name"], data_metric=metric)
                self.assertEqual(len(bars), 1, (system["name"], metric))
        tern_tcp1 = shapes(self.root, "rect", data_system="tern", data_metric="tcp1")[0]
        self.assertAlmostEqual(float(tern_tcp1.get("data-value")), 1.12)

    def test_the_towering_bar_is_cut_and_says_so(self):
        veth = shapes(self.root, "rect", data_system="veth", data_metric="tcp1")[0]
        self.assertEqual(veth.get("data-clipped"), "yes")
        self.assertIn("16.4", texts(self.root))
        tern = shapes(self.root, "rect", data_system="tern", data_metric="tcp1")[0]
        self.assertIsNone(tern.get("data-clipped"))
        self.assertGreater(float(veth.get("height")), float(tern.get("height")))

    def test_ratios_against_the_targets(self):
        ratios = {(r.get("data-ratio"), r.get("data-reference")): r for r in self.root.iter(SVG + "rect")
                  if r.get("data-ratio")}
        self.assertEqual(set(ratios), {("tcp1", "wireguard-go"), ("udp64", "wireguard-go"), ("rtt", "wireguard-go"),
                                       ("tcp1", "veth")})
        self.assertAlmostEqual(float(ratios[("tcp1", "wireguard-go")].get("data-value")), 1.12 / 0.49, places=3)
        self.assertAlmostEqual(float(ratios[("rtt", "wireguard-go")].get("data-value")), 0.31 / 0.54, places=3)
        labels = texts(self.root)
        for wanted in ("target ≥ 6×", "target ≥ 3×", "target ≤ 0.4×", "target ≥ 0.2×"):
            self.assertIn(wanted, labels)
        self.assertTrue(any("target not met" in t for t in labels))

    def test_missing_values_and_notes(self):
        results = json.loads(json.dumps(self.results))
        results["systems"][2].update(tcp1_gbps=None, note="FAILED: tunnel did not pass a ping")
        del results["systems"][1]  # no wireguard-go: no ratios to it
        root = parse(comparechart.render(results))
        self.assertEqual(shapes(root, "rect", data_system="openvpn", data_metric="tcp1"), [])
        self.assertIn("openvpn: FAILED: tunnel did not pass a ping", texts(root))
        references = {r.get("data-reference") for r in root.iter(SVG + "rect") if r.get("data-ratio")}
        self.assertEqual(references, {"veth"})


class RoamingChartTests(unittest.TestCase):
    def setUp(self):
        with open(os.path.join(SAMPLES, "roaming-sample.json")) as f:
            self.results = json.load(f)
        self.root = parse(roamingchart.render(self.results))

    def test_a_timeline_per_system_scenario_and_direction(self):
        for timeline in self.results["timelines"]:
            for direction in timeline["directions"]:
                lines = shapes(self.root, "polyline", data_system=timeline["system"], data_direction=direction)
                self.assertGreaterEqual(len(lines), 1, (timeline["system"], timeline["scenario"], direction))
        total = sum(len(t["directions"]) for t in self.results["timelines"])
        self.assertEqual(len(list(self.root.iter(SVG + "polyline"))), total)

    def test_every_handover_is_a_point(self):
        measured = [r for r in self.results["rows"]
                    if isinstance(r.get("first_rx_after_move_ms" if r["scenario"] == "idle" else "outage_ms"),
                                  (int, float))]
        points = [c for c in self.root.iter(SVG + "circle") if c.get("data-scenario")]
        self.assertEqual(len(points), len(measured))

    def test_terns_own_records(self):
        steps = [e for e in self.root.iter() if e.get("data-step")]
        expected = sum(1 for r in self.results["rows"] if r["system"] == "tern"
                       and (r["direction"] == "MN->HA" or r["scenario"] == "idle")
                       for k in ("tern_bu_sent_ms", "tern_ba_ms", "tern_first_data_ms")
                       if isinstance(r.get(k), (int, float)))
        self.assertGreater(expected, 0)
        self.assertEqual(len(steps), expected)


class ProbeTimelineTests(unittest.TestCase):
    """probe.py analyze --timeline on a made-up run: 1000/s each way, one move, 40 ms without delivery."""

    def test_the_gap_lands_in_the_right_bins(self):
        rate, start, offset = 1000, 10_000_000_000, 1_700_000_000_000_000_000
        move = offset + start + 2_000_000_000  # wall-clock ns, 2 s into the run
        end_mono = start + 5_000_000_000
        with tempfile.TemporaryDirectory() as d:
            for side, peer in (("mn", "ha"), ("ha", "mn")):
                meta = {"rate": rate, "offset_ns": offset, "start_ns": start, "end_ns": end_mono,
                        "scheduled": 5000, "send_errors": [], "sent": 5000, "received": 0}
                with open(os.path.join(d, side + ".json"), "w") as f:
                    json.dump(meta, f)
                with open(os.path.join(d, peer + ".rx"), "w") as f:
                    for seq in range(5000):
                        sent = start + seq * 1_000_000
                        if 2_100_000_000 <= sent - start < 2_140_000_000:
                            continue  # lost: 100..140 ms after the move
                        f.write("%d %d %d\n" % (seq, sent, sent + 200_000))
            with open(os.path.join(d, "moves.txt"), "w") as f:
                f.write("move 1 %d %d 0 0 wifi lte %d\nend %d\n" % (move, move + 3_000_000, move + 1_000_000_000,
                                                                  offset + end_mono))
            timeline = os.path.join(d, "timeline.jsonl")
            table = os.path.join(d, "handovers.csv")
            subprocess.run([sys.executable, PROBE, "analyze", "--dir", d, "--system", "tern", "--scenario",
                            "make-before-break", "--csv", table, "--timeline", timeline], check=True)
            with open(timeline) as f:
                record = json.loads(f.readline())
            with open(table) as f:
                rows = list(csv.DictReader(f))
        self.assertEqual([r["lost"] for r in rows], ["40", "40"])
        for direction in ("MN->HA", "HA->MN"):
            stats = record["directions"][direction]
            self.assertAlmostEqual(stats["outage_ms"], 41.0, delta=0.01)
            self.assertAlmostEqual(stats["gap_from_ms"], 99.2, delta=0.01)
            bins = stats["bins"]
            first = (100 - record["start_ms"]) // record["bin_ms"]  # the bin that starts 100 ms after the move
            self.assertEqual(bins[first - 1], 5)
            self.assertEqual(bins[first:first + 8], [0] * 8)
            self.assertEqual(bins[first + 8], 5)
        self.assertEqual([m["label"] for m in record["marks"]], ["old link down", "new link up"])
        self.assertAlmostEqual(record["marks"][0]["ms"], 1000.0)


class BundleTests(unittest.TestCase):
    def test_roaming_results_bundle(self):
        with tempfile.TemporaryDirectory() as d:
            table = os.path.join(d, "handovers.csv")
            with open(table, "w", newline="") as f:
                w = csv.writer(f)
                w.writerow(["system", "scenario", "handover", "outage_ms", "first_rx_after_move_ms", "lost"])
                w.writerow(["tern", "idle", "1", "", "1.625", "2"])
                w.writerow(["openvpn", "idle", "1", "", "timeout>30000", "30000"])
            out = os.path.join(d, "results.json")
            subprocess.run([sys.executable, os.path.join(HERE, "charts.py"), "roaming-results", "--csv", table,
                            "--meta", "handovers=1", "--meta", "systems=tern openvpn", "--meta", "note.openvpn=why",
                            "--meta", "load_start=0.10 0.20 0.30 1/2 3", "-o", out], check=True)
            with open(out) as f:
                results = json.load(f)
        self.assertEqual(results["handovers"], 1)
        self.assertEqual(results["systems"], ["tern", "openvpn"])
        self.assertEqual(results["notes"], {"openvpn": "why"})
        self.assertEqual(results["load_start"], "0.10 0.20 0.30 1/2 3")
        self.assertEqual(results["rows"][0]["first_rx_after_move_ms"], 1.625)
        self.assertIsNone(results["rows"][0]["outage_ms"])
        self.assertEqual(results["rows"][1]["first_rx_after_move_ms"], "timeout>30000")
        parse(roamingchart.render(results))


if __name__ == "__main__":
    unittest.main(verbosity=1)
