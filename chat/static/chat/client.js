// Protocol v1 client for /ws/chat/<room>/ and /ws/chat/. No build step.
//
//   import { ChatSocket } from "/static/chat/client.js";
//   const socket = new ChatSocket("/ws/chat/general/");
//   socket.addEventListener("frame", (e) => console.log(e.detail));
//   socket.start();
//
// Events: "frame" (detail: every server frame), "status" (detail:
// { connected, stopped, code }). It reconnects with jittered backoff, and
// stops for good on 4401 (not logged in) and 4403 (not allowed). After 4408
// (session ended) it reconnects, and a dead session then gets 4401.

const FINAL_CODES = new Set([4401, 4403]);
const RECONNECT_BASE_MS = 2000;

export class ChatSocket extends EventTarget {
  constructor(url, { maxBackoff = 30000 } = {}) {
    super();
    this.url = new URL(url, window.location.href);
    this.url.protocol = this.url.protocol === "https:" ? "wss:" : "ws:";
    this.maxBackoff = maxBackoff;
    this.attempt = 0;
    this.stopped = false;
    this.socket = null;
  }

  start() {
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
    socket.addEventListener("open", () => {
      this.attempt = 0;
      this.emit("status", { connected: true, stopped: false });
    });
    socket.addEventListener("message", (event) => {
      if (socket !== this.socket) return;
      let frame;
      try {
        frame = JSON.parse(event.data);
      } catch {
        return;
      }
      this.emit("frame", frame);
    });
    socket.addEventListener("close", (event) => {
      if (socket !== this.socket) return;
      const stopped = this.stopped || FINAL_CODES.has(event.code);
      this.stopped = stopped;
      this.emit("status", { connected: false, stopped, code: event.code });
      if (stopped) return;
      // Full jitter (up to 2 s, then 4 s, 8 s...), so the clients of a server
      // that died do not all reconnect in the same second.
      const ceiling = Math.min(this.maxBackoff, RECONNECT_BASE_MS * 2 ** this.attempt);
      this.attempt += 1;
      setTimeout(() => this.connect(), Math.random() * ceiling);
    });
  }

  emit(name, detail) {
    this.dispatchEvent(new CustomEvent(name, { detail }));
  }
}

export function newClientId() {
  if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
  return `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`;
}
