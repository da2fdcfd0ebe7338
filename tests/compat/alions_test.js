'use strict';
/*
 * Compatibility: the stock ali-ons client (npm) against a real ferrymqd.
 *
 *   node alions_test.js <path-to-ferrymqd>
 *
 * 1. start ferrymqd (embedded name server, ports chosen by the daemon, fresh data dir);
 * 2. create a topic with the client's own UPDATE_AND_CREATE_TOPIC call (ali-ons, unlike the
 *    Java client, does not fall back to TBW102 for an unknown topic, so it must exist);
 * 3. produce 1,000 messages with tags, keys and user properties;
 * 4. a push consumer receives all of them; body, tags, keys and properties are compared;
 * 5. the consumer closes (committing offsets), the broker is stopped with SIGTERM and
 *    restarted on the same data; 50 more messages are produced; a consumer in the same group
 *    must receive the 50 new ones and redeliver at most one pull batch (32) of old ones.
 *
 * 6. filters: a mixed stream (some messages replicated, carrying FERRY_SRC_REGION; regions and
 *    amounts) goes to another topic; two push consumer groups subscribed with SQL92
 *    (`FERRY_SRC_REGION IS NULL`, `region = 'b' AND amount > 100`) and one with a tag
 *    expression receive exactly the matching messages, once each, and commit past the rest.
 * 7. reset by time with a consumer online: an ali-ons group consumed 40 messages; the broker
 *    resets it (INVOKE_BROKER_TO_RESET_OFFSET) to a time between the 20th and 21st; the same
 *    consumer, never restarted, receives again exactly the messages stored at or after it.
 * 8. a mixed group: a libferrymq push consumer (`ferrymq consume --push`) and an ali-ons push
 *    consumer share one group's 8 queues; each holds exactly the half RocketMQ's
 *    AllocateMessageQueueAveragely gives it by their sorted client ids, and 200 messages are
 *    delivered once each, every one by the member holding its queue.
 *
 * Every wait polls a condition with a deadline; no sleep stands in for synchronisation.
 * Ends with "compat: N passed, M failed".
 */
const { spawn } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { Producer, Consumer, Message } = require('ali-ons');
const RemotingCommand = require('ali-ons/lib/protocol/command/remoting_command');

const FERRYMQD = path.resolve(process.argv[2] || process.env.FM_FERRYMQD || 'build/ferrymqd');
const TOPIC = 'CompatTopic';
const GROUP = 'CompatGroup';
const N = 1000;
const N_AFTER = 50;
const PULL_BATCH = 32;
const TAGS = ['TagA', 'TagB', 'TagC'];

const { counts, keep, quietLogger, showClientLog, check, waitFor } = require('./harness');

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fm-compat-'));
let daemon = null;

async function startDaemon() {
  const readyFile = path.join(dir, 'ready');
  try { fs.unlinkSync(readyFile); } catch (e) { /* absent */ }
  const log = fs.openSync(path.join(dir, 'ferrymqd.log'), 'a');
  daemon = spawn(FERRYMQD, [
    `--storePathRootDir=${dir}`, '--listenPort=0', '--namesrvPort=0', '--httpPort=0', '--brokerIP1=127.0.0.1',
    '--mappedFileSizeCommitLog=4m', '--flushDiskType=ASYNC_FLUSH',
  ], { stdio: ['ignore', log, log] });
  let exited = false;
  daemon.once('exit', () => { exited = true; });
  const text = await waitFor('ferrymqd ready file', () => {
    if (exited) throw new Error('ferrymqd exited during start-up; see ' + path.join(dir, 'ferrymqd.log'));
    try { return fs.readFileSync(readyFile, 'utf8'); } catch (e) { return null; }
  }, 15000);
  const ports = Object.fromEntries(text.trim().split('\n').map(l => l.split('=')));
  return { nameSrv: `127.0.0.1:${ports.namesrv}`, broker: `127.0.0.1:${ports.remoting}` };
}

async function stopDaemon() {
  const d = daemon;
  const exited = new Promise(resolve => d.once('exit', (code, sig) => resolve({ code, sig })));
  d.kill('SIGTERM');
  const timer = setTimeout(() => d.kill('SIGKILL'), 10000);
  const r = await exited;
  clearTimeout(timer);
  return r;
}

/* Errors the shared MQ client emits reach every producer too; an unexpected one is printed. */
function watchErrors(producer) {
  producer.on('error', err => {
    if (/%RETRY%/.test(err.message)) keep('error')(err.message);
    else console.log('producer error:', err.message);
  });
  return producer;
}

