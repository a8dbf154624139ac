// The page at / : health, models, a key kept in this browser, a streaming chat, usage and limits.
// Plain JavaScript, no build step and nothing from another server (the stack may run air-gapped).
// Every text from the server goes in through textContent, never as HTML.
"use strict";

const KEY_STORAGE = "gptoss.apiKey";
const HEALTH_EVERY_MS = 5000;
const $ = (id) => document.getElementById(id);

function storedKey() {
  return localStorage.getItem(KEY_STORAGE) || "";
}

function authHeaders() {
  const key = storedKey();
  return key ? { Authorization: `Bearer ${key}` } : {};
}

// The API's own message for a failed answer (OpenAI's error envelope), else what we know.
async function errorMessage(response) {
  const text = await response.text();
  try {
    const body = JSON.parse(text);
    if (body && body.error && body.error.message) {
      return `${body.error.message} (HTTP ${response.status}${body.error.code ? `, ${body.error.code}` : ""})`;
    }
  } catch (_) {
    // not JSON: fall through
  }
  return `HTTP ${response.status} ${response.statusText}: ${text.slice(0, 300)}`;
}

function showError(message) {
  const box = $("error");
  box.textContent = message;
  box.hidden = !message;
}

function setState(element, state, text) {
  element.dataset.state = state;
  element.textContent = text;
}

// ---- health ---------------------------------------------------------------------------------
async function refreshHealth() {
  const summary = $("health-summary");
  const list = $("health-components");
  let body = null;
  let problem = "";
  try {
    const response = await fetch("/health/ready", { cache: "no-store" });
    const text = await response.text();
    try { body = JSON.parse(text); } catch (_) { body = null; }
    if (!body || !body.components) {
      problem = body && body.error ? body.error.message : `HTTP ${response.status}`;
    }
  } catch (err) {
    problem = `the server did not answer (${err.message})`;
  }
  list.replaceChildren();
  if (problem) {
    setState(summary, "bad", `Not ready: gateway unreachable — ${problem}`);
    const item = document.createElement("li");
    setState(item, "bad", "gateway: unreachable");
    list.append(item);
    return;
  }
  const ready = body.status === "ready";
  setState(summary, ready ? "ok" : "bad", ready ? "Ready" : "Not ready");
  const gateway = document.createElement("li");
  setState(gateway, "ok", "gateway: ok");
  list.append(gateway);
  for (const [name, component] of Object.entries(body.components)) {
    const item = document.createElement("li");
    const ok = component.status === "ok";
    const detail = component.detail ? ` — ${component.detail}` : "";
    setState(item, ok ? "ok" : "bad", `${name}: ${component.status}${detail}`);
    list.append(item);
  }
}

// ---- models ---------------------------------------------------------------------------------
async function refreshModels() {
  const list = $("models");
  const select = $("model");
  if (!storedKey()) {
    list.replaceChildren(Object.assign(document.createElement("li"), { textContent: "Enter a key to list the models." }));
    return;
  }
  const response = await fetch("/v1/models", { headers: authHeaders() });
  if (!response.ok) {
    const message = await errorMessage(response);
    list.replaceChildren(Object.assign(document.createElement("li"), { textContent: message }));
    showError(message);
    return;
  }
  const models = (await response.json()).data || [];
  const previous = select.value;
  list.replaceChildren(...models.map((m) => Object.assign(document.createElement("li"), { textContent: m.id })));
  select.replaceChildren(...models.map((m) => Object.assign(document.createElement("option"), { value: m.id, textContent: m.id })));
  if (models.some((m) => m.id === previous)) select.value = previous;
}

