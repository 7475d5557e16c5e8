"""The page skeleton of every deploysim page (run, sweep and plan reports, the index).

A page is one self-contained HTML file: it embeds plotly.js exactly once, inline, and makes
no network request of any kind (no CDN, no web fonts, no MathJax); a Content-Security-Policy
``<meta>`` tag backs this up, so even a future plotly feature that tried to fetch something
would be blocked (and logged) instead of silently phoning home.

Figures are drawn lazily: each figure's JSON sits in a ``<script type="application/json">``
block next to an empty, correctly sized ``<div>``, and a small script draws a figure when it
comes within a screen or so of the viewport (``IntersectionObserver``). A report of 100
scenarios carries thousands of traces; drawing them all at load time blocked the browser for
tens of seconds, while drawing only what the reader scrolls to keeps the first screen quick
(numbers in the README, "Sweep and plan reports"). Everything is still in the one file, so
the page works offline, and it prints completely (``beforeprint`` draws the rest).
"""

from __future__ import annotations

import html
import json
import os
import pathlib
import tempfile
from collections.abc import Sequence

import plotly.graph_objects as go
import plotly.io as pio
from plotly.offline import get_plotlyjs

__all__ = [
    "CSP",
    "CSS",
    "PLOTLY_CONFIG",
    "esc",
    "figure_block",
    "figure_scripts",
    "page_html",
    "section",
    "write_atomic",
]

PLOTLY_CONFIG: dict[str, object] = {"displaylogo": False, "responsive": True}

# Blocks every fetch: scripts and styles only inline, images only data:/blob: (plotly's
# "download as PNG" uses those). 'unsafe-inline' is needed because everything is inline.
CSP = (
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
    "img-src data: blob:; font-src data:; connect-src 'none'; base-uri 'none'; "
    "form-action 'none'"
)

CSS = """
:root { color-scheme: light; --fg: #1f2430; --muted: #5b6170; --line: #d9dce3; }
* { box-sizing: border-box; }
body { margin: 0; color: var(--fg); background: #fff; line-height: 1.45;
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial,
  sans-serif; }
header, main, footer { max-width: 1200px; margin: 0 auto; padding: 0 1rem; }
header { padding-top: 1.5rem; }
h1 { font-size: 1.6rem; margin: 0 0 .4rem; overflow-wrap: anywhere; }
h2 { font-size: 1.2rem; margin: 2rem 0 .5rem; border-bottom: 1px solid var(--line);
  padding-bottom: .2rem; }
.question { font-size: 1.05rem; margin: 0 0 1rem; overflow-wrap: anywhere; }
.comparison { margin: 0 0 1rem; max-width: 60rem; overflow-wrap: anywhere; }
dl.meta { display: grid; grid-template-columns: max-content 1fr; gap: .2rem 1rem;
  margin: 0; }
dl.meta dt { font-weight: 600; }
dl.meta dd { margin: 0; overflow-wrap: anywhere; }
.table-wrap { overflow-x: auto; }
table.summary { border-collapse: collapse; width: 100%; font-size: .88rem; }
table.summary th, table.summary td { padding: .35rem .45rem; border-bottom: 1px solid var(--line);
  text-align: right; white-space: nowrap; }
table.summary thead th { white-space: normal; vertical-align: bottom; }
table.summary th:first-child, table.summary td:first-child { text-align: left;
  white-space: normal; overflow-wrap: break-word; min-width: 6rem; max-width: 16rem; }
table.summary thead th { background: #f4f5f8; }
table.summary tbody tr:hover { background: #fafbfc; }
.figure { width: 100%; min-height: 260px; }
.how { color: var(--muted); font-size: .9rem; margin: .3rem 0 0; }
footer { color: var(--muted); font-size: .85rem; margin-top: 2.5rem; padding-bottom: 1.5rem;
  border-top: 1px solid var(--line); padding-top: .6rem; }
"""

# Additions for the tables and notes of the sweep, plan and index pages.
_EXTRA_CSS = """
table.summary td.left, table.summary th.left { text-align: left; white-space: normal;
  overflow-wrap: break-word; }
table.summary.sweep td { white-space: normal; overflow-wrap: break-word; max-width: 20rem; }
.note { background: #fff7e6; border-left: 4px solid #f0a020; padding: .4rem .7rem;
  margin: .6rem 0; overflow-wrap: anywhere; }
.error { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: .82rem;
  white-space: pre-wrap; overflow-wrap: anywhere; text-align: left; }
details > summary { cursor: pointer; margin: .6rem 0; font-weight: 600; }
.figure-box { width: 100%; }
"""

