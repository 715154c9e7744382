// Keyboard shortcuts for the moderation queue: j/k move, a/r/s decide, x ticks.
// Plain JavaScript, served by Parlour (the desk's CSP allows scripts from 'self' only).
(() => {
  "use strict";
  const items = () => [...document.querySelectorAll("[data-queue-item]")];
  let current = -1;
  function focus(index) {
    const list = items();
    if (!list.length) return;
    current = Math.max(0, Math.min(index, list.length - 1));
    list[current].focus();
  }
  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.target.closest("input, textarea, select")) return;
    if (!items().length) return;
    const item = document.activeElement?.closest("[data-queue-item]") || items()[current];
    const act = (action) => item?.querySelector(`button[data-action="${action}"]`)?.click();
    switch (event.key) {
      case "j": focus(current + 1); break;
      case "k": focus(current - 1); break;
      case "a": act("approve"); break;
      case "r": act("reject"); break;
      case "s": act("spam"); break;
      case "x": { const box = item?.querySelector("input[type=checkbox]"); if (box) box.checked = !box.checked; break; }
      default: return;
    }
    event.preventDefault();
  });
  document.addEventListener("focusin", (event) => {
    const item = event.target.closest?.("[data-queue-item]");
    if (item) current = items().indexOf(item);
  });
  document.addEventListener("htmx:afterSwap", () => { if (current >= 0) focus(current); });
})();

// The writer's widget sign-in: hand the token to the page that opened this popup, on
// that page's origin only (the server checked it is one of the site's), then close.
(() => {
  "use strict";
  const handoff = document.getElementById("handoff");
  if (!handoff || !window.opener) return;
  const { token, expires, origin, site } = handoff.dataset;
  window.opener.postMessage({ type: "parlour:writer", token, expires, site }, origin);
  setTimeout(() => window.close(), 300);
})();

// After an inbox or queue action, the result takes the item's place: move the focus there
// (it would otherwise fall to the page) and count one less waiting.
// (afterSettle: until htmx has settled, the new element still wears the old one's classes.)
document.addEventListener("htmx:afterSettle", (event) => {
  const done = event.detail.target?.id && document.getElementById(event.detail.target.id);
  if (!done || !done.classList.contains("done")) return;
  done.focus();
  const waiting = document.querySelector("[data-waiting]");
  if (waiting) waiting.textContent = String(Math.max(0, Number(waiting.textContent) - 1));
});

// A pasted comment section's review: a comment marked as hers starts out answering the
// comment just above it (she can choose another); unmarked, it goes back to the top.
(() => {
  "use strict";
  document.addEventListener("change", (event) => {
    const box = event.target.closest?.("[data-mine]");
    const select = box?.closest("li")?.querySelector("[data-parent]");
    if (!select) return;
    const above = box.closest("li").previousElementSibling?.id?.replace(/^c/, "");
    if (box.checked && select.value === "" && above) select.value = above;
    else if (!box.checked && select.value === above) select.value = "";
  });
})();

// A site's snippets: "Copy" puts the snippet's text on the clipboard (where the page may
// not use the clipboard, over plain http, it selects the text for the writer to copy).
document.addEventListener("click", async (event) => {
  const button = event.target.closest?.("[data-copy]");
  const snippet = button && document.getElementById(button.dataset.copy);
  if (!snippet) return;
  const said = document.getElementById("copied");
  try {
    await navigator.clipboard.writeText(snippet.textContent);
    button.textContent = "Copied";
    if (said) said.textContent = "Copied to the clipboard.";
  } catch {
    const range = document.createRange();
    range.selectNodeContents(snippet);
    getSelection().removeAllRanges();
    getSelection().addRange(range);
    if (said) said.textContent = "Selected: press Ctrl+C (or Command+C) to copy.";
  }
  setTimeout(() => { button.textContent = "Copy"; }, 2000);
});
