// The status page (GET /) in real headless Chromium, against a running tcpnetlock_server.
//
//   node status_page.test.mjs --tcp PORT --http PORT [--admin-token TOKEN] [--screenshot-dir DIR]
//
// Without --admin-token (server started without --admin-token-file): a lock taken over TCP
// appears on the page with its holder, reason, kind and waiter; a forced release from the
// page sends the holder "lost,released by admin" and hands the lock to the waiter; the
// "disconnected" banner comes and goes; a screenshot is written.
// It also plays the other sites a browser visits (server without a token): a page of another
// origin POSTs text/plain with fetch(mode: 'no-cors') (the request any web page can send), a
// page on a name rebound to 127.0.0.1 tries the API as its own origin; no lock is created.
// With --admin-token (server started with --admin-token-file): without the token the page
// shows the locks but no ids, and asks for the token to release; a wrong token is reported;
// with the right one typed in, the ids appear and releasing succeeds.
// With --layout (server started with --lock-delay and --start-grace 0): connection holds
// (one fenced), a semaphore with 2 holders, a detached lock, a lock-delay and names with no
// spaces; the counters agree with .stats and /metrics; tokens only on fenced rows (as
// `fenced` in the list); filter and sort; at 1280 px and 420 px (a card per row), no page
// overflows sideways and no name breaks mid-word; screenshots of both.
//
// tests/scripts/status_page_browser.sh starts the server and runs this. Exits non-zero on
// the first failure. Every wait is bounded (WAIT_MS); nothing sleeps for a fixed time.
import { chromium } from 'playwright-core';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import os from 'node:os';
import { parseArgs } from 'node:util';

const WAIT_MS = 10_000;
const { values: opt } = parseArgs({
  options: {
    tcp: { type: 'string' },
    http: { type: 'string' },
    'admin-token': { type: 'string' },
    layout: { type: 'boolean', default: false },
    'screenshot-dir': { type: 'string' },
    chromium: { type: 'string', default: process.env.TNL_CHROMIUM || '/usr/bin/chromium' },
  },
});
if (!opt.tcp || !opt.http) {
  console.error('usage: node status_page.test.mjs --tcp PORT --http PORT [--admin-token TOKEN] [--screenshot-dir DIR]');
  process.exit(2);
}
const HOST = '127.0.0.1';
const REBOUND = 'rebound.attacker.test';
const tcpPort = Number(opt.tcp);
const base = `http://${HOST}:${opt.http}/`;
const shotDir = opt['screenshot-dir'] || process.env.TNL_SCREENSHOT_DIR || os.tmpdir();
const authMode = opt['admin-token'] !== undefined;
const layoutMode = opt.layout;

const step = (msg) => console.log(`[status-page${authMode ? ' auth' : layoutMode ? ' layout' : ''}] ${msg}`);
class TestFailure extends Error {}
const fail = (msg) => { throw new TestFailure(msg); };

/** Polls `probe` (async, returns a value or throws) until `ok(value)`; fails after WAIT_MS. */
async function until(what, probe, ok = (v) => !!v, timeout = WAIT_MS) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      last = await probe();
      if (ok(last)) return last;
    } catch (e) {
      last = `(error: ${e.message})`;
    }
    if (Date.now() > deadline) fail(`timed out after ${timeout} ms waiting for ${what}; last value: ${JSON.stringify(last)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A line-protocol connection: send lines, read answer lines, see when the server closes it. */
class LineClient {
  constructor(label) {
    this.label = label;
    this.lines = [];
    this.waiters = [];
    this.buf = '';
    this.closed = false;
  }
  connect() {
    return new Promise((resolve, reject) => {
      this.sock = net.connect({ host: HOST, port: tcpPort }, resolve);
      this.sock.setEncoding('utf8');
      this.sock.once('error', reject);
      this.sock.on('error', () => {});
      this.sock.on('data', (d) => {
        this.buf += d;
        let i;
        while ((i = this.buf.indexOf('\n')) >= 0) {
          this.lines.push(this.buf.slice(0, i));
          this.buf = this.buf.slice(i + 1);
        }
        this.wake();
      });
      this.sock.on('close', () => { this.closed = true; this.wake(); });
    });
  }
  wake() { for (const w of this.waiters.splice(0)) w(); }
  send(line) { this.sock.write(line + '\n'); }
  /** The next answer line; fails if none arrives within `timeout` or the connection closes first. */
  async nextLine(timeout = WAIT_MS) {
    const deadline = Date.now() + timeout;
    while (this.lines.length === 0) {
      if (this.closed) fail(`${this.label}: connection closed while waiting for a line`);
      const left = deadline - Date.now();
      if (left <= 0) fail(`${this.label}: no line from the server within ${timeout} ms`);
      await new Promise((r) => { const t = setTimeout(r, left); this.waiters.push(() => { clearTimeout(t); r(); }); });
    }
    return this.lines.shift();
  }
  async expectLine(expected) {
    const got = await this.nextLine();
    if (got !== expected) fail(`${this.label}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(got)}`);
    step(`${this.label} got ${JSON.stringify(got)}`);
  }
  async expectClosed(timeout = WAIT_MS) {
    await until(`${this.label}'s connection to be closed by the server`, () => this.closed, undefined, timeout);
    if (this.lines.length) fail(`${this.label}: unexpected extra lines ${JSON.stringify(this.lines)}`);
    step(`${this.label}'s connection was closed by the server`);
  }
  close() { if (this.sock) this.sock.destroy(); }
}

