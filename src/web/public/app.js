// The page: pick a certifier and an image, request a certificate through the SDK, show it.
import { APIUserAbortError, AuthenticationError, Dualrs } from "/sdk.js";

const $ = (id) => document.getElementById(id);
const form = $("form");
const select = $("certifier");
const status = $("status");
const progress = $("progress");
const submit = $("submit");
const cancel = $("cancel");
const error = $("error");
const hint = $("submit-hint");

const client = new Dualrs({ apiKey: sessionStorage.getItem("dualrs-api-key") });
/** @type {Map<string, any>} */
const certifiers = new Map();
/** The chosen input: the image file's bytes and a URL to draw it from. */
let chosen = null;
let running = null;

function say(text) {
  status.textContent = text;
}

/** Errors go beside the Certify button, where the eye is after a click; an empty text clears them. */
function fail(text) {
  error.textContent = text;
  error.hidden = !text;
  if (text) error.scrollIntoView({ block: "nearest" });
}

/** Enables Certify, or says in the hint beside it what is missing. */
function ready() {
  const missing = running
    ? "Certifying: wait for the certificate or cancel."
    : !select.value
      ? "Choose a certifier first."
      : chosen === null
        ? "Choose an image first: a test image above, or upload one."
        : "";
  submit.disabled = missing !== "";
  hint.textContent = missing;
  hint.hidden = !missing;
}

async function loadCertifiers() {
  try {
    for (const c of await client.certifiers.list()) certifiers.set(c.id, c);
  } catch (e) {
    if (e instanceof AuthenticationError) {
      const key = prompt("This server needs an API key");
      if (key) {
        sessionStorage.setItem("dualrs-api-key", key);
        location.reload();
      }
    }
    fail(`Cannot list certifiers: ${e.message}`);
    return;
  }
  const images = [...certifiers.values()].filter((c) => c.input.accepts.includes("image"));
  // The id is short enough for the box; the title and description follow below it.
  for (const c of images) select.add(new Option(c.id, c.id));
  if (images.length === 0) fail("No certifier on this server takes images.");
  else select.value = fastestDual(images).id;
  chooseCertifier();
}

/**
 * The certifier to start with: Dual RS (the point of the service), and of those one without a
 * denoiser, which runs a second network on every draw and takes several times as long.
 */
function fastestDual(list) {
  const denoised = (c) => Object.keys(c.models).some((name) => /denois/i.test(name));
  const rank = (c) => (c.defaultMode === "dual" ? 0 : 2) + (denoised(c) ? 1 : 0);
  return list.reduce((best, c) => (rank(c) < rank(best) ? c : best));
}

function chooseCertifier() {
  const c = certifiers.get(select.value);
  if (!c) return ready();
  $("n").value = String(c.defaults.n);
  $("alpha").value = String(c.defaults.alpha);
  const sigmas = c.options.map((o) => o.sigma).join(", ");
  const title = document.createElement("strong");
  title.textContent = c.title ?? c.id;
  $("certifier-about").replaceChildren(
    title,
    ` ${c.description ?? ""} ${c.defaultMode === "dual" ? "Dual" : "Global"} mode; sigma options ${sigmas}; ` +
      `input ${c.input.shape.join("×")}.`,
  );
  ready();
}

async function loadSamples() {
  const res = await fetch("/web/images/index.json");
  if (!res.ok) return;
  const box = $("samples");
  for (const s of await res.json()) {
    const button = document.createElement("button");
    button.type = "button";
    button.setAttribute("role", "radio");
    button.setAttribute("aria-checked", "false");
    button.title = `${s.label} (test image ${s.index})`;
    button.dataset.label = s.label;
    const img = document.createElement("img");
    img.src = `/web/images/${s.file}`;
    img.alt = s.label;
    button.append(img, s.label);
    button.addEventListener("click", async () => {
      const bytes = new Uint8Array(await (await fetch(img.src)).arrayBuffer());
      choose(bytes, img.src, button);
    });
    box.append(button);
  }
}

function choose(bytes, url, button) {
  chosen = { bytes, url };
  for (const b of $("samples").children) b.setAttribute("aria-checked", String(b === button));
  if (button) $("file").value = "";
  ready();
}

