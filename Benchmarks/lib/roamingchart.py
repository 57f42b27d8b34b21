"""The roaming benchmark's handover timeline (Benchmarks/roaming/roaming.sh).

Three parts, from the results JSON charts.py bundles after a run:
  1. per streaming scenario and system, the probe datagrams received per second in each direction
     around the handover with the median outage, with the outage shaded and the move's marks;
  2. the outage of every handover (log scale), per scenario and system; for the idle move the time to
     the first datagram after it;
  3. Tern's own timeline of each handover: Binding Update sent, acknowledged, first data after it.
"""
import math

from svgplot import (BAD, GRID, INK, MUTED, Drawing, LinearScale, LogScale, colour_for, decade_label, log_domain,
                     nice_ticks, number, y_axis)

WIDTH = 1200
MARGIN = 30
CELL_HEIGHT = 180
LANE = 24
MIN_BIN_PIXELS = 3
STREAMING = ["make-before-break", "break-before-make", "nat-rebinding"]
TERN_STEPS = [("tern_bu_sent_ms", "BU sent", "#1b9e77", "circle"), ("tern_ba_ms", "BA received", "#0868ac", "square"),
              ("tern_first_data_ms", "first data", "#e7298a", "diamond")]


def value(row, key):
    try:
        return float(row.get(key))
    except (TypeError, ValueError):
        return None


