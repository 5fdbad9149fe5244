'use strict';
/*
 * peer.js - the Node.js yardstick of issue 17: the relay's WebSocket
 * protocol, the subset the bench's burst uses, written the way a careful
 * Node engineer would, so `bench/run.sh BIN nodepeer` can put the C relay
 * and this peer under the same load on the same store in one run.
 *
 * What it shares with the relay: the socket token consumed in MySQL with
 * the same UPDATE (single use, expiry), the Origin list, membership from
 * chat_room_members (cached per connection), ENTER answered with the room's
 * last stored seq, TEXT validated as the relay validates it and refused
 * with the same ERROR codes, documents of the same shape in chat_messages
 * (int64 ids and seqs, a BSON date), one insertMany (unordered) in flight,
 * ACK only after the store confirmed, MESSAGE to the room's other ENTERed
 * connections in seq order, `unavailable` past max_pending_messages.
 *
 * Where it is the Node way instead: one process and one thread; a room's
 * seq is read once from chat_rooms (seq_issued, last_seq) and then kept in
 * memory, not reserved in MySQL per batch; a batch is everything that came
 * in since the last one went out (no write_batch_max unless
 * NODEPEER_BATCH_MAX says so); no per-message
 * await: a connection's frames wait only while its membership or its
 * room's seq is being looked up. Output is corked per socket for the
 * length of a batch's delivery, and a connection whose unsent output
 * passes a high-water mark stops being read until it drains (closed with
 * 1008 past max_outbuf_bytes, as the relay closes a slow consumer).
 *
 * Not here: replay (ENTER with `since`), IMAGE/VIDEO, READ, TYPING, ROOM,
 * PRESENCE, rate limits and per-user caps (the bench lifts them), Redis.
 *
 * Settings come from the environment (bench/run.sh reads them with
 * `chatctl config get`): NODEPEER_HOST, NODEPEER_PORT, CHAT_MYSQL_HOST,
 * CHAT_MYSQL_PORT, CHAT_MYSQL_USER, CHAT_MYSQL_PASSWORD,
 * CHAT_MYSQL_DATABASE, CHAT_MONGO_URI, CHAT_MONGO_DATABASE,
 * CHAT_ALLOWED_ORIGINS, CHAT_MAX_TEXT_CHARS, CHAT_MAX_MESSAGE_BYTES,
 * CHAT_MAX_OUTBUF_BYTES, CHAT_MAX_PENDING_MESSAGES, NODEPEER_SQL_CONNECTIONS,
 * NODEPEER_PARENT, NODEPEER_BATCH_MAX (at most that many per insertMany; 0,
 * the default: everything pending).
 */
const http = require('node:http');
const crypto = require('node:crypto');
const { WebSocketServer } = require('ws');
const mysql = require('mysql2');
const { MongoClient, ObjectId, Long } = require('mongodb');

const env = process.env;
const num = (name, dflt) => (env[name] !== undefined && env[name] !== '' ? Number(env[name]) : dflt);
const cfg = {
  host: env.NODEPEER_HOST || '127.0.0.1',
  port: num('NODEPEER_PORT', 8095),
  mysql: {
    host: env.CHAT_MYSQL_HOST || '127.0.0.1',
    port: num('CHAT_MYSQL_PORT', 3307),
    user: env.CHAT_MYSQL_USER || 'chat',
    password: env.CHAT_MYSQL_PASSWORD || '',
    database: env.CHAT_MYSQL_DATABASE || 'chat',
    connectionLimit: num('NODEPEER_SQL_CONNECTIONS', 4),
  },
  mongoUri: env.CHAT_MONGO_URI || 'mongodb://127.0.0.1:27018/',
  mongoDb: env.CHAT_MONGO_DATABASE || 'chat',
  origins: (env.CHAT_ALLOWED_ORIGINS || '').split(',').map((s) => s.trim().toLowerCase()).filter(Boolean),
  maxTextChars: num('CHAT_MAX_TEXT_CHARS', 4000),
  maxMessageBytes: num('CHAT_MAX_MESSAGE_BYTES', 65536),
  maxOutbuf: num('CHAT_MAX_OUTBUF_BYTES', 1048576),
  maxPending: num('CHAT_MAX_PENDING_MESSAGES', 16384),
  batchMax: num('NODEPEER_BATCH_MAX', 0), /* 0: everything pending */
};
const HIGH_WATER = Math.min(256 * 1024, cfg.maxOutbuf / 2);
const ID_MAX = 9007199254740991;
const CLIENT_MSG_ID_MAX = 64;

