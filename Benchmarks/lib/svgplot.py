"""A few SVG drawing helpers for Benchmarks/lib/charts.py (Python 3 standard library only).

SVG is written by hand: a document of absolutely placed shapes and text, linear and logarithmic
scales with "nice" ticks, and a fixed colour per system so that every chart of a run reads the same.
Shapes that carry data get `data-*` attributes (system, metric, value) so tests can find them.
"""
import math
from xml.sax.saxutils import escape, quoteattr

FONT = "DejaVu Sans, Helvetica, Arial, sans-serif"
INK = "#222222"
MUTED = "#666666"
GRID = "#e4e4e4"
AXIS = "#999999"
GOOD = "#1a7f37"
BAD = "#c62828"

# One colour per system, the same in every chart; others get the fallback palette in order.
SYSTEM_COLOURS = {"tern": "#1b9e77", "wireguard-go": "#d95f02", "openvpn": "#7570b3", "veth": "#9e9e9e"}
FALLBACK_COLOURS = ["#e7298a", "#66a61e", "#e6ab02", "#a6761d", "#1f78b4"]


def colour_for(system, order):
    """The colour of `system`; `order` is the list of all systems, for a stable fallback."""
    if system in SYSTEM_COLOURS:
        return SYSTEM_COLOURS[system]
    others = [s for s in order if s not in SYSTEM_COLOURS]
    index = others.index(system) if system in others else 0
    return FALLBACK_COLOURS[index % len(FALLBACK_COLOURS)]


def number(value, digits=None):
    """A value as a short label: 3 significant digits unless `digits` (decimals) is given."""
    if value is None:
        return "n/a"
    if digits is not None:
        return "%.*f" % (digits, value)
    magnitude = abs(value)
    if magnitude >= 100:
        return "%.0f" % value
    if magnitude >= 10:
        return "%.1f" % value
    if magnitude >= 1:
        return "%.2f" % value
    return "%.3g" % value


