// The room list: each room's last message and this user's unread count, kept
// live over /ws/chat/. Configuration comes from data-* attributes on
// #chat-rooms. User text is only ever written with textContent.

import { ChatSocket } from "./client.js";

const root = document.getElementById("chat-rooms");
const list = root.querySelector("[data-role=rooms]");
let me = null;
const rooms = new Map(); // slug -> room

function row(room) {
  const item = document.createElement("li");
  item.className = "chat-room-row";
  item.dataset.room = room.slug;
  const link = document.createElement("a");
  link.href = room.url;
  link.textContent = room.name;
  const badge = document.createElement("span");
  badge.className = "chat-unread";
  badge.dataset.testid = "unread";
  badge.textContent = room.unread_count ? String(room.unread_count) : "";
  badge.hidden = !room.unread_count;
  const last = document.createElement("span");
  last.className = "chat-last muted";
  if (room.last_message) last.textContent = `${room.last_message.user.username}: ${room.last_message.body}`;
  const tag = document.createElement("span");
  tag.className = "muted";
  tag.textContent = room.is_private ? " (private)" : "";
  item.append(link, tag, badge, last);
  return item;
}

function render() {
  const sorted = [...rooms.values()].sort((a, b) => a.name.localeCompare(b.name));
  list.replaceChildren(...sorted.map(row));
}

const socket = new ChatSocket(root.dataset.socket);
socket.addEventListener("frame", ({ detail: frame }) => {
  switch (frame.type) {
    case "rooms":
      me = frame.user;
      rooms.clear();
      for (const room of frame.rooms) rooms.set(room.slug, room);
      render();
      break;
    case "room":
      rooms.set(frame.room.slug, frame.room);
      render();
      break;
    case "room_removed":
      rooms.delete(frame.room);
      render();
      break;
    case "message": {
      const room = rooms.get(frame.message.room);
      if (!room) break;
      if (room.last_message && room.last_message.id > frame.message.id) break;
      room.last_message = frame.message;
      if (frame.message.user.id !== me) room.unread_count += 1;
      render();
      break;
    }
    case "read": {
      const room = rooms.get(frame.room);
      if (!room) break;
      room.unread_count = frame.unread_count;
      render();
      break;
    }
    default:
      break;
  }
});
socket.start();
