// app.js - the FerryMQ console: one page over the HTTP APIs of each region's broker
// (docs/http-api.md) and of the replicator (docs/replication-api.md). Plain ES modules, no
// build step, no network beyond those APIs. Data from the servers is only ever put in the page
// as text (textContent), never as HTML.
import { LineChart, History } from './chart.js';

// ---- connections: which broker is which region, where the replicator is ----

const STORE_KEY = 'ferrymq.console.connections';

// ?regions=east=http://h:8080,west=http://h:8081&replicator=http://h:8090 wins, then what was
// saved in this browser, then this server alone (its role found out at start).
function loadConnections() {
  const q = new URLSearchParams(location.search);
  if (q.has('regions') || q.has('replicator')) {
    const regions = (q.get('regions') || '').split(',').filter(Boolean).map((kv) => {
      const i = kv.indexOf('=');
      return { name: kv.slice(0, i), url: kv.slice(i + 1).replace(/\/$/, '') };
    });
    return { regions, replicator: (q.get('replicator') || '').replace(/\/$/, '') };
  }
  try {
    const saved = JSON.parse(localStorage.getItem(STORE_KEY) || 'null');
    if (saved && Array.isArray(saved.regions)) return saved;
  } catch (e) { /* nothing saved */ }
  return null;
}

let conn = { regions: [], replicator: '' };

async function detectSelf() {
  const self = location.origin;
  const c = { regions: [], replicator: '' };
  try {
    const r = await api(self, '/api/v1/cluster');
    c.regions.push({ name: r.cluster, url: self });
  } catch (e) {
    try {
      await api(self, '/api/v1/tasks');
      c.replicator = self;
    } catch (e2) { /* neither: the user fills in Connections */ }
  }
  return c;
}

// ---- HTTP ----

class ApiError extends Error {}

async function api(base, path, opts = {}) {
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(), opts.timeoutMs || 8000);
  let res;
  try {
    res = await fetch(base + path, {
      method: opts.method || 'GET',
      headers: opts.body !== undefined ? { 'Content-Type': 'application/json' } : {},
      body: opts.body !== undefined ? JSON.stringify(opts.body) : undefined,
      signal: ctl.signal,
    });
  } catch (e) {
    throw new ApiError(`${base}: unreachable (${e.name === 'AbortError' ? 'timeout' : e.message})`);
  } finally {
    clearTimeout(timer);
  }
  const text = await res.text();
  if (opts.text) {
    if (!res.ok) throw new ApiError(`${base}${path}: HTTP ${res.status}`);
    return text;
  }
  let doc = null;
  try { doc = JSON.parse(text); } catch (e) { /* not JSON */ }
  if (!res.ok) {
    const err = new ApiError(doc && doc.error ? doc.error : `HTTP ${res.status}`);
    err.status = res.status;
    throw err;
  }
  return doc;
}

// ---- DOM helpers ----

function h(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else if (k === 'class') e.className = v;
    else e.setAttribute(k, v === true ? '' : String(v));
  }
  for (const k of kids.flat()) {
    if (k === null || k === undefined || k === false) continue;
    e.append(k instanceof Node ? k : document.createTextNode(String(k)));
  }
  return e;
}

function table(headers, rows, { numeric = [], onRow, rowId } = {}) {
  return h('table', {},
    h('thead', {}, h('tr', {}, headers.map((x, i) => h('th', { class: numeric.includes(i) ? 'num' : '' }, x)))),
    h('tbody', {}, rows.map((r, ri) => h('tr', {
      class: onRow ? 'clickable' : '',
      onclick: onRow ? () => onRow(ri) : undefined,
      'data-id': rowId ? rowId(ri) : undefined,
    }, r.map((c, i) => h('td', { class: numeric.includes(i) ? 'num' : '' }, c ?? ''))))));
}

function fmtNum(v) {
  if (v === null || v === undefined) return '-';
  return Number(v).toLocaleString('en-US', { maximumFractionDigits: 2 });
}

function fmtTime(ms) {
  return ms ? new Date(ms).toISOString().replace('.000Z', 'Z') : '-';
}

