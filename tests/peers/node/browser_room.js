'use strict';
const USAGE = `Drives the demo page of \`weft serve --broadcast\` in two tabs of headless Chromium, through
playwright-core (both installed by \`cargo xtask peers\`; playwright never downloads a browser
here).

usage: node browser_room.js URL [URL2] --user-data-dir DIR [--chromium PATH] [--timeout MS]

Opens the room's page at URL in one tab and at URL2 (default: URL; another server of the same
room, say) in a second tab of one Chromium with a fresh profile in DIR (which the caller
creates and removes), waits for both WebSockets to open, has each tab say one line, and waits
until each tab shows the other's line from the room (#log .peer) and its own line carried by
the room (#log .sent[data-delivered]). Then both tabs disconnect. Each step may take --timeout
milliseconds (default 20000). Prints one JSON line:
  {"ok": ..., "mode": ..., "extensions": [...], "heard": [...], "delivered": [...],
   "closed": [...], "logs": [[...], [...]], "error": ...}
where mode is the page's data-mode ("room"), heard[i] is what tab i showed from the other
tab, delivered[i] whether its own line was ticked, closed[i] its final state. Exit 0 only if
both tabs heard each other.`;

const peer = require('./peer');
const { chromium } = peer.requirePeer('playwright-core');

const options = peer.parseArgs(
  process.argv.slice(2),
  { userDataDir: '', chromium: '/usr/bin/chromium', timeout: '20000' },
  USAGE,
);
if (options._.length < 1 || options._.length > 2 || !options.userDataDir) {
  console.error(USAGE);
  process.exit(2);
}
const urls = [options._[0], options._[1] || options._[0]];
const timeout = Number(options.timeout);

/** What each tab says: the second with non-ASCII characters. */
const LINES = ['hello from the first tab', 'and from the second: ünïcödé ✓ 日本語 🎉'];

async function main() {
  const result = {
    ok: false, mode: null, extensions: [], heard: [null, null], delivered: [false, false],
    closed: [null, null], logs: [[], []], error: null,
  };
  let context = null;
  const pages = [];
  try {
    context = await peer.launchChromium(chromium, options, timeout);
    pages.push(context.pages()[0] || (await context.newPage()));
    pages.push(await context.newPage());
    for (const [i, page] of pages.entries()) {
      page.setDefaultTimeout(timeout);
      await page.goto(urls[i]);
      await page.waitForSelector('#state.open');
      result.extensions.push(await page.getAttribute('#state', 'data-extensions'));
    }
    result.mode = await pages[0].evaluate(() => document.body.dataset.mode);
    // Both tabs are in the room before either says anything.
    for (const [i, page] of pages.entries()) {
      await page.fill('#text', LINES[i]);
      await page.press('#text', 'Enter');
    }
    for (const [i, page] of pages.entries()) {
      const other = LINES[1 - i];
      await page.waitForFunction(
        (text) => [...document.querySelectorAll('#log .peer')].some((entry) => entry.textContent === text),
        other,
      );
      result.heard[i] = other;
      await page.waitForSelector('#log .sent[data-delivered="yes"]');
      result.delivered[i] = true;
    }
    for (const [i, page] of pages.entries()) {
      await page.click('#toggle');
      await page.waitForSelector('#state.closed');
      result.closed[i] = await page.textContent('#state');
    }
    result.ok = result.heard.every((line, i) => line === LINES[1 - i]) && result.delivered.every(Boolean);
  } catch (err) {
    result.error = err.message.split('\n')[0];
  }
  for (const [i, page] of pages.entries()) result.logs[i] = await peer.pageLog(page);
  if (context) await context.close().catch(() => {});
  console.log(JSON.stringify(result));
  return result.ok ? 0 : 1;
}

peer.run('browser_room', main);
