// The page of python -m freqquest.serve: upload or record a clip, draw what /api/predict answers.
// Plain JavaScript with no build step and nothing loaded from elsewhere.
"use strict";

const $ = (id) => document.getElementById(id);
const MAX_RECORD_SECONDS = 30;
let answer = null;
let explanation = null;
let colours = {};  // class -> colour, as the run's pictures draw them

// ---- the run --------------------------------------------------------------------------------
fetch("/api/model").then((r) => r.json()).then((m) => {
  const accuracy = m.validation_accuracy == null ? "" : `, validation accuracy ${m.validation_accuracy.toFixed(3)} on unseen recordings`;
  $("model").textContent = `Run: ${m.members.join(" + ")} (preset ${m.preset || "custom"}${accuracy}). Classes: ${m.classes.join(", ")}. Clips up to ${m.max_seconds} s.`;
  $("demo").hidden = !m.demo;
  colours = m.colours || {};
}).catch(() => { $("model").textContent = "The run's details could not be read."; });

// ---- choosing a clip --------------------------------------------------------------------------
const drop = $("drop");
$("pick").addEventListener("click", () => $("file").click());
drop.addEventListener("click", () => $("file").click());
drop.addEventListener("keydown", (event) => {
  if (event.key === "Enter" || event.key === " ") { event.preventDefault(); $("file").click(); }
});
drop.addEventListener("dragover", (event) => { event.preventDefault(); drop.classList.add("over"); });
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (event) => {
  event.preventDefault();
  drop.classList.remove("over");
  if (event.dataTransfer.files.length) send(event.dataTransfer.files[0], event.dataTransfer.files[0].name);
});
$("file").addEventListener("change", () => { if ($("file").files.length) send($("file").files[0], $("file").files[0].name); });

// ---- recording: raw samples from the microphone, written as a 16-bit WAV here ----------------
let recorder = null;

$("record").addEventListener("click", async () => {
  if (recorder) { recorder.stop(); return; }
  try {
    const stream = await navigator.mediaDevices.getUserMedia({ audio: true });
    recorder = startRecording(stream);
    $("record").textContent = "Stop recording";
  } catch (error) {
    showError(`The microphone could not be opened: ${error.message}`);
  }
});

function startRecording(stream) {
  const context = new AudioContext();
  const source = context.createMediaStreamSource(stream);
  const processor = context.createScriptProcessor(4096, 1, 1);
  const chunks = [];
  const started = Date.now();
  processor.onaudioprocess = (event) => {
    chunks.push(new Float32Array(event.inputBuffer.getChannelData(0)));
    const seconds = (Date.now() - started) / 1000;
    $("recording").textContent = `recording… ${seconds.toFixed(1)} s`;
    if (seconds >= MAX_RECORD_SECONDS) handle.stop();
  };
  source.connect(processor);
  processor.connect(context.destination);
  const handle = {
    stop() {
      processor.disconnect();
      source.disconnect();
      stream.getTracks().forEach((track) => track.stop());
      context.close();
      recorder = null;
      $("record").textContent = "Record from the microphone";
      $("recording").textContent = "";
      const wav = encodeWav(chunks, context.sampleRate);
      send(new Blob([wav], { type: "audio/wav" }), "recording.wav");
    },
  };
  return handle;
}

function encodeWav(chunks, rate) {
  const length = chunks.reduce((n, c) => n + c.length, 0);
  const buffer = new ArrayBuffer(44 + 2 * length);
  const view = new DataView(buffer);
  const text = (offset, s) => { for (let i = 0; i < s.length; i++) view.setUint8(offset + i, s.charCodeAt(i)); };
  text(0, "RIFF"); view.setUint32(4, 36 + 2 * length, true); text(8, "WAVE");
  text(12, "fmt "); view.setUint32(16, 16, true); view.setUint16(20, 1, true); view.setUint16(22, 1, true);
  view.setUint32(24, rate, true); view.setUint32(28, 2 * rate, true); view.setUint16(32, 2, true); view.setUint16(34, 16, true);
  text(36, "data"); view.setUint32(40, 2 * length, true);
  let offset = 44;
  for (const chunk of chunks) {
    for (const sample of chunk) {
      view.setInt16(offset, Math.max(-1, Math.min(1, sample)) * 0x7fff, true);
      offset += 2;
    }
  }
  return buffer;
}

