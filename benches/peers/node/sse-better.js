// Server-Sent Events with better-sse on Express, as its README sets up a broadcast channel:
// each GET /stream gets a session registered on one channel, POST /publish broadcasts to it.
// The library's defaults apply (retry 2000, a keep-alive comment every 10 s per session) but
// one: the serializer writes the data as given instead of JSON.stringify, so that the events
// carry `ssekit load`'s stamps as they were published.
//
// Usage: node sse-better.js PORT
'use strict';

const express = require('express');
const { createChannel, createSession } = require('better-sse');

const app = express();
app.use(express.json());
const channel = createChannel();
let lastId = 0;

app.get('/stream', async (req, res) => {
  const session = await createSession(req, res, { serializer: String });
  channel.register(session);
});

app.post('/publish', (req, res) => {
  for (const message of [].concat(req.body)) {
    lastId += 1;
    channel.broadcast(message.data, message.event || 'message', { eventId: String(lastId) });
  }
  res.json({ id: String(lastId) });
});

app.listen(Number(process.argv[2]), '127.0.0.1');