function setStatus(text, isError = false) {
  const s = document.getElementById('status');
  s.textContent = text;
  s.className = isError ? 'status error' : 'status';
}

function errorBox(e) {
  return h('div', { class: 'error-box', role: 'alert' }, e.message || String(e));
}

// A confirmation the user must give before anything changes; resolves true on Confirm.
function confirmAction(text) {
  const d = document.getElementById('confirm');
  document.getElementById('confirm-text').textContent = text;
  return new Promise((resolve) => {
    d.addEventListener('close', () => resolve(d.returnValue === 'ok'), { once: true });
    d.showModal();
  });
}

function regionSelect(current, onChange) {
  return h('label', {}, 'Region', h('select', { id: 'region', onchange: (ev) => onChange(ev.target.value) },
    conn.regions.map((r) => h('option', { value: r.name, selected: r.name === current }, r.name))));
}

function regionUrl(name) {
  const r = conn.regions.find((x) => x.name === name);
  return r ? r.url : '';
}

// ---- views: each returns a cleanup function (timers), called when the view changes ----

const views = {};
let cleanup = () => {};
const rateHistory = new History(120000);
const lagHistory = new History(120000);
let lastProduced = new Map();

// The figures the overview and replication views chart, sampled every second while either
// view shows: per region the produce rate (from /metrics), per task the lag in messages.
async function sampleFigures() {
  const now = Date.now();
  await Promise.all(conn.regions.map(async (r) => {
    try {
      const text = await api(r.url, '/metrics', { text: true });
      const m = text.match(/^ferrymq_produced_messages_total (\S+)$/m);
      if (m) {
        const v = Number(m[1]), prev = lastProduced.get(r.name);
        if (prev) rateHistory.add(r.name, Math.max(0, (v - prev.v) / ((now - prev.t) / 1000)), now);
        lastProduced.set(r.name, { v, t: now });
      }
    } catch (e) { /* shown by the view */ }
  }));
  if (conn.replicator) {
    try {
      const doc = await api(conn.replicator, '/api/v1/tasks');
      for (const t of doc.tasks) lagHistory.add(t.name, t.stats.lagMessages, now);
      return doc.tasks;
    } catch (e) { /* shown by the view */ }
  }
  return null;
}

function every(ms, fn) {
  let stopped = false, timer = null;
  const run = async () => {
    if (stopped) return;
    try { await fn(); } catch (e) { setStatus(e.message, true); }
    if (!stopped) timer = setTimeout(run, ms);
  };
  run();
  return () => { stopped = true; clearTimeout(timer); };
}

views.overview = (root) => {
  const cards = h('div', { class: 'cards', id: 'regions' });
  const pairs = h('div', { id: 'pairs' });
  root.append(h('h2', {}, 'Overview'), cards);
  const rate = new LineChart(root, { title: 'Produced, messages/s, per region', unit: '/s' });
  root.append(h('h3', {}, 'Replication pairs'), pairs);
  const lag = new LineChart(root, { title: 'Replication lag, messages, per task' });
  rate.svg.id = 'rate-chart';
  lag.svg.id = 'lag-chart-overview';
  return every(1000, async () => {
    const tasks = await sampleFigures();
    const cs = await Promise.all(conn.regions.map(async (r) => {
      try {
        const [c, t] = await Promise.all([api(r.url, '/api/v1/cluster'), api(r.url, '/api/v1/topics')]);
        const user = t.topics.filter((x) => !x.system);
        const b = c.brokers[0];
        return h('div', { class: 'card', 'data-region': r.name },
          h('div', { class: 'big' }, r.name),
          h('div', {}, `cluster ${c.cluster}, broker ${b.name} (${b.addr}), v${b.version}`),
          h('div', { class: b.registered ? 'ok' : 'warn' }, b.registered ? 'registered' : 'not registered'),
          h('div', {}, `${user.length} topics, ${fmtNum(user.reduce((s, x) => s + x.messages, 0))} messages`));
      } catch (e) {
        return h('div', { class: 'card bad', 'data-region': r.name }, h('div', { class: 'big' }, r.name), e.message);
      }
    }));
    cards.replaceChildren(...cs);
    rate.update(rateHistory.series());
    if (tasks) {
      pairs.replaceChildren(table(['task', 'source', 'target', 'state', 'lag (msgs)', 'lag (s)', 'copied'],
        tasks.map((t) => [t.name, t.source.region, t.target.region,
          h('span', { class: `state-${t.state}` }, t.state), fmtNum(t.stats.lagMessages),
          fmtNum(t.stats.lagSeconds), fmtNum(t.stats.messages)]), { numeric: [4, 5, 6] }));
      lag.update(lagHistory.series());
    } else if (!conn.replicator) {
      pairs.replaceChildren(h('p', { class: 'muted' }, 'No replicator connected (see Connections).'));
    }
    setStatus(`updated ${new Date().toLocaleTimeString()}`);
  });
};

