/*
 * chat.test.js - the chat page end to end in a real browser.
 *
 * Drives Debian's Chromium (/usr/bin/chromium) through playwright-core
 * against the running local stack (lighttpd on 8080 serving web/, the API
 * programs and the relay). Two browser contexts, alice and bob, with names
 * unique to this run, go through the conversation that issue 5 describes:
 * sign in, room errors, a room, messages both ways, a reload, a relay
 * restart in the middle, an HTML payload, a long conversation paged from
 * the top, sign-out and sign-in by pasted JWT, and a third user, carol,
 * who signs in with a token of a stand-in identity provider (an ES256 key
 * and its JWKS served by this test on CHAT_TEST_IDP_PORT, default 18096)
 * and starts a room with alice.
 *
 * Steps run in order and share the two windows; when one fails, the later
 * ones are reported as not run (and counted as failed). Screenshots of both
 * windows go to $CHAT_TEST_OUT (default var/test-out/). The last line printed
 * is always `browser: N passed, N failed`; the exit status is non-zero on
 * any failure.
 *
 * Environment: CHAT_TEST_WEB_BASE (default http://127.0.0.1:8080),
 * CHAT_TEST_OUT, CHAT_TEST_CHROMIUM (default /usr/bin/chromium),
 * CHAT_TEST_RELAY_RESTART (a shell command; default
 * `deploy/dev/stack.sh restart relay` run from the repository root).
 * Time limits below only stop a hung run; nothing asserts on speed.
 */
'use strict';

const { chromium } = require('playwright-core');
const { spawn } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

const ROOT = path.resolve(__dirname, '..', '..');
const BASE = (process.env.CHAT_TEST_WEB_BASE || 'http://127.0.0.1:8080').replace(/\/$/, '');
const OUT = process.env.CHAT_TEST_OUT || path.join(ROOT, 'var', 'test-out');
const CHROMIUM = process.env.CHAT_TEST_CHROMIUM || '/usr/bin/chromium';
const RESTART_CMD = process.env.CHAT_TEST_RELAY_RESTART || `'${ROOT}/deploy/dev/stack.sh' restart relay`;
const WAIT_MS = 30000;          /* any single wait: only a guard against hanging */
const RESTART_WAIT_MS = 90000;  /* the relay restart waits for /healthz itself */
const RUN_LIMIT_MS = 8 * 60000; /* the whole run */
const BULK = 120;               /* the long conversation, > 2 history pages */

/* Names unique to this run: the databases outlive it. */
const RUN = `${Date.now().toString(36)}${process.pid.toString(36)}`.slice(-10);
const ALICE = `alice_${RUN}`;
const BOB = `bob_${RUN}`;

const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

/* ------------------------------------------------------------------ */
/* Tiny harness                                                        */
/* ------------------------------------------------------------------ */

const steps = [];
/* step(name, fn, { soft }): a soft step leaves the shared windows usable
 * even when it fails, so its failure is counted but later steps still run. */
function step(name, fn, opts = {}) { steps.push({ name, fn, soft: Boolean(opts.soft) }); }

class Expectation extends Error {}

function expect(cond, what, expected, got) {
  if (!cond) {
    throw new Expectation(`${what}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(got)}`);
  }
}

/* waitUntil: poll fn (async, returns truthy when done) until it holds. */
async function waitUntil(fn, what, timeoutMs = WAIT_MS) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    last = await fn();
    if (last) return last;
    if (Date.now() > deadline) throw new Expectation(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/* runShell: a command with this process's environment, from the repo root. */
function runShell(cmd, timeoutMs) {
  return new Promise((resolve) => {
    const child = spawn('bash', ['-c', cmd], { cwd: ROOT, env: process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d) => { output += d; });
    child.stderr.on('data', (d) => { output += d; });
    const timer = setTimeout(() => child.kill('SIGTERM'), timeoutMs);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code === null ? -1 : code, signal, output });
    });
  });
}

/* A gate holds a page's POST /socket-token until opened, so the test
 * decides when that window may reconnect. */
function makeGate() {
  let open;
  const opened = new Promise((r) => { open = r; });
  return { opened, open };
}

/* ------------------------------------------------------------------ */
/* Page helpers                                                        */
/* ------------------------------------------------------------------ */

const users = {};

async function newUser(browser, name, ctxOptions) {
  const ctx = await browser.newContext(Object.assign({ viewport: { width: 1200, height: 800 } }, ctxOptions));
  ctx.setDefaultTimeout(WAIT_MS);
  const page = await ctx.newPage();
  const u = { name, ctx, page, dialogs: [], pageErrors: [], cspViolations: [], historyRequests: [], framesSent: [] };
  /* Any dialog means some text ran as script: record it, then dismiss. */
  page.on('dialog', async (d) => {
    u.dialogs.push(`${d.type()}: ${d.message()}`);
    await d.dismiss().catch(() => {});
  });
  page.on('pageerror', (e) => u.pageErrors.push(e.message));
  /* The server sends a Content-Security-Policy: anything it blocks is a
   * page that no longer works as written. The listener is injected by the
   * browser driver, outside the page's policy. */
  await ctx.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (e) => {
      console.error(`CSP violation: ${e.violatedDirective} blocked ${e.blockedURI || '(inline)'}`);
    });
  });
  page.on('console', (m) => {
    if (m.type() === 'error' && /CSP violation|Content Security Policy/.test(m.text())) u.cspViolations.push(m.text());
  });
  page.on('websocket', (ws) => ws.on('framesent', (f) => u.framesSent.push(String(f.payload))));
  page.on('request', (r) => {
    if (r.url().includes('/api/v1/chat/')) u.historyRequests.push(r.url());
  });
  return u;
}

