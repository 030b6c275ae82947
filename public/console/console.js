// MWS live console: the page's sections, wired to their buttons. Plain browser JavaScript (ES modules), no build step.
import { $, api, apiBase, clearProblem, clock, guarded, list, log, state, stream, tenant, update } from './page.js';
import { LIST_REFRESH_MS, openSocket, refreshSockets } from './sockets.js';

var TOKEN_SETTLE_MS = 300;
var DROP_FOR_MS = 10000;

$('api-base').textContent = apiBase;
$('tenant-name').textContent = tenant;

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

$('list').addEventListener('click', function () { refreshSockets(); });
setInterval(function () {
  if (state.tokenAccepted === true && !document.hidden) refreshSockets();
}, LIST_REFRESH_MS);
document.addEventListener('visibilitychange', function () {
  if (!document.hidden && state.tokenAccepted === true) refreshSockets();
});

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

update();
