'use strict';
const USAGE = `Echo server on Node \`ws\`: a reference peer for weft's interop tests and for
\`cargo xtask autobahn --server-cmd\` (ws is installed by \`cargo xtask peers\`).

usage: node echo_server.js [ADDR] [--compression on|off] [--max-size BYTES] [--max-fragments N]

ADDR is PORT or HOST:PORT (default 127.0.0.1:0, an ephemeral port). Once listening, prints one
line \`listening on ws://HOST:PORT\` (with the real port) and serves until SIGTERM/SIGINT. Every
text or binary message is sent back unchanged with the same type; pings, closes and
permessage-deflate are ws's own behaviour (compression is off unless --compression on, which
is the default here, as for the Python peer). Limits default to what Autobahn needs: messages
up to 32 MiB (9.1.6 and 9.2.6 send 16 MiB) and 2^20 fragments per message (ws's own default of
16,384 fails 9.3.1, 9.3.2, 9.4.1 and 9.4.2 with close 1008).`;

const { requirePeer, parseArgs, onOff, address } = require('./peer');
const { WebSocketServer } = requirePeer('ws');

const options = parseArgs(process.argv.slice(2), { compression: 'on', maxSize: String(32 << 20), maxFragments: String(1 << 20) }, USAGE);
const { host, port } = address(options._[0] || '127.0.0.1:0');

const server = new WebSocketServer({
  host,
  port,
  perMessageDeflate: onOff(options.compression, 'compression'),
  maxPayload: Number(options.maxSize),
  maxFragments: Number(options.maxFragments),
});
server.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  ws.on('error', () => {}); // ws closes the connection itself with the right code
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