async function signIn(u) {
  await u.page.goto(`${BASE}/`);
  await u.page.fill('#login-username', u.name);
  await u.page.click('#login-submit');
  await u.page.locator('#app').waitFor({ state: 'visible' });
  await waitForLive(u);
}

/* signInWithToken: the page's "sign in with a token" form, as a token
 * from an external auth service or identity provider is pasted there. */
async function signInWithToken(u, token) {
  await u.page.goto(`${BASE}/`);
  await u.page.click('#token-section summary');
  await u.page.fill('#token-input', token);
  await u.page.click('#token-submit');
}

async function waitForLive(u) {
  await u.page.locator('#conn[data-state="live"]').waitFor({ state: 'visible' });
}

async function connState(u) {
  return u.page.getAttribute('#conn', 'data-state');
}

function messageItems(u) {
  return u.page.locator('#message-list li.msg');
}

const escapeRegExp = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/* The message whose text is exactly `text`. */
function messageByText(u, text) {
  return messageItems(u).filter({
    has: u.page.locator('p.text', { hasText: new RegExp(`^${escapeRegExp(text)}$`) }),
  });
}

async function sendText(u, text) {
  await u.page.fill('#composer-input', text);
  await u.page.press('#composer-input', 'Enter');
}

async function waitForMessage(u, text, state) {
  const loc = messageByText(u, text);
  await waitUntil(async () => (await loc.count()) >= 1, `"${text}" on ${u.name}'s page`);
  if (state) {
    await waitUntil(async () => (await loc.first().getAttribute('data-state')) === state,
      `"${text}" to be ${state} on ${u.name}'s page`);
  }
  return loc;
}

async function countOf(u, text) {
  return messageByText(u, text).count();
}

/* Every shown message once: no seq and no clientMsgId twice. */
async function assertNoDuplicates(u) {
  const rows = await messageItems(u).evaluateAll((els) => els.map((e) => ({
    seq: e.dataset.seq || '', cid: e.dataset.clientMsgId || '',
  })));
  const seqs = rows.map((r) => r.seq).filter(Boolean);
  const cids = rows.map((r) => r.cid).filter(Boolean);
  const dupSeq = seqs.filter((s, i) => seqs.indexOf(s) !== i);
  const dupCid = cids.filter((c, i) => cids.indexOf(c) !== i);
  expect(dupSeq.length === 0, `${u.name}: seqs shown twice`, [], dupSeq);
  expect(dupCid.length === 0, `${u.name}: clientMsgIds shown twice`, [], dupCid);
  const nums = seqs.map(Number);
  const sorted = [...nums].sort((a, b) => a - b);
  expect(JSON.stringify(nums) === JSON.stringify(sorted), `${u.name}: messages in seq order`, sorted.slice(0, 20), nums.slice(0, 20));
}

async function screenshot(u, file) {
  fs.mkdirSync(OUT, { recursive: true });
  await u.page.screenshot({ path: path.join(OUT, file) }).catch(() => {});
}

/* localClock: hour (0-23) and minute of an instant in a time zone, from
 * Node's own tz data (its ICU may lack the viewer's locale, so the check
 * compares clock digits, not whole formatted strings). */
function localClock(iso, timeZone) {
  const parts = new Intl.DateTimeFormat('en-US', {
    hour: '2-digit', minute: '2-digit', hourCycle: 'h23', timeZone,
  }).formatToParts(new Date(iso));
  const get = (t) => Number(parts.find((p) => p.type === t).value);
  return { hour: get('hour'), minute: get('minute') };
}

/* shownMatchesClock: "18:10", "6:10 PM" and "오후 6:10" all read 18:10. */
function shownMatchesClock(shown, clock) {
  const m = /(\d{1,2}):(\d{2})/.exec(shown);
  if (!m) return false;
  const h = Number(m[1]);
  const hour12 = ((clock.hour + 11) % 12) + 1;
  return Number(m[2]) === clock.minute && (h === clock.hour || h === hour12);
}

/* ------------------------------------------------------------------ */
/* The conversation                                                    */
/* ------------------------------------------------------------------ */

const HELLO = `Hello ${BOB}! 안녕하세요 👋 ${RUN}`;
const REPLY = `반가워요 ${ALICE} 😀🎉 Ünïcødé ${RUN}`;
const XSS = '<img src=x onerror=alert(1)>';
const DURING = `sent while the relay was down ${RUN}`;
const AFTER = `sent after the relay came back ${RUN}`;
const bulkText = (i) => `bulk ${String(i).padStart(3, '0')} ${RUN}`;
let roomId = null;

