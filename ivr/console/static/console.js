// Shared by every console page: the CSRF header for fetch, and local times.
"use strict";
const csrfToken = document.querySelector('meta[name="csrf-token"]').content;

/** POST (or another method) to the console with the session's CSRF token; JSON in and out. */
async function consoleFetch(url, options = {}) {
  const headers = Object.assign({ "X-CSRF-Token": csrfToken }, options.headers || {});
  if (options.json !== undefined) {
    headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(options.json);
  }
  const response = await fetch(url, Object.assign({ method: "POST", credentials: "same-origin" }, options, { headers }));
  return response;
}

function showTimes(root = document) {
  for (const el of root.querySelectorAll("time[data-ts]")) {
    const ts = Number(el.dataset.ts);
    if (ts) el.textContent = new Date(ts * 1000).toLocaleString();
  }
}
showTimes();
