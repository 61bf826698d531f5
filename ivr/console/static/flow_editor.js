// The flow editor page: code editor, checks as you type, diagram, prompts, test phone,
// and (when the server keeps drafts) save, publish, history and rollback.
"use strict";

const draft = JSON.parse(document.getElementById("draft-data").textContent);
const flowName = decodeURIComponent(location.pathname.split("/")[3]);
const base = `/console/flows/${encodeURIComponent(flowName)}`;
const page = {
  prompts: Object.assign({}, draft.prompts),
  guides: Object.assign({}, draft.guides || {}),
  revision: draft.revision,
  language: draft.language,
  rows: {},
  checkSeq: 0,
  call: null, // {token, gather, keys}
  audioQueue: [],
};
const $ = (id) => document.getElementById(id);

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value;
    else if (key.startsWith("data-")) node.setAttribute(key, value);
    else node[key] = value;
  }
  for (const child of children) node.append(child);
  return node;
}

function setStatus(text, kind = "") {
  const status = $("status");
  status.textContent = text;
  status.className = `status ${kind}`;
}

// ---- the code editor (CodeMirror when installed, else a plain text box) -------------
/** CodeMirror's YAML mode starts a quoted string at any apostrophe, so everything after
 * "hasn't" in a list of words was painted as a string, in red. In YAML a quote opens a
 * string only where a value starts: one inside a word is a plain letter. */
function defineFlowMode() {
  window.CodeMirror.defineMode("flow-yaml", (config) => {
    const yaml = window.CodeMirror.getMode(config, "yaml");
    return Object.assign({}, yaml, {
      token(stream, state) {
        if (stream.peek() === "'" && /[\p{L}\p{N}]/u.test(stream.string.charAt(stream.pos - 1))) {
          stream.next();
          return null;
        }
        return yaml.token(stream, state);
      },
    });
  });
}

function makeEditor(textarea, text) {
  textarea.value = text;
  if (window.CodeMirror) {
    defineFlowMode();
    const cm = window.CodeMirror.fromTextArea(textarea, {
      mode: "flow-yaml",
      lineNumbers: true,
      gutters: ["problem-gutter", "CodeMirror-linenumbers"],
      tabSize: 2,
      indentUnit: 2,
      extraKeys: { Tab: (c) => c.replaceSelection("  ") },
      screenReaderLabel: "Flow YAML",
      lineWrapping: true, // long prompts and conditions stay readable, never cut off
    });
    // Keyboard users reach the scrolled text too (axe: a scrollable region must be focusable).
    cm.getScrollerElement().setAttribute("tabindex", "0");
    let marked = [];
    return {
      get: () => cm.getValue(),
      set: (text) => cm.setValue(text),
      onChange: (fn) => cm.on("changes", fn),
      mark(lines) {
        for (const line of marked) {
          cm.setGutterMarker(line, "problem-gutter", null);
          cm.removeLineClass(line, "background", "problem-line");
        }
        marked = [];
        for (const [line, message] of lines) {
          if (line < 1 || line > cm.lineCount()) continue;
          const marker = el("span", { class: "problem-marker", title: message }, "●");
          cm.setGutterMarker(line - 1, "problem-gutter", marker);
          cm.addLineClass(line - 1, "background", "problem-line");
          marked.push(line - 1);
        }
      },
      goto(line) {
        cm.focus();
        cm.setCursor({ line: line - 1, ch: 0 });
        cm.scrollIntoView({ line: line - 1, ch: 0 }, 80);
      },
    };
  }
  console.warn("CodeMirror is not installed: the flow is edited in a plain text box.");
  textarea.classList.add("plain-editor");
  return {
    get: () => textarea.value,
    set: (text) => { textarea.value = text; },
    onChange: (fn) => textarea.addEventListener("input", fn),
    mark() {},
    goto(line) {
      const lines = textarea.value.split("\n");
      const start = lines.slice(0, line - 1).reduce((n, l) => n + l.length + 1, 0);
      textarea.focus();
      textarea.setSelectionRange(start, start + (lines[line - 1] || "").length);
    },
  };
}

const editor = makeEditor($("flow-yaml"), draft.flow);

