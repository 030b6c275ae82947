// MWS live console: plain browser JavaScript, no build step, no dependencies.
(function () {
  'use strict';

  var PING_INTERVAL_MS = 25000;
  var $ = function (id) { return document.getElementById(id); };

  // The page lives at <tenant base>/console/ (tenant host) or /v1/gateways/<tenant>/console/ (gateway prefix).
  var apiBase = location.origin + location.pathname.replace(/\/(v1\/)?console(\/.*)?$/, '');
  $('api-base').textContent = apiBase;

  var socket = null;
  var pingTimer = null;
  var uri = null;

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
  }

  $('create-socket').addEventListener('click', guarded(async function () {
    var body = { tags: list($('tags').value) || [] };
    var id = $('socket-id').value.trim();
    if (id) body.id = id;
    var created = await api('POST', '/v1/sockets', body);
    uri = created.uri;
    $('uri').textContent = created.uri;
    $('created-id').textContent = created.id;
    log('created socket ' + created.id + ' (uri valid until ' + created.expiresAt + ', single use)');
    setStatus(socket ? $('status').textContent : 'ready to connect');
  }));

  $('connect').addEventListener('click', function () {
    if (uri === null || socket !== null) return;
    var ws = new WebSocket(uri);
    socket = ws;
    uri = null; // connect uris are single-use
    $('uri').textContent = 'used';
    setStatus('connecting');
    ws.addEventListener('open', function () {
      setStatus('connected');
      log('connected');
      pingTimer = setInterval(function () { if (ws.readyState === WebSocket.OPEN) ws.send('ping'); }, PING_INTERVAL_MS);
    });
    ws.addEventListener('message', function (event) {
      if (event.data === 'pong') return; // keepalive answer
      var li = document.createElement('li');
      li.textContent = String(event.data);
      $('messages').append(li);
    });
    ws.addEventListener('close', function (event) {
      clearInterval(pingTimer);
      socket = null;
      log('closed with ' + event.code + (event.reason ? ' (' + event.reason + ')' : ''), event.code !== 1000);
      setStatus('disconnected (' + event.code + ')');
    });
  });

  $('disconnect').addEventListener('click', function () {
    if (socket) socket.close(1000, 'closed from the console');
  });

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

  $('presence').addEventListener('click', guarded(async function () {
    var tag = $('presence-tag').value.trim();
    if (!tag) throw new Error('Enter a tag to count.');
    var body = await api('GET', '/v1/tags/' + encodeURIComponent(tag) + '?limit=1');
    $('presence-count').textContent = String(body.count);
    log(body.count + ' socket(s) with tag ' + tag);
  }));

  function cell(tr, value) {
    var td = document.createElement('td');
    td.textContent = value === null || value === undefined ? '' : String(value);
    tr.append(td);
  }

  $('webhooks').addEventListener('click', guarded(async function () {
    var hooks = (await api('GET', '/v1/webhooks')).results;
    var list = $('webhook-list');
    list.textContent = '';
    if (hooks.length === 0) list.textContent = 'No webhooks yet: create one with POST /v1/webhooks.';
    for (var i = 0; i < hooks.length; i++) {
      var hook = hooks[i];
      var deliveries = await api('GET', '/v1/webhooks/' + encodeURIComponent(hook.id) + '/deliveries?limit=10');
      var title = document.createElement('h3');
      title.textContent = hook.id + ' -> ' + hook.url + (hook.enabled ? '' : ' (disabled: ' + hook.disabled.reason + ')');
      var note = document.createElement('p');
      note.textContent = 'Events: ' + hook.events.join(', ') + '. Waiting to be delivered: ' + deliveries.backlog + '.';
      var table = document.createElement('table');
      table.innerHTML = '<thead><tr><th>time</th><th>attempt</th><th>events</th><th>status</th><th>ms</th><th>error</th></tr></thead>';
      var tbody = document.createElement('tbody');
      deliveries.results.forEach(function (d) {
        var tr = document.createElement('tr');
        [d.attemptedAt, d.attempt, d.events, d.status, d.latencyMs, d.error].forEach(function (v) { cell(tr, v); });
        tbody.append(tr);
      });
      table.append(tbody);
      list.append(title, note, table);
    }
    log('listed ' + hooks.length + ' webhook(s)');
  }));

  setStatus('disconnected');
})();
