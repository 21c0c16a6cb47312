// The bell: badge, dropdown of the latest items, toasts, and the live inbox.
// Rendered by {% notifications_bell %}, which gives its configuration as
// data-* attributes. All user text is set with textContent, never innerHTML.

import { NotificationsClient } from "./client.js";

function text(tag, className, value) {
  const element = document.createElement(tag);
  if (className) element.className = className;
  if (value !== undefined && value !== null) element.textContent = String(value);
  return element;
}

export function describe(n) {
  const parts = [n.actor, n.verb];
  if (n.action_object) parts.push(n.action_object);
  if (n.target) parts.push(n.action_object ? `on ${n.target}` : n.target);
  return parts.filter(Boolean).join(" ");
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
    this.fetchCount = Number(root.dataset.fetch || 8);
    const lastId = root.dataset.lastId === "" ? null : Number(root.dataset.lastId);
    const seen = (root.dataset.seenIds || "").split(",").filter(Boolean).map(Number);
    this.client = new NotificationsClient({ url: root.dataset.wsUrl, lastId, seen });
    this.items = new Map();

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
    this.client.addEventListener("notifications:count", (e) => this.setBadge(e.detail.unread_count));
    this.client.addEventListener("notifications:received", (e) => this.onReceived(e.detail));
    this.client.addEventListener("notifications:changed", (e) => this.onChanged(e.detail));
    this.client.addEventListener("notifications:reload", () => this.load());
    this.client.addEventListener("notifications:status", (e) => {
      this.root.dataset.connected = e.detail.connected ? "true" : "false";
    });
    this.setBadge(Number(root.dataset.unreadCount || 0));
    this.load();
    this.client.start();
    window.notificationsClient = this.client;
  }

  setBadge(count) {
    this.badge.textContent = count > 99 ? "99+" : String(count);
    this.badge.dataset.count = String(count);
    this.badge.hidden = count === 0;
    this.button.setAttribute("aria-label", `Notifications, ${count} unread`);
  }

  toggle() {
    const open = this.dropdown.hidden;
    this.dropdown.hidden = !open;
    this.button.setAttribute("aria-expanded", String(open));
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
      for (const n of [...data.all_list].reverse()) this.prepend(n);
      this.renderEmpty();
    } catch {
      // Offline: the socket's reconnect brings the list back.
    }
  }

  renderEmpty() {
    this.list.querySelector("[data-empty]")?.remove();
    if (this.items.size === 0) {
      const empty = text("li", "nf-empty", "Nothing yet.");
      empty.dataset.empty = "";
      this.list.append(empty);
    }
  }

  prepend(n) {
    if (this.items.has(n.id)) return;
    const item = text("li", "nf-item");
    item.dataset.id = n.id;
    item.dataset.unread = String(n.unread);
    item.dataset.level = n.level;
    const body = text("div", "nf-item-body");
    body.append(text("span", "nf-item-text", describe(n)));
    if (n.description) body.append(text("span", "nf-item-description", n.description));
    item.append(body);
    const action = text("button", "nf-item-action", n.unread ? "Mark read" : "Mark unread");
    action.type = "button";
    action.addEventListener("click", (event) => {
      event.stopPropagation();
      if (item.dataset.unread === "true") this.client.markRead(n.id);
      else this.client.markUnread(n.id);
    });
    item.append(action);
    this.list.prepend(item);
    this.items.set(n.id, item);
    while (this.items.size > this.fetchCount) {
      const [oldest] = this.items.keys();
      this.items.get(oldest).remove();
      this.items.delete(oldest);
    }
    this.renderEmpty();
  }

  onReceived(n) {
    this.prepend(n);
    this.toast(n);
    this.desktop(n);
  }

  onChanged({ kind, ids, all }) {
    const targets = all ? [...this.items.keys()] : ids;
    for (const id of targets) {
      const item = this.items.get(id);
      if (!item) continue;
      if (kind === "deleted") {
        item.remove();
        this.items.delete(id);
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
    const toast = text("div", `nf-toast nf-level-${n.level}`);
    toast.setAttribute("role", "status");
    toast.append(text("strong", "nf-toast-title", describe(n)));
    if (n.description) toast.append(text("span", "nf-toast-body", n.description));
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
    new Notification(describe(n), { body: n.description || "", tag: `notification-${n.id}` });
  }
}

for (const root of document.querySelectorAll("[data-notifications-bell]")) {
  new Bell(root);
}
