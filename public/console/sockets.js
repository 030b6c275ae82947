// MWS live console: this page's mws.v2 socket, and the list of connected sockets kept up to date.
import { $, addEntry, api, clearProblem, clock, log, showProblem, state, stream, tenant, update } from './page.js';

var PING_INTERVAL_MS = 25000;
export var LIST_REFRESH_MS = 3000;
var LIST_LIMIT = 100;

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
export function openSocket(uri, resume) {
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
export function refreshSockets() {
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