def nice_ticks(low, high, count=5):
    """Ticks at 1, 2 or 5 times a power of ten covering [low, high]; returns (ticks, top)."""
    if high <= low:
        high = low + 1
    raw = (high - low) / max(count, 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first = math.floor(low / step) * step
    ticks = []
    value = first
    while value < high + step * 0.999 and len(ticks) < 50:
        ticks.append(round(value, 12))
        value += step
    return ticks, ticks[-1]


class LinearScale:
    def __init__(self, domain, pixels):
        self.d0, self.d1 = domain
        self.p0, self.p1 = pixels

    def __call__(self, value):
        if self.d1 == self.d0:
            return self.p0
        return self.p0 + (value - self.d0) * (self.p1 - self.p0) / (self.d1 - self.d0)


class LogScale:
    """log10 from domain (both > 0) to pixels; values at or below 0 go to the low end."""

    def __init__(self, domain, pixels):
        self.l0, self.l1 = math.log10(domain[0]), math.log10(domain[1])
        self.p0, self.p1 = pixels

    def __call__(self, value):
        if value is None or value <= 0:
            return self.p0
        return self.p0 + (math.log10(value) - self.l0) * (self.p1 - self.p0) / (self.l1 - self.l0)

    def decades(self):
        return [10.0 ** k for k in range(math.ceil(self.l0 - 1e-9), math.floor(self.l1 + 1e-9) + 1)]


def log_domain(values, floor=0.01, ceiling=1e6):
    """Whole decades around the positive `values` (at least two decades wide)."""
    positive = [v for v in values if v is not None and v > 0] or [1.0]
    low = max(floor, 10.0 ** math.floor(math.log10(min(positive))))
    high = min(ceiling, 10.0 ** math.ceil(math.log10(max(positive)) + 1e-9))
    if high / low < 100:
        high = low * 100
    return low, high


def decade_label(value):
    """1 ms, 10 ms, 1 s ... for a time in milliseconds."""
    if value >= 1000:
        return "%g s" % (value / 1000)
    return "%g ms" % value


class Drawing:
    """An SVG document built from shapes in the order they are added."""

    def __init__(self, width, height):
        self.width, self.height = width, height
        self.parts = []

    @staticmethod
    def _attributes(attributes):
        text = []
        for key, value in attributes.items():
            if value is None:
                continue
            text.append(" %s=%s" % (key.rstrip("_").replace("_", "-"), quoteattr(str(value))))
        return "".join(text)

    def add(self, tag, body=None, **attributes):
        attrs = self._attributes(attributes)
        if body is None:
            self.parts.append("<%s%s/>" % (tag, attrs))
        else:
            self.parts.append("<%s%s>%s</%s>" % (tag, attrs, escape(body), tag))

    def rect(self, x, y, width, height, fill, **attributes):
        self.add("rect", x=r(x), y=r(y), width=r(max(width, 0)), height=r(max(height, 0)), fill=fill, **attributes)

    def line(self, x1, y1, x2, y2, stroke=AXIS, width=1, dash=None, **attributes):
        self.add("line", x1=r(x1), y1=r(y1), x2=r(x2), y2=r(y2), stroke=stroke, stroke_width=width,
                 stroke_dasharray=dash, **attributes)

    def polyline(self, points, stroke, width=1.5, **attributes):
        text = " ".join("%s,%s" % (r(x), r(y)) for x, y in points)
        self.add("polyline", points=text, fill="none", stroke=stroke, stroke_width=width,
                 stroke_linejoin="round", **attributes)

    def circle(self, x, y, radius, fill, stroke=None, **attributes):
        self.add("circle", cx=r(x), cy=r(y), r=radius, fill=fill, stroke=stroke, **attributes)

    def path(self, d, fill="none", stroke=INK, width=1, **attributes):
        self.add("path", d=d, fill=fill, stroke=stroke, stroke_width=width, **attributes)

    def text(self, x, y, body, size=12, anchor="start", weight=None, fill=INK, **attributes):
        self.add("text", body, x=r(x), y=r(y), font_size=size, text_anchor=anchor, font_weight=weight, fill=fill,
                 **attributes)

    def legend(self, x, y, entries, size=12):
        """Colour swatches with labels in one row; returns the x after the last entry."""
        for label, colour in entries:
            self.rect(x, y - size + 2, size, size, colour)
            self.text(x + size + 5, y, label, size=size)
            x += size + 5 + text_width(label, size) + 18
        return x

    def render(self):
        head = ('<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" '
                'font-family=%s>' % (self.width, self.height, self.width, self.height, quoteattr(FONT)))
        background = '<rect x="0" y="0" width="%d" height="%d" fill="#ffffff"/>' % (self.width, self.height)
        return "\n".join([head, background] + self.parts + ["</svg>", ""])


def r(value):
    """Coordinates to 0.1 px: smaller files, no visible difference."""
    return ("%.1f" % value).rstrip("0").rstrip(".")


def text_width(body, size):
    """A rough width of `body` in pixels (for placing legends; DejaVu Sans averages ~0.58 em)."""
    return len(body) * size * 0.58


def tick_format(ticks):
    """A label function that writes every tick with the decimals their step needs (0, 0.5, 1.0, ...)."""
    step = abs(ticks[1] - ticks[0]) if len(ticks) > 1 else 1
    decimals = max(0, -math.floor(math.log10(step) + 1e-9)) if step > 0 else 0
    return lambda value: "%.*f" % (decimals, value)


def y_axis(drawing, scale, ticks, x0, x1, label_format=None, size=11):
    """Horizontal grid lines with labels left of x0 (by default, as `tick_format` writes them)."""
    label_format = label_format or tick_format(ticks)
    for tick in ticks:
        y = scale(tick)
        drawing.line(x0, y, x1, y, stroke=GRID)
        drawing.text(x0 - 6, y + 4, label_format(tick), size=size, anchor="end", fill=MUTED)
    drawing.line(x0, scale(ticks[0]), x0, scale(ticks[-1]), stroke=AXIS)
