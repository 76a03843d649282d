// Shrink an equation that is wider than the text column (on a phone) so that
// it fits, down to 50 % of its size: a display equation against its own box,
// an inline one (which cannot wrap) against the paragraph that holds it.
// reader.css lets a display equation that is still too wide scroll inside its
// own box. Re-run when the window is resized or a dropdown (hidden code, a
// solution) is opened.
(function () {
  "use strict";
  function shrink(el, avail, need) {
    if (avail > 0 && need > avail + 1) {
      el.style.fontSize = Math.max(50, Math.floor((100 * avail) / need)) + "%";
    }
  }
  function fit() {
    var all = document.querySelectorAll("mjx-container");
    for (var i = 0; i < all.length; i++) {
      var el = all[i];
      el.style.fontSize = "";
      if (el.getAttribute("display") === "true") {
        shrink(el, el.clientWidth, el.scrollWidth);
      } else {
        var block = el.parentElement && el.parentElement.closest("p, li, dd, dt, td, th, div");
        if (block) shrink(el, block.clientWidth, el.getBoundingClientRect().width);
      }
    }
  }
  function start() {
    if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
      MathJax.startup.promise.then(fit);
    } else {
      setTimeout(start, 200);
    }
  }
  window.addEventListener("load", start);
  window.addEventListener("resize", fit);
  document.addEventListener("click", function () { setTimeout(fit, 50); });
  document.addEventListener("toggle", function () { setTimeout(fit, 50); }, true);
})();
