// Node's own `http` module, no framework: the hand-written SSE endpoint of many tutorials.
// GET /events writes the head, then `id:`/`event:`/`data:` lines for each published message to
// every open response, and a `: keep-alive` comment every 15 s; POST /publish broadcasts and
// answers the id. Data goes out as given (one `data:` line), ids are a counter, nothing is
// kept for replay.
//
// Usage: node plain-http.js PORT
'use strict';

const http = require('http');

const clients = new Set();
let lastId = 0;

function events(req, res) {
  res.writeHead(200, {
    'Content-Type': 'text/event-stream',
    'Cache-Control': 'no-cache',
    Connection: 'keep-alive',
  });
  res.write('retry: 3000\n\n');
  const heartbeat = setInterval(() => res.write(': keep-alive\n\n'), 15000);
  clients.add(res);
  req.on('close', () => {
    clearInterval(heartbeat);
    clients.delete(res);
  });
}

function publish(req, res) {
  let body = '';
  req.on('data', (chunk) => (body += chunk));
  req.on('end', () => {
    const message = JSON.parse(body);
    const id = String(++lastId);
    const event = message.event ? `event: ${message.event}\n` : '';
    for (const client of clients) {
      client.write(`id: ${id}\n${event}data: ${message.data}\n\n`);
    }
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify({ id }));
  });
}

http
  .createServer((req, res) => {
    if (req.method === 'GET' && req.url === '/events') return events(req, res);
    if (req.method === 'POST' && req.url === '/publish') return publish(req, res);
    res.writeHead(404);
    res.end();
  })
  .listen(Number(process.argv[2]), '127.0.0.1');
