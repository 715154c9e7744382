"""Hostile inputs for the browser corpus test: script in every form we know of.

Written for Parlour from the classes in public XSS cheat sheets (OWASP's filter-evasion
list, PortSwigger's): tags with event handlers, script and javascript: URLs in every
attribute that takes one, encodings and case tricks, markup breaking out of attributes,
SVG and MathML, Markdown links and images, and template or CSS injections. Each payload
would call `alert` or set `window.__pwned` if it ran.
"""

from __future__ import annotations

RUN = "alert(1);window.__pwned=1"

BASE = [
    f"<script>{RUN}</script>",
    f"<SCRIPT SRC=//127.0.0.1/x.js></SCRIPT><script>{RUN}</script>",
    f'<img src=x onerror="{RUN}">',
    f'<IMG SRC="javascript:{RUN}">',
    f"<img src=x:x onerror={RUN}>",
    f"<svg onload={RUN}>",
    f"<svg><script>{RUN}</script></svg>",
    f'<svg><a xlink:href="javascript:{RUN}"><text x=20 y=20>X</text></a></svg>',
    f"<math><mtext><table><mglyph><style><img src=x onerror={RUN}>",
    f"<body onload={RUN}>",
    f'<iframe src="javascript:{RUN}"></iframe>',
    f'<iframe srcdoc="<script>{RUN}</script>"></iframe>',
    f'<object data="javascript:{RUN}"></object>',
    f'<embed src="javascript:{RUN}">',
    f'<a href="javascript:{RUN}">click</a>',
    f'<a href="JaVaScRiPt:{RUN}">click</a>',
    f'<a href="&#106;&#97;&#118;&#97;&#115;&#99;&#114;&#105;&#112;&#116;&#58;{RUN}">x</a>',
    f'<a href="jav&#x09;ascript:{RUN}">x</a>',
    f'<a href=" javascript:{RUN}">x</a>',
    '<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">x</a>',
    f'<div style="background:url(javascript:{RUN})">x</div>',
    f'<div style="width:expression({RUN})">x</div>',
    f"<input autofocus onfocus={RUN}>",
    f"<select autofocus onfocus={RUN}>",
    f"<textarea autofocus onfocus={RUN}>",
    f"<details open ontoggle={RUN}>",
    f"<video><source onerror={RUN}></video>",
    f"<audio src=x onerror={RUN}>",
    f"<marquee onstart={RUN}>x</marquee>",
    f'<form action="javascript:{RUN}"><button>x</button></form>',
    f'<button formaction="javascript:{RUN}">x</button>',
    f'<meta http-equiv="refresh" content="0;url=javascript:{RUN}">',
    f'<base href="javascript:{RUN}//">',
    f'<link rel=stylesheet href="javascript:{RUN}">',
    f"<style>@import 'javascript:{RUN}';</style>",
    f'<table background="javascript:{RUN}">',
    f'<isindex action="javascript:{RUN}" type=image>',
    f"<x onclick={RUN}>click</x>",
    '<img src="x" onerror="&#97;lert(1);window.__pwned=1">',
    f'<img src=`x` onerror="{RUN}">',
    f"<<script>{RUN};//<</script>",
    f"<scr<script>ipt>{RUN}</scr</script>ipt>",
    f'"><script>{RUN}</script>',
    f"'><img src=x onerror={RUN}>",
    f"</textarea><script>{RUN}</script>",
    f"</title><script>{RUN}</script>",
    f"--><script>{RUN}</script>",
    f"]]><script>{RUN}</script>",
    f"{{{{constructor.constructor('{RUN}')()}}}}",
    f"${{{RUN}}}",
    f"[click](javascript:{RUN})",
    f"[click](JAVASCRIPT:{RUN})",
    f"[click](javascript&#58;{RUN})",
    f"[click](<javascript:{RUN}>)",
    f"[click](data:text/html,<script>{RUN}</script>)",
    f"![x](javascript:{RUN})",
    f'![x](x" onerror="{RUN})',
    f'[x](https://example.com" onclick="{RUN})',
    f"<javascript:{RUN}>",
    f"`<script>{RUN}</script>`",
    f"```\n</code><script>{RUN}</script>\n```",
    f'<a href="https://example.com" onmouseover="{RUN}">hover</a>',
    f'<img src=1 href=1 onerror="javascript:{RUN}">',
    f"<svg><animate onbegin={RUN} attributeName=x dur=1s>",
    f'<svg><set attributeName=href to="javascript:{RUN}">',
    f'<noscript><p title="</noscript><img src=x onerror={RUN}>">',
    f"<template><script>{RUN}</script></template>",
    f"\u202e<img src=x onerror={RUN}>",
    f"\u0000<script>{RUN}</script>",
]


def corpus() -> list[str]:
    """The base payloads, upper-cased, and as HTML-escaped text (which must stay text)."""
    out = list(BASE)
    out += [p.upper().replace("ALERT(1);WINDOW.__PWNED=1", RUN) for p in BASE]
    out += [p.replace("<", "&lt;").replace(">", "&gt;") for p in BASE[:20]]
    return out
