// The agent desk: draws the desk from the server's live snapshots (server-sent events) and
// sends the agent's actions. Everything from the server goes in with textContent, never as HTML.
"use strict";

const desk = document.getElementById("desk");
const me = desk.dataset.username;
let clockSkew = 0; // server time minus this browser's, so waiting times match the server's clock

function el(tag, props = {}, children = []) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === "text") node.textContent = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else node.setAttribute(key, value);
  }
  for (const child of children) node.append(child);
  return node;
}

function label(key) {
  const words = key.replace(/_/g, " ");
  return words.charAt(0).toUpperCase() + words.slice(1);
}

/** Who is calling: the name on file, how the line knows it is them, and the number. */
function whoView(pop, number) {
  const verified = pop.verified.startsWith("Verified");
  return el("div", { class: "caller-who" }, [
    el("b", { class: "who-name", text: pop.who }),
    el("span", { class: `verified ${verified ? "ok" : "muted"}`, text: pop.verified }),
    el("span", { class: "caller", text: number || "Unknown number" }),
  ]);
}

/** What they want and the one fact that matters first; the rest folded away (screen_pop.py). */
function popView(pop, callSid) {
  const view = el("div", { class: "pop" }, [el("p", { class: "wants", text: pop.wants })]);
  if (pop.said) view.append(el("p", { class: "said", text: `“${pop.said}”` }));
  if (pop.facts.length) {
    view.append(el("p", { class: "fact", text: pop.facts[0] }));
    for (const fact of pop.facts.slice(1)) view.append(el("p", { class: "fact other", text: fact }));
  }
  if (pop.told) view.append(el("p", { class: "told" }, [el("span", { class: "muted", text: "The line told them: " }), pop.told]));
  const more = el("details", { class: "more" }, [el("summary", { text: "Everything the line collected" })]);
  const list = el("dl", { class: "context" });
  for (const [name, value] of pop.details) list.append(el("dt", { text: name }), el("dd", { text: value }));
  more.append(list);
  if (callSid) more.append(transcriptLink(callSid));
  view.append(more);
  return view;
}

/** Every time on the desk in the screen pop's one format ("21 Nov, 14:05", screen_pop.day). */
function when(seconds) {
  return new Intl.DateTimeFormat("en-GB", {
    day: "numeric", month: "short", hour: "2-digit", minute: "2-digit",
  }).format(new Date(seconds * 1000));
}

function transcriptLink(callSid) {
  return el("a", { href: `/console/agent/calls/${encodeURIComponent(callSid)}/transcript`, class: "transcript-link", text: "Transcript" });
}

function waited(since) {
  const seconds = Math.max(0, Math.floor(Date.now() / 1000 + clockSkew - since));
  const m = Math.floor(seconds / 60), s = seconds % 60;
  return `${m}:${String(s).padStart(2, "0")}`;
}

function tick() {
  for (const node of desk.querySelectorAll("[data-since]")) node.textContent = waited(Number(node.dataset.since));
}

function showError(message) {
  const box = document.getElementById("desk-error");
  box.textContent = message;
  box.hidden = !message;
}

async function act(url, body = {}) {
  showError("");
  let response;
  try {
    response = await consoleFetch(url, { json: body });
  } catch (err) {
    showError("The console did not answer. Check the connection and try again.");
    return null;
  }
  let answer = null;
  try {
    answer = await response.json();
  } catch (err) {
    answer = null;
  }
  if (!response.ok || !answer || !answer.ok) {
    showError(answer && answer.message ? answer.message : `That did not work (HTTP ${response.status}). Reload the page.`);
    return null;
  }
  return answer;
}

const STATE_WORDS = { waiting: "Waiting", offered: "Ringing", bridged: "Bridged" };

function queueRow(entry, agents) {
  let state = STATE_WORDS[entry.state] || label(entry.state);
  if (entry.offered_to && entry.state !== "waiting") {
    state += ` · ${entry.offered_to === me ? "you" : agents.get(entry.offered_to) || entry.offered_to}`;
  }
  const take = el("button", { type: "button", class: "take", text: "Take" });
  take.disabled = entry.state !== "waiting";
  take.addEventListener("click", () => act("/console/agent/take", { entry_id: entry.id }));
  return el("tr", { dataset: { entryId: entry.id, state: entry.state } }, [
    el("td", { text: entry.position == null ? "" : String(entry.position) }),  // a bridged caller has no place
    el("td", { class: "waited", dataset: { since: String(entry.enqueued_at) }, text: waited(entry.enqueued_at) }),
    el("td", {}, [whoView(entry.pop, entry.caller)]),
    el("td", {}, [popView(entry.pop, entry.call_sid)]),
    el("td", { class: "state", text: state }),
    el("td", {}, [take]),
  ]);
}