// ---- asking the server: the answer first, then why -------------------------------------------
let asked = 0;  // the latest clip sent: a late explanation of an earlier one is dropped

async function ask(path, blob, name) {
  const form = new FormData();
  form.append("file", blob, name);
  const response = await fetch(path, { method: "POST", body: form });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(`${response.status}: ${describeDetail(body.detail) || response.statusText}`);
  return body;
}

async function send(blob, name) {
  const mine = ++asked;
  hideError();
  $("result").hidden = true;
  $("result").dataset.ready = "";
  $("why").hidden = true;
  $("spectrogram").dataset.heatmap = "";
  $("player").src = URL.createObjectURL(blob);
  $("player").hidden = false;
  $("status").textContent = `Listening to ${name}…`;
  try {
    answer = await ask("/api/predict", blob, name);
    if (mine !== asked) return;
    render(answer);
    $("status").textContent = "Looking at why…";
    explanation = await ask("/api/explain", blob, name);
    if (mine !== asked) return;
    renderWhy(explanation);
    $("status").textContent = "";
  } catch (error) {
    if (mine !== asked) return;
    showError(error instanceof TypeError ? `The server could not be reached: ${error.message}` : error.message);
    $("status").textContent = "";
  }
}

function describeDetail(detail) {
  if (Array.isArray(detail)) return detail.map((d) => d.msg).join("; ");
  return detail;
}

function showError(message) { $("error").textContent = message; $("error").hidden = false; }
function hideError() { $("error").hidden = true; $("error").textContent = ""; }

// ---- drawing the answer -------------------------------------------------------------------------
function render(a) {
  const list = $("classes");
  list.replaceChildren(...a.top.map(({ class: name, probability }) => {
    const item = document.createElement("li");
    const label = document.createElement("span");
    label.textContent = name;
    const bar = document.createElement("div");
    bar.className = "bar";
    bar.style.width = `${(100 * probability).toFixed(1)}%`;
    if (colours[name]) bar.style.background = colours[name];
    bar.setAttribute("role", "img");
    bar.setAttribute("aria-label", `${name}: ${(100 * probability).toFixed(1)} percent`);
    const value = document.createElement("span");
    value.textContent = probability.toFixed(3);
    item.append(label, bar, value);
    return item;
  }));
  $("notes").textContent = [`${a.file}: ${a.seconds.toFixed(2)} s at ${a.sample_rate} Hz (${a.shown}).`, ...a.notes].join(" ");
  drawWaveform(a);
  $("timeline-box").hidden = a.windows.length < 2;
  if (a.windows.length > 1) drawTimeline(a);
  $("timings").textContent = `predicted in ${a.timings.predict_s.toFixed(2)} s`;
  $("result").hidden = false;
  $("result").dataset.ready = "true";
}

function renderWhy(e) {
  $("spectrogram-title").textContent = e.spectrogram.title;
  drawWaveform(answer, e.spectrogram);
  drawSpectrogram();
  $("heatmap-note").textContent = e.heatmap.note;
  $("maps-box").hidden = e.feature_maps.length === 0;
  const select = $("layer");
  select.replaceChildren(...e.feature_maps.map((m, i) => new Option(m.layer, i)));
  if (e.feature_maps.length) drawMaps(0);
  $("timings").textContent = `predicted in ${answer.timings.predict_s.toFixed(2)} s, explained in ${e.timings.explain_s.toFixed(2)} s`;
  $("why").hidden = false;
}

function timeTicks(seconds) {
  // round steps, at most about ten of them
  const step = [0.25, 0.5, 1, 2, 5, 10, 30, 60].find((s) => seconds / s <= 10) || 120;
  const ticks = [];
  for (let t = 0; t <= seconds + 1e-9; t += step) ticks.push(t);
  return ticks;
}

function drawTimeAxis(g, left, right, y, first, last, label) {
  g.canvas.dataset.timeTicks = String(timeTicks(last - first).length);
  g.fillStyle = "#333";
  g.strokeStyle = "#999";
  g.font = "11px sans-serif";
  g.textAlign = "center";
  for (const t of timeTicks(last - first)) {
    const x = left + (t / (last - first || 1)) * (right - left);
    g.beginPath(); g.moveTo(x, y); g.lineTo(x, y + 4); g.stroke();
    const text = `${(first + t).toFixed(t % 1 ? 2 : 0)}`;
    g.fillText(text, Math.min(Math.max(x, left + 12), right - 12), y + 15);
  }
  g.textAlign = "right";
  g.fillText(label, right, y + 28);
  g.textAlign = "left";
}

