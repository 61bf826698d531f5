// The insights page's charts, drawn with Chart.js from the figures the page carries
// (the tables beside them hold the same numbers, and work without this script).
"use strict";
(function () {
  const data = JSON.parse(document.getElementById("insights-data").textContent);
  const f = data.figures;
  if (typeof Chart === "undefined") return; // Chart.js not installed: the tables say it all
  Chart.defaults.animation = false;
  Chart.defaults.maintainAspectRatio = false;
  const blue = "#1f5fbf", orange = "#f59e0b", palette = ["#1f5fbf", "#1b7a3d", "#f59e0b", "#b3261e", "#7c3aed", "#0891b2", "#64748b"];

  function chart(id, config) {
    const canvas = document.getElementById(id);
    if (canvas) new Chart(canvas, config);
  }

  const days = f.volume.per_day;
  chart("chart-days", {
    type: "bar",
    data: {
      labels: days.map((d) => d.day),
      datasets: [
        { label: "inbound", data: days.map((d) => d.inbound || 0), backgroundColor: blue },
        { label: "outbound", data: days.map((d) => d.outbound || 0), backgroundColor: orange },
      ],
    },
    options: { plugins: { title: { display: true, text: "Calls per day" } }, scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true } } },
  });

  // local hours with their UTC offset ("2026-11-01T01:00-04:00"): the night the clocks go
  // back has two 01:00 hours, kept apart, and labelled by their wall-clock time
  const hours = {};
  for (const h of f.volume.per_hour) hours[h.hour] = (hours[h.hour] || 0) + h.calls;
  chart("chart-hours", {
    type: "line",
    data: { labels: Object.keys(hours).map((h) => h.slice(5, 16).replace("T", " ")), datasets: [{ label: "calls", data: Object.values(hours), borderColor: blue, backgroundColor: blue }] },
    options: { plugins: { title: { display: true, text: "Calls per hour" } }, scales: { y: { beginAtZero: true } } },
  });

  const outcomes = Object.entries(f.outcomes);
  chart("chart-outcomes", {
    type: "doughnut",
    data: { labels: outcomes.map((o) => o[0]), datasets: [{ data: outcomes.map((o) => o[1]), backgroundColor: palette }] },
    options: { plugins: { legend: { position: "right" } } },
  });

  // Every step gets its own labelled bar: the chart grows with the steps (Chart.js skipped
  // every other label of a fixed-height chart, so bars and labels did not line up).
  const funnelSteps = [];
  const names = data.state_names || {};
  const named = (state) => {
    const name = names[state] || state.replace(/_/g, " ");
    return name.length > 60 ? `${name.slice(0, 59)}…` : name;
  };
  for (const p of f.paths) for (const step of p.funnel) funnelSteps.push({ label: `${p.path.replace(/_/g, " ")} · ${named(step.state)}`, calls: step.calls });
  const funnel = document.getElementById("chart-funnel");
  if (funnel) funnel.parentElement.style.height = `${Math.max(240, 60 + 26 * funnelSteps.length)}px`;
  chart("chart-funnel", {
    type: "bar",
    data: { labels: funnelSteps.map((s) => s.label), datasets: [{ label: "calls", data: funnelSteps.map((s) => s.calls), backgroundColor: blue }] },
    options: {
      indexAxis: "y",
      plugins: { legend: { display: false }, title: { display: true, text: "Funnel of the main paths" } },
      scales: { y: { ticks: { autoSkip: false } }, x: { beginAtZero: true } },
    },
  });

  if (f.satisfaction) {
    const dist = Object.entries(f.satisfaction.distribution);
    chart("chart-scores", {
      type: "bar",
      data: { labels: dist.map((d) => d[0]), datasets: [{ label: "answers", data: dist.map((d) => d[1]), backgroundColor: blue }] },
      options: { plugins: { title: { display: true, text: "Scores (1-5)" } }, scales: { y: { beginAtZero: true } } },
    });
    chart("chart-trend", {
      type: "line",
      data: { labels: f.satisfaction.trend.map((t) => t.day), datasets: [{ label: "average", data: f.satisfaction.trend.map((t) => t.average), borderColor: blue }] },
      options: { plugins: { title: { display: true, text: "Average score per day" } }, scales: { y: { min: 1, max: 5 } } },
    });
  }
  document.body.dataset.chartsReady = "yes";
})();
