// Protocol v1 client for /ws/notifications/. No build step, no dependencies.
//
//   import { NotificationsClient } from "/static/notifications/client.js";
//   const client = new NotificationsClient({ url: "/ws/notifications/", lastId: 41 });
//   client.addEventListener("notifications:received", (e) => console.log(e.detail));
//   client.start();
//
// Events (also re-dispatched on `document` by the bell):
//   notifications:received  detail: the notification object (each id once),
//                           with its `group` ({ key, count, actors, latest_id })
//                           when the server sends one
//   notifications:count     detail: { unread_count, unseen_count }
//   notifications:seen      detail: { up_to, unseen_count }: some tab had
//                           everything up to that id in view
//   notifications:changed   detail: { kind: "read"|"unread"|"deleted", ids, all }
//   notifications:reload    the client missed more than one sync page; reload lists
//   notifications:status    detail: { connected, stopped, reason }
//   notifications:announcement  detail: the announcement (each id once)
//   notifications:dismissed     detail: { id }
//   notifications:preferences   detail: the user's delivery preferences, after a change
//
// The socket underneath (URL, reconnects with backoff, final close codes) is
// RealtimeSocket in socket.js, which chat's client shares.
//
// Without a WebSocket (a proxy that strips Upgrade, a server without the
// routes): given `eventsUrl` and `framesUrl` (the bell gives both), after two
// sockets in a row close before their first frame the client takes the same
// frames as Server-Sent Events from `eventsUrl` and POSTs its own frames to
// `framesUrl`; if the event stream cannot open either (no channel layer), it
// POSTs a ping every `pollSeconds` and syncs from the heartbeat each answer
// ends with. Every `socketRetryMs` it tries the WebSocket again, and goes
// back to it once one says hello. A notification too big for one frame
// arrives as a stub (`truncated`); with `framesUrl` the client fetches the
// whole of it before announcing it.

import { RealtimeSocket } from "./socket.js";

const SEEN_LIMIT = 2000;

function readCookie(name) {
  if (!name) return null;
  const found = document.cookie.split("; ").find((part) => part.startsWith(`${name}=`));
  return found ? decodeURIComponent(found.slice(name.length + 1)) : null;
}
const FALLBACK_AFTER_FAILURES = 2;
const SEEN_DELAY_MS = 250;
// A sync refused by the frame rate limit is asked again after this long.
const RATE_LIMITED_RETRY_MS = 1000;

export class NotificationsClient extends RealtimeSocket {
  // `seen`: ids the page already shows, so a sync that replays them (see
  // "Out-of-order commits" in docs/protocol.md) does not announce them again.
  constructor({
    url = "/ws/notifications/",
    lastId = null,
    seen = [],
    maxBackoff = 30000,
    eventsUrl = null,
    framesUrl = null,
    csrfToken = "",
    csrfCookie = "csrftoken",
    csrfHeader = "X-CSRFToken",
    pollSeconds = 15,
    socketRetryMs = 60000,
  } = {}) {
    super(url, { maxBackoff });
    this.eventsUrl = eventsUrl;
    this.framesUrl = framesUrl;
    this.csrfToken = csrfToken;
    this.csrfCookie = csrfCookie;
    this.csrfHeader = csrfHeader;
    this.pollSeconds = pollSeconds;
    this.socketRetryMs = socketRetryMs;
    // "socket", or without one "events" (SSE) or "poll".
    this.transport = "socket";
    this.failures = 0;
    this.spoke = false;
    this.events = null;
    this.poller = null;
    this.lastId = lastId;
    this.unreadCount = null;
    this.unseenCount = null;
    this.seen = new Set(seen);
    this.announcements = new Set();
    this.clockSkew = 0;
    this.watchdog = null;
    this.heartbeatSeconds = 25;
  }

