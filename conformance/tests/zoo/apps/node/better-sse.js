// better-sse on Express, as its README sets up a broadcast channel: each GET /sse gets a
// session registered on one channel, and POST /publish broadcasts to it. The library's
// defaults apply: data serialized with JSON.stringify, a random UUID id per event, retry 2000,
// a keep-alive comment every 10 s. The publish answer carries the id (given to broadcast so
// the app knows it).
//
// Usage: node better-sse.js PORT
'use strict';

const crypto = require('crypto');
const express = require('express');
const { createChannel, createSession } = require('better-sse');

const app = express();
app.use(express.json());
const channel = createChannel();

app.get('/sse', async (req, res) => {
  const session = await createSession(req, res);
  channel.register(session);
});

app.post('/publish', (req, res) => {
  const eventId = crypto.randomUUID();
  channel.broadcast(req.body.data, req.body.event || 'message', { eventId });
  res.json({ id: eventId });
});

app.listen(Number(process.argv[2]), '127.0.0.1');