/* ------------------------------------------------------------ metrics */

const LAT_BOUNDS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const metrics = {
  connections: 0, stored: 0, batches: 0, batchSum: 0, refused: 0,
  latency: new Array(LAT_BOUNDS.length + 1).fill(0),
};

function metricsText() {
  const lines = [
    `chat_relay_connections ${metrics.connections}`,
    `chat_relay_messages_stored_total ${metrics.stored}`,
    `chat_relay_write_batch_size_sum ${metrics.batchSum}`,
    `chat_relay_write_batch_size_count ${metrics.batches}`,
    `chat_relay_pending_refused_total ${metrics.refused}`,
  ];
  let cum = 0;
  LAT_BOUNDS.forEach((le, i) => {
    cum += metrics.latency[i];
    lines.push(`chat_relay_write_latency_seconds_bucket{le="${le.toFixed(3)}"} ${cum}`);
  });
  cum += metrics.latency[LAT_BOUNDS.length];
  lines.push(`chat_relay_write_latency_seconds_bucket{le="+Inf"} ${cum}`);
  return lines.join('\n') + '\n';
}

/* ------------------------------------------------------------ frames out */

function errorFrame(code, message, clientMsgId, roomId) {
  const o = { type: 'ERROR', code, message };
  if (clientMsgId) o.clientMsgId = clientMsgId;
  if (roomId) o.chatRoomId = roomId;
  return JSON.stringify(o);
}

/* send: one text frame; a socket over the high-water mark is no longer
 * read until it drains, one past max_outbuf_bytes is closed. */
function send(conn, text) {
  const ws = conn.ws;
  if (conn.closed) return;
  if (batchCorked !== null && !conn.corked) {
    ws._socket.cork();
    conn.corked = true;
    batchCorked.push(conn);
  }
  ws.send(text);
  const queued = ws.bufferedAmount;
  if (queued > cfg.maxOutbuf) {
    conn.closed = true;
    ws.close(1008, 'slow consumer');
  } else if (queued > HIGH_WATER && !ws.isPaused) {
    ws.pause();
    ws._socket.once('drain', () => {
      if (!conn.closed) ws.resume();
    });
  }
}

let batchCorked = null; /* connections corked while a batch is delivered */

function corkBegin() {
  batchCorked = [];
}

function corkEnd() {
  const list = batchCorked;
  batchCorked = null;
  for (const conn of list) {
    conn.corked = false;
    if (!conn.closed) conn.ws._socket.uncork();
  }
}

/* ------------------------------------------------------------ stores */

const sql = mysql.createPool({ ...cfg.mysql, waitForConnections: true, queueLimit: 0 });
const mongo = new MongoClient(cfg.mongoUri, { maxPoolSize: 4, serverSelectionTimeoutMS: 3000 });
let messages = null; /* the chat_messages collection, once connected */

function query(text, args) {
  return new Promise((resolve, reject) => {
    sql.execute(text, args, (err, rows) => (err ? reject(err) : resolve(rows)));
  });
}

/* tokenUser: the user id of a socket token, consumed; 0 for a bad one. */
async function tokenUser(token) {
  if (typeof token !== 'string' || token.length !== 43 || !/^[A-Za-z0-9_-]+$/.test(token)) return 0;
  const raw = Buffer.from(token, 'base64url');
  if (raw.length !== 32) return 0;
  const hash = crypto.createHash('sha256').update(raw).digest();
  raw.fill(0);
  const res = await query(
    'UPDATE socket_tokens SET used_at = NOW(3) ' +
      'WHERE token_hash = ? AND used_at IS NULL AND expires_at > NOW(3)',
    [hash]);
  if (res.affectedRows !== 1) return 0;
  const rows = await query('SELECT user_id FROM socket_tokens WHERE token_hash = ?', [hash]);
  return rows.length === 1 ? Number(rows[0].user_id) : 0;
}

