/* Adwright editors (ad group, creative): small progressive enhancements. Every form works without
   this file: plain multi-selects, every section visible, a plain file input. */
(function () {
  "use strict";

  function fire(element) {
    element.dispatchEvent(new Event("input", { bubbles: true }));
  }

  /* A <select multiple data-searchable> becomes a search box, chips of what is chosen and a list of
     checkboxes; the select stays in the form (hidden) and is what is submitted. */
  function searchable(select) {
    var field = select.closest(".field");
    var labelText = field && field.querySelector("label") ? field.querySelector("label").textContent.trim() : "";
    var box = document.createElement("div");
    box.className = "msel";
    var chips = document.createElement("ul");
    chips.className = "msel__chips";
    chips.setAttribute("aria-label", "Chosen: " + labelText);
    var search = document.createElement("input");
    search.type = "search";
    search.className = "msel__search";
    search.placeholder = "Search…";
    search.setAttribute("aria-label", "Search " + labelText.toLowerCase());
    search.id = select.id + "_search";
    var list = document.createElement("div");
    list.className = "msel__list";
    list.setAttribute("role", "group");
    list.setAttribute("aria-label", labelText);
    var options = Array.prototype.slice.call(select.options);

    function renderChips() {
      chips.innerHTML = "";
      options.forEach(function (option) {
        if (!option.selected) return;
        var chip = document.createElement("li");
        chip.className = "msel__chip";
        chip.textContent = option.text;
        if (!select.disabled) {
          var remove = document.createElement("button");
          remove.type = "button";
          remove.className = "msel__remove";
          remove.setAttribute("aria-label", "Remove " + option.text);
          remove.textContent = "×";
          remove.addEventListener("click", function () {
            option.selected = false;
            option._checkbox.checked = false;
            renderChips();
            fire(select);
          });
          chip.appendChild(remove);
        }
        chips.appendChild(chip);
      });
      if (!chips.children.length) {
        var none = document.createElement("li");
        none.className = "msel__none";
        none.textContent = "None chosen: no restriction.";
        chips.appendChild(none);
      }
    }

    options.forEach(function (option) {
      var label = document.createElement("label");
      label.className = "msel__option";
      var checkbox = document.createElement("input");
      checkbox.type = "checkbox";
      checkbox.checked = option.selected;
      checkbox.disabled = select.disabled;
      checkbox.value = option.value;
      checkbox.addEventListener("change", function () {
        option.selected = checkbox.checked;
        renderChips();
      });
      label.appendChild(checkbox);
      label.appendChild(document.createTextNode(" " + option.text));
      list.appendChild(label);
      option._checkbox = checkbox;
      option._label = label;
    });

    search.addEventListener("input", function (event) {
      event.stopPropagation(); // searching is not a change of the targeting
      var query = search.value.trim().toLowerCase();
      options.forEach(function (option) {
        option._label.hidden = query !== "" && option.text.toLowerCase().indexOf(query) === -1;
      });
    });
    search.addEventListener("keydown", function (event) {
      if (event.key === "Enter") {
        event.preventDefault(); // Enter picks the first match instead of submitting the form
        var first = options.filter(function (o) { return !o._label.hidden; })[0];
        if (first && !first.selected) first._checkbox.click();
      }
    });

    box.appendChild(chips);
    if (!select.disabled) {
      // Read only: the chips say what is chosen; nothing to search or tick.
      box.appendChild(search);
      box.appendChild(list);
    }
    select.hidden = true;
    select.insertAdjacentElement("afterend", box);
    var label = field && field.querySelector("label[for='" + select.id + "']");
    if (label && !select.disabled) label.htmlFor = search.id;
    renderChips();
  }

  /* The bid is hidden for "lowest cost" (the platform sets it). */
  function bidToggle(form) {
    var holder = form.querySelector("[data-bid-field] .field");
    if (!holder) return;
    function update() {
      var chosen = form.querySelector("input[name=bid_strategy]:checked");
      holder.hidden = !!chosen && chosen.value === "lowest_cost";
    }
    form.addEventListener("change", function (event) {
      if (event.target.name === "bid_strategy") update();
    });
    update();
  }

  /* The 7 x 24 grid: shown only for "run on a schedule"; click and drag paints hours. */
  function daypart(form) {
    var grid = form.querySelector("[data-daypart]");
    if (!grid) return;
    function update() {
      var chosen = form.querySelector("input[name=schedule]:checked");
      grid.hidden = !chosen || chosen.value !== "dayparting";
    }
    form.addEventListener("change", function (event) {
      if (event.target.name === "schedule") update();
    });
    update();
    /* Painting fills the rectangle from the cell pressed to the cell under the pointer. */
    var painting = null;
    var start = null;
    function cell(box) {
      var parts = box.value.split("-");
      return { day: +parts[0], hour: +parts[1] };
    }
    grid.addEventListener("mousedown", function (event) {
      var box = event.target;
      if (box.name !== "dayparting" || box.disabled) return;
      event.preventDefault();
      painting = !box.checked;
      start = cell(box);
      box.checked = painting;
      fire(box);
    });
    grid.addEventListener("mouseover", function (event) {
      var box = event.target;
      if (painting === null || box.name !== "dayparting") return;
      var end = cell(box);
      var changed = false;
      grid.querySelectorAll("input[name=dayparting]").forEach(function (other) {
        var at = cell(other);
        var inside = at.day >= Math.min(start.day, end.day) && at.day <= Math.max(start.day, end.day) &&
          at.hour >= Math.min(start.hour, end.hour) && at.hour <= Math.max(start.hour, end.hour);
        if (inside && other.checked !== painting) {
          other.checked = painting;
          changed = true;
        }
      });
      if (changed) fire(box);
    });
    grid.addEventListener("click", function (event) {
      if (event.target.name === "dayparting" && event.detail > 0) event.preventDefault(); // mousedown did it
    });
    document.addEventListener("mouseup", function () { painting = null; });
  }

  /* Creative: show the sections the chosen format needs; drop an image on the drop zone. */
  function creative(form) {
    function update() {
      var chosen = form.querySelector("input[name=format]:checked");
      var format = chosen ? chosen.value : "";
      form.querySelectorAll("[data-needs]").forEach(function (section) {
        section.hidden = format !== "" && section.dataset.needs.split(" ").indexOf(format) === -1;
      });
    }
    form.addEventListener("change", function (event) {
      if (event.target.name === "format") update();
    });
    update();
    var zone = form.querySelector("[data-dropzone]");
    var input = zone && zone.querySelector("input[type=file]");
    if (!zone || !input || input.disabled) return;
    ["dragenter", "dragover"].forEach(function (name) {
      zone.addEventListener(name, function (event) {
        event.preventDefault();
        zone.classList.add("dropzone--over");
      });
    });
    ["dragleave", "drop"].forEach(function (name) {
      zone.addEventListener(name, function () { zone.classList.remove("dropzone--over"); });
    });
    zone.addEventListener("drop", function (event) {
      event.preventDefault();
      if (!event.dataTransfer || !event.dataTransfer.files.length) return;
      input.files = event.dataTransfer.files;
      fire(input);
    });
  }

  /* A live validation request says which field is being typed in (its "required" error shows;
     empty fields not reached yet keep quiet until the form is saved). */
  document.addEventListener("htmx:configRequest", function (event) {
    var form = event.detail.elt;
    if (!form.matches || !form.matches("form.editor__form")) return;
    var trigger = event.detail.triggeringEvent;
    var name = trigger && trigger.target && trigger.target.name;
    if (name) event.detail.parameters._field = name;
  });

  function init() {
    document.querySelectorAll("select[multiple][data-searchable]").forEach(searchable);
    document.querySelectorAll("form.editor__form").forEach(function (form) {
      bidToggle(form);
      daypart(form);
      if (form.hasAttribute("data-creative-form")) creative(form);
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
