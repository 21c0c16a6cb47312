// The Web Push service worker, served at /notifications/service-worker.js.
// Shows each push (notifications.outbound.webpush.payload) and opens the
// inbox when it is clicked.

self.addEventListener("push", (event) => {
  let data = {};
  try {
    data = event.data ? event.data.json() : {};
  } catch {
    data = { title: event.data ? event.data.text() : "New notification" };
  }
  event.waitUntil(
    self.registration.showNotification(data.title || "New notification", {
      body: data.body || "",
      tag: data.tag,
      data: { url: data.url || "/notifications/" },
    }),
  );
});

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  const url = event.notification.data && event.notification.data.url;
  event.waitUntil(
    self.clients.matchAll({ type: "window", includeUncontrolled: true }).then((windows) => {
      for (const client of windows) {
        if (client.url === url && "focus" in client) return client.focus();
      }
      return self.clients.openWindow(url || "/notifications/");
    }),
  );
});
