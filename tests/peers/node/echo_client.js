'use strict';
const USAGE = `Client on Node \`ws\`: a reference peer for weft's interop tests and for
\`cargo xtask autobahn --client-cmd\` (ws is installed by \`cargo xtask peers\`).

usage: node echo_client.js URL [--mode echo|autobahn] [--compression on|off] [--agent NAME]
                           [--messages N] [--size BYTES] [--max-size BYTES] [--max-fragments N]

--mode echo (default): connect to URL (an echo server), send N text and N binary messages of
  SIZE bytes with known content, check that each comes back unchanged and with the same type,
  close with 1000, and print one JSON line: {"ok": ..., "messages": ..., "close_code": ...,
  "extensions": ...}. Exit 0 only if every echo matched and the close was clean.
--mode autobahn: drive wstest's fuzzingserver at URL: GET /getCaseCount, then
  /runCase?case=I&agent=NAME for I in 1..count (echoing every message until the server closes;
  a failing case does not stop the loop), then /updateReports?agent=NAME.
Limits default to what Autobahn needs: 32 MiB messages, 2^20 fragments per message.`;

const { requirePeer, parseArgs, onOff } = require('./peer');
const WebSocket = requirePeer('ws');

const options = parseArgs(
  process.argv.slice(2),
  { mode: 'echo', compression: 'on', agent: 'ws', messages: '10', size: '1000', maxSize: String(32 << 20), maxFragments: String(1 << 20) },
  USAGE,
);
if (options._.length !== 1) {
  console.error(USAGE);
  process.exit(2);
}
const base = options._[0].replace(/\/$/, '');
const wsOptions = {
  perMessageDeflate: onOff(options.compression, 'compression'),
  maxPayload: Number(options.maxSize),
  maxFragments: Number(options.maxFragments),
};

/** Deterministic, somewhat compressible ASCII content. */
function payload(i, size) {
  const pattern = `weft interop message ${i}: the quick brown fox jumps over the lazy dog. `;
  return pattern.repeat(Math.ceil(size / pattern.length) + 1).slice(0, size);
}

/** Opens `url`; resolves with the socket once open. */
function open(url) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, wsOptions);
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

async function echoMode() {
  const ws = await open(base);
  const extensions = ws.extensions ? ws.extensions.split(',').map((e) => e.split(';')[0].trim()) : [];
  const received = [];
  let wake = null;
  ws.on('message', (data, isBinary) => {
    received.push({ data, isBinary });
    if (wake) wake();
  });
  const closed = new Promise((resolve) => ws.once('close', (code) => resolve(code)));
  const next = () =>
    received.length ? Promise.resolve(received.shift()) : new Promise((resolve) => (wake = () => { wake = null; resolve(received.shift()); }));
  let ok = true;
  let sent = 0;
  for (let i = 0; i < Number(options.messages); i++) {
    const text = payload(i, Number(options.size));
    for (const [message, binary] of [[text, false], [Buffer.from(text), true]]) {
      ws.send(message, { binary });
      sent++;
      const echo = await Promise.race([next(), closed.then(() => null)]);
      if (!echo || echo.isBinary !== binary || echo.data.toString() !== text) ok = false;
    }
  }
  ws.close(1000);
  const closeCode = await closed;
  ok = ok && closeCode === 1000;
  console.log(JSON.stringify({ ok, messages: sent, close_code: closeCode, extensions }));
  return ok ? 0 : 1;
}

/** Runs one fuzzingserver case: echo everything until the server closes. */
function runCase(url) {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, wsOptions);
    ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
    ws.on('error', (err) => console.log(`${url}: ${err.message}`));
    ws.on('close', resolve);
  });
}

async function autobahnMode() {
  const count = await new Promise((resolve, reject) => {
    const ws = new WebSocket(`${base}/getCaseCount`, wsOptions);
    ws.once('message', (data) => resolve(JSON.parse(data.toString())));
    ws.once('error', reject);
  });
  console.log(`${count} cases`);
  for (let i = 1; i <= count; i++) {
    await runCase(`${base}/runCase?case=${i}&agent=${encodeURIComponent(options.agent)}`);
  }
  await runCase(`${base}/updateReports?agent=${encodeURIComponent(options.agent)}`);
  console.log('reports updated');
  return 0;
}

(options.mode === 'autobahn' ? autobahnMode() : echoMode()).then(
  (code) => process.exit(code),
  (err) => {
    console.error(`echo_client: ${err.message}`);
    process.exit(1);
  },
);