// ---- usage and limits (GET /v1/me, where the server has it) -------------------------------------
// /v1/me (README "Usage and budgets"): limits of 0 and budgets of null mean none; times are Unix
// seconds (UTC), shown as ISO 8601. Fields this page does not know are still listed, by name.
const NUMBER = new Intl.NumberFormat("en-US");
const NO_LIMIT = "no limit";
const NONE = "—";
const PERIODS = [["day", "Today"], ["month", "This month"]];
const COUNTS = [
  ["requests", "Requests"],
  ["prompt_tokens", "Prompt tokens"],
  ["completion_tokens", "Completion tokens"],
  ["reasoning_tokens", "Reasoning (approx.)"],
  ["total_tokens", "Total tokens"],
  ["errors", "Errors"],
];
const BUDGETS = [
  ["tokens", "Token budget", "Tokens used", "Tokens left", "total_tokens"],
  ["requests", "Request budget", "Requests used", "Requests left", "requests"],
];
const LIMITS = [
  ["requests_per_minute", "Requests per minute"],
  ["tokens_per_minute", "Tokens per minute"],
  ["max_concurrent", "Requests at once"],
];
const KNOWN = {
  top: ["object", "id", "name", "admin", "models", "expires_at", "limits", "budgets", "remaining", "usage", "now"],
  period: ["period", "resets_at", "by_model", ...COUNTS.map(([field]) => field)],
  budgets: ["daily_tokens", "monthly_tokens", "daily_requests", "monthly_requests"],
};
let lastUsage = null; // the last /v1/me object shown (to see when an answer has been charged)

