// The socket base of the browser clients: NotificationsClient
// (notifications/client.js) and ChatSocket (chat/client.js). No build step.
//
// It opens `url` (ws: or wss: after the page's own scheme), parses each
// frame, ignores a replaced socket's late events, and reconnects with
// jittered backoff until a close code says retrying cannot help. A subclass
// gets the frames and the closes through onOpen(), onFrame(frame) and
// onClose(event, stopped), and reports them as its own events.
//
// chat/static/chat/socket.js links to this file, so that chat's pages work
// on a site without the notifications app.

const RECONNECT_BASE_MS = 2000;
// 4401: not logged in, 4403: not allowed.
const FINAL_CODES = new Set([4401, 4403]);

export class RealtimeSocket extends EventTarget {
  constructor(url, { maxBackoff = 30000 } = {}) {
    super();
    this.url = new URL(url, window.location.href);
    // An http(s) URL (relative to the page, say) becomes ws(s); ws: and wss: stay.
    if (this.url.protocol === "https:") this.url.protocol = "wss:";
    else if (this.url.protocol === "http:") this.url.protocol = "ws:";
    this.maxBackoff = maxBackoff;
    this.attempt = 0;
    this.stopped = false;
    this.socket = null;
    this.retry = null;
  }

  start() {
    clearTimeout(this.retry);
    this.stopped = false;
    this.connect();
    return this;
  }

  send(frame) {
    if (this.socket && this.socket.readyState === WebSocket.OPEN) {
      this.socket.send(JSON.stringify(frame));
      return true;
    }
    return false;
  }

  connect() {
    const socket = new WebSocket(this.url);
    this.socket = socket;
    socket.addEventListener("open", () => this.onOpen());
    socket.addEventListener("message", (event) => {
      if (socket !== this.socket) return;
      let frame;
      try {
        frame = JSON.parse(event.data);
      } catch {
        return;
      }
      this.onSocketFrame(frame);
    });
    socket.addEventListener("close", (event) => {
      if (socket !== this.socket) return;
      const stopped = this.stopped || FINAL_CODES.has(event.code);
      this.stopped = stopped;
      this.onClose(event, stopped);
      if (!stopped) this.reconnectLater();
    });
  }

  // Exponential backoff with full jitter (a random delay up to 2 s, then
  // 4 s, 8 s... at most maxBackoff), so that the clients of a server that
  // died spread their reconnects over the next seconds instead of hitting
  // the survivors all at once. A subclass resets `attempt` once the server
  // has taken the socket.
  reconnectLater() {
    const ceiling = Math.min(this.maxBackoff, RECONNECT_BASE_MS * 2 ** this.attempt);
    this.attempt += 1;
    // stop() meanwhile (this.stopped) cancels the reconnect.
    this.retry = setTimeout(() => {
      this.retry = null;
      if (!this.stopped) this.connect();
    }, Math.random() * ceiling);
  }

  onOpen() {}

  // A frame from the WebSocket; a subclass with another transport beside it
  // tells the two apart here.
  onSocketFrame(frame) {
    this.onFrame(frame);
  }

  onFrame(frame) {}

  // `stopped`: no reconnect follows (stop() was called, or the close code
  // is final).
  onClose(event, stopped) {}

  emit(name, detail) {
    this.dispatchEvent(new CustomEvent(name, { detail }));
  }
}
