// The room page: messages, the input box, who is online and who is typing.
// Configuration comes from data-* attributes on #chat-room. User text is
// only ever written with textContent.

import { ChatSocket, newClientId } from "./client.js";

const TYPING_SEND_MS = 2000; // at most one `typing` per 2 s from this tab
const TYPING_SHOW_MS = 4000; // an indicator clears itself after 4 s

const root = document.getElementById("chat-room");
const me = Number(root.dataset.user);
const list = root.querySelector("[data-role=messages]");
const form = root.querySelector("[data-role=form]");
const input = form.querySelector("textarea");
const online = root.querySelector("[data-role=online]");
const typingLine = root.querySelector("[data-role=typing]");
const older = root.querySelector("[data-role=older]");
const status = root.querySelector("[data-role=status]");
const errorLine = root.querySelector("[data-role=error]");

const shown = new Map(); // id -> element
const pending = new Map(); // client_id -> { body, element }
const typers = new Map(); // user id -> { name, timer }
let lastTypingSent = 0;
let lastReadSent = 0;

const socket = new ChatSocket(root.dataset.socket);

function messageElement(message, pendingState = false) {
  const item = document.createElement("li");
  item.className = "chat-message" + (message.user && message.user.id === me ? " mine" : "");
  if (pendingState) item.classList.add("pending");
  const author = document.createElement("span");
  author.className = "chat-author";
  author.textContent = message.user ? message.user.username : "you";
  const body = document.createElement("span");
  body.className = "chat-body";
  body.textContent = message.body;
  item.append(author, body);
  if (message.id) item.dataset.id = message.id;
  return item;
}

// Messages are kept in id order: ids are allocated in commit order per room,
// but two servers may publish a pair in either order.
function insert(message) {
  if (shown.has(message.id)) return;
  const waiting = pending.get(message.client_id);
  if (waiting && message.user.id === me) {
    waiting.element.remove();
    pending.delete(message.client_id);
  }
  const element = messageElement(message);
  shown.set(message.id, element);
  let before = null;
  for (const child of list.querySelectorAll("li[data-id]")) {
    if (Number(child.dataset.id) > message.id) {
      before = child;
      break;
    }
  }
  if (before) list.insertBefore(element, before);
  else list.insertBefore(element, list.querySelector("li.pending"));
  clearTyping(message.user.id);
}

function newestId() {
  return shown.size ? Math.max(...shown.keys()) : 0;
}

function markRead() {
  const newest = newestId();
  if (newest > lastReadSent && document.visibilityState === "visible") {
    if (socket.send({ type: "read", last_id: newest })) lastReadSent = newest;
  }
}

function scrollToEnd() {
  list.scrollTop = list.scrollHeight;
}

function onHistory(frame) {
  if (frame.before === null) {
    // On (re)join: if what we hold is not contiguous with this page, start over.
    const oldest = frame.messages.length ? frame.messages[0].id : 0;
    if (frame.has_more && shown.size && newestId() < oldest) {
      for (const element of shown.values()) element.remove();
      shown.clear();
    }
    frame.messages.forEach(insert);
    older.hidden = !frame.has_more;
    scrollToEnd();
    for (const [clientId, { body }] of pending) socket.send({ type: "message", body, client_id: clientId });
  } else {
    frame.messages.forEach(insert);
    older.hidden = !frame.has_more;
  }
  markRead();
}

function renderOnline(users) {
  online.replaceChildren(
    ...users.map((user) => {
      const item = document.createElement("li");
      item.textContent = user.username;
      item.dataset.user = user.id;
      return item;
    }),
  );
}

function renderTyping() {
  const names = [...typers.values()].map((t) => t.name);
  typingLine.textContent = names.length ? `${names.join(", ")} ${names.length > 1 ? "are" : "is"} typing…` : "";
}

function clearTyping(userId) {
  const typer = typers.get(userId);
  if (!typer) return;
  clearTimeout(typer.timer);
  typers.delete(userId);
  renderTyping();
}

socket.addEventListener("frame", ({ detail: frame }) => {
  switch (frame.type) {
    case "history":
      onHistory(frame);
      break;
    case "message": {
      const atEnd = list.scrollTop + list.clientHeight >= list.scrollHeight - 40;
      insert(frame.message);
      if (atEnd || frame.message.user.id === me) scrollToEnd();
      markRead();
      break;
    }
    case "presence":
      renderOnline(frame.online);
      break;
    case "join": {
      const names = [...online.children].map((li) => Number(li.dataset.user));
      if (!names.includes(frame.user.id)) {
        const item = document.createElement("li");
        item.textContent = frame.user.username;
        item.dataset.user = frame.user.id;
        online.append(item);
      }
      break;
    }
    case "leave":
      online.querySelector(`li[data-user="${Number(frame.user.id)}"]`)?.remove();
      clearTyping(frame.user.id);
      break;
    case "typing": {
      if (frame.user.id === me) break;
      clearTimeout(typers.get(frame.user.id)?.timer);
      const timer = setTimeout(() => clearTyping(frame.user.id), TYPING_SHOW_MS);
      typers.set(frame.user.id, { name: frame.user.username, timer });
      renderTyping();
      break;
    }
    case "error":
      errorLine.textContent = frame.message;
      setTimeout(() => { errorLine.textContent = ""; }, 5000);
      break;
    default:
      break;
  }
});

socket.addEventListener("status", ({ detail }) => {
  status.textContent = detail.connected ? "" : detail.stopped ? "Disconnected." : "Reconnecting…";
  root.classList.toggle("offline", !detail.connected);
});

form.addEventListener("submit", (event) => {
  event.preventDefault();
  const body = input.value;
  if (!body.trim()) return;
  const clientId = newClientId();
  const element = messageElement({ body, user: null }, true);
  list.append(element);
  pending.set(clientId, { body, element });
  socket.send({ type: "message", body, client_id: clientId });
  input.value = "";
  scrollToEnd();
});

input.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey) {
    event.preventDefault();
    form.requestSubmit();
    return;
  }
  const now = Date.now();
  if (now - lastTypingSent > TYPING_SEND_MS) {
    lastTypingSent = now;
    socket.send({ type: "typing" });
  }
});

older.addEventListener("click", () => {
  const ids = [...shown.keys()];
  if (ids.length) socket.send({ type: "history", before: Math.min(...ids) });
});

document.addEventListener("visibilitychange", markRead);

socket.start();