function describe(value) {
  if (value === null || value === undefined) return NONE;
  if (typeof value === "number") return NUMBER.format(value);
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

const isObject = (value) => value !== null && typeof value === "object" && !Array.isArray(value);
const field = (object, name) => (isObject(object) ? object[name] : undefined);
const has = (object, name) => isObject(object) && Object.hasOwn(object, name);
const humanize = (name) => name.replace(/_/g, " ").replace(/^./, (c) => c.toUpperCase());
const limitOf = (value) => (value === null || value === undefined || value === 0 ? NO_LIMIT : describe(value));

function span(seconds) {
  const minutes = Math.max(1, Math.ceil(seconds / 60));
  const parts = [[Math.floor(minutes / 1440), "d"], [Math.floor(minutes / 60) % 24, "h"], [minutes % 60, "m"]];
  return parts.filter(([n]) => n).map(([n, unit]) => `${n}${unit}`).join(" ");
}

// A <time> in ISO 8601 UTC (2026-12-06T00:00:00Z, breakable after the T on a phone), and how far
// away it is from `now` when the server said what time it is.
function when(seconds, now) {
  if (typeof seconds !== "number") return describe(seconds);
  const iso = new Date(seconds * 1000).toISOString().replace(/\.\d+Z$/, "Z");
  const time = document.createElement("time");
  time.dateTime = iso;
  const [day, clock] = iso.split("T");
  time.append(`${day}T`, document.createElement("wbr"), clock);
  if (typeof now !== "number" || seconds <= now) return [time];
  return [time, ` (in ${span(seconds - now)})`];
}

const cell = (tag, content, scope) => {
  const element = document.createElement(tag);
  if (scope) element.scope = scope;
  element.append(...(Array.isArray(content) ? content : [content]));
  return element;
};

// A table with a caption, an optional header row (column headers) and rows whose first cell is
// the row's header: rows are [label, value, value, ...], a value a string or a list of nodes.
function table(id, caption, columns, rows) {
  const element = document.createElement("table");
  element.id = id;
  element.className = "facts";
  element.append(cell("caption", caption));
  if (columns) {
    const head = document.createElement("thead");
    // the corner above the row headers is an empty <td>, the others name their column
    head.append(cell("tr", columns.map((name, i) => (i === 0 && name === "" ? cell("td", "") : cell("th", name, "col")))));
    element.append(head);
  }
  const body = document.createElement("tbody");
  for (const [label, ...values] of rows) {
    body.append(cell("tr", [cell("th", label, "row"), ...values.map((value) => cell("td", value))]));
  }
  element.append(body);
  return element;
}

function usageTables(me) {
  const usage = field(me, "usage");
  const periods = PERIODS.filter(([name]) => isObject(field(usage, name)));
  const now = field(me, "now");
  const tables = [];
  const extra = []; // [dotted name, value] of fields this page does not know

  const keyRows = [];
  if (has(me, "name")) keyRows.push(["Name", describe(me.name)]);
  if (has(me, "id")) keyRows.push(["ID", describe(me.id)]);
  if (has(me, "admin")) keyRows.push(["Admin", me.admin ? "yes" : "no"]);
  if (has(me, "models")) {
    keyRows.push(["Models", Array.isArray(me.models) ? me.models.join(", ") || NONE : me.models === null ? "all models" : describe(me.models)]);
  }
  if (has(me, "expires_at")) keyRows.push(["Expires", me.expires_at === null ? "never" : when(me.expires_at, now)]);
  if (keyRows.length) tables.push(table("usage-key", "Key", null, keyRows));

  if (periods.length) {
    // a function: each table gets its own header nodes
    const columns = () => ["", ...periods.map(([name, label]) => {
      const period = field(usage[name], "period");
      return period ? [label, cell("span", ` ${period}`)] : label;
    })];
    const rows = COUNTS.map(([name, label]) => [label, ...periods.map(([p]) => describe(field(usage[p], name)))]);
    for (const [p] of periods) {
      for (const [name, value] of Object.entries(usage[p])) {
        if (!KNOWN.period.includes(name)) extra.push([`usage.${p}.${name}`, value]);
      }
    }
    tables.push(table("usage-periods", "Usage (UTC days and months)", columns(), rows));

    const budgets = field(me, "budgets");
    const remaining = field(me, "remaining");
    if (isObject(budgets) || isObject(remaining)) {
      const budgetRows = [];
      for (const [kind, limitLabel, usedLabel, leftLabel, counter] of BUDGETS) {
        const names = periods.map(([p]) => `${p === "day" ? "daily" : "monthly"}_${kind}`);
        budgetRows.push(
          [limitLabel, ...names.map((name) => limitOf(field(budgets, name)))],
          [usedLabel, ...periods.map(([p]) => describe(field(usage[p], counter)))],
          [leftLabel, ...names.map((name) => describe(field(remaining, name)))],
        );
      }
      budgetRows.push(["Resets at (UTC)", ...periods.map(([p]) => when(field(usage[p], "resets_at"), now))]);
      tables.push(table("usage-budgets", "Budgets", columns(), budgetRows));
    }

    const month = field(usage.month, "by_model") || field(usage.day, "by_model");
    if (isObject(month) && Object.keys(month).length) {
      const label = isObject(field(usage.month, "by_model")) ? "This month by model" : "Today by model";
      const rows = Object.entries(month).map(([model, counts]) => [
        model, describe(field(counts, "requests")), describe(field(counts, "total_tokens")),
      ]);
      tables.push(table("usage-models", label, ["Model", "Requests", "Total tokens"], rows));
    }
  } else if (has(me, "usage")) {
    extra.push(["usage", usage]);
  }
  for (const name of ["budgets", "remaining"]) {
    const object = field(me, name);
    if (!isObject(object) || !periods.length) {
      if (has(me, name)) extra.push([name, me[name]]);
      continue;
    }
    for (const [sub, value] of Object.entries(object)) {
      if (!KNOWN.budgets.includes(sub)) extra.push([`${name}.${sub}`, value]);
    }
  }

  const limits = field(me, "limits");
  if (isObject(limits)) {
    const rows = LIMITS.map(([name, label]) => [label, limitOf(limits[name])]);
    for (const [name, value] of Object.entries(limits)) {
      if (!LIMITS.some(([known]) => known === name)) rows.push([humanize(name), limitOf(value)]);
    }
    tables.push(table("usage-limits", "Rate limits", null, rows));
  } else if (has(me, "limits")) {
    extra.push(["limits", limits]);
  }

  for (const [name, value] of Object.entries(isObject(me) ? me : { answer: me })) {
    if (!KNOWN.top.includes(name)) extra.push([name, value]);
  }
  if (extra.length) {
    tables.push(table("usage-other", "Other fields", null, extra.map(([name, value]) => [name, describe(value)])));
  }
  if (typeof now === "number") {
    tables.push(cell("p", ["As of ", ...when(now)]));
    tables.at(-1).className = "help";
  }
  return tables;
}

async function refreshUsage() {
  const box = $("usage");
  const say = (text) => box.replaceChildren(Object.assign(document.createElement("p"), { textContent: text }));
  if (!storedKey()) {
    lastUsage = null;
    return say("Enter a key to see its usage and limits.");
  }
  const response = await fetch("/v1/me", { headers: authHeaders(), cache: "no-store" });
  if (!response.ok) lastUsage = null;
  if (response.status === 404) return say("This server does not report usage (no /v1/me).");
  if (!response.ok) return say(await errorMessage(response));
  const me = await response.json();
  lastUsage = me;
  box.replaceChildren(...usageTables(me));
  return me;
}

// The gateway charges an answer just after its last byte, so right after it /v1/me may not have
// it yet: ask again a few times, briefly, until today's request count has moved.
async function refreshUsageAfterAnswer(before) {
  const requests = (me) => field(field(field(me, "usage"), "day"), "requests");
  const counted = requests(before);
  for (const pause of [0, 250, 500, 1000, 2000, 4000]) {
    if (pause) await new Promise((resolve) => setTimeout(resolve, pause));
    const me = await refreshUsage();
    if (typeof counted !== "number" || !isObject(me) || requests(me) !== counted) return;
  }
}

// ---- chat -----------------------------------------------------------------------------------
let running = null; // the AbortController of the answer being streamed

// Server-sent events: yields the JSON of each `data:` line until `[DONE]`.
async function* events(response) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += decoder.decode(value, { stream: true });
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      for (const line of block.split("\n")) {
        if (!line.startsWith("data:")) continue;
        const data = line.slice(5).trim();
        if (data === "[DONE]") return;
        yield JSON.parse(data);
      }
    }
  }
}

