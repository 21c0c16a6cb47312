// Keeps the preferences page in step with changes made in another tab or in
// the admin: the bell's socket delivers a `preferences` frame.

const page = document.querySelector("[data-notifications-preferences]");

function show(preferences) {
  for (const category of preferences.categories || []) {
    for (const [channel, frequency] of Object.entries(category.frequencies || {})) {
      const select = page.querySelector(`select[data-preference="${CSS.escape(`${category.name}:${channel}`)}"]`);
      if (select && select.value !== frequency) select.value = frequency;
    }
  }
  page.dataset.updated = String(Date.now());
}

if (page) document.addEventListener("notifications:preferences", (event) => show(event.detail));