function files() {
  return { flow: editor.get(), prompts: page.prompts, guides: page.guides };
}

async function postJson(path, json) {
  let response;
  try {
    response = await consoleFetch(`${base}${path}`, { json });
  } catch (err) {
    // the console is out of reach (network, restart): say so where the answer would have gone
    return { ok: false, status: 0, body: { error: "The console could not be reached; try again in a moment." } };
  }
  let body = {};
  try {
    body = await response.json();
  } catch (err) {
    body = { error: `The console answered ${response.status}.` };
  }
  return { ok: response.ok, status: response.status, body };
}

// ---- checks as you type ---------------------------------------------------------------
let checkTimer = null;
function scheduleCheck() {
  clearTimeout(checkTimer);
  checkTimer = setTimeout(check, 350);
}

async function check() {
  const seq = ++page.checkSeq;
  const sent = files();
  const result = await postJson("/validate", sent);
  if (seq !== page.checkSeq) return; // a newer edit is being checked
  if (!result.ok) {
    setStatus(result.body.error || "The draft could not be checked.", "error");
    return;
  }
  showProblems(result.body.problems);
  page.rows = result.body.prompts;
  showPromptRows();
  await draw(seq, sent);
}

// ---- the diagram: fitted, zoomed and panned by DiagramView; groups fold --------------------
const diagram = new window.DiagramView($("diagram"), (id) => {
  const group = page.groups.find((g) => g.id === id);
  if (group) toggleGroup(group.name); // a folded group's box opens it again
  else if (page.lines[id]) editor.goto(page.lines[id]);
});
Object.assign(page, { lines: {}, groups: [], collapsed: new Set(), opened: false, unfolded: false });
const LEGIBLE_PX = 10; // smallest state name we call readable without zooming

async function draw(seq = page.checkSeq, sent = files()) {
  const drawn = await postJson("/diagram", Object.assign({ collapsed: [...page.collapsed] }, sent));
  if (seq !== page.checkSeq) return;
  if (drawn.ok) {
    diagram.show(drawn.body.svg);
    page.lines = drawn.body.lines;
    page.groups = drawn.body.groups;
    if (!page.opened && page.groups.length && diagram.smallestFont() && diagram.smallestFont() < LEGIBLE_PX) {
      // too large to read whole: open with the groups folded, a button away from their states
      page.opened = true;
      page.collapsed = new Set(page.groups.map((g) => g.name));
      diagram.moved = false;
      return draw();
    }
    if (page.opened && page.unfolded && diagram.smallestFont() && diagram.smallestFont() < LEGIBLE_PX) {
      // a group just opened: pan rather than shrink, so every name stays readable
      diagram.zoom(LEGIBLE_PX / diagram.smallestFont());
    }
    page.unfolded = false;
    page.opened = true;
    showGroups();
    $("diagram").classList.remove("stale");
    $("diagram-note").textContent = drawn.body.problem_states.length
      ? `States in red have problems: ${drawn.body.problem_states.join(", ")}.`
      : "";
  } else {
    $("diagram").classList.add("stale");
    $("diagram-note").textContent = drawn.body.error;
  }
}

function toggleGroup(name) {
  page.unfolded = page.collapsed.has(name);
  if (page.unfolded) page.collapsed.delete(name);
  else page.collapsed.add(name);
  diagram.moved = false; // the layout changes: fitted again, then zoomed to readable names
  draw();
}

function showGroups() {
  $("diagram-groups").replaceChildren(
    ...page.groups.map((g) => {
      const button = el("button", { type: "button", class: "secondary group", "data-group": g.name, "data-states": String(g.states) }, `${g.collapsed ? "▸" : "▾"} ${g.name} (${g.states})`);
      button.setAttribute("aria-pressed", String(g.collapsed));
      button.title = g.collapsed ? `Show the ${g.states} states of ${g.name}` : `Fold ${g.name} into one box`;
      button.addEventListener("click", () => toggleGroup(g.name));
      return button;
    }),
  );
}

$("zoom-in").addEventListener("click", () => diagram.zoom(1.25));
$("zoom-out").addEventListener("click", () => diagram.zoom(0.8));
$("zoom-fit").addEventListener("click", () => diagram.fit());
$("diagram").addEventListener("viewchange", (event) => {
  $("zoom-level").textContent = `${Math.round(event.detail.scale * 100)}%`;
});

