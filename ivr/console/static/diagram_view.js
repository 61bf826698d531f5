// The flow diagram's viewer: opens fitted to its panel, zooms (buttons, wheel) and pans (drag)
// by moving the SVG's viewBox, and reports clicks on states. Small on purpose: a viewBox and
// a few pointer events are all it takes, so no library is served for it.
"use strict";

class DiagramView {
  /** panel: the element the SVG is shown in; onClick(node id) for a click on a node. */
  constructor(panel, onClick) {
    this.panel = panel;
    this.onClick = onClick;
    this.svg = null;
    this.full = null; // the drawing's own box {x, y, w, h}, in SVG units
    this.view = null; // what the panel shows {x, y, scale: panel pixels per SVG unit}
    this.moved = false; // the supervisor zoomed or panned: a redraw keeps their view
    this.drag = null;
    panel.addEventListener("wheel", (event) => this.wheel(event), { passive: false });
    panel.addEventListener("pointerdown", (event) => this.down(event));
    panel.addEventListener("pointermove", (event) => this.move(event));
    panel.addEventListener("pointerup", (event) => this.up(event));
    panel.addEventListener("pointercancel", () => { this.drag = null; });
    new ResizeObserver(() => this.svg && (this.moved ? this.apply() : this.fit())).observe(panel);
  }

  /** Show a new drawing; a supervisor's own zoom and pan survive a redraw after an edit. */
  show(svgText) {
    this.panel.innerHTML = svgText;
    this.svg = this.panel.querySelector("svg");
    const [x, y, w, h] = this.svg.getAttribute("viewBox").split(/[\s,]+/).map(Number);
    this.full = { x, y, w, h };
    this.svg.removeAttribute("width");
    this.svg.removeAttribute("height");
    this.svg.setAttribute("preserveAspectRatio", "xMinYMin meet");
    if (this.moved && this.view) this.apply();
    else this.fit();
  }

  /** The whole drawing, as large as the panel allows, centred. */
  fit() {
    const { width, height } = this.size();
    if (!this.svg || !width || !height) return; // not laid out yet: the ResizeObserver calls again
    const scale = Math.min(width / this.full.w, height / this.full.h);
    this.view = {
      scale,
      x: this.full.x - (width / scale - this.full.w) / 2,
      y: this.full.y - (height / scale - this.full.h) / 2,
    };
    this.moved = false;
    this.apply();
  }

  /** Zoom by `factor` keeping the point under (px, py) (panel pixels) where it is. */
  zoom(factor, px, py) {
    if (!this.view) return;
    const { width, height } = this.size();
    const cx = px === undefined ? width / 2 : px;
    const cy = py === undefined ? height / 2 : py;
    const fitted = Math.min(width / this.full.w, height / this.full.h);
    const scale = Math.min(Math.max(this.view.scale * factor, fitted / 4), 8);
    this.view.x += cx / this.view.scale - cx / scale;
    this.view.y += cy / this.view.scale - cy / scale;
    this.view.scale = scale;
    this.moved = true;
    this.apply();
  }

  /** The smallest state name as drawn now, in CSS pixels (0 before anything is drawn). */
  smallestFont() {
    const sizes = [...this.panel.querySelectorAll("g.node text")].map(
      (text) => parseFloat(text.getAttribute("font-size")) * text.getScreenCTM().a,
    );
    return sizes.length ? Math.min(...sizes) : 0;
  }

  size() {
    return { width: this.panel.clientWidth, height: this.panel.clientHeight };
  }

  apply() {
    const { width, height } = this.size();
    const { x, y, scale } = this.view;
    this.svg.setAttribute("width", width);
    this.svg.setAttribute("height", height);
    this.svg.setAttribute("viewBox", `${x} ${y} ${width / scale} ${height / scale}`);
    this.panel.dataset.scale = scale.toFixed(4);
    this.panel.dispatchEvent(new CustomEvent("viewchange", { detail: { scale } }));
  }

  wheel(event) {
    if (!this.view) return;
    event.preventDefault();
    const box = this.panel.getBoundingClientRect();
    this.zoom(Math.exp(-event.deltaY / 500), event.clientX - box.left, event.clientY - box.top);
  }

  down(event) {
    if (!this.view || event.button !== 0) return;
    this.drag = { x: event.clientX, y: event.clientY, from: { ...this.view }, far: false, target: event.target };
    this.panel.setPointerCapture(event.pointerId);
  }

  move(event) {
    const drag = this.drag;
    if (!drag) return;
    const dx = event.clientX - drag.x;
    const dy = event.clientY - drag.y;
    if (!drag.far && Math.hypot(dx, dy) < 4) return; // a click that trembled is still a click
    drag.far = true;
    this.panel.classList.add("dragging");
    this.view.x = drag.from.x - dx / this.view.scale;
    this.view.y = drag.from.y - dy / this.view.scale;
    this.moved = true;
    this.apply();
  }

  up(event) {
    const drag = this.drag;
    this.drag = null;
    this.panel.classList.remove("dragging");
    if (!drag || drag.far) return;
    const node = drag.target.closest && drag.target.closest("g.node");
    if (node && this.panel.contains(node)) this.onClick(node.id, event);
  }
}

window.DiagramView = DiagramView;
