// genlab web UI: plain JavaScript over the JSON API (no framework, no CDN).
"use strict";

const $ = (id) => document.getElementById(id);
const state = {config: null, snapshots: [], defaults: {}, busy: 0};
const PROGRESS_POLL_MS = 400;

// --- helpers -----------------------------------------------------------------------------------------------------
function message(text, kind = "info") {
  const el = $("message");
  el.textContent = text || "";
  el.className = text ? kind : "";
}

async function api(path, options = {}) {
  const resp = await fetch(path, options);
  const type = resp.headers.get("content-type") || "";
  const body = type.includes("application/json") ? await resp.json() : await resp.text();
  if (!resp.ok) {
    const text = body && body.error ? body.error : `HTTP ${resp.status}`;
    throw new Error(resp.status === 503 ? `busy: ${text}` : text);
  }
  return body;
}

function postJSON(path, data) {
  return api(path, {method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(data)});
}

function progressKey() {
  const bytes = new Uint8Array(12);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

// While a request runs, poll GET /api/jobs/{key} and show its place in the queue or its sampler steps.
function watchProgress(key, label) {
  const bar = $("progress");
  const text = $("progress-text");
  bar.value = 0;
  bar.max = 1;
  $("progress-box").classList.remove("hidden");
  text.textContent = `${label} waiting for the server…`;
  let stopped = false;
  const tick = async () => {
    if (stopped) return;
    try {
      const p = await api(`/api/jobs/${key}`);
      if (p.state === "waiting") {
        text.textContent = `${label} queued${p.ahead ? ` behind ${p.ahead} job${p.ahead > 1 ? "s" : ""}` : ""}…`;
      } else if (p.total) {
        bar.max = p.total;
        bar.value = p.step;
        text.textContent = `${label} ${p.stage || "step"} ${p.step} / ${p.total}`;
      }
    } catch (err) { /* not admitted yet, or already forgotten: keep the last text */ }
    refreshQueue();
    if (!stopped) setTimeout(tick, PROGRESS_POLL_MS);
  };
  setTimeout(tick, PROGRESS_POLL_MS / 2);
  return () => { stopped = true; $("progress-box").classList.add("hidden"); };
}

// Run an async action with its button disabled, its progress shown and errors in the message line. The action
// gets a fresh progress key to send with its request.
async function run(button, label, action) {
  const old = button.textContent;
  const key = progressKey();
  const stop = watchProgress(key, label);
  button.disabled = true;
  button.textContent = label;
  state.busy += 1;
  document.body.classList.add("busy");
  message("");
  try {
    await action(key);
  } catch (err) {
    message(err.message, "error");
  } finally {
    stop();
    button.disabled = false;
    button.textContent = old;
    state.busy -= 1;
    if (!state.busy) document.body.classList.remove("busy");
    refreshQueue();
  }
}

function formValues(form) {
  const out = {};
  for (const el of form.querySelectorAll("input[name], select[name]")) {
    if (el.type === "radio" || el.type === "file" || el.closest(".hidden")) continue;
    if (el.value === "") continue;
    out[el.name] = el.type === "number" ? Number(el.value) : el.value;
  }
  return out;
}

function img(src, alt, title) {
  const el = document.createElement("img");
  el.src = src;
  el.alt = alt;
  if (title) el.title = title;
  return el;
}

function cell(src, caption, alt) {
  const fig = document.createElement("figure");
  fig.className = "cell";
  fig.appendChild(img(src, alt));
  const cap = document.createElement("figcaption");
  cap.textContent = caption;
  fig.appendChild(cap);
  return fig;
}

function option(value, text) {
  const opt = document.createElement("option");
  opt.value = value;
  opt.textContent = text;
  opt.title = text;
  return opt;
}

function fillSelect(select, items, keep = true) {
  const old = select.value;
  select.innerHTML = "";
  for (const [value, text] of items) select.appendChild(option(value, text));
  if (keep && items.some(([v]) => v === old)) select.value = old;
}

function applyLimits() {
  for (const el of document.querySelectorAll("input[data-limit]")) {
    const max = state.config.limits[el.dataset.limit];
    el.min = el.dataset.min;
    el.max = max;
    if (el.step === "" || el.step === undefined) el.step = "1";
    el.title = `${el.dataset.min} to ${max}`;
  }
}

// --- snapshots ---------------------------------------------------------------------------------------------------
function snapshotsOf(kind) {
  return state.snapshots.filter((s) => s.kind === kind);
}

function current(selectId) {
  return state.snapshots.find((s) => s.id === $(selectId).value);
}

function describe(s) {
  if (!s) return "";
  const step = s.step != null ? `, step ${s.step}` : "";
  const where = s.source === "pretrained" ? "pretrained" : "from the runs directory";
  const data = s.dataset ? ` on ${s.dataset}` : "";
  const fid = s.fid != null ? `; FID ${fmt(s.fid, 1)}${s.floor_fid != null ? ` (floor ${fmt(s.floor_fid, 2)}${s.fid_n != null ? `, n = ${s.fid_n}` : ""})` : ""}` : "";
  // An audio model's image_shape is its training patch (a spectrogram patch or a waveform segment), not an output.
  if (s.kind === "audio") return `${s.name}: ${s.family}${data}${step} (${where})`;
  const shape = s.image_shape ? s.image_shape.join("×") : "";
  const classes = s.num_classes ? `${s.num_classes} classes` : "unconditional";
  return `${s.name}: ${s.family}${data}, ${shape}, ${classes}${step}${fid} (${where})`;
}

function selected(selectId, what) {
  if (!$(selectId).value) throw new Error(`no ${what} snapshot to use: see the note under the snapshot list`);
  return $(selectId).value;
}

// Pretrained snapshots and the runs directory's in two groups, under their full names; the last one used on this
// browser (else the server's default for the kind: the best measured pretrained model) is selected.
function fillSnapshots(selectId, kind, infoId, emptyText) {
  const list = snapshotsOf(kind);
  const select = $(selectId);
  select.innerHTML = "";
  for (const [source, title] of [["pretrained", "Pretrained"], ["runs", "Runs directory"]]) {
    const group = document.createElement("optgroup");
    group.label = title;
    for (const s of list.filter((x) => x.source === source)) group.appendChild(option(s.id, s.name));
    if (group.children.length) select.appendChild(group);
  }
  const remembered = localStorage.getItem(`genlab-snapshot-${kind}`);
  const pick = [remembered, state.defaults[kind]].find((id) => id && list.some((s) => s.id === id));
  if (pick) select.value = pick;
  $(infoId).textContent = list.length ? describe(current(selectId)) : emptyText;
}

function remember(selectId, kind) {
  if ($(selectId).value) localStorage.setItem(`genlab-snapshot-${kind}`, $(selectId).value);
}

async function loadSnapshots() {
  const data = await api("/api/snapshots");
  state.snapshots = data.snapshots;
  state.defaults = data.defaults || {};
  const none = (what) => `No ${what} snapshot in the server's runs directory (train one, or start with --runs-dir).`;
  fillSnapshots("img-snapshot", "image", "img-info", none("image"));
  fillSnapshots("ch-snapshot", "channels", "ch-info", none("channel-facies"));
  fillSnapshots("au-snapshot", "audio", "au-info", none("audio"));
  if (data.skipped && data.skipped.length) {
    const names = data.skipped.slice(0, 3).map((s) => `${s.id} (${s.error})`).join("; ");
    message(`${data.skipped.length} file(s) in the runs directory could not be read and are not listed: ${names}`
      + (data.skipped.length > 3 ? "; …" : ""), "info");
  }
  onImageSnapshot();
  onChannelSnapshot();
}

function takes(s, opt) {
  return Boolean(s && s.sampling_options && s.sampling_options.includes(opt));
}

function onImageSnapshot() {
  const s = current("img-snapshot");
  remember("img-snapshot", "image");
  $("img-info").textContent = s ? describe(s) : $("img-info").textContent;
  for (const [opt, id] of [["sampler", "img-sampler"], ["steps", "img-steps"], ["guidance", "img-guidance"]]) {
    $(id).closest("label").classList.toggle("hidden", !takes(s, opt));
    if (s && s.sample_settings && s.sample_settings[opt] != null) $(id).value = s.sample_settings[opt];
  }
  $("img-diffusion").classList.toggle("hidden", !["sampler", "steps", "guidance"].some((o) => takes(s, o)));
  const classes = s ? s.class_names.map((name, k) => [String(k), `${k}: ${name}`]) : [];
  fillSelect($("img-class"), [["", s && s.num_classes ? "all classes, cycling" : "none (unconditional)"], ...classes]);
  const latent = s && s.interpolates;
  $("interpolate").disabled = !latent;
  const code = Boolean(s && s.has_latent);
  $("explore").disabled = !code;
  if (!explorer.req || !s || explorer.req.snapshot !== s.id) {  // another model: its sliders are not these
    $("explorer").classList.add("hidden");
    explorer.req = null;
    $("ex-note").textContent = s && !code ? `The ${s.family} family has no latent code to explore (a VAE, GAN or ` +
      "autoencoder has)." : "";
  }
  $("interp-note").textContent = s && !latent
    ? `The ${s.family} family has no latent space to interpolate in (a VAE, GAN or autoencoder has).`
    : s && s.interpolation_note ? `${s.interpolation_note}${s.num_classes ? "; with all classes, one strip per class" : ""}.`
      : "";
}

// --- images ------------------------------------------------------------------------------------------------------
function imageRequest(extra = {}) {
  const v = formValues($("img-form"));  // fields of hidden controls (options the family does not take) are left out
  if (v.class_label !== undefined) v.class_label = Number(v.class_label);
  return {...v, ...extra};
}

function showGrid(target, result, regenerate) {
  target.innerHTML = "";
  result.cells.forEach((src, i) => {
    const seed = result.seeds[i];
    const label = result.labels ? result.labels[i] : null;
    const fig = cell(src, `seed ${seed}`, `sample with seed ${seed}`);
    fig.title = label === null ? `seed ${seed}` : `seed ${seed}, class ${label}`;
    fig.dataset.seed = seed;
    if (label !== null) fig.dataset.label = label;
    if (regenerate) {
      fig.classList.add("clickable");
      fig.title += ": click to regenerate this cell";
      fig.addEventListener("click", () => regenerate(fig));
    }
    target.appendChild(fig);
  });
  target.style.gridTemplateColumns = `repeat(${result.nrow}, minmax(0, var(--cell)))`;
}

async function generateImages(ev) {
  ev.preventDefault();
  await run($("generate"), "Generating…", async (key) => {
    selected("img-snapshot", "image");
    const result = await postJSON("/api/generate", imageRequest({progress_key: key}));
    showGrid($("grid"), result, regenerateCell);
    $("img-summary").textContent =
      `${result.seeds.length} images from ${result.snapshot} (${result.family}) in ${result.seconds.toFixed(2)} s`;
    $("img-download").href = result.grid;
    $("img-download").classList.remove("hidden");
  });
}

async function regenerateCell(fig) {
  if (fig.classList.contains("working")) return;
  fig.classList.add("working");
  try {
    const extra = {seeds: [Number(fig.dataset.seed)], n: 1};
    if (fig.dataset.label !== undefined) extra.class_label = Number(fig.dataset.label);
    const result = await postJSON("/api/generate", imageRequest(extra));
    fig.querySelector("img").src = result.cells[0];
    message(`regenerated seed ${fig.dataset.seed} in ${result.seconds.toFixed(2)} s`);
  } catch (err) {
    message(err.message, "error");
  } finally {
    fig.classList.remove("working");
    refreshQueue();
  }
}

async function interpolateSeeds(ev) {
  ev.preventDefault();
  await run($("interpolate"), "Interpolating…", async (key) => {
    const req = {snapshot: selected("img-snapshot", "image"), progress_key: key, ...formValues($("interp-form"))};
    const cls = $("img-class").value;
    if (cls !== "") req.class_label = Number(cls);
    const result = await postJSON("/api/interpolate", req);
    const strip = $("strip");
    strip.innerHTML = "";
    const frames = result.frames.length / result.rows.length;  // one strip (row) per class, each keeps its class
    result.frames.forEach((src, i) => {
      const j = i % frames;
      const row = result.rows[Math.floor(i / frames)];
      const cls = row.class_label === null ? "" : `, class ${row.class_label}`;
      strip.appendChild(cell(src, j === 0 ? `seed ${req.seed_a}${cls}` : j === frames - 1 ? `seed ${req.seed_b}`
        : `${j}`, `interpolation frame ${j}${cls}`));
    });
    strip.style.gridTemplateColumns = `repeat(${frames}, minmax(0, var(--cell)))`;
  });
  onImageSnapshot();
}

// --- latent explorer: one slider per direction (principal directions of the model's codes, or chosen
// dimensions); moving one decodes the code at the slider positions. One request in flight at a time: positions
// changed meanwhile are sent as soon as it returns, so the image follows the sliders without queueing a backlog.
const explorer = {req: null, busy: false, dirty: false};

function explorerRequest(key) {
  const req = {snapshot: selected("img-snapshot", "image"), mode: $("ex-mode").value, k: Number($("ex-k").value),
    n: 500, progress_key: key};
  const dims = $("ex-dims").value.trim();
  if (req.mode === "dims" && dims) {
    req.dims = dims.split(",").map((d) => Number(d.trim()));
    if (req.dims.some((d) => !Number.isInteger(d) || d < 0)) throw new Error(`dimensions '${dims}': expected ` +
      "comma-separated whole numbers, e.g. 0,3,5");
  }
  return req;
}

function sliderPositions() {
  return [...document.querySelectorAll("#ex-sliders input")].map((el) => Number(el.value));
}

async function loadExplorer(ev) {
  ev.preventDefault();
  await run($("explore"), "Loading sliders…", async (key) => {
    const req = explorerRequest(key);
    const r = await postJSON("/api/latent/basis", req);
    delete req.progress_key;
    explorer.req = req;
    const lim = state.config.limits.explorer_position;
    const box = $("ex-sliders");
    box.innerHTML = "";
    r.names.forEach((name, i) => {
      const label = document.createElement("label");
      const share = r.explained ? ` (${(100 * r.explained[i]).toFixed(1)} % of the variance)` : "";
      label.title = `${name}: std ${fmt(r.stds[i], 3)} of the codes${share}; the slider moves in stds`;
      const text = document.createElement("span");
      text.textContent = name;
      const slider = document.createElement("input");
      Object.assign(slider, {type: "range", min: -lim, max: lim, step: 0.1, value: 0});
      slider.setAttribute("aria-label", `${name} position`);
      const value = document.createElement("output");
      value.textContent = "0.0";
      slider.addEventListener("input", () => { value.textContent = Number(slider.value).toFixed(1); decodeSliders(); });
      label.append(text, slider, value);
      box.appendChild(label);
    });
    $("ex-image").src = r.image;
    $("ex-caption").textContent = "centre";
    const codes = r.source === "encoded" ? `${r.num_codes} encoded training images` : `${r.num_codes} prior samples`;
    $("ex-note").textContent = `${r.directions} sliders over a ${r.latent_size}-number latent, from ${codes}` +
      (r.explained ? `; together ${(100 * r.explained.reduce((a, b) => a + b, 0)).toFixed(1)} % of their variance`
        : "") + `. Positions are in standard deviations of the codes (±${lim}).`;
    $("explorer").classList.remove("hidden");
  });
}

async function decodeSliders() {
  if (!explorer.req) return;
  if (explorer.busy) { explorer.dirty = true; return; }
  explorer.busy = true;
  try {
    do {
      explorer.dirty = false;
      const req = {...explorer.req, coords: sliderPositions()};
      const cls = $("img-class").value;
      if (cls !== "") req.class_label = Number(cls);
      const r = await postJSON("/api/latent/decode", req);
      $("ex-image").src = r.image;
      $("ex-caption").textContent = `(${r.coords.map((c) => c.toFixed(1)).join(", ")})`;
    } while (explorer.dirty);
  } catch (err) {
    message(err.message, "error");
  } finally {
    explorer.busy = false;
  }
}

function resetSliders() {
  for (const el of document.querySelectorAll("#ex-sliders input")) {
    el.value = 0;
    el.nextElementSibling.textContent = "0.0";
  }
  decodeSliders();
}

// --- channels ----------------------------------------------------------------------------------------------------
// Latent models (VAE, VAE-GAN, GAN) condition to wells by ES-MDA in their latent space; diffusion models, which have
// no latent code, by inpainting the same wells.
function onChannelSnapshot() {
  const s = current("ch-snapshot");
  if (s) $("ch-info").textContent = describe(s);
  $("es-section").classList.toggle("hidden", Boolean(s) && !s.has_latent);
  $("in-section").classList.toggle("hidden", !s || s.has_latent);
}

async function generateChannels(ev) {
  ev.preventDefault();
  await run($("ch-generate"), "Generating…", async (key) => {
    selected("ch-snapshot", "channel-facies");
    const result = await postJSON("/api/generate", {...formValues($("ch-form")), progress_key: key});
    showGrid($("ch-grid"), result, null);
  });
}

function fmt(x, digits = 3) {
  return typeof x === "number" ? x.toFixed(digits) : x == null ? "" : String(x);
}

async function runEsmda(ev) {
  ev.preventDefault();
  await run($("esmda"), "Running ES-MDA…", async (key) => {
    const req = {snapshot: selected("ch-snapshot", "channel-facies"), progress_key: key,
      ...formValues($("esmda-form"))};
    const r = await postJSON("/api/channels/esmda", req);
    $("es-summary").textContent = `${r.n_ens} members, ${r.n_assim} assimilations (α = ${r.alphas.map((a) => fmt(a, 2))
      .join(", ")}), ${r.setup.wells} wells, truth seed ${r.setup.truth_seed}: ${r.seconds.toFixed(1)} s. ` +
      "Iteration 0 is the prior; O_N ≈ 1 is a fit at the noise level.";
    const table = $("es-table");
    table.innerHTML = "<tr><th>iteration</th><th>O_N mean</th><th>O_N median</th><th>well facies match</th>" +
      "<th>field accuracy vs truth</th><th>latent std</th></tr>";
    for (const h of r.history) {
      const row = table.insertRow();
      for (const v of [h.iteration, fmt(h.mismatch_mean, 2), fmt(h.mismatch_median, 2),
        fmt(h.extras.well_facies_match), fmt(h.extras.field_accuracy_vs_truth), fmt(h.m_std)]) {
        row.insertCell().textContent = v;
      }
    }
    table.classList.remove("hidden");
    const figs = $("es-images");
    figs.innerHTML = "";
    const captions = {wells: "truth and logged well cells", prior: "truth (first) and prior realizations",
      posterior: "truth (first) and posterior realizations", means: "truth, prior mean, posterior mean"};
    for (const [key, src] of Object.entries(r.images)) figs.appendChild(cell(src, captions[key] || key, key));
  });
}

async function runInpaint(ev) {
  ev.preventDefault();
  await run($("inpaint"), "Inpainting…", async (key) => {
    const req = {snapshot: selected("ch-snapshot", "channel-facies"), progress_key: key,
      ...formValues($("inpaint-form"))};
    const r = await postJSON("/api/channels/inpaint", req);
    $("in-summary").textContent = `${r.n} realizations, ${r.steps} steps, ${r.resample} resamplings (${r.nfe} ` +
      `network evaluations each), ${r.setup.wells} wells, truth seed ${r.setup.truth_seed}: ${r.seconds.toFixed(1)} s. ` +
      `Well cells honoured ${fmt(r.wells_honoured)} (the model's own prediction before pasting: ` +
      `${fmt(r.wells_agreed_before_paste)}), field accuracy vs truth ${fmt(r.field_accuracy_vs_truth)}, ` +
      `pixel spread ${fmt(r.pixel_std_mean)}.`;
    const figs = $("in-images");
    figs.innerHTML = "";
    const captions = {wells: "truth and logged well cells", realizations: "truth (first) and inpainted realizations",
      means: "truth and the mean of the realizations"};
    for (const [k, src] of Object.entries(r.images)) figs.appendChild(cell(src, captions[k] || k, k));
  });
}

// --- audio -------------------------------------------------------------------------------------------------------
async function loadTracks() {
  const t = await api("/api/audio/tracks");
  fillSelect($("au-track"), t.tracks.map((n) => [n, n]));
  $("au-tracks-note").textContent = t.available ? `${t.tracks.length} MUSDB18 test tracks` : t.message;
  if (!t.available) $("au-src-upload").checked = true;
  $("au-src-track").disabled = !t.available;
}

// A vocoder predicts its own phase: its waveform ("model") is what it is measured on (README, "Audio"), so it is the
// default for vocos snapshots; a magnitude-only model starts on Griffin-Lim.
function defaultAudioPhase() {
  const s = current("au-snapshot");
  const vocoder = s && s.family === "vocos";
  if (vocoder) $("au-phase").value = "model";
  else if ($("au-phase").value === "model") $("au-phase").value = "griffin-lim";
}

async function regenerateAudio(ev) {
  ev.preventDefault();
  await run($("au-run"), "Regenerating…", async (key) => {
    const params = new URLSearchParams({snapshot: selected("au-snapshot", "audio"), stem: $("au-stem").value,
      phase: $("au-phase").value, gl_iters: $("au-gl").value, progress_key: key});
    let body = null;
    if ($("au-src-upload").checked) {
      const file = $("au-file").files[0];
      if (!file) throw new Error("choose a WAV file to upload");
      if (file.size > state.config.limits.upload_bytes) {
        throw new Error(`the file has ${file.size} bytes; the limit is ${state.config.limits.upload_bytes} bytes`);
      }
      body = file;
    } else {
      params.set("track", $("au-track").value);
    }
    const r = await api(`/api/audio/regenerate?${params}`, {method: "POST", body,
      headers: body ? {"Content-Type": "application/octet-stream"} : {}});
    $("au-original").src = r.original;
    $("au-regenerated").src = r.regenerated;
    $("au-orig-label").textContent = `Original ${r.stem} (${r.input})`;
    $("au-regen-label").textContent = `Regenerated: ${r.method}`;
    $("au-summary").textContent = `${r.audio_seconds.toFixed(1)} s of audio regenerated in ${r.seconds.toFixed(2)} s`;
  });
}

// --- page --------------------------------------------------------------------------------------------------------
async function refreshQueue() {
  try {
    const s = await api("/api/status");
    $("queue").textContent = `queue ${s.admitted}/${s.capacity} · ${s.workers} worker${s.workers > 1 ? "s" : ""}`;
  } catch (err) {
    $("queue").textContent = "server unreachable";
  }
}

function showTab(name) {
  for (const b of document.querySelectorAll(".tab")) b.classList.toggle("active", b.dataset.tab === name);
  for (const p of document.querySelectorAll(".panel")) p.classList.toggle("hidden", p.id !== `tab-${name}`);
}

async function init() {
  for (const b of document.querySelectorAll(".tab")) b.addEventListener("click", () => showTab(b.dataset.tab));
  $("img-form").addEventListener("submit", generateImages);
  $("interp-form").addEventListener("submit", interpolateSeeds);
  $("explore-form").addEventListener("submit", loadExplorer);
  $("ex-reset").addEventListener("click", resetSliders);
  $("ex-mode").addEventListener("change", () => {
    $("ex-dims-label").classList.toggle("hidden", $("ex-mode").value !== "dims");
  });
  $("ch-form").addEventListener("submit", generateChannels);
  $("esmda-form").addEventListener("submit", runEsmda);
  $("inpaint-form").addEventListener("submit", runInpaint);
  $("au-form").addEventListener("submit", regenerateAudio);
  $("img-snapshot").addEventListener("change", onImageSnapshot);
  $("ch-snapshot").addEventListener("change", () => {
    remember("ch-snapshot", "channels");
    onChannelSnapshot();
  });
  $("au-snapshot").addEventListener("change", () => {
    remember("au-snapshot", "audio");
    $("au-info").textContent = describe(current("au-snapshot"));
    defaultAudioPhase();
  });
  $("img-random").addEventListener("click", () => {
    $("img-seed").value = Math.floor(Math.random() * 1e6);
  });
  $("au-file").addEventListener("change", () => { $("au-src-upload").checked = true; });
  try {
    state.config = await api("/api/config");
    const lim = state.config.limits;
    applyLimits();
    fillSelect($("img-sampler"), state.config.samplers.map((s) => [s, s]));
    fillSelect($("au-stem"), state.config.stems.map((s) => [s, s]));
    $("au-stem").value = "vocals";
    fillSelect($("au-phase"), state.config.phases.map((s) => [s, s]));
    $("au-upload-note").textContent = `WAV or FLAC, at most ${lim.upload_seconds} s and ` +
      `${(lim.upload_bytes / 1048576).toFixed(0)} MB; resampled to 44.1 kHz`;
    await loadSnapshots();
    defaultAudioPhase();
    await loadTracks();
    await refreshQueue();
    document.body.dataset.ready = "1";
  } catch (err) {
    message(`could not load the page's data: ${err.message}`, "error");
  }
}

document.addEventListener("DOMContentLoaded", init);