def render(results):
    systems = results.get("systems") or sorted({r["system"] for r in results.get("rows", [])})
    scenarios = results.get("scenarios") or STREAMING + ["idle"]
    rows = results.get("rows", [])
    timelines = {(t["system"], t["scenario"]): t for t in results.get("timelines", [])}
    streaming = [s for s in scenarios if s in STREAMING and any(k[1] == s for k in timelines)]
    outage_scenarios = [s for s in scenarios if any(r["scenario"] == s for r in rows)]
    tern_scenarios = [s for s in scenarios if any(r["scenario"] == s and value(r, "tern_bu_sent_ms") is not None
                                                  for r in rows if r["system"] == "tern")]
    outage_height = 46 + LANE * len(systems)
    height = (120 + len(streaming) * (CELL_HEIGHT + 40) + 40 + ((len(outage_scenarios) + 1) // 2) * (outage_height + 20)
              + (70 + 190 if tern_scenarios else 0) + 60)
    d = Drawing(WIDTH, height)
    d.text(MARGIN, 32, "Tern roaming benchmark: %s" % results.get("date", "?"), size=19, weight="bold")
    d.text(MARGIN, 54, subtitle(results), size=12, fill=MUTED)
    d.legend(MARGIN, 80, [(s, colour_for(s, systems)) for s in systems])

    y = 100
    if streaming:
        d.text(MARGIN, y + 14, "Datagrams received per second around the median handover (x: ms after the move "
               "starts; shaded and ▼: the outage, the longest gap)", size=14, weight="bold")
        x = WIDTH - MARGIN - 150
        d.line(x, y + 32, x + 24, y + 32, stroke=INK, width=2)
        d.text(x + 28, y + 36, "MN→HA", size=11)
        d.line(x + 70, y + 32, x + 94, y + 32, stroke=INK, width=2, dash="4,3")
        d.text(x + 98, y + 36, "HA→MN", size=11)
        y += 40
        for scenario in streaming:
            timeline_row(d, y, scenario, [timelines.get((s, scenario)) for s in systems], systems, results)
            y += CELL_HEIGHT + 40
    y += 10
    d.text(MARGIN, y + 14, "Every handover: outage (ms, log scale; ● MN→HA, ○ HA→MN; idle: first HA→MN datagram "
           "after the move; │ median)", size=14, weight="bold")
    y += 30
    panel_width = (WIDTH - 2 * MARGIN - 40) / 2
    for index, scenario in enumerate(outage_scenarios):
        x = MARGIN + (index % 2) * (panel_width + 40)
        outage_panel(d, x, y + (index // 2) * (outage_height + 20), panel_width, outage_height, scenario,
                     [r for r in rows if r["scenario"] == scenario], systems, results)
    y += ((len(outage_scenarios) + 1) // 2) * (outage_height + 20)
    if tern_scenarios:
        y += 10
        d.text(MARGIN, y + 14, "Tern's own handover records (ms after Tern detected the change, log scale)", size=14,
               weight="bold")
        x = WIDTH - MARGIN - 300
        for _, label, colour, shape in TERN_STEPS:
            marker(d, x, y + 28, shape, colour)
            d.text(x + 9, y + 32, label, size=11)
            x += 100
        y += 36
        tern_width = (WIDTH - 2 * MARGIN - 30 * (len(tern_scenarios) - 1)) / len(tern_scenarios)
        for index, scenario in enumerate(tern_scenarios):
            tern_panel(d, MARGIN + index * (tern_width + 30), y, tern_width, 180, scenario,
                       [r for r in rows if r["system"] == "tern" and r["scenario"] == scenario
                        and (r["direction"] == "MN->HA" or scenario == "idle")])
        y += 190
    y += 20
    for line in footer_lines(results):
        d.text(MARGIN, y, line, size=11, fill=MUTED)
        y += 18
    return d.render()


def subtitle(results):
    parts = ["%s handovers per scenario" % results.get("handovers", "?"),
             "%s datagrams/s each way" % results.get("rate", "?"),
             "gap %s ms" % results.get("gap_ms", "?"), "overlap %s ms" % results.get("overlap_ms", "?")]
    if results.get("load_start"):
        parts.append("load at start %s" % " ".join(results["load_start"].split()[:3]))
    if results.get("load_end"):
        parts.append("at end %s" % " ".join(results["load_end"].split()[:3]))
    if results.get("sample"):
        parts.append("SAMPLE DATA (see below)")
    return " · ".join(parts)


def footer_lines(results):
    lines = ["%s: not measured: %s" % (k, v) for k, v in (results.get("notes") or {}).items()]
    if results.get("sample"):
        lines.append("sample: %s" % results["sample"])
    for key in ("kernel", "packages", "tern"):
        if results.get(key):
            lines.append("%s: %s" % (key, results[key]))
    return lines


def timeline_row(d, y, scenario, timelines, systems, results):
    """One scenario: a cell per system, sharing the time axis."""
    d.text(MARGIN, y + 12, scenario, size=13, weight="bold")
    present = [t for t in timelines if t]
    # The window: the outages and the move's marks, with room around them.
    points = [0.0]
    for t in present:
        points += [m["ms"] for m in t.get("marks", [])]
        for direction in t.get("directions", {}).values():
            points += [direction["gap_from_ms"], direction["gap_to_ms"]]
    start = max(min(points) - 150, min((t["start_ms"] for t in present), default=-500))
    end = max(points) + 200
    if end - start < 500:
        end = start + 500
    rate = float(results.get("rate") or 1000)
    cell_width = (WIDTH - 2 * MARGIN - 20 * (len(systems) - 1)) / max(len(systems), 1)
    for index, system in enumerate(systems):
        x = MARGIN + index * (cell_width + 20)
        timeline_cell(d, x, y + 20, cell_width, CELL_HEIGHT, timelines[index], system, systems, (start, end), rate)


def timeline_cell(d, x, y, width, height, timeline, system, systems, window, rate):
    left, right, top, bottom = x + 44, x + width - 6, y + 18, y + height - 54
    colour = colour_for(system, systems)
    d.text(x, y + 10, system, size=12, weight="bold", fill=colour)
    if not timeline:
        d.rect(left, top, right - left, bottom - top, "#fafafa")
        d.text((left + right) / 2, (top + bottom) / 2, "not measured", size=11, anchor="middle", fill=MUTED)
        return
    xs = LinearScale(window, (left, right))
    ticks, high = nice_ticks(0, rate * 1.2, 3)
    ys = LinearScale((0, high), (bottom, top))
    y_axis(d, ys, ticks, left, right, label_format=lambda t: "%gk" % (t / 1000) if t else "0", size=10)
    for tick in nice_ticks(window[0], window[1], 5)[0]:
        if window[0] <= tick <= window[1]:
            d.line(xs(tick), bottom, xs(tick), bottom + 4, stroke=MUTED)
            d.text(xs(tick), bottom + 15, "%g" % tick, size=10, anchor="middle", fill=MUTED)
    directions = timeline.get("directions", {})
    # Bins at least MIN_BIN_PIXELS wide: whole multiples of the stored ones, so a long window reads as a
    # rate rather than as the probe's scheduling noise.
    stored = timeline["bin_ms"]
    pixels_per_ms = (right - left) / (window[1] - window[0])
    step = stored * max(1, math.ceil(MIN_BIN_PIXELS / (stored * pixels_per_ms)))
    for name, dash in (("MN->HA", None), ("HA->MN", "4,3")):
        direction = directions.get(name)
        if not direction:
            continue
        a, b = max(direction["gap_from_ms"], window[0]), min(direction["gap_to_ms"], window[1])
        if b > a:  # at least 2 px wide, and a ▼ above it, so a short outage still shows
            centre, span = (xs(a) + xs(b)) / 2, max(xs(b) - xs(a), 2)
            d.rect(centre - span / 2, top, span, bottom - top, colour, opacity="0.15", data_outage=name,
                   data_system=system, data_ms=direction["outage_ms"])
            d.path("M%.1f %.1f l-4 -7 l8 0 z" % (centre, top), fill=colour if dash is None else "#ffffff",
                   stroke=colour)
        per_step = step // stored
        bins = direction["bins"]
        points = []
        for k in range(0, len(bins), per_step):
            t0 = timeline["start_ms"] + k * stored
            width_ms = stored * len(bins[k:k + per_step])
            if t0 + width_ms < window[0] or t0 > window[1]:
                continue
            level = ys(min(sum(bins[k:k + per_step]) * 1000.0 / width_ms, high))
            points += [(xs(max(t0, window[0])), level), (xs(min(t0 + width_ms, window[1])), level)]
        if points:
            d.polyline(points, colour, width=1.4, stroke_dasharray=dash, data_direction=name, data_system=system)
    for mark in timeline.get("marks", []):
        if window[0] <= mark["ms"] <= window[1]:
            d.line(xs(mark["ms"]), top, xs(mark["ms"]), bottom, stroke=INK, width=1, dash="2,2")
            d.text(xs(mark["ms"]) + 3, top + 9, mark["label"], size=9, fill=INK)
    tern = timeline.get("tern")
    if tern and tern.get("detected_ms") is not None and window[0] <= tern["detected_ms"] <= window[1]:
        d.line(xs(tern["detected_ms"]), top, xs(tern["detected_ms"]), bottom, stroke=colour, width=1.5)
    d.text(left, bottom + 28, "handover %s of %s (the median) · %g ms bins" % (
        timeline.get("handover"), timeline.get("handovers"), step), size=10, fill=INK)
    d.text(left, bottom + 40, "outage %s / %s ms, lost %s / %s (MN→HA / HA→MN)" % (
        number(directions.get("MN->HA", {}).get("outage_ms")), number(directions.get("HA->MN", {}).get("outage_ms")),
        directions.get("MN->HA", {}).get("lost", "n/a"), directions.get("HA->MN", {}).get("lost", "n/a")),
        size=10, fill=INK)
    if tern:
        steps = ", ".join("%s +%s" % (label, number(tern.get(key)))
                          for key, label in (("bu_sent_ms", "BU"), ("ba_ms", "BA"), ("first_data_ms", "data"))
                          if tern.get(key) is not None)
        d.text(left, bottom + 52, "detected at %s ms (solid line), then %s ms" % (
            number(tern.get("detected_ms")), steps), size=10, fill=colour)


def outage_panel(d, x, y, width, height, scenario, rows, systems, results):
    idle = scenario == "idle"
    key = "first_rx_after_move_ms" if idle else "outage_ms"
    values = [value(r, key) for r in rows]
    domain = log_domain(values + ([float(results["gap_ms"])] if scenario == "break-before-make" and
                                  results.get("gap_ms") else []), floor=0.1)
    left, right, top = x + 100, x + width - 70, y + 20
    bottom = top + LANE * len(systems)
    d.text(x, y + 12, scenario + (" (first HA→MN datagram after the move)" if idle else ""), size=12, weight="bold")
    scale = LogScale(domain, (left, right))
    for decade in scale.decades():
        d.line(scale(decade), top, scale(decade), bottom, stroke=GRID)
        d.text(scale(decade), bottom + 14, decade_label(decade), size=10, anchor="middle", fill=MUTED)
    if scenario == "break-before-make" and results.get("gap_ms"):
        gap = float(results["gap_ms"])
        d.line(scale(gap), top - 4, scale(gap), bottom, stroke=INK, dash="3,3")
        d.text(scale(gap) + 3, top - 6, "scripted gap", size=9, fill=INK)
    for lane, system in enumerate(systems):
        centre = top + LANE * lane + LANE / 2
        colour = colour_for(system, systems)
        d.text(left - 8, centre + 4, system, size=11, anchor="end", fill=colour)
        d.line(left, centre, right, centre, stroke="#f0f0f0")
        mine = [r for r in rows if r["system"] == system]
        measured = []
        timeouts = 0
        for r in mine:
            v = value(r, key)
            if v is None:
                timeouts += idle and str(r.get(key, "")).startswith("timeout")
                continue
            measured.append(v)
            offset = -4 if r.get("direction") == "MN->HA" else 4
            if idle:
                offset = 0
            hollow = r.get("direction") == "HA->MN" and not idle
            d.circle(scale(max(v, domain[0])), centre + offset, 3.2, "#ffffff" if hollow else colour, stroke=colour,
                     data_system=system, data_scenario=scenario, data_ms=v)
        if measured:
            median = percentile(measured, 0.5)
            d.line(scale(max(median, domain[0])), centre - 9, scale(max(median, domain[0])), centre + 9, stroke=INK,
                   width=2)
            d.text(right + 6, centre + 4, "med %s ms" % number(median), size=10, fill=INK)
        if timeouts:
            d.text(right + 6, centre + 4, "%d timed out" % timeouts, size=10, fill=BAD)
        if not mine:
            d.text(left + 6, centre + 4, "not measured", size=10, fill=MUTED)


def percentile(values, p):
    """Linear interpolation between closest ranks, as probe.py's report computes it."""
    v = sorted(values)
    k = (len(v) - 1) * p
    low, high = math.floor(k), math.ceil(k)
    return v[low] + (v[high] - v[low]) * (k - low)


def marker(d, x, y, shape, colour, **attributes):
    if shape == "circle":
        d.circle(x, y, 3.5, colour, **attributes)
    elif shape == "square":
        d.rect(x - 3.2, y - 3.2, 6.4, 6.4, colour, **attributes)
    else:
        d.path("M%.1f %.1f l4 4 l-4 4 l-4 -4 z" % (x, y - 4), fill=colour, stroke="none", **attributes)


def tern_panel(d, x, y, width, height, scenario, rows):
    left, right, top, bottom = x + 50, x + width - 8, y + 22, y + height - 28
    d.text(x, y + 12, scenario, size=12, weight="bold")
    rows = sorted(rows, key=lambda r: value(r, "handover") or 0)
    values = [value(r, k) for r in rows for k, *_ in TERN_STEPS]
    domain = log_domain(values, floor=0.01)
    ys = LogScale(domain, (bottom, top))
    for decade in ys.decades():
        d.line(left, ys(decade), right, ys(decade), stroke=GRID)
        d.text(left - 5, ys(decade) + 4, decade_label(decade), size=10, anchor="end", fill=MUTED)
    count = max(len(rows), 1)
    xs = LinearScale((0.5, count + 0.5), (left, right))
    for index, r in enumerate(rows):
        cx = xs(index + 1)
        for k, label, colour, shape in TERN_STEPS:
            v = value(r, k)
            if v is not None:
                marker(d, cx, ys(max(v, domain[0])), shape, colour, data_step=k, data_ms=v)
    for index in range(count):
        if count <= 20 or index % 5 == 4:
            d.text(xs(index + 1), bottom + 14, str(index + 1), size=9, anchor="middle", fill=MUTED)
    d.text((left + right) / 2, bottom + 26, "handover", size=10, anchor="middle", fill=MUTED)
