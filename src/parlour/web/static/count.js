// Parlour's comment counts for an index page: one request for every marked element.
//
//   <a href="/my-post/" data-parlour-count>Comments</a>
//   <script async src="https://PARLOUR/count.js" data-site="SITE"></script>
//
// Each element with `data-parlour-count` gets "N comments" as its text. The thread is the
// attribute's value, or else the pathname of the element's href.
(() => {
  "use strict";
  const script = document.currentScript;
  if (!script) return;
  const base = new URL(script.src).origin;
  const site = script.dataset.site;
  const label = (n) => (n === 1 ? "1 comment" : `${n} comments`);
  const byThread = new Map();
  for (const node of document.querySelectorAll("[data-parlour-count]")) {
    const thread = node.dataset.parlourCount || (node.href ? new URL(node.href).pathname : "");
    if (!thread) continue;
    if (!byThread.has(thread)) byThread.set(thread, []);
    byThread.get(thread).push(node);
  }
  const threads = [...byThread.keys()];
  for (let start = 0; start < threads.length; start += 100) { // the API takes 100 at a time
    const params = new URLSearchParams({ site });
    for (const thread of threads.slice(start, start + 100)) params.append("thread", thread);
    fetch(`${base}/api/v1/counts?${params}`, { credentials: "omit" })
      .then((response) => (response.ok ? response.json() : Promise.reject(response.status)))
      .then(({ counts }) => {
        for (const [thread, n] of Object.entries(counts)) {
          for (const node of byThread.get(thread) || []) node.textContent = label(n);
        }
      })
      .catch(() => {}); // counts are decoration: on failure the links keep their own text
  }
})();