# Draws each figure when it nears the viewport; ``beforeprint`` draws every one. A figure is
# drawn at most once (``data-drawn``). The JSON is parsed only when drawn, so the cost of a
# figure nobody looks at is the bytes of its JSON.
_LOADER = """
(function () {
  "use strict";
  var config = %s;
  var boxes = Array.prototype.slice.call(document.querySelectorAll("div.deploysim-figure"));
  function draw(box) {
    if (box.getAttribute("data-drawn")) { return; }
    box.setAttribute("data-drawn", "1");
    var spec = JSON.parse(document.getElementById(box.id + "-data").textContent);
    Plotly.newPlot(box, spec.data, spec.layout, config);
  }
  function drawAll() { boxes.forEach(draw); }
  window.deploysimDrawAll = drawAll;
  window.addEventListener("beforeprint", drawAll);
  if (!("IntersectionObserver" in window)) { drawAll(); return; }
  var seen = new IntersectionObserver(function (entries) {
    entries.forEach(function (entry) {
      if (entry.isIntersecting) { seen.unobserve(entry.target); draw(entry.target); }
    });
  }, { rootMargin: "600px 0px" });
  boxes.forEach(function (box) { seen.observe(box); });
})();
"""


def esc(value: object) -> str:
    """Escape any value for HTML text or a quoted attribute."""
    return html.escape(str(value), quote=True)


def section(heading: str, body: str, how: str | None = None, *, anchor: str | None = None) -> str:
    """A titled ``<section>``; ``how`` (plain text) becomes the "How to read this" note."""
    ident = f' id="{esc(anchor)}"' if anchor else ""
    note = f'<p class="how"><strong>How to read this:</strong> {esc(how)}</p>' if how else ""
    return f"<section{ident}><h2>{esc(heading)}</h2>{body}{note}</section>"


def figure_block(fig: go.Figure, div_id: str) -> str:
    """An empty, sized placeholder for ``fig`` plus the figure's JSON, drawn lazily.

    ``div_id`` must be unique on the page. plotly's JSON encoder writes ``<``, ``>`` and
    ``/`` as ``\\u`` escapes, so no user string can close the ``<script>`` block early.
    """
    height = fig.layout.height if fig.layout.height is not None else 460
    data = pio.to_json(fig, validate=False)
    # Belt and braces: the encoder already escapes these, but the page must never depend on it.
    data = data.replace("<", "\\u003c").replace(">", "\\u003e")
    ident = esc(div_id)
    return (
        f'<div class="figure-box"><div id="{ident}" class="deploysim-figure" '
        f'style="min-height:{int(height)}px"></div>'
        f'<script type="application/json" id="{ident}-data">{data}</script></div>'
    )


def figure_scripts() -> str:
    """plotly.js (inline, once per page) and the loader that draws the figure blocks.

    Goes at the end of ``<body>``, after every :func:`figure_block`.
    """
    return (
        f"<script>{get_plotlyjs()}</script>\n<script>{_LOADER % json.dumps(PLOTLY_CONFIG)}</script>"
    )


def page_html(
    *,
    title: str,
    kind: str,
    header: Sequence[str],
    body: Sequence[str],
    with_figures: bool,
) -> str:
    """The complete page: ``header`` and ``body`` are HTML fragments (already escaped).

    ``kind`` names the page in the browser tab ("sweep report", "index", ...). plotly.js and
    the lazy loader are included only when ``with_figures``.
    """
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
        '<meta name="generator" content="deploysim">',
        '<link rel="icon" href="data:,">',
        f"<title>{esc(title)} · deploysim {esc(kind)}</title>",
        f"<style>{CSS}{_EXTRA_CSS}</style>",
        "</head>",
        "<body>",
        "<header>",
        *header,
        "</header>",
        "<main>",
        *body,
        "</main>",
        "<footer>Generated by deploysim.</footer>",
    ]
    if with_figures:
        parts.append(figure_scripts())
    parts += ["</body>", "</html>"]
    return "\n".join(parts) + "\n"


def write_atomic(path: pathlib.Path, text: str) -> None:
    """Write ``text`` to ``path`` as UTF-8 via a temporary sibling and a rename.

    A reader (a browser refreshing the index, say) sees the old file or the new one, never
    half of one; an interrupted write leaves no stray temporary file behind.
    """
    path = pathlib.Path(path)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.tmp-", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.chmod(tmp_name, 0o644)
        os.replace(tmp_name, path)
    except BaseException:
        pathlib.Path(tmp_name).unlink(missing_ok=True)
        raise
