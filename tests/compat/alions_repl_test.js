'use strict';
/*
 * Compatibility of replication (issue 10, Done when 2) with the stock ali-ons client (npm):
 *
 *   node alions_repl_test.js <path-to-ferrymqd>
 *
 * 1. two regions, `east` and `west` (each a ferrymqd with its embedded name server), and a
 *    replicator (ferrymqd --role=replicator, HTTP port chosen by the daemon) with a two-way
 *    task on one topic, made with `ferrymq task create` exactly as a user would;
 * 2. ali-ons producers write 200 messages in each region (tags, keys, user properties);
 * 3. ali-ons push consumers with SQL92 subscriptions: in west, `FERRY_SRC_REGION = 'east'`
 *    receives exactly east's 200, each with FERRY_SRC_REGION, FERRY_PATH "east,west",
 *    FERRY_SRC_TOPIC and intact body/tags/keys/properties; `FERRY_SRC_REGION IS NULL` receives
 *    exactly west's own 200 with no FERRY_ property; in east the same the other way round;
 *    a tag subscription on a replicated tag gets exactly the matching copies;
 * 4. each region holds 400 messages: nothing came back (no echo), nothing twice.
 *
 * Every wait polls a condition with a deadline. Ends with "compat-repl: N passed, M failed".
 */
const { spawn, execFileSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { Producer, Consumer, Message } = require('ali-ons');

const FERRYMQD = path.resolve(process.argv[2] || process.env.FM_FERRYMQD || 'build/ferrymqd');
const CLI = path.join(path.dirname(FERRYMQD), 'ferrymq');
const TOPIC = 'CompatRepl';
const QUEUES = 4;
const N = 200;

const { counts, keep, quietLogger, showClientLog, check, waitFor } = require('./harness');

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'fm-compat-repl-'));
const procs = [];

async function startProc(name, args, readyName, key) {
  const dir = path.join(root, name);
  fs.mkdirSync(dir, { recursive: true });
  const log = fs.openSync(path.join(dir, 'ferrymqd.log'), 'a');
  const p = spawn(FERRYMQD, [`--storePathRootDir=${dir}`, ...args], { stdio: ['ignore', log, log] });
  let exited = false;
  p.once('exit', () => { exited = true; });
  procs.push({ p, name, dir });
  const text = await waitFor(`${name} ready file`, () => {
    if (exited) throw new Error(`${name} exited during start-up; see ${path.join(dir, 'ferrymqd.log')}`);
    try {
      const t = fs.readFileSync(path.join(dir, readyName), 'utf8');
      return t.includes(`${key}=`) ? t : null;
    } catch (e) { return null; }
  }, 15000);
  return Object.fromEntries(text.trim().split('\n').map(l => l.split('=')));
}

async function startRegion(name) {
  const ports = await startProc(name, ['--listenPort=0', '--namesrvPort=0', '--httpPort=0', '--brokerIP1=127.0.0.1',
    `--brokerClusterName=${name}-cluster`, `--brokerName=${name}-broker`, '--mappedFileSizeCommitLog=4m'],
    'ready', 'remoting');
  return { name, nameSrv: `127.0.0.1:${ports.namesrv}`, broker: `127.0.0.1:${ports.remoting}` };
}

async function stopAll() {
  for (const { p } of procs.reverse()) {
    if (p.exitCode !== null || p.signalCode !== null) continue;
    const exited = new Promise(resolve => p.once('exit', resolve));
    p.kill('SIGTERM');
    const timer = setTimeout(() => p.kill('SIGKILL'), 10000);
    await exited;
    clearTimeout(timer);
  }
}

/* ali-ons shares one MQ client (and so one name server) per clientId = ip@instanceName in a
 * process: each region's clients get their own instanceName, or west's would ask east's. */
function clientOptions(ns, region) {
  return { nameSrv: ns, instanceName: `compat-${region}`, httpclient: {}, accessKeyId: 'compat',
    accessKeySecret: 'compat', logger: quietLogger };
}

function makeMessage(region, i) {
  const msg = new Message(TOPIC, i % 2 ? `Tag${region}` : 'TagShared', `${region}-${i}`);
  msg.keys = [`key-${region}-${i}`];
  msg.properties.idx = String(i);
  msg.properties.origin = region;
  return msg;
}