function where(p) {
  const guide = p.file.startsWith("guides/") ? `guide ${p.file.slice(7)} ` : "";
  const file = p.file === "flow" ? "" : guide || `prompts (${p.file}) `;
  const line = p.line ? `line ${p.line}` : "";
  return `${file}${line}`.trim() || "flow";
}

function showProblems(problems) {
  const list = $("problems");
  list.replaceChildren();
  const errors = problems.filter((p) => p.severity === "error");
  $("problem-count").textContent = problems.length
    ? `${errors.length} error(s), ${problems.length - errors.length} warning(s)`
    : "none: the draft is valid";
  $("tab-problems").textContent = errors.length ? `(${errors.length} error${errors.length > 1 ? "s" : ""})` : "";
  for (const p of problems) {
    const jump = el("button", { type: "button", class: "link" }, where(p));
    if (p.file === "flow" && p.line) jump.addEventListener("click", () => editor.goto(p.line));
    else jump.disabled = !p.line;
    const state = p.state ? el("span", { class: "state" }, ` state '${p.state}'`) : "";
    list.append(
      el("li", { class: p.severity, "data-line": String(p.line || ""), "data-file": p.file }, jump, state, `: ${p.message}`),
    );
  }
  editor.mark(errors.filter((p) => p.file === "flow" && p.line).map((p) => [p.line, p.message]));
}

// ---- prompts: every language the line speaks, side by side -------------------------------
const served = draft.languages || [draft.language];

function showLanguages() {
  // the test phone calls in one of them
  const select = $("language");
  const callable = served.filter((lang) => lang in page.prompts);
  select.replaceChildren(...callable.map((lang) => el("option", { value: lang }, lang)));
  select.value = page.language;
  select.addEventListener("change", () => {
    page.language = select.value;
  });
}

function showPromptRows() {
  const body = $("prompt-rows");
  if (body.contains(document.activeElement)) return; // never redraw under the supervisor's cursor
  $("prompt-head").replaceChildren(
    el("th", {}, "Prompt"),
    ...served.map((lang) => el("th", { "data-lang": lang }, lang)),
  );
  const texts = new Map(); // prompt id -> {language: text}, in the order the files list them
  for (const lang of served) {
    for (const row of page.rows[lang] || []) {
      if (!texts.has(row.id)) texts.set(row.id, {});
      texts.get(row.id)[lang] = row.text;
    }
  }
  body.replaceChildren(
    ...[...texts].map(([id, byLanguage]) => {
      const missing = served.filter((lang) => !(lang in byLanguage));
      const row = el("tr", { "data-id": id }, el("td", {}, el("code", {}, id)), ...served.map((lang) => promptCell(id, lang, byLanguage[lang])));
      if (missing.length) row.classList.add("incomplete");
      return row;
    }),
  );
  if ($("prompt-search").value) filterPrompts();
}

function promptCell(id, lang, value) {
  if (value === undefined) {
    const flag = el("span", { class: "missing-flag" }, `Missing in ${lang}`);
    flag.title = `The ${lang} prompts have no '${id}': the draft cannot be published until they do.`;
    const add = el("textarea", { class: "prompt-text", rows: 2, placeholder: `Write the ${lang} text to add it`, "data-id": id, "data-lang": lang, "data-missing": "1" });
    add.setAttribute("aria-label", `Add ${id} in ${lang}`);
    add.addEventListener("change", () => editPrompt(id, lang, add, true));
    return el("td", { class: "missing", "data-lang": lang }, flag, add);
  }
  const text = el("textarea", { class: "prompt-text", rows: 2, value, "data-id": id, "data-lang": lang });
  text.setAttribute("aria-label", `Text of ${id} (${lang})`);
  text.addEventListener("change", () => editPrompt(id, lang, text));
  const play = el("button", { type: "button", class: "secondary listen", "data-id": id, "data-lang": lang }, "Listen");
  play.setAttribute("aria-label", `Listen to ${id} (${lang})`);
  play.addEventListener("click", () => listen(text.value, lang, play));
  return el("td", { "data-lang": lang }, text, play);
}