views.topics = (root, params) => {
  let region = params.get('region') || (conn.regions[0] || {}).name;
  const body = h('div', {});
  const showSystem = h('input', { type: 'checkbox', id: 'show-system', onchange: () => refresh() });
  root.append(h('h2', {}, 'Topics'), h('div', { class: 'row' },
    regionSelect(region, (v) => { region = v; refresh(); }),
    h('label', {}, 'System topics', showSystem)), body);
  let open = null;
  async function refresh() {
    try {
      const doc = await api(regionUrl(region), '/api/v1/topics');
      const list = doc.topics.filter((t) => showSystem.checked || !t.system);
      const parts = [table(['topic', 'queues', 'messages', 'put/s', 'perm'],
        list.map((t) => [t.name, t.readQueues, fmtNum(t.messages), fmtNum(t.putTps), t.perm]),
        { numeric: [1, 2, 3], onRow: (i) => { open = list[i].name; refresh(); }, rowId: (i) => list[i].name })];
      const t = list.find((x) => x.name === open);
      if (t) {
        parts.push(h('h3', {}, `${t.name}: queues`), table(['queue', 'min offset', 'max offset', 'messages'],
          t.queues.map((q) => [q.queueId, fmtNum(q.minOffset), fmtNum(q.maxOffset), fmtNum(q.maxOffset - q.minOffset)]),
          { numeric: [0, 1, 2, 3] }));
      }
      body.replaceChildren(...parts);
      setStatus(`${region}: ${list.length} topics`);
    } catch (e) {
      body.replaceChildren(errorBox(e));
    }
  }
  refresh();
  return () => {};
};