/* ------------------------------------------------------------ rooms */

/* A room: its seq state, loaded once from chat_rooms, and the connections
 * that ENTERed it. */
const rooms = new Map();

function roomGet(id) {
  let r = rooms.get(id);
  if (!r) {
    r = { id, loaded: false, loading: null, missing: false, issued: 0, stored: 0, subs: new Set() };
    rooms.set(id, r);
  }
  return r;
}

/* roomLoad: a promise settled once the room's seq is known. */
function roomLoad(r) {
  if (r.loaded) return null;
  if (!r.loading) {
    r.loading = query('SELECT seq_issued, last_seq FROM chat_rooms WHERE id = ?', [r.id]).then(
      (rows) => {
        if (rows.length === 1) {
          r.issued = Number(rows[0].seq_issued);
          r.stored = Number(rows[0].last_seq);
        } else {
          r.missing = true;
        }
        r.loaded = true;
        r.loading = null;
      },
      (err) => {
        r.loading = null;
        throw err;
      });
  }
  return r.loading;
}

/* ------------------------------------------------------------ writer */

let pending = [];   /* messages with a seq, waiting for the next batch */
let inFlight = false;
let flushQueued = false;

function queueFlush() {
  if (!inFlight && !flushQueued) {
    flushQueued = true;
    setImmediate(flush);
  }
}

function rfc3339(ms) {
  return new Date(ms).toISOString();
}

/* flush: everything pending as one insertMany; the next batch starts when
 * this one's answer is in. */
function flush() {
  flushQueued = false;
  if (inFlight || pending.length === 0) return;
  let batch = pending;
  if (cfg.batchMax > 0 && pending.length > cfg.batchMax) {
    batch = pending.slice(0, cfg.batchMax);
    pending = pending.slice(cfg.batchMax);
  } else {
    pending = [];
  }
  inFlight = true;
  const docs = batch.map((m) => ({
    _id: m.oid,
    chatRoomId: Long.fromNumber(m.room.id),
    seq: Long.fromNumber(m.seq),
    senderId: Long.fromNumber(m.conn.user),
    chatType: 'TEXT',
    message: m.text,
    clientMsgId: m.clientMsgId,
    createdAt: new Date(m.createdAt),
  }));
  const t0 = process.hrtime.bigint();
  messages.insertMany(docs, { ordered: false }).then(
    () => done(batch, t0, null),
    (err) => done(batch, t0, err));
}

/* failedIndexes: index -> code of each write error of a failed insertMany;
 * null when the whole command failed. */
function failedIndexes(err) {
  const list = err && err.writeErrors;
  if (!list) return null;
  const out = new Map();
  for (const e of Array.isArray(list) ? list : [list]) out.set(e.index, e.code);
  return out;
}

function done(batch, t0, err) {
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  let b = LAT_BOUNDS.findIndex((le) => secs <= le);
  metrics.latency[b < 0 ? LAT_BOUNDS.length : b]++;
  metrics.batches++;
  metrics.batchSum += batch.length;
  const failed = err ? failedIndexes(err) : new Map();
  corkBegin();
  for (let i = 0; i < batch.length; i++) {
    const m = batch[i];
    const code = failed ? failed.get(i) : undefined;
    if (failed && code === undefined) {
      stored(m);
    } else if (code === 11000 || code === 11001) {
      retried(m);
    } else {
      send(m.conn, errorFrame('unavailable', 'the message store cannot store now', m.clientMsgId, m.room.id));
    }
  }
  corkEnd();
  inFlight = false;
  if (pending.length) flush();
}

/* stored: the ACK to the sender, the MESSAGE to the room's other ENTERed
 * connections. */