function drawWaveform(a, explained) {
  // the deciding window shaded; once the explanation is in, the part of it explained in orange when it is not the
  // whole window (BirdNET hears 3 s of the 4), as the PNG and the spectrogram's title name it
  const canvas = $("waveform");
  const g = canvas.getContext("2d");
  g.clearRect(0, 0, canvas.width, canvas.height);
  const points = a.waveform.points;
  const plot = canvas.height - 32;  // the time axis below
  const middle = plot / 2;
  const x = (seconds) => (seconds / a.seconds) * canvas.width;
  const window = a.windows[a.deciding_window];
  const decidingSeconds = Math.min(a.window_seconds, a.seconds);
  g.fillStyle = "rgba(11, 99, 197, 0.15)";
  g.fillRect(x(window.start), 0, x(decidingSeconds), plot);
  const part = explained && (Math.abs(explained.start - window.start) > 0.005 || Math.abs(explained.seconds - decidingSeconds) > 0.005);
  if (part) {
    g.fillStyle = "rgba(255, 140, 0, 0.25)";
    g.fillRect(x(explained.start), 0, x(explained.seconds), plot);
  }
  canvas.dataset.explained = part ? `${explained.start.toFixed(2)}-${(explained.start + explained.seconds).toFixed(2)}` : "";
  g.strokeStyle = "#0b63c5";
  g.beginPath();
  points.forEach(([low, high], i) => {
    const px = (i / points.length) * canvas.width;
    g.moveTo(px, middle - high * middle);
    g.lineTo(px, middle - low * middle);
  });
  g.stroke();
  const label = "time (s); shaded: the window that decided" + (part ? "; orange: the part explained" : "");
  drawTimeAxis(g, 0, canvas.width, plot, 0, a.seconds, label);
}

const VIRIDIS = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]];
const JET = [[0, 0, 143], [0, 127, 255], [127, 255, 127], [255, 127, 0], [143, 0, 0]];

function colour(map, t) {
  const x = Math.max(0, Math.min(1, t)) * (map.length - 1);
  const i = Math.min(map.length - 2, Math.floor(x));
  const f = x - i;
  return map[i].map((c, k) => Math.round(c + f * (map[i + 1][k] - c)));
}

function paintGrid(g, values, x, y, width, height, map, alpha, low, high) {
  const rows = values.length;
  const cols = values[0].length;
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const [red, green, blue] = colour(map, (values[r][c] - low) / (high - low || 1));
      g.fillStyle = `rgba(${red}, ${green}, ${blue}, ${alpha})`;
      // row 0 is the lowest Mel band: drawn at the bottom
      g.fillRect(x + (c * width) / cols, y + ((rows - 1 - r) * height) / rows, width / cols + 1, height / rows + 1);
    }
  }
}