async function takeLock(label, line, expectOk = true) {
  const c = new LineClient(label);
  await c.connect();
  c.send(line);
  step(`${label} sent ${JSON.stringify(line)}`);
  if (expectOk) await c.expectLine('ok');
  return c;
}

async function apiList(headers = {}) {
  const r = await fetch(`${base}api/v1alpha1/locks/list?per_page=1000`, { headers });
  if (!r.ok) fail(`GET locks/list: HTTP ${r.status}`);
  return r.json();
}

const clients = [];
let browser;
const problems = [];

async function main() {
  step(`chromium ${opt.chromium}, page ${base}, lock port ${tcpPort}`);
  browser = await chromium.launch({
    executablePath: opt.chromium,
    timeout: 30_000,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      // DNS rebinding, played: a name the attacker controls now resolves to 127.0.0.1. Chromium's
      // own guard for pages of public addresses reaching private ones (Private/Local Network
      // Access) is off: other browsers have none, and the server must hold by itself.
      `--host-resolver-rules=MAP ${REBOUND} ${HOST}`,
      '--disable-features=BlockInsecurePrivateNetworkRequests,PrivateNetworkAccessSendPreflights,' +
        'PrivateNetworkAccessRespectPreflightResults,LocalNetworkAccessChecks'],
  });
  step(`launched Chromium ${browser.version()}`);
  const context = await browser.newContext({ viewport: { width: 1100, height: 560 } });
  context.setDefaultTimeout(WAIT_MS);
  const page = await context.newPage();

  // The page must work with no internet: any request that leaves the server is a failure.
  const origin = new URL(base).origin;
  await page.route('**/*', (route) => {
    const url = route.request().url();
    if (new URL(url).origin === origin) return route.continue();
    problems.push(`page requested an external URL: ${url}`);
    return route.abort();
  });
  page.on('pageerror', (e) => problems.push(`uncaught error in the page: ${e.message}`));
  page.on('console', (m) => { if (m.type() === 'error') console.log(`  (browser console error: ${m.text()})`); });

  const resp = await page.goto(base, { timeout: WAIT_MS });
  if (!resp || resp.status() !== 200) fail(`GET / answered ${resp && resp.status()}`);
  const ctype = resp.headers()['content-type'] || '';
  if (!ctype.startsWith('text/html')) fail(`GET / has Content-Type ${JSON.stringify(ctype)}, want text/html`);
  step(`GET / is 200 ${ctype}`);

  const empty = page.getByTestId('empty-state');
  const row = (name) => page.locator(`tbody tr[data-lock-name="${name}"]`);
  const cell = (name, col) => row(name).locator(`[data-col="${col}"]`);
  const textOf = (loc) => () => loc.textContent({ timeout: 1000 });

  await until('the empty state "No locks held"', textOf(empty), (t) => t.includes('No locks held'));
  step('empty state shown: "No locks held"');
  await until('the server info line', textOf(page.getByTestId('server-info')), (t) => t.startsWith('server '));
  await until('the connection counter', textOf(page.getByTestId('stat-connection_count')), (t) => /^\d+$/.test(t));
  step(`counters shown: ${await page.getByTestId('stat-connection_count').textContent()} connections, ` +
       `${await page.getByTestId('stat-lock_count').textContent()} locks`);

  if (authMode) await authRun(page, row, cell, textOf);
  else if (layoutMode) await layoutRun(page, row, cell, textOf);
  else {
    await openRun(page, row, cell, textOf, empty);
    await crossSiteRun(page);
  }

  if (problems.length) fail(problems.join('\n'));
}