function stored(m) {
  metrics.stored++;
  if (m.seq > m.room.stored) m.room.stored = m.seq;
  const id = m.oid.toHexString();
  const at = rfc3339(m.createdAt);
  send(m.conn, JSON.stringify({ type: 'ACK', clientMsgId: m.clientMsgId, id, seq: m.seq, createdAt: at }));
  if (m.room.subs.size === 0 || (m.room.subs.size === 1 && m.room.subs.has(m.conn))) return;
  const frame = JSON.stringify({
    type: 'MESSAGE',
    chatMessage: {
      id, chatRoomId: m.room.id, seq: m.seq, senderId: m.conn.user, chatType: 'TEXT',
      message: m.text, clientMsgId: m.clientMsgId, createdAt: at,
    },
  });
  for (const c of m.room.subs) if (c !== m.conn) send(c, frame);
}

/* retried: a clientMsgId the room already holds from this sender: the
 * first one's id and seq, as the relay answers a retry. */
function retried(m) {
  messages.findOne({ chatRoomId: Long.fromNumber(m.room.id), senderId: Long.fromNumber(m.conn.user),
    clientMsgId: m.clientMsgId }).then((doc) => {
    if (!doc) {
      send(m.conn, errorFrame('internal', 'the store refused the message', m.clientMsgId, m.room.id));
      return;
    }
    send(m.conn, JSON.stringify({ type: 'ACK', clientMsgId: m.clientMsgId, id: doc._id.toHexString(),
      seq: Number(doc.seq), createdAt: rfc3339(doc.createdAt.getTime()) }));
  }, () => send(m.conn, errorFrame('unavailable', 'the message store cannot read now', m.clientMsgId, m.room.id)));
}

/* ------------------------------------------------------------ commands */

function isId(v) {
  return typeof v === 'number' && Number.isInteger(v) && v >= 1 && v <= ID_MAX;
}

function hasControl(s) {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return true;
  }
  return false;
}

/* codePoints: characters of s, counted only when the length could be over
 * the limit (a code point is at least one UTF-16 unit). */
function overChars(s, max) {
  if (s.length <= max) return false;
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0xd800 || c > 0xdbff) n++;
  }
  return n > max;
}

/* parse: a checked command, or {error} as the relay would refuse it. */
function parse(text) {
  let o;
  try {
    o = JSON.parse(text);
  } catch (e) {
    return { error: ['bad_request', 'a frame must be one JSON object'] };
  }
  if (o === null || typeof o !== 'object' || Array.isArray(o))
    return { error: ['bad_request', 'a frame must be one JSON object'] };
  const cmd = { clientMsgId: '', roomId: 0 };
  if (typeof o.clientMsgId === 'string' && Buffer.byteLength(o.clientMsgId) <= CLIENT_MSG_ID_MAX &&
      !hasControl(o.clientMsgId))
    cmd.clientMsgId = o.clientMsgId;
  if (isId(o.chatRoomId)) cmd.roomId = o.chatRoomId;
  const bad = (code, message) => ({ ...cmd, error: [code, message] });
  if (text.indexOf('\u0000') >= 0 || /(^|[^\\])(\\\\)*\\u0000/.test(text))
    return bad('bad_request', 'NUL characters are not allowed');
  if (typeof o.chatType !== 'string') return bad('bad_request', 'chatType is required');
  if (o.chatType !== 'ENTER' && o.chatType !== 'LEAVE' && o.chatType !== 'TEXT')
    return bad('bad_request', 'unknown chatType');
  cmd.kind = o.chatType;
  if (!cmd.roomId) return bad('bad_request', 'chatRoomId must be a positive integer');
  if (o.userId !== undefined && o.userId !== null) {
    if (!isId(o.userId)) return bad('bad_request', 'userId must be a positive integer');
    cmd.userId = o.userId;
  }
  if (cmd.kind === 'ENTER') {
    if (o.since !== undefined && o.since !== null)
      return bad('bad_request', 'since is not supported by the Node peer');
    return cmd;
  }
  if (cmd.kind === 'LEAVE') return cmd;
  if (typeof o.clientMsgId !== 'string' || o.clientMsgId === '')
    return bad('bad_request', 'clientMsgId is required');
  if (!cmd.clientMsgId)
    return Buffer.byteLength(o.clientMsgId) > CLIENT_MSG_ID_MAX
      ? bad('too_large', 'clientMsgId is longer than 64 bytes')
      : bad('bad_request', 'clientMsgId has control characters');
  if (typeof o.message !== 'string' || o.message === '')
    return bad('bad_request', 'message must be a non-empty string');
  if (overChars(o.message, cfg.maxTextChars)) return bad('too_large', 'message has too many characters');
  cmd.text = o.message;
  return cmd;
}

