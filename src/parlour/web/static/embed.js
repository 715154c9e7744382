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
  performance.mark("parlour:start"); // bench/widget-time measures from here to "parlour:shown"
  const base = new URL(script.src).origin;
  const data = script.dataset;
  const canonical = document.querySelector('link[rel="canonical"]');
  const site = data.site;
  const thread = data.thread || (canonical ? new URL(canonical.href).pathname : location.pathname);
  const title = data.title || document.title || null;
  // Single sign-on: a token the writer's site signed for a reader signed in there
  // (data-sso, or later parlour.sso(token)); sent as X-Parlour-SSO on every call.
  let sso = data.sso || null;
  let policy = "everyone"; // who may comment on this thread (the page says)
  let locked = false; // or closed by close_after_days
  // A reader signed in with an email link (the popup on Parlour's origin hands over a
  // session, kept in this site's storage and sent as X-Parlour-Account).
  const account = () => store.getItem(key("account"));
  let mine = new Set(); // this reader's comments on the thread, to change from any device
  let lang = (data.lang || document.documentElement.lang || navigator.language || "en").replace("_", "-");
  try {
    Intl.getCanonicalLocales(lang);
  } catch {
    lang = "en"; // a page with lang="" or a malformed tag still gets its comments
  }
  const store = window.localStorage;
  const key = (name) => `parlour:${site}:${name}`;
  const FLAT_AT = 3; // replies deeper than this are shown flat, with "replying to Name"

  // English is built in; other languages come from /i18n/LANG.json (one file each).
  let strings = {
    comments: { one: "{n} comment", other: "{n} comments" },
    first: "Write the first comment",
    newComments: { one: "{n} new comment", other: "{n} new comments" },
    fresh: "New",
    name: "Name (optional)", email: "Email (optional, only the writer sees it)", body: "Your comment",
    notify: "Email", notifyNone: "Don't email me", notifyReplies: "Email me replies",
    notifyThread: "Email me every new comment here",
    notifyRequested: "You will be emailed as you asked. If this address is new here, first open the link we just sent to confirm it.",
    post: "Post comment", reply: "Reply", cancel: "Cancel",
    author: "Author", pinned: "Pinned", anonymous: "Anonymous", removed: "This comment was removed.", more: "Show more comments",
    moreReplies: "Show more replies", replyingTo: "replying to {name}",
    heart: "Heart", edit: "Edit", save: "Save", remove: "Delete", likedByWriter: "Liked by the author",
    preview: "Preview", sort: "Sort by", oldest: "Oldest", newest: "Newest", top: "Top",
    markdown: "Markdown works: *italic*, **bold**, [links](https://example.com), > quotes. Ctrl+Enter sends.",
    label: "Comments",
    pin: "Pin", unpinned: "Unpinned.", edited: "edited", confirmRemove: "Delete this comment?",
    writerSignIn: "Are you the writer? Sign in", writerSignOut: "Sign out as the writer",
    writerSignedIn: "You are signed in as the writer.",
    feed: "Comments feed",
    verified: "Signed in", commentingAs: "Commenting as {name}", signIn: "Sign in",
    readerSignIn: "Sign in with your email", readerSignedIn: "Signed in as {name}", readerSignOut: "Sign out",
    myData: "Download my data", deleteAccount: "Delete my account", deleteRemove: "Remove my comments",
    deleteKeep: "Keep my comments, as “A former reader”", deleteConfirm: "Delete my account",
    deleted: "Your account is deleted.",
    onlySignedIn: "Only signed-in readers can comment here.", onlyMembers: "Only members can comment here.",
    onlyPaid: "Only paying members can comment here.", closed: "This conversation takes no comments.",
    held: "Your comment awaits review. Only you can see it until it is approved.",
    locked: "This conversation is closed to new comments.",
    loadError: "The comments could not be loaded. Please reload the page to try again.",
    unavailable: "Comments are not available on this page.",
    error: "Something went wrong. Your text is kept; please try again.",
    errors: {
      empty_body: "Write something before posting.",
      body_too_long: "Your comment is too long. Please shorten it.",
      name_too_long: "That name is too long.",
      invalid_characters: "The text contains characters that cannot be saved.",
      rate_limited: "You are commenting very fast. Please wait a minute and try again.",
      edit_window_closed: "The time for editing or deleting this comment has passed.",
      comment_removed: "That comment has been removed.",
      unknown_parent: "The comment you are replying to is gone.",
      origin_not_allowed: "Comments are not enabled for this website.",
      unknown_site: "Comments are not set up for this website.",
      thread_locked: "This conversation is closed to new comments.",
      reader_blocked: "You cannot comment on this website.",
      comment_rejected: "This website does not accept comments with some of these words.",
      email_required: "Give your email address to be told of replies.",
      invalid_email: "That email address does not look right.",
      public_url_missing: "Email replies are not set up on this website yet.",
      commenting_restricted: "You cannot comment here.",
      invalid_sso_token: "Your sign-in is not valid any more. Please sign in again.",
      name_taken: "That name belongs to someone else here. Please choose another.",
    },
  };
  const LANGUAGES = ["de", "fr", "es"];
  let cursor = null;
  let newest = 0; // the highest comment id on the page
  let sort = store.getItem(key("sort")) || "oldest";
  // The first page and the strings are asked for before anything else is set up, so the
  // network works while the rest of this script runs (measured: ~45 ms of set-up).
  const first = site ? Promise.all([fetchPage(permalink()), loadStrings()]) : null;
  first?.catch(() => {}); // handled in start()
  const plural = new Intl.PluralRules(lang);
  const numbers = new Intl.NumberFormat(lang);
  const count = (forms, n) => (forms[plural.select(n)] || forms.other).replace("{n}", numbers.format(n));

  const host = document.getElementById("parlour-comments") || (() => {
    const div = document.createElement("div");
    div.id = "parlour-comments";
    script.after(div);
    return div;
  })();
  host.style.minHeight = host.style.minHeight || "12rem"; // keep the page from jumping while loading
  const root = host.attachShadow({ mode: "open" });
  root.innerHTML = `<link rel="stylesheet" href="${base}/embed.css">
    <section class="parlour loading">
      <h2 class="count"></h2>
      <div class="new"></div>
      <label class="sort"><span></span> <select>
        <option value="oldest"></option><option value="newest"></option><option value="top"></option>
      </select></label>
      <button type="button" class="live" hidden></button>
      <ol class="thread"></ol>
      <button type="button" class="more" hidden></button>
      <p class="status" role="status" aria-live="polite"></p>
      <p class="announce" role="status" aria-live="polite"></p>
      <div class="reader"></div>
      <p class="writer"></p>
      <p class="feed" hidden><a type="application/atom+xml"></a></p>
    </section>`;
  const el = (sel) => root.querySelector(sel);
  const section = el("section");
  const status = (text) => { el(".status").textContent = text; };
  const announce = (text) => { el(".announce").textContent = text; }; // screen readers only

  // Theme: light, dark, or auto, which follows the host page's own background and,
  // on a page without one, the reader's system setting.
  const systemDark = matchMedia("(prefers-color-scheme: dark)");
  function pageIsDark() {
    for (let node = host; node; node = node.parentElement) {
      const rgba = getComputedStyle(node).backgroundColor.match(/[\d.]+/g);
      if (rgba && (rgba.length < 4 || +rgba[3] > 0)) {
        const [r, g, b] = rgba.map(Number);
        return 0.2126 * r + 0.7152 * g + 0.0722 * b < 128;
      }
    }
    // No background anywhere: the browser paints white, unless the page opted in to a
    // dark colour scheme and the reader's system is dark.
    return getComputedStyle(document.documentElement).colorScheme.includes("dark") && systemDark.matches;
  }
  function applyTheme() {
    const wanted = data.theme === "light" || data.theme === "dark" ? data.theme : pageIsDark() ? "dark" : "light";
    section.dataset.theme = wanted;
  }
  applyTheme();
  systemDark.addEventListener("change", applyTheme);
  new MutationObserver(applyTheme).observe(document.documentElement, {
    attributes: true, subtree: false, attributeFilter: ["class", "style", "data-theme"],
  });
  if (document.body) {
    new MutationObserver(applyTheme).observe(document.body, { attributes: true, attributeFilter: ["class", "style"] });
  }

  // "3 hours ago" in the reader's language; the exact time is in the title (on hover).
  const relativeFormat = new Intl.RelativeTimeFormat(lang, { numeric: "auto" });
  const exact = new Intl.DateTimeFormat(lang, { dateStyle: "medium", timeStyle: "short" });
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

  // Every API error becomes a sentence in the reader's language.
  const message = (err) => strings.errors[err.code] || strings.error;

  // The writer's token, handed over by the desk (see writerSignIn): with it, this browser
  // acts as the site's writer. It lives an hour; while the page is open it is traded for
  // a fresh one before it ends, for as long as the desk's grant stands.
  const writer = () => store.getItem(key("writer"));
  let refreshTimer = 0;
  function setWriter(token, expires) {
    clearTimeout(refreshTimer);
    if (!token) {
      store.removeItem(key("writer"));
      store.removeItem(key("writer:expires"));
      return;
    }
    store.setItem(key("writer"), token);
    store.setItem(key("writer:expires"), expires);
    const left = Date.parse(expires) - Date.now();
    refreshTimer = setTimeout(refreshWriter, Math.max(1000, Math.min(left - 10 * 60_000, left / 2)));
  }
  async function refreshWriter() {
    const token = writer();
    if (!token) return;
    try {
      const fresh = await api("POST", "/api/v1/writer-token", undefined, token);
      if (writer() === token) setWriter(fresh.writer_token, fresh.expires_at);
    } catch (err) {
      // invalid_token: api() has made this browser a reader again; otherwise try later.
      if (err.code !== "invalid_token" && writer() === token) refreshTimer = setTimeout(refreshWriter, 60_000);
    }
  }

  async function api(method, path, body, token, again = false) {
    const headers = {};
    const bearer = token || (path.startsWith("/api/v1/comments") && method !== "GET" ? writer() : null);
    if (bearer) headers.Authorization = `Bearer ${bearer}`;
    const reader = store.getItem(key("reader"));
    if (reader) headers["X-Parlour-Reader"] = reader;
    if (sso) headers["X-Parlour-SSO"] = sso;
    else if (account()) headers["X-Parlour-Account"] = account();
    if (body !== undefined) headers["Content-Type"] = "application/json";
    let response, payload;
    try {
      response = await fetch(base + path, {
        method, headers, body: body === undefined ? undefined : JSON.stringify(body), credentials: "omit",
      });
      payload = response.status === 204 ? {} : await response.json();
    } catch {
      throw Object.assign(new Error("network"), { code: "network" });
    }
    if (!response.ok) {
      if (bearer && bearer === writer() && payload.error?.code === "invalid_token") {
        setWriter(null); // signed out everywhere, revoked or expired: be a reader again
        whoChanged();
      }
      if (payload.error?.code === "invalid_sso_token") setSSO(null); // expired: sign in again
      if (payload.error?.code === "origin_not_allowed") { // for the writer; readers get a calm sentence
        console.warn(`Parlour: site "${site}" does not allow ${location.origin}. Add it: parlour site set ${site} --origin ${location.origin} (and its other origins), or in the desk.`);
      }
      if (payload.error?.code === "invalid_token" && payload.error.details?.header === "X-Parlour-Reader") {
        // The identity no longer holds (the instance's secret changed): take a new one and
        // send the request again, so that what the reader wrote goes out.
        if (store.getItem(key("reader")) === reader) store.removeItem(key("reader")); // not a newer one
        if (!again) {
          await readerToken();
          return api(method, path, body, token, true);
        }
      } else if (payload.error?.code === "invalid_token" && !bearer && account()) setAccount(null); // ended
      throw Object.assign(new Error(payload.error?.message), { code: payload.error?.code });
    }
    return payload;
  }

  async function readerToken() {
    if (!store.getItem(key("reader"))) {
      const { reader_token: token } = await api("POST", "/api/v1/readers");
      store.setItem(key("reader"), token);
    }
  }

  // A comment box: Markdown hint and preview, the draft kept in storage until posted.
  // Enter on the button (or in the name field) sends, Ctrl/Cmd+Enter sends from the box,
  // Escape cancels a reply.
  function form(parentId, onDone, onCancel) {
    const f = make("form", { class: "compose" });
    const draft = key(parentId ? `draft:${thread}:${parentId}` : `draft:${thread}`);
    const name = make("input", { name: "author_name", autocomplete: "name", maxlength: "80" });
    name.value = store.getItem(key("name")) || "";
    const body = make("textarea", { name: "body", rows: "4", required: "" });
    body.value = store.getItem(draft) || "";
    const preview = make("div", { class: "body preview", hidden: "" });
    body.addEventListener("input", () => {
      store.setItem(draft, body.value);
      preview.hidden = true;
    });
    const nameLabel = make("label", {}, strings.name);
    nameLabel.append(name);
    // Email (private) and what to be emailed: the choice shows once an address is typed.
    const email = make("input", { name: "author_email", type: "email", autocomplete: "email", maxlength: "254" });
    email.value = store.getItem(key("email")) || "";
    const emailLabel = make("label", {}, strings.email);
    emailLabel.append(email);
    const notify = make("fieldset", { class: "notify" });
    notify.append(make("legend", {}, strings.notify));
    const wanted = store.getItem(key("notify")) || "";
    for (const [value, text] of [["", strings.notifyNone], ["replies", strings.notifyReplies], ["thread", strings.notifyThread]]) {
      const option = make("label");
      const radio = make("input", { type: "radio", name: "notify", value });
      radio.checked = value === wanted;
      option.append(radio, ` ${text}`);
      notify.append(option);
    }
    const showNotify = () => { notify.hidden = !email.value.trim(); };
    showNotify();
    email.addEventListener("input", showNotify);
    const bodyLabel = make("label", {}, strings.body);
    bodyLabel.append(body);
    const hint = make("p", { class: "hint" }, strings.markdown);
    const error = make("p", { class: "error", role: "alert" });
    const submit = make("button", { type: "submit" }, strings.post);
    const show = make("button", { type: "button", class: "show-preview" }, strings.preview);
    show.addEventListener("click", async () => {
      error.textContent = "";
      try {
        preview.innerHTML = (await api("POST", "/api/v1/preview", { body: body.value })).html; // sanitised by the server
        preview.hidden = false;
      } catch (err) {
        error.textContent = message(err);
      }
    });
    const buttons = make("div", { class: "buttons" });
    buttons.append(submit, show);
    const cancel = () => { f.remove(); if (onCancel) onCancel(); };
    if (parentId) {
      const button = make("button", { type: "button", class: "cancel" }, strings.cancel);
      button.addEventListener("click", cancel);
      buttons.append(button);
    }
    const claims = ssoClaims();
    const who = [nameLabel, emailLabel, notify];
    if (!claims && account()) {
      // Signed in with an email link: their address is known; their name, once chosen, too.
      const known = store.getItem(key("account:name"));
      who.splice(0, 3, known ? make("p", { class: "as" }, strings.commentingAs.replace("{name}", known)) : nameLabel, notify);
      notify.hidden = false;
    }
    if (claims) {
      // Signed in by the writer's site: its name and address are used, not typed.
      email.value = claims.email || "";
      showNotify();
      who.splice(0, 3, make("p", { class: "as" }, strings.commentingAs.replace("{name}", claims.name || "")));
      if (claims.email) who.push(notify);
    }
    f.append(...(writer() ? [] : who), bodyLabel, hint, preview, error, buttons);
    f.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) f.requestSubmit();
      if (event.key === "Escape" && parentId) cancel();
    });
    f.addEventListener("submit", async (event) => {
      event.preventDefault();
      error.textContent = "";
      submit.disabled = true;
      try {
        const payload = { site, thread, title, body: body.value };
        if (location.protocol.startsWith("http")) payload.url = location.href.split("#")[0];
        if (parentId) payload.parent_id = parentId;
        if (name.value.trim() && !sso) payload.author_name = name.value.trim();
        const choice = email.value.trim() || account() ? f.querySelector("input[name=notify]:checked")?.value || "" : "";
        if (!writer() && !sso && !account() && email.value.trim()) payload.author_email = email.value.trim();
        if (!writer() && choice) payload.notify = choice;
        const result = await api("POST", "/api/v1/comments", payload);
        if (!sso) store.setItem(key("name"), name.value.trim());
        if (account() && !store.getItem(key("account:name")) && result.comment.author.name) {
          store.setItem(key("account:name"), result.comment.author.name);
        }
        if (!writer() && !sso && !account()) {
          store.setItem(key("email"), email.value.trim());
          store.setItem(key("notify"), choice);
        }
        if (result.edit_token) store.setItem(key(`edit:${result.comment.id}`), result.edit_token);
        store.removeItem(draft);
        body.value = "";
        preview.hidden = true;
        if (arrived.delete(result.comment.id)) { // the stream was first: draw it again as ours
          root.getElementById(`comment-${result.comment.id}`)?.remove();
          total -= 1;
        }
        onDone(result.comment);
        if (result.notify) {
          status(strings.notifyRequested);
        }
      } catch (err) {
        error.textContent = message(err); // the draft stays in the box and in storage
        if (err.code === "thread_locked") {
          locked = true; // since the page was read
          error.textContent = "";
          gate();
        }
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
      const close = () => { f.remove(); edit.focus(); };
      cancel.addEventListener("click", close);
      text.addEventListener("keydown", (event) => {
        if (event.key === "Escape") close();
        if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) f.requestSubmit();
      });
      const buttons = make("div", { class: "buttons" });
      buttons.append(save, cancel);
      f.append(label, error, buttons);
      f.addEventListener("submit", async (event) => {
        event.preventDefault();
        try {
          const result = await api("PATCH", `/api/v1/comments/${comment.id}`, { body: text.value }, token);
          comment.body = result.comment.body;
          body.innerHTML = result.comment.html; // sanitised by the server
          close();
        } catch (err) {
          error.textContent = message(err); // the edit stays in the box
        }
      });
      body.after(f);
      text.focus();
    });
    remove.addEventListener("click", async () => {
      if (!confirm(strings.confirmRemove)) return;
      try {
        await api("DELETE", `/api/v1/comments/${comment.id}`, undefined, token);
        store.removeItem(key(`edit:${comment.id}`));
        article.replaceChildren(make("p", { class: "removed" }, strings.removed));
        setCount(total - 1);
      } catch (err) {
        status(message(err));
        if (err.code === "edit_window_closed") {
          store.removeItem(key(`edit:${comment.id}`)); // too late now: stop offering it
          edit.remove();
          remove.remove();
        }
      }
    });
    return [edit, remove];
  }

  // The writer's tools on readers' comments: pin (top-level) and remove.
  function writerActions(comment, depth, article) {
    const out = [];
    if (depth === 0) {
      const pin = make("button", { type: "button", class: "pin", "aria-pressed": String(comment.pinned) }, strings.pin);
      pin.addEventListener("click", async () => {
        const on = pin.getAttribute("aria-pressed") !== "true";
        try {
          await api(on ? "PUT" : "DELETE", `/api/v1/comments/${comment.id}/pin`);
          pin.setAttribute("aria-pressed", String(on));
          status(on ? strings.pinned : strings.unpinned);
        } catch (err) {
          status(message(err));
        }
      });
      out.push(pin);
    }
    const remove = make("button", { type: "button", class: "delete" }, strings.remove);
    remove.addEventListener("click", async () => {
      if (!confirm(strings.confirmRemove)) return;
      try {
        await api("DELETE", `/api/v1/comments/${comment.id}`);
        article.replaceChildren(make("p", { class: "removed" }, strings.removed));
        setCount(total - 1);
      } catch (err) {
        status(message(err));
      }
    });
    out.push(remove);
    return out;
  }

  // Renders a comment into `list`, and its replies: nested up to FLAT_AT levels, then flat
  // in the same list with "replying to Name". Each <li> remembers where its replies go.
  function add(list, comment, depth = 0, parent = null, before = null) {
    if (root.getElementById(`comment-${comment.id}`)) return null;
    newest = Math.max(newest, comment.id);
    const li = make("li", { id: `comment-${comment.id}`, class: "comment", tabindex: "-1" });
    const article = make("article");
    const replies = depth < FLAT_AT ? make("ol", { class: "replies" }) : list;
    Object.assign(li, { parlourReplies: replies, parlourDepth: depth, parlourName: comment.author.name });
    if (comment.removed) {
      article.append(make("p", { class: "removed" }, strings.removed));
    } else {
      const header = make("header");
      if (comment.author.avatar_url) {
        // An https address the site's owner set in the desk; decorative (her name follows).
        header.append(make("img", { class: "avatar", src: comment.author.avatar_url, alt: "", width: "24", height: "24", loading: "lazy", referrerpolicy: "no-referrer" }));
      }
      header.append(make("span", { class: "name" }, comment.author.name || strings.anonymous));
      if (comment.author.is_writer) header.append(make("span", { class: "badge" }, strings.author));
      else if (comment.author.verified) header.append(make("span", { class: "verified", title: strings.verified }, `✓ ${strings.verified}`));
      if (comment.pinned) header.append(make("span", { class: "pinned" }, strings.pinned));
      const link = make("a", { href: `#comment-${comment.id}` });
      const created = new Date(comment.created_at);
      const time = make("time", { datetime: comment.created_at, title: exact.format(created) });
      time.textContent = relative(created);
      link.append(time);
      header.append(link);
      if (comment.edited_at) header.append(make("span", { class: "edited", title: exact.format(new Date(comment.edited_at)) }, strings.edited));
      if (depth > FLAT_AT && parent) {
        // Very deep chains arrive under an ancestor (the server nests at most a few dozen
        // levels): name the comment actually replied to.
        const shown = comment.parent_id !== parent.id && root.getElementById(`comment-${comment.parent_id}`);
        const name = shown ? shown.parlourName : parent.author.name;
        const to = make("a", { class: "to", href: `#comment-${comment.parent_id || parent.id}` });
        to.textContent = strings.replyingTo.replace("{name}", name || strings.anonymous);
        header.append(to);
      }
      const body = make("div", { class: "body" });
      body.innerHTML = comment.html; // sanitised by the server (nh3); never `comment.body`
      const actions = make("div", { class: "actions" });
      const heartKey = key(`hearted:${comment.id}`);
      // Counting her heart too: a filled heart never shows 0.
      const heart = make("button", { type: "button", class: "heart" });
      const hearts = () => {
        const n = numbers.format(comment.hearts + (comment.liked_by_writer ? 1 : 0));
        heart.textContent = `♥ ${n}`;
        heart.setAttribute("aria-label", `${strings.heart} (${n})`);
      };
      hearts();
      const asWriter = !!writer();
      heart.setAttribute("aria-pressed", (asWriter ? comment.liked_by_writer : store.getItem(heartKey)) ? "true" : "false");
      heart.addEventListener("click", async () => {
        const on = heart.getAttribute("aria-pressed") !== "true";
        try {
          if (!asWriter) await readerToken();
          const result = await api(on ? "PUT" : "DELETE", `/api/v1/comments/${comment.id}/heart`);
          if (asWriter) {
            comment.liked_by_writer = result.liked_by_writer;
            liked.hidden = !result.liked_by_writer;
          }
          comment.hearts = result.hearts;
          hearts();
          heart.setAttribute("aria-pressed", String(on));
          if (asWriter) {
            // the writer's heart is hers, not a reader's
          } else if (on) store.setItem(heartKey, "1");
          else store.removeItem(heartKey);
        } catch (err) {
          status(message(err));
        }
      });
      const reply = make("button", { type: "button", class: "reply" }, strings.reply);
      reply.hidden = !mayComment();
      reply.addEventListener("click", () => {
        if (li.querySelector(":scope > form")) return;
        const f = form(comment.id, (created) => {
          f.remove();
          add(replies, created, depth + 1, comment, replies === list ? nextAfter(li) : null);
          posted(created);
          reply.focus();
        }, () => reply.focus());
        article.after(f);
        f.querySelector("textarea").focus();
      });
      if (!comment.held) actions.append(heart, reply);
      const editToken = asWriter && comment.author.is_writer ? writer() : store.getItem(key(`edit:${comment.id}`));
      if (editToken) actions.append(...ownActions(comment, editToken, article, body));
      else if (mine.has(comment.id)) actions.append(...ownActions(comment, "", article, body)); // by the account
      if (asWriter && !comment.author.is_writer) actions.append(...writerActions(comment, depth, article));
      const liked = make("span", { class: "liked" }, strings.likedByWriter);
      liked.hidden = !comment.liked_by_writer;
      actions.append(liked);
      article.append(header, body, actions);
    }
    if (comment.held) {
      li.classList.add("held");
      article.append(make("p", { class: "held-note" }, strings.held));
    }
    li.append(article);
    list.insertBefore(li, before);
    if (replies !== list) li.append(replies);
    for (const child of comment.replies || []) add(replies, child, depth + 1, comment);
    if (comment.replies_cursor) moreReplies(li, comment.id, comment.replies_cursor);
    return li;
  }

  // "Show more replies" under a long conversation: the next page of that conversation.
  function moreReplies(li, rootId, replyCursor) {
    const button = make("button", { type: "button", class: "more-replies" }, strings.moreReplies);
    li.append(button);
    button.addEventListener("click", async () => {
      try {
        const page = await api("GET", `/api/v1/comments?${new URLSearchParams({ site, thread, root: rootId, cursor: replyCursor })}`);
        button.remove();
        attach(page.comments);
        if (page.next_cursor) moreReplies(li, rootId, page.next_cursor);
      } catch (err) {
        status(message(err));
      }
    });
  }

  // Replies whose parent is already on the page go under it (reply pages, live updates).
  function attach(comments) {
    for (const comment of comments) {
      const parent = comment.parent_id && root.getElementById(`comment-${comment.parent_id}`);
      if (!comment.parent_id) add(el(".thread"), comment, 0, null, sort === "newest" ? el(".thread").firstChild : null);
      else if (parent) {
        const target = parent.parlourReplies;
        const info = { id: comment.parent_id, author: { name: parent.parlourName } };
        add(target, comment, parent.parlourDepth + 1, info, target === parent.parentNode ? nextAfter(parent) : null);
      }
    }
  }
  // In a flat list, a new reply goes after the last reply already under the same parent.
  function nextAfter(li) {
    let next = li.nextSibling;
    while (next && next.parlourDepth > li.parlourDepth) next = next.nextSibling;
    return next;
  }

  let total = 0;
  const select = el(".sort select");
  select.value = sort;

  function fetchPage(until) {
    const params = new URLSearchParams({ site, thread, sort });
    if (cursor) params.set("cursor", cursor);
    if (until) params.set("until", until);
    return api("GET", `/api/v1/comments?${params}`);
  }

  // An empty open thread invites the first comment; sorting needs two.
  function setCount(n) {
    total = n;
    const invite = n === 0 && !locked && policy !== "closed" && !root.querySelector(".held");
    el(".count").textContent = invite ? strings.first : count(strings.comments, n);
    el(".sort").hidden = n < 2;
    el(".feed").hidden = n === 0; // a thread has a feed once it has a comment
  }

  function show(page) {
    policy = page.thread.who_may_comment || "everyone";
    const closes = page.thread.closes_at && Date.parse(page.thread.closes_at);
    locked = page.thread.locked || (!!closes && closes <= Date.now());
    total = page.thread.comment_count;
    gate();
    for (const comment of page.comments) add(el(".thread"), comment);
    cursor = page.next_cursor;
    el(".more").hidden = !cursor;
  }

  // A held comment is shown to its author only, from this browser's storage, until it is
  // approved (then it comes with the page) or a week has passed.
  const heldKey = key(`held:${thread}`);
  const heldComments = () => JSON.parse(store.getItem(heldKey) || "[]");
  function showHeld() {
    const week = Date.now() - 7 * 86400000;
    const keep = heldComments().filter((c) => new Date(c.created_at).getTime() > week && !root.getElementById(`comment-${c.id}`));
    store.setItem(heldKey, JSON.stringify(keep));
    attach(keep);
    setCount(total);
  }

  function posted(comment) {
    if (comment.held) {
      store.setItem(heldKey, JSON.stringify([...heldComments(), comment]));
      setCount(total);
      return;
    }
    setCount(total + 1);
    if (waiting.delete(comment.id)) liveButton(); // our own comment came back over the stream first
  }

  // A permalink (#comment-ID) scrolls to the comment and highlights it, loading pages as needed.
  function permalink() {
    const match = /^#comment-(\d+)$/.exec(location.hash);
    return match ? match[1] : null;
  }
  function highlight() {
    const id = permalink();
    const target = id && root.getElementById(`comment-${id}`);
    if (!target) return;
    for (const old of root.querySelectorAll(".target")) old.classList.remove("target");
    target.classList.add("target");
    // Its conversation is laid out in full (not skipped by content-visibility), and the
    // scroll is done again once the layout has settled: a long conversation's real
    // height is only known then.
    const conversation = target.closest(".thread > li");
    if (conversation) conversation.style.contentVisibility = "visible";
    target.scrollIntoView({ block: "center" });
    target.focus({ preventScroll: true });
    requestAnimationFrame(() => requestAnimationFrame(() => target.scrollIntoView({ block: "center" })));
  }

  async function loadStrings() {
    const code = lang.toLowerCase().split("-")[0];
    if (!LANGUAGES.includes(code)) return;
    try {
      const response = await fetch(`${base}/i18n/${code}.json`, { credentials: "omit" });
      if (response.ok) {
        const loaded = await response.json();
        strings = { ...strings, ...loaded, errors: { ...strings.errors, ...loaded.errors } };
      }
    } catch {
      // English, then: better than no comment section
    }
  }

  function label() {
    section.setAttribute("aria-label", strings.label);
    el(".more").textContent = strings.more;
    el(".sort span").textContent = strings.sort;
    for (const option of select.options) option.textContent = strings[option.value];
    const feed = el(".feed a"); // an Atom feed of this thread's newest comments, on Parlour
    feed.textContent = strings.feed;
    feed.href = `${base}/feeds/${encodeURIComponent(site)}.atom?${new URLSearchParams({ thread })}`;
  }

  // Live: replies, and comments at the end of a whole thread, appear in place, marked new,
  // keeping what is read still; others wait behind a sticky "N new comments" button.
  const waiting = new Map();
  const arrived = new Set();
  function place(comment) {
    const seen = [...root.querySelectorAll(".comment > article")].find((a) => a.getBoundingClientRect().bottom > 0);
    const before = seen?.getBoundingClientRect().top;
    attach([comment]);
    const li = root.getElementById(`comment-${comment.id}`);
    if (!li) return;
    li.classList.add("fresh");
    li.querySelector("header")?.append(make("span", { class: "fresh-mark" }, strings.fresh));
    arrived.add(comment.id);
    setCount(total + 1);
    const moved = seen ? seen.getBoundingClientRect().top - before : 0;
    if (moved) scrollBy(0, moved); // if scroll anchoring did not
    announce(count(strings.newComments, 1));
  }
  function listen() {
    if (!window.EventSource) return;
    const params = new URLSearchParams({ site, thread });
    params.set("after", newest); // only comments newer than the page's (0: it had none)
    const events = new EventSource(`${base}/api/v1/events?${params}`);
    events.addEventListener("comment", (event) => {
      const comment = JSON.parse(event.data);
      if (root.getElementById(`comment-${comment.id}`) || waiting.has(comment.id)) return;
      // In place only where the page holds the whole conversation or thread: the stream
      // also brings recent comments of replies or pages not loaded yet.
      const parent = comment.parent_id && root.getElementById(`comment-${comment.parent_id}`);
      const whole = parent ? !parent.closest(".thread > li").querySelector(":scope > .more-replies") : !comment.parent_id && sort === "oldest" && !cursor;
      if (whole) return place(comment);
      waiting.set(comment.id, comment);
      announce(liveButton());
    });
  }
  function liveButton() {
    const text = count(strings.newComments, waiting.size);
    el(".live").textContent = text;
    el(".live").hidden = waiting.size === 0;
    return text;
  }
  el(".live").addEventListener("click", () => {
    const fresh = [...waiting.values()].filter((c) => !root.getElementById(`comment-${c.id}`));
    waiting.clear();
    el(".live").hidden = true;
    attach(fresh);
    setCount(total + fresh.length);
    const first = fresh.length && root.getElementById(`comment-${fresh[0].id}`);
    if (first) first.focus();
  });

  // "Are you the writer?": the desk, opened in a popup on Parlour's own origin (where its
  // session cookie is first-party), hands back a writer token with postMessage.
  function writerBar() {
    const bar = el(".writer");
    const signedIn = !!writer();
    const button = make("button", { type: "button", class: "link" }, signedIn ? strings.writerSignOut : strings.writerSignIn);
    button.addEventListener("click", () => {
      if (writer()) {
        api("DELETE", "/api/v1/writer-token", undefined, writer()).catch(() => {}); // end it on the server too
        setWriter(null);
        reload();
        whoChanged();
        return;
      }
      const url = `${base}/desk/widget?${new URLSearchParams({ site, origin: location.origin })}`;
      window.open(url, "parlour-writer", "popup,width=480,height=640");
    });
    bar.replaceChildren(...(signedIn ? [make("span", {}, strings.writerSignedIn), " "] : []), button);
  }
  // The writer signed in or out: the bars and the form follow.
  function whoChanged() {
    writerBar();
    readerBar();
    setSSO(sso);
  }
  addEventListener("message", (event) => {
    if (event.origin !== base || event.data?.type !== "parlour:writer" || event.data.site !== site) return;
    const old = writer();
    if (old && old !== event.data.token) api("DELETE", "/api/v1/writer-token", undefined, old).catch(() => {});
    setWriter(event.data.token, event.data.expires);
    whoChanged();
    reload();
  });

  // The reader's own sign-in: a popup on Parlour's origin mails them a link; once used,
  // it hands the session over. Signed in, they can download their data or delete it all.
  function setAccount(token, name) {
    if (token) {
      store.setItem(key("account"), token);
      if (name) store.setItem(key("account:name"), name);
    } else {
      store.removeItem(key("account"));
      store.removeItem(key("account:name"));
      mine = new Set();
    }
    readerBar();
    setSSO(sso); // the form follows
  }
  function readerBar() {
    const bar = el(".reader");
    if (writer() || sso) {
      bar.replaceChildren();
      return;
    }
    if (!account()) {
      const signIn = make("button", { type: "button", class: "link" }, strings.readerSignIn);
      signIn.addEventListener("click", () => {
        const url = `${base}/readers/sign-in?${new URLSearchParams({ site, origin: location.origin })}`;
        window.open(url, "parlour-reader", "popup,width=480,height=640");
      });
      bar.replaceChildren(signIn);
      return;
    }
    const name = store.getItem(key("account:name"));
    const data_ = make("button", { type: "button", class: "link" }, strings.myData);
    data_.addEventListener("click", async () => {
      try {
        const everything = await api("GET", `/api/v1/me/export?${new URLSearchParams({ site })}`);
        const link = make("a", { href: URL.createObjectURL(new Blob([JSON.stringify(everything, null, 2)], { type: "application/json" })), download: "parlour-my-data.json" });
        link.click();
      } catch (err) {
        status(message(err));
      }
    });
    const remove = make("button", { type: "button", class: "link" }, strings.deleteAccount);
    remove.addEventListener("click", () => {
      if (bar.querySelector("form")) return;
      const f = make("form", { class: "compose leave" });
      for (const [value, text] of [["remove", strings.deleteRemove], ["keep", strings.deleteKeep]]) {
        const option = make("label", { class: "choice" });
        const radio = make("input", { type: "radio", name: "comments", value, required: "" });
        option.append(radio, ` ${text}`);
        f.append(option);
      }
      const go = make("button", { type: "submit" }, strings.deleteConfirm);
      const cancel = make("button", { type: "button" }, strings.cancel);
      cancel.addEventListener("click", () => { f.remove(); remove.focus(); });
      const buttons = make("div", { class: "buttons" });
      buttons.append(go, cancel);
      f.append(buttons);
      f.addEventListener("submit", async (event) => {
        event.preventDefault();
        try {
          await api("DELETE", `/api/v1/me?${new URLSearchParams({ site })}`, { comments: f.querySelector("input:checked").value });
          setAccount(null);
          reload();
          status(strings.deleted);
        } catch (err) {
          status(message(err));
        }
      });
      bar.append(f);
      f.querySelector("input").focus();
    });
    const out = make("button", { type: "button", class: "link" }, strings.readerSignOut);
    out.addEventListener("click", () => {
      api("DELETE", `/api/v1/me/sessions?${new URLSearchParams({ site })}`).catch(() => {}); // every device
      setAccount(null);
      reload();
    });
    const who = make("span", {}, name ? strings.readerSignedIn.replace("{name}", name) : strings.verified);
    bar.replaceChildren(who, " ", data_, " ", remove, " ", out);
  }
  addEventListener("message", (event) => {
    if (event.origin !== base || event.data?.type !== "parlour:reader" || event.data.site !== site) return;
    setAccount(event.data.token, event.data.name);
    reload();
  });
  async function loadMine() {
    if (!account() || sso) return;
    try {
      const me = await api("GET", `/api/v1/me?${new URLSearchParams({ site, thread })}`);
      mine = new Set(me.comments);
      if (me.account.name) store.setItem(key("account:name"), me.account.name);
    } catch {
      mine = new Set();
    }
  }

  // The form for a new top-level comment.
  function newForm() {
    return form(null, (created) => {
      // At the end when the whole thread is shown (oldest first); at the top when later
      // pages are not loaded yet, or newest first: where the reader can see it.
      const atEnd = sort !== "newest" && !cursor;
      const li = add(el(".thread"), created, 0, null, atEnd ? null : el(".thread").firstChild);
      posted(created);
      if (li) {
        li.classList.add("target");
        li.scrollIntoView({ block: "nearest" });
        li.focus({ preventScroll: true });
      }
    });
  }

  // Who may comment: the thread's choice against this reader's sign-in (the token's
  // claims are read to choose what to show; Parlour checks the token itself).
  function ssoClaims() {
    if (!sso) return null;
    try {
      const part = sso.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
      const bytes = Uint8Array.from(atob(part + "===".slice((part.length + 3) % 4)), (c) => c.charCodeAt(0));
      return JSON.parse(new TextDecoder().decode(bytes));
    } catch {
      return null;
    }
  }
  function mayComment() {
    if (writer()) return true;
    if (locked || policy === "closed") return false;
    if (policy === "everyone") return true;
    if (policy === "signed-in" && account()) return true;
    const claims = ssoClaims();
    return Boolean(claims) && (policy !== "paid" || claims.tier === "paid");
  }
  // The new-comment form, or (once, above) why this reader may not comment and where to sign in.
  function gate() {
    const box = el(".new");
    const allowed = mayComment();
    const formNow = box.querySelector("form");
    if (formNow) formNow.hidden = !allowed;
    box.querySelector(".gate")?.remove();
    if (!allowed || locked) {
      const why = locked ? strings.locked : { "signed-in": strings.onlySignedIn, members: strings.onlyMembers, paid: strings.onlyPaid }[policy] || strings.closed;
      const note = make("p", { class: "gate" }, why);
      const signIn = data.signIn ? new URL(data.signIn, location.href) : null;
      if (!locked && policy !== "closed" && signIn && /^https?:$/.test(signIn.protocol)) {
        note.append(" ", make("a", { href: signIn.href }, strings.signIn)); // the writer's own sign-in page
      }
      box.prepend(note);
    }
    for (const button of root.querySelectorAll("button.reply")) button.hidden = !allowed;
    if (!allowed) for (const open of root.querySelectorAll("li > form.compose")) open.remove();
    setCount(total);
  }
  function setSSO(token) {
    sso = token || null;
    el(".new form")?.replaceWith(newForm());
    for (const open of root.querySelectorAll("li > form.compose")) open.remove();
    gate();
  }
  // For pages that sign their reader in after loading: parlour.sso(token), or null to sign out.
  window.parlour = Object.assign(window.parlour || {}, { sso: (token) => setSSO(token) });

  async function start() {
    const [page] = await first;
    if (writer()) {
      // Before anything is drawn: an ended sign-in must not show the writer's buttons.
      const expires = store.getItem(key("writer:expires"));
      if (!expires || Date.parse(expires) <= Date.now()) setWriter(null);
      else setWriter(writer(), expires);
    }
    label();
    await loadMine();
    el(".new").append(newForm());
    show(page);
    readerBar();
    performance.mark("parlour:shown");
    showHeld();
    writerBar();
    host.style.minHeight = "";
    section.classList.remove("loading");
    highlight();
    listen();
  }

  async function reload() {
    cursor = null;
    await loadMine();
    el(".thread").replaceChildren();
    try {
      show(await fetchPage(permalink()));
      highlight();
    } catch (err) {
      status(message(err));
    }
  }

  select.addEventListener("change", () => {
    sort = select.value;
    store.setItem(key("sort"), sort);
    reload();
  });
  addEventListener("hashchange", () => {
    const id = permalink();
    if (id && !root.getElementById(`comment-${id}`)) reload();
    else highlight();
  });
  el(".more").addEventListener("click", () => fetchPage().then(show).catch((err) => status(message(err))));
  if (!site) {
    status("Parlour: add data-site=\"YOUR-SITE\" to the embed.js script tag.");
    return;
  }
  start().catch((err) => { // only the reason is drawn
    host.style.minHeight = "";
    status(err.code === "origin_not_allowed" ? strings.unavailable : strings.errors[err.code] || strings.loadError);
  });
})();