$("file").addEventListener("change", async (event) => {
  const file = event.target.files?.[0];
  if (!file) return;
  choose(new Uint8Array(await file.arrayBuffer()), URL.createObjectURL(file), null);
});

function base64(bytes) {
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const certifier = certifiers.get(select.value);
  if (!chosen || !certifier) return;
  const n = Number($("n").value);
  const alpha = Number($("alpha").value);
  fail("");
  if (!Number.isInteger(n) || n < 1) return fail("n must be a whole number of at least 1.");
  if (!(alpha > 0 && alpha < 1)) return fail("alpha must lie between 0 and 1.");
  const targetText = $("target-radius").value.trim();
  const targetRadius = Number(targetText);
  if (targetText !== "" && !(targetRadius > 0)) return fail("The target radius must be above 0.");
  const sampling = $("sequential").checked ? "sequential" : "fixed";
  // Set routing is a dual-mode parameter: a global certifier would refuse it.
  const routing = $("set-routing").checked && certifier.defaultMode === "dual" ? { routing: "set" } : {};
  running = new AbortController();
  ready();
  cancel.hidden = false;
  progress.hidden = false;
  progress.value = 0;
  // The previous certificate stays in view until this one replaces it.
  $("result").setAttribute("aria-busy", "true");
  say("Submitting…");
  try {
    const certificate = await client.certify.run(
      {
        certifier: certifier.id,
        input: { type: "image", data: base64(chosen.bytes) },
        parameters: { n, alpha, sampling, ...routing, ...(targetText === "" ? {} : { targetRadius }) },
        metadata: { source: "web" },
      },
      { signal: running.signal, wait: 1, pollInterval: 250, onProgress: showProgress },
    );
    progress.value = 1;
    await showCertificate(certificate, certifier);
    say(
      certificate.abstained
        ? "Done: no certificate for this input, the smoothed classifier abstains."
        : "Certified.",
    );
  } catch (e) {
    if (e instanceof APIUserAbortError) say("Canceled.");
    else {
      say("");
      fail(e.message);
    }
  } finally {
    $("result").removeAttribute("aria-busy");
    running = null;
    cancel.hidden = true;
    ready();
  }
});

cancel.addEventListener("click", () => running?.abort());

function showProgress(job) {
  const { done, total } = job.progress;
  if (total > 0) progress.value = done / total;
  const share = total > 0 ? ` ${done.toLocaleString()} of ${total.toLocaleString()} samples` : "";
  say(`Job ${job.id}: ${job.status}${share}.`);
}

/** What each abstention means and what to try; docs/api.md says the same. */
const ABSTAIN_REASONS = {
  estimator:
    "The variance estimator could not tell with confidence which noise level suits this input " +
    "(its top choice came up in too few of the noisy draws), and this certifier has no fallback option. " +
    "Try more draws n, a larger alpha, or a global-mode certifier with one fixed sigma.",
  classifier:
    "The smoothed classifier's top class did not win a clear majority of the noisy draws " +
    "(the lower confidence bound pA lower is below 1/2): under this noise the input lies near " +
    "a boundary between classes. Try more draws n, a larger alpha, or another certifier, " +
    "ideally one with a smaller sigma.",
};

const fmt = (x, digits = 4) => (Number.isFinite(x) ? x.toFixed(digits) : String(x));

function facts(dl, rows) {
  dl.replaceChildren();
  for (const [term, value] of rows) {
    const dt = document.createElement("dt");
    dt.textContent = term;
    const dd = document.createElement("dd");
    dd.textContent = value;
    dl.append(dt, dd);
  }
}

function stageCard(title, stage, labels, rows) {
  const card = document.createElement("div");
  card.className = "stage";
  const h = document.createElement("h3");
  h.textContent = title;
  const dl = document.createElement("dl");
  const counts = stage.counts.map((c, i) => `${labels[i] ?? i}: ${c}`).join(", ");
  facts(dl, [
    ...rows,
    ["sigma", fmt(stage.sigma, 3)],
    ["n0 / n", `${stage.n0} / ${stage.n}`],
    ["draws", stage.looks ? `${stage.draws} (sequential, ${stage.looks.length} looks)` : String(stage.draws)],
    ["top class", `${labels[stage.top] ?? stage.top} (${stage.nA} of ${stage.n})`],
    ["pA lower", fmt(stage.pALower)],
    ["alpha share", String(stage.alpha)],
    ["counts", counts],
  ]);
  dl.lastElementChild.className = "counts";
  card.append(h, dl);
  return card;
}

