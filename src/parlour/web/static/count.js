// Parlour's comment counts for an index page: one request for every marked element.
//
//   <a href="/my-post/" data-parlour-count>Comments</a>
//   <script async src="https://PARLOUR/count.js" data-site="SITE"></script>
//
// Each element with `data-parlour-count` gets "N comments" as its text, in the page's
// language (data-lang, else <html lang>). The thread is the attribute's value, or else
// the pathname of the element's href.
(() => {
  "use strict";
  const script = document.currentScript;
  if (!script) return;
  const base = new URL(script.src).origin;
  const site = script.dataset.site;
  if (!site) {
    console.error("Parlour: add data-site=\"YOUR-SITE\" to the count.js script tag.");
    return;
  }
  let lang = (script.dataset.lang || document.documentElement.lang || "en").replace("_", "-");
  try {
    Intl.getCanonicalLocales(lang);
  } catch {
    lang = "en";
  }
  const code = lang.toLowerCase().split("-")[0];
  // English is built in; other languages take the "comments" forms of the widget's strings.
  const forms = ["de", "fr", "es"].includes(code)
    ? fetch(`${base}/i18n/${code}.json`, { credentials: "omit" }).then((r) => r.json()).then((s) => s.comments).catch(() => null)
    : Promise.resolve(null);
  const english = { one: "{n} comment", other: "{n} comments" };
  const plural = new Intl.PluralRules(lang);
  const numbers = new Intl.NumberFormat(lang);
  const label = (n, f) => (f[plural.select(n)] || f.other).replace("{n}", numbers.format(n));
  const byThread = new Map();
  for (const node of document.querySelectorAll("[data-parlour-count]")) {
    const thread = (node.dataset.parlourCount || (node.href ? new URL(node.href).pathname : "")).trim();
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
      .then(async ({ counts }) => {
        const f = (await forms) || english;
        for (const [thread, n] of Object.entries(counts)) {
          for (const node of byThread.get(thread) || []) node.textContent = label(n, f);
        }
      })
      .catch(() => {}); // counts are decoration: on failure the links keep their own text
  }
})();
