// WebSocket with the `ws` package, as its README broadcasts: a WebSocketServer on an `http`
// server, every open client sent each message, and the README's heartbeat (a ping to every
// client each 30 s, a client that did not answer the last one terminated). It speaks
// `ssekit load`'s format: POST /publish `{"data": TEXT}` (or an array of them), and each event
// goes out as one text frame `{"id","event","data"}`. Nothing is kept for replay:
// `?last_event_id=` is ignored.
//
// Usage: node ws.js PORT
'use strict';

const http = require('http');
const { WebSocketServer, WebSocket } = require('ws');

let lastId = 0;

const server = http.createServer((req, res) => {
  if (req.method !== 'POST' || req.url !== '/publish') {
    res.writeHead(404);
    res.end();
    return;
  }
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
    for (const message of messages) {
      lastId += 1;
      const frame = JSON.stringify({ id: String(lastId), event: 'message', data: message.data });
      for (const client of wss.clients) {
        if (client.readyState === WebSocket.OPEN) client.send(frame);
      }
    }
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify({ id: String(lastId) }));
  });
});

const wss = new WebSocketServer({ server, path: '/ws' });

wss.on('connection', (ws) => {
  ws.isAlive = true;
  ws.on('pong', () => (ws.isAlive = true));
  ws.on('error', console.error);
});

const heartbeat = setInterval(() => {
  for (const ws of wss.clients) {
    if (ws.isAlive === false) {
      ws.terminate();
      continue;
    }
    ws.isAlive = false;
    ws.ping();
  }
}, 30000);
wss.on('close', () => clearInterval(heartbeat));

server.listen(Number(process.argv[2]), '127.0.0.1');
