// Selvbook dashboard: live fragments, actions without reload, the conversation dialog.
// No framework and no build step: the server renders HTML; this only fetches it again.
(() => {
  "use strict";
  const base = document.querySelector('meta[name="dashboard-base"]').content;
  const csrf = document.querySelector('meta[name="csrf-token"]')?.content || "";
  const FETCH = { "X-Requested-With": "fetch" };

  // -- toast -----------------------------------------------------------------------------
  const toast = document.getElementById("toast");
  let toastTimer = null;
  function say(message, ok) {
    toast.textContent = message;
    toast.className = ok ? "ok" : "bad";
    toast.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => { toast.hidden = true; }, ok ? 6000 : 12000);
  }

  // -- fragments -------------------------------------------------------------------------
  async function refresh(section) {
    const response = await fetch(section.dataset.fragment, { headers: FETCH, credentials: "same-origin" });
    if (response.status === 401) { location.reload(); return; }
    if (!response.ok) return;
    const html = await response.text();
    if (section.dataset.html !== html) {
      section.innerHTML = html;
      section.dataset.html = html;
    }
  }

  let pending = new Set();
  let pendingTimer = null;
  // Refresh the fragments that listen to any of ``topics`` (all of them for null).
  function refreshTopics(topics) {
    (topics || ["*"]).forEach((t) => pending.add(t));
    clearTimeout(pendingTimer);
    pendingTimer = setTimeout(() => {
      const wanted = pending;
      pending = new Set();
      document.querySelectorAll("[data-fragment]").forEach((section) => {
        const listens = (section.dataset.topics || "").split(" ");
        if (wanted.has("*") || listens.some((t) => wanted.has(t))) refresh(section);
      });
    }, 120);
  }

  // -- live ------------------------------------------------------------------------------
  const liveBadge = document.getElementById("live-status");
  let offTimer = null;
  function setLive(state) {
    if (!liveBadge) return;
    clearTimeout(offTimer);
    if (state === "off") {
      // The server ends each stream now and then and the browser reconnects at once:
      // only a connection that stays away is worth showing.
      offTimer = setTimeout(() => {
        liveBadge.dataset.state = "off";
        liveBadge.title = "Forbindelsen er afbrudt; prøver igen";
      }, 5000);
      return;
    }
    liveBadge.dataset.state = state;
    liveBadge.title = "Opdateres automatisk";
  }
  // The page says what it was rendered from, so nothing between rendering and connecting
  // is missed; after that the browser sends the last event's id when it reconnects.
  let since = document.querySelector('meta[name="live-since"]')?.content || "";
  function connect() {
    const events = new EventSource(base + "/live?since=" + encodeURIComponent(since));
    events.addEventListener("hello", (e) => { setLive("on"); since = e.lastEventId || since; });
    events.addEventListener("change", (e) => {
      since = e.lastEventId || since;
      refreshTopics(JSON.parse(e.data));
    });
    events.onerror = () => {
      setLive("off");
      if (events.readyState === EventSource.CLOSED) {
        // The server refused (signed out?) or is gone: look, then reconnect or sign in again.
        setTimeout(async () => {
          try {
            const r = await fetch(base + "/fragments/audit", { headers: FETCH, credentials: "same-origin" });
            if (r.status === 401) { location.reload(); return; }
          } catch (_) { /* still down */ }
          connect();
        }, 3000);
      }
    };
  }
  if (document.querySelector("[data-fragment]")) connect();

  // -- actions ---------------------------------------------------------------------------
  async function post(url, data) {
    const response = await fetch(url, {
      method: "POST",
      body: data,
      credentials: "same-origin",
      headers: { ...FETCH, "X-CSRF-Token": csrf },
    });
    let body = {};
    try { body = await response.json(); } catch (_) { /* not JSON */ }
    return { ok: response.ok, status: response.status, body };
  }

  // A block is previewed before it is made: what moves where, and what is left without a room.
  const preview = document.getElementById("block-preview");
  async function previewBlock(form) {
    const data = new FormData(form);
    let result;
    try {
      result = await post(base + "/actions/block-preview", data);
    } catch (_) {
      say("Serveren kan ikke nås. Prøv igen.", false);
      return;
    }
    if (!result.ok) { say(result.body.message || `Fejl (${result.status})`, false); return; }
    const b = result.body;
    preview.querySelector('[data-field="message"]').textContent = b.message;
    for (const kind of ["moved", "lost"]) {
      const list = preview.querySelector(`[data-list="${kind}"]`);
      list.replaceChildren(...b[kind].map((c) => {
        const li = document.createElement("li");
        li.textContent = kind === "moved" ? `${c.reference} · ${c.time} → ${c.room}` : `${c.reference} · ${c.time}`;
        return li;
      }));
      preview.querySelector(`[data-show="${kind}"]`).hidden = b[kind].length === 0;
    }
    preview.showModal();
  }
  if (preview) {
    preview.addEventListener("click", (event) => {
      const button = event.target.closest("button[data-action]");
      if (!button) return;
      preview.close();
      if (button.dataset.action === "confirm-block") {
        const form = document.getElementById("block-form");
        form.dataset.confirmed = "1";
        form.requestSubmit();
      }
    });
  }

  document.addEventListener("submit", async (event) => {
    const form = event.target.closest("form.js-action");
    if (!form) return;
    event.preventDefault();
    if (form.id === "block-form" && preview && form.dataset.confirmed !== "1") {
      previewBlock(form);
      return;
    }
    delete form.dataset.confirmed;
    const submitter = event.submitter;
    const url = submitter && submitter.hasAttribute("formaction") ? submitter.formAction : form.action;
    const data = new FormData(form, submitter);
    data.set("back", location.pathname + location.search);
    const buttons = form.querySelectorAll("button");
    buttons.forEach((b) => { b.disabled = true; });
    try {
      const response = await fetch(url, {
        method: "POST",
        body: data,
        credentials: "same-origin",
        headers: { ...FETCH, "X-CSRF-Token": csrf },
      });
      let body = {};
      try { body = await response.json(); } catch (_) { /* not JSON */ }
      say(body.message || `Fejl (${response.status})`, response.ok);
      if (response.ok) {
        const dialog = form.closest("dialog");
        if (dialog) dialog.close();
        if (form.id === "block-form") form.reason.value = "";
        refreshTopics(null);
      }
    } catch (_) {
      say("Serveren kan ikke nås. Prøv igen.", false);
    } finally {
      buttons.forEach((b) => { b.disabled = false; });
    }
  });

  // -- the conversation dialog -----------------------------------------------------------
  const dialog = document.getElementById("conversation-dialog");
  document.addEventListener("click", (event) => {
    const opener = event.target.closest("[data-conversation]");
    if (!opener || !dialog) return;
    const c = JSON.parse(opener.dataset.conversation);
    dialog.querySelectorAll("[data-field]").forEach((el) => { el.textContent = c[el.dataset.field] ?? ""; });
    dialog.querySelectorAll("[data-value]").forEach((el) => { el.value = c[el.dataset.value] ?? ""; });
    dialog.querySelectorAll("[data-select]").forEach((el) => {
      const wanted = c[el.dataset.select];
      if (wanted) el.value = wanted; else el.selectedIndex = 0;
    });
    dialog.querySelectorAll("[data-show]").forEach((el) => { el.hidden = !c[el.dataset.show]; });
    dialog.querySelectorAll('input[name="reason"]').forEach((el) => { el.value = ""; });
    dialog.showModal();
  });

  // -- drag and drop: another room (the dialog's own "move"), or another time (a rebooking
  // to the caseworker's free time nearest to the drop, same checks as the booking API) -----
  let dragged = null;
  let grabDx = 0;
  const minutes = (iso) => { const [h, m] = iso.slice(11, 16).split(":").map(Number); return h * 60 + m; };
  const hhmm = (mins) => `${String(Math.floor(mins / 60)).padStart(2, "0")}:${String(mins % 60).padStart(2, "0")}`;
  document.addEventListener("dragstart", (event) => {
    const chip = event.target.closest("[data-booking][draggable]");
    if (!chip) return;
    dragged = chip;
    grabDx = event.clientX - chip.getBoundingClientRect().left;
    event.dataTransfer.effectAllowed = "move";
    event.dataTransfer.setData("text/plain", chip.dataset.booking);
    chip.classList.add("dragging");
  });
  document.addEventListener("dragend", () => {
    if (dragged) dragged.classList.remove("dragging");
    document.querySelectorAll(".drop-over").forEach((el) => el.classList.remove("drop-over"));
    dragged = null;
  });
  document.addEventListener("dragover", (event) => {
    const target = event.target.closest("[data-drop-room]");
    if (!target || !dragged) return;
    event.preventDefault();
    document.querySelectorAll(".drop-over").forEach((el) => { if (el !== target) el.classList.remove("drop-over"); });
    target.classList.add("drop-over");
  });
  // Where the drop puts the conversation's start: on a timeline from the pointer, in the week
  // grid the same time of day on the day dropped on. null: the same time (a room move).
  function droppedStart(event, target) {
    const original = dragged.dataset.start;
    const track = event.target.closest(".tl-track[data-from]") || target.querySelector(".tl-track[data-from]");
    if (track && target.contains(track)) {
      const box = track.getBoundingClientRect();
      const from = minutes(track.dataset.from);
      const to = track.dataset.to.slice(0, 10) === track.dataset.from.slice(0, 10) ? minutes(track.dataset.to) : 24 * 60;
      const left = Math.min(Math.max(event.clientX - grabDx - box.left, 0), box.width);
      const at = Math.round((from + (left / box.width) * (to - from)) / 5) * 5;
      if (Math.abs(at - minutes(original)) < 10) return null;
      return `${original.slice(0, 10)}T${hhmm(at)}`;
    }
    if (target.dataset.day && target.dataset.day !== dragged.dataset.day) {
      return `${target.dataset.day}T${original.slice(11, 16)}`;
    }
    return null;
  }
  document.addEventListener("drop", async (event) => {
    const target = event.target.closest("[data-drop-room]");
    if (!target || !dragged) return;
    event.preventDefault();
    target.classList.remove("drop-over");
    const c = JSON.parse(dragged.dataset.conversation);
    const room = target.dataset.dropRoom;
    const start = droppedStart(event, target);
    if (start === null && room === c.room) return;
    const data = new FormData();
    data.set("csrf", csrf);
    data.set("booking_id", c.id);
    data.set("reason", "flyttet ved træk på oversigten");
    data.set("was_start", c.start);  // where this page saw it: a stale page gets 409
    data.set("was_room", c.room);
    data.set("back", location.pathname + location.search);
    let url = base + "/actions/move";
    if (start !== null) { url = base + "/actions/move-time"; data.set("start", start); }
    data.set("room_id", room);  // the room dropped on, at the old or the new time
    try {
      const result = await post(url, data);
      say(result.body.message || `Fejl (${result.status})`, result.ok);
      if (result.ok) refreshTopics(null);
    } catch (_) {
      say("Serveren kan ikke nås. Prøv igen.", false);
    }
  });

  // -- small conveniences ----------------------------------------------------------------
  document.addEventListener("click", (event) => {
    const button = event.target.closest("[data-block-room]");
    if (!button) return;
    const form = document.getElementById("block-form");
    if (!form) return;
    form.room_id.value = button.dataset.blockRoom;
    form.scrollIntoView({ behavior: "smooth", block: "center" });
    form.reason.focus();
  });
  document.addEventListener("change", (event) => {
    if (event.target.matches("select[data-autosubmit]")) event.target.form.submit();
  });
})();