async function openRun(page, row, cell, textOf, empty) {
  const name = 'browser-test';
  const holder = await takeLock('holder', `lock,name:${name},client-id:playwright,reason:e2e,fencing:1`, false);
  clients.push(holder);
  const fencedAnswer = await holder.nextLine();
  if (!/^ok,token:\d+$/.test(fencedAnswer)) fail(`fenced lock answered ${JSON.stringify(fencedAnswer)}`);

  await row(name).waitFor({ state: 'visible' });
  step(`row [data-lock-name="${name}"] appeared`);
  await until('holder "playwright"', textOf(cell(name, 'holder')), (t) => t.startsWith('playwright'));
  await until('the holder\'s peer address', textOf(cell(name, 'holder')), (t) => t.includes('127.0.0.1:'));
  await until('kind "connection"', textOf(cell(name, 'kind')), (t) => t.trim() === 'connection');
  await until('reason "e2e"', textOf(cell(name, 'reason')), (t) => t === 'e2e');
  await until('the fencing token the holder got', textOf(cell(name, 'token')), (t) => t === fencedAnswer.slice('ok,token:'.length));
  await until('"held for" in seconds', textOf(cell(name, 'held')), (t) => /^\d+s$/.test(t));
  await until('the lock counter to show 1', textOf(page.getByTestId('stat-lock_count')), (t) => t === '1');
  step(`row shows holder "${(await cell(name, 'holder').textContent())}", kind connection, reason e2e, ` +
       `token ${await cell(name, 'token').textContent()}, held ${await cell(name, 'held').textContent()}`);
  if (await page.getByTestId('empty-state').count()) fail('the empty state is still shown next to a lock');

  const waiter = new LineClient('waiter');
  await waiter.connect();
  clients.push(waiter);
  waiter.send(`lock,name:${name},client-id:playwright-waiter,wait:30`);
  step('waiter queued with wait:30');
  const waitCount = row(name).getByTestId('waiter-count');
  await until('the waiters cell to show 1', textOf(waitCount), (t) => t === '1');
  await until('the waiter\'s id in the waiters cell', textOf(cell(name, 'waiters')), (t) => t.includes('playwright-waiter'));
  await until('the waiter counter to show 1', textOf(page.getByTestId('stat-waiter_count')), (t) => t === '1');
  step('waiters cell shows 1 (playwright-waiter)');
  if (waiter.lines.length) fail(`waiter got an answer while the lock is held: ${waiter.lines}`);

  // "held for" ticks on its own between fetches.
  const held0 = await cell(name, 'held').textContent();
  await until('"held for" to tick', textOf(cell(name, 'held')), (t) => t !== held0, 5000);
  step(`"held for" ticks: ${held0} -> ${await cell(name, 'held').textContent()}`);

  const shot = path.join(shotDir, 'status-page.png');
  await page.screenshot({ path: shot, fullPage: true });
  step(`screenshot written: ${shot}`);

  // Forced release through the page's confirmation dialog.
  const release = page.getByRole('button', { name: `Release lock ${name}` });
  await release.click();
  const dialog = page.getByTestId('confirm-dialog');
  await dialog.waitFor({ state: 'visible' });
  const dialogText = await dialog.textContent();
  if (!dialogText.includes('lost,released by admin')) fail(`confirmation does not warn the holder is told: ${dialogText}`);
  step('confirmation dialog shown');
  // Cancel first: nothing may happen.
  await page.getByTestId('confirm-cancel').click();
  await dialog.waitFor({ state: 'hidden' });
  await release.click();
  await dialog.waitFor({ state: 'visible' });
  await page.getByTestId('confirm-release').click();
  step('clicked Release and confirmed');

  await holder.expectLine('lost,released by admin');
  await holder.expectClosed();
  if (holder.lines.length) fail('holder got more lines than "lost,released by admin"');
  await waiter.expectLine('ok');

  await until('the row to show the waiter as holder', textOf(cell(name, 'holder')), (t) => t.startsWith('playwright-waiter'));
  await until('the waiters cell to show 0', textOf(row(name).getByTestId('waiter-count')), (t) => t === '0');
  if ((await row(name).count()) !== 1) fail(`expected one row for ${name}, got ${await row(name).count()}`);
  step('row now shows playwright-waiter as holder, no waiters');
  await until('the "released" notice', textOf(page.getByTestId('action-ok')), (t) => t.includes(`Released ${name}`));

  waiter.close();
  step('waiter closed its connection');
  await until('the empty state again', textOf(empty), (t) => t.includes('No locks held'));
  step('empty state shown again');

  // A detached lock (line protocol with ttl:) shows its kind and expiry countdown, and a
  // release from the page frees it.
  const dname = 'browser-detached';
  const det = new LineClient('detached');
  await det.connect();
  clients.push(det);
  det.send(`lock,name:${dname},client-id:playwright-detached,ttl:600`);
  const answer = await det.nextLine();
  const id = /^ok,id:([0-9a-f-]{36})$/.exec(answer)?.[1] ?? fail(`detached lock: got ${JSON.stringify(answer)}`);
  step(`detached lock taken: ${answer}`);
  await det.expectClosed();
  await row(dname).waitFor({ state: 'visible' });
  if ((await row(dname).getAttribute('data-lock-id')) !== id) fail('row has the wrong data-lock-id');
  await until('kind "detached" with a countdown', textOf(cell(dname, 'kind')),
    (t) => /^detached expires in (9m [0-5]\ds|10m 00s)$/.test(t.trim()));
  step(`detached row shows "${(await cell(dname, 'kind').textContent()).trim()}"`);
  await page.getByRole('button', { name: `Release lock ${dname}` }).click();
  await until('the detached-lock confirmation', textOf(page.getByTestId('confirm-dialog')), (t) => t.includes('detached lock'));
  await page.getByTestId('confirm-release').click();
  await row(dname).waitFor({ state: 'detached' });
  await until('the empty state after releasing the detached lock', textOf(empty), (t) => t.includes('No locks held'));
  if ((await apiList()).total !== 0) fail('locks/list still lists locks');
  step('detached lock released from the page');

  // The API becoming unreachable shows the banner; it goes away when the API answers again.
  const banner = page.getByTestId('disconnected');
  if (await banner.isVisible()) fail('disconnected banner shown while connected');
  await page.route('**/api/v1alpha1/**', (route) => route.abort('connectionrefused'));
  await banner.waitFor({ state: 'visible' });
  step(`API unreachable: banner says "${(await banner.textContent()).trim()}"`);
  await page.unroute('**/api/v1alpha1/**');
  await banner.waitFor({ state: 'hidden' });
  step('API back: banner gone');
}

