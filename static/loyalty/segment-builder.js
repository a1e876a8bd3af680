/* The segment rule builder (crm/segment_builder.py): edits the segment's rule as nested groups
   (AND / OR, each group or condition negatable) of conditions whose fields come from the
   registry's description (builder/kinds/), writes the rule's JSON into the form's "rule"
   field on every change, and asks builder/preview/ (debounced) for the rule's size, its words
   and its first customers, or for its error, shown at the node and parameter it names.
   The rule is the JSON itself: a group {op, not, items}, a condition {kind, not, params...};
   an empty field is a key left out. */
(function () {
  "use strict";

  var jq = null; // django.jQuery (select2 lives on it)

  function h(tag, props, children) {
    var node = document.createElement(tag);
    Object.keys(props || {}).forEach(function (key) {
      var value = props[key];
      if (value === undefined || value === null || value === false) return;
      if (key === "text") node.textContent = value;
      else if (key === "className") node.className = value;
      else if (key.slice(0, 2) === "on") node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? "" : String(value));
    });
    (children || []).forEach(function (child) {
      if (child) node.appendChild(child);
    });
    return node;
  }

  function option(value, label, selected) {
    var node = h("option", { value: value, text: label });
    node.selected = !!selected;
    return node;
  }

  function isGroup(node) {
    return !!node && typeof node === "object" && !Array.isArray(node) && !("kind" in node);
  }

  function childPath(path, index) {
    return (path ? path + "." : "") + "items." + index;
  }

  // "items.0.items.2" -> "rb-0-2": ids a CSS selector takes as they are.
  function idOf(path) {
    return path ? "rb-" + path.replace(/items\./g, "").split(".").join("-") : "rb";
  }

  function blankKind(node, path) {
    if (isGroup(node)) {
      var items = Array.isArray(node.items) ? node.items : [];
      for (var i = 0; i < items.length; i++) {
        var found = blankKind(items[i], childPath(path, i));
        if (found !== null) return found;
      }
      return null;
    }
    return node && node.kind ? null : path;
  }

  function Builder(root, description) {
    var self = this;
    this.root = root;
    this.words = description.words;
    this.order = description.kinds;
    this.kinds = {};
    this.order.forEach(function (kind) { self.kinds[kind.code] = kind; });
    this.textarea = root.querySelector("textarea");
    this.tree = root.querySelector("#rule-builder-tree");
    this.summary = root.querySelector("#rule-summary");
    this.preview = root.querySelector("#rule-preview");
    this.labels = {}; // model -> id -> text
    this.pickers = [];
    this.sequence = 0;
    this.timer = null;
    this.rule = null;
  }

  Builder.prototype.readJson = function () {
    var text = this.textarea.value.trim();
    if (!text || text === "null") return { op: "and", not: false, items: [] };
    var rule;
    try {
      rule = JSON.parse(text);
    } catch (error) {
      return null;
    }
    return isGroup(rule) && Array.isArray(rule.items) ? rule : null;
  };

  Builder.prototype.serialize = function () {
    return this.rule === null ? null : JSON.parse(JSON.stringify(this.rule));
  };

  Builder.prototype.programmeId = function () {
    var select = document.getElementById("id_programme");
    return select ? select.value : this.root.dataset.programmeId || "";
  };

  Builder.prototype.isRules = function () {
    var kind = document.getElementById("id_kind");
    return !kind || kind.value === "rules";
  };

  Builder.prototype.changed = function (structural) {
    this.textarea.value = JSON.stringify(this.rule, null, 2);
    if (structural) this.render();
    this.schedulePreview();
  };

  // --- rendering ---------------------------------------------------------------------------

  Builder.prototype.render = function () {
    if (jq) {
      this.pickers.forEach(function (entry) {
        if (jq(entry.select).data("select2")) jq(entry.select).select2("destroy");
      });
    }
    this.pickers = [];
    this.tree.textContent = "";
    if (this.rule === null) {
      this.tree.appendChild(h("p", { className: "rb-json-invalid", text: this.words.json_invalid }));
      this.root.querySelector("#rule-json").open = true;
      return;
    }
    this.tree.appendChild(this.groupNode(this.rule, "", null, 0));
    var self = this;
    this.pickers.forEach(function (entry) { self.initPicker(entry); });
    this.loadLabels();
  };

  Builder.prototype.button = function (text, title, onclick, className) {
    return h("button", {
      type: "button",
      className: "rb-button " + (className || ""),
      title: title,
      "aria-label": title,
      text: text,
      onclick: onclick,
    });
  };

  Builder.prototype.moveButtons = function (parent, index, path) {
    var self = this;
    if (!parent) return [];
    var items = parent.items;
    function move(step) {
      return function () {
        var other = index + step;
        if (other < 0 || other >= items.length) return;
        var node = items[index];
        items[index] = items[other];
        items[other] = node;
        self.changed(true);
      };
    }
    return [
      this.button("↑", this.words.up, move(-1), "rb-up"),
      this.button("↓", this.words.down, move(1), "rb-down"),
      this.button("✕", this.words.remove, function () {
        items.splice(index, 1);
        self.changed(true);
      }, "rb-remove"),
    ];
  };

  Builder.prototype.notToggle = function (node, path) {
    var self = this;
    var id = idOf(path) + "-not";
    var box = h("input", { type: "checkbox", id: id, className: "rb-not" });
    box.checked = node.not === true;
    box.addEventListener("change", function () {
      node.not = box.checked;
      box.closest(".rb-group, .rb-condition").classList.toggle("rb-negated", box.checked);
      self.changed(false);
    });
    return h("label", { className: "rb-not-label", "for": id, title: this.words.not_help }, [
      box,
      h("span", { text: this.words.not }),
    ]);
  };

  Builder.prototype.groupNode = function (group, path, parent, index) {
    var self = this;
    var box = h("div", {
      className: "rb-group" + (group.not ? " rb-negated" : "") + (parent ? "" : " rb-root"),
      "data-path": path,
      id: idOf(path),
    });
    var op = h("select", { id: idOf(path) + "-op", className: "rb-op" }, [
      option("and", this.words.and, group.op !== "or"),
      option("or", this.words.or, group.op === "or"),
    ]);
    op.addEventListener("change", function () {
      group.op = op.value;
      self.changed(false);
    });
    var head = h("div", { className: "rb-head" }, [this.notToggle(group, path), op]);
    head.appendChild(this.button(this.words.add_condition, this.words.add_condition, function () {
      group.items.push({ kind: "", not: false });
      self.changed(true);
    }, "rb-add-condition"));
    head.appendChild(this.button(this.words.add_group, this.words.add_group, function () {
      group.items.push({ op: "and", not: false, items: [{ kind: "", not: false }] });
      self.changed(true);
    }, "rb-add-group"));
    this.moveButtons(parent, index, path).forEach(function (b) { head.appendChild(b); });
    box.appendChild(head);
    var items = h("div", { className: "rb-items" });
    if (!group.items.length) items.appendChild(h("p", { className: "rb-help", text: this.words.empty_group }));
    group.items.forEach(function (item, i) {
      var at = childPath(path, i);
      items.appendChild(
        isGroup(item) && Array.isArray(item.items)
          ? self.groupNode(item, at, group, i)
          : self.conditionNode(item, at, group, i)
      );
    });
    box.appendChild(items);
    return box;
  };

  Builder.prototype.kindSelect = function (node, path) {
    var select = h("select", { id: idOf(path) + "-kind", className: "rb-kind" });
    select.appendChild(option("", this.words.choose_kind, !node.kind));
    var groups = {};
    var self = this;
    this.order.forEach(function (kind) {
      if (!groups[kind.group]) {
        groups[kind.group] = h("optgroup", { label: kind.group });
        select.appendChild(groups[kind.group]);
      }
      groups[kind.group].appendChild(option(kind.code, kind.label, node.kind === kind.code));
    });
    if (node.kind && !this.kinds[node.kind]) {
      select.appendChild(option(node.kind, node.kind + " (?)", true));
    }
    select.value = node.kind || "";
    return select;
  };

  Builder.prototype.conditionNode = function (node, path, parent, index) {
    var self = this;
    var box = h("div", {
      className: "rb-condition" + (node.not ? " rb-negated" : ""),
      "data-path": path,
      id: idOf(path),
    });
    var select = this.kindSelect(node, path);
    select.addEventListener("change", function () {
      parent.items[index] = { kind: select.value, not: node.not === true };
      self.changed(true);
    });
    var head = h("div", { className: "rb-head" }, [this.notToggle(node, path), select]);
    this.moveButtons(parent, index, path).forEach(function (b) { head.appendChild(b); });
    box.appendChild(head);
    var kind = this.kinds[node.kind];
    if (!kind) {
      if (node.kind) box.appendChild(h("p", { className: "rb-help", text: this.words.unknown_kind }));
      return box;
    }
    if (kind.help) box.appendChild(h("p", { className: "rb-help", text: kind.help }));
    var params = h("div", { className: "rb-params" });
    kind.params.forEach(function (param) {
      params.appendChild(self.paramField(node, kind, param, path));
    });
    box.appendChild(params);
    return box;
  };

  // --- parameters ----------------------------------------------------------------------------

  Builder.prototype.paramField = function (node, kind, param, path) {
    var self = this;
    var id = idOf(path) + "-" + param.name;
    var wrap = h("div", { className: "rb-param rb-type-" + param.type, "data-param": param.name });
    wrap.appendChild(h("label", { "for": id, text: param.label + (param.required ? " *" : "") }));
    var value = node[param.name];
    function set(next) {
      if (next === undefined) delete node[param.name];
      else node[param.name] = next;
      self.changed(false);
    }
    function text(attrs) {
      var input = h("input", Object.assign({ type: "text", id: id, className: "rb-input" }, attrs || {}));
      return input;
    }
    var input;
    switch (param.type) {
      case "int":
        input = text({ inputmode: "numeric", size: 8 });
        input.value = value === undefined || value === null ? "" : String(value);
        input.addEventListener("input", function () {
          var v = input.value.trim();
          set(v === "" ? undefined : /^-?\d+$/.test(v) ? parseInt(v, 10) : v);
        });
        break;
      case "decimal":
        input = text({ inputmode: "decimal", size: 10 });
        input.value = value === undefined || value === null ? "" : String(value);
        input.addEventListener("input", function () {
          var v = input.value.trim().replace(",", ".");
          set(v === "" ? undefined : v);
        });
        break;
      case "date":
        input = h("input", { type: "date", id: id, className: "rb-input" });
        input.value = typeof value === "string" ? value : "";
        input.addEventListener("input", function () { set(input.value || undefined); });
        break;
      case "bool":
        input = h("select", { id: id, className: "rb-input" }, [
          option("", this.words.blank, value !== true && value !== false),
          option("true", this.words.yes, value === true),
          option("false", this.words.no, value === false),
        ]);
        input.addEventListener("change", function () {
          set(input.value === "" ? undefined : input.value === "true");
        });
        break;
      case "text":
        input = text({ size: 20 });
        input.value = typeof value === "string" ? value : "";
        input.addEventListener("input", function () { set(input.value.trim() ? input.value : undefined); });
        break;
      case "texts":
        input = text({ size: 30, title: this.words.separate });
        input.value = Array.isArray(value) ? value.join(", ") : "";
        input.addEventListener("input", function () {
          var list = input.value.split(",").map(function (v) { return v.trim(); }).filter(Boolean);
          set(list.length ? list : undefined);
        });
        break;
      case "choice":
        input = h("select", { id: id, className: "rb-input" });
        input.appendChild(option("", this.words.blank, !value));
        param.choices.forEach(function (choice) {
          input.appendChild(option(choice[0], choice[1], value === choice[0]));
        });
        input.addEventListener("change", function () { set(input.value || undefined); });
        break;
      case "choices":
        input = h("span", { id: id, className: "rb-choices", role: "group" });
        var chosen = Array.isArray(value) ? value : [];
        param.choices.forEach(function (choice) {
          var box = h("input", { type: "checkbox", id: id + "-" + choice[0], value: choice[0] });
          box.checked = chosen.indexOf(choice[0]) >= 0;
          box.addEventListener("change", function () {
            var all = Array.prototype.filter.call(
              input.querySelectorAll("input[type=checkbox]"),
              function (b) { return b.checked; }
            ).map(function (b) { return b.value; });
            set(all.length ? all : undefined);
          });
          input.appendChild(h("label", { className: "rb-choice", "for": id + "-" + choice[0] }, [
            box,
            h("span", { text: choice[1] }),
          ]));
        });
        break;
      case "id":
      case "ids":
        input = this.picker(node, kind, param, id, value, set);
        break;
      case "window":
        input = this.windowField(param, id, value, set);
        break;
      default:
        input = text();
        input.value = value === undefined ? "" : JSON.stringify(value);
        input.addEventListener("input", function () {
          try { set(input.value.trim() ? JSON.parse(input.value) : undefined); } catch (e) { set(input.value); }
        });
    }
    wrap.appendChild(input);
    if (param.help) wrap.appendChild(h("span", { className: "rb-help", text: param.help }));
    return wrap;
  };

  Builder.prototype.windowField = function (param, id, value, set) {
    var words = this.words;
    var mode = value && typeof value === "object" ? ("last_days" in value ? "last" : "dates") : "";
    if (!mode && param.required) mode = "last";
    var modes = h("select", { id: id, className: "rb-input rb-window-mode" });
    if (!param.required) modes.appendChild(option("", words.all_time, mode === ""));
    modes.appendChild(option("last", words.last_days, mode === "last"));
    modes.appendChild(option("dates", words.dates, mode === "dates"));
    var days = h("input", { type: "text", inputmode: "numeric", size: 5, id: id + "-days", className: "rb-input" });
    var start = h("input", { type: "date", id: id + "-from", className: "rb-input" });
    var end = h("input", { type: "date", id: id + "-to", className: "rb-input" });
    if (value && typeof value === "object") {
      days.value = value.last_days !== undefined ? String(value.last_days) : "";
      start.value = value.from || "";
      end.value = value.to || "";
    }
    var last = h("span", { className: "rb-window-last" }, [days, h("span", { text: " " + words.days })]);
    var dates = h("span", { className: "rb-window-dates" }, [
      h("span", { text: words.from + " " }), start, h("span", { text: " " + words.to + " " }), end,
    ]);
    function update(write) {
      last.hidden = modes.value !== "last";
      dates.hidden = modes.value !== "dates";
      if (!write) return;
      if (modes.value === "last") {
        var d = days.value.trim();
        set(d === "" ? undefined : { last_days: /^\d+$/.test(d) ? parseInt(d, 10) : d });
      } else if (modes.value === "dates") {
        var w = {};
        if (start.value) w.from = start.value;
        if (end.value) w.to = end.value;
        set(Object.keys(w).length ? w : undefined);
      } else {
        set(undefined);
      }
    }
    [modes, days, start, end].forEach(function (node) {
      node.addEventListener(node === modes ? "change" : "input", function () { update(true); });
    });
    update(false);
    return h("span", { className: "rb-window" }, [modes, last, dates]);
  };

  Builder.prototype.label = function (model, id) {
    var known = this.labels[model] || {};
    return known[id] !== undefined ? known[id] : "#" + id;
  };

  Builder.prototype.remember = function (model, id, text) {
    (this.labels[model] = this.labels[model] || {})[id] = text;
  };

  Builder.prototype.picker = function (node, kind, param, id, value, set) {
    var many = param.type === "ids";
    var select = h("select", { id: id, className: "rb-input rb-picker", multiple: many });
    var values = many ? (Array.isArray(value) ? value : []) : value === undefined || value === null ? [] : [value];
    if (!many) select.appendChild(option("", "", values.length === 0));
    var self = this;
    values.forEach(function (v) { select.appendChild(option(String(v), self.label(param.model, v), true)); });
    this.pickers.push({ select: select, kind: kind, param: param, set: set });
    return select;
  };

  Builder.prototype.initPicker = function (entry) {
    if (!jq || !jq.fn.select2) return;
    var self = this;
    var select = entry.select;
    var param = entry.param;
    jq(select).select2({
      theme: "admin-autocomplete",
      width: "element",
      allowClear: true,
      placeholder: this.words.search,
      ajax: {
        url: this.root.dataset.pickUrl,
        dataType: "json",
        delay: 250,
        data: function (params) {
          return {
            term: params.term || "",
            page: params.page || 1,
            kind: entry.kind.code,
            param: param.name,
            programme: self.programmeId(),
          };
        },
        processResults: function (data) {
          (data.results || []).forEach(function (row) { self.remember(param.model, row.id, row.text); });
          return { results: data.results || [], pagination: data.pagination || {} };
        },
      },
    });
    jq(select).off("change.rb").on("change.rb", function () {
      var chosen = jq(select).val();
      if (param.type === "ids") {
        var ids = (chosen || []).map(Number);
        entry.set(ids.length ? ids : undefined);
      } else {
        entry.set(chosen ? Number(chosen) : undefined);
      }
    });
  };

  // The names of the rows a rule read from the JSON names (saved, or typed there): asked once
  // per picker, then the picker is built again (select2 keeps the text it first read).
  Builder.prototype.loadLabels = function () {
    var self = this;
    var programme = this.programmeId();
    if (!programme) return;
    this.pickers.forEach(function (entry) {
      var select = entry.select;
      var unknown = Array.prototype.filter.call(select.options, function (o) {
        return o.value && (self.labels[entry.param.model] || {})[o.value] === undefined;
      });
      if (!unknown.length) return;
      var query = new URLSearchParams({
        kind: entry.kind.code,
        param: entry.param.name,
        programme: programme,
        ids: unknown.map(function (o) { return o.value; }).join(","),
      });
      fetch(self.root.dataset.pickUrl + "?" + query.toString(), { credentials: "same-origin" })
        .then(function (response) { return response.ok ? response.json() : { results: [] }; })
        .then(function (data) {
          if (!select.isConnected) return;
          (data.results || []).forEach(function (row) {
            self.remember(entry.param.model, row.id, row.text);
            unknown.forEach(function (o) { if (o.value === String(row.id)) o.text = row.text; });
          });
          if (jq && jq(select).data("select2")) {
            jq(select).select2("destroy");
            self.initPicker(entry);
          }
        });
    });
  };

  // --- the preview ---------------------------------------------------------------------------

  Builder.prototype.clearMarks = function () {
    this.tree.querySelectorAll(".rb-error").forEach(function (node) { node.remove(); });
    this.tree.querySelectorAll(".rb-invalid").forEach(function (node) { node.classList.remove("rb-invalid"); });
  };

  Builder.prototype.mark = function (path, param, message) {
    var node = this.tree.querySelector('[data-path="' + path + '"]') || this.tree.firstChild;
    if (!node || !node.classList) return;
    node.classList.add("rb-invalid");
    var field = null;
    if (param) {
      var params = node.querySelector(":scope > .rb-params");
      field = params ? params.querySelector(':scope > [data-param="' + param + '"]') : null;
    }
    var error = h("p", { className: "rb-error", role: "alert", text: message });
    if (field) {
      field.classList.add("rb-invalid");
      field.appendChild(error);
    } else {
      node.querySelector(":scope > .rb-head").after(error);
    }
  };

  // "items.2.items.0" and "min" -> "3.1 age, from, years": the node as numbered on the page.
  Builder.prototype.where = function (path, param) {
    if (typeof path !== "string" || !path) return "";
    var node = this.rule;
    var numbers = [];
    var steps = path.split(".");
    for (var i = 1; i < steps.length && node && Array.isArray(node.items); i += 2) {
      var index = parseInt(steps[i], 10);
      numbers.push(index + 1);
      node = node.items[index];
    }
    var kind = node && this.kinds[node.kind];
    var parts = [numbers.join(".")];
    if (kind) parts.push(kind.label);
    var declared = kind && kind.params.filter(function (p) { return p.name === param; })[0];
    var text = parts.join(" ");
    return declared ? text + ", " + declared.label : text;
  };

  Builder.prototype.setState = function (state) {
    this.preview.dataset.state = state;
  };

  Builder.prototype.schedulePreview = function () {
    var self = this;
    clearTimeout(this.timer);
    this.sequence++;
    this.setState("pending");
    this.timer = setTimeout(function () { self.runPreview(0); }, 400);
  };

  Builder.prototype.runPreview = function (attempt) {
    var self = this;
    this.clearMarks();
    this.preview.textContent = "";
    if (!this.isRules()) return this.setState("idle");
    if (this.rule === null) {
      this.summary.textContent = "";
      return this.setState("idle");
    }
    var programme = this.programmeId();
    if (!programme) {
      this.preview.appendChild(h("p", { className: "rb-help", text: this.words.choose_programme }));
      return this.setState("idle");
    }
    var blank = blankKind(this.rule, "");
    if (blank !== null) {
      this.mark(blank, "", this.words.choose_kind);
      return this.setState("error");
    }
    var mine = ++this.sequence;
    this.preview.appendChild(h("p", { className: "rb-help", text: this.words.counting }));
    var data = new FormData();
    data.append("rule", JSON.stringify(this.rule));
    data.append("programme", programme);
    data.append("object_id", this.root.dataset.objectId || "");
    var token = document.querySelector("[name=csrfmiddlewaretoken]");
    fetch(this.root.dataset.previewUrl, {
      method: "POST",
      body: data,
      credentials: "same-origin",
      headers: token ? { "X-CSRFToken": token.value } : {},
    })
      .then(function (response) {
        return response.json().then(function (body) { return { status: response.status, body: body }; });
      })
      .then(function (answer) {
        if (mine === self.sequence) self.show(answer.body);
      })
      .catch(function () {
        if (mine !== self.sequence) return;
        if (attempt < 3) {
          setTimeout(function () { if (mine === self.sequence) self.runPreview(attempt + 1); }, 1000);
        } else {
          self.preview.textContent = "";
          self.preview.appendChild(h("p", { className: "rb-error", text: self.words.failed }));
          self.setState("failed");
        }
      });
  };

  Builder.prototype.show = function (body) {
    this.preview.textContent = "";
    this.summary.textContent = body.summary || "";
    if (body.error) {
      var where = this.where(body.error.path, body.error.param);
      this.preview.appendChild(h("p", {
        className: "rb-error",
        id: "rule-error",
        text: (where ? where + ": " : "") + body.error.message,
      }));
      if (typeof body.error.path === "string") this.mark(body.error.path, body.error.param, body.error.message);
      delete this.preview.dataset.size;
      return this.setState("error");
    }
    this.preview.dataset.size = String(body.size);
    this.preview.appendChild(h("p", { className: "rb-size" }, [h("strong", { id: "rule-size", text: body.size_text })]));
    if (body.customers_note) this.preview.appendChild(h("p", { className: "rb-help", text: body.customers_note }));
    if (body.customers && body.customers.length) {
      var words = this.words;
      var head = h("tr", {}, [words.customer, words.name, words.phone, words.email, words.registered].map(function (w) {
        return h("th", { text: w });
      }));
      var rows = body.customers.map(function (c) {
        return h("tr", {}, [
          h("td", {}, [h("a", { href: c.url, target: "_blank", text: c.public_id })]),
          h("td", { text: c.name }),
          h("td", { text: c.phone }),
          h("td", { text: c.email }),
          h("td", { text: c.registered }),
        ]);
      });
      this.preview.appendChild(h("table", { className: "rb-customers", id: "rule-customers" }, [
        h("thead", {}, [head]),
        h("tbody", {}, rows),
      ]));
    }
    this.setState("ok");
  };

  // --- start -------------------------------------------------------------------------------------

  Builder.prototype.start = function () {
    var self = this;
    this.rule = this.readJson();
    this.render();
    this.textarea.addEventListener("input", function () {
      self.rule = self.readJson();
      self.render();
      self.schedulePreview();
    });
    var kind = document.getElementById("id_kind");
    // A segment filled by hand keeps no rule: its field is hidden altogether.
    var line = this.root.closest(".field-line") || this.root.closest(".form-row");
    function visibility() {
      self.root.classList.toggle("rb-off", !self.isRules());
      if (line) line.style.display = self.isRules() ? "" : "none";
    }
    if (kind) {
      kind.addEventListener("change", function () { visibility(); self.schedulePreview(); });
    }
    var programme = document.getElementById("id_programme");
    if (programme) {
      programme.addEventListener("change", function () { self.loadLabels(); self.schedulePreview(); });
      if (jq) jq(programme).on("select2:select select2:clear", function () { self.schedulePreview(); });
    }
    visibility();
    this.schedulePreview();
  };

  function start(attempt) {
    var root = document.getElementById("rule-builder");
    if (!root || root.dataset.ready) return;
    jq = window.django && window.django.jQuery;
    fetch(root.dataset.kindsUrl, { credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok) throw new Error(String(response.status));
        return response.json();
      })
      .then(function (description) {
        var builder = new Builder(root, description);
        window.segmentRuleBuilder = builder;
        builder.start();
        root.dataset.ready = "1";
      })
      .catch(function () {
        if ((attempt || 0) < 3) setTimeout(function () { start((attempt || 0) + 1); }, 1000);
      });
  }

  document.addEventListener("DOMContentLoaded", function () { start(0); });
})();
