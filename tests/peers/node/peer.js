'use strict';
// Shared by the Node peers: loading `ws` from the install of `cargo xtask peers`, the
// command-line conventions shared with the Python peers (tests/peers/README.md), and the same
// message content as the Python peers (python/peer_messages.py).

const path = require('path');

/** `require(name)` from target/peers/node/node_modules (or $WEFT_PEERS_NODE_MODULES). */
function requirePeer(name) {
  const modules =
    process.env.WEFT_PEERS_NODE_MODULES ||
    path.join(__dirname, '..', '..', '..', 'target', 'peers', 'node', 'node_modules');
  try {
    return require(require.resolve(name, { paths: [modules] }));
  } catch (err) {
    console.error(`cannot load ${name} from ${modules}: run \`cargo xtask peers\` first (${err.message})`);
    process.exit(2);
  }
}

/**
 * A tiny parser for `--flag value` options with defaults; positional arguments are returned in
 * `_`. An option whose default is a boolean is a flag without a value. Unknown flags are an
 * error, so a typo does not silently change a test.
 */
function parseArgs(argv, defaults, usage) {
  const options = { ...defaults, _: [] };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '-h' || arg === '--help') {
      console.log(usage);
      process.exit(0);
    }
    if (!arg.startsWith('--')) {
      options._.push(arg);
      continue;
    }
    const key = arg.slice(2).replace(/-([a-z])/g, (_, c) => c.toUpperCase());
    if (typeof defaults[key] === 'boolean') {
      options[key] = true;
      continue;
    }
    if (!(key in defaults) || i + 1 >= argv.length) {
      console.error(`bad option ${arg}\n${usage}`);
      process.exit(2);
    }
    options[key] = argv[++i];
  }
  return options;
}

/** `on`/`off` -> boolean. */
function onOff(text, name) {
  if (text !== 'on' && text !== 'off') {
    console.error(`--${name}: expected on or off, got ${text}`);
    process.exit(2);
  }
  return text === 'on';
}

/** `PORT` or `HOST:PORT` -> { host, port }; the host defaults to loopback. */
function address(text) {
  const at = text.lastIndexOf(':');
  const host = at < 0 ? '127.0.0.1' : text.slice(0, at).replace(/^\[|\]$/g, '') || '127.0.0.1';
  const port = Number(at < 0 ? text : text.slice(at + 1));
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    console.error(`expected PORT or HOST:PORT, got ${text}`);
    process.exit(2);
  }
  return { host, port };
}

/** `SIZE[,SIZE...]` -> [Number, ...]. */
function sizes(text) {
  const values = String(text).split(',').map(Number);
  if (!values.every((value) => Number.isInteger(value) && value >= 0)) {
    console.error(`--size: expected SIZE[,SIZE...] in bytes, got ${text}`);
    process.exit(2);
  }
  return values;
}

/** Defaults of the options every peer takes, for `parseArgs`. */
const COMMON_DEFAULTS = {
  compression: 'on',
  maxSize: String(32 << 20),
  maxFragments: String(1 << 20),
  fragmentSize: '0',
  closeCode: '1000',
  closeReason: '',
  serverNoContextTakeover: false,
  clientNoContextTakeover: false,
  serverMaxWindowBits: '',
  clientMaxWindowBits: '',
};

/**
 * ws's `perMessageDeflate` option: false, true (ws's defaults), or an object with exactly the
 * permessage-deflate parameters given on the command line (RFC 7692 section 7.1).
 */
function perMessageDeflate(options) {
  if (!onOff(options.compression, 'compression')) return false;
  const parameters = {};
  if (options.serverNoContextTakeover) parameters.serverNoContextTakeover = true;
  if (options.clientNoContextTakeover) parameters.clientNoContextTakeover = true;
  for (const key of ['serverMaxWindowBits', 'clientMaxWindowBits']) {
    if (options[key] === '') continue;
    const bits = Number(options[key]);
    if (!Number.isInteger(bits) || bits < 8 || bits > 15) {
      console.error(`--${key}: expected window bits from 8 to 15, got ${options[key]}`);
      process.exit(2);
    }
    parameters[key] = bits;
  }
  return Object.keys(parameters).length ? parameters : true;
}

