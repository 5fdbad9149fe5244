/*
 * app.js - the browser chat page.
 *
 * Talks to the HTTP API (/api/v1/...) for sign-in, rooms and history, and to
 * the relay over one WebSocket for live messages (docs/protocol.md).
 * Plain DOM, no framework and no build step.
 *
 * The few rules everything below keeps:
 *  - Data from the server or the user only ever reaches the page through
 *    textContent, attribute values and checked URLs: never innerHTML.
 *  - A room's seq is the single order and the single cursor: history pages,
 *    live messages, ACKs and reconnect recovery (ENTER since=lastSeq) all
 *    meet in one per-room list that is deduplicated by seq and, for our own
 *    messages, by clientMsgId. A message can therefore arrive by several
 *    paths (history, replay, live, ACK of a retry) and still show once.
 *  - Unacknowledged messages are resent after every reconnect with the same
 *    clientMsgId; the relay stores a clientMsgId once, so a resend is safe.
 */
'use strict';

(() => {
  const API = '/api/v1';
  const STORAGE_KEY = 'chat.session';
  const HISTORY_PAGE = 50;
  const ROOMS_PAGE = 50;
  const TYPING_EVERY_MS = 3000;         /* the relay shows a TYPING for 5 s */
  const READ_RETRY_MS = 5000;           /* after a READ the relay could not save */
  const BASE_TITLE = document.title;
  const MAX_TEXT_CHARS = 4000;          /* the relay's default max_text_chars */
  const MAX_ENTERED_ROOMS = 50;         /* well under the relay's 100 per connection */
  const BACKOFF_BASE_MS = 500;
  const BACKOFF_MAX_MS = 15000;
  const STABLE_CONNECTION_MS = 10000;
  /* A sent message with neither ACK nor ERROR after this long is shown as
   * failed so the writer can retry (same clientMsgId, so never twice). */
  const ACK_TIMEOUT_MS = 20000;
  const ROOMS_POLL_MS = 20000;          /* new rooms made by a peer are not pushed */
  /* Client-side pacing below the relay's 20/s (burst 60), so a burst of
   * sends drains steadily instead of tripping rate_limited. */
  const SEND_RATE_PER_SEC = 15;
  const SEND_BURST = 40;
  const NEAR_BOTTOM_PX = 80;
  const NEAR_TOP_PX = 200;          /* start fetching older pages a bit before the top */

  /* ------------------------------------------------------------------ */
  /* State                                                               */
  /* ------------------------------------------------------------------ */

  const state = {
    session: null,          /* { token, user } */
    rooms: new Map(),       /* room id -> RoomState */
    roomOrder: [],          /* room ids in list order (newest first) */
    roomsCursor: null,     /* nextCursor of the room list; null: no more */
    presence: new Map(),   /* user id -> { online, lastSeenAt } from PRESENCE frames */
    currentRoomId: null,
    pendingById: new Map(), /* clientMsgId -> message of ours awaiting ACK */
    localCounter: 0,        /* creation order of our pending messages */
    ws: null,
    connecting: false,      /* a socket token request is in flight */
    wsGeneration: 0,        /* bumps on sign-out so stale sockets are ignored */
    conn: 'offline',
    reconnectAttempt: 0,
    reconnectTimer: null,
    roomsPollTimer: null,
    ackTimer: null,
    sendTokens: SEND_BURST,
    sendTokensAt: 0,
    flushTimer: null,
    renderQueued: false,
    forceBottom: false,
    mediaUrls: new Map(),   /* media id -> Promise of a blob: URL */
    media: null,            /* the file picked for sending: { file, url, roomId, xhr } */
  };

  /* One room as this page knows it. */
  function newRoomState(room) {
    return {
      room,                 /* the API's Room object (may be a placeholder) */
      messages: [],         /* sorted: stored by seq, then ours-unacked by localOrder */
      bySeq: new Map(),     /* seq -> message */
      byClientId: new Map(),/* clientMsgId -> message, for messages of ours */
      lastSeq: 0,           /* highest seq seen by any path: the `since` cursor */
      nextBefore: undefined,/* undefined: newest page not loaded; null: no older */
      historyLoading: false,
      historyReady: false,
      wantEntered: false,   /* keep ENTERed on every (re)connection */
      entered: false,       /* ENTERED received on the current socket */
      unread: 0,            /* messages of the peer not read yet (the server's count, then live) */
      readSent: 0,          /* the highest seq this page has reported as read */
      peerRead: 0,          /* the peer's watermark: my messages above it are unread */
      typingUntil: 0,       /* the peer is typing until this time (ms) */
      typingTimer: null,
      lastTouched: 0,
      error: '',
    };
  }

  /* ------------------------------------------------------------------ */
  /* DOM helpers                                                         */
  /* ------------------------------------------------------------------ */

  const $ = (id) => document.getElementById(id);

  /* h: build an element. Strings become text nodes, so data can never be
   * parsed as markup; attrs are set one by one (never as HTML). */
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === 'className') el.className = v;
      else if (k === 'dataset') Object.assign(el.dataset, v);
      else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
      else el.setAttribute(k, v === true ? '' : String(v));
    }
    for (const c of children) {
      if (c === null || c === undefined || c === false) continue;
      el.append(typeof c === 'string' ? document.createTextNode(c) : c);
    }
    return el;
  }

  function showError(el, text) {
    el.textContent = text || '';
    el.hidden = !text;
  }

  /* Avatar: initials on a colour derived from the username, so a person
   * keeps the same colour everywhere. */
  function fillAvatar(el, user) {
    const name = (user && (user.displayName || user.username)) || '?';
    const initials = Array.from(name.trim()).slice(0, 1).join('').toUpperCase() || '?';
    let hash = 0;
    for (const ch of (user && user.username) || name) hash = (hash * 31 + ch.codePointAt(0)) >>> 0;
    el.textContent = initials;
    el.style.backgroundColor = `hsl(${hash % 360} 55% 45%)`;
  }

  /* ------------------------------------------------------------------ */
  /* Time                                                                */
  /* ------------------------------------------------------------------ */

  const timeFmt = new Intl.DateTimeFormat(undefined, { hour: 'numeric', minute: '2-digit' });
  const fullFmt = new Intl.DateTimeFormat(undefined, { dateStyle: 'full', timeStyle: 'medium' });
  const dayFmt = new Intl.DateTimeFormat(undefined, { weekday: 'long', month: 'long', day: 'numeric', year: 'numeric' });

  /* The server sends RFC 3339 UTC; Date renders it in the viewer's zone. */
  function parseTime(s) {
    const d = s ? new Date(s) : new Date();
    return Number.isNaN(d.getTime()) ? new Date() : d;
  }

  function localDayKey(d) {
    return `${d.getFullYear()}-${d.getMonth()}-${d.getDate()}`;
  }

  function dayLabel(d) {
    const today = new Date();
    const yesterday = new Date(today.getFullYear(), today.getMonth(), today.getDate() - 1);
    if (localDayKey(d) === localDayKey(today)) return 'Today';
    if (localDayKey(d) === localDayKey(yesterday)) return 'Yesterday';
    return dayFmt.format(d);
  }

  /* ------------------------------------------------------------------ */
  /* HTTP API                                                            */
  /* ------------------------------------------------------------------ */

  class ApiError extends Error {
    constructor(status, code, message) {
      super(message);
      this.status = status;
      this.code = code;
    }
  }

  /* api: one JSON request. Throws ApiError carrying the contract's error
   * code and message; status 0 means the server could not be reached. A 401
   * on an authenticated call ends the session (the JWT expired or was
   * revoked), except where the caller asks to handle it itself. */
  async function api(method, path, body, opts = {}) {
    const headers = { Accept: 'application/json' };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    const token = opts.token || (state.session && state.session.token);
    if (token && !opts.anonymous) headers.Authorization = `Bearer ${token}`;
    let res;
    try {
      res = await fetch(API + path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        cache: 'no-store',
      });
    } catch (e) {
      throw new ApiError(0, 'network', 'Could not reach the server. Check your connection.');
    }
    let data = null;
    try {
      data = await res.json();
    } catch (e) {
      data = null;
    }
    if (!res.ok) {
      const err = (data && data.error) || {};
      const apiErr = new ApiError(res.status, err.code || `http_${res.status}`,
        err.message || `The server answered ${res.status} ${res.statusText}.`);
      if (res.status === 401 && !opts.anonymous && !opts.token) sessionExpired();
      throw apiErr;
    }
    return data || {};
  }

  /* ------------------------------------------------------------------ */
  /* Session                                                             */
  /* ------------------------------------------------------------------ */

  function saveSession(session) {
    state.session = session;
    try {
      localStorage.setItem(STORAGE_KEY, JSON.stringify(session));
    } catch (e) { /* private mode: the session just lasts for this tab */ }
  }

  function loadSession() {
    try {
      const s = JSON.parse(localStorage.getItem(STORAGE_KEY) || 'null');
      return s && typeof s.token === 'string' && s.user ? s : null;
    } catch (e) {
      return null;
    }
  }

  async function loginWithUsername(username) {
    const data = await api('POST', '/dev/login', { username }, { anonymous: true });
    if (!data.token || !data.user) throw new ApiError(0, 'bad_response', 'The server sent an unexpected answer.');
    return { token: data.token, user: data.user };
  }

  async function loginWithToken(token) {
    const data = await api('GET', '/me', undefined, { token });
    if (!data.user) throw new ApiError(0, 'bad_response', 'The server sent an unexpected answer.');
    return { token, user: data.user };
  }

  function onSignedIn(session) {
    saveSession(session);
    showApp();
    refreshRooms(true);
    connect();
    state.roomsPollTimer = setInterval(() => refreshRooms(false), ROOMS_POLL_MS);
    state.ackTimer = setInterval(expireUnacked, ACK_TIMEOUT_MS / 4);
    routeFromHash();
  }

  /* signOut: forget everything of this user; the socket is closed first so
   * its late events cannot touch the next user's state. */
  function signOut(notice) {
    state.wsGeneration++;
    for (const p of state.mediaUrls.values()) p.then((u) => URL.revokeObjectURL(u)).catch(() => {});
    state.mediaUrls.clear();
    if (state.ws) {
      try { state.ws.close(1000, 'sign out'); } catch (e) { /* already closing */ }
    }
    state.ws = null;
    state.connecting = false;
    clearTimeout(state.reconnectTimer);
    clearTimeout(state.flushTimer);
    clearInterval(state.roomsPollTimer);
    clearInterval(state.ackTimer);
    state.reconnectAttempt = 0;
    state.session = null;
    state.rooms = new Map();
    state.roomOrder = [];
    state.roomsCursor = null;
    state.currentRoomId = null;
    state.pendingById = new Map();
    try { localStorage.removeItem(STORAGE_KEY); } catch (e) { /* nothing stored */ }
    if (location.hash) history.replaceState(null, '', location.pathname + location.search);
    setConn('offline');
    $('message-list').replaceChildren();
    $('room-list').replaceChildren();
    showSignIn(notice);
  }

  function sessionExpired() {
    if (state.session) signOut('Your session has expired. Please sign in again.');
  }

  /* ------------------------------------------------------------------ */
  /* Screens                                                             */
  /* ------------------------------------------------------------------ */

  function showSignIn(notice) {
    $('app').hidden = true;
    $('signin').hidden = false;
    showError($('signin-error'), notice || '');
    setBusy(false);
    $('login-username').focus();
  }

  function showApp() {
    const user = state.session.user;
    $('signin').hidden = true;
    $('app').hidden = false;
    $('me-name').textContent = user.displayName || user.username;
    $('me-username').textContent = `@${user.username}`;
    fillAvatar($('me-avatar'), user);
    showError($('new-room-error'), '');
    showRoomPane(null);
  }

  function setBusy(busy) {
    for (const id of ['login-submit', 'token-submit']) $(id).disabled = busy;
  }

  /* ------------------------------------------------------------------ */
  /* Rooms                                                               */
  /* ------------------------------------------------------------------ */

  function peerOf(room) {
    const me = state.session && state.session.user;
    const members = (room && room.members) || [];
    return members.find((u) => !me || u.id !== me.id) || members[0] || null;
  }

  function roomTitle(room) {
    if (room && room.name) return room.name;
    const peer = peerOf(room);
    return peer ? (peer.displayName || peer.username) : `Room ${room ? room.id : ''}`;
  }

  function upsertRoom(room, atTop) {
    let rs = state.rooms.get(room.id);
    if (rs) {
      rs.room = room;
    } else {
      rs = newRoomState(room);
      state.rooms.set(room.id, rs);
    }
    /* The server counts what was stored while this page was away; the open
     * room is read as it is shown. */
    if (typeof room.unreadCount === 'number' && room.id !== state.currentRoomId) rs.unread = room.unreadCount;
    if (typeof room.lastReadSeq === 'number') rs.readSent = Math.max(rs.readSent, room.lastReadSeq);
    if (typeof room.peerLastReadSeq === 'number') rs.peerRead = Math.max(rs.peerRead, room.peerLastReadSeq);
    if (!state.roomOrder.includes(room.id)) {
      if (atTop) state.roomOrder.unshift(room.id);
      else state.roomOrder.push(room.id);
    }
    return rs;
  }

  /* refreshRooms: reload the first page (first=true also resets paging).
   * Rooms already known keep their messages. */
  async function refreshRooms(first) {
    try {
      const data = await api('GET', `/rooms?limit=${ROOMS_PAGE}`);
      const fresh = (data.rooms || []).map((r) => r.id);
      for (const r of data.rooms || []) upsertRoom(r, false);
      /* Keep the server's newest-first order for the first page and put
       * anything older (loaded with "show older") after it. */
      state.roomOrder = fresh.concat(state.roomOrder.filter((id) => !fresh.includes(id)));
      if (first || state.roomsCursor === null) state.roomsCursor = data.nextCursor ?? null;
      showError($('rooms-error'), '');
    } catch (e) {
      if (e.status !== 401) showError($('rooms-error'), `Could not load conversations: ${e.message}`);
    }
    renderRoomList();
    /* A room opened from the URL before the list arrived gets its title now. */
    if (state.currentRoomId !== null) renderRoomHeader();
  }

  async function loadOlderRooms() {
    if (state.roomsCursor === null) return;
    try {
      const cursor = encodeURIComponent(state.roomsCursor);
      const data = await api('GET', `/rooms?cursor=${cursor}&limit=${ROOMS_PAGE}`);
      for (const r of data.rooms || []) upsertRoom(r, false);
      state.roomsCursor = data.nextCursor ?? null;
    } catch (e) {
      if (e.status !== 401) showError($('rooms-error'), `Could not load conversations: ${e.message}`);
    }
    renderRoomList();
  }

  /* startRoom: find or create the 1:1 room with a username, then open it. */
  async function startRoom(peerUsername) {
    const errEl = $('new-room-error');
    showError(errEl, '');
    const name = peerUsername.trim();
    if (!name) return;
    if (state.session && name === state.session.user.username) {
      showError(errEl, "That's you. Start a chat with someone else's username.");
      return;
    }
    $('new-room-submit').disabled = true;
    try {
      const data = await api('POST', '/rooms', { peerUsername: name });
      upsertRoom(data.room, true);
      state.roomOrder = [data.room.id].concat(state.roomOrder.filter((id) => id !== data.room.id));
      $('new-room-peer').value = '';
      renderRoomList();
      openRoomByHash(data.room.id);
    } catch (e) {
      if (e.status === 404) showError(errEl, `There is no user called "${name}".`);
      else if (e.status !== 401) showError(errEl, e.message);
    } finally {
      $('new-room-submit').disabled = false;
    }
  }

  function renderRoomList() {
    const list = $('room-list');
    const items = state.roomOrder.map((id) => {
      const rs = state.rooms.get(id);
      const peer = peerOf(rs.room);
      const avatar = h('span', { className: 'avatar', 'aria-hidden': 'true' });
      fillAvatar(avatar, peer);
      const pres = peer ? state.presence.get(peer.id) : null;
      avatar.classList.toggle('online', Boolean(pres && pres.online));
      const last = rs.messages.length ? rs.messages[rs.messages.length - 1] : null;
      const preview = last ? previewText(last) : serverPreview(rs.room, peer);
      const badge = rs.unread ? h('span', { className: 'badge', 'aria-label': `${rs.unread} unread` }, String(rs.unread)) : null;
      return h('li', { className: 'room-item' + (id === state.currentRoomId ? ' active' : '') },
        h('a', { href: `#room=${id}`, dataset: { roomId: String(id) }, 'aria-current': id === state.currentRoomId ? 'page' : null },
          avatar,
          h('span', { className: 'room-item-text' },
            h('span', { className: 'room-item-title' }, roomTitle(rs.room)),
            h('span', { className: 'room-item-preview' }, preview)),
          badge));
    });
    list.replaceChildren(...items);
    $('rooms-empty').hidden = state.roomOrder.length > 0;
    $('rooms-more').hidden = state.roomsCursor === null || state.roomsCursor === undefined;
    renderTitle();
  }

  /* presenceText: "@name · online" or "@name · last seen 14:05". */
  function presenceText(peer) {
    if (!peer) return '';
    const p = state.presence.get(peer.id);
    if (!p) return `@${peer.username}`;
    if (p.online) return `@${peer.username} · online`;
    if (!p.lastSeenAt) return `@${peer.username}`;
    const when = parseTime(p.lastSeenAt);
    const sameDay = localDayKey(when) === localDayKey(new Date());
    return `@${peer.username} · last seen ${sameDay ? timeFmt.format(when) : fullFmt.format(when)}`;
  }

  /* serverPreview: the room list's own last message, for a room whose
   * messages this page has not loaded. */
  function serverPreview(room, peer) {
    const m = room.lastMessage;
    if (!m) return peer ? `@${peer.username}` : '';
    const mine = state.session && m.senderId === state.session.user.id;
    const body = m.chatType === 'IMAGE' ? `Image${m.preview ? `: ${m.preview}` : ''}` : m.preview;
    return (mine ? 'You: ' : '') + body.replace(/\s+/g, ' ');
  }

  /* renderTitle: the unread total in the tab's title. */
  function renderTitle() {
    let total = 0;
    for (const rs of state.rooms.values()) total += rs.unread;
    document.title = total ? `(${total}) ${BASE_TITLE}` : BASE_TITLE;
  }

  /* markReadIfSeen: the open room's newest message is on screen in a
   * focused window: tell the server (once per new seq), so the peer's
   * unread marker and this user's count on other devices clear. */
  function markReadIfSeen() {
    const rs = state.rooms.get(state.currentRoomId);
    if (!rs || !state.session || rs.lastSeq <= rs.readSent) return;
    /* Sending already moved the watermark over our own messages: only a
     * newer message of the peer needs reporting. */
    const me = state.session.user.id;
    let peerNewer = false;
    for (let i = rs.messages.length - 1; i >= 0 && !peerNewer; i--) {
      const m = rs.messages[i];
      if (m.status !== 'sent' || m.seq <= rs.readSent) continue;
      peerNewer = m.senderId !== me;
    }
    if (!peerNewer) return;
    if (document.visibilityState !== 'visible' || !document.hasFocus()) return;
    if (!isNearBottom($('messages'))) return;
    if (Date.now() < (rs.readRetryAt || 0)) return;
    const seq = rs.lastSeq;
    const before = rs.readSent;
    rs.readSent = seq;
    /* Over the socket the peer hears it at once; without one, the API
     * saves it and the peer sees it on its next room list. */
    if (sendFrame({ chatType: 'READ', chatRoomId: rs.room.id, seq })) {
      rs.readPending = { seq, before };
      return;
    }
    api('POST', `/rooms/${rs.room.id}/read`, { seq }).catch(() => {
      if (rs.readSent === seq) rs.readSent = 0; /* try again on the next chance */
    });
  }

  function previewText(m) {
    const mine = state.session && m.senderId === state.session.user.id;
    const mediaName = m.media && m.media.name ? `: ${m.media.name}` : '';
    const body = m.chatType === 'VIDEO' ? `Video${mediaName}`
      : m.chatType === 'IMAGE' ? `Image${m.media ? mediaName : (m.imageName ? `: ${m.imageName}` : '')}`
        : (m.message || '');
    /* Cut by code points, not UTF-16 units, so an emoji is never halved. */
    return (mine ? 'You: ' : '') + Array.from(body.replace(/\s+/g, ' ')).slice(0, 80).join('');
  }

  /* ------------------------------------------------------------------ */
  /* Routing: the open room lives in the URL hash, so a reload reopens it   */
  /* and the phone's back button returns to the list.                     */
  /* ------------------------------------------------------------------ */

  function openRoomByHash(id) {
    const want = `#room=${id}`;
    if (location.hash === want) routeFromHash();
    else location.hash = want;
  }

  function routeFromHash() {
    if (!state.session) return;
    const m = /^#room=(\d+)$/.exec(location.hash);
    showRoomPane(m ? Number(m[1]) : null);
  }

  function showRoomPane(id) {
    state.currentRoomId = id;
    $('layout').classList.toggle('show-room', id !== null);
    $('chat-empty').hidden = id !== null;
    $('room').hidden = id === null;
    renderRoomList();
    if (id === null) return;
    let rs = state.rooms.get(id);
    if (!rs) {
      /* Opened from the URL before (or without) the room list: a
       * placeholder until the list tells us who the peer is. */
      rs = newRoomState({ id, members: [], name: null });
      state.rooms.set(id, rs);
    }
    rs.unread = 0;
    rs.lastTouched = Date.now();
    rs.wantEntered = true;
    trimEnteredRooms();
    renderRoomHeader();
    $('message-list').replaceChildren();
    $('jump-latest').hidden = true;
    showError($('room-error'), rs.error);
    state.forceBottom = true;
    scheduleRender();
    if (!rs.historyReady) loadNewestHistory(rs);
    else if (!rs.entered) sendEnter(rs);
    if (window.matchMedia('(min-width: 721px)').matches) $('composer-input').focus();
  }

  function renderRoomHeader() {
    const rs = state.rooms.get(state.currentRoomId);
    if (!rs) return;
    const peer = peerOf(rs.room);
    $('room-title').textContent = roomTitle(rs.room);
    const typing = rs.typingUntil > Date.now();
    $('room-subtitle').textContent = typing ? 'typing…' : presenceText(peer);
    $('room-subtitle').classList.toggle('typing', typing);
    const p = peer ? state.presence.get(peer.id) : null;
    $('room-avatar').classList.toggle('online', Boolean(p && p.online));
    fillAvatar($('room-avatar'), peer);
  }

  /* Stay ENTERed in recently opened rooms (for unread badges), but LEAVE
   * the least recently opened ones beyond a cap. */
  function trimEnteredRooms() {
    const entered = [...state.rooms.values()].filter((r) => r.wantEntered)
      .sort((a, b) => b.lastTouched - a.lastTouched);
    for (const rs of entered.slice(MAX_ENTERED_ROOMS)) {
      rs.wantEntered = false;
      if (rs.entered) sendFrame({ chatType: 'LEAVE', chatRoomId: rs.room.id });
      rs.entered = false;
    }
  }

  /* ------------------------------------------------------------------ */
  /* Messages: the per-room list                                         */
  /* ------------------------------------------------------------------ */

  function compareMessages(a, b) {
    const as = a.seq ?? Infinity;
    const bs = b.seq ?? Infinity;
    if (as !== bs) return as - bs;
    return (a.localOrder ?? 0) - (b.localOrder ?? 0);
  }

  function insertSorted(rs, msg) {
    let i = rs.messages.length;
    while (i > 0 && compareMessages(rs.messages[i - 1], msg) > 0) i--;
    rs.messages.splice(i, 0, msg);
  }

  function noteSeq(rs, seq) {
    if (typeof seq === 'number' && seq > rs.lastSeq) rs.lastSeq = seq;
  }

  /* addStored: a stored ChatMessage from history, replay or live delivery.
   * Returns true when it is new to this page. */
  function addStored(rs, m) {
    if (typeof m.seq !== 'number') return false;
    noteSeq(rs, m.seq);
    if (rs.bySeq.has(m.seq)) return false;
    const me = state.session.user.id;
    if (m.senderId === me && m.clientMsgId && rs.byClientId.has(m.clientMsgId)) {
      /* Ours, sent from this page: its ACK was lost (or is still on the
       * way). Settle the pending copy instead of showing a second one. */
      settle(rs, rs.byClientId.get(m.clientMsgId), m);
      return false;
    }
    const msg = {
      id: m.id,
      roomId: rs.room.id,
      seq: m.seq,
      senderId: m.senderId,
      chatType: m.chatType,
      message: m.message,
      imageUrl: m.imageUrl,
      imageName: m.imageName,
      media: m.media,
      clientMsgId: m.clientMsgId,
      createdAt: m.createdAt,
      status: 'sent',
      el: null,
    };
    rs.bySeq.set(msg.seq, msg);
    if (msg.senderId === me && msg.clientMsgId) rs.byClientId.set(msg.clientMsgId, msg);
    insertSorted(rs, msg);
    return true;
  }

  /* settle: our message is stored; give it its seq (which places it). */
  function settle(rs, msg, stored) {
    state.pendingById.delete(msg.clientMsgId);
    if (msg.status === 'sent') return;
    const idx = rs.messages.indexOf(msg);
    if (idx >= 0) rs.messages.splice(idx, 1);
    msg.seq = stored.seq;
    msg.id = stored.id;
    msg.createdAt = stored.createdAt || msg.createdAt;
    msg.status = 'sent';
    msg.inFlight = false;
    msg.error = '';
    /* No noteSeq here: an ACK may overtake a peer's MESSAGE with a lower
     * seq, and `since` must only cover what was actually received. */
    if (rs.bySeq.has(msg.seq)) return; /* already shown by seq: keep that one */
    rs.bySeq.set(msg.seq, msg);
    insertSorted(rs, msg);
    updateMessageEl(msg);
  }

  function roomChanged(rs) {
    if (rs.room.id === state.currentRoomId) scheduleRender();
    renderRoomList();
  }

  /* ------------------------------------------------------------------ */
  /* History                                                             */
  /* ------------------------------------------------------------------ */

  async function loadNewestHistory(rs) {
    if (rs.historyLoading) return;
    rs.historyLoading = true;
    renderHistoryStatus();
    try {
      const data = await api('GET', `/chat/${rs.room.id}?limit=${HISTORY_PAGE}`);
      for (const m of data.messages || []) addStored(rs, m);
      rs.nextBefore = data.nextBefore ?? null;
      rs.historyReady = true;
      rs.error = '';
    } catch (e) {
      rs.error = e.status === 403 || e.status === 404
        ? 'This conversation does not exist or you are not in it.'
        : `Could not load messages: ${e.message}`;
      rs.wantEntered = e.status !== 403 && e.status !== 404 && rs.wantEntered;
    } finally {
      rs.historyLoading = false;
    }
    if (rs.room.id === state.currentRoomId) {
      showError($('room-error'), rs.error);
      state.forceBottom = true;
    }
    roomChanged(rs);
    /* ENTER only now: since=lastSeq from the page just loaded means the
     * relay replays whatever was stored in between, with no gap. */
    if (rs.historyReady) sendEnter(rs);
  }

  async function loadOlderHistory(rs) {
    if (rs.historyLoading || !rs.historyReady || rs.nextBefore === null || rs.nextBefore === undefined) return;
    rs.historyLoading = true;
    renderHistoryStatus();
    try {
      const data = await api('GET', `/chat/${rs.room.id}?before=${rs.nextBefore}&limit=${HISTORY_PAGE}`);
      for (const m of data.messages || []) addStored(rs, m);
      rs.nextBefore = data.nextBefore ?? null;
    } catch (e) {
      if (rs.room.id === state.currentRoomId && e.status !== 401) {
        showError($('room-error'), `Could not load older messages: ${e.message}`);
      }
    } finally {
      rs.historyLoading = false;
    }
    roomChanged(rs);
  }

  function renderHistoryStatus() {
    const rs = state.rooms.get(state.currentRoomId);
    const el = $('history-status');
    if (!rs) return;
    let text = '';
    if (rs.historyLoading) text = rs.historyReady ? 'Loading earlier messages…' : 'Loading messages…';
    else if (rs.historyReady && rs.nextBefore === null) {
      const peer = peerOf(rs.room);
      text = peer ? `This is the beginning of your conversation with ${peer.displayName || peer.username}.`
        : 'This is the beginning of the conversation.';
    }
    el.textContent = text;
    el.dataset.state = rs.historyLoading ? 'loading' : (rs.nextBefore === null ? 'complete' : 'more');
  }

  /* ------------------------------------------------------------------ */
  /* Rendering the open room                                             */
  /* ------------------------------------------------------------------ */

  function scheduleRender() {
    if (state.renderQueued) return;
    state.renderQueued = true;
    requestAnimationFrame(() => {
      state.renderQueued = false;
      renderMessages();
    });
  }

  /* isSafeImageUrl: only absolute http(s) URLs may become an <img src>;
   * anything else (javascript:, data:, relative) is shown as text. */
  function isSafeImageUrl(url) {
    if (typeof url !== 'string') return false;
    try {
      const u = new URL(url);
      return u.protocol === 'https:' || u.protocol === 'http:';
    } catch (e) {
      return false;
    }
  }

  /* mediaUrl: a blob: URL of an uploaded file, fetched once with the JWT
   * (an <img> or <video> cannot send an Authorization header, and a URL
   * carrying a credential would end up in logs and histories). */
  function mediaUrl(id, thumb) {
    const key = thumb ? `${id}/thumb` : id;
    let p = state.mediaUrls.get(key);
    if (!p) {
      p = fetch(`${API}/media/${encodeURIComponent(id)}${thumb ? '/thumb' : ''}`, {
        headers: { Authorization: `Bearer ${state.session.token}` },
      }).then((res) => {
        if (!res.ok) throw new Error(`media ${res.status}`);
        return res.blob();
      }).then((blob) => URL.createObjectURL(blob));
      p.catch(() => state.mediaUrls.delete(key));
      state.mediaUrls.set(key, p);
    }
    return p;
  }

  function openLightbox(media) {
    const body = $('lightbox-body');
    const el = media.type.startsWith('video/')
      ? h('video', { controls: true, autoplay: true, playsInline: true })
      : h('img', { alt: media.name || 'Image' });
    body.replaceChildren(el);
    mediaUrl(media.id).then((url) => { el.src = url; }).catch(() => {});
    $('lightbox').showModal();
  }

  function buildMediaBody(msg) {
    const m = msg.media;
    const video = m.type.startsWith('video/');
    const size = m.width > 0 && m.height > 0 ? { width: String(m.width), height: String(m.height) } : {};
    const el = video
      ? h('video', Object.assign({ controls: true, preload: 'metadata', playsInline: true }, size))
      : h('img', Object.assign({ alt: m.name || 'Image', onclick: () => openLightbox(m) }, size));
    const fig = h('figure', { className: 'bubble bubble-media', dataset: { mediaId: m.id } }, el,
      m.name ? h('figcaption', null, m.name) : null);
    /* A picture being sent shows its local copy; others their thumbnail
     * (small, upright), or the picture itself when it has none. The
     * lightbox always loads the full picture. */
    const src = msg.localUrl ? Promise.resolve(msg.localUrl)
      : video ? mediaUrl(m.id) : mediaUrl(m.id, true).catch(() => mediaUrl(m.id));
    src.then((url) => { el.src = url; fig.dataset.loaded = '1'; })
      .catch(() => { fig.dataset.loaded = 'failed'; });
    return fig;
  }

  function buildBody(msg) {
    if (msg.media && typeof msg.media.id === 'string' && typeof msg.media.type === 'string') {
      return buildMediaBody(msg);
    }
    if (msg.chatType === 'IMAGE') {
      if (isSafeImageUrl(msg.imageUrl)) {
        const img = h('img', { src: msg.imageUrl, alt: msg.imageName || 'Image', loading: 'lazy', referrerpolicy: 'no-referrer' });
        return h('figure', { className: 'bubble bubble-image' },
          h('a', { href: msg.imageUrl, target: '_blank', rel: 'noopener noreferrer' }, img),
          msg.imageName ? h('figcaption', null, msg.imageName) : null);
      }
      return h('div', { className: 'bubble' },
        h('p', { className: 'text muted' }, `Image not shown (unsupported address): ${msg.imageUrl || ''}`));
    }
    return h('div', { className: 'bubble' }, h('p', { className: 'text' }, msg.message || ''));
  }

  function statusLabel(msg) {
    if (msg.status === 'pending') return 'Sending…';
    if (msg.status === 'failed') return `Not sent${msg.error ? `: ${msg.error}` : ''}`;
    /* My stored message the peer has not read yet: the "1" marker. */
    const rs = state.rooms.get(msg.roomId);
    if (rs && msg.senderId === state.session.user.id && msg.seq > rs.peerRead) return '1';
    return '';
  }

  /* A message's element is built once and kept, so re-rendering the list
   * only reorders nodes (loaded images are not fetched again). */
  function messageEl(msg) {
    if (msg.el) return msg.el;
    const mine = msg.senderId === state.session.user.id;
    const when = parseTime(msg.createdAt);
    const time = h('time', { datetime: msg.createdAt || '', title: fullFmt.format(when) }, timeFmt.format(when));
    const status = h('span', { className: 'msg-status' });
    const retry = h('button', { type: 'button', className: 'btn btn-small retry', onclick: () => retrySend(msg) }, 'Retry');
    const discard = h('button', { type: 'button', className: 'btn btn-small btn-quiet discard', onclick: () => discardFailed(msg) }, 'Discard');
    msg.el = h('li', { className: `msg ${mine ? 'mine' : 'theirs'}` },
      buildBody(msg),
      h('div', { className: 'meta' }, time, status, retry, discard));
    msg.parts = { time, status, retry, discard };
    updateMessageEl(msg);
    return msg.el;
  }

  function updateMessageEl(msg) {
    if (!msg.el) return;
    msg.el.dataset.state = msg.status;
    msg.el.dataset.clientMsgId = msg.clientMsgId || '';
    if (msg.seq !== null && msg.seq !== undefined) msg.el.dataset.seq = String(msg.seq);
    if (msg.senderId !== undefined) msg.el.dataset.sender = String(msg.senderId);
    const when = parseTime(msg.createdAt);
    msg.parts.time.dateTime = msg.createdAt || '';
    msg.parts.time.textContent = timeFmt.format(when);
    msg.parts.time.title = fullFmt.format(when);
    msg.parts.status.textContent = statusLabel(msg);
    msg.parts.status.classList.toggle('unread-mark', msg.parts.status.textContent === '1');
    msg.parts.retry.hidden = msg.status !== 'failed';
    msg.parts.discard.hidden = msg.status !== 'failed';
  }

  /* renderMessages: lay out the open room's list, keeping the reader's
   * place: stick to the bottom when they were there, otherwise keep the
   * first visible message where it was on screen (older pages grow the
   * list upwards). Message elements persist across renders, day dividers
   * do not, so only messages serve as the anchor. */
  function renderMessages() {
    const rs = state.rooms.get(state.currentRoomId);
    const box = $('messages');
    const list = $('message-list');
    if (!rs || !state.session) return;
    const atBottom = state.forceBottom || isNearBottom(box);
    const boxTop = box.getBoundingClientRect().top;
    let anchor = null;
    let anchorOffset = 0;
    if (!atBottom) {
      for (const el of list.querySelectorAll('li.msg')) {
        const r = el.getBoundingClientRect();
        if (r.bottom > boxTop) {
          anchor = el;
          anchorOffset = r.top - boxTop;
          break;
        }
      }
    }
    const nodes = [];
    let lastDay = '';
    rs.messages.forEach((msg, i) => {
      const when = parseTime(msg.createdAt);
      const day = localDayKey(when);
      if (day !== lastDay) {
        nodes.push(h('li', { className: 'day-divider', role: 'separator' }, h('span', null, dayLabel(when))));
        lastDay = day;
      }
      /* A run of stored messages from one sender in the same minute shows
       * its time once, under the last of them. */
      const next = rs.messages[i + 1];
      const el = messageEl(msg);
      el.classList.toggle('run', Boolean(next && next.status === 'sent' && next.senderId === msg.senderId &&
        Math.floor(parseTime(next.createdAt) / 60000) === Math.floor(when / 60000)));
      nodes.push(el);
    });
    const hadLast = list.lastElementChild;
    list.replaceChildren(...nodes);
    renderHistoryStatus();
    if (atBottom) {
      box.scrollTop = box.scrollHeight;
      $('jump-latest').hidden = true;
    } else if (anchor && anchor.isConnected) {
      box.scrollTop += anchor.getBoundingClientRect().top - boxTop - anchorOffset;
      if (hadLast !== list.lastElementChild) $('jump-latest').hidden = false;
    }
    state.forceBottom = false;
    markReadIfSeen();
    /* Still at the top (a first page too short to scroll, or a fling that
     * ran on past the restored position): fetch the next older page now,
     * as no further scroll event may come. */
    if (rs.historyReady && rs.nextBefore !== null && box.scrollTop < NEAR_TOP_PX) loadOlderHistory(rs);
  }

  function isNearBottom(box) {
    return box.scrollHeight - box.scrollTop - box.clientHeight < NEAR_BOTTOM_PX;
  }

  /* When the window (or the on-screen keyboard) resizes the list, a reader
   * who was at the newest message stays there. */
  function watchResize() {
    const box = $('messages');
    let wasAtBottom = true;
    box.addEventListener('scroll', () => { wasAtBottom = isNearBottom(box); }, { passive: true });
    new ResizeObserver(() => {
      if (wasAtBottom) box.scrollTop = box.scrollHeight;
    }).observe(box);
  }

  function onMessagesScroll() {
    const rs = state.rooms.get(state.currentRoomId);
    const box = $('messages');
    if (!rs) return;
    if (box.scrollTop < NEAR_TOP_PX) loadOlderHistory(rs);
    if (isNearBottom(box)) {
      $('jump-latest').hidden = true;
      markReadIfSeen();
    }
  }

  /* ------------------------------------------------------------------ */
  /* Sending                                                             */
  /* ------------------------------------------------------------------ */

  function newClientMsgId() {
    if (crypto.randomUUID) return `c-${crypto.randomUUID()}`;
    const b = crypto.getRandomValues(new Uint8Array(16));
    return `c-${Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('')}`;
  }

  /* queueMessage: show it at once as pending; the outbox sends it when the
   * socket is live (now, or after the next reconnect). */
  function queueMessage(rs, fields) {
    const msg = Object.assign({
      id: null,
      seq: null,
      senderId: state.session.user.id,
      clientMsgId: newClientMsgId(),
      createdAt: new Date().toISOString(),
      status: 'pending',
      inFlight: false,
      localOrder: ++state.localCounter,
      roomId: rs.room.id,
      el: null,
    }, fields);
    rs.byClientId.set(msg.clientMsgId, msg);
    state.pendingById.set(msg.clientMsgId, msg);
    insertSorted(rs, msg);
    /* The peer drops "typing" at this message: the next keystroke says it again. */
    rs.typingSentAt = 0;
    state.forceBottom = true;
    roomChanged(rs);
    flushOutbox();
  }

  function frameFor(msg) {
    const f = { chatType: msg.chatType, chatRoomId: msg.roomId, clientMsgId: msg.clientMsgId };
    if (msg.media) {
      const m = msg.media;
      f.media = { id: m.id, name: m.name, type: m.type, size: m.size, width: m.width, height: m.height };
    } else if (msg.chatType === 'IMAGE') {
      f.imageUrl = msg.imageUrl;
      if (msg.imageName) f.imageName = msg.imageName;
    } else {
      f.message = msg.message;
    }
    return f;
  }

  /* flushOutbox: send pending messages in the order they were written,
   * paced by a token bucket so a burst stays under the relay's limit. */
  function flushOutbox() {
    clearTimeout(state.flushTimer);
    if (state.conn !== 'live') return;
    const now = performance.now();
    state.sendTokens = Math.min(SEND_BURST, state.sendTokens + ((now - state.sendTokensAt) / 1000) * SEND_RATE_PER_SEC);
    state.sendTokensAt = now;
    const queue = [...state.pendingById.values()]
      .filter((m) => m.status === 'pending' && !m.inFlight)
      .sort((a, b) => a.localOrder - b.localOrder);
    for (const msg of queue) {
      if (state.sendTokens < 1) {
        state.flushTimer = setTimeout(flushOutbox, Math.ceil(((1 - state.sendTokens) / SEND_RATE_PER_SEC) * 1000));
        return;
      }
      if (!sendFrame(frameFor(msg))) return;
      state.sendTokens -= 1;
      msg.inFlight = true;
      msg.sentAt = performance.now();
    }
  }

  function markFailed(msg, reason) {
    msg.status = 'failed';
    msg.inFlight = false;
    msg.error = reason;
    updateMessageEl(msg);
    const rs = state.rooms.get(msg.roomId);
    if (rs) roomChanged(rs);
  }

  /* Only while live: after a drop, unacknowledged messages are resent on
   * reconnect instead, which is the better outcome. */
  function expireUnacked() {
    if (state.conn !== 'live') return;
    const now = performance.now();
    for (const msg of state.pendingById.values()) {
      if (msg.status === 'pending' && msg.inFlight && now - msg.sentAt > ACK_TIMEOUT_MS) {
        markFailed(msg, 'no answer from the server');
      }
    }
  }

  function retrySend(msg) {
    if (msg.status !== 'failed') return;
    msg.status = 'pending';
    msg.inFlight = false;
    msg.error = '';
    state.pendingById.set(msg.clientMsgId, msg);
    updateMessageEl(msg);
    flushOutbox();
  }

  /* discardFailed: the writer gives up on a failed message. It was never
   * stored (the relay said so), so forgetting it loses nothing. */
  function discardFailed(msg) {
    if (msg.status !== 'failed') return;
    const rs = state.rooms.get(msg.roomId);
    state.pendingById.delete(msg.clientMsgId);
    if (!rs) return;
    rs.byClientId.delete(msg.clientMsgId);
    const idx = rs.messages.indexOf(msg);
    if (idx >= 0) rs.messages.splice(idx, 1);
    roomChanged(rs);
  }

  function codePointLength(s) {
    let n = 0;
    for (const _ of s) n++; // eslint-disable-line no-unused-vars
    return n;
  }

  function onComposerSubmit(ev) {
    ev.preventDefault();
    const rs = state.rooms.get(state.currentRoomId);
    if (!rs) return;
    const input = $('composer-input');
    const hint = $('composer-hint');
    if (!$('image-row').hidden) {
      const url = $('image-url').value.trim();
      if (!isSafeImageUrl(url)) {
        hint.textContent = 'Enter an image address starting with http:// or https://.';
        return;
      }
      const name = decodeURIComponent(new URL(url).pathname.split('/').pop() || '') || 'image';
      queueMessage(rs, { chatType: 'IMAGE', imageUrl: url, imageName: name.slice(0, 200) });
      $('image-url').value = '';
      toggleImageRow(false);
      hint.textContent = '';
      return;
    }
    const text = input.value;
    if (!text.trim()) return;
    if (codePointLength(text) > MAX_TEXT_CHARS) {
      hint.textContent = `Messages can be at most ${MAX_TEXT_CHARS} characters.`;
      return;
    }
    queueMessage(rs, { chatType: 'TEXT', message: text });
    input.value = '';
    hint.textContent = '';
    autoGrow();
  }

  function onComposerKey(ev) {
    /* Enter sends, Shift+Enter breaks the line. While an IME is composing
     * (Korean, Japanese, ...) Enter confirms the syllable, not the send. */
    if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing && ev.keyCode !== 229) {
      ev.preventDefault();
      $('composer').requestSubmit();
    }
  }

  function onComposerInput() {
    autoGrow();
    sendTyping();
    const n = codePointLength($('composer-input').value);
    $('composer-hint').textContent = n > MAX_TEXT_CHARS - 200 ? `${n} / ${MAX_TEXT_CHARS}` : '';
  }

  function autoGrow() {
    const ta = $('composer-input');
    ta.style.height = 'auto';
    ta.style.height = `${Math.min(ta.scrollHeight, 160)}px`;
  }

  /* ------------------------------------------------------------------ */
  /* Photos and videos: pick or drop a file, preview, upload with a       */
  /* progress bar, then send the message that shows it.                  */
  /* ------------------------------------------------------------------ */

  const MEDIA_TYPES = ['image/jpeg', 'image/png', 'image/gif', 'image/webp', 'video/mp4', 'video/webm'];

  function chooseMedia(file) {
    if (!file || !state.currentRoomId) return;
    clearMedia();
    const hint = $('composer-hint');
    if (file.type && !MEDIA_TYPES.includes(file.type)) {
      hint.textContent = 'Send a JPEG, PNG, GIF or WebP photo, or an MP4 or WebM video.';
      return;
    }
    const url = URL.createObjectURL(file);
    const video = file.type.startsWith('video/');
    state.media = { file, url, roomId: state.currentRoomId, xhr: null };
    $('media-preview').replaceChildren(video
      ? h('video', { src: url, muted: true, playsInline: true, preload: 'metadata' })
      : h('img', { src: url, alt: 'Preview' }));
    $('media-name').textContent = `${file.name} (${Math.ceil(file.size / 1024)} KiB)`;
    $('media-progress').hidden = true;
    $('media-progress').value = 0;
    $('media-send').disabled = false;
    $('media-row').hidden = false;
    hint.textContent = '';
  }

  function clearMedia() {
    const m = state.media;
    if (m && m.xhr) m.xhr.abort();
    state.media = null;
    $('media-row').hidden = true;
    $('media-preview').replaceChildren();
    $('media-file').value = '';
  }

  /* uploadMedia: POST the raw file (XMLHttpRequest, for upload progress);
   * resolves with the server's answer. */
  function uploadMedia(m) {
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      m.xhr = xhr;
      xhr.open('POST', `${API}/rooms/${m.roomId}/media`);
      xhr.setRequestHeader('Authorization', `Bearer ${state.session.token}`);
      xhr.upload.onprogress = (ev) => {
        if (ev.lengthComputable) $('media-progress').value = Math.round((ev.loaded / ev.total) * 100);
      };
      xhr.onload = () => {
        let data = null;
        try { data = JSON.parse(xhr.responseText); } catch (e) { data = null; }
        if (xhr.status === 201 && data && data.id) resolve(data);
        else reject(new Error((data && data.error && data.error.message) || `upload failed (${xhr.status})`));
      };
      xhr.onerror = () => reject(new Error('Could not reach the server.'));
      xhr.onabort = () => reject(new Error('Upload cancelled.'));
      xhr.send(m.file);
    });
  }

  async function sendMedia() {
    const m = state.media;
    if (!m || m.xhr) return;
    const rs = state.rooms.get(m.roomId);
    if (!rs) return;
    $('media-send').disabled = true;
    $('media-progress').hidden = false;
    try {
      const ans = await uploadMedia(m);
      const media = {
        id: ans.id, name: (m.file.name || '').slice(0, 200), type: ans.type,
        size: ans.size, width: ans.width, height: ans.height,
      };
      queueMessage(rs, { chatType: ans.type.startsWith('video/') ? 'VIDEO' : 'IMAGE', media, localUrl: m.url });
      m.xhr = null;
      state.media = null;
      $('media-row').hidden = true;
      $('media-preview').replaceChildren();
      $('media-file').value = '';
    } catch (e) {
      m.xhr = null;
      $('media-send').disabled = false;
      $('composer-hint').textContent = e.message;
    }
  }

  function watchDrops() {
    const room = $('room');
    let depth = 0;
    const hasFile = (ev) => ev.dataTransfer && [...ev.dataTransfer.types].includes('Files');
    room.addEventListener('dragenter', (ev) => {
      if (!hasFile(ev)) return;
      ev.preventDefault();
      depth++;
      $('drop-hint').hidden = false;
    });
    room.addEventListener('dragover', (ev) => { if (hasFile(ev)) ev.preventDefault(); });
    room.addEventListener('dragleave', () => {
      depth = Math.max(0, depth - 1);
      if (!depth) $('drop-hint').hidden = true;
    });
    room.addEventListener('drop', (ev) => {
      if (!hasFile(ev)) return;
      ev.preventDefault();
      depth = 0;
      $('drop-hint').hidden = true;
      chooseMedia(ev.dataTransfer.files[0]);
    });
  }

  function toggleImageRow(show) {
    $('image-row').hidden = !show;
    $('image-toggle').setAttribute('aria-pressed', String(show));
    $('composer-input').disabled = show;
    (show ? $('image-url') : $('composer-input')).focus();
  }

  /* ------------------------------------------------------------------ */
  /* WebSocket                                                           */
  /* ------------------------------------------------------------------ */

  function setConn(conn, detail) {
    state.conn = conn;
    const el = $('conn');
    el.dataset.state = conn;
    const text = { offline: 'Offline', connecting: 'Connecting…', live: 'Live', reconnecting: 'Reconnecting…' }[conn];
    $('conn-text').textContent = detail ? `${text} ${detail}` : text;
  }

  /* sendTyping: tell the peer, at most every TYPING_EVERY_MS while typing
   * goes on (the relay's indicator lasts a few seconds). */
  function sendTyping() {
    const rs = state.rooms.get(state.currentRoomId);
    const now = Date.now();
    if (!rs || !$('composer-input').value || now - (rs.typingSentAt || 0) < TYPING_EVERY_MS) return;
    if (sendFrame({ chatType: 'TYPING', chatRoomId: rs.room.id })) rs.typingSentAt = now;
  }

  function onRead(f) {
    const rs = state.rooms.get(f.chatRoomId);
    if (!rs || !state.session) return;
    if (f.userId === state.session.user.id) {
      if (rs.readPending && f.seq >= rs.readPending.seq) rs.readPending = null;
      /* Read on another device (or this one): nothing here is unread up to there. */
      rs.readSent = Math.max(rs.readSent, f.seq);
      if (rs.room.id !== state.currentRoomId) rs.unread = 0;
      renderRoomList();
      return;
    }
    if (f.seq <= rs.peerRead) return;
    rs.peerRead = f.seq;
    for (const m of rs.messages) if (m.el) updateMessageEl(m);
  }

  /* onRoomNotice: a message in a room this page has not ENTERed: bump the
   * list at once; a room it has never listed comes with the next list. */
  function onRoomNotice(f) {
    const rs = state.rooms.get(f.chatRoomId);
    if (!rs) {
      refreshRooms(false);
      return;
    }
    if (f.lastSeq <= rs.lastSeq) return;
    if (rs.room.id !== state.currentRoomId && f.lastMessage && f.lastMessage.senderId !== state.session.user.id) rs.unread++;
    rs.room = Object.assign({}, rs.room, { lastMessage: f.lastMessage, lastSeq: f.lastSeq });
    state.roomOrder = [rs.room.id].concat(state.roomOrder.filter((id) => id !== rs.room.id));
    renderRoomList();
  }

  function onPresence(f) {
    if (typeof f.userId !== 'number') return;
    state.presence.set(f.userId, { online: Boolean(f.online), lastSeenAt: f.lastSeenAt || null });
    renderRoomList();
    renderRoomHeader();
  }

  function onTyping(f) {
    const rs = state.rooms.get(f.chatRoomId);
    if (!rs || !state.session || f.userId === state.session.user.id) return;
    const ms = Math.min(Math.max(f.expiresInMs || 0, 1000), 10000);
    rs.typingUntil = Date.now() + ms;
    clearTimeout(rs.typingTimer);
    rs.typingTimer = setTimeout(() => { if (rs.room.id === state.currentRoomId) renderRoomHeader(); }, ms + 50);
    if (rs.room.id === state.currentRoomId) renderRoomHeader();
  }

  function sendFrame(obj) {
    const ws = state.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) return false;
    ws.send(JSON.stringify(obj));
    return true;
  }

  function sendEnter(rs) {
    if (!rs.wantEntered || !rs.historyReady || state.conn !== 'live') return;
    rs.entered = false;
    sendFrame({ chatType: 'ENTER', chatRoomId: rs.room.id, since: rs.lastSeq });
  }

  /* connect: a fresh single-use socket token for every connection, then
   * the socket. Failures of either schedule the next try. */
  async function connect() {
    if (!state.session || state.connecting || state.ws) return;
    const generation = state.wsGeneration;
    setConn(state.reconnectAttempt === 0 ? 'connecting' : 'reconnecting');
    let url;
    state.connecting = true;
    try {
      const data = await api('POST', '/socket-token');
      url = data.url || wsUrlFromPage(data.token);
    } catch (e) {
      if (generation === state.wsGeneration && state.session) scheduleReconnect();
      return;
    } finally {
      if (generation === state.wsGeneration) state.connecting = false;
    }
    if (generation !== state.wsGeneration) return;
    let ws;
    try {
      ws = new WebSocket(url);
    } catch (e) {
      scheduleReconnect();
      return;
    }
    state.ws = ws;
    ws.onopen = () => {
      if (state.ws !== ws) return;
      ws.openedAt = Date.now();
      setConn('live');
      for (const rs of state.rooms.values()) sendEnter(rs);
      /* Everything not yet ACKed goes again, same clientMsgId: if the relay
       * stored it before the drop, it answers with the original ACK. */
      for (const msg of state.pendingById.values()) msg.inFlight = false;
      flushOutbox();
    };
    ws.onmessage = (ev) => {
      if (state.ws !== ws) return;
      let frame;
      try {
        frame = JSON.parse(ev.data);
      } catch (e) {
        return; /* not ours to interpret */
      }
      handleFrame(frame);
    };
    ws.onclose = () => {
      if (state.ws !== ws) return;
      state.ws = null;
      /* Only a connection that lasted resets the backoff: a server that
       * accepts and at once drops us must not be hammered. */
      if (ws.openedAt && Date.now() - ws.openedAt > STABLE_CONNECTION_MS) state.reconnectAttempt = 0;
      for (const rs of state.rooms.values()) rs.entered = false;
      if (state.session && generation === state.wsGeneration) scheduleReconnect();
    };
  }

  /* Used only if an API answer lacks `url`: same host, same TLS-ness. */
  function wsUrlFromPage(token) {
    const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
    return `${proto}//${location.host}/ws?token=${encodeURIComponent(token || '')}`;
  }

  /* Exponential backoff with "equal jitter": half the delay is fixed, half
   * random, so many clients dropped at once do not return in lockstep. */
  function scheduleReconnect() {
    clearTimeout(state.reconnectTimer);
    const ceiling = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** state.reconnectAttempt);
    const delay = ceiling / 2 + Math.random() * (ceiling / 2);
    state.reconnectAttempt++;
    setConn('reconnecting', `(retry in ${Math.max(1, Math.round(delay / 1000))} s)`);
    state.reconnectTimer = setTimeout(connect, delay);
  }

  function reconnectNow() {
    if (!state.session || state.ws || state.connecting) return;
    clearTimeout(state.reconnectTimer);
    state.reconnectAttempt = Math.min(state.reconnectAttempt, 1);
    connect();
  }

  function handleFrame(f) {
    switch (f.type) {
      case 'ENTERED': onEntered(f); break;
      case 'MESSAGE': onMessage(f.chatMessage); break;
      case 'ACK': onAck(f); break;
      case 'ERROR': onError(f); break;
      case 'LEFT': onLeft(f); break;
      case 'READ': onRead(f); break;
      case 'TYPING': onTyping(f); break;
      case 'ROOM': onRoomNotice(f); break;
      case 'PRESENCE': onPresence(f); break;
      default: break; /* newer relays may add frame types */
    }
  }

  function onEntered(f) {
    const rs = state.rooms.get(f.chatRoomId);
    if (!rs) return;
    /* lastSeq is not our cursor: the replay that follows may still be on its
     * way, and a drop in the middle must not skip it. */
    rs.entered = true;
  }

  function onLeft(f) {
    const rs = state.rooms.get(f.chatRoomId);
    if (rs) rs.entered = false;
  }

  function onMessage(m) {
    if (!m || typeof m.chatRoomId !== 'number') return;
    const rs = state.rooms.get(m.chatRoomId);
    if (!rs) return;
    if (addStored(rs, m)) {
      if (rs.room.id !== state.currentRoomId && m.senderId !== state.session.user.id) rs.unread++;
    }
    if (m.senderId !== state.session.user.id && rs.typingUntil) {
      rs.typingUntil = 0;
      if (rs.room.id === state.currentRoomId) renderRoomHeader();
    }
    roomChanged(rs);
  }

  function onAck(f) {
    const msg = state.pendingById.get(f.clientMsgId);
    if (!msg) return; /* a late duplicate ACK for a message already settled */
    const rs = state.rooms.get(msg.roomId);
    if (!rs) return;
    settle(rs, msg, { seq: f.seq, id: f.id, createdAt: f.createdAt });
    roomChanged(rs);
  }

  const ERROR_TEXT = {
    rate_limited: 'sending too fast',
    too_large: 'message too long',
    unavailable: 'server busy, try again',
    not_member: 'not in this conversation',
    bad_request: 'rejected',
    forbidden: 'not allowed',
  };

  function onError(f) {
    const msg = f.clientMsgId ? state.pendingById.get(f.clientMsgId) : null;
    if (msg) {
      markFailed(msg, ERROR_TEXT[f.code] || f.message || f.code || 'error');
      return;
    }
    const rs = typeof f.chatRoomId === 'number' ? state.rooms.get(f.chatRoomId) : null;
    if (rs && rs.readPending && (f.code === 'seq_out_of_range' || f.code === 'unavailable' ||
        f.code === 'rate_limited')) {
      /* Our READ was not saved: say it again a little later. */
      rs.readSent = rs.readPending.before;
      rs.readRetryAt = Date.now() + READ_RETRY_MS;
      rs.readPending = null;
      setTimeout(markReadIfSeen, READ_RETRY_MS + 50);
      return;
    }
    if (rs && (f.code === 'not_member' || f.code === 'forbidden')) {
      /* An ENTER refused: stop asking for this room on every reconnect. */
      rs.wantEntered = false;
      rs.error = 'You are not a member of this conversation.';
      if (rs.room.id === state.currentRoomId) showError($('room-error'), rs.error);
      return;
    }
    /* Names no message of ours: say it where the writer looks. */
    $('composer-hint').textContent = `The chat server refused a request: ${f.message || f.code || 'unknown error'}`;
  }


  /* ------------------------------------------------------------------ */
  /* Wiring                                                              */
  /* ------------------------------------------------------------------ */

  function wire() {
    $('login-form').addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const username = $('login-username').value.trim();
      if (!username) return;
      setBusy(true);
      showError($('signin-error'), '');
      try {
        onSignedIn(await loginWithUsername(username));
      } catch (e) {
        setBusy(false);
        if (e.status === 404) {
          /* dev login answers 404 when it is switched off (never on in production). */
          $('token-section').open = true;
          showError($('signin-error'), 'Signing in by username is turned off on this server. Paste a token from your account service instead.');
        } else {
          showError($('signin-error'), e.message);
        }
      }
    });
    $('token-form').addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const token = $('token-input').value.trim().replace(/^Bearer\s+/i, '');
      if (!token) return;
      setBusy(true);
      showError($('signin-error'), '');
      try {
        onSignedIn(await loginWithToken(token));
        $('token-input').value = '';
      } catch (e) {
        setBusy(false);
        showError($('signin-error'), e.status === 401 ? `That token was not accepted: ${e.message}` : e.message);
      }
    });
    $('signout').addEventListener('click', () => signOut());
    $('new-room-form').addEventListener('submit', (ev) => {
      ev.preventDefault();
      startRoom($('new-room-peer').value);
    });
    $('rooms-refresh').addEventListener('click', () => refreshRooms(false));
    $('rooms-more').addEventListener('click', loadOlderRooms);
    $('room-back').addEventListener('click', () => { location.hash = ''; });
    $('messages').addEventListener('scroll', onMessagesScroll, { passive: true });
    $('jump-latest').addEventListener('click', () => {
      state.forceBottom = true;
      scheduleRender();
    });
    $('composer').addEventListener('submit', onComposerSubmit);
    $('composer-input').addEventListener('keydown', onComposerKey);
    $('composer-input').addEventListener('input', onComposerInput);
    $('image-toggle').addEventListener('click', () => toggleImageRow($('image-row').hidden));
    $('media-pick').addEventListener('click', () => $('media-file').click());
    $('media-file').addEventListener('change', () => chooseMedia($('media-file').files[0]));
    $('media-send').addEventListener('click', sendMedia);
    $('media-cancel').addEventListener('click', clearMedia);
    watchDrops();
    watchResize();
    window.addEventListener('hashchange', routeFromHash);
    /* Coming back online or to the tab is a good moment to retry at once
     * instead of waiting out a long backoff. */
    window.addEventListener('online', reconnectNow);
    document.addEventListener('visibilitychange', () => {
      if (document.visibilityState === 'visible') {
        reconnectNow();
        markReadIfSeen();
      }
    });
    window.addEventListener('focus', markReadIfSeen);
  }

  async function start() {
    wire();
    const saved = loadSession();
    if (!saved) {
      showSignIn();
      return;
    }
    /* Check the stored JWT before showing the app; keep the stored user if
     * the server is unreachable right now (the socket will keep retrying). */
    try {
      const fresh = await loginWithToken(saved.token);
      onSignedIn(fresh);
    } catch (e) {
      if (e.status === 0 || e.status >= 500) onSignedIn(saved);
      else {
        try { localStorage.removeItem(STORAGE_KEY); } catch (e2) { /* nothing stored */ }
        showSignIn(e.status === 401 ? 'Your session has expired. Please sign in again.' : e.message);
      }
    }
  }

  start();
})();