async function authRun(page, row, cell, textOf) {
  const token = opt['admin-token'];
  const name = 'browser-auth';
  const tokenInput = page.getByTestId('admin-token');
  await tokenInput.waitFor({ state: 'visible' });
  step('admin token input shown (authRequired)');

  // A reason with markup must show as text, never as HTML.
  const reason = '<img src=x onerror=window.__xss=1> & "q"';
  const holder = await takeLock('holder', `lock,name:${name},client-id:playwright,reason:${reason}`);
  clients.push(holder);
  await row(name).waitFor({ state: 'visible' });
  await until('the reason shown verbatim', textOf(cell(name, 'reason')), (t) => t === reason);
  if (await page.locator('table img').count()) fail('the reason was rendered as HTML');
  if (await page.evaluate(() => window.__xss)) fail('script from the reason ran');
  step('row appeared; the reason with markup is shown as text');
  const anonymous = (await apiList()).locks.find((l) => l.service === name);
  if (!anonymous) fail('lock missing from locks/list');
  if ('id' in anonymous) fail(`locks/list without the token shows the lock id ${anonymous.id}`);
  const before = (await apiList({ Authorization: `Bearer ${token}` })).locks.find((l) => l.service === name);
  if (!before?.id) fail('locks/list with the token does not show the lock id');
  step('locks/list shows the id only with the token');
  if ((await row(name).getAttribute('data-lock-id')) !== '') fail('the page shows a lock id without the token');

  // Without a token: the page has no id to release with, and asks for the token.
  const release = page.getByRole('button', { name: `Release lock ${name}` });
  const err = page.getByTestId('action-error');
  await release.click();
  await until('the request for the token', textOf(err), (t) => t.includes('Enter the admin token'));
  if (await page.getByTestId('confirm-dialog').isVisible()) fail('the release dialog opened without a lock id');
  step(`release without token: page says "${(await err.textContent()).trim()}"`);
  const after = (await apiList({ Authorization: `Bearer ${token}` })).locks.find((l) => l.service === name);
  if (!after || after.id !== before.id) fail('lock gone after a release without the token');
  if (holder.closed || holder.lines.length) fail(`holder was disturbed: ${holder.lines}`);
  if (!(await row(name).isVisible())) fail('row vanished after a refused release');
  step('lock still held by the same holder');
  const shot = path.join(shotDir, 'status-page-auth.png');
  await page.screenshot({ path: shot, fullPage: true });
  step(`screenshot written: ${shot}`);

  // A wrong token is refused as well: the page says so and still shows no ids.
  await tokenInput.fill(`${token}-wrong`);
  await until('the error for a wrong token', textOf(err), (t) => t.includes('401'));
  if ((await row(name).getAttribute('data-lock-id')) !== '') fail('a wrong token revealed the lock id');
  await release.click();
  await until('the request for the right token', textOf(err), (t) => t.includes('refused'));
  if (holder.closed) fail('a wrong token released the lock');
  step('wrong token refused');

  // With the token: the ids appear, and releasing works; the token stays in sessionStorage.
  await tokenInput.fill(token);
  await until('the lock id on the row', () => row(name).getAttribute('data-lock-id', { timeout: 1000 }),
    (id) => id === before.id);
  if (await err.isVisible()) fail(`error still shown with the right token: ${await err.textContent()}`);
  step('with the token the row carries the lock id');
  await release.click();
  await page.getByTestId('confirm-release').click();
  await holder.expectLine('lost,released by admin');
  await holder.expectClosed();
  await until('the empty state', textOf(page.getByTestId('empty-state')), (t) => t.includes('No locks held'));
  if (await err.isVisible()) fail(`error still shown after a successful release: ${await err.textContent()}`);
  step('release with token: done, empty state shown');
  await page.reload();
  await tokenInput.waitFor({ state: 'visible' });
  if ((await tokenInput.inputValue()) !== token) fail('token not kept in sessionStorage across a reload');
  step('token kept in sessionStorage across a reload');
}

