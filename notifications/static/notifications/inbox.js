// Keeps the /notifications/ inbox live: new items appear at the top, and
// read, unread and delete from any tab show at once. The forms still work
// without JavaScript; with it, they go over the socket with no reload.
// On the grouped inbox (data-grouped), a row that joins a listed group
// updates that entry in place and moves it to the top, and "Mark read"
// marks the whole group. An open inbox puts what it lists in view (seen).

import { describeEntry, element, entryKey } from "./bell.js";

const inbox = document.querySelector("[data-notifications-inbox]");
const list = inbox?.querySelector("[data-notifications-inbox-list]");
const grouped = inbox?.dataset.grouped === "true";
// A notification's slug in the forms' URLs is its id plus SLUG_OFFSET
// (notifications/utils.py), which the page renders as data-slug-offset.
const slugOffset = Number(inbox?.dataset.slugOffset);

function form(action, label, kind, id) {
  const f = element("form");
  f.method = "post";
  f.action = inbox.dataset[action].replace(/\/0\/$/, `/${id + slugOffset}/`);
  const token = element("input");
  token.type = "hidden";
  token.name = "csrfmiddlewaretoken";
  token.value = inbox.dataset.csrfToken;
  const button = element("button", `button small${kind === "delete" ? " danger" : ""}`, label);
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
  const item = element("li", `nf-notice nf-level-${n.level}`);
  item.dataset.id = n.id;
  item.dataset.unread = String(n.unread);
  if (grouped) {
    item.dataset.groupKey = entryKey(n);
    item.dataset.groupCount = String(n.group ? n.group.count : 1);
  }
  const several = grouped && n.group && n.group.count > 1;
  const body = element("div", "nf-notice-body");
  body.append(element("p", "nf-notice-title", grouped ? describeEntry(n) : describeEntry({ ...n, group: null })));
  if (n.description && !several) body.append(element("p", "nf-notice-description", n.description));
  const time = element("p", "nf-notice-time", "just now");
  if (several && inbox.dataset.groupUrl) {
    // Open the group: the rows it stands for (notifications:group).
    const open = element("a", "nf-group-open", `Show all ${n.group.count}`);
    open.href = inbox.dataset.groupUrl.replace(/\/0\/$/, `/${n.id + slugOffset}/`);
    time.append(" · ", open);
  }
  body.append(time);
  item.append(body, element("div", "nf-notice-actions"));
  actions(item, n.unread);
  return item;
}

if (list) {
  const newestShown = () => Math.max(0, ...[...list.querySelectorAll("[data-id]")].map((item) => Number(item.dataset.id)));
  const inView = () => {
    const client = window.notificationsClient;
    const newest = newestShown();
    if (client && newest && !document.hidden) client.markSeen(newest);
  };
  document.addEventListener("notifications:status", (event) => {
    if (event.detail.connected) inView();
  });
  document.addEventListener("visibilitychange", inView);

  document.addEventListener("notifications:received", (event) => {
    const n = event.detail;
    if (list.querySelector(`[data-id="${n.id}"]`)) return;
    if (grouped && n.group) {
      const existing = [...list.querySelectorAll("[data-group-key]")].find((item) => item.dataset.groupKey === n.group.key);
      if (existing && Number(existing.dataset.id) > n.group.latest_id) return;
      existing?.remove();
    }
    list.querySelector("[data-empty]")?.remove();
    list.prepend(render(n));
    inView();
  });

  document.addEventListener("notifications:changed", (event) => {
    const { kind, ids, all } = event.detail;
    // A grouped entry shows its newest row; a read frame lists every row.
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
    const markRead = grouped ? () => client.markGroupRead(id) : () => client.markRead(id);
    const sent = { mark_read: markRead, mark_unread: () => client.markUnread(id), delete: () => client.remove(id) }[button.dataset.action]?.();
    if (sent) event.preventDefault();
  });
}
