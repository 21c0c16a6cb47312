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
//
// The socket underneath is the notifications client's RealtimeSocket:
// ./socket.js links to notifications/static/notifications/socket.js.

import { RealtimeSocket } from "./socket.js";

export class ChatSocket extends RealtimeSocket {
  onOpen() {
    this.attempt = 0;
    this.emit("status", { connected: true, stopped: false });
  }

  onFrame(frame) {
    this.emit("frame", frame);
  }

  onClose(event, stopped) {
    this.emit("status", { connected: false, stopped, code: event.code });
  }
}

export function newClientId() {
  if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
  return `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`;
}
