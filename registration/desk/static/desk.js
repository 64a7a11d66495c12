// The idle lock, on the page side: after the configured idle time without input the page goes to the lock
// screen, so nothing personal stays on an unattended screen (the app locks the session on its side too).
"use strict";
(function () {
  const seconds = Number(document.body.dataset.idleLock || "0");
  if (!seconds) return;
  let timer = 0;
  const arm = () => {
    window.clearTimeout(timer);
    timer = window.setTimeout(() => { window.location.assign("/lock"); }, seconds * 1000);
  };
  for (const event of ["keydown", "pointerdown", "input", "scroll"]) {
    document.addEventListener(event, arm, { passive: true });
  }
  arm();
})();

// A card registration in progress: the page follows the customer display and shows the outcome once the
// resident has typed (or the clerk cancelled).
(function () {
  const progress = document.getElementById("registration-progress");
  if (!progress) return;
  const status = `${window.location.pathname}/status`;
  // Once the clerk submits (cancel), the answer to that is the page to show: a reload racing it would take
  // the outcome first and lose the clerk's notice.
  let leaving = false;
  document.addEventListener("submit", () => { leaving = true; });
  const poll = async () => {
    if (leaving) return;
    try {
      const answer = await (await fetch(status, { cache: "no-store" })).json();
      if (leaving) return;
      if (answer.done) {
        window.location.reload();
        return;
      }
      if (answer.step !== progress.dataset.step) window.location.reload();
    } catch (err) {
      /* the desk restarting: try again */
    }
    window.setTimeout(poll, 1000);
  };
  window.setTimeout(poll, 1000);
})();
