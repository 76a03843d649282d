// Shrink a display equation that is wider than the text column (on a phone)
// so that it fits, down to 50 % of its size; reader.css lets a still wider one
// scroll inside its own box. Re-run when the window is resized or a dropdown
// (hidden code, a solution) is opened.
(function () {
  "use strict";
  function fit() {
    var all = document.querySelectorAll('mjx-container[display="true"]');
    for (var i = 0; i < all.length; i++) {
      var el = all[i];
      el.style.fontSize = "";
      var avail = el.clientWidth;
      var need = el.scrollWidth;
      if (avail > 0 && need > avail + 1) {
        el.style.fontSize = Math.max(50, Math.floor((100 * avail) / need)) + "%";
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
