'use strict';
/*
 * harness.js - what the compat scripts share: pass/fail counting, bounded waits, and a quiet
 * logger for ali-ons. ali-ons logs its expected complaints (a route lookup for %RETRY%<group>
 * made before the first heartbeat creates it, route refreshes) with stack traces; a passing
 * run stays quiet, so the client's log is kept here and shown only with a failure.
 */
const util = require('util');

const counts = { passed: 0, failed: 0 };
const clientLog = [];

function keep(level) {
  return (...args) => {
    clientLog.push(`[${level}] ${util.format(...args)}`);
    if (clientLog.length > 200) clientLog.shift();
  };
}

const quietLogger = { debug: keep('debug'), info: keep('info'), warn: keep('warn'), error: keep('error') };

function showClientLog() {
  console.log('--- last ali-ons log lines:');
  console.log(clientLog.slice(-40).join('\n'));
}

function check(name, ok, detail) {
  if (ok) {
    counts.passed++;
    console.log(`ok   ${name}`);
  } else {
    counts.failed++;
    console.log(`FAIL ${name}${detail ? ': ' + detail : ''}`);
    showClientLog();
  }
}

/* Poll fn until it returns something truthy (returned), backing off 5 ms .. 100 ms; throws
 * after timeoutMs. */
async function waitFor(what, fn, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  let delay = 5;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise(r => setTimeout(r, delay));
    delay = Math.min(delay * 2, 100);
  }
}

module.exports = { counts, keep, quietLogger, showClientLog, check, waitFor };
