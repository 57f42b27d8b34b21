"""The comparison benchmark's chart (Benchmarks/compare/compare.sh): one panel per metric with a bar per
system, and the subject's ratios to wireguard-go (and veth) against issue 8's targets.

Input: the results JSON compare.sh writes beside its table (see Benchmarks/compare/README.md).
"""
import textwrap

from svgplot import BAD, GOOD, INK, MUTED, Drawing, LinearScale, colour_for, nice_ticks, number, y_axis

# (key, panel title, unit, how to get the value from a system's results, lower is better)
METRICS = [
    ("tcp1", "TCP, 1 stream", "Gbit/s", lambda s: s.get("tcp1_gbps"), False),
    ("tcp4", "TCP, 4 streams", "Gbit/s", lambda s: s.get("tcp4_gbps"), False),
    ("udp64", "UDP, 64-octet datagrams received", "kpps", lambda s: kilo(s.get("udp_rx_pps")), False),
    ("rtt", "Ping round-trip time (lower is better)", "ms", lambda s: s.get("rtt_ms"), True),
]

# Issue 8, "What it must show": the subject against wireguard-go (and plain veth), measured in one run.
TARGETS = [
    ("tcp1", "wireguard-go", "TCP 1 stream", ">=", 6.0),
    ("udp64", "wireguard-go", "UDP 64-octet packet rate", ">=", 3.0),
    ("rtt", "wireguard-go", "Ping RTT", "<=", 0.4),
    ("tcp1", "veth", "TCP 1 stream", ">=", 0.2),
]

# With three bars or more, one more than this many times the next tallest is cut (with a break mark) so
# the others stay legible; its label still gives its value.
CLIP_FACTOR = 2.5

WIDTH = 1100
FOOTER_CHARACTERS = 165  # 11 px DejaVu Sans across the page
MARGIN = 30
PANEL_HEIGHT = 250
RATIO_ROW = 44


def kilo(value):
    return None if value is None else value / 1000.0