  stop(reason = "stopped") {
    this.stopped = true;
    clearTimeout(this.watchdog);
    clearTimeout(this.retry);
    clearTimeout(this.seenTimer);
    clearTimeout(this.resync);
    this.leaveFallback();
    if (this.socket) this.socket.close(1000);
    this.emit("notifications:status", { connected: false, stopped: true, reason });
  }

  // Frames go over the socket, or POSTed without one.
  send(frame) {
    if (this.transport === "socket") return super.send(frame);
    this.post(frame);
    return true;
  }

  connect() {
    this.spoke = false;
    super.connect();
  }

  // Without a socket, the next attempt is a probe after socketRetryMs.
  reconnectLater() {
    if (this.transport === "socket") {
      super.reconnectLater();
      return;
    }
    clearTimeout(this.retry);
    this.retry = setTimeout(() => {
      this.retry = null;
      if (!this.stopped) this.connect();
    }, this.socketRetryMs);
  }

  async post(frame, retried = false) {
    if (!this.framesUrl) return [];
    try {
      const response = await fetch(this.framesUrl, {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", [this.csrfHeader]: this.csrfToken },
        body: JSON.stringify(frame),
      });
      if (response.status === 401) {
        this.stop("not_logged_in");
        return [];
      }
      if (response.status === 403 && !retried) {
        // A login in another tab rotates the CSRF token: take the new one.
        const fresh = readCookie(this.csrfCookie);
        if (fresh && fresh !== this.csrfToken) {
          this.csrfToken = fresh;
          return this.post(frame, true);
        }
      }
      if (!(response.headers.get("Content-Type") || "").startsWith("application/json")) {
        this.emit("notifications:error", { code: "http_error", status: response.status });
        return [];
      }
      const frames = await response.json();
      for (const answer of frames) this.onFrame(answer);
      return frames;
    } catch {
      return []; // offline: the next poll, event or socket catches up
    }
  }

  fallBack() {
    if (this.stopped || this.transport !== "socket") return;
    if (this.eventsUrl && typeof EventSource !== "undefined") {
      this.transport = "events";
      const events = new EventSource(this.eventsUrl, { withCredentials: true });
      this.events = events;
      events.addEventListener("message", (event) => {
        if (events !== this.events) return;
        let frame;
        try {
          frame = JSON.parse(event.data);
        } catch {
          return;
        }
        this.onFrame(frame);
      });
      events.addEventListener("error", () => {
        // CLOSED: the stream answered but not with events (503 without a
        // channel layer, 401); otherwise EventSource reconnects by itself.
        if (events === this.events && events.readyState === EventSource.CLOSED) this.startPolling();
      });
    } else {
      this.startPolling();
    }
  }

  startPolling() {
    if (this.events) this.events.close();
    this.events = null;
    if (!this.framesUrl) return;
    this.transport = "poll";
    clearInterval(this.poller);
    this.poller = setInterval(() => this.post({ type: "ping" }), this.pollSeconds * 1000);
    this.post({ type: "ping" });
    this.emit("notifications:status", { connected: true, stopped: false, transport: "poll" });
  }

  leaveFallback() {
    if (this.events) this.events.close();
    this.events = null;
    clearInterval(this.poller);
    this.poller = null;
    this.transport = "socket";
  }

  markRead(id) { return this.send({ type: "mark_read", id }); }
  // Every row of the group that row `id` belongs to, in one `read` frame.
  markGroupRead(id) { return this.send({ type: "mark_read", id, group: true }); }
  // The user has everything up to `upTo` in view (the bell or the inbox is
  // open). A burst of arrivals in view is one frame: the calls of the next
  // SEEN_DELAY_MS go together, so they never use up the frame rate limit.
  markSeen(upTo) {
    if (upTo === null || upTo === undefined) return false;
    this.seenUpTo = Math.max(this.seenUpTo || 0, upTo);
    if (!this.seenTimer) {
      this.seenTimer = setTimeout(() => {
        this.seenTimer = null;
        this.send({ type: "mark_seen", up_to: this.seenUpTo });
      }, SEEN_DELAY_MS);
    }
    return true;
  }
  markUnread(id) { return this.send({ type: "mark_unread", id }); }
  markAllRead() { return this.send({ type: "mark_all_read" }); }
  remove(id) { return this.send({ type: "delete", id }); }
  dismiss(announcement) { return this.send({ type: "dismiss", announcement }); }

