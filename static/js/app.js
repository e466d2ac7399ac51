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

  // Payouts waiting: a "select all" box (hidden without JavaScript, where it could not work).
  document.addEventListener("change", function (event) {
    var all = event.target;
    if (!all.matches("[data-select-all]") || !all.form) return;
    var name = all.getAttribute("data-select-all");
    all.form.querySelectorAll('input[type="checkbox"][name="' + name + '"]').forEach(function (box) {
      box.checked = all.checked;
    });
  });

  function showSelectAll(root) {
    root.querySelectorAll("[data-select-all]").forEach(function (box) {
      box.hidden = false;
    });
  }

  // After a failed submit the error summary takes the focus, so that a screen reader reads
  // it and the keyboard starts from it; its links take the focus to the field they name.
  function focusErrorSummary(root) {
    var summary = root.querySelector("[data-error-summary]");
    if (summary) summary.focus();
  }

  document.addEventListener("click", function (event) {
    var link = event.target.closest("[data-error-link]");
    if (!link) return;
    var field = document.getElementById(link.getAttribute("href").slice(1));
    if (!field) return;
    event.preventDefault();
    field.focus();
    field.scrollIntoView({ block: "center" });
  });

  function init() {
    syncProviderFields(document);
    showSelectAll(document);
    focusErrorSummary(document);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
  // A part that loads after the page (the balances charts) and whose request failed or never
  // reached the server is no longer busy: its link to the same content stays.
  function settleFailedPart(event) {
    var part = event.detail && event.detail.elt;
    if (part && part.getAttribute("aria-busy") === "true") part.setAttribute("aria-busy", "false");
  }
  document.addEventListener("htmx:responseError", settleFailedPart);
  document.addEventListener("htmx:sendError", settleFailedPart);

  // Content swapped in by htmx.
  document.addEventListener("htmx:load", function (event) {
    syncProviderFields(event.target.ownerDocument || document);
  });
})();