/* body "<region>-<i>" -> [region, i]; the rest of the message must be what makeMessage made */
function verify(msg, local, here) {
  const [region, is] = msg.body.toString().split('-');
  const i = Number(is);
  const want = makeMessage(region, i);
  const problems = [];
  if (msg.tags !== want.tags) problems.push(`tags ${msg.tags}`);
  if (msg.keys !== want.keys) problems.push(`keys ${msg.keys}`);
  for (const k of ['idx', 'origin']) {
    if (msg.properties[k] !== want.properties[k]) problems.push(`property ${k}=${msg.properties[k]}`);
  }
  const ferry = Object.keys(msg.properties).filter(k => k.startsWith('FERRY_'));
  if (local) {
    if (ferry.length) problems.push(`local message with ${ferry.join(',')}`);
  } else {
    if (msg.properties.FERRY_SRC_REGION !== region) problems.push(`FERRY_SRC_REGION ${msg.properties.FERRY_SRC_REGION}`);
    if (msg.properties.FERRY_PATH !== `${region},${here}`) problems.push(`FERRY_PATH ${msg.properties.FERRY_PATH}`);
    if (msg.properties.FERRY_SRC_TOPIC !== TOPIC) problems.push(`FERRY_SRC_TOPIC ${msg.properties.FERRY_SRC_TOPIC}`);
    if (!/^\d+$/.test(msg.properties.FERRY_SRC_OFFSET || '')) problems.push(`FERRY_SRC_OFFSET ${msg.properties.FERRY_SRC_OFFSET}`);
  }
  return { key: `${region}-${i}`, problems };
}

async function producerWithTopic(addr, group) {
  const producer = new Producer(Object.assign(clientOptions(addr.nameSrv, addr.name), { producerGroup: group }));
  producer.on('error', err => keep('error')(err.message));
  await producer.ready();
  await producer._mqClient.createTopic(addr.broker, 'TBW102',
    { topicName: TOPIC, readQueueNums: QUEUES, writeQueueNums: QUEUES, perm: 6 }, 3000);
  await waitFor(`route of ${TOPIC} in ${addr.name}`, async () => {
    try { return await producer._mqClient.getTopicRouteInfoFromNameServer(TOPIC, 1000); } catch (e) { return null; }
  }, 10000);
  return producer;
}

async function stored(client, addr) {
  let sum = 0;
  for (let q = 0; q < QUEUES; q++) sum += await client.getMaxOffset(addr.broker, TOPIC, q, 3000);
  return sum;
}

async function committed(client, addr, group) {
  let sum = 0;
  for (let q = 0; q < QUEUES; q++) {
    try {
      sum += await client.queryConsumerOffset(addr.broker, { consumerGroup: group, topic: TOPIC, queueId: q }, 3000);
    } catch (e) {
      return -1;
    }
  }
  return sum;
}

/* Consume the whole topic of addr with sub; done when the group has committed past all. */
async function consumeAll(addr, group, sub, client, total) {
  const seen = new Map();
  const bad = [];
  const consumer = new Consumer(Object.assign(clientOptions(addr.nameSrv, addr.name), {
    consumerGroup: group, rebalanceInterval: 1000, persistConsumerOffsetInterval: 500,
  }));
  consumer.on('error', err => { if (!/%RETRY%/.test(err.message)) console.log('consumer error:', err.message); });
  consumer.subscribe(TOPIC, sub, async msg => {
    const local = msg.properties.FERRY_SRC_REGION === undefined;
    const v = verify(msg, local, addr.name);
    if (v.problems.length) bad.push(`${v.key}: ${v.problems.join(', ')}`);
    seen.set(v.key, (seen.get(v.key) || 0) + 1);
  });
  await consumer.ready();
  await waitFor(`${group} to commit past all ${total}`, async () => (await committed(client, addr, group)) === total, 60000);
  await consumer.close();
  return { seen, bad };
}

function expectExactly(name, got, wantKeys) {
  const want = new Set(wantKeys);
  const extra = [...got.seen.keys()].filter(k => !want.has(k));
  const missing = wantKeys.filter(k => !got.seen.has(k));
  check(`${name}: exactly the ${want.size} expected`, extra.length === 0 && missing.length === 0,
    `extra ${extra.slice(0, 5)} missing ${missing.slice(0, 5)}`);
  check(`${name}: each once`, [...got.seen.values()].every(c => c === 1));
  check(`${name}: properties as sent, FERRY_* as replicated`, got.bad.length === 0, got.bad.slice(0, 5).join('; '));
}

