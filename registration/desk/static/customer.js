// The customer display: shows what the desk asks of the resident, in the language they choose (the kiosk's
// eleven; Japanese first, and Japanese again under another language), and sends the PIN they type (to this
// page's own origin only). It keeps nothing: the field is cleared after every entry.
"use strict";
(function () {
  const main = document.getElementById("main");
  const form = document.getElementById("pin-form");
  const input = document.getElementById("pin");
  const nav = document.getElementById("languages");
  const catalogues = {};
  let version = -1;
  let language = "ja";
  let state = null;

  async function catalogue(code) {
    if (!catalogues[code]) catalogues[code] = await (await fetch(`/api/messages/${code}`)).json();
    return catalogues[code];
  }
  const htmlLang = (code) => (code === "easy-ja" ? "ja" : code);

  async function words() {
    if (!state) return;
    const t = await catalogue(language);
    const ja = await catalogue("ja");
    const key = `customer.${state.step}`;
    document.documentElement.lang = htmlLang(language);
    document.title = t["customer.title"];
    document.getElementById("prompt").textContent = t[key];
    const other = document.getElementById("prompt-other");
    other.lang = language === "ja" ? "en" : "ja";
    other.textContent = language === "ja" ? state.prompt_en : ja[key];
    document.getElementById("language-label").textContent = t["customer.language"];
    document.getElementById("pin-label").textContent = t["customer.pin"];
    document.getElementById("keys-label").textContent = t["customer.keys"];
    document.getElementById("key-clear").textContent = t["customer.clear"];
    document.getElementById("key-ok").textContent = t["customer.ok"];
    for (const b of nav.querySelectorAll("button")) b.setAttribute("aria-pressed", String(b.dataset.lang === language));
  }

  function show(next) {
    if (next.version === version) return; // the same state twice (an answer and the poll): keep the typing
    version = next.version;
    const ended = !state || ["idle", "done", "failed", "cancelled"].includes(state.step);
    if (next.step === "idle" || ((next.step === "first" || next.step === "card_pin") && ended)) language = "ja"; // a new resident: Japanese
    state = next;
    main.dataset.step = next.step;
    main.dataset.version = String(next.version);
    form.hidden = !next.accepts_pin;
    input.value = "";
    words();
    if (next.accepts_pin) input.focus();
  }

  async function poll() {
    for (;;) {
      try {
        const resp = await fetch(`/api/state?since=${version}`, { cache: "no-store" });
        if (resp.ok) show(await resp.json());
      } catch (err) {
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
  }

  async function languages() {
    const listed = (await (await fetch("/api/languages")).json()).languages;
    for (const l of listed) {
      const b = document.createElement("button");
      b.type = "button";
      b.lang = htmlLang(l.code);
      b.dataset.lang = l.code;
      b.id = `lang-${l.code}`;
      b.textContent = l.name;
      b.addEventListener("click", () => {
        language = l.code;
        words();
        if (!form.hidden) input.focus();
      });
      nav.append(b);
    }
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const pin = input.value;
    input.value = "";
    const resp = await fetch("/api/pin", {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ pin }),
    });
    if (!resp.ok) return;
    const answer = await resp.json();
    // the poll may already have shown a later step (the desk moves on at once): an older answer would hide
    // the next PIN's keys until the poll's next change
    if (answer.version > version) show(answer);
  });
  for (const key of document.querySelectorAll("[data-key]")) {
    key.addEventListener("click", () => {
      if (key.dataset.key === "clear") input.value = "";
      else if (input.value.length < 4) input.value += key.dataset.key;
      input.focus();
    });
  }
  languages().then(poll);
})();
