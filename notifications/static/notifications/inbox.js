// Keeps the /notifications/ inbox live: new items appear at the top, and
// read, unread and delete from any tab show at once. The forms still work
// without JavaScript; with it, they go over the socket with no reload.

import { describe } from "./bell.js";

const inbox = document.querySelector("[data-notifications-inbox]");
const list = inbox?.querySelector("[data-notifications-inbox-list]");
const SLUG_OFFSET = 110909;

function el(tag, className, value) {
  const element = document.createElement(tag);
  if (className) element.className = className;
  if (value !== undefined) element.textContent = String(value);
  return element;
}

function form(action, label, kind, id) {
  const f = el("form");
  f.method = "post";
  f.action = inbox.dataset[action].replace(/\/0\/$/, `/${id + SLUG_OFFSET}/`);
  const token = el("input");
  token.type = "hidden";
  token.name = "csrfmiddlewaretoken";
  token.value = inbox.dataset.csrfToken;
  const button = el("button", `button small${kind === "delete" ? " danger" : ""}`, label);
  button.type = "submit";
  button.dataset.action = kind;
  f.append(token, button);
  return f;
}

function actions(item, unread) {
  const id = Number(item.dataset.id);
  const box = item.querySelector(".nf-notice-actions");
  box.replaceChildren(
    unread ? form("markReadUrl", "Mark read", "mark_read", id) : form("markUnreadUrl", "Mark unread", "mark_unread", id),
    form("deleteUrl", "Delete", "delete", id),
  );
}

function render(n) {
  const item = el("li", `nf-notice nf-level-${n.level}`);
  item.dataset.id = n.id;
  item.dataset.unread = String(n.unread);
  const body = el("div", "nf-notice-body");
  body.append(el("p", "nf-notice-title", describe(n)));
  if (n.description) body.append(el("p", "nf-notice-description", n.description));
  body.append(el("p", "nf-notice-time", "just now"));
  item.append(body, el("div", "nf-notice-actions"));
  actions(item, n.unread);
  return item;
}

if (list) {
  document.addEventListener("notifications:received", (event) => {
    const n = event.detail;
    if (list.querySelector(`[data-id="${n.id}"]`)) return;
    list.querySelector("[data-empty]")?.remove();
    list.prepend(render(n));
  });

  document.addEventListener("notifications:changed", (event) => {
    const { kind, ids, all } = event.detail;
    const items = all ? [...list.querySelectorAll("[data-id]")] : ids.map((id) => list.querySelector(`[data-id="${id}"]`));
    for (const item of items) {
      if (!item) continue;
      if (kind === "deleted") {
        item.remove();
      } else if (kind === "read" && inbox.dataset.unreadOnly === "true") {
        item.remove();
      } else {
        item.dataset.unread = String(kind === "unread");
        actions(item, kind === "unread");
      }
    }
  });

  // Send the forms over the socket when it is up; fall back to a POST.
  list.addEventListener("submit", (event) => {
    const client = window.notificationsClient;
    const button = event.submitter;
    const item = event.target.closest("[data-id]");
    if (!client || !button || !item) return;
    const id = Number(item.dataset.id);
    const sent = { mark_read: () => client.markRead(id), mark_unread: () => client.markUnread(id), delete: () => client.remove(id) }[button.dataset.action]?.();
    if (sent) event.preventDefault();
  });
}