/* What the web server must send with the page and the API answers (the
 * deploy checks hold every shipped config to the same). */
const SECURITY_HEADERS = {
  'content-security-policy': "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' https: http: data: blob:; " +
    "media-src 'self' blob:; connect-src 'self' ws: wss:; object-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
};

step('the page and the API answer with the browser hardening headers', async () => {
  for (const p of ['/', '/app.js', '/api/v1/me']) {
    const res = await users.alice.ctx.request.get(`${BASE}${p}`);
    const h = res.headers();
    for (const [name, value] of Object.entries(SECURITY_HEADERS)) {
      expect(h[name] === value, `${p}: ${name}`, value, h[name]);
    }
  }
});

step('both users sign in by username and see who they are', async () => {
  for (const u of [users.alice, users.bob]) {
    await signIn(u);
    const shown = await u.page.textContent('#me-username');
    expect(shown === `@${u.name}`, `${u.name}: signed-in name`, `@${u.name}`, shown);
  }
});

step('starting a room with myself or an unknown user shows a clear error', async () => {
  const { page } = users.alice;
  await page.fill('#new-room-peer', ALICE);
  await page.click('#new-room-submit');
  await page.locator('#new-room-error').waitFor({ state: 'visible' });
  const self = await page.textContent('#new-room-error');
  expect(/you/i.test(self), 'error for a room with myself', 'a sentence about yourself', self);

  const ghost = `nobody_${RUN}`;
  await page.fill('#new-room-peer', ghost);
  await page.click('#new-room-submit');
  await waitUntil(async () => (await page.textContent('#new-room-error')).includes(ghost), 'the unknown-user error');
  const unknown = await page.textContent('#new-room-error');
  expect(/no user/i.test(unknown), 'error for an unknown user', `There is no user called "${ghost}".`, unknown);
  expect(!(await page.isVisible('#room')), 'no room opened after errors', false, true);
});

step('alice starts a room with bob; bob finds it in his list', async () => {
  const { page } = users.alice;
  await page.fill('#new-room-peer', BOB);
  await page.click('#new-room-submit');
  await page.locator('#room').waitFor({ state: 'visible' });
  const m = /#room=(\d+)/.exec(page.url());
  expect(m, 'room id in the URL', '#room=<id>', page.url());
  roomId = Number(m[1]);
  const title = await page.textContent('#room-title');
  expect(title === BOB, 'room title on alice', BOB, title);
  expect(!(await page.isVisible('#new-room-error')), 'no error shown', false, true);

  const bob = users.bob.page;
  await bob.click('#rooms-refresh');
  const link = bob.locator(`#room-list a[data-room-id="${roomId}"]`);
  await link.waitFor({ state: 'visible' });
  await link.click();
  await bob.locator('#room').waitFor({ state: 'visible' });
  const bobTitle = await bob.textContent('#room-title');
  expect(bobTitle === ALICE, 'room title on bob', ALICE, bobTitle);
  await bob.locator('#history-status[data-state="complete"]').waitFor();
});

step('messages go both ways: pending then sent, mine vs theirs, local times', async () => {
  const { alice, bob } = users;
  await sendText(alice, HELLO);
  await waitForMessage(alice, HELLO, 'sent');
  const onBob = await waitForMessage(bob, HELLO);
  expect(await onBob.first().evaluate((e) => e.classList.contains('theirs')), 'alice\'s message on bob is "theirs"', true, false);
  const onAlice = messageByText(alice, HELLO).first();
  expect(await onAlice.evaluate((e) => e.classList.contains('mine')), 'alice\'s message on alice is "mine"', true, false);

  await sendText(bob, REPLY);
  await waitForMessage(bob, REPLY, 'sent');
  const reply = await waitForMessage(alice, REPLY);
  expect(await reply.first().evaluate((e) => e.classList.contains('theirs')), 'bob\'s reply on alice is "theirs"', true, false);
  const text = await reply.first().locator('p.text').textContent();
  expect(text === REPLY, 'non-Latin text and emoji intact', REPLY, text);

  /* The same stored time, read in each viewer's own zone and locale. */
  for (const [u, locale, tz] of [[alice, 'en-GB', 'America/New_York'], [bob, 'ko-KR', 'Asia/Seoul']]) {
    const t = messageByText(u, HELLO).first().locator('time');
    const iso = await t.getAttribute('datetime');
    const shown = await t.textContent();
    const clock = localClock(iso, tz);
    const want = `${String(clock.hour).padStart(2, '0')}:${String(clock.minute).padStart(2, '0')} (${locale})`;
    expect(shownMatchesClock(shown, clock), `${u.name}: time of ${iso} in ${tz}`, want, shown);
  }
});