async function editPrompt(id, language, textarea, add = false) {
  const result = await postJson("/prompt", { text: page.prompts[language], id, value: textarea.value, add });
  if (!result.ok) {
    setStatus(result.body.error, "error");
    return;
  }
  page.prompts[language] = result.body.text;
  markDirty();
  setStatus(`Prompt ${id} (${language}) ${add ? "added to" : "changed in"} the draft.`);
  scheduleCheck();
}

async function listen(text, language, button) {
  button.disabled = true;
  try {
    const result = await postJson("/listen", { text, language });
    if (!result.ok) {
      setStatus(result.body.error, "error");
      return;
    }
    const player = $("listen-audio");
    player.src = result.body.audio;
    player.dataset.text = result.body.text;
    player.dataset.language = result.body.language;
    setStatus(`Playing (${result.body.language}): ${result.body.text}`);
    player.play().catch(() => setStatus(`Ready to play (press play, ${result.body.language}): ${result.body.text}`));
  } finally {
    button.disabled = false;
  }
}

// ---- test phone --------------------------------------------------------------------------
function phoneEnabled(live) {
  for (const node of document.querySelectorAll("#dialpad .key")) node.disabled = !live;
  for (const id of ["phone-speech", "phone-say", "phone-silence", "phone-hangup"]) $(id).disabled = !live;
}

function logLine(kind, text) {
  const item = el("li", { class: kind }, text);
  $("phone-log").append(item);
  item.scrollIntoView({ block: "nearest" });
}

function playNext() {
  const player = $("phone-audio");
  const next = page.audioQueue.shift();
  if (!next) return;
  player.src = next;
  player.play().catch(() => { page.audioQueue = []; });
}
$("phone-audio").addEventListener("ended", playNext);

function showTurn(turn) {
  for (const item of turn.heard) {
    logLine("bot", item.text);
    if (item.audio) page.audioQueue.push(item.audio);
  }
  playNext();
  $("phone-path").textContent = turn.path.join(" → ");
  if (turn.ended) {
    logLine("end", `Call ended: ${turn.ended}`);
    page.call = null;
    phoneEnabled(false);
  } else {
    page.call = { token: turn.token, gather: turn.gather, keys: "" };
    phoneEnabled(true);
  }
}

async function phoneSend(input, description) {
  if (!page.call) return;
  logLine("you", description);
  const token = page.call.token;
  phoneEnabled(false);
  const result = await postJson("/test/input", Object.assign({ token, language: page.language }, files(), input));
  if (!result.ok) {
    logLine("end", result.body.error);
    page.call = null;
    return;
  }
  showTurn(result.body);
}

function pressKey(key) {
  if (!page.call) return;
  const gather = page.call.gather;
  if (!gather || !gather.number) {
    phoneSend({ digits: key }, `pressed ${key}`);
    return;
  }
  page.call.keys += key;
  const keys = page.call.keys;
  const digits = gather.finish_on_key ? keys.replace(gather.finish_on_key, "") : keys;
  if ((gather.finish_on_key && key === gather.finish_on_key) || digits.length >= gather.max_digits) {
    phoneSend({ digits: keys }, `keyed ${keys}`);
  }
}

$("phone-call").addEventListener("click", async () => {
  $("phone-log").replaceChildren();
  page.audioQueue = [];
  logLine("you", "Calling the draft…");
  const caller = $("phone-caller").value.trim();
  const result = await postJson("/test/call", Object.assign({ language: page.language, caller }, files()));
  if (!result.ok) {
    logLine("end", result.body.error);
    return;
  }
  showTurn(result.body);
});
$("phone-hangup").addEventListener("click", () => {
  page.call = null;
  page.audioQueue = [];
  $("phone-audio").pause();
  logLine("end", "You hung up.");
  phoneEnabled(false);
});
for (const node of document.querySelectorAll("#dialpad .key")) {
  node.addEventListener("click", () => pressKey(node.dataset.key));
}
$("phone-speech-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const speech = $("phone-speech").value.trim();
  if (!speech) return;
  $("phone-speech").value = "";
  phoneSend({ speech }, `said "${speech}"`);
});
$("phone-silence").addEventListener("click", () => phoneSend({ silence: true }, "(silence)"));