function drawSpectrogram() {
  if (!explanation) return;
  const e = explanation;
  const canvas = $("spectrogram");
  const g = canvas.getContext("2d");
  const left = 60;
  const bottom = e.heatmap.kind === "occlusion" ? 60 : 36;
  const width = canvas.width - left;
  const height = canvas.height - bottom;
  g.clearRect(0, 0, canvas.width, canvas.height);
  const values = e.spectrogram.values.flat();
  paintGrid(g, e.spectrogram.values, left, 0, width, height, VIRIDIS, 1, Math.min(...values), Math.max(...values));
  const shown = $("overlay").checked;
  const opacity = parseFloat($("opacity").value);
  if (shown && e.heatmap.kind === "map") {
    paintGrid(g, e.heatmap.values, left, 0, width, height, JET, opacity, 0, 1);
  }
  if (shown && e.heatmap.kind === "occlusion") {
    const lost = e.heatmap.values;
    const peak = Math.max(1e-6, ...lost.map(Math.abs));
    lost.forEach((v, i) => {
      g.fillStyle = v >= 0 ? `rgba(0, 160, 200, ${opacity})` : `rgba(200, 80, 0, ${opacity})`;
      const h = (Math.abs(v) / peak) * (bottom - 10);
      g.fillRect(left + (i * width) / lost.length + 1, canvas.height - h, width / lost.length - 2, h);
    });
  }
  g.fillStyle = "#333";
  g.font = "11px sans-serif";
  for (const [fraction, hz] of e.spectrogram.hz_ticks) g.fillText(`${hz} Hz`, 2, height - fraction * height);
  if (e.heatmap.kind === "occlusion") {
    g.fillText(`${e.spectrogram.start.toFixed(2)} s`, left, height + 12);
    g.fillText(`${(e.spectrogram.start + e.spectrogram.seconds).toFixed(2)} s`, canvas.width - 44, height + 12);
  } else {
    drawTimeAxis(g, left, canvas.width, height, e.spectrogram.start, e.spectrogram.start + e.spectrogram.seconds, "time (s)");
  }
  canvas.dataset.heatmap = shown ? e.heatmap.kind : "none";
}
$("overlay").addEventListener("change", drawSpectrogram);
$("opacity").addEventListener("input", drawSpectrogram);

function drawTimeline(a) {
  // each class's probability at the middle of each window: the plot spans the first window's middle to the last one's
  const canvas = $("timeline");
  const g = canvas.getContext("2d");
  const box = { left: 64, right: canvas.width - 16, top: 8, bottom: canvas.height - 42 };
  g.clearRect(0, 0, canvas.width, canvas.height);
  const middles = a.windows.map((w) => w.start + a.window_seconds / 2);
  const first = middles[0];
  const last = middles[middles.length - 1];
  const x = (t) => box.left + ((t - first) / (last - first || 1)) * (box.right - box.left);
  const y = (p) => box.bottom - p * (box.bottom - box.top);
  g.strokeStyle = "#999";
  g.fillStyle = "#333";
  g.font = "11px sans-serif";
  g.strokeRect(box.left, box.top, box.right - box.left, box.bottom - box.top);
  g.textAlign = "right";
  for (const p of [0, 0.25, 0.5, 0.75, 1]) {
    g.fillText(p.toFixed(2), box.left - 6, y(p) + 4);
    g.beginPath(); g.moveTo(box.left - 4, y(p)); g.lineTo(box.left, y(p)); g.stroke();
  }
  g.textAlign = "center";
  middles.forEach((t) => {
    g.fillText(`${t.toFixed(1)} s`, Math.min(Math.max(x(t), box.left + 14), box.right - 14), box.bottom + 14);
    g.beginPath(); g.moveTo(x(t), box.bottom); g.lineTo(x(t), box.bottom + 4); g.stroke();
  });
  g.textAlign = "left";
  g.save();
  g.translate(14, (box.top + box.bottom) / 2 + 30);
  g.rotate(-Math.PI / 2);
  g.fillText("probability", 0, 0);
  g.restore();
  const classes = Object.keys(a.windows[0].probabilities);
  classes.forEach((name, k) => {
    g.strokeStyle = colours[name] || "#333";
    g.lineWidth = 2;
    g.beginPath();
    a.windows.forEach((w, i) => {
      if (i === 0) g.moveTo(x(middles[i]), y(w.probabilities[name])); else g.lineTo(x(middles[i]), y(w.probabilities[name]));
    });
    g.stroke();
    g.lineWidth = 1;
    g.fillStyle = colours[name] || "#333";
    g.fillText(name, box.left + k * 120, canvas.height - 4);
  });
  canvas.dataset.windows = String(a.windows.length);
}

function drawMaps(index) {
  const layer = explanation.feature_maps[index];
  $("maps").replaceChildren(...layer.channels.map((values, c) => {
    const canvas = document.createElement("canvas");
    canvas.width = 200;
    canvas.height = 120;
    canvas.setAttribute("aria-label", `${layer.layer}, channel ${c + 1}`);
    const flat = values.flat();
    paintGrid(canvas.getContext("2d"), values, 0, 0, canvas.width, canvas.height, VIRIDIS, 1, Math.min(...flat), Math.max(...flat));
    return canvas;
  }));
}
$("layer").addEventListener("change", () => drawMaps(parseInt($("layer").value, 10)));
