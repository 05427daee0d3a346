// Lobby screen: idle panels from /state, greeting and announcement cards from the SSE stream.
// No framework, no CDN: this file is all the page runs. Text is placed with textContent only,
// and no markup is ever inserted. A greeting card's QR code comes right after the card
// ("greeting-qr") as its modules (see hub/qr.py), which this page draws as SVG: the card shows
// at once, its code a moment later.
// Recovery: EventSource reconnects by itself; if it gives up (an error status) we open a new one;
// a "hello" with a new boot id (hub restarted) reloads the state, a new version reloads the page.
(() => {
  "use strict";
  const body = document.body;
  const stateUrl = body.dataset.stateUrl;
  const eventsUrl = body.dataset.eventsUrl;
  const cardMs = Number(body.dataset.greetingMs) || 8000;
  const ROTATE_MS = 12000;
  const REFRESH_MS = 60000;
  const RECONNECT_MS = 3000;
  const params = new URLSearchParams(location.search);
  const theme = params.get("theme");
  if (theme === "light" || theme === "dark") {
    body.classList.remove("theme-light", "theme-dark");
    body.classList.add("theme-" + theme);
  }

  const $ = (id) => document.getElementById(id);
  const SVG = "http://www.w3.org/2000/svg";
  // French puts a space before ! ? : ; — keep it from breaking at the end of a line.
  const typeset = (text) => (text || "").replace(/ ([!?:;»])/g, "\u00a0$1");
  const template = $("moment-template");
  const queue = [];
  const seen = [];
  let showing = false;
  let current = null; // the item on the card
  let bootId = null;
  let panels = [];
  let panelIndex = 0;
  let source = null;

  function momentItem(m) {
    const li = template.content.firstElementChild.cloneNode(true);
    li.classList.add(m.status);
    li.dataset.kind = m.kind;
    li.dataset.moment = m.id;
    li.querySelector(".day").textContent = m.day || "";
    li.querySelector(".time").textContent = m.day ? m.starts : m.when;
    li.querySelector(".title").textContent = typeset(m.title);
    // At a sister site, the site's name says more than the kind.
    const meta = [m.site || m.kind_label, m.room, `${m.starts}–${m.ends}`];
    li.querySelector(".meta").textContent = meta.join(" · ");
    if (m.going_count !== undefined) {
      const names = (m.going_names || []).join(", ");
      const label = m.going_label || String(m.going_count);
      li.querySelector(".going").textContent = names ? `${label} · ${names}` : label;
    }
    return li;
  }

  function renderPanel() {
    const panel = panels[panelIndex % Math.max(panels.length, 1)];
    if (!panel) return;
    $("panel").dataset.panel = panel.kind;
    $("panel-title").textContent = panel.title;
    $("moments").replaceChildren(...panel.moments.map(momentItem));
    $("empty").hidden = panel.moments.length > 0 || !panel.empty;
    $("empty").textContent = panel.empty || "";
    $("dots").replaceChildren(
      ...panels.map((_p, i) => {
        const dot = document.createElement("li");
        if (i === panelIndex % panels.length) dot.className = "on";
        return dot;
      }),
    );
  }

  function rotate() {
    if (showing || panels.length < 2) return;
    $("panel").classList.add("turning");
    setTimeout(() => {
      panelIndex = (panelIndex + 1) % panels.length;
      renderPanel();
      $("panel").classList.remove("turning");
    }, 500);
  }

  function renderNext(next, label) {
    $("next").hidden = !next;
    if (!next) return;
    $("next-label").textContent = label;
    $("next-title").textContent = typeset(next.title);
    $("next-when").textContent = next.day ? `${next.day} · ${next.starts}` : next.when;
    $("next-room").textContent = next.status === "soon" ? `${next.room} · ${next.starts}` : next.room;
  }

  async function refresh() {
    try {
      const response = await fetch(stateUrl, { cache: "no-store" });
      if (!response.ok) return;
      const state = await response.json();
      $("date").textContent = state.date;
      $("here-count").textContent = String(state.here);
      $("here").textContent = state.here_caption;
      const sameShape = panels.length === state.panels.length;
      panels = state.panels;
      if (!sameShape) panelIndex = 0;
      renderPanel();
      renderNext(state.next, state.next_label);
      body.dataset.ready = "true";
    } catch (_error) {
      // Hub unreachable: keep what is shown; the next tick or reconnection tries again.
    }
  }

  function showCard(item) {
    const card = $("card");
    card.className = "card " + (item.kind || "greeting");
    card.dataset.cardId = item.id;
    card.dataset.kind = item.kind || "greeting";
    $("card-eyebrow").hidden = !item.eyebrow;
    $("card-eyebrow").textContent = item.eyebrow || "";
    $("card-title").textContent = typeset(item.title);
    $("card-subtitle").textContent = item.subtitle || "";
    $("card-detail").hidden = !item.detail;
    $("card-detail").textContent = item.detail || "";
    $("card-moments").replaceChildren(...(item.moments || []).map(momentItem));
    current = item;
    const qr = item.qr;
    $("card-qr-label").textContent = qr ? qr.label : "";
    $("card-qr-moment").textContent = qr ? qr.moment : "";
    placeCode(qr);
    updateWaiting();
    card.style.setProperty("--card-ms", `${cardMs}ms`);
    card.hidden = false;
    body.classList.add("carding");
    void card.offsetWidth; // restart the countdown animation for a card after a card
    card.classList.add("running");
  }

  // The modules: rows from the top left, 8 to a byte (first in the high bit), 1 for dark.
  function codeSvg(code) {
    const size = code.size;
    const bytes = atob(code.modules);
    const dark = (x, y) => (bytes.charCodeAt((y * size + x) >> 3) >> (7 - ((y * size + x) & 7))) & 1;
    let d = "";
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        if (!dark(x, y)) continue;
        const start = x;
        while (x + 1 < size && dark(x + 1, y)) x++;
        d += `M${start} ${y}h${x + 1 - start}v1h${start - x - 1}z`; // one run of dark modules
      }
    }
    const svg = document.createElementNS(SVG, "svg");
    svg.setAttribute("viewBox", `0 0 ${size} ${size}`);
    svg.setAttribute("class", "qr-code");
    svg.setAttribute("shape-rendering", "crispEdges");
    const path = document.createElementNS(SVG, "path");
    path.setAttribute("fill", "#000");
    path.setAttribute("d", d);
    svg.append(path);
    return svg;
  }

  function placeCode(qr) {
    $("card-qr").hidden = !(qr && qr.code);
    if (qr && qr.code) {
      $("card-qr-code").replaceChildren(codeSvg(qr.code));
    } else {
      $("card-qr-code").replaceChildren();
    }
  }

  function attachCode(code) {
    const item = current && current.id === code.id ? current : queue.find((i) => i.id === code.id);
    if (!item || !item.qr) return; // its card is gone, or offers no code
    item.qr.code = code;
    if (item === current) placeCode(item.qr);
  }

  function clearCard() {
    current = null;
    const card = $("card");
    card.hidden = true;
    body.classList.remove("carding");
    card.className = "card";
    delete card.dataset.cardId;
    delete card.dataset.kind;
    for (const id of ["card-eyebrow", "card-title", "card-subtitle", "card-detail", "card-qr-label", "card-qr-moment"]) {
      $(id).textContent = "";
    }
    $("card-moments").replaceChildren();
    $("card-qr-code").replaceChildren();
  }

  function updateWaiting() {
    $("card-waiting").hidden = queue.length === 0;
    $("card-waiting").textContent = queue.length ? `+${queue.length}` : "";
  }

  function showNext() {
    const item = queue.shift();
    if (!item) {
      showing = false;
      clearCard(); // what is no longer shown is no longer in the page either
      refresh();
      return;
    }
    showing = true;
    showCard(item);
    setTimeout(showNext, cardMs);
  }

  function enqueue(item) {
    if (seen.includes(item.id)) return; // a redelivered event
    seen.push(item.id);
    if (seen.length > 100) seen.shift();
    queue.push(item);
    body.dataset.queued = String(queue.length);
    if (showing) updateWaiting();
    else showNext();
  }

  function tickClock() {
    const lang = document.documentElement.lang;
    $("clock").textContent = new Date().toLocaleTimeString(lang, {
      hour: lang === "fr" ? "2-digit" : "numeric", // 09:05 in French, 9:05 AM in English
      minute: "2-digit",
      timeZone: body.dataset.timezone,
    });
  }

  function connect() {
    if (source) source.close();
    source = new EventSource(eventsUrl);
    const mine = source;
    source.addEventListener("hello", (event) => {
      const hello = JSON.parse(event.data);
      if (hello.version && hello.version !== body.dataset.version) {
        location.reload(); // the hub was upgraded: take its new page and assets
        return;
      }
      $("link").textContent = "";
      body.dataset.connected = "true";
      if (bootId !== hello.boot) {
        bootId = hello.boot;
        body.dataset.boot = bootId;
        refresh();
      }
    });
    source.addEventListener("greeting", (event) => enqueue(JSON.parse(event.data)));
    source.addEventListener("greeting-qr", (event) => attachCode(JSON.parse(event.data)));
    source.addEventListener("announcement", (event) => enqueue(JSON.parse(event.data)));
    source.onerror = () => {
      body.dataset.connected = "false";
      $("link").textContent = $("link").dataset.offline;
      // EventSource retries by itself unless the server answered with an error status.
      if (mine.readyState === EventSource.CLOSED && source === mine) {
        setTimeout(() => { if (source === mine) connect(); }, RECONNECT_MS);
      }
    };
  }

  tickClock();
  setInterval(tickClock, 1000);
  setInterval(rotate, ROTATE_MS);
  setInterval(() => { if (!showing) refresh(); }, REFRESH_MS);
  refresh();
  connect();
})();
