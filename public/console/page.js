// MWS live console: what every section shares. Plain browser JavaScript (ES modules), no build step, no dependencies.

export var $ = function (id) { return document.getElementById(id); };

// ---- Where this page is ----
// At <tenant base>/console/: on a tenant host, or under /v1/gateways/<tenant>/ on any host.
export var apiBase = location.origin + location.pathname.replace(/\/(v1\/)?console(\/.*)?$/, '');
var gateway = /\/v1\/gateways\/([^/]+)/.exec(location.pathname);
export var tenant = gateway ? decodeURIComponent(gateway[1]) : location.hostname.split('.')[0];

// tokenAccepted: null until GET /v1/sockets answers. uri, socketId: the socket created last (uri null once used).
// socket, pageSocketId: this page's WebSocket and its socket id.
export var state = { token: '', tokenAccepted: null, uri: null, socketId: null, socket: null, pageSocketId: null };
// The mws.v2 stream of this page's socket: its tags, the last hello's resume token, the last seq shown, what was acked.
export var stream = { tags: [], token: null, seq: 0, epoch: null, acked: 0, ackTimer: null, dropping: false };

// ---- Small helpers: times, lists, problems shown next to the action that caused them ----

export function clock(date) {
  var pad = function (n) { return String(n).padStart(2, '0'); };
  return pad(date.getHours()) + ':' + pad(date.getMinutes()) + ':' + pad(date.getSeconds());
}

/** Adds an entry at the top of a timeline list (messages, log): newest first, each with its time. */
export function addEntry(list, text, className) {
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

export function log(text, isError) { addEntry($('log'), text, isError ? 'error' : ''); }

/** Shows a problem in the section's `.problem` box; a section without one gets one at its end. */
export function showProblem(section, message) {
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

export function clearProblem(section) {
  var box = section && section.querySelector('.problem');
  if (box) box.hidden = true;
}

export function list(value) {
  var items = value.split(',').map(function (s) { return s.trim(); }).filter(Boolean);
  return items.length > 0 ? items : null;
}

var HINTS = {
  unauthorized: 'Check the security token in step 1.',
  tenant_not_found: 'This server has no tenant named "' + tenant + '".',
  rate_limited: 'Wait a moment and try again.',
};

/** One API call; a failure throws an Error whose message says what went wrong and what to do. */
export async function api(method, path, body) {
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
export function guarded(fn) {
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
export function enable(id, whyNot) {
  var button = $(id);
  button.disabled = Boolean(whyNot);
  button.title = whyNot || '';
  if ($(id + '-why')) $(id + '-why').textContent = whyNot || '';
}

/** Brings every button in line with the state: enabled exactly when it can work. */
export function update() {
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