  // A silent socket (a dead proxy, a sleeping laptop) is replaced after it
  // misses two heartbeats.
  armWatchdog() {
    clearTimeout(this.watchdog);
    if (this.transport !== "socket") return;
    this.watchdog = setTimeout(() => {
      if (this.socket) this.socket.close(4000);
    }, this.heartbeatSeconds * 2500);
  }

  onClose(event, stopped) {
    clearTimeout(this.watchdog);
    if (this.transport !== "socket") return; // a probe that failed: the fallback goes on
    this.failures = this.spoke ? 0 : this.failures + 1;
    this.emit("notifications:status", { connected: false, stopped: false, code: event.code });
    if (stopped) this.emit("notifications:status", { connected: false, stopped: true, code: event.code });
    else if (this.failures >= FALLBACK_AFTER_FAILURES) this.fallBack();
  }

  // A frame on the WebSocket while another transport runs: the probe worked.
  onSocketFrame(frame) {
    // A `closing` alone (4503: no channel layer) is no sign the socket works.
    if (frame.type !== "closing") this.spoke = true;
    if (this.transport !== "socket" && frame.type === "hello") {
      this.leaveFallback();
      this.failures = 0;
    }
    this.onFrame(frame);
  }

  onFrame(frame) {
    this.armWatchdog();
    switch (frame.type) {
      case "hello":
        this.attempt = 0;
        this.heartbeatSeconds = frame.heartbeat || this.heartbeatSeconds;
        if (frame.server_time) this.clockSkew = Date.parse(frame.server_time) - Date.now();
        this.setCount(frame.unread_count, frame.unseen_count);
        for (const a of frame.announcements || []) this.receiveAnnouncement(a, false);
        this.emit("notifications:status", { connected: true, stopped: false, transport: this.transport });
        if (this.lastId !== null) {
          this.send({ type: "sync", after: this.lastId });
        } else {
          this.lastId = frame.last_id;
        }
        break;
      case "notification": {
        // A push that raises the count by more than itself reveals a push
        // the layer dropped in between (while later ones got through, so
        // neither the heartbeat's newest id nor its count would show it).
        // The sync's overlap replays the missing one; a false alarm (two
        // pushes computed their counts after both committed) costs one sync.
        const fresh = !this.seen.has(frame.notification.id);
        const expected = this.unreadCount === null ? null : this.unreadCount + (frame.notification.unread ? 1 : 0);
        this.receive(frame.group ? { ...frame.notification, group: frame.group } : frame.notification);
        if (fresh && expected !== null && frame.unread_count > expected) this.send({ type: "sync", after: this.lastId });
        this.setCount(frame.unread_count, frame.unseen_count);
        break;
      }
      case "seen": {
        this.setCount(this.unreadCount, frame.unseen_count);
        this.emit("notifications:seen", { up_to: frame.up_to, unseen_count: frame.unseen_count });
        break;
      }
      case "sync": {
        for (const item of frame.notifications) this.receive(item);
        // Ids below the cursor that committed late, and that this client lacks.
        const missing = (frame.recent || []).filter((id) => !this.seen.has(id));
        if (!frame.complete) {
          // Too much was missed (or the server's data was reset): start over
          // from the server's newest id and let the page reload its lists.
          this.lastId = frame.last_id;
          this.emit("notifications:reload", {});
        } else if (frame.more && frame.notifications.length) {
          // The page was cut to fit one frame: the rest follows from here.
          this.send({ type: "sync", after: this.lastId });
        } else if (missing.length) {
          this.send({ type: "sync", after: Math.min(...missing) - 1 });
        }
        break;
      }
      case "item":
        this.emit("notifications:received", frame.notification);
        break;
      case "announcement":
        // `counted`: one of hello's, sent apart; hello's counts include it.
        this.receiveAnnouncement(frame.announcement, !frame.counted);
        break;
      case "closing":
        if (this.transport === "events" && ["not_logged_in", "logged_out", "deactivated", "password_changed", "session_ended", "forbidden"].includes(frame.reason)) {
          this.stop(frame.reason);
        }
        break;
      case "dismissed":
        this.announcements.delete(frame.announcement);
        this.setCount(frame.unread_count, frame.unseen_count);
        this.emit("notifications:dismissed", { id: frame.announcement });
        break;
      case "read":
      case "unread":
      case "deleted":
        this.setCount(frame.unread_count, frame.unseen_count);
        this.emit("notifications:changed", { kind: frame.type, ids: frame.ids || [], all: !!frame.all });
        break;
      case "heartbeat":
        if (this.missed(frame)) this.send({ type: "sync", after: this.lastId });
        this.setCount(frame.unread_count, frame.unseen_count);
        break;
      case "preferences":
        this.emit("notifications:preferences", frame.preferences);
        break;
      case "error":
        if (frame.code === "rate_limited" && !this.resync) {
          // Whatever was refused, a sync after the pause brings what it missed.
          this.resync = setTimeout(() => {
            this.resync = null;
            this.send({ type: "sync", after: this.lastId });
          }, RATE_LIMITED_RETRY_MS);
        }
        this.emit("notifications:error", frame);
        break;
      default:
        break; // closing, pong and frame types from later versions
    }
  }