/* step: run the connection's queued commands in order; a command that
 * needs a lookup (membership, the room's seq) parks the queue until the
 * answer is in. Other connections go on meanwhile. */
function step(conn) {
  while (conn.queue.length && !conn.closed) {
    const cmd = conn.queue[0];
    if (cmd.error) {
      conn.queue.shift();
      send(conn, errorFrame(cmd.error[0], cmd.error[1], cmd.clientMsgId, cmd.roomId));
      continue;
    }
    if (cmd.userId !== undefined && cmd.userId !== conn.user) {
      conn.queue.shift();
      send(conn, errorFrame('forbidden', 'userId is not the signed-in user', cmd.clientMsgId, cmd.roomId));
      continue;
    }
    if (cmd.kind === 'LEAVE') {
      conn.queue.shift();
      roomGet(cmd.roomId).subs.delete(conn);
      conn.entered.delete(cmd.roomId);
      send(conn, JSON.stringify({ type: 'LEFT', chatRoomId: cmd.roomId }));
      continue;
    }
    const member = conn.member.get(cmd.roomId);
    if (member === undefined) {
      park(conn, query('SELECT 1 FROM chat_room_members WHERE room_id = ? AND user_id = ?',
        [cmd.roomId, conn.user]).then((rows) => conn.member.set(cmd.roomId, rows.length === 1)));
      return;
    }
    if (!member) {
      conn.queue.shift();
      send(conn, errorFrame('not_member', 'not a member of this room', cmd.clientMsgId, cmd.roomId));
      continue;
    }
    const room = roomGet(cmd.roomId);
    if (!room.loaded) {
      park(conn, roomLoad(room));
      return;
    }
    conn.queue.shift();
    if (cmd.kind === 'ENTER') {
      room.subs.add(conn);
      conn.entered.add(room.id);
      send(conn, JSON.stringify({ type: 'ENTERED', chatRoomId: room.id, lastSeq: room.stored }));
      continue;
    }
    if (pending.length >= cfg.maxPending) {
      metrics.refused++;
      send(conn, errorFrame('unavailable', 'relay overloaded, retry later', cmd.clientMsgId, room.id));
      continue;
    }
    pending.push({ conn, room, seq: ++room.issued, oid: new ObjectId(), createdAt: Date.now(),
      clientMsgId: cmd.clientMsgId, text: cmd.text });
    queueFlush();
  }
}

/* park: the queue waits for p; a failed lookup refuses the command it was
 * for with `unavailable` and the queue goes on. */
function park(conn, p) {
  conn.parked = true;
  p.then(() => {
    conn.parked = false;
    step(conn);
  }, () => {
    conn.parked = false;
    const cmd = conn.queue.shift();
    if (cmd) send(conn, errorFrame('unavailable', 'MySQL cannot answer now', cmd.clientMsgId, cmd.roomId));
    step(conn);
  });
}

/* ------------------------------------------------------------ connections */

function refuse(socket, status, reason) {
  const body = JSON.stringify({ error: reason });
  socket.end(`HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\nContent-Type: application/json\r\n` +
    `Content-Length: ${Buffer.byteLength(body)}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n${body}`);
}

const wss = new WebSocketServer({ noServer: true, maxPayload: cfg.maxMessageBytes, perMessageDeflate: false });
let shuttingDown = false;

