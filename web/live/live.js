// The live view page: one panel per stream with the hand skeleton, mode, rate and a scrolling
// T_compute strip, fed by the daemon's Server-Sent Events. Frames are drawn on animation
// frames, the newest one per stream; window.__live tells a test what arrived and was drawn.
import { handPoints, project } from '/hand-model.js';

const live = { connected: false, streams: [], frames: {}, smoothedFrames: {}, drawn: {}, errors: [], view: 'raw' };
window.__live = live;
window.addEventListener('error', (e) => live.errors.push(String(e.message || e)));

const panels = new Map();
let stripS = 10;
let rateHz = 50;
const DIGIT_COLORS = { THUMB: '#f66', INDEX: '#fc4', MIDDLE: '#6e6', RING: '#4cf', PINKY: '#c8f' };

function panel(s) {
  const el = document.createElement('section');
  el.className = 'stream';
  el.dataset.stream = s.id;
  el.innerHTML =
    '<h2></h2><div class="stats"><span class="mode"></span> · <span class="hz"></span> · <span class="step"></span></div>' +
    '<canvas class="hand" width="320" height="320"></canvas><canvas class="strip" width="320" height="80"></canvas>';
  el.querySelector('h2').textContent = s.id;
  const n = Math.max(10, Math.round(stripS * rateHz));
  const p = {
    s,
    el,
    frame: null,
    fresh: false,
    strip: new Float32Array(n).fill(NaN),
    head: 0,
    hand: el.querySelector('.hand'),
    stripC: el.querySelector('.strip'),
  };
  document.getElementById('streams').appendChild(el);
  return p;
}

function setStreams(msg) {
  stripS = msg.strip_s || stripS;
  rateHz = msg.rate_hz || rateHz;
  live.streams = msg.streams.map((s) => s.id);
  const keep = new Set(live.streams);
  for (const [id, p] of panels)
    if (!keep.has(id)) {
      p.el.remove();
      panels.delete(id);
    }
  for (const s of msg.streams) if (!panels.has(s.id)) panels.set(s.id, panel(s));
  // The switch is offered once a stream publishes smoothed poses.
  document.getElementById('smooth').hidden = !msg.streams.some((s) => s.smoothed);
}

document.getElementById('smoothed').addEventListener('change', (e) => {
  live.view = e.target.checked ? 'smoothed' : 'raw';
  for (const p of panels.values()) if (p.frame) p.fresh = true;
});

function drawHand(p) {
  const c = p.hand,
    ctx = c.getContext('2d');
  ctx.clearRect(0, 0, c.width, c.height);
  // The smoothed pose where the viewer asked for it and the stream has one.
  const angles = live.view === 'smoothed' && p.frame.sa ? p.frame.sa : p.frame.a;
  const { digits, palm } = handPoints(angles, p.s.joints);
  const k = 1.45,
    ox = c.width / 2,
    oy = c.height - 40;
  const xy = (pt) => {
    const q = project(pt);
    return [ox + k * q[0], oy + k * q[1]];
  };
  ctx.lineCap = 'round';
  ctx.lineJoin = 'round';
  ctx.strokeStyle = '#777';
  ctx.lineWidth = 3;
  ctx.beginPath();
  palm.forEach((pt, i) => {
    const [x, y] = xy(pt);
    if (i) ctx.lineTo(x, y);
    else ctx.moveTo(x, y);
  });
  ctx.stroke();
  for (const [name, pts] of Object.entries(digits)) {
    ctx.strokeStyle = DIGIT_COLORS[name];
    ctx.lineWidth = 5;
    ctx.beginPath();
    pts.forEach((pt, i) => {
      const [x, y] = xy(pt);
      if (i) ctx.lineTo(x, y);
      else ctx.moveTo(x, y);
    });
    ctx.stroke();
    ctx.fillStyle = '#eee';
    for (const pt of pts) {
      const [x, y] = xy(pt);
      ctx.beginPath();
      ctx.arc(x, y, 3, 0, 2 * Math.PI);
      ctx.fill();
    }
  }
}

function drawStrip(p) {
  const c = p.stripC,
    ctx = c.getContext('2d'),
    n = p.strip.length;
  ctx.clearRect(0, 0, c.width, c.height);
  let max = 5;
  for (let i = 0; i < n; i++) if (p.strip[i] > max) max = p.strip[i];
  ctx.strokeStyle = '#4cf';
  ctx.lineWidth = 1;
  ctx.beginPath();
  let started = false;
  for (let i = 0; i < n; i++) {
    const v = p.strip[(p.head + i) % n];
    if (!(v >= 0)) {
      started = false;
      continue;
    }
    const x = (i / (n - 1)) * c.width,
      y = c.height - 12 - (v / max) * (c.height - 16);
    if (started) ctx.lineTo(x, y);
    else {
      ctx.moveTo(x, y);
      started = true;
    }
  }
  ctx.stroke();
  ctx.fillStyle = '#999';
  ctx.font = '11px system-ui';
  ctx.fillText('T_compute, last ' + stripS + ' s (max ' + max.toFixed(1) + ' ms)', 4, c.height - 1);
}

function render() {
  for (const p of panels.values()) {
    if (!p.fresh) continue;
    p.fresh = false;
    const f = p.frame;
    const mode = p.el.querySelector('.mode');
    mode.textContent = f.mode;
    mode.className = 'mode ' + f.mode;
    p.el.querySelector('.hz').textContent = f.hz.toFixed(1) + ' poses/s';
    p.el.querySelector('.step').textContent = 'step ' + f.step + ' · t ' + f.t.toFixed(2) + ' s';
    drawHand(p);
    drawStrip(p);
    live.drawn[p.s.id] = (live.drawn[p.s.id] || 0) + 1;
  }
  requestAnimationFrame(render);
}

const es = new EventSource('/events');
const conn = document.getElementById('conn');
es.onopen = () => {
  live.connected = true;
  conn.textContent = 'connected';
  conn.className = 'ok';
};
es.onerror = () => {
  live.connected = false;
  conn.textContent = 'disconnected, retrying…';
  conn.className = 'bad';
};
es.addEventListener('streams', (e) => setStreams(JSON.parse(e.data)));
es.addEventListener('pose', (e) => {
  const f = JSON.parse(e.data);
  const p = panels.get(f.s);
  if (!p) return;
  p.frame = f;
  p.fresh = true;
  if (f.ms !== null) {
    p.strip[p.head] = f.ms;
    p.head = (p.head + 1) % p.strip.length;
  }
  live.frames[f.s] = (live.frames[f.s] || 0) + 1;
  if (f.sa) live.smoothedFrames[f.s] = (live.smoothedFrames[f.s] || 0) + 1;
});
requestAnimationFrame(render);