async function showCertificate(cert, certifier) {
  const prediction = $("prediction");
  prediction.textContent = cert.prediction ? cert.prediction.label : `Abstained (${cert.abstainReason})`;
  prediction.classList.toggle("abstain", cert.prediction === null);
  const radius = $("radius");
  radius.textContent = cert.abstained ? "no certificate: abstained" : `certified radius ${fmt(cert.radius)}`;
  radius.classList.toggle("abstain", cert.abstained);
  const why = $("abstain-why");
  why.textContent = cert.abstained ? (ABSTAIN_REASONS[cert.abstainReason] ?? "") : "";
  why.hidden = !cert.abstained;
  const { estimator, classifier } = cert.stages;
  facts($("facts"), [
    ["mode", cert.mode],
    [
      "sigma chosen",
      estimator?.option ? fmt(estimator.option.sigma, 3) : classifier ? fmt(classifier.sigma, 3) : "–",
    ],
    ["R_sigma", estimator ? fmt(estimator.radius) : "–"],
    ["R_c", classifier ? fmt(classifier.radius) : "–"],
    ["alpha", String(cert.alpha)],
    ["seed", String(cert.seed)],
    ...(cert.certifiedAtTarget === null
      ? []
      : [
          [
            "at target",
            `${cert.certifiedAtTarget ? "certified" : "not certified"} at ${cert.parameters.targetRadius}`,
          ],
        ]),
    ...(cert.routing
      ? [
          [
            "routing",
            `set: ${cert.routing.certified.length} runner-up(s) certified; min(R_sigma, R_c) = ${fmt(cert.routing.singleRadius)}`,
          ],
        ]
      : []),
    ...(cert.fallback ? [["fallback", "the estimator abstained: radius 0"]] : []),
  ]);
  const stages = $("stages");
  stages.replaceChildren();
  const sigmaLabels = certifier.options.map((o) => `σ=${o.sigma}`);
  if (estimator) {
    stages.append(
      stageCard("Variance estimator", estimator, sigmaLabels, [["R_sigma", fmt(estimator.radius)]]),
    );
  }
  if (classifier) {
    stages.append(stageCard("Classifier", classifier, certifier.labels, [["R_c", fmt(classifier.radius)]]));
  }
  for (const s of cert.routing?.certified ?? []) {
    const rows = [
      ["R", fmt(s.radius)],
      ["not routed to within", fmt(s.overtake)],
    ];
    stages.append(stageCard(`Runner-up ${s.rank}`, s, certifier.labels, rows));
  }
  $("json").textContent = JSON.stringify(cert, null, 2);
  await drawInput(certifier);
  $("result").hidden = false;
}

/** The input as the certifier sees it: scaled to its height and width, in gray for one channel. */
async function drawInput(certifier) {
  const shape = certifier.input.shape;
  const [h, w] = shape.length === 3 && shape[0] <= 3 ? shape.slice(1) : shape.slice(0, 2);
  const gray = shape.length === 2 || shape[0] === 1 || shape[2] === 1;
  const canvas = $("input-picture");
  canvas.width = w;
  canvas.height = h;
  const ctx = canvas.getContext("2d");
  const img = new Image();
  img.src = chosen.url;
  await img.decode();
  ctx.drawImage(img, 0, 0, w, h);
  if (!gray) return;
  const data = ctx.getImageData(0, 0, w, h);
  const px = data.data;
  for (let i = 0; i < px.length; i += 4) {
    const y = 0.299 * px[i] + 0.587 * px[i + 1] + 0.114 * px[i + 2];
    px[i] = px[i + 1] = px[i + 2] = y;
  }
  ctx.putImageData(data, 0, 0);
}

function loadPlot() {
  const img = $("plot-image");
  img.addEventListener("load", () => {
    $("plot").hidden = false;
  });
  img.src = "/results/certified-accuracy.png";
}

select.addEventListener("change", chooseCertifier);
loadPlot();
await Promise.all([loadCertifiers(), loadSamples()]);
