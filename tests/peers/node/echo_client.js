'use strict';
const USAGE = `Client on Node \`ws\`: a reference peer for weft's interop tests and for
\`cargo xtask autobahn --client-cmd\` (ws is installed by \`cargo xtask peers\`).

usage: node echo_client.js URL [--mode echo|await-close|autobahn] [--compression on|off]
                           [--agent NAME] [--messages N] [--size BYTES[,BYTES...]]
                           [--binary pattern|random] [--fragment-size BYTES] [--close-code CODE] [--close-reason TEXT]
                           [--max-size BYTES] [--max-fragments N]
                           [--server-no-context-takeover] [--client-no-context-takeover]
                           [--server-max-window-bits BITS] [--client-max-window-bits BITS]

--mode echo (default): connect to URL (an echo server); for each SIZE, send N text messages
  (UTF-8 with non-ASCII characters) and N binary messages of exactly SIZE bytes, each in frames
  of at most --fragment-size bytes if given; check that each comes back unchanged and with the
  same type (--binary random: binary messages of random bytes, which DEFLATE makes larger);
  close with --close-code (default 1000) and --close-reason; print one JSON line:
  {"ok": ..., "messages": ..., "close_code": ..., "close_reason": ..., "extensions": [...],
  "extensions_header": ..., "error": ...}, where close_code and close_reason are from the
  server's close frame, extensions_header is the Sec-WebSocket-Extensions header of the
  server's response (or null) and error is what the library reported (or null; a refused
  handshake, for instance). Exit 0 only if every echo matched and the server answered the
  close.
--mode await-close: the same echoes, then wait for the server to close the connection, answer
  its close and print the same JSON line; ok if the server closed with a close frame.
--mode autobahn: drive wstest's fuzzingserver at URL: GET /getCaseCount, then
  /runCase?case=I&agent=NAME for I in 1..count (echoing every message until the server closes;
  a failing case does not stop the loop), then /updateReports?agent=NAME.
Limits default to what Autobahn needs: 32 MiB messages, 2^20 fragments per message.
permessage-deflate parameters (--server-no-context-takeover and the others) replace ws's
default offer with perMessageDeflate: {those parameters}. --close-code 1005 sends a close frame
without a code.`;

const peer = require('./peer');
const WebSocket = peer.requirePeer('ws');

const options = peer.parseArgs(
  process.argv.slice(2),
  { ...peer.COMMON_DEFAULTS, mode: 'echo', agent: 'ws', messages: '10', size: '1000', binary: 'pattern' },
  USAGE,
);
if (
  options._.length !== 1 ||
  !['echo', 'await-close', 'autobahn'].includes(options.mode) ||
  !['pattern', 'random'].includes(options.binary)
) {
  console.error(USAGE);
  process.exit(2);
}
const base = options._[0].replace(/\/$/, '');
const wsOptions = {
  perMessageDeflate: peer.perMessageDeflate(options),
  maxPayload: Number(options.maxSize),
  maxFragments: Number(options.maxFragments),
};

/** Opens `url`; resolves with the socket and the response's extensions header once open. */
function open(url) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, wsOptions);
    let header = null;
    ws.once('upgrade', (response) => (header = response.headers['sec-websocket-extensions'] ?? null));
    ws.once('open', () => resolve({ ws, header }));
    ws.once('error', reject);
  });
}

async function echoMode() {
  const result = { ok: false, messages: 0, close_code: null, close_reason: null, extensions: [], extensions_header: null, error: null };
  let ws;
  try {
    let header;
    ({ ws, header } = await open(base));
    result.extensions_header = header;
  } catch (err) {
    result.error = err.message;
    console.log(JSON.stringify(result));
    return 1;
  }
  result.extensions = ws.extensions ? ws.extensions.split(',').map((e) => e.split(';')[0].trim()) : [];
  const received = [];
  let wake = null;
  ws.on('message', (data, isBinary) => {
    received.push({ data, isBinary });
    if (wake) wake();
  });
  ws.once('error', (err) => (result.error = err.message));
  const closed = new Promise((resolve) =>
    ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })),
  );
  const next = () =>
    received.length ? Promise.resolve(received.shift()) : new Promise((resolve) => (wake = () => { wake = null; resolve(received.shift()); }));
  let ok = true;
  outer: for (const size of peer.sizes(options.size)) {
    for (let i = 0; i < Number(options.messages); i++) {
      const bytes = peer.binary(i, size, options.binary);
      for (const [message, binary] of [[peer.text(i, size), false], [bytes, true]]) {
        peer.send(ws, message, binary, Number(options.fragmentSize));
        result.messages++;
        const echo = await Promise.race([next(), closed.then(() => null)]);
        if (!echo) {
          ok = false;
          break outer;
        }
        const same = binary ? Buffer.compare(echo.data, message) === 0 : echo.data.toString() === message;
        if (echo.isBinary !== binary || !same) ok = false;
      }
    }
  }
  if (options.mode === 'echo') {
    peer.close(ws, options);
  } else {
    // Anything but the server's close is unexpected here.
    ws.on('message', () => (ok = false));
  }
  const { code, reason } = await closed;
  // ws reports 1005 for a close frame without a code and 1006 when there was no close frame.
  if (code !== 1006) {
    result.close_code = code;
    result.close_reason = reason;
  }
  result.ok = ok && result.close_code !== null && result.error === null;
  console.log(JSON.stringify(result));
  return result.ok ? 0 : 1;
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