/** Deterministic text with one-, two-, three- and four-byte UTF-8 sequences. */
const TEXT_PATTERN = (i) => `weft interop ${i}: ünïcödé ✓ — 日本語 🎉 the quick brown fox jumps over the lazy dog. `;

/** Exactly `size` bytes of valid UTF-8 with non-ASCII characters, as a string. */
function text(i, size) {
  const unit = Buffer.from(TEXT_PATTERN(i));
  let data = Buffer.alloc(size);
  for (let at = 0; at < size; at += unit.length) unit.copy(data, at, 0, Math.min(unit.length, size - at));
  // Cutting may leave an incomplete character at the end: drop it and pad with ASCII.
  let start = size;
  while (start > 0 && (data[start - 1] & 0xc0) === 0x80) start--;
  if (start > 0 && data[start - 1] >= 0xc0) {
    const lead = data[start - 1];
    const length = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : 2;
    if (size - (start - 1) < length) data.fill(0x2e, start - 1);
  }
  return data.toString('utf8');
}

/** Closes `ws` with --close-code and --close-reason; 1005 sends a close frame without a code. */
function close(ws, options) {
  if (Number(options.closeCode) === 1005) ws.close();
  else ws.close(Number(options.closeCode), options.closeReason);
}

/**
 * Exactly `size` bytes: every byte value in a repeating pattern (compresses well), or
 * `random` bytes, which DEFLATE cannot shrink and makes slightly larger.
 */
function binary(i, size, content = 'pattern') {
  if (content === 'random') return require('crypto').randomBytes(size);
  const data = Buffer.alloc(size);
  for (let at = 0; at < size; at++) data[at] = (i + at) % 256;
  return data;
}

/**
 * Sends `data` (a string or a Buffer) as one message of the given type, whole or in frames of
 * at most `fragmentSize` bytes. Text is cut by bytes, so a piece may end inside a character
 * (the receiver must accept it; only the whole message has to be valid UTF-8).
 */
function send(ws, data, binaryType, fragmentSize) {
  if (!fragmentSize) {
    ws.send(data, { binary: binaryType });
    return;
  }
  const bytes = Buffer.isBuffer(data) ? data : Buffer.from(data);
  for (let at = 0; ; at += fragmentSize) {
    const end = Math.min(at + fragmentSize, bytes.length);
    ws.send(bytes.subarray(at, end), { binary: binaryType, fin: end === bytes.length });
    if (end === bytes.length) break;
  }
}

/**
 * Debian's Chromium, headless, through playwright-core's `chromium`, with a fresh profile in
 * `options.userDataDir` (a persistent context is the way to choose the profile directory:
 * playwright refuses --user-data-dir among the arguments); `options.chromium` is its path.
 */
function launchChromium(chromium, options, timeout) {
  return chromium.launchPersistentContext(options.userDataDir, {
    executablePath: options.chromium,
    headless: true,
    timeout,
    ignoreHTTPSErrors: Boolean(options.ignoreHttpsErrors),
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

/** The demo page's log, one `class: text` string per entry (empty if the page is gone). */
function pageLog(page) {
  return page
    .$$eval('#log > div', (entries) => entries.map((entry) => `${entry.className}: ${entry.textContent}`))
    .catch(() => []);
}

/** Runs `main` (which resolves to the exit status) and exits with it; a throw exits with 1. */
function run(name, main) {
  main().then(
    (code) => process.exit(code),
    (err) => {
      console.error(`${name}: ${err.message}`);
      process.exit(1);
    },
  );
}

module.exports = {
  requirePeer, parseArgs, onOff, address, sizes, COMMON_DEFAULTS, perMessageDeflate, close, text,
  binary, send, launchChromium, pageLog, run,
};