step('typing shows on the other side; my message is marked "1" until the peer reads it', async () => {
  const { alice, bob } = users;
  /* Bob types: alice's header says so (the relay relays TYPING). */
  await bob.page.fill('#composer-input', 'thinking');
  await waitUntil(async () => (await alice.page.textContent('#room-subtitle')) === 'typing…',
    '"typing…" in alice\'s header');
  await bob.page.fill('#composer-input', '');
  /* Without another keystroke the indicator goes by itself (after the
   * relay's expiresInMs, 5 s). */
  await waitUntil(async () => (await alice.page.textContent('#room-subtitle')) !== 'typing…',
    'the typing indicator to expire on alice');

  /* Bob looks away (no room open): alice's next message stays unread,
   * with its marker on alice and a badge in bob's list. */
  await bob.page.evaluate(() => { window.location.hash = ''; });
  await bob.page.locator('#room').waitFor({ state: 'hidden' });
  const text = `read me ${RUN}`;
  await sendText(alice, text);
  const mine = await waitForMessage(alice, text, 'sent');
  await waitUntil(async () => (await mine.first().locator('.msg-status').textContent()) === '1',
    'the unread marker "1" on alice\'s message');
  const badge = bob.page.locator(`#room-list a[data-room-id="${roomId}"] .badge`);
  await waitUntil(async () => (await badge.count()) === 1 && (await badge.textContent()) === '1',
    'an unread badge of 1 in bob\'s list');
  await waitUntil(async () => /^\(1\) /.test(await bob.page.title()), 'the unread count in bob\'s title');
  await screenshot(bob, 'bob-unread-list.png');

  /* Bob opens the room in a focused window: he reads it, alice's marker
   * clears and so does his badge. */
  await bob.page.bringToFront();
  await bob.page.locator(`#room-list a[data-room-id="${roomId}"]`).click();
  await waitForMessage(bob, text);
  await waitUntil(async () => (await mine.first().locator('.msg-status').textContent()) === '',
    'the marker cleared on alice once bob read the message');
  await waitUntil(async () => (await badge.count()) === 0, 'bob\'s badge cleared');
  await alice.page.bringToFront();
});

step('each sees the other online: a dot on the avatar and "online" in the header', async () => {
  const { alice, bob } = users;
  for (const [u, other] of [[alice, BOB], [bob, ALICE]]) {
    await waitUntil(async () => (await u.page.textContent('#room-subtitle')).includes('· online'),
      `"online" for ${other} in ${u.name}'s header`);
    await waitUntil(async () => u.page.locator('#room-avatar.online').count().then((n) => n === 1),
      `the online dot on ${u.name}'s header avatar`);
  }
});

step('an image message shows as an image', async () => {
  const { alice, bob } = users;
  const url = `${BASE}/favicon.svg?run=${RUN}`;
  await alice.page.click('#image-toggle');
  await alice.page.fill('#image-url', url);
  await alice.page.press('#image-url', 'Enter');
  const img = bob.page.locator(`#message-list li.msg img[src="${url}"]`);
  await img.waitFor({ state: 'visible' });
  await waitUntil(() => img.evaluate((e) => e.complete && e.naturalWidth > 0), 'the image to load on bob');
});

/* The first frames of a short WebM video, recorded by the browser itself
 * from a canvas (MediaRecorder), so no video file or encoder is needed. */
async function recordWebm(page) {
  const b64 = await page.evaluate(async () => {
    const c = document.createElement('canvas');
    c.width = 160;
    c.height = 120;
    const g = c.getContext('2d');
    const rec = new MediaRecorder(c.captureStream(25), { mimeType: 'video/webm' });
    const parts = [];
    rec.ondataavailable = (e) => parts.push(e.data);
    const done = new Promise((resolve) => { rec.onstop = resolve; });
    rec.start();
    for (let i = 0; i < 25; i++) {
      g.fillStyle = `hsl(${i * 14}, 80%, 50%)`;
      g.fillRect(0, 0, 160, 120);
      g.fillStyle = '#fff';
      g.fillRect(i * 5, 40, 30, 30);
      await new Promise((r) => setTimeout(r, 40));
    }
    rec.stop();
    await done;
    const buf = new Uint8Array(await new Blob(parts).arrayBuffer());
    let s = '';
    for (const x of buf) s += String.fromCharCode(x);
    return btoa(s);
  });
  const file = path.join(os.tmpdir(), `chat-video-${RUN}.webm`);
  fs.writeFileSync(file, Buffer.from(b64, 'base64'));
  return file;
}

