// ArtiFact's web page: plain JavaScript against the /v1 API, nothing loaded from outside.
"use strict";

const VERDICT_WORDS = {
  ai: "Likely AI-generated",
  human: "Likely made by a person",
  uncertain: "Uncertain — the model cannot tell",
};
let token = sessionStorage.getItem("artifact-token");

const $ = (selector, root = document) => root.querySelector(selector);

function showMessage(text, ok = false) {
  const box = $("#message");
  box.textContent = text;
  box.className = ok ? "ok" : "";
  box.hidden = !text;
}

async function errorText(response) {
  try {
    const body = await response.json();
    // The server's message is already in words; the details are for programs.
    if (body.error) return body.error.message;
  } catch (_) { /* not JSON */ }
  return `the server answered ${response.status}`;
}

async function api(path, options = {}) {
  const headers = Object.assign({}, options.headers || {});
  if (token) headers.Authorization = `Bearer ${token}`;
  const response = await fetch(path, Object.assign({}, options, { headers }));
  if (response.status === 401 && token) {
    signOut();
    throw new Error("your session has ended; please sign in again");
  }
  if (!response.ok) throw new Error(await errorText(response));
  return response;
}

// A list shows the answer to its newest request only: starting a request aborts the previous
// one of the same list, so a slower, older answer (a filter changed twice quickly) cannot
// overwrite a newer one.
const pendingLists = {};
function newestOnly(list) {
  pendingLists[list]?.abort();
  pendingLists[list] = new AbortController();
  return pendingLists[list].signal;
}

async function imageUrl(path) {
  const blob = await (await api(path)).blob();
  return URL.createObjectURL(blob);
}

function upload(path, form, onProgress) {
  // XMLHttpRequest rather than fetch: it reports upload progress.
  return new Promise((resolve, reject) => {
    const request = new XMLHttpRequest();
    request.open("POST", path);
    request.setRequestHeader("Authorization", `Bearer ${token}`);
    request.upload.onprogress = (event) => event.lengthComputable && onProgress(100 * event.loaded / event.total);
    request.onload = async () => {
      const response = new Response(request.responseText, { status: request.status });
      if (request.status >= 200 && request.status < 300) resolve(JSON.parse(request.responseText));
      else reject(new Error(await errorText(response)));
    };
    request.onerror = () => reject(new Error("the upload failed: is the server running?"));
    request.send(form);
  });
}

// ---- views -------------------------------------------------------------------------------
function show(view) {
  document.querySelectorAll("main > section").forEach((section) => { section.hidden = section.id !== `view-${view}`; });
  document.querySelectorAll("#nav [data-view]").forEach((button) => {
    if (button.dataset.view === view) button.setAttribute("aria-current", "page");
    else button.removeAttribute("aria-current");
  });
  showMessage("");
  if (view === "analyse") loadJobs();
  if (view === "gallery") loadGallery();
  if (view === "history") loadHistory();
  if (view === "account") loadAccount();
}

let isAdmin = false;

