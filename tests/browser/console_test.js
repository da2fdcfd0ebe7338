/*
 * The web console in a real browser: Debian's chromium, headless, driven by playwright-core
 * from the npm registry (no browser download), against the two-region demo (scripts/demo:
 * east and west each a ferrymqd with its name server, a replicator with the two-way task
 * "demo" on DemoTopic), every port chosen by the daemons.
 *
 *   node console_test.js <build dir> <output dir>
 *
 * It checks that the console
 * 1. shows the replication tasks and a lag chart that keeps updating (points drawn grow);
 * 2. finds a message produced in east by its offset id and shows its journey: produced in
 *    east, copied to west with its path and offsets;
 * 3. resets a group's offsets in west: dry-run preview first (nothing moves), then the reset
 *    after a confirmation, and the broker's offsets change;
 * 4. runs a failover dry run of a task that follows that group and shows the plan.
 * Screenshots of each step go to the output directory. Prints "browser: N passed, M failed".
 */
'use strict';
const { spawn, execFileSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { chromium } = require('playwright-core');

const build = path.resolve(process.argv[2] || 'build');
const outDir = path.resolve(process.argv[3] || 'build/browser');
const root = path.resolve(__dirname, '../..');
const CLI = path.join(build, 'ferrymq');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const WAIT_MS = 30000;

let passed = 0, failed = 0;
const sleepTick = (ms) => new Promise((r) => setTimeout(r, ms));

// Poll fn until it returns a truthy value, at most ms; the value, or an error naming what.
async function waitFor(what, fn, ms = WAIT_MS) {
  const end = Date.now() + ms;
  let last;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) { last = e; }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}${last ? `: ${last.message}` : ''}`);
    await sleepTick(100);
  }
}

function readyFile(dir) {
  const t = fs.readFileSync(path.join(dir, 'ready'), 'utf8');
  return Object.fromEntries(t.trim().split('\n').map((l) => l.split('=')));
}

function cli(ns, ...args) {
  return execFileSync(CLI, ['-n', ns, ...args], { encoding: 'utf8' });
}

async function getJson(url, opts) {
  const r = await fetch(url, opts);
  const body = await r.json();
  if (!r.ok) throw new Error(`${url}: ${r.status} ${body.error}`);
  return body;
}

async function step(name, page, fn) {
  try {
    await fn();
    passed++;
    console.log(`ok   ${name}`);
  } catch (e) {
    failed++;
    console.log(`FAIL ${name}: ${e.message}`);
  }
  try {
    await page.screenshot({ path: path.join(outDir, `${name}.png`), fullPage: true });
  } catch (e) { /* the page is gone: the failure above says why */ }
}

async function main() {
  fs.mkdirSync(outDir, { recursive: true });
  const demoDir = fs.mkdtempSync(path.join(os.tmpdir(), 'fm-console-'));
  const env = { ...process.env, FERRYMQ_BUILD: build, FERRYMQ_DEMO_DIR: demoDir };
  for (const k of ['EAST_NS_PORT', 'EAST_BROKER_PORT', 'EAST_HTTP_PORT', 'WEST_NS_PORT',
    'WEST_BROKER_PORT', 'WEST_HTTP_PORT', 'REPL_HTTP_PORT']) env[k] = '0';
  const demoOut = path.join(outDir, 'demo.out');
  const out = fs.openSync(demoOut, 'w');
  const demo = spawn(path.join(root, 'scripts/demo'), [], { env, stdio: ['ignore', out, out], detached: true });
  let browser = null;
  try {
    await waitFor('the demo to start', () => fs.readFileSync(demoOut, 'utf8').includes('Ctrl-C stops everything.'), 60000);
    const east = readyFile(path.join(demoDir, 'east'));
    const west = readyFile(path.join(demoDir, 'west'));
    const repl = readyFile(path.join(demoDir, 'replicator'));
    const eastNs = `127.0.0.1:${east.namesrv}`, westNs = `127.0.0.1:${west.namesrv}`;
    const eastUrl = `http://127.0.0.1:${east.http}`, westUrl = `http://127.0.0.1:${west.http}`;
    const replUrl = `http://127.0.0.1:${repl.http}`;
    const consoleUrl = `${replUrl}/console/?regions=east=${eastUrl},west=${westUrl}&replicator=${replUrl}`;

    // A group in west with offsets to reset, and a task that follows it (for the failover).
    cli(eastNs, 'topic', 'create', 'BrowserT', '--queues', '2');
    cli(westNs, 'topic', 'create', 'BrowserT', '--queues', '2');
    for (let i = 0; i < 6; i++) cli(eastNs, 'produce', '-t', 'BrowserT', `b${i}`);
    await getJson(`${replUrl}/api/v1/tasks`, {
      method: 'POST', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ name: 'browser', source: { namesrv: eastNs, region: 'east' },
        target: { namesrv: westNs, region: 'west' }, topics: ['BrowserT'], from: 'earliest',
        groups: ['BrowserG'] }) });
    await waitFor('BrowserT copied to west', async () => {
      const t = await getJson(`${westUrl}/api/v1/topics/BrowserT`);
      return t.messages === 6;
    });
    cli(westNs, 'consume', '-t', 'BrowserT', '-g', 'BrowserG', '--from', 'earliest', '--count', '6', '--commit');
    cli(eastNs, 'consume', '-t', 'BrowserT', '-g', 'BrowserG', '--from', 'earliest', '--count', '6', '--commit');

    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const pageErrors = [];
    page.on('pageerror', (e) => pageErrors.push(e.message));
    page.on('dialog', (d) => d.dismiss()); // the console uses its own dialog, never alert()

    await step('0-overview', page, async () => {
      await page.goto(`${consoleUrl}#/overview`);
      await page.waitForSelector('#regions .card[data-region="east"] .ok', { timeout: WAIT_MS });
      await page.waitForSelector('#regions .card[data-region="west"] .ok', { timeout: WAIT_MS });
      await page.waitForSelector('#pairs tr', { timeout: WAIT_MS });
      const rate = async () => Number(await page.getAttribute('#rate-chart', 'data-points'));
      await waitFor('the produce-rate chart to draw', async () => (await rate()) >= 4);
    });

    await step('1-replication-lag-chart', page, async () => {
      await page.goto(`${consoleUrl}#/replication`);
      await page.waitForSelector('#task-list tr[data-id="demo-east-west"]', { timeout: WAIT_MS });
      await page.waitForSelector('#task-list tr[data-id="browser"]', { timeout: WAIT_MS });
      const points = async () => Number(await page.getAttribute('#lag-chart', 'data-points'));
      const first = await waitFor('the lag chart to draw', async () => { const p = await points(); return p > 0 ? p : 0; });
      await waitFor('the lag chart to update twice more', async () => (await points()) >= first + 2 * 3);
      const legend = await page.textContent('.legend');
      if (!legend.includes('demo-east-west')) throw new Error(`legend lacks the task: ${legend}`);
    });

    await step('2-message-journey', page, async () => {
      const line = cli(eastNs, 'produce', '-t', 'DemoTopic', 'hello from the browser test');
      const [uniq, offsetId] = line.trim().split(/\s+/);
      await page.goto(`${consoleUrl}#/messages`);
      await page.fill('#msg-topic', 'DemoTopic');
      await page.fill('#msg-id', offsetId);
      // the copy reaches west shortly after: search until both hops show
      await waitFor('the journey east -> west', async () => {
        await page.click('#msg-find');
        await page.waitForSelector('#msg-result h3, #msg-result p', { timeout: 5000 });
        return (await page.$$('#journey .hop')).length === 2;
      });
      const hops = await page.$$eval('#journey .hop', (hs) => hs.map((x) => ({ region: x.dataset.region, text: x.textContent })));
      if (hops[0].region !== 'east' || !hops[0].text.includes('produced here')) throw new Error(`first hop: ${JSON.stringify(hops[0])}`);
      if (hops[1].region !== 'west' || !hops[1].text.includes('copied from east')) throw new Error(`second hop: ${JSON.stringify(hops[1])}`);
      const props = await page.textContent('#msg-result table');
      if (!props.includes(uniq)) throw new Error('the properties lack the UNIQ_KEY');
      if ((await page.textContent('#msg-body')) !== 'hello from the browser test') throw new Error('wrong body');
    });

    await step('3-offset-reset', page, async () => {
      const before = await getJson(`${westUrl}/api/v1/groups/BrowserG`);
      if (!before.queues.some((q) => q.consumerOffset > 0)) throw new Error('nothing to reset');
      await page.goto(`${consoleUrl}#/groups?region=west&group=BrowserG`);
      await page.waitForSelector('#reset-dry-run', { timeout: WAIT_MS });
      await page.fill('#reset-time', '0');
      await page.click('#reset-dry-run');
      await page.waitForSelector('#reset-preview table', { timeout: WAIT_MS });
      const mid = await getJson(`${westUrl}/api/v1/groups/BrowserG`);
      if (JSON.stringify(mid.queues) !== JSON.stringify(before.queues)) throw new Error('the dry run moved offsets');
      await page.click('#reset-apply');
      await page.waitForSelector('#confirm[open]', { timeout: WAIT_MS });
      await page.screenshot({ path: path.join(outDir, '3-offset-reset-confirm.png') });
      await page.click('#confirm-ok');
      await page.waitForSelector('#reset-done', { timeout: WAIT_MS });
      const after = await getJson(`${westUrl}/api/v1/groups/BrowserG`);
      if (!after.queues.every((q) => q.consumerOffset === 0)) throw new Error(`offsets after: ${JSON.stringify(after.queues)}`);
    });

    await step('4-failover-dry-run', page, async () => {
      await page.goto(`${consoleUrl}#/replication`);
      await page.waitForSelector('#failover-task option[value="browser"]', { timeout: WAIT_MS, state: 'attached' });
      await page.selectOption('#failover-task', 'browser');
      await page.click('#failover-dry-run');
      await page.waitForSelector('#failover-plan table', { timeout: WAIT_MS });
      const text = await page.textContent('#failover-plan');
      if (!text.includes('Dry run: nothing changed') || !text.includes('BrowserG')) throw new Error(`plan: ${text}`);
      const t = await getJson(`${replUrl}/api/v1/tasks/browser`);
      if (t.tasks[0].state !== 'running') throw new Error('the dry run paused the task');
    });

    if (pageErrors.length) {
      failed++;
      console.log(`FAIL page errors: ${pageErrors.join('; ')}`);
    }
  } catch (e) {
    failed++;
    console.log(`FAIL setup: ${e.message}`);
    try { console.log(fs.readFileSync(demoOut, 'utf8').split('\n').slice(-20).join('\n')); } catch (e2) { /* none */ }
  } finally {
    if (browser) await browser.close();
    try { process.kill(-demo.pid, 'SIGINT'); } catch (e) { /* gone */ }
    await waitFor('the demo to stop', () => demo.exitCode !== null || demo.signalCode !== null, 30000).catch(() => {
      try { process.kill(-demo.pid, 'SIGKILL'); } catch (e) { /* gone */ }
    });
    fs.rmSync(demoDir, { recursive: true, force: true });
  }
  console.log(`browser: ${passed} passed, ${failed} failed (screenshots in ${outDir})`);
  process.exit(failed === 0 ? 0 : 1);
}

main();
