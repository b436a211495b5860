// digitgan's page: talks only to this server's /api; no other script, no CDN.
"use strict";

const $ = (id) => document.getElementById(id);
const STEPS = 32; // frames of a walk; the slider picks one
const FRAME = 30; // a digit and its 2 px padding in a strip
const METRICS = [
  ["fid", "FID (lower is better)"], ["kid", "KID x 1000"], ["is", "Inception Score"],
  ["precision", "precision"], ["recall", "recall"], ["confident_share", "share read with p > 0.9"],
  ["min_digit_share", "rarest digit's share"], ["conditional_accuracy", "requested digit drawn"],
];
let runs = [];
let strip = null; // the loaded walk: an Image of STEPS frames in one row
let lastUrl = null;

function current() { return runs.find((r) => r.name === $("run").value); }

function say(text, isError = false) {
  $("status").textContent = text;
  $("status").classList.toggle("error", isError);
}

async function problem(response) {
  try { return (await response.json()).detail; } catch { return `HTTP ${response.status}`; }
}

function showFor(run) {
  const show = (selector, visible) => document.querySelectorAll(selector).forEach((el) => el.classList.toggle("hide", !visible));
  show(".generator-only", run.kind === "generator");
  show(".translator-only", run.kind === "translator");
  if (run.kind === "generator") show(".conditional-only", run.conditional);
  if (!run.conditional) { $("digit").value = ""; $("walk-kind").value = "seeds"; }
  $("run-kind").textContent = `${run.preset}, ${run.kind === "translator" ? "typed -> handwritten" : run.conditional ? "conditional" : "unconditional"}, ${run.epochs} epoch${run.epochs === 1 ? "" : "s"}`;
  showMetrics(run.evaluation);
  strip = null;
  $("walk").disabled = true;
  $("walk-note").textContent = "load a walk, then move the slider (arrow keys work too)";
  $("walk-frame").getContext("2d").clearRect(0, 0, 168, 168);
}

function showMetrics(evaluation) {
  const body = $("metrics").querySelector("tbody");
  body.replaceChildren();
  $("metrics").hidden = !evaluation;
  $("metrics-none").hidden = !!evaluation;
  if (!evaluation) return;
  for (const [key, name] of METRICS) {
    if (!(key in evaluation.metrics)) continue;
    const row = body.insertRow();
    row.insertCell().textContent = name;
    const fmt = (v) => (v === undefined ? "-" : (Math.abs(v) >= 10 ? v.toFixed(1) : v.toFixed(3)));
    row.insertCell().textContent = fmt(evaluation.metrics[key]);
    row.insertCell().textContent = fmt(evaluation.real_floor[key]);
  }
}

function drawUrl(run) {
  const q = new URLSearchParams({ run: run.name, seed: $("seed").value });
  if (run.kind === "translator") {
    q.set("text", $("text").value);
    q.set("compare", "true");
    return `/api/handwrite?${q}`;
  }
  const digit = $("digit").value;
  let n = Number($("n").value);
  if (digit === "all") { q.set("per_digit", "true"); n = Math.min(n, 25); $("n").value = n; }
  else if (digit !== "") q.set("digit", digit);
  q.set("n", n);
  return `/api/generate?${q}`;
}

async function generate(event) {
  event?.preventDefault();
  const run = current();
  if (!run) return;
  say("drawing...");
  const response = await fetch(drawUrl(run));
  if (!response.ok) { say(await problem(response), true); return; }
  if (lastUrl) URL.revokeObjectURL(lastUrl);
  lastUrl = URL.createObjectURL(await response.blob());
  const img = $("grid");
  img.src = lastUrl;
  img.hidden = false;
  await img.decode();
  $("download").href = lastUrl;
  $("download").download = `${run.name}-seed${$("seed").value}.png`;
  $("download").hidden = false;
  say(`drawn by ${run.name} with seed ${$("seed").value}`);
}

async function loadWalk(event) {
  event?.preventDefault();
  const run = current();
  const kind = $("walk-kind").value;
  const q = new URLSearchParams({ run: run.name, steps: STEPS, seed: $("seed").value });
  q.set(kind, `${$("walk-a").value},${$("walk-b").value}`);
  if (kind === "seeds" && run.conditional && /^[0-9]$/.test($("digit").value)) q.set("digit", $("digit").value);
  const response = await fetch(`/api/interpolate?${q}`);
  if (!response.ok) { say(await problem(response), true); return; }
  const img = new Image();
  img.src = URL.createObjectURL(await response.blob());
  await img.decode();
  strip = img;
  $("walk").disabled = false;
  $("walk-note").textContent = `${kind === "seeds" ? "seed" : "digit"} ${$("walk-a").value} to ${$("walk-b").value}`;
  drawFrame();
  $("walk").focus();
}

function drawFrame() {
  if (!strip) return;
  const i = Number($("walk").value);
  const ctx = $("walk-frame").getContext("2d");
  ctx.imageSmoothingEnabled = false;
  ctx.drawImage(strip, 2 + i * FRAME, 2, 28, 28, 0, 0, 168, 168);
  $("walk-frame").dataset.frame = String(i);
}

async function start() {
  const response = await fetch("/api/runs");
  runs = await response.json();
  for (const run of runs) $("run").add(new Option(`${run.name} (${run.preset})`, run.name));
  $("run").addEventListener("change", () => { showFor(current()); generate(); });
  $("draw").addEventListener("submit", generate);
  $("new-seed").addEventListener("click", () => { $("seed").value = Math.floor(Math.random() * 2 ** 31); generate(); });
  $("walk-form").addEventListener("submit", loadWalk);
  $("walk-kind").addEventListener("change", () => {
    const digits = $("walk-kind").value === "digits";
    for (const id of ["walk-a", "walk-b"]) $(id).max = digits ? 9 : 2147483647;
    $("walk-a").value = digits ? 3 : 1;
    $("walk-b").value = digits ? 8 : 2;
  });
  $("walk").addEventListener("input", drawFrame);
  if (runs.length) { showFor(current()); await generate(); }
  document.body.dataset.ready = "true";
}

start().catch((error) => say(`could not reach the server: ${error}`, true));