async function getJson(pathname) {
  const r = await fetch(`${base}${pathname}`);
  if (!r.ok) fail(`GET ${pathname}: HTTP ${r.status}`);
  return r.json();
}

/** The unlabelled or labelled samples of /metrics, as { 'name{labels}': value }. */
async function metrics() {
  const r = await fetch(`${base}metrics`);
  if (!r.ok) fail(`GET /metrics: HTTP ${r.status}`);
  const out = {};
  for (const line of (await r.text()).split('\n')) {
    const m = /^([a-z_]+(?:\{[^}]*\})?) (\S+)$/.exec(line);
    if (m) out[m[1]] = Number(m[2]);
  }
  return out;
}

/**
 * Layout facts of the rows in the page, measured by the browser: the page's sideways
 * overflow, and for each visible row its name, holder, token text and where its name's
 * lines break (every break must follow a separator: - or _).
 */
function measure(page) {
  return page.evaluate(() => {
    const rows = [...document.querySelectorAll('tbody tr[data-lock-name]')];
    const breaks = (box) => {
      // One rect per character: a new line starts where a character's top moves down.
      const text = [];
      const walker = document.createTreeWalker(box, NodeFilter.SHOW_TEXT);
      for (let n = walker.nextNode(); n; n = walker.nextNode()) {
        for (let i = 0; i < n.length; i++) {
          const r = document.createRange();
          r.setStart(n, i);
          r.setEnd(n, i + 1);
          const rect = r.getClientRects()[0];
          if (rect) text.push({ ch: n.data[i], top: Math.round(rect.top) });
        }
      }
      const bad = [];
      let lines = 1;
      for (let i = 1; i < text.length; i++) {
        if (text[i].top > text[i - 1].top + 2) {
          lines++;
          if (!/[-_]/.test(text[i - 1].ch)) bad.push(text.slice(0, i).map((t) => t.ch).join('') + '|');
        }
      }
      return { lines, bad };
    };
    return {
      viewport: window.innerWidth,
      scrollWidth: document.documentElement.scrollWidth,
      bodyScrollWidth: document.body.scrollWidth,
      headVisible: getComputedStyle(document.querySelector('thead')).display !== 'none',
      rows: rows.filter((tr) => !tr.hidden).map((tr) => {
        const name = tr.querySelector('[data-col="name"]');
        const pieces = [...name.querySelectorAll('.seg')];
        const rect = tr.getBoundingClientRect();
        return {
          name: tr.dataset.lockName,
          title: name.title,
          holder: tr.querySelector('[data-col="holder"] .whobox > span').textContent,
          token: tr.querySelector('[data-col="token"]').textContent,
          kind: tr.querySelector('[data-col="kind"] .chip').textContent,
          cut: pieces.some((p) => p.scrollWidth > p.clientWidth + 1),
          right: rect.right,
          ...breaks(name.querySelector('.namebox')),
        };
      }),
    };
  });
}

