// Behaviour of the pages, kept out of the templates: the Content-Security-Policy allows no
// inline script.  Every enhancement is optional; the pages work without JavaScript.
(function () {
  "use strict";

  // Provider connection form: show only the chosen provider's fields (all stay visible
  // without JavaScript).
  function syncProviderFields(root) {
    var select = root.querySelector("#provider-form #id_kind");
    if (!select) return;
    root.querySelectorAll("#provider-form .provider-fields").forEach(function (fieldset) {
      fieldset.hidden = fieldset.getAttribute("data-kind") !== select.value;
    });
  }

  document.addEventListener("change", function (event) {
    if (event.target.matches("#provider-form #id_kind")) syncProviderFields(document);
  });

  function init() {
    syncProviderFields(document);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
  // Content swapped in by htmx.
  document.addEventListener("htmx:load", function (event) {
    syncProviderFields(event.target.ownerDocument || document);
  });
})();