step('a photo and a video from disk: preview, progress, both people see them, lightbox', async () => {
  const { alice, bob } = users;
  const photo = path.join(ROOT, 'tests', 'fixtures', 'media', 'photo.jpg');
  const before = await bob.page.locator('#message-list figure.bubble-media').count();

  /* the photo through the file picker */
  await alice.page.setInputFiles('#media-file', photo);
  await alice.page.locator('#media-row').waitFor({ state: 'visible' });
  await alice.page.locator('#media-preview img').waitFor({ state: 'visible' });
  await screenshot(alice, 'alice-media-preview.png');
  await alice.page.click('#media-send');
  await alice.page.locator('#media-row').waitFor({ state: 'hidden' });
  const progress = await alice.page.locator('#media-progress').evaluate((e) => e.value);
  expect(progress === 100, 'upload progress at the end', 100, progress);

  /* the video dropped onto the conversation */
  const video = await recordWebm(alice.page);
  const bytes = fs.readFileSync(video).toString('base64');
  await alice.page.evaluate(async (b64) => {
    const bin = atob(b64);
    const arr = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) arr[i] = bin.charCodeAt(i);
    const dt = new DataTransfer();
    dt.items.add(new File([arr], 'clip.webm', { type: 'video/webm' }));
    const room = document.getElementById('room');
    for (const type of ['dragenter', 'dragover', 'drop']) {
      room.dispatchEvent(new DragEvent(type, { dataTransfer: dt, bubbles: true, cancelable: true }));
    }
  }, bytes);
  await alice.page.locator('#media-preview video').waitFor({ state: 'attached' });
  await alice.page.click('#media-send');
  await alice.page.locator('#media-row').waitFor({ state: 'hidden' });
  fs.unlinkSync(video);

  /* both see both, fetched from the server with the JWT */
  for (const u of [alice, bob]) {
    const figs = u.page.locator('#message-list figure.bubble-media');
    await waitUntil(async () => (await figs.count()) >= before + 2, `two media messages on ${u.name}'s page`);
    /* alice shows her own copy (480 x 320), bob the server's thumbnail (320 x 213) */
    const img = u.page.locator('#message-list figure.bubble-media img').last();
    const [w, ht] = u === alice ? [480, 320] : [320, 213];
    await waitUntil(() => img.evaluate((e, [ew, eh]) => e.complete && e.naturalWidth === ew && e.naturalHeight === eh, [w, ht]),
      `the photo to load on ${u.name} at ${w} x ${ht}`);
    const vid = u.page.locator('#message-list figure.bubble-media video').last();
    await waitUntil(() => vid.evaluate((e) => e.readyState >= 1 && e.videoWidth === 160),
      `the video to load on ${u.name}`);
  }
  const bobFig = bob.page.locator('#message-list figure.bubble-media').last();
  expect(await bobFig.evaluate((e) => e.dataset.loaded === '1'), 'bob fetched the video', true, false);
  const src = await bob.page.locator('#message-list figure.bubble-media img').last().getAttribute('src');
  expect(/^blob:/.test(src), 'bob\'s photo comes from a blob: URL', 'blob:...', src);
  await bob.page.evaluate(() => {
    const b = document.getElementById('messages');
    b.scrollTop = b.scrollHeight;
  });
  await screenshot(bob, 'bob-media.png');
  await screenshot(alice, 'alice-media.png');

  /* the lightbox shows the photo full size */
  await bob.page.locator('#message-list figure.bubble-media img').last().click();
  await bob.page.locator('#lightbox img').waitFor({ state: 'visible' });
  await waitUntil(() => bob.page.locator('#lightbox img').evaluate((e) => e.complete && e.naturalWidth === 480),
    'the photo in the lightbox');
  await screenshot(bob, 'bob-lightbox.png');
  await bob.page.click('#lightbox .lightbox-close');
  await bob.page.locator('#lightbox').waitFor({ state: 'hidden' });
});

step('an HTML payload is shown as text and runs nothing', async () => {
  const { alice, bob } = users;
  await sendText(alice, XSS);
  await waitForMessage(alice, XSS, 'sent');
  const onBob = await waitForMessage(bob, XSS);
  const text = await onBob.first().locator('p.text').textContent();
  expect(text === XSS, 'payload text on bob', XSS, text);
  for (const u of [alice, bob]) {
    const injected = await u.page.locator('#message-list img[src="x"]').count();
    expect(injected === 0, `${u.name}: <img src=x> elements`, 0, injected);
    expect(u.dialogs.length === 0, `${u.name}: dialogs`, [], u.dialogs);
  }
});

step('a message the relay refuses shows as failed; Retry resends the same clientMsgId', async () => {
  const { alice, bob } = users;
  /* FerretDB cannot store NUL, so the contract has the relay refuse it
   * with an ERROR naming the clientMsgId: a failure that repeats on retry. */
  const bad = `bad\u0000message ${RUN}`;
  await alice.page.locator('#composer-input').evaluate((el, v) => { el.value = v; }, bad);
  await alice.page.press('#composer-input', 'Enter');
  const failed = alice.page.locator('#message-list li.msg.mine[data-state="failed"]');
  await failed.waitFor({ state: 'visible' });
  const cid = await failed.getAttribute('data-client-msg-id');
  /* "rejected" is the page's word for the relay's bad_request; a message
   * failed by the page's own ACK time-out would say "no answer". */
  const status = await failed.locator('.msg-status').textContent();
  expect(/not sent: rejected/i.test(status), 'status of a refused message', 'Not sent: rejected', status);
  const sendsOf = () => alice.framesSent.filter((f) => f.includes(`"clientMsgId":"${cid}"`)).length;
  expect(sendsOf() === 1, `frames sent with ${cid} before Retry`, 1, sendsOf());

  await failed.locator('button.retry').click();
  await waitUntil(async () => sendsOf() === 2, `a second frame with ${cid}`);
  await alice.page.locator(`#message-list li.msg[data-client-msg-id="${cid}"][data-state="failed"]`).waitFor();
  const copies = await alice.page.locator(`#message-list li.msg[data-client-msg-id="${cid}"]`).count();
  expect(copies === 1, 'copies of the retried message on alice', 1, copies);

  await alice.page.locator(`#message-list li.msg[data-client-msg-id="${cid}"] button.discard`).click();
  await alice.page.locator(`#message-list li.msg[data-client-msg-id="${cid}"]`).waitFor({ state: 'detached' });

  /* Bob must never see it: send a good message after it and wait for that. */
  const ok = `after the refused one ${RUN}`;
  await sendText(alice, ok);
  await waitForMessage(bob, ok);
  const onBob = await bob.page.locator(`#message-list li.msg[data-client-msg-id="${cid}"]`).count();
  expect(onBob === 0, 'the refused message on bob', 0, onBob);
}, { soft: true });

