#!/usr/bin/env node
// Makes samples/http-sample.pcap: real traffic between real programs on 127.0.0.1, captured by tcpdump.
// A node HTTP server answering keep-alive GETs (plain, gzip, chunked), the article's unquoted
// `curl -d {"foo": "bar"}` POST (the body on the wire is `{foo:`), a 404, a HEAD, and a WebSocket
// exchange (the `ws` package) with text, binary and a close. Run as root: `node samples/make-sample.js`.
'use strict';
const http = require('node:http');
const zlib = require('node:zlib');
const path = require('node:path');
const { spawn, execFileSync } = require('node:child_process');
const { WebSocketServer, WebSocket } = require('ws');

const OUT = process.argv[2] || path.join(__dirname, 'http-sample.pcap');

async function main() {
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d) => { body += d; });
    req.on('end', () => {
      if (req.url === '/api/items' && req.method === 'POST') {
        res.writeHead(400, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ error: 'invalid JSON', received: body }));
      } else if (req.url === '/') {
        res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
        res.end('<!doctype html><title>pcap-pipe sample</title><h1>Hello from the wire</h1>\n');
      } else if (req.url === '/data.json') {
        const json = JSON.stringify({ items: Array.from({ length: 40 }, (_, i) => ({ id: i, name: `item ${i}` })) });
        res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Encoding': 'gzip' });
        res.end(zlib.gzipSync(json));
      } else if (req.url === '/stream') {
        res.writeHead(200, { 'Content-Type': 'text/plain' }); // no length: chunked
        let n = 0;
        const t = setInterval(() => { res.write(`line ${++n}\n`); if (n === 5) { clearInterval(t); res.end(); } }, 5);
      } else {
        res.writeHead(404, { 'Content-Type': 'text/plain' });
        res.end('not found\n');
      }
    });
  });
  const wss = new WebSocketServer({ server, perMessageDeflate: false });
  wss.on('connection', (ws) => ws.on('message', (data, isBinary) => ws.send(isBinary ? data : `echo: ${data}`)));
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const port = server.address().port;

  const tcpdump = spawn('tcpdump', ['-i', 'lo', '--immediate-mode', '-U', '-w', OUT, 'tcp port ' + port], { stdio: ['ignore', 'ignore', 'pipe'] });
  await new Promise((resolve) => tcpdump.stderr.on('data', (d) => { if (/listening/.test(d)) resolve(); }));

  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const get = (p, method = 'GET', body) => new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: p, method, agent, headers: body ? { 'Content-Type': 'application/x-www-form-urlencoded' } : {} }, (res) => {
      res.resume();
      res.on('end', resolve);
    });
    req.on('error', reject);
    req.end(body);
  });
  await get('/');
  await get('/data.json');
  await get('/stream');
  await get('/api/items', 'POST', '{foo:'); // what the shell makes of curl -d {"foo": "bar"} without quotes
  await get('/missing');
  await get('/', 'HEAD');
  agent.destroy();

  await new Promise((resolve) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/chat`, { perMessageDeflate: false });
    let got = 0;
    ws.on('open', () => { ws.send('hello over WebSocket'); ws.send(JSON.stringify({ type: 'ping', n: 1 })); ws.send(Buffer.from([1, 2, 3, 4, 250])); });
    ws.on('message', () => { if (++got === 3) ws.close(1000, 'done'); });
    ws.on('close', resolve);
  });
  await new Promise((r) => setTimeout(r, 200));
  tcpdump.kill('SIGINT');
  await new Promise((r) => tcpdump.on('exit', r));
  wss.close();
  server.close();
  process.stdout.write(execFileSync('capinfos', ['-c', OUT]).toString());
}

main().catch((e) => { console.error(e); process.exit(1); });
