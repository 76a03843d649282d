// Injected at the end of a copy of a built page (tests/browser/test_pages.py):
// once MathJax has typeset, measures what a reader sees and writes the result
// as JSON into a pre element with id ls-audit, which `chromium --dump-dom` returns.
(function () {
  function describe(el) {
    const text = (el.textContent || "").replace(/\s+/g, " ").trim();
    return el.tagName.toLowerCase() + ": " + text.slice(0, 90);
  }

  // Elements that must fit their column: display equations, tables, code and
  // printed output, figures.
  const WIDE = 'mjx-container[display="true"], table, div.highlight pre, img';

  function overflowing(article) {
    const right = article.getBoundingClientRect().right;
    const out = [];
    for (const el of article.querySelectorAll(WIDE)) {
      const box = el.getBoundingClientRect();
      if (box.width === 0) continue; // not rendered (inside a closed dropdown)
      const scrolls = el.scrollWidth > el.clientWidth + 2;
      const sticksOut = box.right > right + 2;
      if (scrolls || sticksOut) {
        out.push({
          what: describe(el),
          overflow_px: Math.round(Math.max(el.scrollWidth - el.clientWidth, box.right - right)),
        });
      }
    }
    return out;
  }

  async function audit() {
    if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
      await MathJax.startup.promise;
    }
    const article = document.querySelector("article.bd-article") || document.body;
    const result = { width: window.innerWidth };
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
