/*!
 * Omnivox chat widget
 *
 * Embed on any page with a single tag:
 *
 *   <script src="https://HOST/widget.js" data-workspace="acme" defer></script>
 *
 * Optional attributes:
 *   data-open="true"          start with the chat panel open
 *   data-title="Acme Store"   text shown in the panel header
 *   data-accent="#2f6f4f"     accent colour (any CSS colour)
 *
 * Any element on the host page carrying data-omnivox-ask="question" opens the
 * widget and sends that question when clicked.
 *
 * Design notes
 *   - No dependencies, no build step, plain ES2019.
 *   - Safe under a strict Content-Security-Policy: no eval, no inline event
 *     handlers, no style attributes parsed from strings, no innerHTML. All
 *     customer/model text is inserted with createTextNode/textContent.
 *   - Styles live in an open shadow root (constructable stylesheet, with a
 *     <style> element fallback that inherits the script's CSP nonce), so the
 *     host page's CSS does not leak in and ours does not leak out.
 */
(function () {
  "use strict";

  // ---------------------------------------------------------------------------
  // Constants
  // ---------------------------------------------------------------------------

  const HOST_ID = "omnivox-widget";
  const MAX_CHARS = 4000; // hard limit enforced by the server as well
  const COUNTER_FROM = 3600; // show the character counter from here on
  const BACKOFF_MIN_MS = 500;
  const BACKOFF_MAX_MS = 8000;
  const TYPING_TIMEOUT_MS = 60000; // hide a stale typing indicator after this
  const INPUT_MAX_HEIGHT = 132; // px, about five lines; matches .ov-input max-height
  // Drafts (only when the session frame asks for them): what the customer has typed so far, sent
  // at most once a second while they type (without the word being typed) and whole when they
  // pause, so the server can look up passages before the message is sent. The server never
  // stores or answers a draft.
  const DRAFT_PAUSE_MS = 300;
  const DRAFT_EVERY_MS = 1000;
  const DRAFT_MIN_CHARS = 8;
  const DEFAULT_ACCENT = "#2f6f4f";
  const DEFAULT_TITLE = "Chat with us";
  const SVG_NS = "http://www.w3.org/2000/svg";

  // Never initialise twice (e.g. the tag was included by two templates).
  if (document.getElementById(HOST_ID) || window.__omnivoxLoaded) {
    return;
  }
  window.__omnivoxLoaded = true;

  // ---------------------------------------------------------------------------
  // Configuration from our own <script> tag. document.currentScript is only
  // available synchronously, so this must run before anything is deferred.
  // ---------------------------------------------------------------------------

  function findOwnScript() {
    const current = document.currentScript;
    if (current && current.src) {
      return current;
    }
    // Fallback (e.g. the code was wrapped/loaded in an unusual way): the last
    // script whose URL path ends with /widget.js.
    const scripts = document.getElementsByTagName("script");
    for (let i = scripts.length - 1; i >= 0; i--) {
      const src = scripts[i].src;
      if (!src) continue;
      try {
        if (new URL(src, document.baseURI).pathname.endsWith("/widget.js")) {
          return scripts[i];
        }
      } catch (_err) {
        /* unparsable src: ignore */
      }
    }
    return null;
  }

  const script = findOwnScript();
  if (!script) {
    console.error("[omnivox] could not locate the widget <script> tag");
    return;
  }

  const scriptUrl = new URL(script.src, document.baseURI);
  const wsOrigin = (scriptUrl.protocol === "https:" ? "wss:" : "ws:") + "//" + scriptUrl.host;
  const workspace = (script.getAttribute("data-workspace") || "").trim();
  if (!workspace) {
    console.error('[omnivox] the widget <script> tag needs a data-workspace="..." attribute');
    return;
  }
  const config = {
    workspace: workspace,
    title: (script.getAttribute("data-title") || "").trim() || DEFAULT_TITLE,
    accent: (script.getAttribute("data-accent") || "").trim(),
    startOpen: isTruthyAttr(script.getAttribute("data-open")),
    nonce: script.nonce || script.getAttribute("nonce") || "",
  };

  /** `data-open`, `data-open=""` and `data-open="true"` mean open. */
  function isTruthyAttr(value) {
    if (value === null) return false;
    return ["false", "0", "no", "off"].indexOf(value.trim().toLowerCase()) === -1;
  }

  // ---------------------------------------------------------------------------
  // Visitor id persistence (localStorage, with an in-memory fallback for
  // sandboxed iframes / privacy modes where storage throws).
  // ---------------------------------------------------------------------------

  const STORAGE_KEY = "omnivox.visitor." + config.workspace;
  const memoryStore = Object.create(null);

  function getVisitor() {
    try {
      const stored = window.localStorage.getItem(STORAGE_KEY);
      if (stored) return stored;
    } catch (_err) {
      /* storage unavailable */
    }
    return memoryStore[STORAGE_KEY] || null;
  }

  function setVisitor(id) {
    memoryStore[STORAGE_KEY] = id;
    try {
      window.localStorage.setItem(STORAGE_KEY, id);
    } catch (_err) {
      /* storage unavailable: keep the in-memory copy for reconnects */
    }
  }

  function forgetVisitor() {
    delete memoryStore[STORAGE_KEY];
    try {
      window.localStorage.removeItem(STORAGE_KEY);
    } catch (_err) {
      /* ignore */
    }
  }

  // ---------------------------------------------------------------------------
  // Small DOM helpers (no innerHTML anywhere).
  // ---------------------------------------------------------------------------

  /**
   * Create an element. `attrs.text` sets textContent, `attrs.className` sets
   * the class; everything else becomes an attribute (false/null are skipped).
   */
  function el(tag, attrs, children) {
    const node = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (name) {
        const value = attrs[name];
        if (value === false || value === null || value === undefined) return;
        if (name === "text") node.textContent = String(value);
        else if (name === "className") node.className = value;
        else node.setAttribute(name, value === true ? "" : String(value));
      });
    }
    (children || []).forEach(function (child) {
      if (child === null || child === undefined) return;
      node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    });
    return node;
  }

  function clear(node) {
    while (node.firstChild) node.removeChild(node.firstChild);
  }

  /** A 24x24 stroke icon built from path data. */
  function icon(paths, className) {
    const svg = document.createElementNS(SVG_NS, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("width", "22");
    svg.setAttribute("height", "22");
    svg.setAttribute("fill", "none");
    svg.setAttribute("stroke", "currentColor");
    svg.setAttribute("stroke-width", "2");
    svg.setAttribute("stroke-linecap", "round");
    svg.setAttribute("stroke-linejoin", "round");
    svg.setAttribute("aria-hidden", "true");
    svg.setAttribute("focusable", "false");
    if (className) svg.setAttribute("class", className);
    paths.forEach(function (d) {
      const path = document.createElementNS(SVG_NS, "path");
      path.setAttribute("d", d);
      svg.appendChild(path);
    });
    return svg;
  }

  const ICONS = {
    chat: [
      "M21 11.5a8.4 8.4 0 0 1-.9 3.8 8.5 8.5 0 0 1-7.6 4.7 8.4 8.4 0 0 1-3.8-.9L3 21l1.9-5.7a8.4 8.4 0 0 1-.9-3.8 8.5 8.5 0 0 1 4.7-7.6 8.4 8.4 0 0 1 3.8-.9h.5a8.5 8.5 0 0 1 8 8v.5z",
    ],
    close: ["M18 6L6 18", "M6 6l12 12"],
    chevronDown: ["M6 9l6 6 6-6"],
    send: ["M22 2L11 13", "M22 2l-7 20-4-9-9-4 20-7z"],
  };

  /** Returns a normalised http(s) URL, or null for anything else. */
  function safeHttpUrl(value) {
    try {
      const url = new URL(String(value));
      if (url.protocol === "http:" || url.protocol === "https:") return url.href;
    } catch (_err) {
      /* not a URL */
    }
    return null;
  }

  /** Number of characters as the server (Python `len`) counts them. */
  function charCount(text) {
    // UTF-16 length is an upper bound on code points; only pay for the exact
    // count when it could matter.
    return text.length <= COUNTER_FROM ? text.length : Array.from(text).length;
  }

  // ---------------------------------------------------------------------------
  // Safe rich text: paragraphs, line breaks and auto-linked http(s) URLs.
  //
  // Everything is built with DOM APIs. Separator whitespace is kept as text
  // nodes so that an element's textContent equals the original text.
  // ---------------------------------------------------------------------------

  const URL_PATTERN = /\bhttps?:\/\/[^\s<>"'`]+/gi;
  const TRAILING_PUNCTUATION = ".,;:!?'\"*";
  const CLOSING_BRACKETS = { ")": "(", "]": "[", "}": "{" };

  function countChar(text, ch) {
    return text.split(ch).length - 1;
  }

  /** Drop sentence punctuation (and unbalanced closing brackets) from a URL. */
  function trimUrl(url) {
    for (;;) {
      const last = url.charAt(url.length - 1);
      if (TRAILING_PUNCTUATION.indexOf(last) !== -1) {
        url = url.slice(0, -1);
        continue;
      }
      const opening = CLOSING_BRACKETS[last];
      if (opening && countChar(url, opening) < countChar(url, last)) {
        url = url.slice(0, -1);
        continue;
      }
      return url;
    }
  }

  function appendLinkified(parent, text) {
    let cursor = 0;
    let match;
    URL_PATTERN.lastIndex = 0;
    while ((match = URL_PATTERN.exec(text)) !== null) {
      const raw = trimUrl(match[0]); // always keeps at least "http://"
      const start = match.index;
      const end = start + raw.length;
      if (start > cursor) parent.appendChild(document.createTextNode(text.slice(cursor, start)));
      const href = safeHttpUrl(raw);
      parent.appendChild(
        href
          ? el("a", { href: href, target: "_blank", rel: "noopener noreferrer", text: raw })
          : document.createTextNode(raw)
      );
      cursor = end;
      URL_PATTERN.lastIndex = end;
    }
    if (cursor < text.length) parent.appendChild(document.createTextNode(text.slice(cursor)));
  }

  function renderRichText(container, text) {
    clear(container);
    // Odd indices of the split are the blank-line separators between paragraphs.
    const parts = String(text).replace(/\r\n?/g, "\n").split(/(\n\s*\n)/);
    parts.forEach(function (part, index) {
      if (index % 2 === 1 || !part.trim()) {
        if (part) container.appendChild(document.createTextNode(part));
        return;
      }
      const paragraph = el("p");
      part.split("\n").forEach(function (line, lineIndex) {
        if (lineIndex > 0) {
          paragraph.appendChild(el("br"));
          paragraph.appendChild(document.createTextNode("\n"));
        }
        appendLinkified(paragraph, line);
      });
      container.appendChild(paragraph);
    });
  }

  // ---------------------------------------------------------------------------
  // Accent colour handling. The value is validated by the browser's CSS parser
  // and applied through the CSSOM (never string-concatenated into CSS).
  // ---------------------------------------------------------------------------

  function isValidColor(value) {
    return !!value && value.length <= 64 && !!(window.CSS && CSS.supports && CSS.supports("color", value));
  }

  /** Relative luminance (WCAG) of an "rgb(r, g, b)" string, or null. */
  function luminanceOf(rgbString) {
    const m = /rgba?\(\s*([\d.]+)[,\s]+([\d.]+)[,\s]+([\d.]+)/.exec(rgbString || "");
    if (!m) return null;
    const channels = [m[1], m[2], m[3]].map(function (v) {
      const c = Number(v) / 255;
      return c <= 0.03928 ? c / 12.92 : Math.pow((c + 0.055) / 1.055, 2.4);
    });
    return 0.2126 * channels[0] + 0.7152 * channels[1] + 0.0722 * channels[2];
  }

  /**
   * Set --ov-accent plus a readable foreground for it (--ov-on-accent) and a
   * link colour that stays legible on white (--ov-link).
   */
  function applyAccent(host, requested) {
    const accent = isValidColor(requested) ? requested : DEFAULT_ACCENT;
    host.style.setProperty("--ov-accent", accent);

    // Let the browser resolve the colour to rgb() for us.
    host.style.color = accent;
    const lum = luminanceOf(window.getComputedStyle(host).color);
    host.style.removeProperty("color");
    if (lum === null) return;

    const contrastWithWhite = 1.05 / (lum + 0.05);
    const contrastWithBlack = (lum + 0.05) / 0.05;
    host.style.setProperty("--ov-on-accent", contrastWithWhite >= contrastWithBlack ? "#ffffff" : "#111827");
    host.style.setProperty("--ov-link", contrastWithWhite >= 3 ? accent : "#1d4ed8");
  }

  // ---------------------------------------------------------------------------
  // Stylesheet
  // ---------------------------------------------------------------------------

  const CSS_TEXT = [
    ":host { all: initial; }",
    "[hidden] { display: none !important; }",
    ".ov-root, .ov-root *, .ov-root *::before, .ov-root *::after { box-sizing: border-box; }",
    ".ov-root {",
    "  --_accent: var(--ov-accent, " + DEFAULT_ACCENT + ");",
    "  --_on-accent: var(--ov-on-accent, #ffffff);",
    "  --_link: var(--ov-link, var(--_accent));",
    "  --_z: 2147483000;",
    '  font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, "Noto Sans", sans-serif, "Apple Color Emoji", "Segoe UI Emoji";',
    "  font-size: 15px; line-height: 1.45; color: #1f2328;",
    "  -webkit-font-smoothing: antialiased; -webkit-text-size-adjust: 100%;",
    "}",
    ".ov-sr-only { position: absolute; width: 1px; height: 1px; margin: -1px; padding: 0; overflow: hidden; clip: rect(0 0 0 0); clip-path: inset(50%); white-space: nowrap; border: 0; }",
    "button { font: inherit; }",

    /* Launcher */
    ".ov-launcher { position: fixed; right: 20px; bottom: 20px; z-index: var(--_z); width: 56px; height: 56px; padding: 0; border: 0; border-radius: 50%; cursor: pointer; display: grid; place-items: center; background: var(--_accent); color: var(--_on-accent); box-shadow: 0 6px 20px rgba(16, 24, 40, 0.22), 0 2px 4px rgba(16, 24, 40, 0.12); transition: transform 0.18s ease, box-shadow 0.18s ease; }",
    ".ov-launcher:hover { transform: translateY(-1px) scale(1.04); box-shadow: 0 10px 28px rgba(16, 24, 40, 0.26), 0 2px 6px rgba(16, 24, 40, 0.14); }",
    ".ov-launcher:focus-visible { outline: none; box-shadow: 0 0 0 3px #ffffff, 0 0 0 6px var(--_accent); }",
    ".ov-launcher svg { width: 26px; height: 26px; }",
    ".ov-launcher .ov-icon-close { display: none; }",
    ".is-open .ov-launcher .ov-icon-chat { display: none; }",
    ".is-open .ov-launcher .ov-icon-close { display: block; }",
    ".ov-badge { position: absolute; top: 3px; right: 3px; width: 13px; height: 13px; border-radius: 50%; background: #e5484d; border: 2px solid #ffffff; }",

    /* Panel */
    ".ov-panel { position: fixed; right: 20px; bottom: 88px; z-index: var(--_z); width: 360px; height: 520px; max-width: calc(100vw - 40px); max-height: calc(100vh - 108px); display: flex; flex-direction: column; overflow: hidden; background: #ffffff; border: 1px solid rgba(16, 24, 40, 0.06); border-radius: 16px; box-shadow: 0 16px 48px rgba(16, 24, 40, 0.2), 0 4px 12px rgba(16, 24, 40, 0.08); transform-origin: bottom right; animation: ov-pop 0.18s ease-out; }",
    "@keyframes ov-pop { from { opacity: 0; transform: translateY(8px) scale(0.98); } to { opacity: 1; transform: none; } }",

    /* Header */
    ".ov-header { flex: none; display: flex; align-items: center; gap: 12px; padding: 14px 12px 14px 16px; background: var(--_accent); color: var(--_on-accent); }",
    ".ov-avatar { flex: none; width: 36px; height: 36px; border-radius: 50%; display: grid; place-items: center; font-weight: 600; font-size: 16px; background: rgba(255, 255, 255, 0.18); box-shadow: inset 0 0 0 1px rgba(255, 255, 255, 0.25); }",
    ".ov-heading { flex: 1; min-width: 0; }",
    ".ov-title { margin: 0; font-size: 16px; font-weight: 600; line-height: 1.25; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }",
    ".ov-status { margin: 2px 0 0; display: flex; align-items: center; gap: 6px; font-size: 12.5px; opacity: 0.88; }",
    ".ov-dot { flex: none; width: 8px; height: 8px; border-radius: 50%; background: #f5a524; box-shadow: 0 0 0 2px rgba(255, 255, 255, 0.28); transition: background 0.2s ease; }",
    ".is-connected .ov-dot { background: #3ecf8e; }",
    ".ov-close { flex: none; width: 36px; height: 36px; padding: 0; border: 0; border-radius: 10px; cursor: pointer; display: grid; place-items: center; background: transparent; color: inherit; }",
    ".ov-close:hover { background: rgba(255, 255, 255, 0.16); }",
    ".ov-close:focus-visible { outline: 2px solid currentColor; outline-offset: -2px; }",

    /* Message list */
    ".ov-log { flex: 1; min-height: 0; overflow-y: auto; overscroll-behavior: contain; display: flex; flex-direction: column; gap: 10px; padding: 16px 14px 10px; background: #f7f8fa; }",
    ".ov-log:focus-visible { outline: 2px solid var(--_accent); outline-offset: -2px; }",
    ".ov-empty { margin: auto 0; padding: 24px 12px; text-align: center; color: #57606a; font-size: 14px; }",
    ".ov-empty-title { margin: 0 0 4px; font-size: 16px; font-weight: 600; color: #1f2328; }",
    ".ov-empty p { margin: 0; }",

    ".ov-msg { position: relative; display: flex; flex-direction: column; align-items: flex-start; align-self: flex-start; max-width: 86%; animation: ov-in 0.16s ease-out; }",
    "@keyframes ov-in { from { opacity: 0; transform: translateY(4px); } to { opacity: 1; transform: none; } }",
    /* Screen-reader-only speaker prefix, kept out of textContent. */
    ".ov-msg::before { content: attr(data-sr-label); position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); clip-path: inset(50%); white-space: nowrap; }",
    ".ov-msg--customer { align-self: flex-end; align-items: flex-end; }",
    ".ov-label { margin: 0 0 3px 4px; font-size: 11px; font-weight: 700; letter-spacing: 0.05em; text-transform: uppercase; color: #8a6d1f; }",
    ".ov-bubble { max-width: 100%; padding: 9px 13px; border-radius: 16px; background: #ffffff; color: #1f2328; border: 1px solid #e6e8eb; box-shadow: 0 1px 2px rgba(16, 24, 40, 0.04); overflow-wrap: anywhere; word-break: break-word; }",
    ".ov-msg--assistant .ov-bubble { border-bottom-left-radius: 6px; }",
    ".ov-msg--agent .ov-bubble { border-bottom-left-radius: 6px; background: #fffaeb; border-color: #f3e3b5; }",
    ".ov-msg--customer .ov-bubble { border-bottom-right-radius: 6px; border-color: transparent; background: var(--_accent); color: var(--_on-accent); white-space: pre-wrap; }",
    ".ov-text p { margin: 0 0 0.6em; }",
    ".ov-text p:last-child { margin-bottom: 0; }",
    ".ov-text a { color: var(--_link); text-decoration: underline; text-underline-offset: 2px; }",
    ".ov-text a:focus-visible { outline: 2px solid var(--_link); outline-offset: 1px; border-radius: 2px; }",
    ".ov-rating { display: flex; gap: 6px; margin-top: 8px; }",
    ".ov-rating-button { border: 1px solid currentColor; background: transparent; border-radius: 50%; width: 32px; height: 32px; cursor: pointer; font: inherit; }",
    /* Blinking caret while a reply streams in. */
    '.ov-msg[data-state="streaming"] .ov-text > p:last-of-type::after, .ov-msg[data-state="streaming"] .ov-text:empty::after { content: ""; display: inline-block; width: 7px; height: 1em; margin-left: 2px; vertical-align: -0.15em; border-radius: 1px; background: currentColor; opacity: 0.45; animation: ov-blink 1s steps(2, start) infinite; }',
    "@keyframes ov-blink { to { visibility: hidden; } }",
    /* Status captions (generated content, so they stay out of textContent). */
    '.ov-msg[data-state="queued"] .ov-bubble { opacity: 0.6; }',
    '.ov-msg[data-state="queued"]::after { content: "Waiting for connection\u2026"; }',
    '.ov-msg.is-interrupted::after { content: "Connection lost \u2014 reply interrupted"; }',
    '.ov-msg[data-state="sending"] .ov-bubble { opacity: 0.8; }',
    '.ov-msg[data-state="failed"] .ov-bubble { opacity: 0.6; }',
    '.ov-msg[data-state="failed"]::after { content: "Not sent"; }',
    '.ov-msg[data-state="queued"]::after, .ov-msg[data-state="failed"]::after, .ov-msg.is-interrupted::after { margin: 3px 4px 0; font-size: 11.5px; color: #6b7280; }',

    /* Sources */
    ".ov-sources { margin: 6px 2px 0; max-width: 100%; font-size: 12.5px; color: #57606a; }",
    ".ov-sources-label { display: block; margin: 0 0 4px 2px; font-size: 11px; font-weight: 700; letter-spacing: 0.05em; text-transform: uppercase; color: #6b7280; }",
    ".ov-sources-list { list-style: none; margin: 0; padding: 0; display: flex; flex-wrap: wrap; gap: 6px; }",
    ".ov-source { max-width: 100%; }",
    ".ov-source > a, .ov-source > span { display: inline-block; max-width: 100%; vertical-align: top; padding: 3px 10px; border-radius: 999px; background: #ffffff; border: 1px solid #e1e4e8; color: #3d444d; text-decoration: none; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }",
    ".ov-source > a { color: var(--_link); }",
    ".ov-source > a:hover { border-color: var(--_link); }",
    ".ov-source > a:focus-visible { outline: 2px solid var(--_link); outline-offset: 1px; }",

    /* Typing indicator and notices */
    ".ov-typing { align-self: flex-start; display: inline-flex; gap: 4px; padding: 12px 14px; background: #ffffff; border: 1px solid #e6e8eb; border-radius: 16px; border-bottom-left-radius: 6px; }",
    ".ov-typing span { width: 6px; height: 6px; border-radius: 50%; background: #9aa1a9; animation: ov-bounce 1.2s infinite ease-in-out; }",
    ".ov-typing span:nth-child(2) { animation-delay: 0.15s; }",
    ".ov-typing span:nth-child(3) { animation-delay: 0.3s; }",
    "@keyframes ov-bounce { 0%, 60%, 100% { transform: none; opacity: 0.5; } 30% { transform: translateY(-4px); opacity: 1; } }",
    ".ov-notice { align-self: center; max-width: 92%; padding: 6px 10px; border-radius: 10px; font-size: 12.5px; text-align: center; color: #b42318; background: #fef3f2; border: 1px solid #fecdca; }",

    /* Composer */
    ".ov-composer { flex: none; display: flex; align-items: flex-end; gap: 8px; padding: 10px 12px 6px; background: #ffffff; border-top: 1px solid #eceef1; }",
    ".ov-input { flex: 1; min-width: 0; min-height: 40px; max-height: 132px; margin: 0; padding: 9px 12px; resize: none; overflow-y: hidden; font: inherit; font-size: 15px; line-height: 1.4; color: inherit; background: #ffffff; border: 1px solid #d7dbe0; border-radius: 12px; outline: none; transition: border-color 0.15s ease, box-shadow 0.15s ease; }",
    ".ov-input::placeholder { color: #6b7280; }", /* 4.8:1 on white (AA) */
    ".ov-input:focus { border-color: var(--_accent); box-shadow: 0 0 0 1px var(--_accent); }",
    '.ov-input[aria-invalid="true"] { border-color: #d92d20; box-shadow: 0 0 0 1px #d92d20; }',
    ".ov-send { flex: none; width: 40px; height: 40px; padding: 0; border: 0; border-radius: 12px; cursor: pointer; display: grid; place-items: center; background: var(--_accent); color: var(--_on-accent); transition: opacity 0.15s ease, transform 0.15s ease; }",
    ".ov-send svg { width: 19px; height: 19px; }",
    ".ov-send:hover { transform: translateY(-1px); }",
    '.ov-send[aria-disabled="true"] { opacity: 0.4; cursor: default; transform: none; }',
    ".ov-send:focus-visible { outline: none; box-shadow: 0 0 0 2px #ffffff, 0 0 0 4px var(--_accent); }",
    ".ov-meta { flex: none; display: flex; justify-content: space-between; gap: 8px; padding: 0 14px 8px; font-size: 11.5px; color: #6b7280; background: #ffffff; }",
    ".ov-limit { color: #d92d20; }",
    ".ov-counter { margin-left: auto; font-variant-numeric: tabular-nums; }",
    ".ov-counter.is-warn { color: #b54708; }",
    ".ov-counter.is-over { color: #d92d20; font-weight: 600; }",

    /* Small screens: full-screen panel; the header close button replaces the launcher. */
    "@media (max-width: 480px) {",
    "  .ov-panel { top: 0; right: 0; bottom: 0; left: 0; width: 100%; height: 100%; max-width: none; max-height: none; border: 0; border-radius: 0; }",
    "  .is-open .ov-launcher { display: none; }",
    "  .ov-input { font-size: 16px; }", // prevents iOS zoom-on-focus
    "}",
    "@media (prefers-reduced-motion: reduce) {",
    "  .ov-root *, .ov-root *::before, .ov-root *::after { animation: none !important; transition: none !important; }",
    "}",
  ].join("\n");

  /** Prefer a constructable stylesheet (not subject to CSP style-src). */
  function installStyles(shadow) {
    try {
      if ("adoptedStyleSheets" in ShadowRoot.prototype && typeof CSSStyleSheet === "function") {
        const sheet = new CSSStyleSheet();
        sheet.replaceSync(CSS_TEXT);
        shadow.adoptedStyleSheets = [sheet];
        return;
      }
    } catch (_err) {
      /* fall through to a <style> element */
    }
    const style = el("style", { nonce: config.nonce || null });
    style.textContent = CSS_TEXT;
    shadow.appendChild(style);
  }

  // ---------------------------------------------------------------------------
  // The widget
  // ---------------------------------------------------------------------------

  function init() {
    // -- State ----------------------------------------------------------------
    let isOpen = false;
    let assistantName = "";
    let conversationId = null;
    let items = []; // rendered messages & notices: {kind, role, el, textEl, text, epoch}
    let streaming = null; // the assistant message currently receiving deltas
    const outbox = []; // customer messages waiting for a connection: {text, item}

    let ws = null;
    let epoch = 0; // incremented for every session frame (i.e. per connection)
    let unacknowledged = []; // sent on this connection, no "typing" yet (oldest first)
    let answering = null; // the message whose answer is being written (until its last frame)
    let sessionReady = false; // a session frame arrived on the current socket
    let attempt = 0; // reconnect attempts since the last successful session
    let reconnectTimer = null;
    let typingTimer = null;
    let everConnected = false;
    let suspended = false; // page is in the back/forward cache
    let draftsWanted = false; // the server reads drafts ahead (session frame)
    let draftTimer = null;
    let lastDraft = "";
    let lastDraftAt = 0;

    // -- Host + shadow root ---------------------------------------------------
    const host = el("div", { id: HOST_ID, "data-connected": "false", "data-workspace": config.workspace });
    document.body.appendChild(host);
    const shadow = host.attachShadow({ mode: "open" });
    installStyles(shadow);
    applyAccent(host, config.accent);

    // -- Build the UI ---------------------------------------------------------
    const titleText = config.title;
    const initial = (Array.from(titleText)[0] || "?").toUpperCase();

    const statusText = el("span", { text: "Connecting\u2026" });
    const header = el("div", { className: "ov-header" }, [
      el("div", { className: "ov-avatar", "aria-hidden": "true", text: initial }),
      el("div", { className: "ov-heading" }, [
        el("h2", { className: "ov-title", id: "ov-title", text: titleText }),
        el("p", { className: "ov-status", id: "ov-status", role: "status" }, [
          el("span", { className: "ov-dot", "aria-hidden": "true" }),
          statusText,
        ]),
      ]),
    ]);
    const closeButton = el("button", { type: "button", className: "ov-close", "aria-label": "Close chat" }, [
      icon(ICONS.chevronDown),
    ]);
    header.appendChild(closeButton);

    const emptyName = el("span", { text: "us" });
    const emptyState = el("div", { className: "ov-empty" }, [
      el("p", { className: "ov-empty-title", text: "Hi there!" }),
      el("p", {}, ["Ask ", emptyName, " anything \u2014 we usually reply in seconds."]),
    ]);
    const typing = el("div", { className: "ov-typing", hidden: true, "aria-hidden": "true" }, [
      el("span"),
      el("span"),
      el("span"),
    ]);
    const log = el(
      "div",
      {
        className: "ov-log",
        "data-testid": "omnivox-messages",
        role: "log",
        "aria-live": "polite",
        "aria-relevant": "additions text",
        "aria-label": "Conversation",
        tabindex: "0",
      },
      [emptyState, typing]
    );

    const input = el("textarea", {
      className: "ov-input",
      "data-testid": "omnivox-input",
      rows: "1",
      placeholder: "Type your message\u2026",
      "aria-label": "Message",
      "aria-describedby": "ov-hint",
      autocomplete: "off",
      enterkeyhint: "send",
    });
    const sendButton = el(
      "button",
      { type: "submit", className: "ov-send", "data-testid": "omnivox-send", "aria-label": "Send message", "aria-disabled": "true" },
      [icon(ICONS.send)]
    );
    const form = el("form", { className: "ov-composer", novalidate: true }, [input, sendButton]);

    const hint = el("span", { id: "ov-hint", text: "Enter to send \u00B7 Shift+Enter for a new line" });
    const limitNotice = el("span", {
      className: "ov-limit",
      role: "status",
      text: "",
    });
    const counter = el("span", { className: "ov-counter", "aria-hidden": "true", hidden: true });
    const meta = el("div", { className: "ov-meta" }, [hint, limitNotice, counter]);

    const panel = el(
      "div",
      {
        className: "ov-panel",
        "data-testid": "omnivox-panel",
        id: "ov-panel",
        role: "dialog",
        "aria-labelledby": "ov-title",
        "aria-describedby": "ov-status",
        hidden: true,
      },
      [header, log, form, meta]
    );

    // Full screen on a phone: the panel is then a modal dialog and Tab stays inside it.
    const fullScreen = window.matchMedia ? window.matchMedia("(max-width: 480px)") : null;
    function syncModal() {
      if (fullScreen && fullScreen.matches) panel.setAttribute("aria-modal", "true");
      else panel.removeAttribute("aria-modal");
    }
    syncModal();
    if (fullScreen && fullScreen.addEventListener) fullScreen.addEventListener("change", syncModal);
    panel.addEventListener("keydown", function (event) {
      if (event.key !== "Tab" || !fullScreen || !fullScreen.matches) return;
      const focusable = Array.prototype.filter.call(
        panel.querySelectorAll('button, textarea, input, a[href], [tabindex]:not([tabindex="-1"])'),
        function (node) { return !node.disabled && node.offsetParent !== null; }
      );
      if (!focusable.length) return;
      const first = focusable[0];
      const last = focusable[focusable.length - 1];
      if (event.shiftKey && shadow.activeElement === first) {
        event.preventDefault();
        last.focus();
      } else if (!event.shiftKey && shadow.activeElement === last) {
        event.preventDefault();
        first.focus();
      }
    });

    const badge = el("span", { className: "ov-badge", hidden: true, "aria-hidden": "true" });
    const launcher = el(
      "button",
      {
        type: "button",
        className: "ov-launcher",
        "data-testid": "omnivox-launcher",
        "aria-label": "Open chat",
        "aria-expanded": "false",
        "aria-controls": "ov-panel",
      },
      [icon(ICONS.chat, "ov-icon-chat"), icon(ICONS.close, "ov-icon-close"), badge]
    );

    const root = el("div", { className: "ov-root" }, [panel, launcher]);
    shadow.appendChild(root);

    // -- Panel open / close ---------------------------------------------------

    function setOpen(open, options) {
      const moveFocus = !options || options.focus !== false;
      if (open === isOpen) {
        if (open && moveFocus) input.focus();
        return;
      }
      isOpen = open;
      panel.hidden = !open;
      root.classList.toggle("is-open", open);
      launcher.setAttribute("aria-expanded", String(open));
      if (open) {
        setUnread(false);
        autosizeInput();
        scrollToBottom(true);
        if (moveFocus) input.focus({ preventScroll: true });
      } else {
        // Only pull focus back if it was inside the widget.
        if (moveFocus && shadow.activeElement) launcher.focus();
      }
      updateLauncherLabel();
    }

    function setUnread(unread) {
      badge.hidden = !unread;
      updateLauncherLabel();
    }

    function updateLauncherLabel() {
      const label = isOpen ? "Close chat" : badge.hidden ? "Open chat" : "Open chat (new message)";
      launcher.setAttribute("aria-label", label);
    }

    launcher.addEventListener("click", function () {
      setOpen(!isOpen);
    });
    closeButton.addEventListener("click", function () {
      setOpen(false);
    });
    panel.addEventListener("keydown", function (event) {
      if (event.key === "Escape") {
        event.stopPropagation();
        setOpen(false);
      }
    });

    // -- Connection state display --------------------------------------------

    function renderStatus() {
      const connected = !!ws && ws.readyState === WebSocket.OPEN;
      host.setAttribute("data-connected", String(connected));
      root.classList.toggle("is-connected", connected);
      if (connected) statusText.textContent = assistantName ? assistantName + " \u00B7 Online" : "Online";
      else if (navigator.onLine === false) statusText.textContent = "Offline \u2014 will reconnect";
      else statusText.textContent = everConnected ? "Reconnecting\u2026" : "Connecting\u2026";
    }

    // -- Message list ---------------------------------------------------------

    function isNearBottom() {
      return log.scrollHeight - log.scrollTop - log.clientHeight < 80;
    }

    function scrollToBottom(force, wasNearBottom) {
      if (force || wasNearBottom) log.scrollTop = log.scrollHeight;
    }

    function refreshEmptyState() {
      emptyState.hidden = items.length > 0;
    }

    /** Insert a rendered item (message or notice) at the end of the list. */
    function appendItem(item) {
      const nearBottom = isNearBottom();
      log.insertBefore(item.el, typing);
      items.push(item);
      refreshEmptyState();
      scrollToBottom(item.role === "customer", nearBottom);
      return item;
    }

    function removeItem(item) {
      if (item.el.parentNode) item.el.parentNode.removeChild(item.el);
      items = items.filter(function (other) {
        return other !== item;
      });
      if (streaming === item) streaming = null;
      refreshEmptyState();
    }

    const SPEAKER = { customer: "You said:", assistant: "Assistant said:", agent: "Agent said:" };

    /** Build (but do not insert) a message bubble. */
    function buildMessage(role, text, state) {
      const textEl = el("div", { className: "ov-text" });
      const node = el(
        "div",
        {
          className: "ov-msg ov-msg--" + role,
          "data-testid": "omnivox-message",
          "data-role": role,
          "data-state": state,
          "data-sr-label": SPEAKER[role],
        },
        [role === "agent" ? el("span", { className: "ov-label", text: "Agent" }) : null, el("div", { className: "ov-bubble" }, [textEl])]
      );
      const item = { kind: "message", role: role, el: node, textEl: textEl, text: "", epoch: epoch };
      setText(item, text);
      setState(item, state);
      return item;
    }

    function setText(item, text) {
      item.text = typeof text === "string" ? text : "";
      if (item.role === "customer") item.textEl.textContent = item.text; // shown verbatim (pre-wrap)
      else renderRichText(item.textEl, item.text);
    }

    function setState(item, state) {
      item.el.setAttribute("data-state", state);
      // Ask assistive tech to wait for the final text instead of reading every chunk.
      if (state === "streaming") item.el.setAttribute("aria-busy", "true");
      else item.el.removeAttribute("aria-busy");
    }

    /** CSAT after a person resolved the conversation: 1-5 buttons that answer for the visitor. */
    function renderRating(item, values) {
      if (!Array.isArray(values) || values.length === 0) return;
      const row = el("div", { className: "ov-rating", "data-testid": "omnivox-rating" });
      values.forEach(function (value) {
        const score = String(value);
        const button = el("button", { type: "button", className: "ov-rating-button", text: score });
        button.addEventListener("click", function () {
          if (row.parentNode) row.parentNode.removeChild(row);
          sendMessage(score);
        });
        row.appendChild(button);
      });
      item.el.appendChild(row);
    }

    function renderCitations(item, citations) {
      const old = item.el.querySelector(".ov-sources");
      if (old) old.parentNode.removeChild(old);
      if (!Array.isArray(citations) || citations.length === 0) return;

      const list = el("ul", { className: "ov-sources-list" });
      const shown = {}; // one chip per document: several passages of one page share it
      citations.forEach(function (citation) {
        if (!citation || typeof citation !== "object") return;
        const title = String(citation.title || citation.source_id || "Source");
        const href = citation.url ? safeHttpUrl(citation.url) : null;
        const key = String(citation.source_id || href || title);
        if (shown[key]) return;
        shown[key] = true;
        const label = href
          ? el("a", { href: href, target: "_blank", rel: "noopener noreferrer", text: title })
          : el("span", { text: title });
        const snippet = typeof citation.snippet === "string" ? citation.snippet.trim() : "";
        if (snippet) label.title = snippet.length > 300 ? snippet.slice(0, 299) + "\u2026" : snippet;
        list.appendChild(
          el(
            "li",
            {
              className: "ov-source",
              "data-testid": "omnivox-citation",
              "data-source-id": citation.source_id ? String(citation.source_id) : null,
            },
            [label]
          )
        );
      });
      if (!list.firstChild) return;
      item.el.appendChild(
        el("div", { className: "ov-sources" }, [el("span", { className: "ov-sources-label", text: "Sources" }), list])
      );
    }

    function addMessage(role, text, state, citations) {
      const item = buildMessage(role, text, state);
      renderCitations(item, citations);
      return appendItem(item);
    }

    function addNotice(message, code) {
      const node = el("div", {
        className: "ov-notice",
        "data-testid": "omnivox-error",
        "data-code": code || null,
        text: message,
      });
      return appendItem({ kind: "notice", role: null, el: node, epoch: epoch });
    }

    function setTyping(on) {
      clearTimeout(typingTimer);
      const nearBottom = isNearBottom();
      typing.hidden = !on;
      if (on) {
        typingTimer = setTimeout(function () {
          typing.hidden = true;
        }, TYPING_TIMEOUT_MS);
        scrollToBottom(false, nearBottom);
      }
    }

    /** Close off a streaming bubble whose connection went away. */
    function interruptStreaming() {
      if (!streaming) return;
      const item = streaming;
      streaming = null;
      if (!item.text) {
        removeItem(item);
        return;
      }
      item.el.classList.add("is-interrupted");
      setState(item, "done");
    }

    function noteIncoming() {
      if (!isOpen) setUnread(true);
    }

    // -- Server frames --------------------------------------------------------

    function onSession(frame) {
      epoch += 1;
      sessionReady = true;
      attempt = 0; // a healthy session resets the reconnect backoff
      if (typeof frame.visitor === "string" && frame.visitor && frame.visitor.length <= 200) {
        if (frame.visitor !== getVisitor()) setVisitor(frame.visitor);
      }
      if (frame.conversation_id !== undefined) conversationId = frame.conversation_id;
      draftsWanted = frame.drafts === true;
      if (typeof frame.assistant === "string" && frame.assistant.trim()) {
        assistantName = frame.assistant.trim();
        emptyName.textContent = assistantName;
      }
      renderStatus();
      flushOutbox();
    }

    /**
     * Replace what we rendered during earlier connections with the server's
     * authoritative history. Items created on this connection (e.g. queued
     * messages just flushed) are kept after it.
     */
    function onHistory(frame) {
      const messages = Array.isArray(frame.messages) ? frame.messages : [];
      // a message sent again after a dropped connection that the server already had is in
      // the history: shown there once, not also as the copy being sent again
      const had = {};
      messages.forEach(function (message) {
        if (message && typeof message.id === "string") had[message.id] = true;
      });
      const keep = [];
      items.slice().forEach(function (item) {
        const already = item.clientId && had[item.clientId] === true;
        if ((item.epoch === epoch || item.queued) && !already) keep.push(item);
        else removeItem(item);
      });
      const anchor = keep.length ? keep[0].el : typing;
      const restored = [];
      messages.forEach(function (message) {
        if (!message || typeof message.text !== "string") return;
        const role = message.role;
        if (role !== "customer" && role !== "assistant" && role !== "agent") return;
        const item = buildMessage(role, message.text, "done");
        if (typeof message.message_id === "string") item.el.setAttribute("data-message-id", message.message_id);
        if (role === "customer" && typeof message.id === "string") item.clientId = message.id;
        renderCitations(item, message.citations);
        log.insertBefore(item.el, anchor);
        restored.push(item);
      });
      items = restored.concat(keep);
      refreshEmptyState();
      scrollToBottom(true);
    }

    function onDelta(frame) {
      const chunk = typeof frame.text === "string" ? frame.text : "";
      setTyping(false);
      const nearBottom = isNearBottom();
      if (!streaming) {
        streaming = addMessage("assistant", "", "streaming");
        noteIncoming();
      }
      setText(streaming, streaming.text + chunk);
      scrollToBottom(false, nearBottom);
    }

    /** Whether a message with this server id is on screen (a resent question's answer). */
    function shown(messageId) {
      return !!messageId && items.some(function (item) {
        return item.el.getAttribute("data-message-id") === String(messageId);
      });
    }

    function onReply(frame) {
      setTyping(false);
      answering = null;
      if (!streaming && shown(frame.message_id)) return; // already in the history
      const nearBottom = isNearBottom();
      const role = frame.role === "agent" ? "agent" : "assistant";
      let item = streaming;
      streaming = null;
      if (!item) item = addMessage(role, "", "streaming");
      // The server may have edited the streamed text after verification:
      // the final text always wins.
      if (typeof frame.text === "string") setText(item, frame.text);
      setState(item, "done");
      if (frame.message_id) item.el.setAttribute("data-message-id", String(frame.message_id));
      if (frame.conversation_id) conversationId = frame.conversation_id;
      renderCitations(item, frame.citations);
      renderRating(item, frame.rating);
      scrollToBottom(false, nearBottom);
      noteIncoming();
    }

    /** Whether a message this visitor sent with this id is on screen (sent again elsewhere). */
    function sent(clientId) {
      return typeof clientId === "string" && items.some(function (item) {
        return item.clientId === clientId;
      });
    }

    /**
     * A complete message pushed live: what the visitor sent from another tab (with its id, so
     * a message that tab sent again shows once), or one a person wrote.
     */
    function onLiveMessage(frame) {
      const role = frame.role === "assistant" || frame.role === "customer" ? frame.role : "agent";
      if (typeof frame.text !== "string") return;
      if (role === "customer" && sent(frame.id)) return;
      setTyping(false);
      const item = addMessage(role, frame.text, "done", frame.citations);
      if (role === "customer" && typeof frame.id === "string") item.clientId = frame.id;
      if (role !== "customer") noteIncoming();
    }

    /** The server stored the message and no answer comes now (a person holds the chat). */
    function onReceived(frame) {
      setTyping(false);
      const entry = takeEntry(frame.id);
      if (entry) {
        entry.item.queued = false;
        setState(entry.item, "done");
      }
      if (frame.conversation_id) conversationId = frame.conversation_id;
    }

    function onError(frame) {
      setTyping(false);
      markFailed(frame.id);
      if (streaming) {
        const item = streaming;
        streaming = null;
        if (item.text) setState(item, "done");
        else removeItem(item);
      }
      const message = typeof frame.message === "string" && frame.message.trim() ? frame.message.trim() : "Something went wrong. Please try again.";
      addNotice(message, typeof frame.code === "string" ? frame.code : null);
    }

    /** Dispatch one server frame; returns its type (or null if unusable). */
    function handleFrame(data) {
      if (typeof data !== "string") return null;
      let frame;
      try {
        frame = JSON.parse(data);
      } catch (_err) {
        return null;
      }
      if (!frame || typeof frame !== "object") return null;
      switch (frame.type) {
        case "session":
          onSession(frame);
          break;
        case "history":
          onHistory(frame);
          break;
        case "delta":
          onDelta(frame);
          break;
        case "reset":
          // The server fell back to another model mid-answer: drop the partial text.
          if (streaming) setText(streaming, "");
          break;
        case "reply":
          onReply(frame);
          break;
        case "error":
          onError(frame);
          break;
        case "typing":
          onAccepted(frame.id);
          setTyping(true);
          break;
        case "received":
          onReceived(frame);
          break;
        case "message":
        case "agent":
          onLiveMessage(frame);
          break;
        default:
          break; // unknown frames are ignored
      }
      return frame.type;
    }

    // -- WebSocket lifecycle --------------------------------------------------

    function connect() {
      clearTimeout(reconnectTimer);
      reconnectTimer = null;
      if (suspended) return;
      if (ws && (ws.readyState === WebSocket.CONNECTING || ws.readyState === WebSocket.OPEN)) return;

      const visitor = getVisitor();
      let url = wsOrigin + "/ws/chat?workspace=" + encodeURIComponent(config.workspace);
      if (visitor) url += "&visitor=" + encodeURIComponent(visitor);

      let socket;
      try {
        socket = new WebSocket(url);
      } catch (err) {
        console.error("[omnivox] could not open WebSocket", err);
        scheduleReconnect();
        return;
      }
      ws = socket;
      sessionReady = false;
      let opened = false;
      let gotSession = false;

      socket.addEventListener("open", function () {
        if (socket !== ws) return;
        opened = true;
        everConnected = true;
        renderStatus();
      });
      socket.addEventListener("message", function (event) {
        if (socket !== ws) return;
        if (handleFrame(event.data) === "session") gotSession = true;
      });
      socket.addEventListener("close", function (event) {
        if (socket !== ws) return; // superseded or deliberately closed
        ws = null;
        sessionReady = false;
        setTyping(false);
        interruptStreaming();
        requeueUnacknowledged();
        // If the server accepted the socket but rejected it with a policy /
        // application error before any session frame, our stored visitor id
        // may be stale or invalid: start over as a new visitor next time.
        const rejected = event.code === 1008 || (event.code >= 4000 && event.code < 5000);
        if (opened && !gotSession && visitor && rejected) forgetVisitor();
        renderStatus();
        scheduleReconnect();
      });
      // "error" is always followed by "close"; reconnection is handled there.
      socket.addEventListener("error", function () {});
      renderStatus();
    }

    /** Capped exponential backoff: 0.5s, 1s, 2s, 4s, 8s, 8s, ... (+ <=20% jitter, capped). */
    function scheduleReconnect() {
      if (reconnectTimer || suspended) return;
      const base = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * Math.pow(2, attempt));
      const delay = Math.min(BACKOFF_MAX_MS, Math.round(base * (1 + Math.random() * 0.2)));
      attempt += 1;
      reconnectTimer = setTimeout(connect, delay);
    }

    /** Skip the remaining backoff (network came back, tab became visible...). */
    function reconnectNow() {
      if (ws || suspended) return;
      attempt = 0;
      connect();
    }

    window.addEventListener("online", reconnectNow);
    window.addEventListener("offline", renderStatus);
    document.addEventListener("visibilitychange", function () {
      if (document.visibilityState === "visible") reconnectNow();
    });
    // Let the page enter the back/forward cache cleanly and resume afterwards.
    window.addEventListener("pagehide", function (event) {
      if (!event.persisted) return;
      suspended = true;
      clearTimeout(reconnectTimer);
      reconnectTimer = null;
      if (ws) {
        const socket = ws;
        ws = null;
        socket.close(1000, "page hidden");
      }
      interruptStreaming();
      renderStatus();
    });
    window.addEventListener("pageshow", function (event) {
      if (!event.persisted) return;
      suspended = false;
      reconnectNow();
    });

    // -- Sending --------------------------------------------------------------

    function canTransmit() {
      return !!ws && ws.readyState === WebSocket.OPEN && sessionReady;
    }

    /**
     * Send one message with its id. It stays "sending" (and is sent again, with the same id,
     * after a reconnect) until the server's "typing" frame says it has it; the server answers
     * a repeated id once, so a resend never asks twice.
     */
    function transmit(entry) {
      try {
        ws.send(JSON.stringify({ type: "message", text: entry.text, id: entry.id }));
      } catch (_err) {
        return false;
      }
      entry.item.epoch = epoch;
      setState(entry.item, "sending");
      unacknowledged.push(entry);
      return true;
    }

    /**
     * The message a frame names by its id (the one being answered, or one sent and not yet
     * acknowledged), taken out of both. A frame without an id names the message being answered,
     * else the oldest one sent.
     */
    function takeEntry(id) {
      let entry = null;
      if (typeof id !== "string") {
        entry = answering || unacknowledged.shift() || null;
      } else if (answering && answering.id === id) {
        entry = answering;
      } else {
        const at = unacknowledged.findIndex(function (sent) { return sent.id === id; });
        if (at >= 0) entry = unacknowledged.splice(at, 1)[0];
      }
      if (entry && entry === answering) answering = null;
      return entry;
    }

    /** The server has a message sent (the oldest, without an id): it is answered next. */
    function onAccepted(id) {
      let entry = null;
      if (typeof id === "string") {
        const at = unacknowledged.findIndex(function (sent) { return sent.id === id; });
        if (at >= 0) entry = unacknowledged.splice(at, 1)[0];
      } else {
        entry = unacknowledged.shift();
      }
      if (!entry) return;
      entry.item.queued = false;
      setState(entry.item, "done");
      answering = entry;
    }

    /** A message the server refused (too long, too fast...): marked, never silently lost. */
    function markFailed(id) {
      const entry = takeEntry(id);
      if (!entry) return;
      entry.item.queued = false;
      setState(entry.item, "failed");
    }

    /** After a dropped connection: messages the server never acknowledged go out again. */
    function requeueUnacknowledged() {
      while (unacknowledged.length) {
        const entry = unacknowledged.pop();
        setState(entry.item, "queued");
        outbox.unshift(entry);
      }
      answering = null;
    }

    function flushOutbox() {
      while (outbox.length && canTransmit()) {
        if (!transmit(outbox[0])) break;
        outbox.shift();
      }
    }

    /** A message id the server de-duplicates by (up to 100 characters). */
    function newMessageId() {
      const bytes = new Uint8Array(12);
      if (window.crypto && window.crypto.getRandomValues) window.crypto.getRandomValues(bytes);
      else for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(Math.random() * 256);
      return "m_" + Array.prototype.map.call(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
    }

    /** Send (or queue) a customer message. Returns true if it was accepted. */
    function sendMessage(rawText) {
      const text = String(rawText === null || rawText === undefined ? "" : rawText).trim();
      if (!text) return false;
      if (charCount(text) > MAX_CHARS) {
        showLimit(true);
        return false;
      }
      const entry = { text: text, id: newMessageId(), item: addMessage("customer", text, "queued") };
      entry.item.queued = true;
      entry.item.clientId = entry.id;
      scrollToBottom(true);
      if (canTransmit() && transmit(entry)) return true;
      outbox.push(entry); // sent as soon as the next session starts
      if (!ws) reconnectNow();
      return true;
    }

    // -- Drafts ---------------------------------------------------------------

    /** The message box's text for a draft. While the customer types, a last word with no space
     * or mark after it may still grow ("Denv") and is left out: a search for it would find other
     * passages than the message. After a pause (`paused`) the whole text is sent. */
    function draftText(paused) {
      const value = input.value;
      return (paused || /[\s.,;:!?]$/.test(value) ? value : value.replace(/\S+$/, "")).trim();
    }

    function sendDraft(paused) {
      clearTimeout(draftTimer);
      draftTimer = null;
      const text = draftText(paused);
      if (!draftsWanted || text.length < DRAFT_MIN_CHARS || text === lastDraft) return;
      if (charCount(text) > MAX_CHARS || !canTransmit()) return;
      try {
        ws.send(JSON.stringify({ type: "draft", text: text }));
      } catch (_err) {
        return;
      }
      lastDraft = text;
      lastDraftAt = Date.now();
    }

    function scheduleDraft() {
      if (!draftsWanted) return;
      clearTimeout(draftTimer);
      if (Date.now() - lastDraftAt >= DRAFT_EVERY_MS) sendDraft(false);
      draftTimer = setTimeout(sendDraft, DRAFT_PAUSE_MS, true);
    }

    function forgetDraft() {
      clearTimeout(draftTimer);
      draftTimer = null;
      lastDraft = "";
    }

    // -- Composer -------------------------------------------------------------

    function showLimit(over) {
      limitNotice.textContent = over ? "Messages are limited to " + MAX_CHARS.toLocaleString() + " characters." : "";
      hint.hidden = over;
    }

    function updateComposer() {
      const value = input.value;
      const count = charCount(value);
      const over = count > MAX_CHARS;

      counter.hidden = count < COUNTER_FROM;
      counter.textContent = count.toLocaleString() + " / " + MAX_CHARS.toLocaleString();
      counter.classList.toggle("is-warn", !over);
      counter.classList.toggle("is-over", over);
      showLimit(over);
      input.setAttribute("aria-invalid", String(over));
      sendButton.setAttribute("aria-disabled", String(over || !value.trim()));

      autosizeInput();
    }

    /** Grow the textarea with its content up to a limit (CSSOM writes are CSP-safe). */
    function autosizeInput() {
      if (panel.hidden) return; // nothing to measure while hidden; redone on open
      input.style.height = "auto";
      const wanted = input.scrollHeight + 2; // + top/bottom border
      input.style.height = Math.min(wanted, INPUT_MAX_HEIGHT) + "px";
      input.style.overflowY = wanted > INPUT_MAX_HEIGHT ? "auto" : "hidden";
    }

    function submitComposer() {
      if (!input.value.trim()) return;
      if (sendMessage(input.value)) {
        forgetDraft();
        input.value = "";
        updateComposer();
      }
      input.focus();
    }

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      submitComposer();
    });
    input.addEventListener("input", function () {
      updateComposer();
      scheduleDraft();
    });
    input.addEventListener("keydown", function (event) {
      // Enter sends; Shift+Enter inserts a newline; never interrupt IME composition.
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing && event.keyCode !== 229) {
        event.preventDefault();
        submitComposer();
      }
    });

    // -- Host-page integration ------------------------------------------------

    // Any element with data-omnivox-ask="question" opens the chat and asks it.
    document.addEventListener("click", function (event) {
      const target = event.target;
      if (!target || typeof target.closest !== "function") return;
      const trigger = target.closest("[data-omnivox-ask]");
      if (!trigger) return;
      const question = (trigger.getAttribute("data-omnivox-ask") || "").trim();
      if (!question) return;
      event.preventDefault();
      setOpen(true, { focus: false });
      sendMessage(question);
    });

    window.Omnivox = Object.freeze({
      /** Open the chat panel and focus the message box. */
      open: function () {
        setOpen(true);
      },
      /** Close the chat panel. */
      close: function () {
        setOpen(false);
      },
      /** Open the panel and send `text` as the customer (queued while offline). */
      send: function (text) {
        setOpen(true, { focus: false });
        return sendMessage(text);
      },
      /** The persistent visitor id for this workspace, or null before the first session. */
      visitorId: function () {
        return getVisitor();
      },
    });

    // -- Go -------------------------------------------------------------------
    updateComposer();
    refreshEmptyState();
    renderStatus();
    if (config.startOpen) setOpen(true, { focus: false });
    connect();
  }

  if (document.body) init();
  else document.addEventListener("DOMContentLoaded", init, { once: true });
})();
