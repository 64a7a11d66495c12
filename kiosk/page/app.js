// The kiosk's touchscreen: a thin view of the kiosk app's state machine (GET /api/state, long-polled).
// Every step's logic lives in the app; this page shows the state in the resident's language and sends
// the resident's actions. No build step, nothing loaded from outside the machine.
"use strict";
(() => {
  const screen = document.getElementById("screen");
  const messageBox = document.getElementById("message");
  const idleBox = document.getElementById("idle");
  const languageButton = document.getElementById("language-button");
  const languageList = document.getElementById("language-list");
  const largerButton = document.getElementById("larger-text");
  const demoPanel = document.getElementById("demo");
  const catalogues = {};
  let config = { demo: false, languages: ["ja"] };
  let state = null;
  let pin = "";
  let draft = null;
  let idleDeadline = null;
  let lastTouch = 0;

  // -- texts --------------------------------------------------------------------------------------
  const fmt = (text, params) =>
    text.replace(/\{(\w+)\}/g, (m, k) => (params && k in params ? String(params[k]) : m));
  const t = (key, params, language) => {
    const text = (catalogues[language || state.language] || {})[key];
    return text === undefined ? key : fmt(text, params);
  };
  const htmlLang = (language) => (language === "easy-ja" ? "ja" : language);
  async function loadCatalogue(language) {
    if (!catalogues[language]) {
      const r = await fetch(`/api/messages/${encodeURIComponent(language)}`);
      catalogues[language] = await r.json();
    }
  }

  // -- building the screen ------------------------------------------------------------------------
  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") e.className = v;
      else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
      else if (v === true) e.setAttribute(k, "");
      else if (v !== false && v !== null && v !== undefined) e.setAttribute(k, String(v));
    }
    for (const c of children.flat()) {
      if (c !== null && c !== undefined && c !== false) e.append(c.nodeType ? c : document.createTextNode(String(c)));
    }
    return e;
  }
  const button = (label, onclick, attrs) => el("button", { type: "button", onclick, ...(attrs || {}) }, label);
  const heading = (text) => el("h2", { id: "step-heading", tabindex: "-1" }, text);
  const spinner = () => el("div", { class: "spinner", role: "presentation" });
  const cancelButton = () => button(t("ui.cancel"), () => post("cancel"), { id: "cancel" });

  // -- talking to the kiosk app -------------------------------------------------------------------
  async function post(action, body) {
    touch(true);
    try {
      const r = await fetch(`/api/${action}`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(body || {}),
      });
      const data = await r.json();
      if (r.ok) await show(data);
    } catch (e) {
      /* the state poll recovers */
    }
  }

  function touch(now) {
    // The resident is working on this screen (typing digits, ticking boxes): keep the session alive.
    const at = Date.now();
    if (!now && at - lastTouch < 5000) return;
    lastTouch = at;
    if (!now) fetch("/api/touch", { method: "POST" }).catch(() => {});
  }

  async function poll() {
    let since = -1;
    for (;;) {
      try {
        const r = await fetch(`/api/state?since=${since}&wait=20`);
        const s = await r.json();
        since = s.version;
        await show(s);
      } catch (e) {
        await new Promise((ok) => setTimeout(ok, 1000));
      }
    }
  }

  async function show(s) {
    if (state && s.version <= state.version) return;
    await loadCatalogue(s.language);
    const previous = state;
    const moved = !previous || previous.step !== s.step || previous.language !== s.language;
    if (s.step === "language" && previous && previous.step !== "language") {
      setLarger(false); // a new resident starts with the default size
    }
    state = s;
    if (moved || s.step !== "pin") pin = s.step === "pin" && !moved ? pin : "";
    if (moved && s.step === "options") draft = JSON.parse(JSON.stringify(s.choices || {}));
    idleDeadline = s.idle_s_left === null ? null : Date.now() + s.idle_s_left * 1000;
    render(moved);
  }

  // -- the screens --------------------------------------------------------------------------------
  function render(moved) {
    const s = state;
    document.documentElement.lang = htmlLang(s.language);
    document.title = t("ui.title");
    document.getElementById("title").textContent = t("ui.title");
    languageButton.textContent = `${t("ui.language")}: ${t("ui.language_name")}`;
    largerButton.textContent = t("ui.larger_text");
    renderLanguageList();
    const focused = document.activeElement && document.activeElement.id;
    screen.dataset.step = s.step; // for tests and screen captures: which screen is up
    screen.dataset.busy = s.busy ? "1" : "0";
    screen.dataset.version = String(s.version);
    screen.replaceChildren(...(SCREENS[s.step] || (() => []))(s).filter((c) => c !== null && c !== undefined));
    if (s.message_text) {
      messageBox.textContent = s.message_text;
      messageBox.hidden = false;
    } else {
      messageBox.hidden = true;
      messageBox.textContent = "";
    }
    updateIdle();
    if (moved) {
      const h = document.getElementById("step-heading");
      if (h) h.focus();
    } else if (focused && document.getElementById(focused)) {
      document.getElementById(focused).focus();
    }
  }

  function renderLanguageList() {
    languageList.replaceChildren(
      ...config.languages.map((l) =>
        button(t("ui.language_name", null, l), () => chooseLanguage(l), {
          lang: htmlLang(l),
          id: `lang-${l}`,
          "aria-current": l === state.language ? "true" : null,
        }),
      ),
    );
  }

  function chooseLanguage(language) {
    languageList.hidden = true;
    languageButton.setAttribute("aria-expanded", "false");
    post("language", { language });
  }

  function kindLabel(kind) {
    return t(`kind.${kind}`);
  }

  const SCREENS = {
    language() {
      const title = config.languages.slice(0, 3).map((l) => el("span", { lang: htmlLang(l) }, t("step.language", null, l)));
      return [
        el("h2", { id: "step-heading", tabindex: "-1" }, ...title.flatMap((x, i) => (i ? [" / ", x] : [x]))),
        el(
          "div",
          { class: "languages" },
          config.languages.map((l) =>
            button(t("ui.language_name", null, l), () => post("language", { language: l }), {
              lang: htmlLang(l),
              class: "primary",
              id: `start-${l}`,
            }),
          ),
        ),
      ];
    },
    card(s) {
      return [
        heading(t("step.card")),
        el("img", { class: "picture", src: "/page/card.svg", alt: t("ui.card_picture") }),
        el("p", {}, t("ui.card_hint")),
        s.busy ? el("p", {}, spinner(), t("ui.checking")) : null,
        el("div", { class: "actions" }, cancelButton()),
      ];
    },
    pin(s) {
      const dots = el(
        "div",
        { class: "pin-dots", role: "img", "aria-label": t("ui.pin_entered", { count: pin.length }) },
        [0, 1, 2, 3].map((i) => el("span", { "aria-hidden": "true" }, i < pin.length ? "●" : "")),
      );
      const digit = (d) => button(d, () => typeDigit(d), { id: `digit-${d}`, disabled: s.busy });
      const pad = el(
        "div",
        { class: "pad" },
        ["1", "2", "3", "4", "5", "6", "7", "8", "9"].map(digit),
        button(t("ui.delete"), deleteDigit, { id: "pin-delete", class: "wide", disabled: s.busy }),
        digit("0"),
        button(t("ui.clear"), clearPin, { id: "pin-clear", class: "wide", disabled: s.busy }),
      );
      return [
        heading(t("step.pin")),
        s.tries_left !== null ? el("p", {}, t("ui.tries_left", { tries_left: s.tries_left })) : null,
        dots,
        pad,
        s.busy ? el("p", {}, spinner(), t("ui.checking")) : null,
        el(
          "div",
          { class: "actions" },
          cancelButton(),
          button(t("ui.ok"), submitPin, { id: "pin-ok", class: "primary", disabled: pin.length !== 4 || s.busy }),
        ),
      ];
    },
    menu(s) {
      const items = (s.menu || []).map((item) => {
        const why = item.available ? null : reasonText(item.refusal);
        const whyId = `why-${item.kind}`;
        return button(
          [
            el("span", { class: "label" }, kindLabel(item.kind)),
            el("span", { class: "fee" }, t("ui.fee_each", { fee_yen: item.fee_yen })),
            why ? el("span", { class: "why", id: whyId }, `${t("ui.not_here")}: ${why}`) : null,
          ],
          () => item.available && post("select", { kind: item.kind }),
          {
            class: "kind",
            id: `kind-${item.kind}`,
            "aria-disabled": item.available ? null : "true",
            "aria-describedby": why ? whyId : null,
          },
        );
      });
      return [
        heading(t("step.menu")),
        s.service === "recovery" ? el("p", { class: "notice" }, t("ui.recovery")) : null,
        el("div", { class: "grid" }, items),
        el("div", { class: "actions" }, cancelButton()),
      ];
    },
    options(s) {
      const item = (s.menu || []).find((i) => i.kind === s.kind) || {};
      const parts = [heading(kindLabel(s.kind)), el("p", {}, t("step.options"))];
      if (item.kind === "juminhyo") parts.push(...juminhyoOptions(item));
      if (item.fiscal_years) parts.push(fiscalYears(item));
      parts.push(copiesStepper(s));
      parts.push(
        el(
          "div",
          { class: "actions" },
          button(t("ui.back"), () => post("back"), { id: "back" }),
          cancelButton(),
          button(t("ui.next"), () => post("options", draft), { id: "next", class: "primary", disabled: s.busy }),
        ),
      );
      return parts;
    },
    confirm(s) {
      const q = s.quote || {};
      return [
        heading(t("step.confirm", { total_yen: q.total_yen })),
        el(
          "dl",
          { class: "summary" },
          el("dt", {}, t("ui.certificate")),
          el("dd", {}, kindLabel(q.kind)),
          el("dt", {}, t("ui.copies")),
          el("dd", {}, t("label.copies", { copies: q.copies })),
          el("dt", {}, t("ui.fee_each", { fee_yen: q.fee_yen })),
          el("dd", { class: "total" }, t("ui.total", { total_yen: q.total_yen })),
        ),
        el(
          "div",
          { class: "actions" },
          button(t("ui.back"), () => post("back"), { id: "back" }),
          cancelButton(),
          button(t("ui.pay"), () => post("pay"), { id: "pay", class: "primary" }),
        ),
      ];
    },
    payment(s) {
      return [
        heading(t("step.payment", { total_yen: (s.quote || {}).total_yen })),
        el("p", {}, t("ui.pay_hint")),
        spinner(),
      ];
    },
    issuing() {
      return [heading(t("step.issuing")), spinner()];
    },
    ready() {
      return [
        heading(t("step.ready")),
        el(
          "div",
          { class: "actions" },
          cancelButton(),
          button(t("ui.print"), () => post("print"), { id: "print", class: "primary" }),
        ),
      ];
    },
    printing(s) {
      const total = s.certificates.length;
      const done = s.certificates.filter((c) => ["printed", "failed", "stopped"].includes(c.status)).length;
      return [
        heading(t("step.printing", { done, total })),
        el("progress", { max: total, value: done, "aria-label": t("step.printing", { done, total }) }),
        el("p", {}, t("ui.printing_hint")),
      ];
    },
    take_card() {
      return [
        heading(t("step.take_card")),
        el("img", { class: "picture", src: "/page/card.svg", alt: t("ui.card_picture") }),
        el("p", {}, t("ui.thanks")),
      ];
    },
  };

  function reasonText(reason) {
    return reason ? t(`reason.${reason.code}`, reason.params) : "";
  }

  function choice(type, name, value, label, checked, enabled, onchange, why) {
    const id = `${name}-${value}`;
    return el(
      "label",
      { class: enabled ? "choice" : "choice off", for: id },
      el("input", { type, name, value, id, checked, disabled: !enabled, onchange }),
      el("span", {}, label, why ? ` (${t("ui.not_here")}: ${why})` : ""),
    );
  }

  function juminhyoOptions(item) {
    const scopes = el(
      "fieldset",
      {},
      el("legend", {}, t("ui.scope")),
      (item.scopes || []).map((sc) =>
        choice("radio", "scope", sc.scope, t(`scope.${sc.scope}`), draft.scope === sc.scope, sc.available, () => {
          draft.scope = sc.scope;
          touch();
          render(false);
        }, sc.available ? null : reasonText(sc.refusal)),
      ),
    );
    const parts = [scopes];
    if (draft.scope === "members") {
      parts.push(
        el(
          "fieldset",
          {},
          el("legend", {}, t("ui.members")),
          (item.members || []).map((m) =>
            choice("checkbox", "member", m.member_id, `${m.name}（${m.relationship}）`,
              (draft.members || []).includes(m.member_id), true, (e) => {
                const set = new Set(draft.members || []);
                if (e.target.checked) set.add(m.member_id);
                else set.delete(m.member_id);
                draft.members = [...set];
                touch();
              }),
          ),
        ),
      );
    }
    if ((item.options || []).length) {
      parts.push(
        el(
          "fieldset",
          {},
          el("legend", {}, t("ui.items")),
          item.options.map((o) =>
            choice("checkbox", "option", o, t(`option.${o}`), (draft.options || []).includes(o), true, (e) => {
              const set = new Set(draft.options || []);
              if (e.target.checked) set.add(o);
              else set.delete(o);
              draft.options = [...set];
              touch();
            }),
          ),
        ),
      );
    }
    return parts;
  }

  function fiscalYears(item) {
    return el(
      "fieldset",
      {},
      el("legend", {}, t("ui.fiscal_year")),
      item.fiscal_years.map((y) =>
        choice("radio", "fiscal_year", y.fiscal_year, t("label.fiscal_year", { fiscal_year: y.fiscal_year }),
          draft.fiscal_year === y.fiscal_year, y.available, () => {
            draft.fiscal_year = y.fiscal_year;
            touch();
          }, y.available ? null : reasonText(y.refusal)),
      ),
    );
  }

  function copiesStepper(s) {
    const copies = draft.copies || 1;
    const change = (by) => () => {
      draft.copies = Math.min(s.max_copies, Math.max(1, copies + by));
      touch();
      render(false);
    };
    return el(
      "fieldset",
      {},
      el("legend", {}, t("ui.copies")),
      el(
        "div",
        { class: "stepper" },
        button("−", change(-1), { id: "fewer", "aria-label": t("ui.fewer"), disabled: copies <= 1 }),
        el("output", { id: "copies", "aria-live": "polite" }, t("label.copies", { copies })),
        button("+", change(1), { id: "more", "aria-label": t("ui.more"), disabled: copies >= s.max_copies }),
      ),
    );
  }

  // -- the PIN pad (digits stay in this page until OK; never logged, never kept) --------------------
  function typeDigit(d) {
    if (pin.length < 4 && !state.busy) {
      pin += d;
      touch();
      render(false);
    }
  }
  function deleteDigit() {
    pin = pin.slice(0, -1);
    render(false);
  }
  function clearPin() {
    pin = "";
    render(false);
  }
  function submitPin() {
    if (pin.length !== 4) return;
    const entered = pin;
    pin = "";
    post("pin", { pin: entered });
  }
  document.addEventListener("keydown", (e) => {
    if (!state || state.step !== "pin") return;
    if (/^[0-9]$/.test(e.key)) typeDigit(e.key);
    else if (e.key === "Backspace") deleteDigit();
    else if (e.key === "Enter" && pin.length === 4) {
      e.preventDefault();
      submitPin();
    } else return;
    e.preventDefault();
  });

  // -- header tools, idle countdown, demo panel ---------------------------------------------------
  function setLarger(on) {
    document.documentElement.classList.toggle("larger", on);
    largerButton.setAttribute("aria-pressed", on ? "true" : "false");
  }
  largerButton.addEventListener("click", () => {
    setLarger(largerButton.getAttribute("aria-pressed") !== "true");
    touch();
  });
  languageButton.addEventListener("click", () => {
    const open = languageList.hidden;
    languageList.hidden = !open;
    languageButton.setAttribute("aria-expanded", open ? "true" : "false");
    if (open && languageList.firstChild) languageList.firstChild.focus();
  });

  function updateIdle() {
    if (!state || idleDeadline === null) {
      idleBox.textContent = "";
      return;
    }
    const seconds = Math.max(0, Math.ceil((idleDeadline - Date.now()) / 1000));
    idleBox.textContent = t("ui.idle", { seconds });
  }
  setInterval(updateIdle, 1000);

  function renderDemo() {
    const card = (present) => () =>
      fetch("/api/demo/card", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ present }),
      });
    const pay = (outcome) => () =>
      fetch("/api/demo/payment", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ outcome }),
      });
    demoPanel.replaceChildren(
      el("h2", {}, "Demo: card"),
      button("Insert the demo card", card(true), { id: "demo-insert" }),
      button("Remove the card", card(false), { id: "demo-remove" }),
      el("h2", {}, "Demo: payment device"),
      ...["paid", "cancelled", "insufficient", "device_error"].map((o) =>
        button(o.replace("_", " "), pay(o), { id: `demo-pay-${o}` }),
      ),
    );
    demoPanel.hidden = false;
  }

  async function start() {
    config = await (await fetch("/api/config")).json();
    await Promise.all(config.languages.map(loadCatalogue));
    if (config.demo) renderDemo();
    poll();
  }
  start();
})();
