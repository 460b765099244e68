// The chat page: talks to the same OpenAI-compatible API as any other client.
// Vanilla JS, no dependencies; the conversation lives in this page (stateless API)
// unless "thread memory" is ticked, which sends an X-Thread-Id instead.
"use strict";
const $ = (id) => document.getElementById(id);
const messages = [];
const threadId = "web-" + Math.random().toString(36).slice(2, 10);

function headers() {
  const h = { "Content-Type": "application/json" };
  const key = $("key").value.trim();
  if (key) {
    h.Authorization = "Bearer " + key;
    document.cookie = "rankgraph_key=" + encodeURIComponent(key) + "; path=/; SameSite=Strict";
    localStorage.setItem("rankgraph_key", key);
  }
  if ($("memory").checked) h["X-Thread-Id"] = threadId;
  return h;
}

function el(tag, cls, text) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text) node.textContent = text;
  return node;
}

async function loadModels() {
  const res = await fetch("/v1/models", { headers: headers() });
  if (!res.ok) return;
  const list = await res.json();
  $("model").replaceChildren(...list.data.map((m) => el("option", "", m.id)));
}

function showSources(box, info) {
  const sources = el("div", "sources");
  for (const c of info.citations) {
    sources.append(el("div", "", `[${c.n}] ${c.title || c.passage_id} ${c.source || ""}`));
  }
  if (info.abstained) sources.append(el("div", "", "abstained: " + info.abstain_reason));
  const link = el("a", "", "trace");
  link.href = info.trace_url;
  link.target = "_blank";
  sources.append(link);
  box.append(sources);
}

async function ask(question) {
  const turn = el("div", "turn");
  turn.append(el("div", "you", question));
  const progress = el("div", "progress");
  const bot = el("div", "bot");
  turn.append(progress, bot);
  $("log").append(turn);
  messages.push({ role: "user", content: question });
  const body = { model: $("model").value, stream: true, messages: $("memory").checked ? [messages.at(-1)] : messages };
  const res = await fetch("/v1/chat/completions", { method: "POST", headers: headers(), body: JSON.stringify(body) });
  if (!res.ok) {
    const err = await res.json().catch(() => ({ error: { message: res.statusText } }));
    bot.textContent = "error: " + err.error.message;
    messages.pop();
    return;
  }
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  let info = null;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const line = buffer.slice(0, cut).replace(/^data: /, "");
      buffer = buffer.slice(cut + 2);
      if (line === "[DONE]") continue;
      const chunk = JSON.parse(line);
      if (chunk.error) { bot.append(el("div", "error", "error: " + chunk.error.message)); continue; }
      for (const choice of chunk.choices) {
        if (choice.delta.reasoning_content) progress.textContent += choice.delta.reasoning_content;
        if (choice.delta.content) bot.textContent += choice.delta.content;
      }
      if (chunk.rankgraph) info = chunk.rankgraph;
    }
  }
  if (info) {
    // the final text: citations checked (a marker dropped or added), or the abstention
    bot.textContent = info.answer;
    messages.push({ role: "assistant", content: info.answer });
    showSources(bot, info);
  }
}

$("key").value = localStorage.getItem("rankgraph_key") || "";
$("ask").addEventListener("submit", (event) => {
  event.preventDefault();
  const question = $("question").value.trim();
  $("question").value = "";
  if (question) ask(question);
});
$("key").addEventListener("change", loadModels);
loadModels();
