'use strict';
// Shared by the Node peers: loading `ws` from the install of `cargo xtask peers`, and the
// command-line conventions shared with the Python peers (tests/peers/README.md).

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
 * `_`. Unknown flags are an error, so a typo does not silently change a test.
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

module.exports = { requirePeer, parseArgs, onOff, address };
