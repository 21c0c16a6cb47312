// Announcement banners: new ones appear live, a dismiss in any tab removes
// them from every tab, and they disappear at their expiry with no reload.
// Text is set with textContent; only http(s) links become anchors.

const box = document.querySelector("[data-notifications-announcements]");
const URL_PATTERN = /(https?:\/\/[^\s<>"']+)/g;

function client() {
  return window.notificationsClient;
}

function linkify(parent, text) {
  for (const [index, part] of text.split(URL_PATTERN).entries()) {
    if (index % 2 === 1) {
      const link = document.createElement("a");
      link.href = part;
      link.rel = "nofollow noopener";
      link.target = "_blank";
      link.textContent = part;
      parent.append(link);
    } else if (part) {
      parent.append(document.createTextNode(part));
    }
  }
}

function scheduleExpiry(banner) {
  const expires = banner.dataset.expiresAt;
  if (!expires) return;
  const skew = client()?.clockSkew || 0;
  const delay = Date.parse(expires) - (Date.now() + skew);
  setTimeout(() => banner.remove(), Math.max(0, delay));
}

function render(a) {
  const banner = document.createElement("div");
  banner.className = `nf-announcement nf-level-${a.level}`;
  banner.setAttribute("role", "status");
  banner.dataset.announcementId = a.id;
  if (a.expires_at) banner.dataset.expiresAt = a.expires_at;
  const text = document.createElement("div");
  text.className = "nf-announcement-text";
  const title = document.createElement("strong");
  title.className = "nf-announcement-title";
  title.textContent = a.title;
  text.append(title);
  if (a.body) {
    const body = document.createElement("span");
    body.className = "nf-announcement-body";
    linkify(body, a.body);
    text.append(body);
  }
  const button = document.createElement("button");
  button.type = "button";
  button.className = "nf-announcement-dismiss";
  button.dataset.dismiss = "";
  button.setAttribute("aria-label", `Dismiss ${a.title}`);
  button.textContent = "Dismiss";
  banner.append(text, button);
  return banner;
}

if (box) {
  for (const banner of box.querySelectorAll("[data-announcement-id]")) scheduleExpiry(banner);

  document.addEventListener("notifications:announcement", (event) => {
    const a = event.detail;
    if (box.querySelector(`[data-announcement-id="${a.id}"]`)) return;
    const banner = render(a);
    box.prepend(banner);
    scheduleExpiry(banner);
  });

  document.addEventListener("notifications:dismissed", (event) => {
    box.querySelector(`[data-announcement-id="${event.detail.id}"]`)?.remove();
  });

  // Dismiss over the socket when it is up; otherwise the form posts.
  box.addEventListener("click", (event) => {
    const button = event.target.closest("[data-dismiss]");
    if (!button) return;
    const id = Number(button.closest("[data-announcement-id]").dataset.announcementId);
    if (client()?.dismiss(id)) {
      event.preventDefault();
    } else if (button.type === "button") {
      const form = document.createElement("form");
      form.method = "post";
      form.action = box.dataset.dismissUrl.replace(/\/0\/dismiss\/$/, `/${id}/dismiss/`);
      for (const [name, value] of [["csrfmiddlewaretoken", box.dataset.csrfToken], ["next", box.dataset.next]]) {
        const input = document.createElement("input");
        input.type = "hidden";
        input.name = name;
        input.value = value;
        form.append(input);
      }
      document.body.append(form);
      form.submit();
    }
  });
}
