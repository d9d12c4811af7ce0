"""Server-rendered SVG: the usage chart, one bar per day stacked by model."""

from __future__ import annotations

from dataclasses import dataclass

from markupsafe import Markup, escape

PALETTE = ("#4f46e5", "#0891b2", "#16a34a", "#ca8a04", "#dc2626", "#9333ea", "#64748b")
WIDTH, HEIGHT, LEFT, BOTTOM, TOP = 720, 260, 76, 36, 12


@dataclass(frozen=True)
class Chart:
    svg: Markup
    legend: list[tuple[str, str]]  # (model, colour)


def stacked_bars(days: dict[str, dict[str, float]]) -> Chart | None:
    """A bar per day, each model's spend a segment in its own colour; None without data."""
    if not days:
        return None
    models = sorted({m for per_day in days.values() for m in per_day})
    colour = {m: PALETTE[i % len(PALETTE)] for i, m in enumerate(models)}
    peak = max(sum(per_day.values()) for per_day in days.values()) or 1.0
    plot_w, plot_h = WIDTH - LEFT - 8, HEIGHT - BOTTOM - TOP
    slot = plot_w / len(days)
    bar = max(2.0, min(48.0, slot * 0.7))
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-labelledby="chart-title" class="chart"><title id="chart-title">Spend per day, '
        f"stacked by model</title>",
        f'<line x1="{LEFT}" y1="{TOP + plot_h}" x2="{WIDTH - 8}" y2="{TOP + plot_h}" '
        'stroke="currentColor" stroke-opacity="0.4"/>',
    ]
    for fraction in (0.5, 1.0):
        y = TOP + plot_h * (1 - fraction)
        parts.append(
            f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11">'
            f"${peak * fraction:.4g}</text>"
            f'<line x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - 8}" y2="{y:.1f}" '
            'stroke="currentColor" stroke-opacity="0.12"/>'
        )
    for i, (day, per_day) in enumerate(days.items()):
        x = LEFT + slot * i + (slot - bar) / 2
        y = TOP + plot_h
        for model in models:
            usd = per_day.get(model, 0.0)
            if usd <= 0:
                continue
            h = plot_h * usd / peak
            y -= h
            parts.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{max(h, 0.5):.1f}" '
                f'fill="{colour[model]}"><title>{escape(day)} {escape(model)}: '
                f"${usd:.6f}</title></rect>"
            )
        parts.append(
            f'<text x="{x + bar / 2:.1f}" y="{HEIGHT - BOTTOM + 16}" text-anchor="middle" '
            f'font-size="11">{escape(day[5:])}</text>'
        )
    parts.append("</svg>")
    return Chart(svg=Markup("".join(parts)), legend=[(m, colour[m]) for m in models])  # noqa: S704
