// The fan-out server of `cargo xtask bench --fanout` on Bun, whose WebSocket server is
// uWebSockets: clients connected to /sub subscribe to the topic "bench", and every message a
// client sends to /pub goes to all of them with `server.publish` (uWebSockets' topics: the
// frame is encoded once and written to each subscriber).
//
//   bun benches/bun/fanout.js 127.0.0.1:9201
//
// Like weft's fanout_server: the listen address is the first argument (port 0 picks one),
// `listening on ADDR` is printed once bound, no permessage-deflate, and Bun runs JavaScript on
// one thread.
const [host, port] = (process.argv[2] || '127.0.0.1:9201').split(':');

const server = Bun.serve({
  hostname: host,
  port: Number(port),
  fetch(request, server) {
    const path = new URL(request.url).pathname;
    if (server.upgrade(request, { data: { publisher: path === '/pub' } })) {
      return undefined;
    }
    return new Response('WebSocket only\n', { status: 426 });
  },
  websocket: {
    perMessageDeflate: false,
    maxPayloadLength: 64 * 1024 * 1024,
    // As much as a weft subscriber may have queued (4 MiB) plus its write buffer: beyond it,
    // uWebSockets drops messages for that subscriber, as weft's Drop policy does.
    backpressureLimit: 4 * 1024 * 1024 + 128 * 1024,
    idleTimeout: 0,
    open(ws) {
      if (!ws.data.publisher) ws.subscribe('bench');
    },
    message(ws, message) {
      if (ws.data.publisher) server.publish('bench', message);
    },
  },
});

console.log(`listening on ${server.hostname}:${server.port}`);
