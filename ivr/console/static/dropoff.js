// The insights page's drop-off diagram: the whole flow fitted into its panel was names at
// about 8 px with no way to look closer. The flow editor's viewer (diagram_view.js) zooms and
// pans it; it opens at the smallest zoom whose names are readable, the top of the flow first.
"use strict";
(function () {
  const panel = document.getElementById("dropoff-diagram");
  if (!panel || !panel.querySelector("svg")) return;
  const LEGIBLE_PX = 10;
  const view = new DiagramView(panel, () => {});
  view.show(panel.innerHTML);
  const smallest = view.smallestFont();
  if (smallest && smallest < LEGIBLE_PX) view.zoom(LEGIBLE_PX / smallest, 0, 0);
  panel.addEventListener("viewchange", (event) => {
    document.getElementById("dropoff-zoom").textContent = `${Math.round(event.detail.scale * 100)}%`;
  });
  document.getElementById("dropoff-in").addEventListener("click", () => view.zoom(1.25));
  document.getElementById("dropoff-out").addEventListener("click", () => view.zoom(0.8));
  document.getElementById("dropoff-fit").addEventListener("click", () => view.fit());
  panel.dataset.ready = "yes";
})();