step('bob reloads and sees the history', async () => {
  const { bob } = users;
  await bob.page.reload();
  await bob.page.locator('#room').waitFor({ state: 'visible' });
  for (const t of [HELLO, REPLY, XSS]) {
    await waitForMessage(bob, t, 'sent');
    const n = await countOf(bob, t);
    expect(n === 1, `"${t}" after reload`, 1, n);
  }
  const mine = await messageByText(bob, REPLY).first().evaluate((e) => e.classList.contains('mine'));
  expect(mine, 'bob\'s own reply is still "mine" after reload', true, mine);
  await waitForLive(bob);
  await assertNoDuplicates(bob);
});

step('a message sent while the relay restarts arrives exactly once', async () => {
  const { alice, bob } = users;
  /* Hold both windows' next socket tokens: alice writes while she is
   * offline, and bob comes back only after it is stored, so he must get it
   * through ENTER since=<last seq>. */
  const gates = { alice: makeGate(), bob: makeGate() };
  for (const u of [alice, bob]) {
    await u.page.route('**/api/v1/socket-token', async (route) => {
      await gates[u === alice ? 'alice' : 'bob'].opened;
      await route.continue();
    });
  }
  try {
    const res = await runShell(RESTART_CMD, RESTART_WAIT_MS);
    expect(res.code === 0, `"${RESTART_CMD}" exit status (output: ${res.output.trim().slice(-400)})`, 0, res.code);
    for (const u of [alice, bob]) {
      await waitUntil(async () => (await connState(u)) === 'reconnecting', `${u.name} to show reconnecting`);
    }
    await screenshot(alice, 'alice-reconnecting.png');
    await sendText(alice, DURING);
    const pending = await waitForMessage(alice, DURING);
    const st = await pending.first().getAttribute('data-state');
    expect(st === 'pending', 'state of a message written while offline', 'pending', st);

    gates.alice.open();
    await waitForLive(alice);
    await waitForMessage(alice, DURING, 'sent');
    gates.bob.open();
    await waitForLive(bob);
    await waitForMessage(bob, DURING, 'sent');
    /* A later message proves the stream moved past it without a repeat. */
    await sendText(alice, AFTER);
    await waitForMessage(bob, AFTER);
    await waitForMessage(alice, AFTER, 'sent');
    for (const u of [alice, bob]) {
      const n = await countOf(u, DURING);
      expect(n === 1, `${u.name}: copies of the outage message`, 1, n);
      await assertNoDuplicates(u);
    }
  } finally {
    gates.alice.open();
    gates.bob.open();
    for (const u of [alice, bob]) await u.page.unroute('**/api/v1/socket-token').catch(() => {});
  }
});

step(`a long conversation (${BULK} messages) pages in from the top`, async () => {
  const { alice, bob } = users;
  /* Sent as fast as the page takes them; the page paces the socket. */
  for (let i = 1; i <= BULK; i++) await sendText(alice, bulkText(i));
  await waitUntil(async () => (await alice.page.locator('#message-list li.msg[data-state="sent"]')
    .filter({ hasText: ` ${RUN}` }).filter({ hasText: 'bulk ' }).count()) === BULK,
  `all ${BULK} messages acknowledged on alice`, 120000);
  await waitForMessage(bob, bulkText(BULK));

  await bob.page.reload();
  await bob.page.locator('#room').waitFor({ state: 'visible' });
  await waitForMessage(bob, bulkText(BULK), 'sent');
  const firstPageCount = await messageItems(bob).count();
  expect(firstPageCount < BULK, 'messages shown before scrolling up (one page)', `< ${BULK}`, firstPageCount);
  expect(!(await messageByText(bob, bulkText(1)).count()), 'the oldest bulk message is not loaded yet', 0, 1);

  const before = bob.historyRequests.length;
  const box = bob.page.locator('#messages');
  await box.hover();
  /* Scroll to the top until the page says it reached the beginning. */
  await waitUntil(async () => {
    await bob.page.mouse.wheel(0, -4000);
    return (await bob.page.getAttribute('#history-status', 'data-state')) === 'complete';
  }, 'the beginning of the conversation', 60000);
  const olderRequests = bob.historyRequests.slice(before).filter((u) => /[?&]before=\d+/.test(u));
  expect(olderRequests.length >= 2, 'history requests with before= while scrolling up', '>= 2', olderRequests);
  for (const i of [1, 50, 51, BULK]) {
    const n = await countOf(bob, bulkText(i));
    expect(n === 1, `"${bulkText(i)}" after paging`, 1, n);
  }
  const bulkShown = await messageItems(bob).filter({ hasText: 'bulk ' }).filter({ hasText: ` ${RUN}` }).count();
  expect(bulkShown === BULK, 'bulk messages shown after paging', BULK, bulkShown);
  await waitForMessage(bob, HELLO);
  await assertNoDuplicates(bob);
});

