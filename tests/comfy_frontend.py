"""Drive ComfyUI's real frontend in Debian's headless Chromium through Python Playwright.

Used by the frontend tests and by ``tools/build_example_workflows.py`` (which builds the example
workflows with LiteGraph in the page, so they are exactly what the frontend itself would save).
No browser is downloaded: Playwright launches ``/usr/bin/chromium`` (``apt-get install chromium``).
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
from pathlib import Path
from typing import Iterator

CHROMIUM = os.environ.get("SEGUE_CHROMIUM", "/usr/bin/chromium")
# Without the networking flags Chromium keeps trying to reach Google's hosts, which this closed
# network refuses; --no-sandbox because tests run as root.
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--disable-quic",
]
# Settings that keep first-run dialogs and overlays out of the way (stored per server user dir).
QUIET_SETTINGS = {
    "Comfy.TutorialCompleted": True,
    "Comfy.Minimap.Visible": False,
    "Comfy.Graph.CanvasInfo": False,
    "LiteGraph.Canvas.MinFontSizeForLOD": 1,  # draw titles and widgets even when zoomed out
}
MISSING_NODES_TITLE = "Some Nodes Are Missing"
SCHEMA_ALERT = "Invalid workflow against zod schema"


def frontend_unavailable() -> str | None:
    """Why the frontend cannot be driven here, or None when it can."""
    if not Path(CHROMIUM).is_file():
        return f"no Chromium at {CHROMIUM} (apt-get install chromium, or set SEGUE_CHROMIUM)"
    if importlib.util.find_spec("playwright") is None:
        return "the playwright Python package is not installed (pip install playwright; no browser download needed)"
    return None


@contextlib.contextmanager
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


def open_app(b, server, width: int = 1024, height: int = 640):
    """A page with the ComfyUI app loaded and every node definition registered."""
    server.post("/settings", QUIET_SETTINGS)
    page = b.new_page(viewport={"width": width, "height": height})
    page.goto(server.url + "/")
    page.wait_for_function(
        "() => window.app && app.graph && window.LiteGraph && app.canvas"
        " && Object.keys(LiteGraph.registered_node_types).length > 100",
        timeout=90_000,
    )
    return page


def load_workflow(page, workflow: dict) -> list[str]:
    """``app.loadGraphData`` the workflow; returns the node types the frontend does not know."""
    page.evaluate("async (wf) => { await app.loadGraphData(wf); }", workflow)
    return page.evaluate(
        "() => app.graph.nodes.filter(n => !LiteGraph.registered_node_types[n.type]).map(n => n.type)"
    )


def visible_text(page, text: str) -> bool:
    loc = page.get_by_text(text, exact=False)
    return any(loc.nth(i).is_visible() for i in range(loc.count()))


def wait_visible_text(page, text: str, timeout_ms: int = 10_000) -> None:
    """Wait until ``text`` (case-insensitive, part of an element's text) is visible: the 0.3.64
    frontend titles its dialog "Some Nodes Are Missing", the 0.27 one (1.45) shows "Some nodes
    are missing and need to be installed" in an error panel, with hidden copies in the page."""
    for _ in range(max(1, timeout_ms // 250)):
        if visible_text(page, text):
            return
        page.wait_for_timeout(250)
    raise AssertionError(f"{text!r} never became visible; the page shows:\n"
                         f"{page.evaluate('() => document.body.innerText')[:2000]}")


def close_dialogs(page) -> None:
    page.keyboard.press("Escape")
    dismiss = page.get_by_role("button", name="Dismiss")    # the 0.27 frontend's error panel
    for i in range(dismiss.count()):
        if dismiss.nth(i).is_visible():
            dismiss.nth(i).click()
    page.evaluate("() => { try { app.extensionManager.dialog?.closeDialog?.(); } catch (e) {} }")


def graph_to_prompt(page) -> dict:
    """The frontend's own UI -> API conversion of the loaded graph."""
    return json.loads(page.evaluate("async () => JSON.stringify((await app.graphToPrompt()).output)"))


# Everything but the canvas and the DOM text widgets (Note text, multiline strings) is hidden for
# thumbnails: dialogs, menus, tabs and the zoom toolbar are not part of the graph.
_THUMBNAIL_CSS = """
body * { visibility: hidden !important; }
#graph-canvas, canvas.graph-canvas-panel, .comfy-multiline-input, .dom-widget, .dom-widget * {
  visibility: visible !important; }
"""


def fit_view(page, margin: int = 30) -> None:
    page.evaluate(
        """(margin) => {
            const ns = app.graph.nodes; let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
            for (const n of ns) {
                x0 = Math.min(x0, n.pos[0]); y0 = Math.min(y0, n.pos[1] - LiteGraph.NODE_TITLE_HEIGHT);
                x1 = Math.max(x1, n.pos[0] + n.size[0]); y1 = Math.max(y1, n.pos[1] + n.size[1]);
            }
            app.canvas.ds.fitToBounds([x0 - margin, y0 - margin, x1 - x0 + 2 * margin, y1 - y0 + 2 * margin], {zoom: 0.96});
            app.canvas.setDirty(true, true);
        }""",
        margin,
    )


def thumbnail_png(page) -> bytes:
    """A screenshot of the graph alone, fitted to the viewport."""
    fit_view(page)
    style = page.add_style_tag(content=_THUMBNAIL_CSS)
    page.wait_for_timeout(400)  # two animation frames for the canvas redraw and DOM widgets
    try:
        box = page.locator("#graph-canvas").bounding_box()
        return page.screenshot(type="png", clip=box) if box else page.screenshot(type="png")
    finally:
        style.evaluate("(el) => el.remove()")
