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
function describe(value) {
  if (value === null || value === undefined) return "—";
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

async function refreshUsage() {
  const box = $("usage");
  const say = (text) => box.replaceChildren(Object.assign(document.createElement("p"), { textContent: text }));
  if (!storedKey()) return say("Enter a key to see its usage and limits.");
  const response = await fetch("/v1/me", { headers: authHeaders() });
  if (response.status === 404) return say("This server does not report usage (no /v1/me).");
  if (!response.ok) return say(await errorMessage(response));
  const facts = document.createElement("dl");
  for (const [name, value] of Object.entries(await response.json())) {
    facts.append(
      Object.assign(document.createElement("dt"), { textContent: name }),
      Object.assign(document.createElement("dd"), { textContent: describe(value) }),
    );
  }
  box.replaceChildren(facts);
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
    refreshUsage().catch(() => {});
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