function clientOptions(ns) {
  /* ali-ons requires an http client even when the name server address is given directly;
   * it is only used for the (absent) address-server lookup. */
  return { nameSrv: ns, httpclient: {}, accessKeyId: 'compat', accessKeySecret: 'compat', logger: quietLogger };
}

/* A ready producer, and topic created with `queues` queues through the client's own
 * UPDATE_AND_CREATE_TOPIC (ali-ons does not fall back to TBW102), once its route is served. */
async function producerWithTopic(addr, group, topic, queues) {
  const producer = watchErrors(new Producer(Object.assign(clientOptions(addr.nameSrv), { producerGroup: group })));
  await producer.ready();
  await producer._mqClient.createTopic(addr.broker, 'TBW102',
    { topicName: topic, readQueueNums: queues, writeQueueNums: queues, perm: 6 }, 3000);
  await waitFor(`route of ${topic}`, async () => {
    try { return await producer._mqClient.getTopicRouteInfoFromNameServer(topic, 1000); } catch (e) { return null; }
  }, 10000);
  return producer;
}

function makeMessage(i) {
  const body = JSON.stringify({ id: i, pad: 'x'.repeat(i % 200) });
  const msg = new Message(TOPIC, TAGS[i % TAGS.length], body);
  msg.keys = [`key-${i}`, `order-${i % 17}`];
  msg.properties.idx = String(i);
  msg.properties.region = i % 2 ? 'east' : 'west';
  msg.properties.amount = String(i * 7);
  return msg;
}

function verify(msg, seen, bad) {
  let body;
  try {
    body = JSON.parse(msg.body.toString());
  } catch (e) {
    bad.push(`unparseable body ${msg.msgId}`);
    return;
  }
  const i = body.id;
  const want = makeMessage(i);
  const problems = [];
  if (msg.body.toString() !== want.body.toString()) problems.push('body');
  if (msg.tags !== want.tags) problems.push(`tags ${msg.tags}`);
  if (msg.keys !== want.keys) problems.push(`keys ${msg.keys}`);
  for (const k of ['idx', 'region', 'amount']) {
    if (msg.properties[k] !== want.properties[k]) problems.push(`property ${k}=${msg.properties[k]}`);
  }
  /* ali-ons sets no UNIQ_KEY; its msgId is the broker's offset id (host, port, offset). */
  if (!/^[0-9A-F]{32}$/.test(msg.msgId)) problems.push(`msgId ${msg.msgId}`);
  if (problems.length) bad.push(`message ${i}: ${problems.join(', ')}`);
  seen.set(i, (seen.get(i) || 0) + 1);
}

async function produce(producer, from, to) {
  const results = [];
  const inflight = 16;
  let next = from;
  async function worker() {
    while (next < to) {
      const i = next++;
      results.push(await producer.send(makeMessage(i)));
    }
  }
  await Promise.all(Array.from({ length: inflight }, worker));
  return results;
}

async function consume(ns, seen, bad, until) {
  const consumer = new Consumer(Object.assign(clientOptions(ns), {
    consumerGroup: GROUP, rebalanceInterval: 1000, persistConsumerOffsetInterval: 1000,
  }));
  consumer.on('error', err => {
    /* The retry topic's route appears only after the first heartbeat; the client reports
     * the lookup before it as an error and carries on. */
    if (!/%RETRY%/.test(err.message)) console.log('consumer error:', err.message);
  });
  consumer.subscribe(TOPIC, '*', async msg => verify(msg, seen, bad));
  await consumer.ready();
  await waitFor('messages to arrive', () => until(), 60000);
  return consumer;
}

async function committedTotal(client, broker) {
  let sum = 0;
  for (let q = 0; q < 8; q++) {
    try {
      sum += await client.queryConsumerOffset(broker, { consumerGroup: GROUP, topic: TOPIC, queueId: q }, 3000);
    } catch (e) {
      return -1;
    }
  }
  return sum;
}

const FTOPIC = 'CompatFilter';
const FN = 240;
const FQUEUES = 4;

function filterMessage(i) {
  const msg = new Message(FTOPIC, i % 5 === 0 ? 'TagX' : 'TagY', `f-${i}`);
  msg.properties.region = ['a', 'b', 'c'][i % 3];
  msg.properties.amount = String((i * 13) % 300);
  if (i % 4 === 0) msg.properties.FERRY_SRC_REGION = 'remote';
  return msg;
}

const FILTERS = [
  { group: 'CompatLocal', sub: { expressionType: 'SQL92', subString: 'FERRY_SRC_REGION IS NULL' },
    want: i => i % 4 !== 0 },
  { group: 'CompatRegionB', sub: { expressionType: 'SQL92', subString: "region = 'b' AND amount > 100" },
    want: i => i % 3 === 1 && (i * 13) % 300 > 100 },
  { group: 'CompatTagX', sub: 'TagX', want: i => i % 5 === 0 },
];

