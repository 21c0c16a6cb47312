// The bell: badge, dropdown of the latest items, toasts, and the live inbox.
// Rendered by {% notifications_bell %}, which gives its configuration as
// data-* attributes. All user text is set with textContent, never innerHTML.

import { NotificationsClient } from "./client.js";

// A new element with a class and, through textContent, its text. Shared
// with inbox.js.
export function element(tag, className, value) {
  const made = document.createElement(tag);
  if (className) made.className = className;
  if (value !== undefined && value !== null) made.textContent = String(value);
  return made;
}

export function describe(n) {
  const parts = [n.actor, n.verb];
  if (n.action_object) parts.push(n.action_object);
  if (n.target) parts.push(n.action_object ? `on ${n.target}` : n.target);
  return parts.filter(Boolean).join(" ");
}

// "bob", "bob and carol", "bob, carol and 3 others": the group's names and
// how many rows more there are than names (the server's entry.actors_text).
export function actorsText(group, fallback) {
  const names = group.actors && group.actors.length ? group.actors : [fallback];
  const others = group.count - names.length;
  if (others > 0) return `${names.join(", ")} and ${others} ${others === 1 ? "other" : "others"}`;
  if (names.length === 1) return String(names[0]);
  return `${names.slice(0, -1).join(", ")} and ${names[names.length - 1]}`;
}

// One line for a notification, or for its group when it stands for several:
// "bob and 3 others commented on Design doc".
export function describeEntry(n) {
  const group = n.group;
  if (!group || group.count <= 1) return describe(n);
  return [actorsText(group, n.actor), n.verb, n.target].filter(Boolean).join(" ");
}

// The key entries are merged by: the group's, or the row's own.
export function entryKey(n) {
  return n.group ? n.group.key : `#${n.id}`;
}

class Bell {
  constructor(root) {
    this.root = root;
    this.badge = root.querySelector("[data-notifications-badge]");
    this.button = root.querySelector("[data-notifications-toggle]");
    this.dropdown = root.querySelector("[data-notifications-dropdown]");
    this.list = root.querySelector("[data-notifications-list]");
    this.toasts = document.querySelector("[data-notifications-toasts]") || root.querySelector("[data-notifications-toasts]");
    this.listUrl = root.dataset.listUrl;
    this.badgeCounts = root.dataset.badge === "unread" ? "unread_count" : "unseen_count";
    this.fetchCount = Number(root.dataset.fetch || 8);
    const lastId = root.dataset.lastId === "" ? null : Number(root.dataset.lastId);
    const seen = (root.dataset.seenIds || "").split(",").filter(Boolean).map(Number);
    this.client = new NotificationsClient({
      url: root.dataset.wsUrl,
      lastId,
      seen,
      eventsUrl: root.dataset.eventsUrl,
      framesUrl: root.dataset.framesUrl,
      csrfToken: root.dataset.csrfToken,
      csrfCookie: root.dataset.csrfCookie,
      csrfHeader: root.dataset.csrfHeader,
      pollSeconds: Number(root.dataset.pollSeconds || 15),
    });
    this.items = new Map(); // entry key -> <li>
    this.keyOf = new Map(); // notification id -> entry key

    this.button.addEventListener("click", () => this.toggle());
    root.querySelector("[data-notifications-mark-all]")?.addEventListener("click", () => this.client.markAllRead());
    root.querySelector("[data-notifications-desktop]")?.addEventListener("click", (e) => this.askDesktop(e.currentTarget));
    document.addEventListener("click", (event) => {
      if (!this.root.contains(event.target)) this.close();
    });

    for (const name of ["received", "count", "changed", "reload", "status", "error", "announcement", "dismissed", "preferences"]) {
      this.client.addEventListener(`notifications:${name}`, (event) => {
        document.dispatchEvent(new CustomEvent(`notifications:${name}`, { detail: event.detail }));
      });
    }
    this.client.addEventListener("notifications:count", (e) => this.setBadge(e.detail[this.badgeCounts]));
    this.client.addEventListener("notifications:received", (e) => this.onReceived(e.detail));
    this.client.addEventListener("notifications:changed", (e) => this.onChanged(e.detail));
    this.client.addEventListener("notifications:reload", () => this.load());
    this.client.addEventListener("notifications:status", (e) => {
      this.root.dataset.connected = e.detail.connected ? "true" : "false";
      if (e.detail.connected) this.root.dataset.transport = e.detail.transport || "socket";
    });
    this.setBadge(Number(root.dataset.badgeCount || 0));
    this.load();
    this.client.start();
    window.notificationsClient = this.client;
  }

  setBadge(count) {
    this.badge.textContent = count > 99 ? "99+" : String(count);
    this.badge.dataset.count = String(count);
    this.badge.hidden = count === 0;
    const kind = this.badgeCounts === "unread_count" ? "unread" : "new";
    this.button.setAttribute("aria-label", `Notifications, ${count} ${kind}`);
  }

