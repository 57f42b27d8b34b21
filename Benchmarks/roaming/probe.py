#!/usr/bin/env python3
"""Probe stream for Benchmarks/roaming/roaming.sh (standard library only).

  probe.py run     one UDP socket: sends datagrams on an absolute 1/rate schedule to --peer (unless
                   --no-send) and records every datagram it receives (seq, send time, receive time).
                   Every datagram: magic, sequence number, CLOCK_MONOTONIC send time (ns), padding.
                   CLOCK_MONOTONIC is one clock for every namespace of the machine, so one-way times work.
                   Stops on SIGTERM/SIGINT, after --duration seconds, or (--exit-on-first) at the
                   first datagram received; then writes LOG.json (meta) and LOG.rx (seq send_ns recv_ns).
                   Every 50 ms it rewrites --status with "<wall-clock ns of last receipt> <received>".
  probe.py analyze per-handover numbers of one scenario run (a directory with mn.*, ha.*, moves.txt),
                   appended as CSV rows; with --timeline, also the median handover's receive timeline
                   (one JSON line) for the chart.
  probe.py report  the summary table (median / p95 per system, scenario, direction) from the CSV.
"""
import argparse
import csv
import json
import math
import os
import select
import signal
import socket
import struct
import sys
import time

MAGIC = b"TRNP"
HEADER = struct.Struct("!4sIQ")  # magic, seq, send CLOCK_MONOTONIC ns
PAYLOAD = 64


def now_mono():
    return time.clock_gettime_ns(time.CLOCK_MONOTONIC)