async function committedGroup(client, broker, group) {
  let sum = 0;
  for (let q = 0; q < FQUEUES; q++) {
    try {
      sum += await client.queryConsumerOffset(broker, { consumerGroup: group, topic: FTOPIC, queueId: q }, 3000);
    } catch (e) {
      return -1;
    }
  }
  return sum;
}

async function filterPhase(addr) {
  const producer = await producerWithTopic(addr, 'CompatFilterProducer', FTOPIC, FQUEUES);
  for (let i = 0; i < FN; i++) {
    const r = await producer.send(filterMessage(i));
    if (r.sendStatus !== 'SEND_OK') throw new Error(`filter send ${i}: ${r.sendStatus}`);
  }
  for (const f of FILTERS) {
    const seen = new Map();
    const consumer = new Consumer(Object.assign(clientOptions(addr.nameSrv), {
      consumerGroup: f.group, rebalanceInterval: 1000, persistConsumerOffsetInterval: 500,
    }));
    consumer.on('error', err => {
      if (!/%RETRY%/.test(err.message)) console.log('consumer error:', err.message);
    });
    consumer.subscribe(FTOPIC, f.sub, async msg => {
      const i = Number(msg.body.toString().slice(2));
      seen.set(i, (seen.get(i) || 0) + 1);
    });
    await consumer.ready();
    const want = [...Array(FN).keys()].filter(f.want);
    /* done when the group's committed offsets are past the whole stream: by then every
     * message was either delivered or skipped by the broker */
    await waitFor(`${f.group} to commit past all ${FN} messages`,
      async () => (await committedGroup(producer._mqClient, addr.broker, f.group)) === FN, 30000);
    const extra = [...seen.keys()].filter(i => !f.want(i));
    const missing = want.filter(i => !seen.has(i));
    const name = typeof f.sub === 'string' ? f.sub : f.sub.subString;
    check(`[${name}] delivers exactly the ${want.length} matching messages`,
      extra.length === 0 && missing.length === 0,
      `extra ${extra.slice(0, 5)} missing ${missing.slice(0, 5)}`);
    check(`[${name}] delivers each once`, [...seen.values()].every(c => c === 1));
    await consumer.close();
  }
  await producer.close();
}

const RTOPIC = 'CompatReset';
const RGROUP = 'CompatResetGroup';
const RN = 40;

async function resetPhase(addr) {
  const producer = await producerWithTopic(addr, 'CompatResetProducer', RTOPIC, 2);
  const sendRange = async (from, to) => {
    for (let i = from; i < to; i++) {
      const r = await producer.send(new Message(RTOPIC, 'TagR', `r-${i}`));
      if (r.sendStatus !== 'SEND_OK') throw new Error(`reset send ${i}: ${r.sendStatus}`);
    }
  };
  await sendRange(0, RN / 2);
  /* a time strictly after the first half was stored and strictly before the second half */
  const acked = Date.now();
  await waitFor('the clock to pass the last ack', () => Date.now() > acked, 1000);
  const mid = Date.now();
  await waitFor('the clock to pass the reset time', () => Date.now() > mid, 1000);
  await sendRange(RN / 2, RN);

  const deliveries = new Map(); /* i -> [storeTimestamp, ...] */
  const consumer = new Consumer(Object.assign(clientOptions(addr.nameSrv), {
    consumerGroup: RGROUP, rebalanceInterval: 1000, persistConsumerOffsetInterval: 500,
  }));
  consumer.on('error', err => {
    if (!/%RETRY%/.test(err.message)) console.log('consumer error:', err.message);
  });
  consumer.subscribe(RTOPIC, '*', async msg => {
    const i = Number(msg.body.toString().slice(2));
    if (!deliveries.has(i)) deliveries.set(i, []);
    deliveries.get(i).push(Number(msg.storeTimestamp));
  });
  await consumer.ready();
  await waitFor('all 40 consumed once', () => deliveries.size === RN, 30000);
  check('reset group consumed all 40 once', [...deliveries.values()].every(d => d.length === 1));

  /* the reset, with the consumer online, through ali-ons' own remoting client */
  const req = RemotingCommand.createRequestCommand(222,
    { topic: RTOPIC, group: RGROUP, timestamp: String(mid), isForce: 'true' });
  const resp = await producer._mqClient.invoke(addr.broker, req, 3000);
  check('INVOKE_BROKER_TO_RESET_OFFSET answered SUCCESS', resp.code === 0, `code ${resp.code} ${resp.remark}`);

  const later = [...Array(RN).keys()].filter(i => deliveries.get(i)[0] >= mid);
  check('the stream straddles the reset time', later.length === RN / 2, `stored at/after: ${later.length}`);
  await waitFor('messages stored at or after the reset time to come again',
    () => later.every(i => deliveries.get(i).length >= 2), 30000);
  const again = [...deliveries.entries()].filter(([, d]) => d.length > 1).map(([i]) => i);
  check('after the reset exactly the messages stored at or after its time came again',
    again.length === later.length && again.every(i => deliveries.get(i)[0] >= mid),
    `redelivered ${again.length}: ${again.slice(0, 8)}`);
  await consumer.close();
  await producer.close();
}