function opened(ws, user) {
  const conn = { ws, user, queue: [], parked: false, closed: false, corked: false,
    member: new Map(), entered: new Set(), alive: true };
  metrics.connections++;
  ws.on('message', (data, isBinary) => {
    if (isBinary) {
      ws.close(1003, 'binary frames are not accepted');
      return;
    }
    conn.alive = true;
    conn.queue.push(parse(data.toString('utf8')));
    if (!conn.parked) step(conn);
  });
  ws.on('pong', () => { conn.alive = true; });
  ws.on('close', () => {
    conn.closed = true;
    metrics.connections--;
    for (const id of conn.entered) {
      const r = rooms.get(id);
      if (r) r.subs.delete(conn);
    }
  });
  ws.on('error', () => {});
  ws.conn = conn;
}

const server = http.createServer((req, res) => {
  const path = req.url.split('?')[0];
  if (req.method !== 'GET') {
    res.writeHead(405, { Allow: 'GET' }).end();
  } else if (path === '/metrics') {
    res.writeHead(200, { 'Content-Type': 'text/plain; version=0.0.4' }).end(metricsText());
  } else if (path === '/healthz') {
    res.writeHead(200, { 'Content-Type': 'application/json' }).end('{"status":"ok"}');
  } else if (path === '/ws') {
    res.writeHead(426, { 'Content-Type': 'application/json' }).end('{"error":"upgrade required"}');
  } else {
    res.writeHead(404).end();
  }
});

server.on('upgrade', (req, socket, head) => {
  socket.on('error', () => {});
  const url = new URL(req.url, 'http://peer');
  if (req.method !== 'GET') return refuse(socket, 405, 'method not allowed');
  if (url.pathname !== '/ws') return refuse(socket, 404, 'not found');
  if (shuttingDown) return refuse(socket, 503, 'shutting down');
  const origin = req.headers.origin;
  if (origin !== undefined && !cfg.origins.includes(origin.toLowerCase()))
    return refuse(socket, 403, 'origin not allowed');
  const token = url.searchParams.get('token');
  if (!token) return refuse(socket, 401, 'no token');
  tokenUser(token).then((user) => {
    if (!user) return refuse(socket, 401, 'bad token');
    if (socket.destroyed) return;
    wss.handleUpgrade(req, socket, head, (ws) => opened(ws, user));
  }, () => refuse(socket, 503, 'MySQL cannot check the token'));
});

/* pings: a connection that answered nothing since the last one is gone. */
const pinger = setInterval(() => {
  for (const ws of wss.clients) {
    if (!ws.conn.alive) {
      ws.terminate();
      continue;
    }
    ws.conn.alive = false;
    ws.ping();
  }
}, 30000);

async function main() {
  await mongo.connect();
  messages = mongo.db(cfg.mongoDb).collection('chat_messages');
  await query('SELECT 1', []);
  server.listen(cfg.port, cfg.host, () => {
    console.log(`nodepeer: listening on ${cfg.host}:${cfg.port} (pid ${process.pid})`);
  });
}

function stop() {
  if (shuttingDown) return;
  shuttingDown = true;
  clearInterval(pinger);
  server.close();
  for (const ws of wss.clients) ws.close(1001, 'shutting down');
  const wait = () => {
    if (inFlight || pending.length) return setTimeout(wait, 50);
    Promise.allSettled([mongo.close(), new Promise((r) => sql.end(r))]).then(() => process.exit(0));
  };
  wait();
}

/* NODEPEER_PARENT: stop with the bench run that started it, even when
 * that one is interrupted before it could stop the peer. */
if (env.NODEPEER_PARENT) {
  const parent = Number(env.NODEPEER_PARENT);
  setInterval(() => {
    try {
      process.kill(parent, 0);
    } catch (e) {
      stop();
    }
  }, 1000).unref();
}

process.on('SIGTERM', stop);
process.on('SIGINT', stop);
main().catch((err) => {
  console.error(`nodepeer: ${err.message}`);
  process.exit(1);
});