views.groups = (root, params) => {
  let region = params.get('region') || (conn.regions[0] || {}).name;
  let group = params.get('group') || '';
  const list = h('div', { id: 'group-list' });
  const detail = h('div', { id: 'group-detail' });
  root.append(h('h2', {}, 'Consumer groups'),
    h('div', { class: 'row' }, regionSelect(region, (v) => { region = v; group = ''; refresh(); })), list, detail);

  async function refresh() {
    try {
      const doc = await api(regionUrl(region), '/api/v1/groups');
      const gs = doc.groups.filter((g) => !g.system);
      list.replaceChildren(table(['group', 'online', 'topics', 'lag', 'consume/s'],
        gs.map((g) => [g.name, g.online, g.topics.join(', '), fmtNum(g.lag), fmtNum(g.consumeTps)]),
        { numeric: [1, 3, 4], onRow: (i) => { group = gs[i].name; showGroup(); }, rowId: (i) => gs[i].name }));
      if (group) await showGroup();
    } catch (e) {
      list.replaceChildren(errorBox(e));
    }
  }

  async function showGroup() {
    const url = regionUrl(region);
    let g;
    try {
      g = await api(url, `/api/v1/groups/${encodeURIComponent(group)}`);
    } catch (e) {
      detail.replaceChildren(errorBox(e));
      return;
    }
    const topics = g.topics.length ? g.topics : g.subscriptions.map((s) => s.topic);
    const topicSel = h('select', { id: 'reset-topic' }, topics.map((t) => h('option', { value: t }, t)));
    const bySel = h('select', { id: 'reset-by' }, h('option', { value: 'storeTime' }, 'store time'),
      h('option', { value: 'originTime' }, 'origin time (FERRY_SRC_STORE_TS)'));
    const when = h('input', { id: 'reset-time', size: 26, value: new Date(Date.now() - 3600e3).toISOString() });
    const preview = h('div', { id: 'reset-preview' });
    const applyBtn = h('button', { id: 'reset-apply', class: 'danger', disabled: true }, 'Reset…');
    const body = () => ({ topic: topicSel.value, timestamp: when.value.trim(), by: bySel.value });
    async function dryRun() {
      applyBtn.disabled = true;
      try {
        const r = await api(url, `/api/v1/groups/${encodeURIComponent(group)}/reset`, {
          method: 'POST', body: { ...body(), dryRun: true } });
        preview.replaceChildren(h('p', {}, `Dry run: nothing changed. ${r.queues.length} queue(s) of ${r.topic} would move to:`),
          table(['queue', 'now', 'after reset'], r.queues.map((q) => [q.queueId, fmtNum(q.oldOffset), fmtNum(q.newOffset)]),
            { numeric: [0, 1, 2] }));
        applyBtn.disabled = false;
      } catch (e) {
        preview.replaceChildren(errorBox(e));
      }
    }
    async function apply() {
      const b = body();
      const ok = await confirmAction(`Reset group ${group} on ${b.topic} in ${region} to ${b.by === 'originTime' ? 'origin' : 'store'} time ${b.timestamp}? Its consumers jump to the offsets shown.`);
      if (!ok) return;
      try {
        const r = await api(url, `/api/v1/groups/${encodeURIComponent(group)}/reset`, { method: 'POST', body: b });
        setStatus(`reset ${group}: ${r.queues.length} queue(s) moved`);
        await showGroup();
        detail.querySelector('#reset-preview').replaceChildren(h('p', { class: 'ok', id: 'reset-done' },
          `Reset applied: ${r.queues.map((q) => `q${q.queueId} -> ${q.newOffset}`).join(', ')}`));
      } catch (e) {
        preview.replaceChildren(errorBox(e));
      }
    }
    applyBtn.addEventListener('click', apply);
    detail.replaceChildren(
      h('h3', {}, `${g.name} in ${region}: ${g.online} online, lag ${fmtNum(g.lag)}`),
      g.members.length ? table(['client', 'address', 'type', 'model', 'heartbeat'],
        g.members.map((m) => [m.clientId, m.addr, m.consumeType, m.messageModel, `${Math.round(m.lastHeartbeatAgeMs / 1000)} s ago`]))
        : h('p', { class: 'muted' }, 'No consumer online.'),
      table(['topic', 'queue', 'broker offset', 'consumer offset', 'lag', 'last consumed'],
        g.queues.map((q) => [q.topic, q.queueId, fmtNum(q.brokerOffset), fmtNum(q.consumerOffset), fmtNum(q.lag), fmtTime(q.lastTimestampMs)]),
        { numeric: [1, 2, 3, 4], rowId: (i) => `${g.queues[i].topic}/${g.queues[i].queueId}` }),
      h('h3', {}, 'Reset offsets'),
      h('div', { class: 'row' }, h('label', {}, 'Topic', topicSel), h('label', {}, 'By', bySel),
        h('label', {}, 'Time (ISO-8601 with zone, or epoch ms)', when),
        h('button', { id: 'reset-dry-run', class: 'primary', onclick: dryRun }, 'Preview (dry run)'), applyBtn),
      preview);
  }
  refresh();
  return () => {};
};