def render(results):
    systems = [s["name"] for s in results.get("systems", [])]
    by_name = {s["name"]: s for s in results.get("systems", [])}
    subject = results.get("subject", "tern")
    ratio_rows = [t for t in TARGETS if t[1] in by_name and t[1] != subject]
    notes = [(s["name"], s["note"]) for s in results.get("systems", []) if s.get("note")]
    meta_lines = [part for line in footer_lines(results) for part in textwrap.wrap(line, FOOTER_CHARACTERS)]
    height = 100 + 2 * (PANEL_HEIGHT + 20) + 40 + RATIO_ROW * max(len(ratio_rows), 1) + 20 * (len(notes) + len(meta_lines)) + 20
    d = Drawing(WIDTH, height)

    d.text(MARGIN, 32, "Tern comparison benchmark: %s" % results.get("date", "?"), size=19, weight="bold")
    d.text(MARGIN, 54, subtitle(results), size=12, fill=MUTED)
    d.legend(MARGIN, 80, [(s, colour_for(s, systems)) for s in systems])

    panel_width = (WIDTH - 2 * MARGIN - 40) / 2
    for index, metric in enumerate(METRICS):
        x = MARGIN + (index % 2) * (panel_width + 40)
        y = 100 + (index // 2) * (PANEL_HEIGHT + 20)
        bar_panel(d, x, y, panel_width, PANEL_HEIGHT, metric, results.get("systems", []), systems)

    y = 100 + 2 * (PANEL_HEIGHT + 20) + 10
    d.text(MARGIN, y + 14, "%s against issue 8's targets (ratios within this run)" % subject, size=14, weight="bold")
    y += 30
    if not ratio_rows:
        d.text(MARGIN, y + 20, "no reference system in this run: no ratios", size=12, fill=MUTED)
        y += RATIO_ROW
    for metric, reference, label, sense, target in ratio_rows:
        ratio_row(d, y, by_name.get(subject), by_name.get(reference), subject, reference, metric, label, sense, target,
                  systems)
        y += RATIO_ROW
    y += 16
    for name, note in notes:
        d.text(MARGIN, y, "%s: %s" % (name, note), size=12, fill=BAD)
        y += 20
    for line in meta_lines:
        d.text(MARGIN, y, line, size=11, fill=MUTED)
        y += 20
    return d.render()


def subtitle(results):
    parts = ["iperf3 -t %s s" % results.get("duration_s", "?"), "ping x%s" % results.get("pings", "?"),
             "%s CPUs" % results.get("cpus", "?"), "pinning %s" % ("on" if results.get("pinning") else "off"),
             "tunnel MTU %s" % results.get("tunnel_mtu", "?")]
    load = results.get("load", {})
    if load.get("before_legs"):
        parts.append("load before %s" % " ".join(load["before_legs"].split()[:3]))
    if load.get("after"):
        parts.append("after %s" % " ".join(load["after"].split()[:3]))
    if results.get("sample"):
        parts.append("SAMPLE DATA (see below)")
    return " · ".join(parts)


def footer_lines(results):
    sent = ["%s %s" % (s["name"], number(kilo(s["udp_tx_pps"]), 0)) for s in results.get("systems", [])
            if s.get("udp_tx_pps") is not None]
    lines = []
    if results.get("sample"):
        lines.append("sample: %s" % results["sample"])
    if sent:
        lines.append("UDP: kpps the iperf3 server received; the senders sent (kpps): " + ", ".join(sent))
    if results.get("openvpn"):
        lines.append("openvpn: %s, DCO disabled" % results["openvpn"])
    for key, label in (("kernel", "kernel"), ("openssl", "OpenSSL"), ("packages", "packages"), ("tern", "tern")):
        if results.get(key):
            lines.append("%s: %s" % (label, results[key]))
    return lines


def bar_panel(d, x, y, width, height, metric, rows, systems):
    key, title, unit, value_of, lower_better = metric
    d.text(x, y + 14, "%s, %s" % (title, unit), size=13, weight="bold")
    top, bottom, left = y + 40, y + height - 34, x + 52
    right = x + width - 8
    values = [(row["name"], value_of(row)) for row in rows]
    present = sorted(v for _, v in values if v is not None)
    if not present:
        d.text(left, (top + bottom) / 2, "no results", size=12, fill=MUTED)
        return
    limit = present[-1]
    if len(present) >= 3 and present[-2] > 0 and present[-1] > CLIP_FACTOR * present[-2]:
        limit = present[-2] * 1.6
    ticks, domain_top = nice_ticks(0, limit * 1.1 if limit > 0 else 1)
    scale = LinearScale((0, domain_top), (bottom, top))
    y_axis(d, scale, ticks, left, right)
    slot = (right - left) / max(len(values), 1)
    bar = min(72, slot * 0.6)
    for index, (name, value) in enumerate(values):
        centre = left + slot * (index + 0.5)
        d.text(centre, bottom + 16, name, size=12, anchor="middle")
        row = next(r for r in rows if r["name"] == name)
        if key == "udp64" and row.get("udp_loss_pct") is not None:
            d.text(centre, bottom + 30, "loss %s %%" % number(row["udp_loss_pct"], 1), size=10, anchor="middle",
                   fill=MUTED)
        if value is None:
            d.text(centre, bottom - 6, "n/a", size=11, anchor="middle", fill=MUTED)
            continue
        clipped = value > domain_top
        y_top = scale(min(value, domain_top))
        d.rect(centre - bar / 2, y_top, bar, bottom - y_top, colour_for(name, systems), data_system=name,
               data_metric=key, data_value=value, data_clipped="yes" if clipped else None)
        if clipped:  # a white zig-zag across the bar: the axis does not reach its value
            ym = top + 14
            d.path("M%.1f %.1f l%.1f -5 l%.1f 10 l%.1f -5" % (centre - bar / 2 - 2, ym, bar / 3 + 1, bar / 3 + 1,
                                                             bar / 3 + 2), stroke="#ffffff", width=3)
        d.text(centre, y_top - 6, number(value), size=12, anchor="middle", weight="bold", data_label=key)


def ratio_row(d, y, subject_row, reference_row, subject, reference, metric, label, sense, target, systems):
    value_of = next(m[3] for m in METRICS if m[0] == metric)
    a = value_of(subject_row) if subject_row else None
    b = value_of(reference_row) if reference_row else None
    ratio = a / b if a is not None and b else None
    d.text(MARGIN, y + 16, "%s: %s / %s" % (label, subject, reference), size=12)
    left, right = MARGIN + 330, WIDTH - MARGIN - 250
    top, bar = y + 4, 18
    d.rect(left, top, right - left, bar, "#f3f3f3")
    wanted = "%s %g×" % ("≥" if sense == ">=" else "≤", target)
    if ratio is None:
        d.text(right + 12, y + 16, "n/a (target %s)" % wanted, size=12, fill=MUTED)
        return
    domain_top = max(ratio, target, 1.0) * 1.15
    scale = LinearScale((0, domain_top), (left, right))
    met = ratio >= target if sense == ">=" else ratio <= target
    d.rect(left, top, scale(ratio) - left, bar, colour_for(subject, systems), data_ratio=metric,
           data_reference=reference, data_value="%.4f" % ratio, data_target=target)
    if scale(1.0) < right:
        d.line(scale(1.0), top - 3, scale(1.0), top + bar + 3, stroke=MUTED, width=1)
        d.text(scale(1.0), top + bar + 13, "1×", size=9, anchor="middle", fill=MUTED)
    d.line(scale(target), top - 5, scale(target), top + bar + 5, stroke=INK, width=2, dash="4,3")
    target_x = scale(target)
    d.text(target_x, top + bar + 13, "target %s" % wanted, size=10, anchor="middle", fill=INK)
    verdict = "target met" if met else "target not met"
    d.text(right + 12, y + 16, "%s×, %s" % (number(ratio), verdict), size=13, weight="bold", fill=GOOD if met else BAD)
