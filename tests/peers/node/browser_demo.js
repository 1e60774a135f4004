'use strict';
const USAGE = `Drives the demo page of \`weft serve\` in headless Chromium, through playwright-core (both
installed by \`cargo xtask peers\`; playwright never downloads a browser here).

usage: node browser_demo.js URL --user-data-dir DIR [--chromium PATH] [--timeout MS]
                               [--ignore-https-errors]

Opens URL (the demo page, e.g. http://127.0.0.1:PORT/) in Chromium (default /usr/bin/chromium)
with a fresh profile in DIR (which the caller creates and removes), waits for the page's
WebSocket to open, sends a text message with non-ASCII characters and waits for its echo,
clicks "Send 1 MiB binary" and waits for the page's verdict on the echo, then clicks
"Disconnect" and waits for the close. Each step may take --timeout milliseconds (default
20000). --ignore-https-errors accepts the server's certificate whoever signed it (a test
certificate). Prints one JSON line:
  {"ok": ..., "page_protocol": ..., "extensions": ..., "text_echoed": ..., "binary_echo": ...,
   "closed": ..., "log": [...], "error": ...}
where page_protocol is the ALPN protocol the page was loaded over ("h2", "http/1.1"),
extensions is the page's WebSocket.extensions, binary_echo is "identical" or "different",
closed is the page's final state text and log is the page's log. Exit 0 only if every step
succeeded and the binary message came back identical.`;

const peer = require('./peer');
const { chromium } = peer.requirePeer('playwright-core');

const options = peer.parseArgs(
  process.argv.slice(2),
  { userDataDir: '', chromium: '/usr/bin/chromium', timeout: '20000', ignoreHttpsErrors: false },
  USAGE,
);
if (options._.length !== 1 || !options.userDataDir) {
  console.error(USAGE);
  process.exit(2);
}
const url = options._[0];
const timeout = Number(options.timeout);

/** The message typed into the page. */
const TEXT = 'hello from Chromium: ünïcödé ✓ 日本語 🎉';

async function main() {
  const result = { ok: false, page_protocol: null, extensions: null, text_echoed: false, binary_echo: null, closed: null, log: [], error: null };
  let context = null;
  let page = null;
  try {
    context = await peer.launchChromium(chromium, options, timeout);
    page = context.pages()[0] || (await context.newPage());
    page.setDefaultTimeout(timeout);
    await page.goto(url);
    await page.waitForSelector('#state.open');
    result.page_protocol = await page.evaluate(
      () => performance.getEntriesByType('navigation')[0].nextHopProtocol,
    );
    result.extensions = await page.getAttribute('#state', 'data-extensions');

    await page.fill('#text', TEXT);
    await page.press('#text', 'Enter');
    await page.waitForFunction(
      (text) => [...document.querySelectorAll('#log .echo')].some((entry) => entry.textContent === text),
      TEXT,
    );
    result.text_echoed = true;

    await page.click('#big');
    const verdict = await page.waitForSelector('#log [data-binary-echo]');
    result.binary_echo = await verdict.getAttribute('data-binary-echo');

    await page.click('#toggle');
    await page.waitForSelector('#state.closed');
    result.closed = await page.textContent('#state');
    result.ok = result.binary_echo === 'identical';
  } catch (err) {
    result.error = err.message.split('\n')[0];
  }
  if (page) result.log = await peer.pageLog(page);
  if (context) await context.close().catch(() => {});
  console.log(JSON.stringify(result));
  return result.ok ? 0 : 1;
}

peer.run('browser_demo', main);