const range = (region, pred) => [...Array(N).keys()].filter(pred || (() => true)).map(i => `${region}-${i}`);

async function main() {
  const east = await startRegion('east');
  const west = await startRegion('west');
  const rports = await startProc('replicator', ['--role=replicator', '--httpPort=0',
    '--replTopicRefreshInterval=500', '--replRebalanceInterval=500', '--replCheckpointInterval=200'], 'ready', 'http');
  const pe = await producerWithTopic(east, 'ReplProducerEast');
  const pw = await producerWithTopic(west, 'ReplProducerWest');

  const out = execFileSync(CLI, ['-r', `127.0.0.1:${rports.http}`, 'task', 'create', 'compat', '--mode', 'two-way',
    '--source', east.nameSrv, '--source-region', 'east', '--target', west.nameSrv, '--target-region', 'west',
    '--topics', TOPIC, '--from', 'earliest'], { encoding: 'utf8' });
  check('ferrymq task create made the pair', out.trim().split('\n').length === 2, out);

  for (const [p, region] of [[pe, 'east'], [pw, 'west']]) {
    for (let i = 0; i < N; i++) {
      const r = await p.send(makeMessage(region, i));
      if (r.sendStatus !== 'SEND_OK') throw new Error(`send ${region}-${i}: ${r.sendStatus}`);
    }
  }
  for (const addr of [east, west]) {
    const client = addr === east ? pe._mqClient : pw._mqClient;
    await waitFor(`${addr.name} to hold both regions' ${2 * N}`, async () => (await stored(client, addr)) >= 2 * N, 60000);
  }

  const fromEast = await consumeAll(west, 'ReplFromEast', { expressionType: 'SQL92', subString: "FERRY_SRC_REGION = 'east'" }, pw._mqClient, 2 * N);
  expectExactly("west [FERRY_SRC_REGION = 'east']", fromEast, range('east'));
  const westLocal = await consumeAll(west, 'ReplLocalWest', { expressionType: 'SQL92', subString: 'FERRY_SRC_REGION IS NULL' }, pw._mqClient, 2 * N);
  expectExactly('west [FERRY_SRC_REGION IS NULL]', westLocal, range('west'));
  const fromWest = await consumeAll(east, 'ReplFromWest', { expressionType: 'SQL92', subString: "FERRY_SRC_REGION = 'west'" }, pe._mqClient, 2 * N);
  expectExactly("east [FERRY_SRC_REGION = 'west']", fromWest, range('west'));
  const eastLocal = await consumeAll(east, 'ReplLocalEast', { expressionType: 'SQL92', subString: 'FERRY_SRC_REGION IS NULL' }, pe._mqClient, 2 * N);
  expectExactly('east [FERRY_SRC_REGION IS NULL]', eastLocal, range('east'));
  const tagged = await consumeAll(west, 'ReplTagEast', 'Tageast', pw._mqClient, 2 * N);
  expectExactly('west [Tageast]', tagged, range('east', i => i % 2 === 1));

  check('east holds exactly 400 (no echo, no duplicate)', (await stored(pe._mqClient, east)) === 2 * N);
  check('west holds exactly 400 (no echo, no duplicate)', (await stored(pw._mqClient, west)) === 2 * N);
  await pe.close();
  await pw.close();
}

main()
  .catch(err => {
    counts.failed++;
    console.log('FAIL compat-repl run aborted:', err && err.stack || err);
    showClientLog();
    for (const { name, dir } of procs) {
      try {
        console.log(`--- ${name}:`);
        console.log(fs.readFileSync(path.join(dir, 'ferrymqd.log'), 'utf8').split('\n').slice(-15).join('\n'));
      } catch (e) { /* none */ }
    }
  })
  .then(stopAll)
  .finally(() => {
    console.log(`compat-repl: ${counts.passed} passed, ${counts.failed} failed`);
    if (!process.env.FM_KEEP_TEST_DIRS) fs.rmSync(root, { recursive: true, force: true });
    process.exit(counts.failed ? 1 : 0);
  });
