// The dev phone: one sandbox number's phone, over the sandbox's phone API (see docs/sandbox.md).
"use strict";
(function () {
  const root = document.getElementById("dev-phone");
  const number = root.dataset.number;
  const api = `/sandbox/phones/${encodeURIComponent(number)}`;
  const heard = document.getElementById("heard");
  const state = document.getElementById("call-state");
  const errorBox = document.getElementById("phone-error");
  const answerButton = document.getElementById("answer");
  const hangupButton = document.getElementById("hangup");
  const speaker = document.getElementById("speaker");
  let call = "";
  let after = 0;
  const ended = new Set();
  const voice = [];  // what to play aloud, in order
  let playing = false;

  function setState(kind, text) {
    state.dataset.state = kind;
    state.textContent = text;
    answerButton.disabled = kind !== "ringing";
    hangupButton.disabled = kind === "idle";
  }

  function showError(text) {
    errorBox.textContent = text;
    errorBox.hidden = !text;
  }

  async function act(action, body) {
    showError("");
    const response = await fetch(`${api}/${action}`, {
      method: "POST",
      headers: { "Content-Type": body instanceof Blob ? "audio/wav" : "application/json" },
      body: body instanceof Blob ? body : JSON.stringify(body),
    });
    const answer = await response.json().catch(() => ({}));
    if (!response.ok) showError(answer.error || `The sandbox answered ${response.status}.`);
    return response.ok ? answer : null;
  }

  function line(event, text, note) {
    const item = document.createElement("li");
    item.dataset.kind = event.kind;
    item.dataset.call = event.call;
    item.textContent = text;
    if (note) item.className = "note";
    heard.append(item);
    heard.scrollTop = heard.scrollHeight;
    return item;
  }

  async function speak(event) {
    const answer = await consoleFetch(`/console/phone/${encodeURIComponent(number)}/listen`, { json: { event: event.id } });
    if (!answer.ok) return null;
    return (await answer.json()).audio;
  }

  async function playNext() {
    if (playing || !voice.length) return;
    playing = true;
    const next = voice.shift();
    try {
      const url = typeof next === "string" ? next : await speak(next);
      if (url) {
        const audio = new Audio(url);
        await new Promise((done) => { audio.onended = done; audio.onerror = done; audio.play().catch(done); });
      }
    } finally {
      playing = false;
      playNext();
    }
  }

  function show(event) {
    switch (event.kind) {
      case "ringing":
        call = event.call;
        setState("ringing", `ringing: ${event.text}`);
        line(event, `Ringing: ${event.text}`, true);
        break;
      case "answered":
        call = event.call;
        setState("answered", "in a call");
        line(event, event.text ? `Answered: ${event.text}` : "Answered", true);
        break;
      case "say": {
        const item = line(event, event.text);
        const listen = document.createElement("button");
        listen.type = "button";
        listen.className = "secondary listen";
        listen.textContent = "Listen";
        listen.addEventListener("click", () => { voice.push(event); playNext(); });
        item.append(listen);
        if (speaker.checked) { voice.push(event); playNext(); }
        break;
      }
      case "play":
        line(event, event.text === "music" ? "[hold music]" : "[recorded prompt]", true);
        if (speaker.checked && event.text !== "music" && event.url.startsWith(location.origin)) {
          voice.push(event.url);
          playNext();
        }
        break;
      case "listening":
        line(event, "(the line listens: press keys or say something)", true);
        break;
      case "queued": // the queue's own name is the line's business, not the caller's
        line(event, "[in the queue, on hold]", true);
        break;
      case "conference": // "in conference entry-0e31… with +1555…": the room's name is internal
        line(event, `[${event.text.replace(/^in conference \S+ with /, "talking with ")}]`, true);
        break;
      case "text": {
        const item = document.createElement("li");
        item.textContent = event.text;
        document.getElementById("texts").append(item);
        document.getElementById("texts-empty").hidden = true;
        break;
      }
      case "ended":
        ended.add(event.call);
        line(event, `[${event.text}]`, true);
        if (event.call === call) setState("idle", "no call");
        break;
      default:
        line(event, `[${event.text}]`, true);
    }
  }

  async function poll() {
    for (;;) {
      try {
        const response = await fetch(`${api}/events?after=${after}`);
        if (!response.ok) throw new Error(`HTTP ${response.status}`);
        const { events } = await response.json();
        for (const event of events) {
          after = Math.max(after, event.id);
          show(event);
        }
      } catch (error) {
        showError(`The sandbox is not answering (${error.message}); trying again.`);
        await new Promise((done) => setTimeout(done, 3000));
      }
    }
  }

  answerButton.addEventListener("click", () => act("answer", { call }));
  hangupButton.addEventListener("click", () => act("hangup", { call }));
  document.getElementById("call-line").addEventListener("click", async () => {
    const answer = await act("call", {});
    if (answer && answer.call) call = answer.call;
  });
  /** The caller's own side of the conversation, in the same list as the line's. */
  function mine(text) {
    const item = line({ kind: "you", call }, text);
    item.className = "you";
  }
  for (const key of document.querySelectorAll("#keypad button")) {
    key.addEventListener("click", async () => {
      if (await act("keys", { call, keys: key.dataset.key })) mine(`You pressed ${key.dataset.key}`);
    });
  }
  document.getElementById("say-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const input = document.getElementById("say-text");
    const words = input.value.trim();
    input.value = "";
    if (words && (await act("say", { call, text: words }))) mine(`You said “${words}”`);
  });
  document.getElementById("record-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const file = document.getElementById("record-file").files[0];
    if (!file) return showError("Choose a WAV file first.");
    const response = await fetch(`${api}/record?call=${encodeURIComponent(call)}`, {
      method: "POST", headers: { "Content-Type": "audio/wav" }, body: file,
    });
    if (!response.ok) showError((await response.json().catch(() => ({}))).error || `HTTP ${response.status}`);
  });
  setState("idle", "no call");
  poll();
})();
