"""The UI's templates (Jinja2, autoescaped) and what every page it sends carries: a
Content-Security-Policy that allows only this server's own scripts and styles (no inline
script, no inline style, so the templates have neither), and no framing."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.responses import HTMLResponse

HERE = Path(__file__).parent
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "object-src 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
MAX_SHOWN = 64 * 1024  # characters of one value's JSON a page shows (the API has it whole)

# State by icon and word as well as colour (the CSS colours `state-NAME`); the icons are
# glyphs common text fonts have (DejaVu Sans has every one), never emoji.
ICONS = {
    "pending": "○",
    "ready": "○",
    "running": "▶",
    "waiting": "◷",
    "paused": "‖",
    "retrying": "↻",
    "succeeded": "✓",
    "completed": "✓",
    "completed_with_errors": "⚠",
    "failed": "✗",
    "timed_out": "⊠",
    "skipped": "↷",
    "cancelled": "⊘",
}


def when(timestamp: float | None) -> str:
    if timestamp is None:
        return "—"
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def duration(start: float | None, end: float | None) -> str:
    """`end - start` for people (`1.2 s`, `3 m 4 s`); still running: up to now."""
    if start is None:
        return "—"
    seconds = max((end if end is not None else time.time()) - start, 0.0)
    if seconds < 60:
        return f"{seconds:.1f} s" if seconds < 10 else f"{seconds:.0f} s"
    minutes, rest = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} m {rest} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} m"


def pretty(value: Any) -> str:
    """A value as indented JSON, cut at `MAX_SHOWN` characters."""
    text = json.dumps(value, indent=2, ensure_ascii=False, default=str)
    if len(text) > MAX_SHOWN:
        return text[:MAX_SHOWN] + f"\n… ({len(text) - MAX_SHOWN} more characters)"
    return text


def short(text: str, limit: int = 22) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def icon(state: str) -> str:
    return ICONS.get(str(state), "•")


environment = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)
environment.filters.update(when=when, pretty=pretty, short=short, icon=icon)
environment.globals.update(duration=duration, icon=icon)


def page(name: str, status_code: int = 200, **values: Any) -> HTMLResponse:
    """Template `name` rendered with `values`, sent with the UI's security headers."""
    html = environment.get_template(name).render(**values)
    return HTMLResponse(html, status_code=status_code, headers=HEADERS)
