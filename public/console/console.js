// MWS live console: plain browser JavaScript, no build step, no dependencies.
(function () {
  'use strict';

  var PING_INTERVAL_MS = 25000;
  var LIST_REFRESH_MS = 3000;
  var TOKEN_SETTLE_MS = 300;
  var LIST_LIMIT = 100;
  var DROP_FOR_MS = 10000;
  var $ = function (id) { return document.getElementById(id); };

  // ---- Where this page is ----
  // At <tenant base>/console/: on a tenant host, or under /v1/gateways/<tenant>/ on any host.
  var apiBase = location.origin + location.pathname.replace(/\/(v1\/)?console(\/.*)?$/, '');
  var gateway = /\/v1\/gateways\/([^/]+)/.exec(location.pathname);
  var tenant = gateway ? decodeURIComponent(gateway[1]) : location.hostname.split('.')[0];
  $('api-base').textContent = apiBase;
  $('tenant-name').textContent = tenant;

  // tokenAccepted: null until GET /v1/sockets answers. uri, socketId: the socket created last (uri null once used).
  // socket, pageSocketId: this page's WebSocket and its socket id.
  var state = { token: '', tokenAccepted: null, uri: null, socketId: null, socket: null, pageSocketId: null };
  // The mws.v2 stream of this page's socket: its tags, the last hello's resume token, the last seq shown, what was acked.
  var stream = { tags: [], token: null, seq: 0, epoch: null, acked: 0, ackTimer: null, dropping: false };

  // ---- Small helpers: times, lists, problems shown next to the action that caused them ----

  function clock(date) {
    var pad = function (n) { return String(n).padStart(2, '0'); };
    return pad(date.getHours()) + ':' + pad(date.getMinutes()) + ':' + pad(date.getSeconds());
  }

  /** Adds an entry at the top of a timeline list (messages, log): newest first, each with its time. */
  function addEntry(list, text, className) {
    var now = new Date();
    var li = document.createElement('li');
    var time = document.createElement('time');
    time.dateTime = now.toISOString();
    time.textContent = clock(now);
    var body = document.createElement('span');
    body.textContent = text;
    li.append(time, ' ', body);
    if (className) li.className = className;
    list.prepend(li);
  }

  function log(text, isError) { addEntry($('log'), text, isError ? 'error' : ''); }

  /** Shows a problem in the section's `.problem` box; a section without one gets one at its end. */
  function showProblem(section, message) {
    if (!section) return;
    var box = section.querySelector('.problem');
    if (!box) {
      box = document.createElement('p');
      box.className = 'problem';
      box.setAttribute('role', 'alert');
      section.append(box);
    }
    box.textContent = message;
    box.hidden = false;
  }

  function clearProblem(section) {
    var box = section && section.querySelector('.problem');
    if (box) box.hidden = true;
  }

  function list(value) {
    var items = value.split(',').map(function (s) { return s.trim(); }).filter(Boolean);
    return items.length > 0 ? items : null;
  }

  var HINTS = {
    unauthorized: 'Check the security token in step 1.',
    tenant_not_found: 'This server has no tenant named "' + tenant + '".',
    rate_limited: 'Wait a moment and try again.',
  };

  /** One API call; a failure throws an Error whose message says what went wrong and what to do. */
  async function api(method, path, body) {
    var headers = { Authorization: 'Bearer ' + state.token };
    var init = { method: method, headers: headers };
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    var res;
    try {
      res = await fetch(apiBase + path, init);
    } catch (err) {
      throw new Error('Cannot reach ' + apiBase + ': is the server running?');
    }
    var text = await res.text();
    var json = null;
    try { json = text ? JSON.parse(text) : null; } catch (err) { /* reported below */ }
    if (res.ok) return json;
    var reason = json && json.error ? json.error.reason : null;
    var detail = reason ? reason + ': ' + json.error.message
      : json && json.errors ? json.errors.map(function (e) { return e.message; }).join('; ') : 'HTTP ' + res.status;
    var failure = new Error(method + ' ' + path + ' answered ' + res.status + ' ' + detail + (HINTS[reason] ? ' ' + HINTS[reason] : ''));
    failure.status = res.status;
    failure.reason = reason;
    throw failure;
  }

  /** A click handler that shows any failure next to the button, in its section, and in the log. */
  function guarded(fn) {
    return function (event) {
      var section = event && event.currentTarget && event.currentTarget.closest ? event.currentTarget.closest('section') : null;
      clearProblem(section);
      Promise.resolve().then(fn).catch(function (err) {
        var message = String(err && err.message || err);
        showProblem(section, message);
        log(message, true);
      });
    };
  }

  /** Enables a button, or disables it and says why in its title and in the element `<id>-why`, when there is one. */
  function enable(id, whyNot) {
    var button = $(id);
    button.disabled = Boolean(whyNot);
    button.title = whyNot || '';
    if ($(id + '-why')) $(id + '-why').textContent = whyNot || '';
  }

  /** Brings every button in line with the state: enabled exactly when it can work. */
  function update() {
    var noToken = state.token === '' ? 'Paste the security token in step 1 first.'
      : state.tokenAccepted === false ? 'The security token in step 1 was refused.' : '';
    document.body.classList.toggle('no-token', state.token === '');
    enable('create-socket', noToken);
    enable('list', noToken);
    enable('connect', state.socket ? 'Already connected: disconnect first.' : state.uri === null ? 'Create a socket: its uri works once.' : '');
    enable('disconnect', state.socket ? '' : 'Not connected.');
    enable('drop', state.socket && stream.token !== null && !stream.dropping ? '' : 'Connect in this page first.');
    enable('copy-command', $('connect-command').value ? '' : 'No unused uri.');
    var noReceivers = !list($('push-sockets').value) && !list($('push-tags').value) ? 'Name socket ids (* for all) or tags.' : '';
    enable('push', noToken || noReceivers);
    enable('presence', noToken || ($('presence-tag').value.trim() ? '' : 'Name a tag.'));
    enable('webhooks', noToken);
  }

  // ---- 1. Security token ----

  var tokenTimer = null;
  $('token').addEventListener('input', function () {
    state.token = $('token').value.trim();
    state.tokenAccepted = null;
    clearProblem($('token-section'));
    update();
    clearTimeout(tokenTimer);
    if (state.token !== '') tokenTimer = setTimeout(refreshSockets, TOKEN_SETTLE_MS);
  });

  // ---- 2. Connect a socket ----

  /** The command for a terminal. Node does not resolve *.localhost, so there the gateway form on localhost is used. */
  function terminalCommand(uri) {
    var url = new URL(uri);
    if (url.hostname.endsWith('.localhost')) {
      url = new URL(url.protocol + '//localhost' + (url.port ? ':' + url.port : '') + '/v1/gateways/' + encodeURIComponent(tenant) + url.pathname + url.search);
    }
    return "npx -y wscat -c '" + url.href + "'";
  }

  $('create-socket').addEventListener('click', guarded(async function () {
    var body = { tags: list($('tags').value) || [] };
    var id = $('socket-id').value.trim();
    if (id) body.id = id;
    var created = await api('POST', '/v1/sockets', body);
    state.uri = created.uri;
    state.socketId = created.id;
    stream.tags = created.tags;
    $('created-id').textContent = created.id;
    $('expires-at').textContent = clock(new Date(created.expiresAt));
    $('connect-command').value = terminalCommand(created.uri);
    $('created').hidden = false;
    log('created socket ' + created.id + (created.tags.length ? ' with tags ' + created.tags.join(', ') : ''));
    update();
  }));

  /** What each close code means; the codes of EXPECTED_CLOSES are not problems. */
  var CLOSES = {
    1000: 'closed normally', 1006: 'the connection was lost', 1008: 'the server refused what this page sent',
    1009: 'a message over 8192 bytes (clientMessages: webhook)', 4000: 'the tenant was deleted', 4001: 'removed by the backend (DELETE /v1/sockets/{id})',
    4002: 'no ping for two keepalive intervals', 4003: 'replaced by a newer connection with the same socket id',
    4401: 'the connect uri was already used (in a terminal?) or expired: create a new socket', 4404: 'the tenant does not exist',
  };
  var EXPECTED_CLOSES = [1000, 4001, 4003];

  /** Cumulative acks of what was shown, at most every 100 ms, so the service never pauses this socket. */
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

  /** A mws.v2 frame: hello, a message (shown once, with its seq and id), or a resume that failed. */
  function onFrame(ws, data) {
    if (typeof data !== 'string') {
      // Binary message: kind byte, seq (8 bytes, big-endian), id length, id, then the message's bytes.
      var view = new DataView(data);
      var seq = Number(view.getBigUint64(1));
      var idLength = view.getUint8(9);
      if (seq <= stream.seq) return;
      stream.seq = seq;
      addEntry($('messages'), '#' + seq + ' · ' + String.fromCharCode.apply(null, new Uint8Array(data, 10, idLength)) + ' · (binary message, ' + (data.byteLength - 10 - idLength) + ' bytes)');
      return scheduleAck(ws);
    }
    var frame = JSON.parse(data);
    if (frame.type === 'hello') {
      if (frame.epoch !== stream.epoch || frame.resumed !== true) stream.seq = frame.seq;
      stream.acked = stream.seq;
      stream.epoch = frame.epoch;
      stream.token = frame.resume;
      if (frame.resumed === true) log('resumed after seq ' + frame.seq + ': what was pushed meanwhile follows');
      update();
    } else if (frame.type === 'resume_failed') {
      stream.seq = frame.seq;
      addEntry($('messages'), 'gap: ' + frame.reason + ' (' + frame.message + ')', 'error');
      log('could not resume: ' + frame.reason, true);
    } else if (frame.type === 'msg' && frame.seq > stream.seq) {
      stream.seq = frame.seq;
      addEntry($('messages'), '#' + frame.seq + ' · ' + frame.id + ' · ' + frame.data);
      scheduleAck(ws);
    }
  }

  /** Opens this page's socket (mws.v2) with a connect uri, resuming from `resume` when given. */
  function openSocket(uri, resume) {
    var ws = new WebSocket(uri + (resume ? '&resume=' + encodeURIComponent(resume) : ''), ['mws.v2']);
    ws.binaryType = 'arraybuffer';
    var pingTimer = null;
    state.socket = ws;
    state.pageSocketId = state.socketId;
    $('status').textContent = 'connecting';
    update();
    ws.addEventListener('open', function () {
      $('status').textContent = 'connected';
      log('connected socket ' + state.pageSocketId + ' (' + (ws.protocol || 'raw') + ')');
      pingTimer = setInterval(function () { if (ws.readyState === WebSocket.OPEN) ws.send('ping'); }, PING_INTERVAL_MS);
      refreshSockets();
    });
    ws.addEventListener('message', function (event) {
      if (event.data === 'pong') return; // keepalive answer
      onFrame(ws, event.data);
    });
    ws.addEventListener('close', function (event) {
      clearInterval(pingTimer);
      if (state.socket === ws) {
        state.socket = null;
        state.pageSocketId = null;
      }
      var meaning = CLOSES[event.code] || event.reason || 'closed';
      var text = 'closed with ' + event.code + ': ' + meaning + (event.reason && meaning !== event.reason ? ' (' + event.reason + ')' : '');
      var problem = EXPECTED_CLOSES.indexOf(event.code) < 0;
      if (!stream.dropping) $('status').textContent = 'disconnected (' + event.code + ')';
      if (problem) showProblem($('socket-section'), text);
      log(text, problem);
      update();
      refreshSockets();
    });
  }

  $('connect').addEventListener('click', guarded(function () {
    if (state.uri === null || state.socket !== null) return;
    var uri = state.uri;
    state.uri = null; // connect uris are single-use
    stream.token = null;
    stream.epoch = null;
    $('connect-command').value = '';
    $('connect-command').placeholder = 'this page used the uri: create another socket for a terminal';
    openSocket(uri, null);
  }));

  // Drops the connection, lets pushes pile up for 10 s, then reserves the same socket id again and resumes.
  $('drop').addEventListener('click', guarded(async function () {
    if (state.socket === null || stream.token === null) return;
    var id = state.pageSocketId;
    var resume = stream.seq + '.' + stream.token;
    stream.dropping = true;
    state.socket.close(1000, 'dropped from the console for 10 s');
    try {
      var until = Date.now() + DROP_FOR_MS;
      while (Date.now() < until) {
        $('status').textContent = 'dropped: reconnecting in ' + Math.ceil((until - Date.now()) / 1000) + ' s';
        await new Promise(function (resolve) { setTimeout(resolve, 250); });
      }
      var created = await api('POST', '/v1/sockets', { id: id, tags: stream.tags });
      state.socketId = created.id;
      log('reconnecting as ' + created.id + ', resuming after seq ' + stream.seq);
      openSocket(created.uri, resume);
    } finally {
      stream.dropping = false;
      update();
    }
  }));

  $('disconnect').addEventListener('click', function () {
    if (state.socket) state.socket.close(1000, 'closed from the console');
  });

  $('copy-command').addEventListener('click', guarded(async function () {
    var field = $('connect-command');
    try {
      await navigator.clipboard.writeText(field.value);
    } catch (err) {
      field.select();
      if (!document.execCommand('copy')) throw new Error('Copying is blocked here: select the command and copy it by hand.');
    }
    $('copy-command').textContent = 'Copied';
    setTimeout(function () { $('copy-command').textContent = 'Copy'; }, 1500);
  }));

  // ---- 3. Push a message ----

  $('push-sockets').addEventListener('input', update);
  $('push-tags').addEventListener('input', update);

  $('push').addEventListener('click', guarded(async function () {
    var receivers = { sockets: list($('push-sockets').value), tags: list($('push-tags').value) };
    var result = await api('POST', '/v1/messages', { data: $('push-data').value, receivers: receivers });
    var out = $('push-result');
    out.textContent = clock(new Date()) + ' sent to ' + result.sent + ' socket(s), id ' + result.id;
    out.className = result.sent === 0 ? 'warning' : '';
    if (result.sent === 0) {
      out.textContent += '. Nobody received it: no connected socket matched. Connect one in step 2 (here or with the' +
        ' terminal command), or check the socket ids and tags; * means every connected socket.';
    }
    log('pushed message ' + result.id + ' to ' + result.sent + ' socket(s)', result.sent === 0);
    refreshSockets();
  }));

  // ---- 4. Connected sockets, kept up to date ----

  /** One row of the sockets table. */
  function socketRow(s) {
    var tr = document.createElement('tr');
    [s.id + (s.id === state.pageSocketId ? ' (this page)' : ''), clock(new Date(s.connectedAt)), s.tags.join(', ')].forEach(function (value) {
      var td = document.createElement('td');
      td.textContent = value;
      tr.append(td);
    });
    tr.cells[1].title = s.connectedAt;
    return tr;
  }

  function showSockets(page) {
    var tbody = $('sockets');
    tbody.textContent = '';
    page.results.forEach(function (s) { tbody.append(socketRow(s)); });
    if (page.results.length === 0) tbody.innerHTML = '<tr><td colspan="3">No socket is connected: create and connect one in step 2.</td></tr>';
    $('list-updated').textContent = page.results.length + (page.cursor ? '+' : '') + ' connected, updated ' + clock(new Date()) +
      ', kept up to date every ' + LIST_REFRESH_MS / 1000 + ' s';
  }

  var listing = null;
  /** Lists the connected sockets; this is also how the token is checked. Errors go to the token or the list section. */
  function refreshSockets() {
    if (state.token === '' || listing) return listing;
    var token = state.token;
    listing = api('GET', '/v1/sockets?limit=' + LIST_LIMIT).then(function (page) {
      if (token !== state.token) return;
      if (state.tokenAccepted !== true) {
        $('token-status').textContent = 'Accepted: this is the security token of tenant "' + tenant + '".';
        log('security token accepted');
      }
      state.tokenAccepted = true;
      clearProblem($('token-section'));
      clearProblem($('list-section'));
      showSockets(page);
    }, function (err) {
      if (token !== state.token) return;
      var tokenFault = err.status === 401 || err.status === 403 || err.reason === 'tenant_not_found';
      if (tokenFault) {
        state.tokenAccepted = false;
        $('token-status').textContent = 'Refused: paste the security token of tenant "' + tenant + '".';
      }
      var section = tokenFault ? $('token-section') : $('list-section');
      if (section.querySelector('.problem').hidden || section.querySelector('.problem').textContent !== err.message) log(err.message, true);
      showProblem(section, err.message);
    }).then(function () {
      listing = null;
      update();
      if (token !== state.token) refreshSockets();
    });
    return listing;
  }

  $('list').addEventListener('click', function () { refreshSockets(); });

  // ---- 5. Presence ----

  $('presence-tag').addEventListener('input', update);

  $('presence').addEventListener('click', guarded(async function () {
    var tag = $('presence-tag').value.trim();
    var body = await api('GET', '/v1/tags/' + encodeURIComponent(tag) + '?limit=1');
    $('presence-count').textContent = body.count + ' (' + clock(new Date()) + ')';
    log(body.count + ' socket(s) with tag ' + tag);
  }));

  // ---- 6. Webhooks and their recent deliveries ----

  function cell(tr, value) {
    var td = document.createElement('td');
    td.textContent = value === null || value === undefined ? '' : String(value);
    tr.append(td);
  }

  $('webhooks').addEventListener('click', guarded(async function () {
    var hooks = (await api('GET', '/v1/webhooks')).results;
    var out = $('webhook-list');
    out.textContent = '';
    if (hooks.length === 0) out.textContent = 'No webhooks yet: create one with POST /v1/webhooks (see the README).';
    for (var i = 0; i < hooks.length; i++) {
      var hook = hooks[i];
      var deliveries = await api('GET', '/v1/webhooks/' + encodeURIComponent(hook.id) + '/deliveries?limit=10');
      var title = document.createElement('h3');
      title.textContent = hook.id + ' \u2192 ' + hook.url + (hook.enabled ? '' : ' (disabled: ' + hook.disabled.reason + ')');
      var note = document.createElement('p');
      note.textContent = 'Events: ' + hook.events.join(', ') + '. Waiting to be delivered: ' + deliveries.backlog + '.';
      var table = document.createElement('table');
      table.innerHTML = '<thead><tr><th>time</th><th>attempt</th><th>events</th><th>status</th><th>ms</th><th>error</th></tr></thead>';
      var tbody = document.createElement('tbody');
      deliveries.results.forEach(function (d) {
        var tr = document.createElement('tr');
        [clock(new Date(d.attemptedAt)), d.attempt, d.events, d.status, d.latencyMs, d.error].forEach(function (v) { cell(tr, v); });
        tbody.append(tr);
      });
      if (deliveries.results.length === 0) tbody.innerHTML = '<tr><td colspan="6">No delivery yet.</td></tr>';
      table.append(tbody);
      out.append(title, note, table);
    }
    log('listed ' + hooks.length + ' webhook(s)');
  }));
  setInterval(function () {
    if (state.tokenAccepted === true && !document.hidden) refreshSockets();
  }, LIST_REFRESH_MS);
  document.addEventListener('visibilitychange', function () {
    if (!document.hidden && state.tokenAccepted === true) refreshSockets();
  });

  update();
})();
