// chart.js - a small SVG line chart for figures over time (lag, rates). No library: the
// console must load with no network, and this is all it needs.

const NS = 'http://www.w3.org/2000/svg';
const COLORS = ['#1f5fbf', '#c2410c', '#15803d', '#7c3aed', '#b91c1c', '#0e7490'];

function el(name, attrs) {
  const e = document.createElementNS(NS, name);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
  return e;
}

function niceMax(v) {
  if (!(v > 0)) return 1;
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

// A chart of named series of [timeMs, value] points over the last windowMs. update(series)
// redraws; the element carries data-points (total points drawn) for tests and tools.
export class LineChart {
  constructor(container, { title = '', unit = '', windowMs = 120000, width = 720, height = 200 } = {}) {
    this.unit = unit;
    this.windowMs = windowMs;
    this.w = width;
    this.h = height;
    this.wrap = document.createElement('div');
    if (title) {
      const t = document.createElement('h3');
      t.textContent = title;
      this.wrap.append(t);
    }
    this.svg = el('svg', { class: 'chart', width, height, viewBox: `0 0 ${width} ${height}`,
      role: 'img', 'aria-label': title });
    this.legend = document.createElement('div');
    this.legend.className = 'legend';
    this.wrap.append(this.svg, this.legend);
    container.append(this.wrap);
  }

  update(series) {
    const now = Date.now(), left = 56, right = 10, top = 10, bottom = 22;
    const pw = this.w - left - right, ph = this.h - top - bottom;
    let max = 0, drawn = 0;
    for (const s of series) for (const [, v] of s.points) if (v > max) max = v;
    max = niceMax(max);
    this.svg.replaceChildren();
    for (let i = 0; i <= 4; i++) {
      const y = top + ph - (ph * i) / 4;
      this.svg.append(el('line', { x1: left, x2: left + pw, y1: y, y2: y, stroke: '#e5e7eb' }));
      const t = el('text', { x: left - 4, y: y + 3, 'text-anchor': 'end' });
      t.textContent = `${+(max * i / 4).toPrecision(3)}${this.unit}`;
      this.svg.append(t);
    }
    for (let s = 0; s <= this.windowMs / 1000; s += this.windowMs / 4000) {
      const x = left + pw - (pw * s * 1000) / this.windowMs;
      const t = el('text', { x, y: this.h - 6, 'text-anchor': 'middle' });
      t.textContent = s === 0 ? 'now' : `-${s}s`;
      this.svg.append(t);
    }
    this.legend.replaceChildren();
    series.forEach((s, i) => {
      const c = COLORS[i % COLORS.length];
      const pts = s.points.filter(([t]) => now - t <= this.windowMs).map(([t, v]) => {
        const x = left + pw - (pw * (now - t)) / this.windowMs;
        const y = top + ph - (ph * Math.min(v, max)) / max;
        return `${x.toFixed(1)},${y.toFixed(1)}`;
      });
      drawn += pts.length;
      if (pts.length > 0) {
        this.svg.append(el('polyline', { points: pts.join(' '), fill: 'none', stroke: c,
          'stroke-width': 2, 'data-series': s.name }));
      }
      const l = document.createElement('span');
      l.style.setProperty('--c', c);
      const last = s.points.length ? s.points[s.points.length - 1][1] : null;
      l.textContent = `${s.name}${last === null ? '' : `: ${+last.toPrecision(4)}${this.unit}`}`;
      this.legend.append(l);
    });
    this.svg.dataset.points = String(drawn);
  }
}

// Keeps the last windowMs of [timeMs, value] per key.
export class History {
  constructor(windowMs = 120000) {
    this.windowMs = windowMs;
    this.map = new Map();
  }

  add(key, value, t = Date.now()) {
    if (!this.map.has(key)) this.map.set(key, []);
    const a = this.map.get(key);
    a.push([t, value]);
    while (a.length && t - a[0][0] > this.windowMs) a.shift();
  }

  series() {
    return [...this.map.entries()].map(([name, points]) => ({ name, points }));
  }
}
