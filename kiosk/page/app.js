// The kiosk's touchscreen: a thin view of the kiosk app's state machine (GET /api/state, long-polled).
// Every step's logic lives in the app; this page shows the state in the resident's language and sends
// the resident's actions. No build step, nothing loaded from outside the machine.
"use strict";
(() => {
  const screen = document.getElementById("screen");
  const messageBox = document.getElementById("message");
  const dock = document.getElementById("dock");
  const actionBar = document.getElementById("actions");
  const idleWarning = document.getElementById("idle-warning");
  const idleWarningText = document.getElementById("idle-warning-text");
  const idleContinue = document.getElementById("idle-continue");
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
    const padUp = s.step === "pin" || s.step === "link_pin"; // the digits typed stay while the pad is up
    if (moved || !padUp) pin = padUp && !moved ? pin : "";
    if (moved && s.step === "options") draft = JSON.parse(JSON.stringify(s.choices || {}));
    idleDeadline = s.idle_s_left === null ? null : Date.now() + s.idle_s_left * 1000;
    render(moved);
  }

  // -- the screens --------------------------------------------------------------------------------
  // Each screen gives its content (in <main>, which scrolls when it must) and its actions (in the dock,
  // always on the screen, with an error message beside them).
  function render(moved) {
    const s = state;
    document.documentElement.lang = htmlLang(s.language);
    document.title = t("ui.title");
    document.getElementById("title").textContent = t("ui.title");
    languageButton.textContent = `${t("ui.language")}: ${t("ui.language_name")}`;
    largerButton.textContent = t("ui.larger_text");
    idleContinue.textContent = t("ui.continue");
    renderLanguageList();
    const focused = document.activeElement && document.activeElement.id;
    screen.dataset.step = s.step; // for tests and screen captures: which screen is up
    screen.dataset.busy = s.busy ? "1" : "0";
    screen.dataset.version = String(s.version);
    screen.dataset.card = s.card_present ? "1" : "0"; // a card or phone on the reader (the bench times from it)
    const { content, actions } = (SCREENS[s.step] || (() => ({ content: [], actions: [] })))(s);
    screen.replaceChildren(...content.filter((c) => c !== null && c !== undefined));
    actionBar.replaceChildren(...(actions || []).filter((c) => c !== null && c !== undefined));
    renderMessage(s);
    dock.hidden = !actionBar.firstChild && (messageBox.hidden || !dock.contains(messageBox));
    alarm(s.step === "take_card");
    updateIdle();
    if (moved) {
      const h = document.getElementById("step-heading");
      if (h) h.focus();
    } else if (focused && document.getElementById(focused)) {
      document.getElementById(focused).focus();
    }
  }

  function renderMessage(s) {
    // An error goes next to the controls (the dock), in the error style; anything else above the screen.
    const error = s.message_style === "error";
    messageBox.className = error ? "message error" : "message";
    messageBox.setAttribute("role", error ? "alert" : "status");
    if (error) dock.prepend(messageBox);
    else screen.before(messageBox);
    messageBox.textContent = s.message_text || "";
    messageBox.hidden = !s.message_text;
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

  function year(y) {
    // 令和8 where the catalogue writes years in the Japanese era, else 2026.
    if (t("ui.year_style") !== "wareki" || y < 2019) return String(y);
    return `令和${y === 2019 ? "元" : y - 2018}`;
  }
  const fiscalYearLabel = (fy) => t("label.fiscal_year", { fiscal_year: year(fy), income_year: year(fy - 1) });

  function relation(rel) {
    // 続柄 in the resident's language, with the Japanese beside it (as the certificate prints it).
    const text = t(`relationship.${rel}`);
    return text === `relationship.${rel}` || text === rel ? rel : `${text} / ${rel}`;
  }
  const memberLabel = (m) => `${m.name}（${relation(m.relationship)}）`;

  const isPhone = (s) => s.form === "android" || s.form === "iphone";

  function cardNotice(s) {
    // After the PIN: the card (or phone) is no longer needed; while it is still on the reader, ask for it back.
    // (at link_pin what is on the reader is the phone being linked, not the session's credential)
    if (!s.authenticated || !s.card_present || s.step === "link_pin") return null;
    const phone = isPhone(s);
    return el(
      "p",
      { class: "notice card-notice", id: "card-notice", role: "status" },
      el("img", { src: phone ? "/page/phone.svg" : "/page/card-out.svg", alt: t(phone ? "ui.phone_picture" : "ui.card_out_picture") }),
      t(phone ? "ui.phone_done" : "ui.card_done"),
    );
  }

  function pinPad(s, title, actions) {
    // Four digits on the pad, beside the heading (the card's PIN, a phone's, or one chosen for a phone).
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
    return {
      content: [
        el(
          "div",
          { class: "pin-layout" },
          el(
            "div",
            {},
            heading(title),
            s.tries_left !== null ? el("p", {}, t("ui.tries_left", { tries_left: s.tries_left })) : null,
            dots,
            s.busy ? el("p", {}, spinner(), t("ui.checking")) : null,
          ),
          pad,
        ),
      ],
      actions: [
        ...actions,
        button(t("ui.ok"), submitPin, { id: "pin-ok", class: "primary", disabled: pin.length !== 4 || s.busy }),
      ],
    };
  }

  function credentialPictures() {
    // The card placed, or the phone held: both ways in, each with its picture.
    return el(
      "div",
      { class: "pictures" },
      el("img", { class: "picture", src: "/page/card.svg", alt: t("ui.card_picture") }),
      el("img", { class: "picture", src: "/page/phone.svg", alt: t("ui.phone_picture") }),
    );
  }

  const SCREENS = {
    language() {
      const title = config.languages.slice(0, 3).map((l) => el("span", { lang: htmlLang(l) }, t("step.language", null, l)));
      return {
        content: [
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
        ],
        actions: [],
      };
    },
    card(s) {
      return {
        content: [
          heading(t("step.card")),
          credentialPictures(),
          el("p", {}, t("ui.card_hint")),
          el("p", {}, t("ui.phone_hint")),
          s.busy ? el("p", {}, spinner(), t("ui.checking")) : null,
        ],
        actions: [cancelButton()],
      };
    },
    pin(s) {
      // The card's PIN; an Android phone's own; for an iPhone the city asks, the PIN registered for it.
      const title = { android: "step.pin_phone", iphone: "step.pin_registered" }[s.form] || "step.pin";
      return pinPad(s, t(title), [cancelButton()]);
    },
    link_phone(s) {
      return {
        content: [
          heading(t("step.link_phone")),
          el("img", { class: "picture", src: "/page/phone.svg", alt: t("ui.phone_picture") }),
          el("p", {}, t("ui.phone_hint")),
          s.busy ? el("p", {}, spinner(), t("ui.checking")) : null,
        ],
        actions: [button(t("ui.back"), () => post("back"), { id: "link-back" })],
      };
    },
    link_pin(s) {
      // An Android phone's own PIN (it verifies it, and it is registered); for an iPhone, one chosen now.
      const title = s.link_form === "android" ? "step.pin_phone" : "step.link_pin";
      return pinPad(s, t(title), [button(t("ui.back"), () => post("back"), { id: "link-back" })]);
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
      return {
        content: [
          cardNotice(s),
          heading(t("step.menu")),
          s.service === "recovery" ? el("p", { class: "notice" }, t("ui.recovery")) : null,
          el("div", { class: "grid" }, items),
        ],
        actions: [
          cancelButton(),
          s.phone_linking ? button(t("ui.add_phone"), () => post("add-phone"), { id: "add-phone" }) : null,
        ],
      };
    },
    options(s) {
      const item = (s.menu || []).find((i) => i.kind === s.kind) || {};
      const parts = [cardNotice(s), heading(kindLabel(s.kind)), el("p", {}, t("step.options"))];
      if (item.kind === "juminhyo") parts.push(...juminhyoOptions(item));
      if (item.fiscal_years) parts.push(fiscalYears(item));
      parts.push(copiesStepper(s));
      const total = (item.fee_yen || 0) * (draft.copies || 1);
      return {
        content: parts,
        actions: [
          el("p", { class: "total", id: "running-total", "aria-live": "polite" }, t("ui.total", { total_yen: total })),
          button(t("ui.back"), () => post("back"), { id: "back" }),
          cancelButton(),
          button(t("ui.next"), () => post("options", draft), { id: "next", class: "primary", disabled: s.busy }),
        ],
      };
    },
    confirm(s) {
      const q = s.quote || {};
      return {
        content: [cardNotice(s), heading(t("step.confirm", { total_yen: q.total_yen })), summary(s)],
        actions: [
          el("p", { class: "total" }, t("ui.total", { total_yen: q.total_yen })),
          button(t("ui.back"), () => post("back"), { id: "back" }),
          cancelButton(),
          button(t("ui.pay"), () => post("pay"), { id: "pay", class: "primary" }),
        ],
      };
    },
    payment(s) {
      return {
        content: [
          cardNotice(s),
          heading(t("step.payment", { total_yen: (s.quote || {}).total_yen })),
          el("p", {}, t("ui.pay_hint")),
          spinner(),
        ],
        actions: [cancelButton()],
      };
    },
    issuing(s) {
      return { content: [cardNotice(s), heading(t("step.issuing")), spinner()], actions: [] };
    },
    ready(s) {
      return {
        content: [cardNotice(s), heading(t("step.ready"))],
        actions: [cancelButton(), button(t("ui.print"), () => post("print"), { id: "print", class: "primary" })],
      };
    },
    printing(s) {
      const total = s.certificates.length;
      const done = s.certificates.filter((c) => ["printed", "failed", "stopped"].includes(c.status)).length;
      return {
        content: [
          cardNotice(s),
          heading(t("step.printing", { done, total })),
          el("progress", { max: total, value: done, "aria-label": t("step.printing", { done, total }) }),
          el("p", {}, t("ui.printing_hint")),
        ],
        actions: [],
      };
    },
    take_card(s) {
      const printed = s.certificates.some((c) => c.status === "printed");
      const phone = isPhone(s);
      const [withPrints, alone, left] = phone
        ? ["step.take_phone", "step.take_phone_only", "ui.phone_left"]
        : ["step.take_card", "step.take_card_only", "ui.card_left"];
      return {
        content: [
          el(
            "div",
            { class: "alarm", id: "card-alarm" },
            el("img", {
              class: "picture",
              src: phone ? "/page/phone.svg" : "/page/card-out.svg",
              alt: t(phone ? "ui.phone_picture" : "ui.card_out_picture"),
            }),
            el("div", {}, heading(t(printed ? withPrints : alone)), el("p", {}, t(left))),
          ),
        ],
        actions: [],
      };
    },
    done(s) {
      const printed = s.certificates.some((c) => c.status === "printed");
      return {
        content: [heading(t(printed ? "ui.take_certificates" : "ui.thanks")), printed ? el("p", {}, t("ui.thanks")) : null],
        actions: [button(t("ui.close"), () => post("cancel"), { id: "done-close", class: "primary" })],
      };
    },
  };

  function summary(s) {
    // What will be printed, as chosen: the certificate, whom and what it shows, the year, copies and fee.
    const q = s.quote || {};
    const c = s.choices || {};
    const item = (s.menu || []).find((i) => i.kind === q.kind) || {};
    const rows = [[t("ui.certificate"), kindLabel(q.kind)]];
    if (q.kind === "juminhyo") {
      const members = (item.members || []).filter((m) => (c.members || []).includes(m.member_id));
      const whom = c.scope === "members" ? members.map(memberLabel).join("、") : t(`scope.${c.scope || "self"}`);
      const items = (c.options || []).map((o) => t(`option.${o}`));
      rows.push([t("ui.scope"), whom], [t("ui.items"), items.length ? items.join("、") : t("ui.no_items")]);
    }
    if (c.fiscal_year) rows.push([t("ui.fiscal_year"), fiscalYearLabel(c.fiscal_year)]);
    rows.push([t("ui.copies"), `${t("label.copies", { copies: q.copies })}（${t("ui.fee_each", { fee_yen: q.fee_yen })}）`]);
    return el("dl", { class: "summary", id: "summary" }, rows.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]));
  }

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
            choice("checkbox", "member", m.member_id, memberLabel(m),
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
    // 本籍・筆頭者 for a Japanese national, the residence card's number for a foreign resident: on the
    // holder's own certificate only what they have; the household's otherwise.
    const options = draft.scope === "self" && item.options_self ? item.options_self : item.options || [];
    draft.options = (draft.options || []).filter((o) => options.includes(o));
    if (options.length) {
      parts.push(
        el(
          "fieldset",
          {},
          el("legend", {}, t("ui.items")),
          options.map((o) =>
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
        choice("radio", "fiscal_year", y.fiscal_year, fiscalYearLabel(y.fiscal_year),
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
    if (!state || (state.step !== "pin" && state.step !== "link_pin")) return;
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
      showIdleWarning(false);
      return;
    }
    const seconds = Math.max(0, Math.ceil((idleDeadline - Date.now()) / 1000));
    idleBox.textContent = t("ui.idle", { seconds });
    idleWarningText.textContent = t("ui.idle_warning", { seconds });
    showIdleWarning(seconds <= state.idle_warning_s);
  }
  setInterval(updateIdle, 1000);

  function showIdleWarning(on) {
    // "Need more time?" before an idle end; Continue starts the idle time again.
    if (on === !idleWarning.hidden) return;
    idleWarning.hidden = !on;
    if (on) idleContinue.focus();
  }
  idleContinue.addEventListener("click", async () => {
    idleWarning.hidden = true;
    idleDeadline = null; // until the app says how long now (not the old countdown, which would show it again)
    try {
      const answer = await (await fetch("/api/touch", { method: "POST" })).json();
      if (answer.idle_s_left !== null) idleDeadline = Date.now() + answer.idle_s_left * 1000;
    } catch (e) {
      /* the state poll brings it */
    }
  });

  // -- the take-card alarm: a tone every 1.5 s until the card is taken ----------------------------
  let audio = null;
  let alarmTimer = null;
  let beeps = 0;
  function beep() {
    beeps += 1;
    screen.dataset.beeps = String(beeps); // for tests: the alarm sounds
    try {
      audio = audio || new AudioContext();
      const tone = audio.createOscillator();
      const gain = audio.createGain();
      tone.frequency.value = 880;
      gain.gain.value = 0.25;
      tone.connect(gain).connect(audio.destination);
      tone.start();
      tone.stop(audio.currentTime + 0.35);
    } catch (e) {
      /* no audio device: the picture and the words remain */
    }
  }
  function alarm(on) {
    if (on && alarmTimer === null) {
      beep();
      alarmTimer = setInterval(beep, 1500);
    } else if (!on && alarmTimer !== null) {
      clearInterval(alarmTimer);
      alarmTimer = null;
    }
    screen.dataset.alarm = on ? "sounding" : "off";
  }

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