// ---- draft state: save, publish, history, rollback --------------------------------------
function markDirty() {
  document.body.classList.add("dirty");
}

function showDraft(d) {
  page.revision = d.revision;
  const at = new Date(d.updated_at * 1000).toLocaleString();
  $("draft-info").textContent = `draft revision ${d.revision}, saved by ${d.updated_by} at ${at}; based on version ${d.base_version}`;
}

function payload(extra = {}) {
  return Object.assign({ revision: page.revision }, files(), extra);
}

$("save").addEventListener("click", async () => {
  const result = await postJson("/save", payload());
  if (!result.ok) {
    setStatus(result.body.error, "error");
    return;
  }
  showDraft(result.body);
  document.body.classList.remove("dirty");
  setStatus(`Draft saved (revision ${result.body.revision}).`, "ok");
});

/** Show a diff and ask; resolves true when the supervisor confirms. */
function confirmWithDiff(title, text, diff, withNote) {
  $("confirm-title").textContent = title;
  $("confirm-text").textContent = text;
  $("confirm-diff").replaceChildren(
    ...diff.split("\n").map((line) => {
      const kind = line.startsWith("+") && !line.startsWith("+++") ? "add" : line.startsWith("-") && !line.startsWith("---") ? "del" : "";
      return el("span", { class: kind }, `${line}\n`);
    }),
  );
  $("confirm-note").value = "";
  $("confirm-note-label").hidden = !withNote;
  const dialog = $("confirm");
  dialog.showModal();
  return new Promise((resolve) => {
    const done = (answer) => {
      $("confirm-yes").onclick = null;
      $("confirm-no").onclick = null;
      dialog.close();
      resolve(answer);
    };
    $("confirm-yes").onclick = () => done(true);
    $("confirm-no").onclick = () => done(false);
  });
}

$("publish").addEventListener("click", async () => {
  const compared = await postJson("/diff", files());
  if (!compared.ok) {
    setStatus(compared.body.error, "error");
    return;
  }
  if (!compared.body.diff) {
    setStatus(`Nothing to publish: the draft is the same as version ${compared.body.published}.`);
    return;
  }
  const yes = await confirmWithDiff(
    "Publish this draft?",
    `New calls will get these changes (compared with version ${compared.body.published}, published now).`,
    compared.body.diff,
    true,
  );
  if (!yes) return;
  const result = await postJson("/publish", payload({ note: $("confirm-note").value }));
  if (!result.ok) {
    setStatus(result.body.error, "error");
    if (result.body.problems) showProblems(result.body.problems);
    return;
  }
  showDraft(result.body.draft);
  document.body.classList.remove("dirty");
  setStatus(`Published version ${result.body.version}. New calls hear it now.`, "ok");
  loadHistory();
});

async function loadHistory() {
  let response;
  try {
    response = await fetch(`${base}/history`, { headers: { Accept: "application/json" }, credentials: "same-origin" });
  } catch (err) {
    return; // out of reach: the list stays as it was and is loaded again after the next change
  }
  if (!response.ok) return;
  const body = await response.json();
  $("history").replaceChildren(
    ...body.versions.map((v) => {
      const when = new Date(v.published_at * 1000).toLocaleString();
      let action = el("span", { class: "muted" }, "published now");
      if (!v.current) {
        action = el("button", { type: "button", class: "secondary rollback", "data-version": String(v.number) }, `Roll back to ${v.number}`);
        action.addEventListener("click", () => rollback(v.number));
      }
      return el("tr", { "data-version": String(v.number) }, el("td", {}, String(v.number)), el("td", {}, when), el("td", {}, v.by), el("td", {}, v.note), el("td", {}, action));
    }),
  );
}

