"""A small line chart as PNG, drawn with Pillow (installed with the app): no plotting library needed."""
from __future__ import annotations

import math
import os
from collections.abc import Sequence

from PIL import Image, ImageDraw

COLOURS = ((31, 119, 180), (214, 39, 40), (44, 160, 44), (148, 103, 189), (255, 127, 14), (23, 190, 207))


def line_panels(path: str | os.PathLike, x: Sequence[float], panels: Sequence[tuple[str, dict[str, Sequence]]],
                x_label: str = "step", size: tuple[int, int] = (520, 300)) -> None:
    """Panels side by side, each `(title, {series name: y values aligned with x})`; None or NaN values are gaps.

    A dashed grey line marks y = 0 when a panel's range crosses it (e.g. the text gap).
    """
    w, h = size
    image = Image.new("RGB", (w * len(panels), h), "white")
    draw = ImageDraw.Draw(image)
    left, right, top, bottom = 60, 12, 28, 40
    for p, (title, series) in enumerate(panels):
        ox = p * w
        values = [v for ys in series.values() for v in ys if v is not None and math.isfinite(v)]
        lo, hi = (min(values), max(values)) if values else (0.0, 1.0)
        if hi - lo < 1e-9:
            lo, hi = lo - 0.5, hi + 0.5
        x_lo, x_hi = min(x), max(x) if len(x) > 1 and max(x) > min(x) else min(x) + 1

        def at(xv: float, yv: float) -> tuple[float, float]:
            return (ox + left + (xv - x_lo) / (x_hi - x_lo) * (w - left - right),
                    top + (hi - yv) / (hi - lo) * (h - top - bottom))

        draw.rectangle([ox + left, top, ox + w - right, h - bottom], outline="black")
        draw.text((ox + left, 8), title, fill="black")
        for frac in (0.0, 0.5, 1.0):
            yv = lo + frac * (hi - lo)
            draw.text((ox + 4, at(x_lo, yv)[1] - 6), f"{yv:.3g}", fill="black")
        for xv in (x_lo, (x_lo + x_hi) / 2, x_hi):
            draw.text((at(xv, lo)[0] - 10, h - bottom + 4), f"{xv:.0f}", fill="black")
        draw.text((ox + w // 2 - 10, h - 16), x_label, fill="black")
        if lo < 0 < hi:
            y0 = at(x_lo, 0.0)[1]
            for xs in range(int(ox + left), int(ox + w - right), 8):
                draw.line([(xs, y0), (xs + 4, y0)], fill=(150, 150, 150))
        for k, (name, ys) in enumerate(series.items()):
            colour = COLOURS[k % len(COLOURS)]
            points = [at(xv, yv) if yv is not None and math.isfinite(yv) else None for xv, yv in zip(x, ys)]
            for a, b in zip(points, points[1:]):
                if a is not None and b is not None:
                    draw.line([a, b], fill=colour, width=2)
            for pt in points:
                if pt is not None:
                    draw.ellipse([pt[0] - 2, pt[1] - 2, pt[0] + 2, pt[1] + 2], fill=colour)
            draw.text((ox + left + 6, top + 4 + 12 * k), name, fill=colour)
    image.save(path)