// The journey of one message: looked up in every region by its UNIQ_KEY, ordered by where it
// went (FERRY_PATH: origin first), each hop with its queue, offset and store time.
views.messages = (root, params) => {
  const topic = h('input', { id: 'msg-topic', value: params.get('topic') || '', placeholder: 'topic' });
  const id = h('input', { id: 'msg-id', size: 40, value: params.get('id') || '', placeholder: 'message id or UNIQ_KEY' });
  const key = h('input', { id: 'msg-key', value: params.get('key') || '', placeholder: 'or key' });
  const out = h('div', { id: 'msg-result' });
  root.append(h('h2', {}, 'Messages'), h('form', { class: 'inline', onsubmit: (ev) => { ev.preventDefault(); find(); } },
    h('label', {}, 'Topic', topic), h('label', {}, 'Id', id), h('label', {}, 'Key', key),
    h('button', { class: 'primary', id: 'msg-find', type: 'submit' }, 'Find')), out);

  async function lookup(r, q) {
    try {
      const doc = await api(r.url, `/api/v1/messages?${q}`);
      return { region: r.name, msgs: doc.messages };
    } catch (e) {
      return { region: r.name, msgs: [], error: e.status === 404 ? null : e.message };
    }
  }

  async function find() {
    const t = topic.value.trim(), i = id.value.trim(), k = key.value.trim();
    const q = new URLSearchParams();
    if (t) q.set('topic', t);
    if (i) q.set('id', i); else q.set('key', k);
    out.replaceChildren(h('p', { class: 'muted' }, 'Searching every region…'));
    let found = await Promise.all(conn.regions.map((r) => lookup(r, q.toString())));
    // an offset id names one record in one region: follow its UNIQ_KEY into the others
    const first = found.flatMap((f) => f.msgs)[0];
    if (first && first.properties.UNIQ_KEY && (i || k)) {
      const q2 = new URLSearchParams({ topic: t || first.topic, id: first.properties.UNIQ_KEY });
      const again = await Promise.all(conn.regions.map((r) => lookup(r, q2.toString())));
      found = again.map((f, n) => (f.msgs.length ? f : found[n]));
    }
    const hops = [];
    for (const f of found) for (const m of f.msgs) hops.push({ region: f.region, m });
    if (hops.length === 0) {
      const errs = found.filter((f) => f.error).map((f) => `${f.region}: ${f.error}`);
      out.replaceChildren(h('p', {}, 'Not found in any region.'), ...errs.map((x) => h('div', { class: 'error-box' }, x)));
      return;
    }
    const m0 = hops[0].m;
    const path = (hops.find((x) => x.m.properties.FERRY_PATH) || {}).m?.properties.FERRY_PATH;
    const order = path ? path.split(',') : [];
    const origin = hops.find((x) => !x.m.properties.FERRY_SRC_REGION) ||
      hops.find((x) => x.region === x.m.properties.FERRY_SRC_REGION);
    const originTs = origin ? origin.m.storeTimestampMs : Number(m0.properties.FERRY_SRC_STORE_TS || 0);
    // origin first, then the path's order, then any region the path does not name
    const rank = (x) => (x === origin ? -1 : order.includes(x.region) ? order.indexOf(x.region) : order.length);
    hops.sort((a, b) => rank(a) - rank(b) || a.m.storeTimestampMs - b.m.storeTimestampMs);
    const journey = h('div', { class: 'journey', id: 'journey' });
    hops.forEach((x, n) => {
      if (n > 0) journey.append(h('span', { class: 'arrow' }, '→'));
      const p = x.m.properties;
      journey.append(h('div', { class: `hop${x === origin ? ' origin' : ''}`, 'data-region': x.region },
        h('div', { class: 'big' }, x.region),
        h('div', {}, x === origin ? 'produced here' : `copied from ${p.FERRY_SRC_REGION || '?'}${p.FERRY_PATH ? ` (path ${p.FERRY_PATH})` : ''}`),
        h('div', {}, `${x.m.topic} queue ${x.m.queueId} offset ${x.m.queueOffset}`),
        h('div', { class: 'muted' }, `stored ${fmtTime(x.m.storeTimestampMs)}${x !== origin && originTs ? `, +${x.m.storeTimestampMs - originTs} ms` : ''}`),
        h('div', { class: 'muted' }, `offset id ${x.m.offsetMsgId}`)));
    });
    const missing = conn.regions.filter((r) => !hops.some((x) => x.region === r.name)).map((r) => r.name);
    out.replaceChildren(
      h('h3', {}, 'Journey'), journey,
      h('p', { class: 'muted', id: 'journey-missing' }, missing.length ? `Not in: ${missing.join(', ')}` : `In every region (${hops.length}).`),
      h('h3', {}, 'Message'),
      table(['property', 'value'], Object.entries(m0.properties).map(([a, b]) => [a, b])),
      h('div', {}, `body (${m0.bodySize} bytes${m0.compressed ? ', compressed' : ''}):`),
      h('pre', { id: 'msg-body' }, m0.body === null ? '(binary or too large to show)' : m0.body));
    setStatus(`found in ${hops.length} region(s)`);
  }
  if (id.value || key.value) find();
  return () => {};
};