async function layoutRun(page, row, cell, textOf) {
  // Names with no spaces: one that must wrap at its hyphens, one too long for any line.
  const longParts = 'team-payments_service-region-eu-west-1-database-schema-migrations-nightly-batch-window-' +
    'with-a-name-far-longer-than-any-column';
  const solid = 'x'.repeat(150);
  const fencedName = 'fenced-lock';
  const holds = [
    ['plain', `lock,name:plain-lock,client-id:plain-holder,reason:no-fencing`],
    ['fenced', `lock,name:${fencedName},client-id:fenced-holder,fencing:1`],
    ['sem1', 'lock,name:sem,limit:2,client-id:sem-one'],
    ['sem2', 'lock,name:sem,limit:2,client-id:sem-two'],
    ['long', `lock,name:${longParts},client-id:long.client@example.org`],
    ['solid', `lock,name:${solid},client-id:solid-holder`],
    ['victim', 'lock,name:revoked,client-id:victim'],
  ];
  const held = {};
  for (const [label, line] of holds) {
    const c = new LineClient(label);
    await c.connect();
    clients.push(c);
    c.send(line);
    const answer = await c.nextLine();
    if (!answer.startsWith('ok')) fail(`${label}: ${line} answered ${answer}`);
    held[label] = c;
  }
  step('connection holds taken: plain, fenced, a semaphore with 2 holders, two long names, a victim');
  const waiter = new LineClient('sem-waiter');
  await waiter.connect();
  clients.push(waiter);
  waiter.send('lock,name:sem,limit:2,client-id:sem-waiter,wait:120');
  const det = new LineClient('detached');
  await det.connect();
  clients.push(det);
  det.send('lock,name:detached-lock,client-id:detached-holder,ttl:600');
  if (!(await det.nextLine()).startsWith('ok,id:')) fail('detached lock not granted');
  // A forced release of the victim leaves a lock-delay (server started with --lock-delay).
  const victim = (await apiList()).locks.find((l) => l.service === 'revoked');
  const del = await fetch(`${base}api/v1alpha1/lock/${victim.id}`, { method: 'DELETE' });
  if (del.status !== 200) fail(`forced release answered ${del.status}`);
  await held.victim.expectLine('lost,released by admin');
  // Both connections end at the server's hand: wait for that, so the connection count holds still.
  await held.victim.expectClosed();
  await det.expectClosed();
  step('detached lock taken, a waiter queued on sem, the victim released by the admin: a lock-delay');

  // One meaning of "locks held": the page, .stats and /metrics agree.
  const stats = await getJson('api/v1alpha1/stats');
  const m = await metrics();
  const expect = {
    lock_count: [6, m.tcpnetlock_locks_held],  // plain, fenced, sem, long, solid, detached
    hold_count: [7, m['tcpnetlock_holds{kind="connection"}'] + m['tcpnetlock_holds{kind="detached"}']],
    waiter_count: [1, m.tcpnetlock_waiters],
    lock_delay_count: [1, m.tcpnetlock_lock_delays],
  };
  for (const [key, [want, fromMetrics]] of Object.entries(expect)) {
    if (stats[key] !== want || fromMetrics !== want) fail(`${key}: .stats ${stats[key]}, /metrics ${fromMetrics}, want ${want}`);
    await until(`the page's ${key} to show ${want}`, textOf(page.getByTestId(`stat-${key}`)), (t) => t === String(want));
  }
  await until('the page\'s connection count to match .stats', textOf(page.getByTestId('stat-connection_count')),
    (t) => t === String(stats.connection_count));
  step(`page == .stats == /metrics: ${stats.lock_count} locks held, ${stats.hold_count} holds, ` +
       `${stats.waiter_count} waiting, ${stats.lock_delay_count} lock-delay`);

  await page.setViewportSize({ width: 1280, height: 900 });
  await until('every hold and the delay as a row', () => page.locator('tbody tr[data-lock-name]').count(), (n) => n === 8);
  await until('the delay row', textOf(cell('revoked', 'kind')), (t) => t.trim().startsWith('delay free in'));
  if (await row('revoked').getByRole('button', { name: /Release/ }).isVisible()) fail('a lock-delay offers a release');

  // Tokens: only on fenced rows, as the list's `fenced` says.
  const list = (await apiList()).locks;
  const fencedOf = new Map(list.map((l) => [`${l.service}/${l.who}`, l.fenced]));
  if (fencedOf.get(`${fencedName}/fenced-holder`) !== true || fencedOf.get('detached-lock/detached-holder') !== true ||
      fencedOf.get('plain-lock/plain-holder') !== false || fencedOf.get('sem/sem-one') !== false) {
    fail(`fenced flags in the list: ${JSON.stringify([...fencedOf])}`);
  }
  const facts1280 = await measure(page);
  for (const r of facts1280.rows) {
    const key = `${r.name}/${r.holder}`;
    const fenced = fencedOf.get(key);
    if (fenced === undefined) fail(`row ${key} is not in the list`);
    if (fenced !== /^\d+$/.test(r.token)) fail(`row ${key}: fenced ${fenced} but token cell ${JSON.stringify(r.token)}`);
  }
  step('tokens shown on exactly the fenced rows (fencing:1, detached)');

  const checkLayout = (facts, width) => {
    if (facts.scrollWidth > facts.viewport || facts.bodyScrollWidth > facts.viewport) {
      fail(`${width} px: the page scrolls sideways (${facts.scrollWidth} > ${facts.viewport})`);
    }
    for (const r of facts.rows) {
      if (r.bad.length) fail(`${width} px: name ${r.name} broken mid-word: ${r.bad.join(', ')}`);
      if (r.title !== r.name) fail(`${width} px: name ${r.name} has title ${JSON.stringify(r.title)}`);
      if (r.right > facts.viewport + 1) fail(`${width} px: row ${r.name} ends at ${r.right}`);
    }
    const solidRow = facts.rows.find((r) => r.name === solid);
    if (!solidRow?.cut || solidRow.lines !== 1) fail(`${width} px: the 150-character name is not cut on one line: ${JSON.stringify(solidRow)}`);
    return facts.rows.find((r) => r.name === longParts);
  };
  const long1280 = checkLayout(facts1280, 1280);
  if (!facts1280.headVisible) fail('1280 px: the table head is hidden');
  step(`1280 px: no sideways scroll, names break only after - or _ (the long one on ${long1280.lines} lines), ` +
       'the 150-character one cut with its full name in the title');
  await page.screenshot({ path: path.join(shotDir, 'status-page-1280.png'), fullPage: true });
  step(`screenshot written: ${path.join(shotDir, 'status-page-1280.png')}`);

  // Filter: by name, by holder, instantly (no refresh needed), and back.
  const filter = page.getByTestId('filter');
  const visibleNames = async () => (await measure(page)).rows.map((r) => `${r.name}/${r.holder}`);
  await filter.fill('sem');
  let names = await visibleNames();
  if (names.length !== 2 || !names.every((n) => n.startsWith('sem/'))) fail(`filter "sem" shows ${names}`);
  await filter.fill('FENCED-HOLDER');
  names = await visibleNames();
  if (names.join() !== `${fencedName}/fenced-holder`) fail(`filter by holder shows ${names}`);
  await filter.fill('no-such-lock');
  if ((await visibleNames()).length !== 0) fail('a filter matching nothing still shows rows');
  await filter.fill('');
  if ((await visibleNames()).length !== 8) fail('clearing the filter does not show every row again');
  step('filter by name and by holder hides the other rows at once; cleared, all 8 are back');

  // Sort: by name, by age (oldest first), by waiters (most first).
  const sort = page.getByTestId('sort');
  await sort.selectOption('name');
  names = await visibleNames();
  const byName = [...names].sort((a, b) => (a.split('/')[0] < b.split('/')[0] ? -1 : a.split('/')[0] > b.split('/')[0] ? 1 : 0));
  if (names.map((n) => n.split('/')[0]).join() !== byName.map((n) => n.split('/')[0]).join()) fail(`sort by name: ${names}`);
  await sort.selectOption('age');
  names = await visibleNames();
  const byAge = [...list].sort((a, b) => b.heldSeconds - a.heldSeconds).map((l) => `${l.service}/${l.who}`);
  if (names.join() !== byAge.join()) fail(`sort by age: ${names}, want ${byAge}`);
  if (names[0] !== 'plain-lock/plain-holder') fail(`oldest first, want plain-lock: ${names}`);
  await sort.selectOption('waiters');
  names = await visibleNames();
  if (!names[0].startsWith('sem/') || !names[1].startsWith('sem/')) fail(`sort by waiters: ${names}`);
  step('sort by name, by age (oldest first) and by waiters (sem first) as expected');
  await sort.selectOption('name');

  // A phone: 420 px wide, a card per row, nothing wider than the screen.
  await page.setViewportSize({ width: 420, height: 900 });
  await until('the card layout (no table head)', async () => !(await measure(page)).headVisible);
  const facts420 = await measure(page);
  const long420 = checkLayout(facts420, 420);
  if (long420.lines < 2) fail(`420 px: the long name does not wrap: ${JSON.stringify(long420)}`);
  step(`420 px: cards, no sideways scroll, the long name on ${long420.lines} lines broken only after separators`);
  await page.screenshot({ path: path.join(shotDir, 'status-page-420.png'), fullPage: true });
  step(`screenshot written: ${path.join(shotDir, 'status-page-420.png')}`);
}