step('screenshots of both windows, laptop and phone size', async () => {
  const { alice, bob } = users;
  await screenshot(alice, 'alice.png');
  await bob.page.evaluate(() => {
    const b = document.getElementById('messages');
    b.scrollTop = b.scrollHeight;
  });
  await screenshot(bob, 'bob.png');
  await bob.page.setViewportSize({ width: 390, height: 844 });
  await screenshot(bob, 'bob-phone.png');
  await bob.page.click('#room-back');
  await bob.page.locator('#room-list').waitFor({ state: 'visible' });
  const roomHidden = !(await bob.page.isVisible('#room'));
  expect(roomHidden, 'phone size: back shows the list alone', true, false);
  await screenshot(bob, 'bob-phone-list.png');
  for (const f of ['alice.png', 'bob.png', 'bob-phone.png']) {
    expect(fs.existsSync(path.join(OUT, f)), `screenshot ${f}`, 'written', 'missing');
  }
});

step('sign out, then sign in again by pasting a JWT', async () => {
  const { alice, bob } = users;
  const bobToken = await bob.page.evaluate(() => JSON.parse(localStorage.getItem('chat.session')).token);
  await alice.page.click('#signout');
  await alice.page.locator('#signin').waitFor({ state: 'visible' });
  await alice.page.reload();
  await alice.page.locator('#signin').waitFor({ state: 'visible' });
  const stored = await alice.page.evaluate(() => localStorage.getItem('chat.session'));
  expect(stored === null, 'session kept after sign-out', null, stored);

  /* A fresh window signs in with bob's JWT, as from an external auth service. */
  const third = await newUser(alice.ctx.browser(), BOB);
  try {
    await signInWithToken(third, bobToken);
    await third.page.locator('#app').waitFor({ state: 'visible' });
    const shown = await third.page.textContent('#me-username');
    expect(shown === `@${BOB}`, 'signed in by JWT as', `@${BOB}`, shown);
    await waitForLive(third);
  } finally {
    await third.ctx.close();
  }
  const badCtx = await newUser(alice.ctx.browser(), 'nobody');
  try {
    await signInWithToken(badCtx, 'not.a.jwt');
    await badCtx.page.locator('#signin-error').waitFor({ state: 'visible' });
    expect(await badCtx.page.isHidden('#app'), 'a bad JWT does not sign in', true, false);
  } finally {
    await badCtx.ctx.close();
  }
});

/* A stand-in identity provider: an ES256 key made here, its JWKS served on
 * loopback, and an access token for a user it knows. lighttpd's API
 * programs are restarted to trust it (the way check_idp.c does) and put
 * back afterwards. */
const IDP_PORT = Number(process.env.CHAT_TEST_IDP_PORT || 18096);
const IDP_ISS = `http://127.0.0.1:${IDP_PORT}/realms/chat`;
const CAROL = `carol_${RUN}`;
const FROM_CAROL = `hello from the identity provider ${RUN}`;

function startProvider() {
  const crypto = require('crypto');
  const http = require('http');
  const { publicKey, privateKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const kid = `browser-${RUN}`;
  const jwks = { keys: [Object.assign(publicKey.export({ format: 'jwk' }), { kid, alg: 'ES256', use: 'sig' })] };
  const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  /* An access token as a provider issues it after its own sign-in. */
  const issue = (sub, name) => {
    const now = Math.floor(Date.now() / 1000);
    const input = `${b64({ alg: 'ES256', typ: 'at+jwt', kid })}.${b64({
      iss: IDP_ISS, sub, preferred_username: name, name: `Carol ${RUN}`, iat: now, exp: now + 600,
    })}`;
    const sig = crypto.sign('sha256', Buffer.from(input), { key: privateKey, dsaEncoding: 'ieee-p1363' });
    return `${input}.${sig.toString('base64url')}`;
  };
  let fetches = 0;
  const server = http.createServer((req, res) => {
    if (req.url === '/realms/chat/jwks') {
      fetches++;
      res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'max-age=300' });
      res.end(JSON.stringify(jwks));
    } else {
      res.writeHead(404);
      res.end();
    }
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(IDP_PORT, '127.0.0.1', () => resolve({ server, issue, fetches: () => fetches }));
  });
}