  toggle() {
    const open = this.dropdown.hidden;
    this.dropdown.hidden = !open;
    this.button.setAttribute("aria-expanded", String(open));
    if (open) this.placeDropdown();
    // Opening the bell puts everything up to the newest id in view.
    if (open) this.client.markSeen(this.client.lastId);
  }

  // The dropdown hangs from the bell's right edge, moved sideways as far as
  // it must to stay in the window wherever the bell sits (the left edge, the
  // middle of a phone's header).
  placeDropdown() {
    this.dropdown.style.transform = "";
    const margin = 8;
    const box = this.dropdown.getBoundingClientRect();
    const width = document.documentElement.clientWidth;
    let shift = 0;
    if (box.right > width - margin) shift = width - margin - box.right;
    if (box.left + shift < margin) shift = margin - box.left;
    if (shift) this.dropdown.style.transform = `translateX(${Math.round(shift)}px)`;
  }

  close() {
    this.dropdown.hidden = true;
    this.button.setAttribute("aria-expanded", "false");
  }

  async load() {
    if (!this.listUrl) return;
    try {
      const response = await fetch(`${this.listUrl}?max=${this.fetchCount}`, { credentials: "same-origin" });
      if (!response.ok) return;
      const data = await response.json();
      this.list.replaceChildren();
      this.items.clear();
      this.keyOf.clear();
      for (const n of [...(data.groups || data.all_list)].reverse()) this.prepend(n);
      this.renderEmpty();
    } catch {
      // Offline: the socket's reconnect brings the list back.
    }
  }

  renderEmpty() {
    this.list.querySelector("[data-empty]")?.remove();
    if (this.items.size === 0) {
      const empty = element("li", "nf-empty", "Nothing yet.");
      empty.dataset.empty = "";
      this.list.append(empty);
    }
  }

  // A row that joins a group already listed updates that entry in place
  // and moves it to the top, instead of adding a line.
  prepend(n) {
    const key = entryKey(n);
    if (this.keyOf.has(n.id)) return;
    const existing = this.items.get(key);
    if (existing && n.group && Number(existing.dataset.id) > n.group.latest_id) return;
    existing?.remove();
    this.items.delete(key);
    const item = element("li", "nf-item");
    item.dataset.id = n.id;
    item.dataset.groupKey = key;
    item.dataset.groupCount = String(n.group ? n.group.count : 1);
    item.dataset.unread = String(n.unread);
    item.dataset.level = n.level;
    const body = element("div", "nf-item-body");
    body.append(element("span", "nf-item-text", describeEntry(n)));
    if (n.description && !(n.group && n.group.count > 1)) body.append(element("span", "nf-item-description", n.description));
    item.append(body);
    const action = element("button", "nf-item-action", n.unread ? "Mark read" : "Mark unread");
    action.type = "button";
    action.addEventListener("click", (event) => {
      event.stopPropagation();
      if (item.dataset.unread !== "true") this.client.markUnread(n.id);
      else if (n.group) this.client.markGroupRead(n.id);
      else this.client.markRead(n.id);
    });
    item.append(action);
    this.list.prepend(item);
    this.items.set(key, item);
    this.keyOf.set(n.id, key);
    while (this.items.size > this.fetchCount) {
      const [oldest] = this.items.keys();
      this.items.get(oldest).remove();
      this.items.delete(oldest);
    }
    this.renderEmpty();
  }

  onReceived(n) {
    this.prepend(n);
    if (!this.dropdown.hidden && !document.hidden) this.client.markSeen(n.id);
    this.toast(n);
    this.desktop(n);
  }

  onChanged({ kind, ids, all }) {
    const keys = all ? [...this.items.keys()] : [...new Set(ids.map((id) => this.keyOf.get(id)).filter(Boolean))];
    for (const key of keys) {
      const item = this.items.get(key);
      if (!item) continue;
      if (kind === "deleted") {
        // A deleted row that is not the entry's newest leaves the entry.
        if (!all && !ids.includes(Number(item.dataset.id))) continue;
        item.remove();
        this.items.delete(key);
      } else {
        const unread = kind === "unread";
        item.dataset.unread = String(unread);
        item.querySelector(".nf-item-action").textContent = unread ? "Mark read" : "Mark unread";
      }
    }
    this.renderEmpty();
  }

  toast(n) {
    if (!this.toasts) return;
    const toast = element("div", `nf-toast nf-level-${n.level}`);
    toast.setAttribute("role", "status");
    toast.append(element("strong", "nf-toast-title", describeEntry(n)));
    if (n.description) toast.append(element("span", "nf-toast-body", n.description));
    this.toasts.append(toast);
    setTimeout(() => toast.remove(), 6000);
  }

  askDesktop(button) {
    if (!("Notification" in window)) return;
    Notification.requestPermission().then((permission) => {
      button.hidden = permission === "granted";
    });
  }

  desktop(n) {
    if (!document.hidden || !("Notification" in window) || Notification.permission !== "granted") return;
    new Notification(describeEntry(n), { body: n.description || "", tag: `notification-${n.id}` });
  }
}

for (const root of document.querySelectorAll("[data-notifications-bell]")) {
  new Bell(root);
}
