// Small progressive enhancements; every page works without JavaScript.
(function () {
  "use strict";
  // Buttons marked data-confirm ask before submitting their form.
  document.addEventListener("submit", function (event) {
    var button = event.submitter;
    var text = button && button.getAttribute("data-confirm");
    if (text && !window.confirm(text)) {
      event.preventDefault();
    }
  });
})();
