/**
 * HAR with a consumer people run, in headless Chromium (Debian's /usr/bin/chromium driven by playwright-core):
 * - out: Playwright's routeFromHAR (the HAR replay testers use to mock a site) serves a page and its fetches
 *   from the HAR we wrote of samples/http-sample.pcap, with nothing listening on the captured address:
 *   Chromium gets the captured statuses, bodies and headers (those entries were checked against tshark);
 * - in: a HAR Chromium recorded (recordHar) of a real page on a local server reads back (lib/har/read.ts)
 *   into the requests and responses the server handled.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import type { AddressInfo } from 'node:net';
import { chromium, type Browser } from 'playwright-core';
import { REPO_ROOT } from './helpers/oracle';
import { harOfCapture, schemaErrors } from './har-helpers';
import { parseHar } from '../lib/har/read';
import type { HttpRequestEvent, HttpResponseEvent } from '../lib/http/events';

const CHROMIUM = '/usr/bin/chromium';
const SAMPLE = path.join(REPO_ROOT, 'samples', 'http-sample.pcap');
const skip = fs.existsSync(CHROMIUM) ? false : `${CHROMIUM} not installed`;

async function launch(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

/** The little of the DOM the page functions use (tsconfig has no "dom" lib). */
declare const document: { body: { innerText: string } };
declare function fetch(url: string, init?: { method?: string; body?: string; headers?: Record<string, string> }): Promise<{ status: number; text(): Promise<string>; headers: { get(n: string): string | null } }>;

test('Playwright routeFromHAR serves the captured exchanges to Chromium from our HAR', { skip, timeout: 60_000 }, async () => {
  const doc = await harOfCapture(SAMPLE);
  assert.equal(schemaErrors(doc), '');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'har-chromium-'));
  const harFile = path.join(dir, 'sample.har');
  fs.writeFileSync(harFile, JSON.stringify(doc));
  const browser = await launch();
  try {
    const context = await browser.newContext();
    // notFound 'abort': a request the HAR does not answer fails (nothing listens on the captured port)
    await context.routeFromHAR(harFile, { notFound: 'abort' });
    const page = await context.newPage();
    const byPath = new Map(doc.log.entries.map((e) => [`${e.request.method} ${new URL(e.request.url).pathname}`, e]));
    const root = byPath.get('GET /')!;
    const nav = await page.goto(root.request.url);
    assert.equal(nav?.status(), root.response.status);
    const html = root.response.content.text!;
    assert.equal(await page.title(), /<title>([^<]*)<\/title>/.exec(html)?.[1]);
    assert.equal((await page.evaluate(() => document.body.innerText)).trim(), html.replace(/<title>[^<]*<\/title>/, '').replace(/<[^>]*>/g, '').trim());

    for (const key of ['GET /data.json', 'GET /stream', 'GET /missing', 'POST /api/items']) {
      const e = byPath.get(key)!;
      const got = await page.evaluate(async ({ url, method, body, type }) => {
        const r = await fetch(url, { method, ...(body !== undefined ? { body, headers: { 'content-type': type } } : {}) });
        return { status: r.status, text: await r.text(), contentType: r.headers.get('content-type') };
      }, { url: e.request.url, method: e.request.method, body: e.request.postData?.text, type: e.request.postData?.mimeType ?? '' });
      assert.equal(got.status, e.response.status, key);
      assert.equal(got.text, e.response.content.text ?? '', key);
      assert.equal(got.contentType, e.response.content.mimeType, key);
    }
    // and a URL the capture does not have is not answered
    await assert.rejects(page.evaluate(async (url) => (await fetch(url)).status, new URL('/not-captured', root.request.url).href));
    await context.close();
  } finally {
    await browser.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('a HAR Chromium recorded reads back into the requests and responses the server handled', { skip, timeout: 60_000 }, async () => {
  const handled: { method: string; url: string; status: number; body: string }[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => { body += d.toString(); });
    req.on('end', () => {
      const reply = (status: number, type: string, text: string): void => {
        handled.push({ method: req.method!, url: req.url!, status, body: text });
        res.writeHead(status, { 'content-type': type, 'set-cookie': 'seen=1; Path=/' });
        res.end(text);
      };
      // The page reads every response body before it says done: Chromium records a body in its HAR only
      // once the page has read it, and a body left unread was missing from the HAR now and then.
      if (req.url === '/') reply(200, 'text/html', '<!doctype html><title>t</title><p id=p>page</p><script>fetch("/api/items?x=1").then(r=>r.json()).then(()=>fetch("/form",{method:"POST",headers:{"content-type":"application/x-www-form-urlencoded"},body:"a=1&b=two"})).then(r=>r.text()).then(()=>document.title="done")</script>');
      else if (req.url === '/api/items?x=1') reply(200, 'application/json', JSON.stringify({ items: [1, 2, 3] }));
      else if (req.url === '/form') reply(201, 'text/plain', `got ${body}`);
      else reply(404, 'text/plain', 'no');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'har-chromium-'));
  const harFile = path.join(dir, 'browser.har');
  const browser = await launch();
  try {
    const context = await browser.newContext({ recordHar: { path: harFile, content: 'embed' } });
    const page = await context.newPage();
    await page.goto(`http://127.0.0.1:${port}/`);
    await page.waitForFunction(() => (document as unknown as { title: string }).title === 'done', undefined, { polling: 50, timeout: 20_000 });
    await context.close(); // writes the HAR
    const { events, skipped } = parseHar(fs.readFileSync(harFile, 'utf8'));
    assert.deepEqual(skipped, []);
    const requests = events.filter((e): e is HttpRequestEvent & typeof e => e.type === 'request');
    const responses = events.filter((e): e is HttpResponseEvent & typeof e => e.type === 'response');
    const served = handled.filter((h) => h.url !== '/favicon.ico');
    const seen = requests.filter((r) => !r.url.endsWith('/favicon.ico'));
    assert.deepEqual(seen.map((r) => `${r.method} ${r.url}`), served.map((h) => `${h.method} ${h.url}`));
    for (const h of served) {
      const res = responses.find((r) => r.request?.url === h.url)!;
      assert.equal(res.status, h.status, h.url);
      assert.equal(res.body?.toString(), h.body, h.url);
      assert.equal(res.server, `127.0.0.1:${port}`);
      assert.ok(res.timing.requestStart! <= res.timing.requestSent! && res.timing.requestSent! <= res.timing.firstByte && res.timing.firstByte <= res.timing.complete);
    }
    const form = seen.find((r) => r.url === '/form')!;
    assert.equal(form.body?.toString(), 'a=1&b=two');
    // time order: each response after its request
    for (const res of responses) {
      const req = requests.find((r) => r.connection === res.connection && r.index === res.request?.index)!;
      assert.ok(events.indexOf(req) < events.indexOf(res));
    }
  } finally {
    await browser.close();
    server.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
