// Injected at the end of a copy of a built page (tests/browser/test_pages.py):
// once MathJax has typeset, measures what a reader sees and writes the result
// as JSON into a pre element with id ls-audit, which `chromium --dump-dom` returns.
(function () {
  function describe(el) {
    const text = (el.textContent || "").replace(/\s+/g, " ").trim();
    return el.tagName.toLowerCase() + ": " + text.slice(0, 90);
  }

  // Boxes whose content may be wider than they are: display equations,
  // tables, code and printed output, figures. Each must fit its column, and
  // must not hide content behind a scroll bar.
  const WIDE = 'mjx-container, table, div.highlight pre, img';

  function overflowing(article) {
    const right = article.getBoundingClientRect().right;
    const out = [];
    const report = (el, px) =>
      out.push({ what: describe(el), overflow_px: Math.round(px) });
    for (const el of article.querySelectorAll(WIDE)) {
      const box = el.getBoundingClientRect();
      if (box.width === 0) continue; // not rendered (inside a closed dropdown)
      // Only block boxes can hide content behind a scroll bar; glyphs of
      // inline maths overhang their box by a few px, which is not overflow.
      const block = el.matches('mjx-container[display="true"], table, pre');
      const hidden = block ? el.scrollWidth - el.clientWidth : 0;
      const sticksOut = box.right - right;
      if (hidden > 2 || sticksOut > 2) report(el, Math.max(hidden, sticksOut));
    }
    // Anything else that sticks out of the column (a signature, a long word),
    // outside the boxes above (whose insides they measure themselves).
    for (const el of article.querySelectorAll("*")) {
      if (el.closest(WIDE)) continue;
      const box = el.getBoundingClientRect();
      if (box.width === 0 || box.right - right <= 2) continue;
      if (out.some((o) => o.el && o.el.contains(el))) continue;
      out.push({ el, what: describe(el), overflow_px: Math.round(box.right - right) });
    }
    return out.map(({ what, overflow_px }) => ({ what, overflow_px }));
  }

  async function audit() {
    if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
      await MathJax.startup.promise;
    }
    const article = document.querySelector("article.bd-article") || document.body;
    const result = { width: window.innerWidth, page: location.pathname };
    result.scripts = Array.from(document.scripts).map((s) => s.getAttribute("src") || "");
    result.equations = document.querySelectorAll("mjx-container").length;
    result.colab = Array.from(document.querySelectorAll("a[href]"))
      .map((a) => a.href)
      .filter((h) => h.includes("colab.research.google.com"));
    // Solutions: collapsed before the reader opens them (content not rendered).
    result.solutions = Array.from(article.querySelectorAll("div.solution")).map((s) => {
      const body = s.querySelector("section") || s;
      const outputs = s.querySelectorAll("div.cell_output");
      return {
        label: describe(s.querySelector(".admonition-title") || s),
        dropdown: s.classList.contains("dropdown"),
        hidden: body.getBoundingClientRect().height === 0 || getComputedStyle(body).display === "none",
        outputs: outputs.length,
      };
    });
    // Figures: every image in a <figure> with a caption, and real alt text.
    result.images = Array.from(article.querySelectorAll("img")).map((img) => {
      const fig = img.closest("figure");
      const cap = fig ? fig.querySelector("figcaption") : null;
      return {
        src: img.getAttribute("src"),
        alt: img.getAttribute("alt") || "",
        caption: cap ? cap.textContent.replace(/\s+/g, " ").trim() : "",
        rendered_px: Math.round(img.getBoundingClientRect().width),
        natural_px: img.naturalWidth,
      };
    });
    result.overflow_closed = overflowing(article);
    // Open every dropdown and hidden code cell, then measure again.
    for (const d of article.querySelectorAll("details")) d.open = true;
    for (const b of article.querySelectorAll("button.toggle-button")) b.click();
    await new Promise((r) => setTimeout(r, 300));
    result.overflow = overflowing(article);
    result.page_scroll_px = document.documentElement.scrollWidth - window.innerWidth;
    result.height = document.documentElement.scrollHeight;
    result.output_text = Array.from(article.querySelectorAll("div.cell_output"))
      .map((o) => o.textContent)
      .join("\n");
    result.text = article.innerText;
    report(result);
  }

  // The page runs inside an iframe of the audited width (tools/page_audit.py):
  // hand the result to the wrapper page, which writes it where --dump-dom sees it.
  function report(result) {
    window.parent.postMessage(JSON.stringify(result), "*");
  }

  window.addEventListener("load", () => {
    audit().catch((e) => report({ error: String(e) }));
  });
})();
