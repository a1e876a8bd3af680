/* The promotion builder: shows only the fields the chosen trigger and each row's kind need
   (the map comes from promotions/admin/layout.py as #builder-layout), and keeps the rule's
   one-line summary in sync by posting the unsaved form to the summary view. */
(function () {
  "use strict";

  function layout() {
    var node = document.getElementById("builder-layout");
    return node ? JSON.parse(node.textContent) : null;
  }

  function fieldLine(input) {
    return input ? input.closest(".field-line") || input.closest(".form-row") : null;
  }

  function showFor(scope, prefix, part) {
    var controller = scope.querySelector('[name="' + prefix + part.controller + '"]');
    if (!controller) return;
    var chosen = controller.value;
    Object.keys(part.fields).forEach(function (name) {
      var input = scope.querySelector('[name="' + prefix + name + '"]');
      var line = fieldLine(input);
      if (line) line.classList.toggle("builder-hidden", part.fields[name].indexOf(chosen) < 0);
    });
    // A field that also needs another field of the row to hold one of some values.
    Object.keys(part.requires || {}).forEach(function (name) {
      var line = fieldLine(scope.querySelector('[name="' + prefix + name + '"]'));
      if (!line || line.classList.contains("builder-hidden")) return;
      var needs = part.requires[name];
      var met = Object.keys(needs).every(function (other) {
        var input = scope.querySelector('[name="' + prefix + other + '"]');
        return input && needs[other].indexOf(input.value) >= 0;
      });
      line.classList.toggle("builder-hidden", !met);
    });
    Object.keys(part.labels || {}).forEach(function (name) {
      var input = scope.querySelector('[name="' + prefix + name + '"]');
      var line = fieldLine(input);
      var label = line && line.querySelector("label");
      if (!label) return;
      if (!label.dataset.original) label.dataset.original = label.textContent.trim();
      label.textContent = part.labels[name][chosen] || label.dataset.original;
    });
  }

  function hideEmptyFieldsets(form) {
    form.querySelectorAll("fieldset.module").forEach(function (fieldset) {
      if (fieldset.closest(".inline-group, [data-inline-type]")) return;
      var lines = fieldset.querySelectorAll(".field-line");
      if (!lines.length) return;
      var visible = Array.prototype.some.call(lines, function (line) {
        return !line.classList.contains("builder-hidden");
      });
      fieldset.classList.toggle("builder-hidden", !visible);
    });
  }

  function apply(form, map) {
    showFor(form, "", map.promotion);
    ["conditions", "rewards"].forEach(function (prefix) {
      var total = form.querySelector('[name="' + prefix + '-TOTAL_FORMS"]');
      var count = total ? parseInt(total.value, 10) : 0;
      for (var i = 0; i < count; i++) {
        showFor(form, prefix + "-" + i + "-", map[prefix]);
      }
    });
    hideEmptyFieldsets(form);
  }

  var pending = null;
  var sequence = 0;

  function refreshSummary(form, attempt) {
    var box = document.getElementById("promotion-summary-box");
    if (!box) return;
    clearTimeout(pending);
    pending = setTimeout(function () {
      var data = new FormData(form);
      data.append("object_id", box.dataset.objectId || "");
      var mine = ++sequence;
      var retry = function () {
        // A summary the server did not answer (a busy server, a dropped connection) is asked
        // again, a few times, unless the form changed meanwhile (a newer request is on its way).
        if (mine === sequence && (attempt || 0) < 3) refreshSummary(form, (attempt || 0) + 1);
      };
      fetch(box.dataset.summaryUrl, { method: "POST", body: data, credentials: "same-origin" })
        .then(function (response) { return response.ok ? response.json() : null; })
        .then(function (answer) {
          if (mine !== sequence) return;
          if (answer === null) return retry();
          if (answer.summary) {
            document.getElementById("promotion-summary").textContent = answer.summary;
          }
        })
        .catch(retry);
    }, attempt ? 1000 : 250);
  }

  document.addEventListener("DOMContentLoaded", function () {
    var map = layout();
    var form = document.getElementById("promotion_form");
    if (!map || !form) return;
    apply(form, map);
    form.addEventListener("change", function () { apply(form, map); refreshSummary(form); });
    form.addEventListener("input", function () { refreshSummary(form); });
    // The autocomplete pickers (select2) announce a choice with a jQuery event, which native
    // listeners never hear: listen for it too, or the summary would miss a counter picked.
    if (window.django && window.django.jQuery) {
      window.django.jQuery(form).on("select2:select select2:unselect select2:clear", function () {
        apply(form, map);
        refreshSummary(form);
      });
    }
    document.addEventListener("formset:added", function () { apply(form, map); });
    document.addEventListener("formset:removed", function () { refreshSummary(form); });
    form.dataset.builderReady = "1";
  });
})();
