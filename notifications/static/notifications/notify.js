// django-notifications' notify.js, driven by the WebSocket.
//
// Same globals, same #notify-config block (from {% register_notify_callbacks %}),
// same callbacks: fill_notification_badge, fill_notification_list and your own,
// each called with the JSON of the configured API URL. The difference: the
// callbacks run when the socket says something changed, at once, instead of
// every refresh_period; polling at refresh_period happens only while the
// socket is down.
var notify_badge_class;
var notify_menu_class;
var notify_api_url;
var notify_fetch_count;
var notify_unread_url;
var notify_mark_all_unread_url;
var notify_refresh_period = 15000;
var notify_mark_as_read = false;

let consecutive_misfires = 0;
const registered_functions = [];
let notify_socket_up = false;
let notify_poll_timer = null;
let notify_refresh_timer = null;

function fill_notification_badge(data) {
    for (const badge of document.getElementsByClassName(notify_badge_class)) {
        badge.textContent = data.unread_count;
    }
}

function fill_notification_list(data) {
    const fragment = document.createDocumentFragment();
    for (const item of data.unread_list || []) {
        let message = item.actor || '';
        if (item.verb) message += ` ${item.verb}`;
        if (item.target) message += ` ${item.target}`;
        if (item.timestamp) message += ` ${item.timestamp}`;
        const li = document.createElement('li');
        li.textContent = message;
        fragment.appendChild(li);
    }
    for (const menu of document.getElementsByClassName(notify_menu_class)) {
        menu.replaceChildren(fragment.cloneNode(true));
    }
}

function register_notifier(func) {
    registered_functions.push(func);
}

async function fetch_api_data() {
    if (registered_functions.length === 0) return;
    let params = `?max=${notify_fetch_count}`;
    if (notify_mark_as_read) params += '&mark_as_read=true';
    try {
        const response = await fetch(notify_api_url + params, { credentials: 'same-origin' });
        if (!response.ok) throw new Error(String(response.status));
        consecutive_misfires = 0;
        const data = await response.json();
        for (const func of registered_functions) func(data);
    } catch (e) {
        consecutive_misfires++;
        if (consecutive_misfires >= 10) {
            for (const badge of document.getElementsByClassName(notify_badge_class)) {
                badge.textContent = '!';
                badge.title = 'Connection lost!';
            }
        }
    }
}

// Coalesce a burst of frames into one fetch.
function notify_refresh_soon() {
    clearTimeout(notify_refresh_timer);
    notify_refresh_timer = setTimeout(fetch_api_data, 50);
}

function notify_poll() {
    clearTimeout(notify_poll_timer);
    if (notify_socket_up || consecutive_misfires >= 10) return;
    fetch_api_data().finally(() => {
        if (!notify_socket_up) notify_poll_timer = setTimeout(notify_poll, notify_refresh_period);
    });
}

function notify_connect(url, attempt) {
    const address = new URL(url, window.location.href);
    address.protocol = address.protocol === 'https:' ? 'wss:' : 'ws:';
    let socket;
    try {
        socket = new WebSocket(address);
    } catch (e) {
        notify_poll();
        return;
    }
    let last_count = null;
    socket.addEventListener('message', (event) => {
        let frame;
        try { frame = JSON.parse(event.data); } catch (e) { return; }
        if (frame.type === 'hello') {
            notify_socket_up = true;
            attempt = 0;
            clearTimeout(notify_poll_timer);
            notify_refresh_soon();
        } else if (frame.type === 'heartbeat') {
            if (last_count !== null && frame.unread_count !== last_count) notify_refresh_soon();
        } else if (['notification', 'read', 'unread', 'deleted', 'announcement', 'dismissed'].includes(frame.type)) {
            notify_refresh_soon();
        }
        if (typeof frame.unread_count === 'number') last_count = frame.unread_count;
    });
    socket.addEventListener('close', (event) => {
        notify_socket_up = false;
        notify_poll();
        if (event.code === 4401 || event.code === 4403) return; // not logged in: polling only
        const ceiling = Math.min(30000, 2000 * 2 ** attempt);
        setTimeout(() => notify_connect(url, attempt + 1), Math.random() * ceiling);
    });
}

function _resolveCallback(name) {
    let obj = window;
    for (const part of name.split('.')) {
        obj = obj[part];
        if (typeof obj === 'undefined') return undefined;
    }
    return obj;
}

function _initNotifyConfig() {
    const el = document.getElementById('notify-config');
    if (!el) return;
    let config;
    try { config = JSON.parse(el.textContent); } catch (e) { return; }
    notify_badge_class = config.badgeClass;
    notify_menu_class = config.menuClass;
    notify_api_url = config.apiUrl;
    notify_fetch_count = config.fetchCount;
    notify_unread_url = config.unreadUrl;
    notify_mark_all_unread_url = config.markAllUnreadUrl;
    notify_refresh_period = config.refreshPeriod;
    notify_mark_as_read = config.markAsRead;
    for (const name of config.callbacks || []) {
        const fn = _resolveCallback(name);
        if (typeof fn === 'function') register_notifier(fn);
    }
    if (config.wsUrl && 'WebSocket' in window) {
        notify_connect(config.wsUrl, 0);
    } else {
        notify_poll();
    }
}

if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', _initNotifyConfig);
} else {
    _initNotifyConfig();
}
