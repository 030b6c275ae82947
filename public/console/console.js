// MWS live console: plain browser JavaScript, no build step, no dependencies.
(function () {
  'use strict';

  var PING_INTERVAL_MS = 25000;
  var $ = function (id) { return document.getElementById(id); };

  // The page lives at <tenant base>/console/ (tenant host) or /v1/gateways/<tenant>/console/ (gateway prefix).
  var apiBase = location.origin + location.pathname.replace(/\/(v1\/)?console(\/.*)?$/, '');
  $('api-base').textContent = apiBase;

  var DROP_FOR_MS = 10000;
  var socket = null;
  var pingTimer = null;
  var uri = null;
  // The mws.v2 stream of the socket this page created: what to resume from after a drop.
  var stream = { id: null, tags: [], token: null, seq: 0, epoch: null, acked: 0, ackTimer: null };

  function log(text, isError) {
    var li = document.createElement('li');
    li.textContent = new Date().toLocaleTimeString() + ' ' + text;
    if (isError) li.className = 'error';
    $('log').prepend(li);
  }

  function list(value) {
    var items = value.split(',').map(function (s) { return s.trim(); }).filter(Boolean);
    return items.length > 0 ? items : null;
  }

  async function api(method, path, body) {
    var headers = { Authorization: 'Bearer ' + $('token').value.trim() };
    var init = { method: method, headers: headers };
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    var res = await fetch(apiBase + path, init);
    var text = await res.text();
    var json = text ? JSON.parse(text) : null;
    if (!res.ok) {
      var problem = json && json.error ? json.error.reason + ': ' + json.error.message
        : json && json.errors ? json.errors.map(function (e) { return e.message; }).join('; ')
        : 'HTTP ' + res.status;
      throw new Error(method + ' ' + path + ' failed: ' + problem);
    }
    return json;
  }

  function guarded(fn) {
    return function () {
      Promise.resolve().then(fn).catch(function (err) { log(String(err && err.message || err), true); });
    };
  }

  function setStatus(text) {
    $('status').textContent = text;
    $('connect').disabled = socket !== null || uri === null;
    $('disconnect').disabled = socket === null;
    $('drop').disabled = socket === null || stream.token === null;
  }

  $('create-socket').addEventListener('click', guarded(async function () {
    var body = { tags: list($('tags').value) || [] };
    var id = $('socket-id').value.trim();
    if (id) body.id = id;
    var created = await api('POST', '/v1/sockets', body);
    stream = { id: created.id, tags: created.tags, token: null, seq: 0, epoch: null, acked: 0, ackTimer: null };
    uri = created.uri;
    $('uri').textContent = created.uri;
    $('created-id').textContent = created.id;
    log('created socket ' + created.id + ' (uri valid until ' + created.expiresAt + ', single use)');
    setStatus(socket ? $('status').textContent : 'ready to connect');
  }));

  function show(text, className) {
    var li = document.createElement('li');
    li.textContent = text;
    if (className) li.className = className;
    $('messages').append(li);
  }

  // Cumulative acks of what was shown, at most every 100 ms, so the service never pauses this socket.
  function scheduleAck(ws) {
    if (stream.ackTimer !== null) return;
    stream.ackTimer = setTimeout(function () {
      stream.ackTimer = null;
      if (stream.seq > stream.acked && ws.readyState === WebSocket.OPEN) {
        stream.acked = stream.seq;
        ws.send(JSON.stringify({ type: 'ack', seq: stream.seq }));
      }
    }, 100);
  }

  function onMessage(ws, data) {
    if (data === 'pong') return; // keepalive answer
    if (typeof data !== 'string') {
      // Binary mws.v2 frame: kind byte, seq (8 bytes, big-endian), id length, id, then the message's bytes.
      var view = new DataView(data);
      var seq = Number(view.getBigUint64(1));
      var idLength = view.getUint8(9);
      var id = String.fromCharCode.apply(null, new Uint8Array(data, 10, idLength));
      if (seq <= stream.seq) return;
      stream.seq = seq;
      show('#' + seq + ' · ' + id + ' · <' + (data.byteLength - 10 - idLength) + ' bytes>');
      return scheduleAck(ws);
    }
    var frame = JSON.parse(data);
    if (frame.type === 'hello') {
      if (frame.epoch !== stream.epoch || frame.resumed !== true) stream.seq = frame.seq;
      stream.acked = stream.seq;
      stream.epoch = frame.epoch;
      stream.token = frame.resume;
      setStatus($('status').textContent);
      log('hello: epoch ' + frame.epoch + ', from seq ' + frame.seq + (frame.resumed === undefined ? '' : frame.resumed ? ', resumed: what was missed follows' : ', not resumed'));
    } else if (frame.type === 'resume_failed') {
      stream.seq = frame.seq;
      show('gap: ' + frame.reason + ' (' + frame.message + ')', 'error');
      log('recovery failed: ' + frame.reason, true);
    } else if (frame.type === 'msg') {
      if (frame.seq <= stream.seq) return; // already shown
      stream.seq = frame.seq;
      show('#' + frame.seq + ' · ' + frame.id + ' · ' + frame.data);
      scheduleAck(ws);
    }
  }

  function connect(connectUri, resume) {
    var ws = new WebSocket(connectUri + (resume ? '&resume=' + encodeURIComponent(resume) : ''), ['mws.v2']);
    ws.binaryType = 'arraybuffer';
    socket = ws;
    setStatus('connecting');
    ws.addEventListener('open', function () {
      setStatus('connected');
      log('connected (' + (ws.protocol || 'raw') + ')');
      pingTimer = setInterval(function () { if (ws.readyState === WebSocket.OPEN) ws.send('ping'); }, PING_INTERVAL_MS);
    });
    ws.addEventListener('message', function (event) { onMessage(ws, event.data); });
    ws.addEventListener('close', function (event) {
      clearInterval(pingTimer);
      if (socket === ws) socket = null;
      log('closed with ' + event.code + (event.reason ? ' (' + event.reason + ')' : ''), event.code !== 1000);
      setStatus('disconnected (' + event.code + ')');
    });
  }

  $('connect').addEventListener('click', function () {
    if (uri === null || socket !== null) return;
    var connectUri = uri;
    uri = null; // connect uris are single-use
    $('uri').textContent = 'used';
    connect(connectUri, null);
  });

  $('disconnect').addEventListener('click', function () {
    if (socket) socket.close(1000, 'closed from the console');
  });

  // Drops the connection, lets pushes pile up for 10 s, then reconnects with a fresh uri and resumes.
  $('drop').addEventListener('click', guarded(async function () {
    if (socket === null || stream.token === null) return;
    var resume = stream.seq + '.' + stream.token;
    socket.close(1000, 'dropped from the console for 10 s');
    var until = Date.now() + DROP_FOR_MS;
    await new Promise(function (resolve) {
      var tick = setInterval(function () {
        var left = Math.ceil((until - Date.now()) / 1000);
        if (left <= 0) { clearInterval(tick); resolve(); } else setStatus('dropped: reconnecting in ' + left + ' s');
      }, 250);
    });
    var created = await api('POST', '/v1/sockets', { id: stream.id, tags: stream.tags });
    log('reconnecting as ' + created.id + ', resuming after seq ' + stream.seq);
    connect(created.uri, resume);
  }));

  $('push').addEventListener('click', guarded(async function () {
    var receivers = { sockets: list($('push-sockets').value), tags: list($('push-tags').value) };
    var result = await api('POST', '/v1/messages', { data: $('push-data').value, receivers: receivers });
    $('push-result').textContent = 'sent to ' + result.sent + ' socket(s), id ' + result.id;
    log('pushed message ' + result.id + ' to ' + result.sent + ' socket(s)');
  }));

  $('list').addEventListener('click', guarded(async function () {
    var body = await api('GET', '/v1/sockets');
    var tbody = $('sockets');
    tbody.textContent = '';
    body.results.forEach(function (s) {
      var tr = document.createElement('tr');
      [s.id, s.connectedAt, s.tags.join(', ')].forEach(function (value) {
        var td = document.createElement('td');
        td.textContent = value;
        tr.append(td);
      });
      tbody.append(tr);
    });
    log('listed ' + body.results.length + ' connected socket(s)');
  }));

  setStatus('disconnected');
})();
