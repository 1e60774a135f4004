'use strict';
const USAGE = `Echo server on Node \`ws\`: a reference peer for weft's interop tests and for
\`cargo xtask autobahn --server-cmd\` (ws is installed by \`cargo xtask peers\`).

usage: node echo_server.js [ADDR] [--compression on|off] [--max-size BYTES] [--max-fragments N]
                           [--fragment-size BYTES] [--close-after N] [--close-code CODE]
                           [--close-reason TEXT] [--report]
                           [--server-no-context-takeover] [--client-no-context-takeover]
                           [--server-max-window-bits BITS] [--client-max-window-bits BITS]

ADDR is PORT or HOST:PORT (default 127.0.0.1:0, an ephemeral port). Once listening, prints one
line \`listening on ws://HOST:PORT\` (with the real port) and serves until SIGTERM/SIGINT. Every
text or binary message is sent back unchanged with the same type, in frames of at most
--fragment-size bytes if given; pings, closes and permessage-deflate are ws's own behaviour
(compression is off unless --compression on, which is the default here, as for the Python
peer). With --close-after N, the server closes each connection with --close-code (default
1000) and --close-reason after echoing N messages. With --report, it prints one JSON line per
connection once it has closed: {"messages": ..., "close_code": ..., "close_reason": ...,
"extensions_header": ..., "extensions_offer": ...}, with the close code and reason the client
sent (1005: none, 1006: no close frame) and the Sec-WebSocket-Extensions headers of the
server's response and of the client's request (or null).
Limits default to what Autobahn needs: messages up to 32 MiB (9.1.6 and 9.2.6 send 16 MiB) and
2^20 fragments per message (ws's own default of 16,384 fails 9.3.1, 9.3.2, 9.4.1 and 9.4.2 with
close 1008). permessage-deflate parameters (--server-no-context-takeover and the others) replace
ws's defaults with perMessageDeflate: {those parameters}. --close-code 1005 sends a close frame
without a code.`;

const peer = require('./peer');
const { WebSocketServer } = peer.requirePeer('ws');

const options = peer.parseArgs(process.argv.slice(2), { ...peer.COMMON_DEFAULTS, closeAfter: '', report: false }, USAGE);
const { host, port } = peer.address(options._[0] || '127.0.0.1:0');
const closeAfter = options.closeAfter === '' ? null : Number(options.closeAfter);
const fragmentSize = Number(options.fragmentSize);

const server = new WebSocketServer({
  host,
  port,
  perMessageDeflate: peer.perMessageDeflate(options),
  maxPayload: Number(options.maxSize),
  maxFragments: Number(options.maxFragments),
});
// The response headers of each upgrade, by request, for --report.
const responses = new WeakMap();
server.on('headers', (headers, request) => responses.set(request, headers));
server.on('connection', (ws, request) => {
  let messages = 0;
  const close = () => peer.close(ws, options);
  ws.on('message', (data, isBinary) => {
    if (closeAfter !== null && messages >= closeAfter) return;
    peer.send(ws, data, isBinary, fragmentSize);
    if (++messages === closeAfter) close();
  });
  if (closeAfter === 0) close();
  ws.on('error', () => {}); // ws closes the connection itself with the right code
  ws.on('close', (code, reason) => {
    if (!options.report) return;
    const prefix = 'sec-websocket-extensions:';
    const line = (responses.get(request) || []).find((h) => h.toLowerCase().startsWith(prefix));
    console.log(
      JSON.stringify({
        messages,
        close_code: code,
        close_reason: reason.toString(),
        extensions_header: line ? line.slice(prefix.length).trim() : null,
        extensions_offer: request.headers['sec-websocket-extensions'] ?? null,
      }),
    );
  });
});
server.on('listening', () => {
  const bound = server.address();
  console.log(`listening on ws://${bound.address}:${bound.port}`);
});
server.on('error', (err) => {
  console.error(`echo_server: ${err.message}`);
  process.exit(1);
});
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => server.close(() => process.exit(0)));
}