function callbackRow(callback) {
  const call = el("button", { type: "button", class: "call-back", text: "Call back" });
  call.disabled = !["pending", "retry", "failed"].includes(callback.state);
  call.addEventListener("click", () => act(`/console/agent/callbacks/${encodeURIComponent(callback.id)}/call`));
  const state = el("td", { class: "state", text: label(callback.state) });
  if (callback.last_error) state.append(el("div", { class: "error", text: callback.last_error }));
  return el("tr", { dataset: { callbackId: callback.id } }, [
    el("td", { text: when(callback.requested_at) }),
    el("td", {}, [whoView(callback.pop, callback.number)]),
    el("td", {}, [popView(callback.pop, callback.call_sid)]),
    el("td", { text: String(callback.attempts) }),
    state,
    el("td", {}, [call]),
  ]);
}

function voicemailItem(voicemail) {
  const done = el("button", { type: "button", class: "done", text: "Mark done" });
  done.addEventListener("click", () => act(`/console/agent/voicemails/${encodeURIComponent(voicemail.id)}/done`));
  const heard = voicemail.transcript
    ? el("blockquote", { class: "transcript-text", text: voicemail.transcript })
    : el("p", { class: "muted no-transcript", text: voicemail.no_transcript || "No transcript." });
  const audio = voicemail.has_audio
    ? el("audio", { controls: "", preload: "none", src: `/console/agent/voicemails/${encodeURIComponent(voicemail.id)}/audio` })
    : el("p", { class: "muted", text: "No recording could be fetched." });
  return el("li", { class: "voicemail", dataset: { voicemailId: voicemail.id } }, [
    el("div", { class: "voicemail-head" }, [
      whoView(voicemail.pop, voicemail.caller),
      el("span", { class: "muted left-at", text: when(voicemail.recorded_at) }),
    ]),
    popView(voicemail.pop, voicemail.call_sid),
    audio,
    heard,
    done,
  ]);
}

/** Replace a list's rows; keep a playing voicemail's player by keying items on their id. */
function fill(listId, items, build) {
  const list = document.getElementById(listId);
  const playing = new Map();
  for (const audio of list.querySelectorAll("audio")) {
    if (!audio.paused) playing.set(audio.closest("[data-voicemail-id]").dataset.voicemailId, audio.closest("li"));
  }
  list.replaceChildren(...items.map((item) => playing.get(item.id) || build(item)));
  document.getElementById(`${listId}-empty`).hidden = items.length > 0;
  document.getElementById(`${listId}-count`).textContent = items.length ? `(${items.length})` : "";
}

function draw(state) {
  clockSkew = state.server_time - Date.now() / 1000;
  const agents = new Map(state.agents.map((a) => [a.username, a.name]));
  const mine = state.agents.find((a) => a.username === me);
  const status = mine ? mine.status : "offline";
  // The desk set this agent busy after a whisper nobody answered: say so, never silently.
  const missed = document.getElementById("missed-note");
  missed.hidden = !(mine && mine.status === "busy" && mine.missed_at);
  if (!missed.hidden) {
    const at = new Date(mine.missed_at * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
    missed.textContent = `At ${at} a caller rang your phone and no key was pressed, so the desk set you to Busy: ` +
      "no caller is offered to you until you choose Available. You can still Take callers yourself.";
  }
  const statusEl = document.getElementById("my-status");
  statusEl.textContent = label(status);
  statusEl.dataset.status = status;
  for (const button of desk.querySelectorAll(".status-buttons button")) {
    button.classList.toggle("secondary", button.dataset.status !== status);
    button.setAttribute("aria-pressed", String(button.dataset.status === status));
  }
  const emergency = document.getElementById("emergency-state");
  emergency.textContent = state.emergency_closed
    ? "The line is closed for an emergency: callers hear the closed message."
    : "The line follows its opening hours.";
  emergency.className = state.emergency_closed ? "error" : "muted";
  const switcher = document.getElementById("emergency-switch");
  if (switcher) {
    switcher.textContent = state.emergency_closed ? "Reopen the line" : "Close the line (emergency)";
    switcher.dataset.closed = String(state.emergency_closed);
  }
  fill("queue", state.queue, (entry) => queueRow(entry, agents));
  fill("callbacks", state.callbacks, callbackRow);
  fill("voicemails", state.voicemails, voicemailItem);
}

for (const button of desk.querySelectorAll(".status-buttons button")) {
  button.addEventListener("click", () => act("/console/agent/status", { status: button.dataset.status }));
}
document.getElementById("take-next").addEventListener("click", () => act("/console/agent/take", {}));
const switcher = document.getElementById("emergency-switch");
if (switcher) {
  switcher.addEventListener("click", () => {
    const closing = switcher.dataset.closed !== "true";
    if (closing && !window.confirm("Close the line now? Callers will hear the closed message until it is reopened.")) return;
    act("/console/agent/emergency", { closed: closing });
  });
}

const live = document.getElementById("live");
const events = new EventSource("/console/agent/events");
events.addEventListener("snapshot", (event) => {
  draw(JSON.parse(event.data));
  live.textContent = "Live";
  live.className = "ok";
});
events.addEventListener("error", () => {
  // EventSource reconnects by itself; say so, so nobody trusts a stale queue.
  live.textContent = "Reconnecting…";
  live.className = "warning";
});
setInterval(tick, 1000);
