// Server-Sent Events on Node's own `http` module, as tutorials write it: GET /stream writes
// the head and keeps the response in a set; POST /publish writes `id:` and `data:` lines to
// every open response and answers the id; each stream gets a `: keep-alive` comment every
// 15 s from its own timer. It speaks `ssekit load`'s format: the publish body is
// `{"data": TEXT}` (or an array of them with --batch), written as one `data:` line.
// Nothing is kept for replay: `Last-Event-ID` is ignored.
//
// Usage: node sse-http.js PORT
'use strict';

const http = require('http');

const clients = new Set();
let lastId = 0;

function stream(req, res) {
  res.writeHead(200, {
    'Content-Type': 'text/event-stream',
    'Cache-Control': 'no-cache',
    Connection: 'keep-alive',
  });
  res.write(': connected\n\n');
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
    let messages;
    try {
      messages = [].concat(JSON.parse(body));
    } catch (err) {
      res.writeHead(400, { 'Content-Type': 'text/plain' });
      res.end(`the body is not JSON: ${err.message}\n`);
      return;
    }
    let frame = '';
    for (const message of messages) {
      lastId += 1;
      frame += `id: ${lastId}\ndata: ${message.data}\n\n`;
    }
    for (const client of clients) client.write(frame);
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify({ id: String(lastId) }));
  });
}

http
  .createServer((req, res) => {
    if (req.method === 'GET' && req.url.split('?')[0] === '/stream') return stream(req, res);
    if (req.method === 'POST' && req.url === '/publish') return publish(req, res);
    res.writeHead(404);
    res.end();
  })
  .listen(Number(process.argv[2]), '127.0.0.1');
