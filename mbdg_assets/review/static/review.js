// mbdg review: keyboard shortcuts. The page works without this file; it only clicks what is there.
// a approve · r reject (focus the reason, Enter sends) · e edit (Ctrl+Enter saves) · u undo ·
// j / k next / previous (queue rows or records) · Enter or o opens the selected queue row.
(function () {
  "use strict";
  const $ = (sel) => document.querySelector(sel);
  const typing = (el) => el && (el.tagName === "INPUT" || el.tagName === "TEXTAREA" || el.tagName === "SELECT" || el.isContentEditable);
  const submit = (id) => { const f = document.getElementById(id); if (f) f.requestSubmit(); };
  const go = (sel) => { const a = $(sel); if (a) window.location.assign(a.href); };

  // Queue rows: click anywhere on a row, j/k to move the selection.
  const rows = Array.from(document.querySelectorAll("table.queue tbody tr"));
  let selected = rows.length ? 0 : -1;
  const select = (i) => {
    if (!rows.length) return;
    selected = Math.max(0, Math.min(rows.length - 1, i));
    rows.forEach((r, n) => r.classList.toggle("selected", n === selected));
    rows[selected].scrollIntoView({ block: "nearest" });
  };
  rows.forEach((row) => row.addEventListener("click", (ev) => {
    if (ev.target.tagName !== "A") window.location.assign(row.dataset.href);
  }));
  if (rows.length) select(0);

  document.addEventListener("keydown", (ev) => {
    if (ev.key === "Escape" && typing(document.activeElement)) { document.activeElement.blur(); return; }
    if (ev.key === "Enter" && (ev.ctrlKey || ev.metaKey) && document.activeElement && document.activeElement.form &&
        document.activeElement.form.id === "form-edit") { ev.preventDefault(); submit("form-edit"); return; }
    if (typing(document.activeElement) || ev.ctrlKey || ev.metaKey || ev.altKey) return;
    const page = document.body.dataset.page;
    switch (ev.key) {
      case "j": ev.preventDefault(); if (page === "queue") select(selected + 1); else go("#link-next"); break;
      case "k": ev.preventDefault(); if (page === "queue") select(selected - 1); else go("#link-prev"); break;
      case "Enter": case "o": if (page === "queue" && selected >= 0) { ev.preventDefault(); window.location.assign(rows[selected].dataset.href); } break;
      case "a": if (page === "record") { ev.preventDefault(); submit("form-approve"); } break;
      case "r": if (page === "record") { ev.preventDefault(); $("#reject-reason").focus(); } break;
      case "e": if (page === "record") {
        ev.preventDefault(); const box = $("#edit-box"); box.open = true;
        const first = box.querySelector("textarea"); if (first) first.focus();
      } break;
      case "u": ev.preventDefault(); submit("form-undo"); break;
    }
  });
})();