async function restartLighttpd(env) {
  const vars = Object.entries(env).map(([k, v]) => `${k}='${v}'`).join(' ');
  const r = await runShell(`${vars} '${ROOT}/deploy/dev/stack.sh' restart lighttpd`, RESTART_WAIT_MS);
  expect(r.code === 0, `lighttpd restart (${vars || 'plain'})`, 0, `${r.code}: ${r.output.slice(-400)}`);
}

step('a user of an identity provider signs in with its token, no dev login', async () => {
  const { alice } = users;
  const idp = await startProvider();
  let carol = null;
  try {
    await restartLighttpd({
      CHAT_JWT_ALGORITHMS: 'HS256,ES256',
      CHAT_JWT_JWKS_URL: `${IDP_ISS}/jwks`,
    });
    const token = idp.issue(`${RUN}-0f9e-carol`, CAROL);
    carol = await newUser(alice.ctx.browser(), CAROL);
    await signInWithToken(carol, token);
    await carol.page.locator('#app').waitFor({ state: 'visible' });
    const shown = await carol.page.textContent('#me-username');
    expect(shown === `@${CAROL}`, 'provider user signed in as', `@${CAROL}`, shown);
    expect(idp.fetches() >= 1, 'the API fetched the provider keys', '>= 1', idp.fetches());
    await waitForLive(carol);
    /* The new user chats like any other: a room with alice, by name. */
    await carol.page.fill('#new-room-peer', ALICE);
    await carol.page.click('#new-room-submit');
    await carol.page.locator('#room').waitFor({ state: 'visible' });
    await sendText(carol, FROM_CAROL);
    await waitForMessage(carol, FROM_CAROL, 'sent');
    /* The same subject signs in again later: the same user. */
    const again = await carol.page.evaluate(async (t) => {
      const r = await fetch('/api/v1/me', { headers: { Authorization: `Bearer ${t}` } });
      return r.json();
    }, idp.issue(`${RUN}-0f9e-carol`, 'renamed'));
    expect(again.user && again.user.username === CAROL, 'second token maps to', CAROL, again.user);
    expect(carol.pageErrors.length === 0, 'carol: uncaught page errors', [], carol.pageErrors);
    expect(carol.cspViolations.length === 0, 'carol: CSP violations', [], carol.cspViolations);
  } finally {
    if (carol) await carol.ctx.close().catch(() => {});
    await restartLighttpd({});
    idp.server.close();
  }
});

step('no script errors and no dialogs in either window', async () => {
  for (const u of [users.alice, users.bob]) {
    expect(u.pageErrors.length === 0, `${u.name}: uncaught page errors`, [], u.pageErrors);
    expect(u.dialogs.length === 0, `${u.name}: dialogs`, [], u.dialogs);
    expect(u.cspViolations.length === 0, `${u.name}: Content-Security-Policy violations`, [], u.cspViolations);
  }
});

/* ------------------------------------------------------------------ */

async function main() {
  let passed = 0;
  let failed = 0;
  let browser = null;
  const guard = setTimeout(() => {
    console.log(`browser: run limit of ${RUN_LIMIT_MS / 1000} s reached`);
    console.log(`browser: ${passed} passed, ${steps.length - passed} failed`);
    process.exit(1);
  }, RUN_LIMIT_MS);

  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'chat-browser-'));
  try {
    fs.mkdirSync(OUT, { recursive: true });
    /* Playwright gives launch() a fresh profile of its own; the temporary
     * directory is for Chromium's crash dumps and the like. */
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: CHROMIUM_ARGS,
      downloadsPath: userDataDir,
      env: Object.assign({}, process.env, { HOME: userDataDir }),
    });
    users.alice = await newUser(browser, ALICE, { locale: 'en-GB', timezoneId: 'America/New_York' });
    users.bob = await newUser(browser, BOB, { locale: 'ko-KR', timezoneId: 'Asia/Seoul' });
  } catch (e) {
    console.log(`not ok - launch ${CHROMIUM}: ${e.message}`);
    console.log(`browser: 0 passed, ${steps.length} failed`);
    clearTimeout(guard);
    process.exitCode = 1;
    return;
  }

  console.log(`browser: ${BASE} as ${ALICE} and ${BOB}; screenshots in ${OUT}`);
  let broken = null;
  for (const s of steps) {
    if (broken) {
      console.log(`not ok - ${s.name} (not run: "${broken}" failed)`);
      failed++;
      continue;
    }
    try {
      await s.fn();
      console.log(`ok - ${s.name}`);
      passed++;
    } catch (e) {
      /* Playwright's own errors carry a long call log: the first lines say it. */
      const why = e instanceof Expectation ? e.message : String(e.message || e).split('\n').slice(0, 4).join('\n    ');
      console.log(`not ok - ${s.name}: ${why}`);
      failed++;
      if (!s.soft) broken = s.name;
      await screenshot(users.alice, 'alice-failure.png');
      await screenshot(users.bob, 'bob-failure.png');
    }
  }
  await browser.close().catch(() => {});
  fs.rmSync(userDataDir, { recursive: true, force: true });
  clearTimeout(guard);
  console.log(`browser: ${passed} passed, ${failed} failed`);
  process.exitCode = failed ? 1 : 0;
}

main();