const MTOPIC = 'CompatMixed';
const MGROUP = 'CompatMixedGroup';
const MN = 200;

/* the queue ids a ferrymq member's last rebalance line for MTOPIC names, or null */
function cliQueues(stderr) {
  const lines = stderr.split('\n').filter(l => l.includes(`rebalance group=${MGROUP} topic=${MTOPIC} `));
  if (!lines.length) return null;
  const m = /queues=\[(.*)\]/.exec(lines[lines.length - 1]);
  return m ? [...m[1].matchAll(/:(\d+)/g)].map(x => Number(x[1])).sort((a, b) => a - b) : null;
}

async function mixedPhase(addr) {
  const producer = await producerWithTopic(addr, 'CompatMixedProducer', MTOPIC, 8);

  /* the ferrymq member first: it takes all 8, then gives half up when ali-ons joins */
  const cliPath = path.join(path.dirname(FERRYMQD), 'ferrymq');
  const cli = spawn(cliPath, ['-n', addr.nameSrv, 'consume', '-t', MTOPIC, '-g', MGROUP, '--push',
    '--verbose', '--format', 'json', '--from', 'earliest'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let cliOut = '';
  let cliErr = '';
  cli.stdout.on('data', d => { cliOut += d; });
  cli.stderr.on('data', d => { cliErr += d; });
  const cliExit = new Promise(resolve => cli.once('exit', (code, sig) => resolve({ code, sig })));
  await waitFor('the ferrymq member to hold all 8 queues', () => (cliQueues(cliErr) || []).length === 8, 15000);
  const cliId = (/client id (\S+)/.exec(cliErr) || [])[1];

  const deliveries = new Map(); /* i -> [who:queueId, ...] */
  const note = (i, who) => {
    if (!deliveries.has(i)) deliveries.set(i, []);
    deliveries.get(i).push(who);
  };
  const consumer = new Consumer(Object.assign(clientOptions(addr.nameSrv), {
    consumerGroup: MGROUP, rebalanceInterval: 1000, persistConsumerOffsetInterval: 500,
  }));
  consumer.on('error', err => {
    if (!/%RETRY%/.test(err.message)) console.log('consumer error:', err.message);
  });
  consumer.subscribe(MTOPIC, '*', async msg => {
    note(Number(msg.body.toString().slice(2)), `alions:${msg.queueId}`);
  });
  await consumer.ready();
  const aliId = consumer._mqClient.clientId;
  const aliQueues = () => [...consumer.processQueueTable.values()]
    .map(pq => pq.messageQueue).filter(mq => mq.topic === MTOPIC).map(mq => mq.queueId).sort((a, b) => a - b);
  await waitFor('the two members to settle on 4 queues each',
    () => (cliQueues(cliErr) || []).length === 4 && aliQueues().length === 4, 20000);

  const ids = [cliId, aliId].sort();
  const firstHalf = [0, 1, 2, 3];
  const secondHalf = [4, 5, 6, 7];
  const wantCli = ids[0] === cliId ? firstHalf : secondHalf;
  const wantAli = ids[0] === aliId ? firstHalf : secondHalf;
  check('ferrymq member holds the queues AllocateMessageQueueAveragely gives it',
    JSON.stringify(cliQueues(cliErr)) === JSON.stringify(wantCli), `${cliId}: ${cliQueues(cliErr)} want ${wantCli}`);
  check('ali-ons member holds the other half', JSON.stringify(aliQueues()) === JSON.stringify(wantAli),
    `${aliId}: ${aliQueues()} want ${wantAli}`);

  for (let i = 0; i < MN; i++) {
    const r = await producer.send(new Message(MTOPIC, 'TagM', `x-${i}`));
    if (r.sendStatus !== 'SEND_OK') throw new Error(`mixed send ${i}: ${r.sendStatus}`);
  }
  const cliSeen = () => {
    for (const line of cliOut.split('\n')) {
      if (!line) continue;
      const o = JSON.parse(line);
      const i = Number(o.body.slice(2));
      const who = `cli:${o.queueId}`;
      if (!(deliveries.get(i) || []).includes(who)) note(i, who);
    }
  };
  await waitFor('all 200 delivered', () => { cliSeen(); return deliveries.size === MN; }, 30000);
  cliSeen();
  check('mixed group delivered each of the 200 once',
    [...deliveries.values()].every(d => d.length === 1), JSON.stringify([...deliveries.entries()].filter(([, d]) => d.length !== 1).slice(0, 4)));
  check('every message by the member holding its queue', [...deliveries.values()].every(d => d.every(w => {
    const [who, q] = w.split(':');
    return (who === 'cli' ? wantCli : wantAli).includes(Number(q));
  })));
  check('both members consumed', [...deliveries.values()].some(d => d[0].startsWith('cli')) &&
    [...deliveries.values()].some(d => d[0].startsWith('alions')));
  await consumer.close();
  cli.kill('SIGTERM');
  const st = await cliExit;
  check('ferrymq member leaves cleanly on SIGTERM', st.code === 0, JSON.stringify(st) + ' ' + cliErr.split('\n').slice(-3).join(' | '));
  await producer.close();
}

async function main() {
  let addr = await startDaemon();
  const producer = await producerWithTopic(addr, 'CompatProducer', TOPIC, 8);

  const sent = await produce(producer, 0, N);
  check('1000 sends acknowledged SEND_OK', sent.length === N && sent.every(r => r.sendStatus === 'SEND_OK'));
  const queues = new Set(sent.map(r => r.messageQueue.queueId));
  check('sends spread over the topic\'s queues', queues.size === 8, `queues used: ${[...queues]}`);

  const seen = new Map();
  const bad = [];
  let consumer = await consume(addr.nameSrv, seen, bad, () => seen.size >= N);
  check('push consumer received all 1000', seen.size === N, `got ${seen.size}`);
  check('body, tags, keys and properties intact', bad.length === 0, bad.slice(0, 5).join('; '));
  check('no duplicates on a clean run', [...seen.values()].every(c => c === 1));

  await consumer.close();
  /* The client commits offsets oneway on close: wait until the broker has all of them. */
  await waitFor('committed offsets to reach 1000', async () => (await committedTotal(producer._mqClient, addr.broker)) === N, 15000);
  await producer.close();

  const stopped = await stopDaemon();
  check('broker exits cleanly on SIGTERM', stopped.code === 0, JSON.stringify(stopped));
  addr = await startDaemon();

  const producer2 = watchErrors(new Producer(Object.assign(clientOptions(addr.nameSrv), { producerGroup: 'CompatProducer' })));
  await producer2.ready();
  const sent2 = await produce(producer2, N, N + N_AFTER);
  check('50 sends after restart acknowledged', sent2.length === N_AFTER && sent2.every(r => r.sendStatus === 'SEND_OK'));

  const seen2 = new Map();
  const bad2 = [];
  const newOnes = () => [...seen2.keys()].filter(i => i >= N).length;
  consumer = await consume(addr.nameSrv, seen2, bad2, () => newOnes() >= N_AFTER);
  const redelivered = [...seen2.keys()].filter(i => i < N).length;
  check('consumer in the same group resumes and receives the 50 new messages', newOnes() === N_AFTER, `got ${newOnes()}`);
  check(`redelivered at most one pull batch (${PULL_BATCH}) of old messages: ${redelivered}`, redelivered <= PULL_BATCH, `redelivered ${redelivered}`);
  check('messages after restart intact', bad2.length === 0, bad2.slice(0, 5).join('; '));
  await consumer.close();
  await producer2.close();
  await filterPhase(addr);
  await resetPhase(addr);
  await mixedPhase(addr);
  await stopDaemon();
}

main()
  .catch(err => {
    counts.failed++;
    console.log('FAIL compat run aborted:', err && err.stack || err);
    showClientLog();
    if (daemon && daemon.exitCode === null) daemon.kill('SIGKILL');
    try { console.log(fs.readFileSync(path.join(dir, 'ferrymqd.log'), 'utf8').split('\n').slice(-30).join('\n')); } catch (e) { /* none */ }
  })
  .finally(() => {
    console.log(`compat: ${counts.passed} passed, ${counts.failed} failed`);
    if (!process.env.FM_KEEP_TEST_DIRS) fs.rmSync(dir, { recursive: true, force: true });
    process.exit(counts.failed ? 1 : 0);
  });
