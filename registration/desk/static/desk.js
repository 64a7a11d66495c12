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
