// The campaigns page: progress without a reload button. Every 15 s the page reloads, unless
// someone is in the middle of something on it (a focused control): a <meta refresh> would
// pull the page from under them, and screen readers announce it as a new page each time.
"use strict";

setInterval(() => {
  const busy = document.activeElement && document.activeElement !== document.body;
  if (!busy && document.visibilityState === "visible") window.location.reload();
}, 15000);