def clock_offset():
    """wall-clock ns minus monotonic ns, sampled tightly (bash marks moves with $EPOCHREALTIME)."""
    best = None
    for _ in range(5):
        a = now_mono()
        r = time.time_ns()
        b = now_mono()
        if best is None or b - a < best[0]:
            best = (b - a, r - (a + b) // 2)
    return best[1]


def cmd_run(a):
    stop = {"flag": False, "start": None}

    def on_term(signum, frame):
        stop["flag"] = True

    def on_usr1(signum, frame):
        if stop["start"] is None:
            stop["start"] = now_mono()

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    signal.signal(signal.SIGUSR1, on_usr1)

    family = socket.AF_INET6 if ":" in a.bind else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    sock.bind((a.bind, a.port))
    sock.setblocking(False)
    peer = (a.peer, a.peer_port)

    offset = clock_offset()
    created = now_mono()
    deadline = created + int(a.duration * 1e9)
    if not a.start_on_signal:
        stop["start"] = created
    interval = 1e9 / a.rate
    pad = b"\0" * (PAYLOAD - HEADER.size)
    seq = 0
    sent = 0
    send_errors = []          # seqs whose sendto failed (capped list)
    error_kinds = {}
    rx_seq, rx_send, rx_recv = [], [], []
    last_rx_wall = 0
    next_status = 0
    send = not a.no_send
    max_behind = int(a.rate)  # more than 1 s behind schedule: skip ahead (recorded)
    skipped = 0

    # Overwritten in place with one fixed-width pwrite: no rename, no truncation (a rename over a file
    # with fresh data makes ext4 flush it, which stalled this loop for tens of milliseconds).
    status_fd = os.open(a.status, os.O_WRONLY | os.O_CREAT, 0o644) if a.status else None

    def write_status():
        if status_fd is not None:
            os.pwrite(status_fd, b"%20d %12d\n" % (last_rx_wall, len(rx_seq)), 0)

    while not stop["flag"]:
        t = now_mono()
        if t >= deadline:
            break
        start = stop["start"]
        # send everything that is due (absolute schedule: seq n at start + n * interval)
        if send and start is not None:
            due = int((t - start) // interval) + 1
            if due - seq > max_behind:
                skipped += due - seq - 1
                seq = due - 1
            while seq < due:
                try:
                    sock.sendto(HEADER.pack(MAGIC, seq, now_mono()) + pad, peer)
                    sent += 1
                except OSError as e:
                    if len(send_errors) < 2_000_000:
                        send_errors.append(seq)
                    error_kinds[e.errno] = error_kinds.get(e.errno, 0) + 1
                seq += 1
            next_due = start + seq * interval
        else:
            next_due = t + 1e6
        if t >= next_status:
            write_status()
            next_status = t + 50_000_000
        timeout = max(0.0, min(next_due, next_status, deadline) - now_mono()) / 1e9
        try:
            readable, _, _ = select.select([sock], [], [], timeout)
        except InterruptedError:
            continue
        if not readable:
            continue
        for _ in range(256):  # drain, bounded
            try:
                data = sock.recv(2048)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                break
            r = now_mono()
            if len(data) < HEADER.size:
                continue
            magic, s, ts = HEADER.unpack_from(data)
            if magic != MAGIC:
                continue
            rx_seq.append(s)
            rx_send.append(ts)
            rx_recv.append(r)
            last_rx_wall = r + offset
        if a.exit_on_first and rx_seq:
            break

    end = now_mono()
    write_status()
    meta = {
        "bind": a.bind, "peer": a.peer, "rate": a.rate, "offset_ns": offset, "created_ns": created,
        "start_ns": stop["start"], "end_ns": end, "sent": sent, "scheduled": seq, "skipped": skipped,
        "send_errors": send_errors, "error_kinds": {str(k): v for k, v in error_kinds.items()},
        "received": len(rx_seq),
    }
    with open(a.log + ".rx", "w") as f:
        f.write("".join("%d %d %d\n" % x for x in zip(rx_seq, rx_send, rx_recv)))
    with open(a.log + ".json", "w") as f:
        json.dump(meta, f)
    return 0


# ------------------------------------------------------------------ analysis

def load(prefix):
    try:
        with open(prefix + ".json") as f:
            meta = json.load(f)
    except (OSError, ValueError):
        return None, []
    rows = []
    try:
        with open(prefix + ".rx") as f:
            for line in f:
                p = line.split()
                if len(p) == 3:
                    rows.append((int(p[0]), int(p[1]), int(p[2])))
    except OSError:
        pass
    return meta, rows


def read_moves(path):
    moves, end = [], None
    with open(path) as f:
        for line in f:
            p = line.split()
            if not p:
                continue
            if p[0] == "end":
                end = int(p[1])
            elif p[0] == "move":
                # move IDX START_WALL_NS DONE_WALL_NS GAP_MS ACTUAL_GAP_NS FROM TO [OLD_LINK_DOWN_WALL_NS]
                moves.append({"i": int(p[1]), "start": int(p[2]), "done": int(p[3]), "gap_ms": float(p[4]),
                              "actual_gap_ns": int(p[5]), "from": p[6], "to": p[7],
                              "down": int(p[8]) if len(p) > 8 else 0})
    return moves, end


def direction_stats(sender, receiver_rows, receiver_meta, w0_wall, w1_wall, move_wall, late_ns):
    """Lost datagrams and the longest receive gap among datagrams scheduled in [w0, w1) (wall ns).
    A datagram that arrives more than late_ns after it was sent counts as lost (and as late): packets
    held in a queue while a link is down can turn up seconds later, when that link comes back."""
    if sender is None or receiver_meta is None or sender.get("start_ns") is None:
        return None
    off = sender["offset_ns"]
    start = sender["start_ns"]
    interval = 1e9 / sender["rate"]
    w0 = w0_wall - off
    w1 = min(w1_wall - off, sender["end_ns"] - 200_000_000)  # the last 200 ms may be in flight at stop
    lo = max(0, math.ceil((w0 - start) / interval))
    hi = min(sender["scheduled"], math.ceil((w1 - start) / interval))  # exclusive
    if hi <= lo:
        return None
    got = {}
    late = set()
    for s, ts, r in receiver_rows:
        if lo <= s < hi and s not in got:
            if r - ts <= late_ns:
                got[s] = r
            else:
                late.add(s)
    late -= got.keys()
    errs = sum(1 for s in sender["send_errors"] if lo <= s < hi)
    lost = (hi - lo) - len(got)  # includes the late ones
    # receive times vs the window edges, on the receiver's monotonic clock (the same clock)
    times = sorted(got.values())
    edge0 = start + lo * interval
    edge1 = start + (hi - 1) * interval
    points = [edge0] + times + [max(edge1, times[-1] if times else edge1)]
    gap, gap_from = max((b - a, a) for a, b in zip(points, points[1:]))
    # the same measure over the 500 ms before the move: what the probe, the tunnel and the machine's
    # load do without any move (a gap with no loss is delay: a daemon or the probe not scheduled)
    move = move_wall - off
    before = [t for t in times if t < move]
    base = max((b - a for a, b in zip(before, before[1:])), default=None)
    return {"lost": lost, "late": len(late), "outage_ms": gap / 1e6, "send_errors": errs, "datagrams": hi - lo,
            "baseline_ms": None if base is None else base / 1e6,
            # for the timeline chart: receive times and the longest gap, in ms after the move started
            "rx_ms": [(t - move) / 1e6 for t in times], "gap_ms": ((gap_from - move) / 1e6, (gap_from + gap - move) / 1e6),
            "window_end_ms": (w1 - move) / 1e6}


FIELDS = ["system", "scenario", "handover", "from", "to", "direction", "datagrams", "lost", "late", "outage_ms",
          "gap_ms", "actual_gap_ms", "outage_beyond_gap_ms", "baseline_gap_ms", "send_errors", "first_rx_after_move_ms", "sender_start_lag_ms",
          "move_ms", "tern_bu_sent_ms", "tern_ba_ms", "tern_first_data_ms", "tern_trigger"]


def tern_records(path):
    recs = {}
    if not path or not os.path.exists(path):
        return []
    with open(path) as f:
        for line in f:
            try:
                for h in json.loads(line):
                    recs[(h.get("detectedAt"), h.get("trigger"))] = h
            except ValueError:
                continue
    return sorted(recs.values(), key=lambda h: h.get("detectedAt") or 0)


def tern_match(records, start_wall, end_wall):
    """The first Tern handover record detected in [start - 50 ms, end) that has a new path (a link going
    down before the new one is up is a record of its own, with no care-of address to register)."""
    for h in records:
        t = (h.get("detectedAt") or 0) * 1e9
        if start_wall - 50e6 <= t < end_wall and h.get("to"):
            return h
    return None


TIMELINE_BIN_MS = 5
TIMELINE_BEFORE_MS = 500   # the analysis window starts 500 ms before the move
TIMELINE_AFTER_MS = 3000   # at least this much after it (make-before-break drops the old link at ~1 s)


def timeline(a, candidates, count):
    """The handover with the median MN->HA outage of one scenario run, for the timeline chart
    (Benchmarks/lib/charts.py): datagrams received per 5 ms bin in each direction, from 500 ms before
    the move, the longest gap, the move's marks and Tern's own record, all in ms after the move started."""
    def outage(c):
        st = c[1].get("MN->HA") or c[1].get("HA->MN")
        return st["outage_ms"] if st else float("inf")
    ranked = sorted(candidates, key=outage)
    m, stats, h = ranked[(len(ranked) - 1) // 2]
    start = m["start"]
    marks = []
    if a.scenario == "nat-rebinding":
        marks.append({"label": "conntrack -D", "ms": 0.0})
    else:
        if m.get("down"):
            marks.append({"label": "old link down", "ms": (m["down"] - start) / 1e6})
        # make-before-break brings the new link up first; break-before-make after the gap
        up = m["down"] + m["actual_gap_ns"] if a.scenario == "break-before-make" and m.get("down") else start
        marks.append({"label": "new link up", "ms": (up - start) / 1e6})
    directions = {}
    for name, st in stats.items():
        if not st:
            continue
        end = min(st["window_end_ms"], max(TIMELINE_AFTER_MS, st["gap_ms"][1] + 500))
        bins = [0] * max(1, int((end + TIMELINE_BEFORE_MS) // TIMELINE_BIN_MS))
        for t in st["rx_ms"]:
            k = int((t + TIMELINE_BEFORE_MS) // TIMELINE_BIN_MS)
            if 0 <= k < len(bins):
                bins[k] += 1
        directions[name] = {"bins": bins, "outage_ms": round(st["outage_ms"], 2), "lost": st["lost"],
                            "gap_from_ms": round(st["gap_ms"][0], 2), "gap_to_ms": round(st["gap_ms"][1], 2)}
    record = None
    if h:
        record = {"trigger": h.get("trigger"), "detected_ms": round((h.get("detectedAt") or 0) * 1e3 - start / 1e6, 2),
                  "bu_sent_ms": h.get("bindingUpdateSentAfterMilliseconds"),
                  "ba_ms": h.get("acknowledgedAfterMilliseconds"),
                  "first_data_ms": h.get("firstDataAfterMilliseconds")}
    return {"system": a.system, "scenario": a.scenario, "handover": m["i"], "handovers": count,
            "chosen_by": "median MN->HA outage", "from": m["from"], "to": m["to"],
            "bin_ms": TIMELINE_BIN_MS, "start_ms": -TIMELINE_BEFORE_MS, "marks": marks,
            "directions": directions, "tern": record}


def cmd_analyze(a):
    d = a.dir
    moves, end = read_moves(os.path.join(d, "moves.txt"))
    mn_meta, mn_rows = load(os.path.join(d, "mn"))
    ha_meta, ha_rows = load(os.path.join(d, "ha"))
    tern = tern_records(a.tern_handovers)
    out = []
    timeline_candidates = []  # (move, stats by direction, tern record) of each streamed handover
    for k, m in enumerate(moves):
        w0 = m["start"] - 500_000_000
        w1 = (moves[k + 1]["start"] - 500_000_000) if k + 1 < len(moves) else (end or m["done"] + 10**10)
        base = {"system": a.system, "scenario": a.scenario, "handover": m["i"], "from": m["from"], "to": m["to"],
                "gap_ms": m["gap_ms"], "actual_gap_ms": "%.2f" % (m["actual_gap_ns"] / 1e6) if m["gap_ms"] else "",
                "move_ms": "%.2f" % ((m["done"] - m["start"]) / 1e6)}
        h = tern_match(tern, m["start"], w1)
        if h:
            base.update({"tern_bu_sent_ms": h.get("bindingUpdateSentAfterMilliseconds"),
                         "tern_ba_ms": h.get("acknowledgedAfterMilliseconds"),
                         "tern_first_data_ms": h.get("firstDataAfterMilliseconds"),
                         "tern_trigger": h.get("trigger")})
        if a.scenario == "idle":
            # HA -> MN only: time from the completed move (the old link is down) to the first datagram
            row = dict(base, direction="HA->MN")
            if ha_meta and ha_meta.get("start_ns") is not None:
                row["sender_start_lag_ms"] = "%.3f" % ((ha_meta["start_ns"] + ha_meta["offset_ns"] - m["done"]) / 1e6)
            if mn_rows:
                first = min(r for s, ts, r in mn_rows)
                row["first_rx_after_move_ms"] = "%.3f" % ((first + mn_meta["offset_ns"] - m["done"]) / 1e6)
                row["lost"] = mn_rows[0][0]  # datagrams the HA had sent before the first one arrived
            else:
                row["first_rx_after_move_ms"] = "timeout>%.0f" % (a.idle_timeout * 1000)
                row["lost"] = ha_meta.get("sent", "") if ha_meta else ""
            out.append(row)
            continue
        stats = {}
        for name, sender, rx_meta, rx_rows in (("MN->HA", mn_meta, ha_meta, ha_rows),
                                               ("HA->MN", ha_meta, mn_meta, mn_rows)):
            st = direction_stats(sender, rx_rows, rx_meta, w0, w1, m["start"], int(a.late_ms * 1e6))
            stats[name] = st
            row = dict(base, direction=name)
            if st:
                row.update(datagrams=st["datagrams"], lost=st["lost"], late=st["late"], outage_ms="%.2f" % st["outage_ms"],
                           send_errors=st["send_errors"],
                           baseline_gap_ms="" if st["baseline_ms"] is None else "%.2f" % st["baseline_ms"])
                if m["gap_ms"] > 0:
                    row["outage_beyond_gap_ms"] = "%.2f" % (st["outage_ms"] - m["gap_ms"])
            out.append(row)
        timeline_candidates.append((m, stats, h))
    if a.timeline and timeline_candidates:
        with open(a.timeline, "a") as f:
            f.write(json.dumps(timeline(a, timeline_candidates, len(moves))) + "\n")
    new = not os.path.exists(a.csv)
    with open(a.csv, "a", newline="") as f:
        w = csv.DictWriter(f, fieldnames=FIELDS)
        if new:
            w.writeheader()
        for row in out:
            w.writerow({k: ("" if row.get(k) is None else row.get(k, "")) for k in FIELDS})
    return 0


def pct(values, p):
    if not values:
        return None
    v = sorted(values)
    k = (len(v) - 1) * p
    f = math.floor(k)
    c = math.ceil(k)
    return v[f] if f == c else v[f] + (v[c] - v[f]) * (k - f)


def num(x):
    try:
        return float(x)
    except (TypeError, ValueError):
        return None


def fmt(x, digits=1):
    return "-" if x is None else ("%.*f" % (digits, x))


def cmd_report(a):
    rows = []
    if os.path.exists(a.csv):
        with open(a.csv) as f:
            rows = list(csv.DictReader(f))
    systems = a.systems.split()
    scenarios = a.scenarios.split()
    for sc in scenarios:
        print()
        if sc == "idle":
            print("-- idle: HA starts 1000/s to the MN when the MN's move completes (old link down); "
                  "time to the MN's first receipt")
            print("%-13s %5s %11s %11s %11s %9s %9s" % ("system", "n", "median ms", "p95 ms", "max ms",
                                                       "timeouts", "lost med"))
            for s in systems:
                rs = [r for r in rows if r["system"] == s and r["scenario"] == sc]
                v = [num(r["first_rx_after_move_ms"]) for r in rs]
                ok = [x for x in v if x is not None]
                lost = [num(r["lost"]) for r in rs if num(r["lost"]) is not None]
                print("%-13s %5d %11s %11s %11s %9d %9s" % (s, len(rs), fmt(pct(ok, .5), 2), fmt(pct(ok, .95), 2),
                                                         fmt(max(ok) if ok else None, 2), len(v) - len(ok),
                                                         fmt(pct(lost, .5), 0)))
            continue
        extra = sc == "break-before-make"
        print("-- %s: per handover, 1000 datagrams/s each way; outage = longest gap between delivered "
              "datagrams (>1 s late = lost; late = their total); base = longest gap in the 500 ms before the move%s" % (sc, "; beyond = outage - scripted gap" if extra else ""))
        hdr = "%-13s %-7s %4s %11s %11s %10s %10s" % ("system", "dir", "n", "outage med", "outage p95",
                                                     "lost med", "lost p95")
        if extra:
            hdr += " %11s %11s" % ("beyond med", "beyond p95")
        hdr += " %10s %9s %9s %6s" % ("outage max", ">1s", "base p95", "late")
        print(hdr)
        for s in systems:
            for dname in ("MN->HA", "HA->MN"):
                rs = [r for r in rows if r["system"] == s and r["scenario"] == sc and r["direction"] == dname]
                o = [num(r["outage_ms"]) for r in rs if num(r["outage_ms"]) is not None]
                lo = [num(r["lost"]) for r in rs if num(r["lost"]) is not None]
                line = "%-13s %-7s %4d %11s %11s %10s %10s" % (s, dname, len(rs), fmt(pct(o, .5)), fmt(pct(o, .95)),
                                                              fmt(pct(lo, .5), 0), fmt(pct(lo, .95), 0))
                if extra:
                    b = [num(r["outage_beyond_gap_ms"]) for r in rs if num(r["outage_beyond_gap_ms"]) is not None]
                    line += " %11s %11s" % (fmt(pct(b, .5)), fmt(pct(b, .95)))
                bs = [num(r.get("baseline_gap_ms")) for r in rs if num(r.get("baseline_gap_ms")) is not None]
                lt = sum(int(num(r.get("late")) or 0) for r in rs)
                line += " %10s %9d %9s %6d" % (fmt(max(o) if o else None), sum(1 for x in o if x > 1000), fmt(pct(bs, .95)), lt)
                print(line)
    tern = [r for r in rows if r["system"] == "tern" and r["tern_bu_sent_ms"]]
    if tern:
        print()
        print("-- tern's own handover records (ms after it detected the change), per scenario: median / p95")
        for sc in scenarios:
            rs = [r for r in tern if r["scenario"] == sc and (r["direction"] in ("MN->HA",) or sc == "idle")]
            if not rs:
                continue
            parts = []
            for k, label in (("tern_bu_sent_ms", "BU sent"), ("tern_ba_ms", "BA"), ("tern_first_data_ms", "first data")):
                v = [num(r[k]) for r in rs if num(r[k]) is not None]
                parts.append("%s %s / %s" % (label, fmt(pct(v, .5), 2), fmt(pct(v, .95), 2)))
            print("%-18s n=%-3d %s" % (sc, len(rs), ", ".join(parts)))
    return 0


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--bind", required=True)
    r.add_argument("--port", type=int, default=9000)
    r.add_argument("--peer", required=True)
    r.add_argument("--peer-port", type=int, default=9000)
    r.add_argument("--rate", type=float, default=1000.0)
    r.add_argument("--duration", type=float, required=True, help="hard limit, seconds")
    r.add_argument("--log", required=True, help="output prefix (.json, .rx)")
    r.add_argument("--status")
    r.add_argument("--no-send", action="store_true")
    r.add_argument("--start-on-signal", action="store_true", help="start the schedule at SIGUSR1")
    r.add_argument("--exit-on-first", action="store_true")
    an = sub.add_parser("analyze")
    an.add_argument("--dir", required=True)
    an.add_argument("--system", required=True)
    an.add_argument("--scenario", required=True)
    an.add_argument("--csv", required=True)
    an.add_argument("--tern-handovers")
    an.add_argument("--idle-timeout", type=float, default=30)
    an.add_argument("--late-ms", type=float, default=1000, help="later than this counts as lost")
    an.add_argument("--timeline", help="append the median handover's receive timeline here (JSON lines)")
    rp = sub.add_parser("report")
    rp.add_argument("--csv", required=True)
    rp.add_argument("--systems", required=True)
    rp.add_argument("--scenarios", required=True)
    a = p.parse_args()
    return {"run": cmd_run, "analyze": cmd_analyze, "report": cmd_report}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
