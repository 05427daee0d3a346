// Lobby screen: idle content from /state, greetings from the SSE stream.
// No framework, no CDN: this file is all the page runs. EventSource reconnects by itself; a
// "hello" with a new boot id (hub restarted) triggers a fresh /state.
(() => {
  "use strict";
  const body = document.body;
  const stateUrl = body.dataset.stateUrl;
  const eventsUrl = body.dataset.eventsUrl;
  const greetingMs = Number(body.dataset.greetingMs) || 8000;
  const params = new URLSearchParams(location.search);
  if (params.get("theme") === "light" || params.get("theme") === "dark") {
    body.classList.add("theme-" + params.get("theme"));
  }

  const $ = (id) => document.getElementById(id);
  const template = $("moment-template");
  const queue = [];
  let showing = false;
  let bootId = null;

  function renderMoments(list, target) {
    target.replaceChildren(
      ...list.map((m) => {
        const li = template.content.firstElementChild.cloneNode(true);
        li.classList.add(m.status);
        li.dataset.kind = m.kind;
        li.querySelector(".when").textContent = m.when;
        li.querySelector(".title").textContent = m.title;
        li.querySelector(".meta").textContent = `${m.kind_label} · ${m.room} · ${m.starts}–${m.ends}`;
        return li;
      }),
    );
  }

  async function refresh() {
    try {
      const response = await fetch(stateUrl, { cache: "no-store" });
      if (!response.ok) return;
      const state = await response.json();
      $("date").textContent = state.date;
      $("here").textContent = state.here_label;
      renderMoments(state.moments, $("moments"));
      $("empty").hidden = state.moments.length > 0;
      $("empty").textContent = state.empty_label;
    } catch (_error) {
      // Hub unreachable: keep what is shown; the next tick or reconnection tries again.
    }
  }

  function showNext() {
    const greeting = queue.shift();
    if (!greeting) {
      showing = false;
      $("card").hidden = true;
      refresh();
      return;
    }
    showing = true;
    $("card-title").textContent = greeting.title;
    $("card-subtitle").textContent = greeting.subtitle;
    renderMoments(greeting.moments, $("card-moments"));
    $("card").hidden = false;
    $("card").dataset.greetingId = greeting.id;
    setTimeout(showNext, greetingMs);
  }

  function tickClock() {
    const now = new Date();
    $("clock").textContent = now.toLocaleTimeString(document.documentElement.lang, {
      hour: "2-digit",
      minute: "2-digit",
      timeZone: body.dataset.timezone,
    });
  }

  function connect() {
    const source = new EventSource(eventsUrl);
    source.addEventListener("hello", (event) => {
      const hello = JSON.parse(event.data);
      $("link").textContent = "";
      body.dataset.connected = "true";
      if (bootId !== hello.boot) {
        bootId = hello.boot;
        refresh();
      }
    });
    source.addEventListener("greeting", (event) => {
      queue.push(JSON.parse(event.data));
      if (!showing) showNext();
    });
    source.onerror = () => {
      body.dataset.connected = "false";
      $("link").textContent = $("link").dataset.offline;
      // EventSource retries by itself unless the server answered with an error status.
      if (source.readyState === EventSource.CLOSED) setTimeout(connect, 3000);
    };
  }

  tickClock();
  setInterval(tickClock, 1000);
  setInterval(() => { if (!showing) refresh(); }, 60000);
  refresh();
  connect();
})();
