// The echo server of `cargo xtask bench --compare` on Bun, whose WebSocket server is
// uWebSockets: every text and binary message is sent back, with `ws.send` as Bun's
// documentation shows it.
//
//   bun benches/bun/echo.js 127.0.0.1:9107 [--deflate]
//
// Like the other echo servers: the listen address is the first argument (port 0 picks one),
// `listening on ADDR` is printed once bound, a 64 MiB message limit, no idle timeout, and Bun
// runs JavaScript on one thread. `--deflate` turns on `perMessageDeflate` (Bun's default
// settings: uWebSockets' shared compressor and decompressor, so no context takeover) and asks
// `send` to compress each echo, which Bun does only when asked; without it, no compression is
// agreed.
const [host, port] = (process.argv[2] || '127.0.0.1:9107').split(':');
const deflate = process.argv.includes('--deflate');

const server = Bun.serve({
  hostname: host,
  port: Number(port),
  fetch(request, server) {
    if (server.upgrade(request)) {
      return undefined;
    }
    return new Response('WebSocket only\n', { status: 426 });
  },
  websocket: {
    perMessageDeflate: deflate,
    maxPayloadLength: 64 * 1024 * 1024,
    idleTimeout: 0,
    message(ws, message) {
      ws.send(message, deflate);
    },
  },
});

console.log(`listening on ${server.hostname}:${server.port}`);
