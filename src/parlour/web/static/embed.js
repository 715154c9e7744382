// Parlour's comment section: one script tag, no framework, no cookies.
//
//   <script async src="https://PARLOUR/embed.js" data-site="SITE"></script>
//
// Reads its settings from the tag's data attributes, renders into #parlour-comments (or
// right after the tag) inside an open shadow root, and talks to the JSON API with headers
// only, so it works across origins with third-party cookies blocked.
// Every string a reader typed is inserted as text; only the server-sanitised `html` of a
// comment body is inserted as HTML.
(() => {
  "use strict";
  const script = document.currentScript;
  if (!script) return;
  const base = new URL(script.src).origin;
  const data = script.dataset;
  const canonical = document.querySelector('link[rel="canonical"]');
  const site = data.site;
  const thread = data.thread || (canonical ? new URL(canonical.href).pathname : location.pathname);
  const title = data.title || document.title || null;
  const lang = data.lang || document.documentElement.lang || navigator.language || "en";
  const theme = ["light", "dark"].includes(data.theme) ? data.theme : "auto"; // auto follows the reader's system
  const store = window.localStorage;
  const key = (name) => `parlour:${site}:${name}`;
  const draftKey = key(`draft:${thread}`);

  // English is built in; other languages come from /i18n/LANG.json (one file each).
  let strings = {
    comments: { one: "{n} comment", other: "{n} comments" },
    name: "Name (optional)", body: "Your comment", post: "Post comment", reply: "Reply", cancel: "Cancel",
    author: "Author", anonymous: "Anonymous", removed: "This comment was removed.", more: "Show more comments",
    heart: "Heart", edit: "Edit", save: "Save", remove: "Delete", likedByWriter: "Liked by the author",
    markdown: "Markdown works: *italic*, **bold**, [links](https://example.com), > quotes.",
    error: "Something went wrong. Your text is kept; please try again.",
  };
  const LANGUAGES = ["de", "fr", "es"];
  const plural = new Intl.PluralRules(lang);
  const count = (n) => (strings.comments[plural.select(n)] || strings.comments.other)
    .replace("{n}", new Intl.NumberFormat(lang).format(n));

  const host = document.getElementById("parlour-comments") || (() => {
    const div = document.createElement("div");
    div.id = "parlour-comments";
    script.after(div);
    return div;
  })();
  host.style.minHeight = host.style.minHeight || "12rem"; // keep the page from jumping while loading
  const root = host.attachShadow({ mode: "open" });
  root.innerHTML = `<link rel="stylesheet" href="${base}/embed.css">
    <section class="parlour" data-theme="${theme}" aria-label="Comments">
      <h2 class="count"></h2>
      <div class="new"></div>
      <ol class="thread"></ol>
      <button type="button" class="more" hidden></button>
      <p class="status" role="status" aria-live="polite"></p>
    </section>`;
  const el = (sel) => root.querySelector(sel);

  // "3 hours ago" in the reader's language; the exact time is in the title (on hover).
  const relativeFormat = new Intl.RelativeTimeFormat(lang, { numeric: "auto" });
  function relative(date) {
    const seconds = (date.getTime() - Date.now()) / 1000;
    for (const [unit, size] of [["year", 31536000], ["month", 2592000], ["week", 604800], ["day", 86400], ["hour", 3600], ["minute", 60]]) {
      if (Math.abs(seconds) >= size) return relativeFormat.format(Math.round(seconds / size), unit);
    }
    return relativeFormat.format(0, "second");
  }

  function make(tag, attrs = {}, text) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
    if (text !== undefined) node.textContent = text;
    return node;
  }

  async function api(method, path, body, token) {
    const headers = {};
    if (token) headers.Authorization = `Bearer ${token}`;
    const reader = store.getItem(key("reader"));
    if (reader) headers["X-Parlour-Reader"] = reader;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const response = await fetch(base + path, {
      method, headers, body: body === undefined ? undefined : JSON.stringify(body), credentials: "omit",
    });
    const payload = response.status === 204 ? {} : await response.json();
    if (!response.ok) throw Object.assign(new Error(payload.error?.message || strings.error), { payload });
    return payload;
  }

  async function readerToken() {
    if (!store.getItem(key("reader"))) {
      const { reader_token: token } = await api("POST", "/api/v1/readers");
      store.setItem(key("reader"), token);
    }
  }

  function form(parentId, onDone) {
    const f = make("form", { class: "compose" });
    const draft = parentId ? key(`draft:${thread}:${parentId}`) : draftKey;
    const name = make("input", { name: "author_name", autocomplete: "name", maxlength: "80" });
    name.value = store.getItem(key("name")) || "";
    const body = make("textarea", { name: "body", rows: "4", required: "" });
    body.value = store.getItem(draft) || "";
    body.addEventListener("input", () => store.setItem(draft, body.value));
    const nameLabel = make("label", {}, strings.name);
    nameLabel.append(name);
    const bodyLabel = make("label", {}, strings.body);
    bodyLabel.append(body);
    const hint = make("p", { class: "hint" }, strings.markdown);
    const error = make("p", { class: "error", role: "alert" });
    const submit = make("button", { type: "submit" }, strings.post);
    f.append(nameLabel, bodyLabel, hint, error, submit);
    if (parentId) {
      const cancel = make("button", { type: "button" }, strings.cancel);
      cancel.addEventListener("click", () => f.remove());
      f.append(cancel);
    }
    body.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) f.requestSubmit();
      if (event.key === "Escape" && parentId) f.remove();
    });
    f.addEventListener("submit", async (event) => {
      event.preventDefault();
      error.textContent = "";
      submit.disabled = true;
      try {
        const payload = { site, thread, title, body: body.value };
        if (location.protocol.startsWith("http")) payload.url = location.href.split("#")[0];
        if (parentId) payload.parent_id = parentId;
        if (name.value.trim()) payload.author_name = name.value.trim();
        const result = await api("POST", "/api/v1/comments", payload);
        store.setItem(key("name"), name.value.trim());
        if (result.edit_token) store.setItem(key(`edit:${result.comment.id}`), result.edit_token);
        store.removeItem(draft);
        body.value = "";
        onDone(result.comment);
      } catch (err) {
        error.textContent = err.message; // the draft stays in the box and in storage
      } finally {
        submit.disabled = false;
      }
    });
    return f;
  }

  // Edit and delete for comments this browser posted (it keeps their edit tokens).
  function ownActions(comment, token, article, body) {
    const edit = make("button", { type: "button", class: "edit" }, strings.edit);
    const remove = make("button", { type: "button", class: "delete" }, strings.remove);
    edit.addEventListener("click", () => {
      if (article.querySelector("form.editing")) return;
      const f = make("form", { class: "compose editing" });
      const label = make("label", {}, strings.body);
      const text = make("textarea", { name: "body", rows: "4", required: "" });
      text.value = comment.body;
      label.append(text);
      const error = make("p", { class: "error", role: "alert" });
      const save = make("button", { type: "submit" }, strings.save);
      const cancel = make("button", { type: "button" }, strings.cancel);
      cancel.addEventListener("click", () => f.remove());
      text.addEventListener("keydown", (event) => { if (event.key === "Escape") f.remove(); });
      f.append(label, error, save, cancel);
      f.addEventListener("submit", async (event) => {
        event.preventDefault();
        try {
          const result = await api("PATCH", `/api/v1/comments/${comment.id}`, { body: text.value }, token);
          comment.body = result.comment.body;
          body.innerHTML = result.comment.html; // sanitised by the server
          f.remove();
        } catch (err) {
          error.textContent = err.message; // the edit stays in the box
        }
      });
      body.after(f);
      text.focus();
    });
    remove.addEventListener("click", async () => {
      try {
        await api("DELETE", `/api/v1/comments/${comment.id}`, undefined, token);
        store.removeItem(key(`edit:${comment.id}`));
        article.replaceChildren(make("p", { class: "removed" }, strings.removed));
      } catch (err) {
        el(".status").textContent = err.message;
      }
    });
    return [edit, remove];
  }

  function render(comment) {
    const li = make("li", { id: `comment-${comment.id}`, class: "comment" });
    const article = make("article");
    if (comment.removed) {
      article.append(make("p", { class: "removed" }, strings.removed));
    } else {
      const header = make("header");
      header.append(make("span", { class: "name" }, comment.author.name || strings.anonymous));
      if (comment.author.is_writer) header.append(make("span", { class: "badge" }, strings.author));
      const link = make("a", { href: `#comment-${comment.id}` });
      const created = new Date(comment.created_at);
      const time = make("time", { datetime: comment.created_at, title: created.toLocaleString(lang) });
      time.textContent = relative(created);
      link.append(time);
      header.append(link);
      const body = make("div", { class: "body" });
      body.innerHTML = comment.html; // sanitised by the server (nh3); never `comment.body`
      const actions = make("div", { class: "actions" });
      const heartKey = key(`hearted:${comment.id}`);
      const heart = make("button", { type: "button", class: "heart", "aria-label": strings.heart }, `♥ ${comment.hearts}`);
      heart.setAttribute("aria-pressed", store.getItem(heartKey) ? "true" : "false");
      heart.addEventListener("click", async () => {
        const on = heart.getAttribute("aria-pressed") !== "true";
        try {
          await readerToken();
          const result = await api(on ? "PUT" : "DELETE", `/api/v1/comments/${comment.id}/heart`);
          heart.textContent = `♥ ${result.hearts}`;
          heart.setAttribute("aria-pressed", String(on));
          if (on) store.setItem(heartKey, "1");
          else store.removeItem(heartKey);
        } catch (err) {
          el(".status").textContent = err.message;
        }
      });
      const reply = make("button", { type: "button", class: "reply" }, strings.reply);
      reply.addEventListener("click", () => {
        if (li.querySelector(":scope > form")) return;
        const f = form(comment.id, (created) => {
          f.remove();
          replies.append(render(created));
        });
        article.after(f);
        f.querySelector("textarea").focus();
      });
      actions.append(heart, reply);
      const editToken = store.getItem(key(`edit:${comment.id}`));
      if (editToken) actions.append(...ownActions(comment, editToken, article, body));
      if (comment.liked_by_writer) actions.append(make("span", { class: "liked" }, strings.likedByWriter));
      article.append(header, body, actions);
    }
    li.append(article);
    const replies = make("ol", { class: "replies" });
    for (const child of comment.replies || []) replies.append(render(child));
    li.append(replies);
    return li;
  }

  let cursor = null;
  function fetchPage() {
    const params = new URLSearchParams({ site, thread });
    if (cursor) params.set("cursor", cursor);
    return api("GET", `/api/v1/comments?${params}`);
  }

  function show(page) {
    el(".count").textContent = count(page.thread.comment_count);
    for (const comment of page.comments) el(".thread").append(render(comment));
    cursor = page.next_cursor;
    el(".more").hidden = !cursor;
  }

  async function loadStrings() {
    const code = lang.toLowerCase().split("-")[0];
    if (!LANGUAGES.includes(code)) return;
    try {
      const response = await fetch(`${base}/i18n/${code}.json`, { credentials: "omit" });
      if (response.ok) strings = { ...strings, ...(await response.json()) };
    } catch {
      // English, then: better than no comment section
    }
  }

  async function start() {
    const [page] = await Promise.all([fetchPage(), loadStrings()]); // in parallel: first paint matters
    el(".more").textContent = strings.more;
    el(".new").append(form(null, (created) => {
      el(".thread").append(render(created));
      el(".status").textContent = count(root.querySelectorAll(".comment").length);
    }));
    show(page);
    host.style.minHeight = "";
    const target = location.hash.startsWith("#comment-") && root.getElementById(location.hash.slice(1));
    if (target) target.scrollIntoView();
  }

  el(".more").addEventListener("click", () => fetchPage().then(show).catch((err) => { el(".status").textContent = err.message; }));
  start().catch((err) => { el(".status").textContent = err.message; });
})();