async function chat(event) {
  event.preventDefault();
  const prompt = $("prompt").value.trim();
  if (!prompt || running) return;
  showError("");
  const answer = $("answer");
  const reasoning = $("reasoning");
  answer.textContent = "";
  reasoning.textContent = "";
  $("reasoning-box").hidden = true;
  $("answer-meta").textContent = "";
  const usageBefore = lastUsage;
  running = new AbortController();
  answer.setAttribute("aria-busy", "true"); // screen readers read the answer once, when whole
  $("send").disabled = true;
  $("stop").disabled = false;
  try {
    const response = await fetch("/v1/chat/completions", {
      method: "POST",
      headers: { ...authHeaders(), "Content-Type": "application/json" },
      body: JSON.stringify({
        model: $("model").value || undefined,
        messages: [{ role: "user", content: prompt }],
        stream: true,
        stream_options: { include_usage: true },
      }),
      signal: running.signal,
    });
    if (!response.ok) {
      showError(await errorMessage(response));
      return;
    }
    for await (const chunk of events(response)) {
      if (chunk.error) {
        showError(chunk.error.message);
        break;
      }
      const delta = (chunk.choices && chunk.choices[0] && chunk.choices[0].delta) || {};
      const thought = delta.reasoning || delta.reasoning_content;
      if (thought) {
        $("reasoning-box").hidden = false;
        reasoning.textContent += thought;
      }
      if (delta.content) answer.textContent += delta.content;
      if (chunk.usage) {
        $("answer-meta").textContent =
          `${chunk.usage.prompt_tokens} prompt + ${chunk.usage.completion_tokens} completion tokens`;
      }
    }
  } catch (err) {
    if (err.name !== "AbortError") showError(`The request failed: ${err.message}`);
  } finally {
    running = null;
    answer.setAttribute("aria-busy", "false");
    $("send").disabled = false;
    $("stop").disabled = true;
    refreshUsageAfterAnswer(usageBefore).catch(() => {});
  }
}

// ---- wiring ---------------------------------------------------------------------------------
function refreshAll() {
  showError("");
  refreshModels().catch((err) => showError(`Listing the models failed: ${err.message}`));
  refreshUsage().catch(() => {});
}

document.addEventListener("DOMContentLoaded", () => {
  $("base-url").textContent = `${location.origin}/v1`;
  $("api-key").value = storedKey();
  $("key-form").addEventListener("submit", (event) => {
    event.preventDefault();
    localStorage.setItem(KEY_STORAGE, $("api-key").value.trim());
    refreshAll();
  });
  $("forget-key").addEventListener("click", () => {
    localStorage.removeItem(KEY_STORAGE);
    $("api-key").value = "";
    refreshAll();
  });
  $("chat-form").addEventListener("submit", chat);
  $("stop").addEventListener("click", () => running && running.abort());
  $("prompt").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) $("chat-form").requestSubmit();
  });
  refreshHealth();
  setInterval(refreshHealth, HEALTH_EVERY_MS);
  refreshAll();
});