/** Serves an empty page on 127.0.0.1 (any port): the other site, as a browser sees it. */
async function otherSite() {
  const server = http.createServer((req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/html' });
    res.end('<!DOCTYPE html><title>another site</title><p>nothing to see');
  });
  await new Promise((resolve) => server.listen(0, HOST, resolve));
  return server;
}

/** What a page of `pageUrl` can do to the API: none of it may create a lock. */
async function crossSiteRun(ourPage) {
  const other = await otherSite();
  servers.push(other);
  const otherPort = other.address().port;
  const api = `${base}api/v1alpha1/lock`;
  const context = await browser.newContext();
  context.setDefaultTimeout(WAIT_MS);
  const attacker = await context.newPage();
  const body = (service) => JSON.stringify({ service, who: 'attacker' });

  // The request any page can send without a CORS preflight: a "simple" POST, text/plain.
  for (const [label, pageUrl] of [['cross-site', `http://localhost:${otherPort}/`],
                                  ['same-site, other port', `http://${HOST}:${otherPort}/`]]) {
    await attacker.goto(pageUrl);
    const service = `csrf-${label.replace(/[^a-z]+/g, '-')}`;
    const outcome = await attacker.evaluate(async ([url, payload]) => {
      try {
        const r = await fetch(url, { method: 'POST', mode: 'no-cors', headers: { 'Content-Type': 'text/plain' }, body: payload });
        return `sent (opaque response, type ${r.type})`;
      } catch (e) { return `fetch failed: ${e.message}`; }
    }, [api, body(service)]);
    step(`${label} page ${pageUrl} POSTed text/plain with mode no-cors: ${outcome}`);
    // A form post, the oldest way (application/x-www-form-urlencoded, top-level navigation).
    await attacker.evaluate(([url, name]) => {
      const form = document.createElement('form');
      form.method = 'POST';
      form.action = url;
      form.enctype = 'text/plain';
      const field = document.createElement('input');
      field.name = `{"service":"${name}","who":"x","pad":"`;
      field.value = '"}';
      form.append(field);
      document.body.append(form);
      form.submit();
    }, [api, `${service}-form`]);
    await attacker.waitForURL(api);
    const shown = await attacker.textContent('body');
    if (!shown.includes('cross-site request refused')) fail(`${label} form POST was not refused: ${shown}`);
    step(`${label} form POST refused: ${shown.trim()}`);
  }

  // DNS rebinding: the attacker's page, first served from its own address, runs on as
  // http://REBOUND:PORT after the name was re-pointed at 127.0.0.1: to the browser, the API
  // is now its own origin. Only the Host header still names the attacker.
  const rebound = `http://${REBOUND}:${new URL(base).port}/`;
  await attacker.route(rebound, (route) => route.fulfill({ status: 200, contentType: 'text/html', body: '<p>rebound' }));
  await attacker.goto(rebound);
  const seen = await attacker.evaluate(async () => {
    const list = await fetch('/api/v1alpha1/locks/list');
    const create = await fetch('/api/v1alpha1/lock', {
      method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ service: 'csrf-rebound', who: 'x' }),
    });
    return { list: list.status, listBody: await list.text(), create: create.status };
  });
  step(`rebound page: list answered ${seen.list}, create answered ${seen.create}`);
  if (seen.list !== 421 || seen.create !== 421) fail(`the rebound name was served: ${JSON.stringify(seen)}`);
  await context.close();

  // Our own page's requests are same-origin, and a JSON POST from it works.
  const own = await ourPage.evaluate(async () => {
    const r = await fetch('api/v1alpha1/lock', {
      method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ service: 'same-origin', who: 'page' }),
    });
    return { status: r.status, id: (await r.json()).id };
  });
  if (own.status !== 201) fail(`a same-origin JSON POST from the status page answered ${own.status}`);
  const released = await ourPage.evaluate(async (id) => (await fetch(`api/v1alpha1/lock/${id}`, { method: 'DELETE' })).status, own.id);
  if (released !== 200) fail(`a same-origin DELETE from the status page answered ${released}`);
  step('same-origin JSON POST and DELETE from the status page work');

  const leaked = (await apiList()).locks.filter((l) => l.service.startsWith('csrf'));
  if (leaked.length) fail(`another site created locks: ${JSON.stringify(leaked)}`);
  step('no lock was created by another site');
}

const servers = [];
try {
  await main();
  step('PASS');
} catch (e) {
  console.error(`[status-page] FAIL: ${e instanceof TestFailure ? e.message : e.stack}`);
  process.exitCode = 1;
} finally {
  for (const c of clients) c.close();
  for (const server of servers) server.close();
  if (browser) await browser.close().catch(() => {});
}
