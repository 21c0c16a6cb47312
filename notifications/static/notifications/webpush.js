// The bell's "Push alerts" control: registers the package's service worker,
// subscribes with the site's VAPID public key and stores the subscription.
// Shown only where the browser supports Web Push and the site has a key.

const button = document.querySelector("[data-notifications-push]");

function csrfToken() {
  const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  return match ? decodeURIComponent(match[1]) : "";
}

function urlBase64ToUint8Array(value) {
  const padded = (value + "=".repeat((4 - (value.length % 4)) % 4)).replace(/-/g, "+").replace(/_/g, "/");
  return Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
}

async function save(subscription, method) {
  await fetch(button.dataset.subscriptionUrl, {
    method,
    headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken() },
    credentials: "same-origin",
    body: JSON.stringify(subscription.toJSON()),
  });
}

async function setUp() {
  if (!button || !("serviceWorker" in navigator) || !("PushManager" in window)) return;
  const response = await fetch(button.dataset.subscriptionUrl, { credentials: "same-origin" });
  if (!response.ok) return;
  const { public_key: publicKey } = await response.json();
  if (!publicKey) return;
  const registration = await navigator.serviceWorker.register(button.dataset.serviceWorkerUrl);
  const show = (subscribed) => {
    button.hidden = false;
    button.dataset.subscribed = String(subscribed);
    button.textContent = subscribed ? "Stop push alerts" : "Push alerts";
  };
  show(Boolean(await registration.pushManager.getSubscription()));
  button.addEventListener("click", async () => {
    const current = await registration.pushManager.getSubscription();
    if (current) {
      await save(current, "DELETE");
      await current.unsubscribe();
      show(false);
      return;
    }
    if ((await Notification.requestPermission()) !== "granted") return;
    const subscription = await registration.pushManager.subscribe({
      userVisibleOnly: true,
      applicationServerKey: urlBase64ToUint8Array(publicKey),
    });
    await save(subscription, "POST");
    show(true);
  });
}

setUp().catch((error) => console.warn("push alerts unavailable:", error));