function signIn(newToken) {
  token = newToken;
  sessionStorage.setItem("artifact-token", token);
  $("#nav").hidden = false;
  // An admin's history holds everyone's analyses: offer the owner filter and show owners.
  api("/v1/auth/me").then((response) => response.json()).then((me) => {
    isAdmin = me.role === "admin";
    $("#history-owner-label").hidden = !isAdmin;
  }).catch(() => {});
  // A link to one analysis opens it once signed in; otherwise the start page.
  if (/^#analysis-\d+$/.test(location.hash)) openAnalysisFromUrl();
  else show("analyse");
}

function signOut() {
  token = null;
  sessionStorage.removeItem("artifact-token");
  $("#nav").hidden = true;
  show("auth");
}

// ---- result card ---------------------------------------------------------------------------
function newCard(title) {
  const card = $("#card-template").content.firstElementChild.cloneNode(true);
  $(".card-title", card).textContent = title;
  return card;
}

function fillCard(card, analysis, imagePath) {
  const verdict = $(".verdict", card);
  verdict.textContent = analysis.verdict ? VERDICT_WORDS[analysis.verdict] : `Predicted: ${analysis.label}`;
  verdict.className = `verdict ${analysis.verdict || ""}`;
  const bar = $(".bar", card);
  if (analysis.prob_ai !== null && analysis.cut_points) {
    // The zones are the model's decision rule: the verdict's words name the zone the marker is in.
    const { human: low, ai: high } = analysis.cut_points;
    const zones = { human: [0, low], uncertain: [low, high], ai: [high, 1] };
    for (const [name, [from, to]] of Object.entries(zones)) {
      const zone = $(`.zone.${name}`, card);
      zone.style.left = `${100 * from}%`;
      zone.style.width = `${100 * Math.max(0, to - from)}%`;
    }
    $(".marker", card).style.left = `${100 * analysis.prob_ai}%`;
    const pct = (value) => `${(100 * value).toFixed(1)}%`;
    bar.setAttribute("aria-label", `probability of AI ${pct(analysis.prob_ai)}; a person up to ${pct(low)}, uncertain up to ${pct(high)}, AI from ${pct(high)}`);
    $(".numbers", card).textContent = `P(AI) = ${analysis.prob_ai.toFixed(3)} · person ≤ ${low.toFixed(3)} < uncertain < ${high.toFixed(3)} ≤ AI`;
  } else {
    bar.hidden = true;
    $(".zones-legend", card).hidden = true;
  }
  if (analysis.verdict_reason && analysis.verdict !== analysis.model_verdict) {
    $(".numbers", card).textContent += ` · decided by evidence: ${analysis.verdict_reason}`;
  }
  const list = $(".evidence", card);
  list.replaceChildren();
  if (!analysis.evidence.length) {
    const item = document.createElement("li");
    item.textContent = "No provenance evidence in the file (which says nothing either way).";
    list.append(item);
  }
  for (const evidence of analysis.evidence) {
    const item = document.createElement("li");
    item.textContent = evidence.strength === "info"
      ? `note: ${evidence.summary}`
      : `${evidence.strength} evidence of ${evidence.points_to === "ai" ? "AI" : "human"} work: ${evidence.summary}`;
    list.append(item);
  }
  $(".model", card).textContent = `model ${analysis.model.name} (${analysis.model.sha256.slice(0, 12)}…)`;
  imageUrl(imagePath || analysis.image_url).then((url) => { $(".picture img", card).src = url; }).catch(() => {});
  const toggle = $(".toggle-heat", card);
  const heat = $(".heat", card);
  toggle.hidden = analysis.prob_ai === null;
  toggle.onclick = async () => {
    if (!heat.src) {
      toggle.disabled = true;
      toggle.textContent = "Computing heatmap…";
      try { heat.src = await imageUrl(`/v1/analyses/${analysis.id}/heatmap`); }
      catch (error) { showMessage(`Heatmap: ${error.message}`); }
      toggle.disabled = false;
    }
    heat.hidden = !heat.hidden;
    $(".heat-legend", card).hidden = heat.hidden;
    toggle.setAttribute("aria-pressed", String(!heat.hidden));
    toggle.textContent = heat.hidden ? "Show heatmap" : "Hide heatmap";
  };
}

async function analyseFiles(files) {
  for (const file of files) {
    const card = newCard(file.name);
    $("#results").prepend(card);
    const progress = $(".progress", card);
    progress.hidden = false;
    const form = new FormData();
    form.append("file", file);
    try {
      const analysis = await upload("/v1/analyze", form, (percent) => { $("progress", card).value = percent; });
      progress.hidden = true;
      fillCard(card, analysis);
    } catch (error) {
      progress.hidden = true;
      $(".bar", card).hidden = true;
      const verdict = $(".verdict", card);
      verdict.className = "verdict error";
      verdict.textContent = `Could not analyse this file: ${error.message}`;
    }
  }
}

// ---- batch jobs ------------------------------------------------------------------------------
const JOB_POLL_MS = 1500;
const followed = new Set();

function jobText(job) {
  const failed = job.failed ? `, ${job.failed} could not be analysed` : "";
  const words = { queued: "waiting for a worker", running: "analysing", done: "done", failed: "failed" };
  const tail = job.status === "done" ? " — results are in History" : "";
  return `Batch of ${job.total} file${job.total === 1 ? "" : "s"}: ${words[job.status]}, ${job.done}/${job.total}${failed}${tail}`;
}

function followJob(job) {
  let item = document.getElementById(`job-${job.id}`);
  if (!item) {
    item = document.createElement("li");
    item.id = `job-${job.id}`;
    $("#jobs").prepend(item);
  }
  item.textContent = jobText(job);
  item.dataset.status = job.status;
  if (job.status === "done" || job.status === "failed" || followed.has(job.id)) return;
  followed.add(job.id);
  const poll = async () => {
    try {
      const fresh = await (await api(job.url)).json();
      item.textContent = jobText(fresh);
      item.dataset.status = fresh.status;
      if (fresh.status === "done" || fresh.status === "failed") { followed.delete(job.id); return; }
    } catch (error) { item.textContent = `${jobText(job)} (status unavailable: ${error.message})`; }
    if (token) setTimeout(poll, JOB_POLL_MS); else followed.delete(job.id);
  };
  setTimeout(poll, JOB_POLL_MS);
}

async function loadJobs() {
  // Batch jobs need PostgreSQL and a worker: say so up front instead of failing on submit.
  try {
    const ready = await (await fetch("/readyz")).json();
    const jobs = ready.capabilities || {};
    const form = $("#job-form");
    const disabled = jobs.batch_jobs === false;
    form.querySelectorAll("input, button").forEach((element) => { element.disabled = disabled; });
    $("#job-unavailable").hidden = !disabled;
    $("#job-unavailable").textContent = disabled ? `Batch jobs are not available on this server: ${jobs.batch_jobs_reason || "no job queue"}` : "";
    if (disabled) return;
  } catch (_) { /* readiness unknown: let the server answer on submit */ }
  try {
    const page = await (await api("/v1/jobs?limit=10")).json();
    page.data.reverse().forEach(followJob);
  } catch (_) { /* an older server without jobs: nothing to show */ }
}

// ---- gallery, history, account -----------------------------------------------------------
const DECISION_WORDS = { accepted: "accepted", rejected: "rejected", needs_proof: "needs proof" };

function galleryQuery() {
  const query = new URLSearchParams();
  if ($("#gallery-filter").value) query.set("verdict", $("#gallery-filter").value);
  if ($("#decision-filter").value) query.set("decision", $("#decision-filter").value);
  return query;
}

async function loadGallery() {
  const signal = newestOnly("gallery");
  const query = galleryQuery();
  query.set("limit", "200");
  try {
    const page = await (await api(`/v1/artworks?${query}`, { signal })).json();
    if (signal.aborted) return;
    $("#gallery-count").textContent = `${page.count} artwork${page.count === 1 ? "" : "s"}`;
    const list = $("#gallery");
    list.replaceChildren();
    for (const artwork of page.data) {
      const item = document.createElement("li");
      const image = document.createElement("img");
      image.alt = `${artwork.title} by ${artwork.artist}`;
      imageUrl(artwork.image_url).then((url) => { image.src = url; }).catch(() => {});
      const title = document.createElement("p");
      title.innerHTML = `<strong></strong><br><span></span>`;
      title.querySelector("strong").textContent = artwork.title;
      title.querySelector("span").textContent = artwork.artist;
      const badge = document.createElement("span");
      const word = artwork.analysis.verdict || "";
      badge.className = `badge ${word}`;
      badge.textContent = word;
      const decided = document.createElement("span");
      decided.className = "decision";
      decided.textContent = artwork.decision
        ? `jury: ${DECISION_WORDS[artwork.decision.decision]} (${artwork.decision.decided_by})`
        : "jury: not decided";
      const open = document.createElement("button");
      open.type = "button";
      open.textContent = "Open";
      open.onclick = () => openArtwork(artwork);
      const remove = document.createElement("button");
      remove.type = "button";
      remove.textContent = "Delete";
      remove.onclick = () => deleteArtwork(artwork);
      item.append(image, title, badge, " ", decided, " ", open, " ", remove);
      list.append(item);
    }
  } catch (error) { if (!signal.aborted) showMessage(error.message); }
}

function openArtwork(artwork) {
  const card = newCard(`${artwork.title} — ${artwork.artist}`);
  fillCard(card, artwork.analysis, artwork.image_url);
  card.append(decisionForm(artwork));
  $("#artwork-detail").replaceChildren(card);
  card.scrollIntoView({ behavior: "smooth" });
}

// A juror's decision sits beside the machine's verdict; the analysis itself never changes.
function decisionForm(artwork) {
  const form = document.createElement("form");
  form.className = "decision-form inline-form";
  const current = artwork.decision;
  form.innerHTML = `<p class="current-decision"></p>
    <label>Decision <select name="decision">
      <option value="accepted">accepted</option><option value="rejected">rejected</option>
      <option value="needs_proof">needs proof</option></select></label>
    <label>Note <input name="note" maxlength="2000"></label>
    <button type="submit">Record decision</button>`;
  $(".current-decision", form).textContent = current
    ? `Jury: ${DECISION_WORDS[current.decision]} by ${current.decided_by}, ${new Date(current.decided_at).toLocaleString()}${current.note ? ` — “${current.note}”` : ""}`
    : "Jury: not decided yet";
  if (current) form.elements.decision.value = current.decision;
  form.onsubmit = async (event) => {
    event.preventDefault();
    try {
      const body = JSON.stringify({ decision: form.elements.decision.value, note: form.elements.note.value });
      const updated = await (await api(`/v1/artworks/${artwork.id}/decision`, {
        method: "POST", body, headers: { "Content-Type": "application/json" },
      })).json();
      showMessage(`Decision recorded: ${DECISION_WORDS[updated.decision.decision]}.`, true);
      openArtwork(updated);
      loadGallery();
    } catch (error) { showMessage(`Could not record the decision: ${error.message}`); }
  };
  return form;
}

// Fetched with the credentials, then handed to the browser as a download.
async function download(path, filename, what) {
  try {
    const blob = await (await api(path)).blob();
    const link = document.createElement("a");
    link.href = URL.createObjectURL(blob);
    link.download = filename;
    document.body.append(link);
    link.click();
    link.remove();
  } catch (error) { showMessage(`Could not export ${what}: ${error.message}`); }
}

const exportGallery = () => download(`/v1/artworks/export.csv?${galleryQuery()}`, "artifact-gallery.csv", "the gallery");
const reportGallery = () => download(`/v1/artworks/report.html?${galleryQuery()}`, "artifact-gallery.html", "the gallery");
const exportHistory = () => download(`/v1/analyses/export.csv?${historyQuery()}`, "artifact-history.csv", "the history");

function historyQuery() {
  const query = new URLSearchParams();
  if ($("#history-filter").value) query.set("verdict", $("#history-filter").value);
  if ($("#history-since").value) query.set("since", $("#history-since").value);
  if ($("#history-until").value) query.set("until", $("#history-until").value);
  if ($("#history-owner").value.trim()) query.set("owner", $("#history-owner").value.trim());
  return query;
}

async function deleteArtwork(artwork) {
  if (!confirm(`Delete “${artwork.title}” from the gallery? Its analysis stays in the history.`)) return;
  try {
    await api(`/v1/artworks/${artwork.id}`, { method: "DELETE" });
    $("#artwork-detail").replaceChildren();
    showMessage(`Deleted “${artwork.title}”.`, true);
    loadGallery();
  } catch (error) { showMessage(error.message); }
}

const HISTORY_PAGE = 20;
let historyOffset = 0;

async function loadHistory() {
  const signal = newestOnly("history");
  const query = historyQuery();
  query.set("limit", String(HISTORY_PAGE));
  query.set("offset", String(historyOffset));
  try {
    const page = await (await api(`/v1/analyses?${query}`, { signal })).json();
    if (signal.aborted) return;
    const list = $("#history");
    list.replaceChildren();
    const last = Math.min(historyOffset + page.data.length, page.count);
    $("#history-count").textContent = page.count ? `${historyOffset + 1}-${last} of ${page.count} analyses` : "";
    $("#history-newer").disabled = historyOffset === 0;
    $("#history-older").disabled = last >= page.count;
    for (const analysis of page.data) {
      const item = document.createElement("li");
      const image = document.createElement("img");
      image.alt = "";
      imageUrl(analysis.image_url).then((url) => { image.src = url; }).catch(() => {});
      const link = document.createElement("a");
      link.href = `#analysis-${analysis.id}`;
      link.textContent = analysis.artwork ? `“${analysis.artwork.title}” by ${analysis.artwork.artist}`
        : (analysis.filename || "(unnamed)");
      const words = document.createElement("span");
      const when = new Date(analysis.created_at).toLocaleString();
      words.textContent = ` — ${VERDICT_WORDS[analysis.verdict] || analysis.label}` +
        (analysis.prob_ai !== null ? ` (P(AI) ${analysis.prob_ai.toFixed(2)})` : "") + ` · ${when}` +
        (isAdmin ? ` · ${analysis.owner}` : "");
      item.append(image, link, words);
      list.append(item);
    }
    if (!page.count) list.innerHTML = "<li>No analyses yet.</li>";
  } catch (error) { if (!signal.aborted) showMessage(error.message); }
}

// One analysis, reachable by URL (#analysis-ID): image, verdict, zones, evidence, heatmap, model.
async function openAnalysisFromUrl() {
  const match = /^#analysis-(\d+)$/.exec(location.hash);
  if (!match || !token) return;
  if ($("#view-history").hidden) show("history");
  try {
    const analysis = await (await api(`/v1/analyses/${match[1]}`)).json();
    const card = newCard(`${analysis.filename || "(unnamed)"} — ${new Date(analysis.created_at).toLocaleString()}`);
    fillCard(card, analysis);
    $("#history-detail").replaceChildren(card);
    card.scrollIntoView({ behavior: "smooth" });
  } catch (error) { showMessage(`Could not open analysis ${match[1]}: ${error.message}`); }
}

async function loadAccount() {
  const signal = newestOnly("account");
  try {
    const me = await (await api("/v1/auth/me", { signal })).json();
    const keys = await (await api("/v1/api-keys", { signal })).json();
    if (signal.aborted) return;
    $("#whoami").textContent = `Signed in as ${me.username} (${me.role}).`;
    const list = $("#keys");
    list.replaceChildren();
    for (const key of keys.data) {
      const item = document.createElement("li");
      item.textContent = `${key.name} — ${key.prefix}… ${key.revoked_at ? "(revoked)" : ""} `;
      if (!key.revoked_at) {
        const revoke = document.createElement("button");
        revoke.type = "button";
        revoke.textContent = "Revoke";
        revoke.onclick = async () => {
          try { await api(`/v1/api-keys/${key.id}`, { method: "DELETE" }); loadAccount(); }
          catch (error) { showMessage(error.message); }
        };
        item.append(revoke);
      }
      list.append(item);
    }
  } catch (error) { if (!signal.aborted) showMessage(error.message); }
}

// ---- wiring --------------------------------------------------------------------------------
document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("#nav [data-view]").forEach((button) => { button.onclick = () => show(button.dataset.view); });
  $("#logout").onclick = signOut;

  $("#login-form").onsubmit = async (event) => {
    event.preventDefault();
    const data = Object.fromEntries(new FormData(event.target));
    try {
      const body = await (await api("/v1/auth/login", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(data) })).json();
      signIn(body.access_token);
    } catch (error) { showMessage(`Sign-in failed: ${error.message}`); }
  };
  $("#register-form").onsubmit = async (event) => {
    event.preventDefault();
    const data = Object.fromEntries(new FormData(event.target));
    try {
      await api("/v1/auth/register", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(data) });
      const body = await (await api("/v1/auth/login", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ username: data.username, password: data.password }) })).json();
      signIn(body.access_token);
    } catch (error) { showMessage(`Registration failed: ${error.message}`); }
  };

  const zone = $("#dropzone");
  const input = $("#analyse-files");
  input.onchange = () => { analyseFiles([...input.files]); input.value = ""; };
  zone.onkeydown = (event) => { if (event.key === "Enter" || event.key === " ") { event.preventDefault(); input.click(); } };
  zone.ondragover = (event) => { event.preventDefault(); zone.classList.add("over"); };
  zone.ondragleave = () => zone.classList.remove("over");
  zone.ondrop = (event) => { event.preventDefault(); zone.classList.remove("over"); analyseFiles([...event.dataTransfer.files]); };

  $("#artwork-form").onsubmit = async (event) => {
    event.preventDefault();
    const form = new FormData(event.target);
    try {
      await upload("/v1/artworks", form, () => {});
      event.target.reset();
      showMessage("Artwork submitted and analysed.", true);
      loadGallery();
    } catch (error) { showMessage(`Could not submit the artwork: ${error.message}`); }
  };
  $("#gallery-filter").onchange = loadGallery;
  $("#decision-filter").onchange = loadGallery;
  $("#history-filter").onchange = () => { historyOffset = 0; loadHistory(); };
  $("#history-newer").onclick = () => { historyOffset = Math.max(0, historyOffset - HISTORY_PAGE); loadHistory(); };
  $("#history-older").onclick = () => { historyOffset += HISTORY_PAGE; loadHistory(); };
  window.addEventListener("hashchange", openAnalysisFromUrl);
  $("#export-gallery").onclick = exportGallery;
  $("#report-gallery").onclick = reportGallery;
  $("#export-history").onclick = exportHistory;
  for (const id of ["#history-since", "#history-until", "#history-owner"]) {
    $(id).onchange = () => { historyOffset = 0; loadHistory(); };
  }

  $("#job-form").onsubmit = async (event) => {
    event.preventDefault();
    const form = new FormData(event.target);
    try {
      const job = await upload("/v1/jobs", form, () => {});
      event.target.reset();
      const n = job.skipped.length;
      const skipped = n ? ` (${n} ${n === 1 ? "entry that is not an image was" : "entries that are not images were"} left out)` : "";
      showMessage(`Batch job started: ${job.total} files${skipped}.`, true);
      followJob(job);
    } catch (error) { showMessage(`Could not start the batch job: ${error.message}`); }
  };

  $("#key-form").onsubmit = async (event) => {
    event.preventDefault();
    const data = Object.fromEntries(new FormData(event.target));
    try {
      const key = await (await api("/v1/api-keys", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(data) })).json();
      $("#new-key code").textContent = key.key;
      $("#new-key").hidden = false;
      loadAccount();
    } catch (error) { showMessage(error.message); }
  };

  if (token) signIn(token); else show("auth");
});
