// The customer display: shows what the desk asks of the resident and sends the PIN they type (to this
// page's own origin only). It keeps nothing: the field is cleared after every entry.
"use strict";
(function () {
  const main = document.getElementById("main");
  const form = document.getElementById("pin-form");
  const input = document.getElementById("pin");
  let version = -1;

  function show(state) {
    if (state.version === version) return; // the same state twice (an answer and the poll): keep the typing
    version = state.version;
    main.dataset.step = state.step;
    main.dataset.version = String(state.version);
    document.getElementById("prompt").textContent = state.prompt;
    document.getElementById("prompt-en").textContent = state.prompt_en;
    form.hidden = !state.accepts_pin;
    input.value = "";
    if (state.accepts_pin) input.focus();
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

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const pin = input.value;
    input.value = "";
    const resp = await fetch("/api/pin", {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ pin }),
    });
    if (resp.ok) show(await resp.json());
  });
  for (const key of document.querySelectorAll("[data-key]")) {
    key.addEventListener("click", () => {
      if (key.dataset.key === "clear") input.value = "";
      else if (input.value.length < 4) input.value += key.dataset.key;
      input.focus();
    });
  }
  poll();
})();