  // A push the channel layer dropped shows up as a newest id we never saw,
  // or as an unread count we were never told about.
  missed(heartbeat) {
    if (heartbeat.last_id !== null && !this.seen.has(heartbeat.last_id)
        && (this.lastId === null || heartbeat.last_id > this.lastId)) {
      return true;
    }
    return this.unreadCount !== null && heartbeat.unread_count !== this.unreadCount;
  }

  receive(notification) {
    // Dedupe by id, never by comparing with the cursor: a lower id can commit
    // after a higher one and must still be shown.
    if (this.seen.has(notification.id)) return;
    this.seen.add(notification.id);
    if (this.seen.size > SEEN_LIMIT) this.seen.delete(this.seen.values().next().value);
    if (this.lastId === null || notification.id > this.lastId) this.lastId = notification.id;
    if (notification.truncated && this.framesUrl) {
      // Too big for one frame: the answer to `get` is announced instead (an
      // `item` frame), or the stub if it cannot be had.
      this.post({ type: "get", id: notification.id }).then((frames) => {
        if (!frames.some((f) => f.type === "item")) this.emit("notifications:received", notification);
      });
      return;
    }
    this.emit("notifications:received", notification);
  }

  // `counts`: a live push raises the badge; the count in hello already
  // includes the announcements it lists.
  receiveAnnouncement(announcement, counts) {
    if (this.announcements.has(announcement.id)) return;
    this.announcements.add(announcement.id);
    if (counts && this.unreadCount !== null) {
      this.setCount(this.unreadCount + 1, this.unseenCount === null ? undefined : this.unseenCount + 1);
    }
    this.emit("notifications:announcement", announcement);
  }

  // `unseen`: absent from a server that does not send it; the unseen
  // count then follows the unread count.
  setCount(count, unseen) {
    if (typeof count !== "number") return;
    const nextUnseen = typeof unseen === "number" ? unseen : count;
    if (count === this.unreadCount && nextUnseen === this.unseenCount) return;
    this.unreadCount = count;
    this.unseenCount = nextUnseen;
    this.emit("notifications:count", { unread_count: count, unseen_count: nextUnseen });
  }
}
