// The reader's sign-in popup: wait until the emailed link is used in this browser, then
// hand the session to the page that opened this window, on that page's origin only (the
// server checked it is one of the site's), and close.
(() => {
  "use strict";
  const box = document.getElementById("waiting");
  if (!box || !window.opener) return;
  const { site, origin } = box.dataset;
  const look = async () => {
    try {
      const response = await fetch(`/readers/sign-in/wait?${new URLSearchParams({ site })}`, { credentials: "same-origin" });
      const answer = await response.json();
      if (answer.status === "done") {
        window.opener.postMessage({ type: "parlour:reader", site, token: answer.token, name: answer.name, expires: answer.expires }, origin);
        setTimeout(() => window.close(), 300);
        return;
      }
    } catch {
      // the network came and went: look again
    }
    setTimeout(look, 1500);
  };
  look();
})();