views.replication = (root) => {
  const list = h('div', { id: 'task-list' });
  const fo = h('div', { id: 'failover' });
  root.append(h('h2', {}, 'Replication'));
  if (!conn.replicator) {
    root.append(h('p', { class: 'muted' }, 'No replicator connected (see Connections).'));
    return () => {};
  }
  root.append(list);
  const chart = new LineChart(root, { title: 'Lag, messages, per task (live)' });
  chart.svg.id = 'lag-chart';
  root.append(h('h3', {}, 'Failover'), fo);
  let tasks = [];
  async function act(name, what) {
    try {
      await api(conn.replicator, `/api/v1/tasks/${encodeURIComponent(name)}/${what}`, { method: 'POST', body: {} });
      setStatus(`${name}: ${what}d`);
    } catch (e) {
      setStatus(e.message, true);
    }
  }
  const taskSel = h('select', { id: 'failover-task' });
  const groupsIn = h('input', { id: 'failover-groups', placeholder: 'all the task follows', size: 30 });
  const plan = h('div', { id: 'failover-plan' });
  const applyBtn = h('button', { id: 'failover-apply', class: 'danger', disabled: true }, 'Fail over…');
  const reqBody = (apply) => {
    const b = { apply };
    const g = groupsIn.value.split(',').map((x) => x.trim()).filter(Boolean);
    if (g.length) b.groups = g;
    return b;
  };
  function showPlan(p) {
    plan.replaceChildren(
      h('p', {}, `${p.dryRun ? 'Dry run: nothing changed. ' : 'Applied. '}${p.sourceRegion} -> ${p.targetRegion}; ${p.probed ? 'source answered: offsets translated now' : 'source unreachable: from the last sync'}${p.taskPaused ? '; task paused' : ''}`),
      ...p.groups.map((g) => h('div', {}, h('h3', {}, `${g.group} -> ${g.targetGroup}`),
        table(['topic', 'target queue', 'resume at', 'target end', 'to consume', 'from'],
          g.queues.map((q) => [q.topic, `${q.targetBroker}/${q.targetQueueId}`, fmtNum(q.applyOffset), fmtNum(q.targetEnd), fmtNum(q.toConsume), q.from || '-']),
          { numeric: [2, 3, 4] }))),
      ...(p.start || []).map((s) => h('p', { class: 'muted' }, `start ${s.group} in ${s.region} (${s.namesrv})${s.sql92 ? ` with SQL92 ${s.sql92}` : ''}`)));
  }
  async function dryRun() {
    applyBtn.disabled = true;
    try {
      showPlan(await api(conn.replicator, `/api/v1/tasks/${encodeURIComponent(taskSel.value)}/failover`, { method: 'POST', body: reqBody(false), timeoutMs: 30000 }));
      applyBtn.disabled = false;
    } catch (e) {
      plan.replaceChildren(errorBox(e));
    }
  }
  applyBtn.addEventListener('click', async () => {
    const ok = await confirmAction(`Fail over task ${taskSel.value}: its groups' offsets are written on the target and the task is paused. Consumers must then start in the target region.`);
    if (!ok) return;
    try {
      showPlan(await api(conn.replicator, `/api/v1/tasks/${encodeURIComponent(taskSel.value)}/failover`, { method: 'POST', body: reqBody(true), timeoutMs: 30000 }));
    } catch (e) {
      plan.replaceChildren(errorBox(e));
    }
  });
  fo.append(h('div', { class: 'row' }, h('label', {}, 'Task', taskSel), h('label', {}, 'Groups (comma-separated)', groupsIn),
    h('button', { id: 'failover-dry-run', class: 'primary', onclick: dryRun }, 'Dry run'), applyBtn), plan);

  return every(1000, async () => {
    const t = await sampleFigures();
    if (!t) throw new ApiError(`${conn.replicator}: unreachable`);
    tasks = t;
    list.replaceChildren(table(['task', 'pair', 'source', 'target', 'topics', 'state', 'lag (msgs)', 'lag (s)', 'copied', ''],
      tasks.map((x) => [x.name, x.pair || '-', `${x.source.region} (${x.source.namesrv})`, `${x.target.region} (${x.target.namesrv})`,
        x.topics ? x.topics.join(', ') : x.topicRegex,
        h('span', { class: `state-${x.state}`, title: x.error ? x.error.message : '' }, x.state + (x.error ? `: ${x.error.message}` : '')),
        fmtNum(x.stats.lagMessages), fmtNum(x.stats.lagSeconds), fmtNum(x.stats.messages),
        x.state === 'paused' ? h('button', { onclick: () => act(x.name, 'resume') }, 'Resume')
          : h('button', { onclick: () => act(x.name, 'pause') }, 'Pause')]),
      { numeric: [6, 7, 8], rowId: (i) => tasks[i].name }));
    const names = tasks.filter((x) => (x.groups || []).length || x.groupRegex).map((x) => x.name);
    if (taskSel.options.length !== names.length) {
      taskSel.replaceChildren(...names.map((n) => h('option', { value: n }, n)));
    }
    chart.update(lagHistory.series());
    setStatus(`updated ${new Date().toLocaleTimeString()}`);
  });
};

