"""The page skeleton shared by the sweep, plan and index pages: one self-contained HTML file.

Like the run report (:mod:`reports.html`), a page embeds plotly.js exactly once, inline, and
makes no network request (the same Content-Security-Policy ``<meta>`` tag backs this up).

Figures are drawn lazily: each figure's JSON sits in a ``<script type="application/json">``
block next to an empty, correctly sized ``<div>``, and a small script draws a figure when it
comes within a screen or so of the viewport (``IntersectionObserver``). A sweep page with
100 scenarios carries thousands of traces; drawing them all at load time blocks the browser
for seconds, while drawing only what the reader scrolls to keeps the first screen instant
(numbers in the README, "Sweep and plan reports"). Everything is still in the one file, so
the page works offline and prints completely (``beforeprint`` draws the rest).
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

from reports.html import _CSP, _CSS, _PLOTLY_CONFIG

__all__ = [
    "esc",
    "figure_block",
    "page_html",
    "section",
    "write_atomic",
]

# Additions to the run report's style sheet for the tables and notes of these pages.
_EXTRA_CSS = """
table.summary td.left, table.summary th.left { text-align: left; white-space: normal;
  overflow-wrap: anywhere; }
table.summary tr.off td, table.summary tr.off th { color: var(--muted); }
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
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">',
        '<meta name="generator" content="deploysim">',
        '<link rel="icon" href="data:,">',
        f"<title>{esc(title)} · deploysim {esc(kind)}</title>",
        f"<style>{_CSS}{_EXTRA_CSS}</style>",
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
        parts.append(f"<script>{get_plotlyjs()}</script>")
        parts.append(f"<script>{_LOADER % json.dumps(_PLOTLY_CONFIG)}</script>")
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