async function rollback(number) {
  const compared = await postJson("/diff", { version: number });
  if (!compared.ok) {
    setStatus(compared.body.error, "error");
    return;
  }
  const yes = await confirmWithDiff(
    `Roll back to version ${number}?`,
    `New calls will get version ${number} instead of version ${compared.body.published}. The changes:`,
    compared.body.diff,
    false,
  );
  if (!yes) return;
  const result = await postJson("/rollback", { version: number });
  if (!result.ok) {
    setStatus(result.body.error, "error");
    return;
  }
  setStatus(`Rolled back: version ${result.body.version} is published. New calls hear it now.`, "ok");
  if (!document.body.classList.contains("dirty")) {
    // the draft followed the rollback: show it
    editor.set(result.body.draft.flow);
    page.prompts = Object.assign({}, result.body.draft.prompts);
    page.guides = Object.assign({}, result.body.draft.guides || {});
    showGuides();
    document.body.classList.remove("dirty");
  }
  showDraft(result.body.draft);
  loadHistory();
  scheduleCheck();
}

// ---- guides: one troubleshooting guide's file at a time ------------------------------

function showGuides(chosen) {
  const select = $("guide-file");
  const names = Object.keys(page.guides).sort();
  const current = chosen || select.value;
  select.replaceChildren(...names.map((name) => el("option", { value: name, textContent: name })));
  if (names.includes(current)) select.value = current;
  $("guide-yaml").value = page.guides[select.value] || "";
  $("guide-yaml").disabled = !select.value;
}

$("guide-file").addEventListener("change", () => showGuides());
$("guide-yaml").addEventListener("input", () => {
  const name = $("guide-file").value;
  if (!name) return;
  page.guides[name] = $("guide-yaml").value;
  markDirty();
  scheduleCheck();
});
$("guide-add").addEventListener("click", () => {
  const name = $("guide-name").value.trim();
  if (!/^[a-z0-9][a-z0-9_-]{0,62}$/.test(name) || name in page.guides) {
    setStatus("A new guide needs a name of its own: lower-case letters, digits and '-'.", "error");
    return;
  }
  page.guides[name] = `guide: ${name}\nerror_codes: []\n`;
  $("guide-name").value = "";
  showGuides(name);
  markDirty();
  scheduleCheck();
});

// ---- tabs: the flow, its prompts, the test phone, the versions ----------------------
// One task on screen at a time: the page was 12,500 px tall, with the test phone at the bottom.

const tabs = [...document.querySelectorAll("#flow-tabs [role=tab]")];

function showTab(tab) {
  for (const other of tabs) {
    const selected = other === tab;
    other.setAttribute("aria-selected", String(selected));
    other.tabIndex = selected ? 0 : -1;
    $(other.getAttribute("aria-controls")).hidden = !selected;
  }
  if (tab.id === "tab-flow") {
    const cm = document.querySelector(".CodeMirror");
    if (cm && cm.CodeMirror) cm.CodeMirror.refresh(); // it measured nothing while hidden
  }
  if (history.replaceState) history.replaceState(null, "", `#${tab.id.slice(4)}`);
}

for (const tab of tabs) {
  tab.addEventListener("click", () => showTab(tab));
  tab.addEventListener("keydown", (event) => {
    const step = { ArrowRight: 1, ArrowLeft: -1 }[event.key];
    if (!step) return;
    const next = tabs[(tabs.indexOf(tab) + step + tabs.length) % tabs.length];
    showTab(next);
    next.focus();
  });
}
const opened = tabs.find((tab) => `#${tab.id.slice(4)}` === location.hash);
if (opened) showTab(opened);

// ---- prompt search: by id or by any words of any language ---------------------------

function filterPrompts() {
  const words = $("prompt-search").value.trim().toLowerCase();
  const rows = [...document.querySelectorAll("#prompt-rows tr")];
  let shown = 0;
  for (const row of rows) {
    const texts = [row.dataset.id, ...[...row.querySelectorAll("textarea")].map((t) => t.value)];
    row.hidden = Boolean(words) && !texts.some((text) => text.toLowerCase().includes(words));
    if (!row.hidden) shown += 1;
  }
  $("prompt-matches").textContent = words ? `${shown} of ${rows.length} prompts match.` : "";
}

$("prompt-search").addEventListener("input", filterPrompts);

editor.onChange(() => {
  markDirty();
  scheduleCheck();
});
showDraft(draft);
showGuides();
showLanguages();
loadHistory();
check();