views.connections = (root) => {
  const rows = h('div', {});
  const repl = h('input', { id: 'conn-replicator', size: 40, value: conn.replicator, placeholder: 'http://host:8090' });
  const draw = () => rows.replaceChildren(...conn.regions.map((r, i) => h('div', { class: 'row' },
    h('label', {}, 'Region', h('input', { value: r.name, onchange: (ev) => { conn.regions[i].name = ev.target.value; } })),
    h('label', {}, "Broker's HTTP URL", h('input', { size: 40, value: r.url, onchange: (ev) => { conn.regions[i].url = ev.target.value.replace(/\/$/, ''); } })),
    h('button', { onclick: () => { conn.regions.splice(i, 1); draw(); } }, 'Remove'))));
  draw();
  root.append(h('h2', {}, 'Connections'),
    h('p', { class: 'muted' }, 'Each region is one broker\'s HTTP API; the replicator supplies tasks, lag and failover. Saved in this browser; a link can carry them: ?regions=east=http://h:8080,west=http://h:8081&replicator=http://h:8090'),
    rows,
    h('div', { class: 'row' }, h('button', { onclick: () => { conn.regions.push({ name: '', url: '' }); draw(); } }, 'Add region'),
      h('label', {}, 'Replicator URL', repl),
      h('button', { class: 'primary', onclick: () => {
        conn.replicator = repl.value.replace(/\/$/, '');
        conn.regions = conn.regions.filter((r) => r.name && r.url);
        localStorage.setItem(STORE_KEY, JSON.stringify(conn));
        setStatus('connections saved');
      } }, 'Save')));
  return () => {};
};

// ---- routing ----

function route() {
  const [path, query] = (location.hash.slice(1) || '/overview').split('?');
  const name = path.replace(/^\//, '') || 'overview';
  const view = views[name] || views.overview;
  cleanup();
  const root = document.getElementById('view');
  root.replaceChildren();
  for (const a of document.querySelectorAll('#nav a')) a.classList.toggle('active', a.dataset.view === name);
  document.body.dataset.view = name;
  cleanup = view(root, new URLSearchParams(query || '')) || (() => {});
}

async function main() {
  conn = loadConnections() || await detectSelf();
  window.addEventListener('hashchange', route);
  route();
}

main();
