// Express as the most-copied Node SSE tutorials write it: set the SSE headers, flushHeaders(),
// keep the response in a list, and send every message as
// res.write(`data: ${JSON.stringify(x)}\n\n`), so a published string arrives JSON-quoted.
// No ids, no heartbeat, no event names. With --compression the app also does
// app.use(compression()), as many Express apps do globally, and never calls res.flush().
//
// Usage: node express-json.js PORT [--compression]
'use strict';

const express = require('express');

const app = express();
if (process.argv.includes('--compression')) {
  app.use(require('compression')());
}
app.use(express.json());

let clients = [];

app.get('/events', (req, res) => {
  res.setHeader('Content-Type', 'text/event-stream');
  res.setHeader('Cache-Control', 'no-cache');
  res.setHeader('Connection', 'keep-alive');
  res.flushHeaders();
  const client = { id: Date.now(), res };
  clients.push(client);
  req.on('close', () => {
    clients = clients.filter((c) => c !== client);
  });
});

app.post('/publish', (req, res) => {
  const x = req.body.data;
  clients.forEach((c) => c.res.write(`data: ${JSON.stringify(x)}\n\n`));
  res.json({});
});

app.listen(Number(process.argv[2]), '127.0.0.1');
