// The transports probe: evaluated into a document of the origin under test, so every
// EventSource, fetch() and WebSocket it opens is same-origin and shares that origin's
// connections exactly as a page's own would. The test reads `probe.state()` by polling; times
// are milliseconds since the probe was installed (performance.now(), monotonic).
(() => {
  const t0 = performance.now();
  const now = () => Math.round((performance.now() - t0) * 10) / 10;
  const streams = [];
  const fetches = [];
  const sockets = [];
  const marks = {};
  window.probe = {
    now,
    mark(name) {
      marks[name] = now();
      return marks[name];
    },
    // N EventSources on `url`, all asked for at once.
    openStreams(n, url) {
      for (let k = 0; k < n; k++) {
        const s = {
          i: streams.length, asked: now(), opened: null, reopened: [], firstEvent: null,
          ids: [], data: [], errors: [], closed: null,
        };
        const es = new EventSource(url);
        es.onopen = () => (s.opened === null ? (s.opened = now()) : s.reopened.push(now()));
        es.onmessage = (e) => {
          if (s.firstEvent === null) s.firstEvent = now();
          s.ids.push(e.lastEventId);
          s.data.push(e.data);
        };
        es.onerror = () => s.errors.push({ at: now(), readyState: es.readyState });
        Object.defineProperty(s, 'es', { value: es, enumerable: false });
        streams.push(s);
      }
      return streams.length;
    },
    closeStream(i) {
      streams[i].es.close();
      streams[i].closed = now();
    },
    closeStreams() {
      streams.forEach((s, i) => s.closed === null && this.closeStream(i));
    },
    // One fetch(), timed to the end of its body; the protocol is the browser's own word
    // (Resource Timing's nextHopProtocol: "http/1.1", "h2").
    startFetch(url) {
      const href = new URL(url, location.href).href;
      const f = { url: href, asked: now(), done: null, status: null, protocol: null, error: null };
      fetches.push(f);
      fetch(href, { cache: 'no-store' })
        .then((r) => r.text().then(() => {
          f.done = now();
          f.status = r.status;
          const e = performance.getEntriesByName(href).pop();
          f.protocol = e ? e.nextHopProtocol : null;
        }))
        .catch((e) => { f.error = String(e); f.done = now(); });
      return fetches.length - 1;
    },
    // A WebSocket on `url` (path and query, same origin) whose frames are JSON
    // {"id","event","data"}. With `reconnectMs` null it does nothing on close, as a WebSocket
    // does; otherwise the page's own code comes back after that delay, passing the last id
    // it had as `last_event_id` (the work EventSource does by itself).
    openSocket(url, reconnectMs) {
      const w = {
        i: sockets.length, asked: now(), opened: null, reopened: [], firstEvent: null,
        ids: [], data: [], closes: [], errors: [],
      };
      const connect = () => {
        const u = new URL(url, location.href);
        u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:';
        if (w.ids.length) u.searchParams.set('last_event_id', w.ids[w.ids.length - 1]);
        const ws = new WebSocket(u.href);
        ws.onopen = () => (w.opened === null ? (w.opened = now()) : w.reopened.push(now()));
        ws.onmessage = (m) => {
          let frame;
          try {
            frame = JSON.parse(m.data);
          } catch (e) {
            w.errors.push({ at: now(), what: 'a frame that is not JSON' });
            return;
          }
          if (w.firstEvent === null) w.firstEvent = now();
          w.ids.push(frame.id);
          w.data.push(frame.data);
        };
        ws.onerror = () => w.errors.push({ at: now(), what: 'error' });
        ws.onclose = (c) => {
          w.closes.push({ at: now(), code: c.code, wasClean: c.wasClean });
          if (reconnectMs !== null && reconnectMs !== undefined) setTimeout(connect, reconnectMs);
        };
      };
      connect();
      sockets.push(w);
      return sockets.length - 1;
    },
    state() {
      return JSON.stringify({ now: now(), marks, streams, fetches, sockets });
    },
  };
  return true;
})()
