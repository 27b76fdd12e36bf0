// kiemphieu review page: keyboard-first review of doubtful ballots.
// No network access beyond this server; no inline scripts (strict CSP).
"use strict";

(function () {
  const meta = (name) => document.querySelector(`meta[name="${name}"]`).getAttribute("content");
  const CSRF = meta("kp-csrf");
  const SVGNS = "http://www.w3.org/2000/svg";
  let lang = sessionStorage.getItem("kp-lang") || (meta("kp-lang") === "en" ? "en" : "vi");
  let reviewer = sessionStorage.getItem("kp-reviewer") || "";
  let state = null;
  let index = 0;          // current item
  let selection = null;   // {kind: "row"|"ballot", value}
  let wholePage = false;
  let busy = false;

  const T = {
    title: ["Xem xét phiếu tín nhiệm", "Reviewing confidence ballots"],
    reviewer: ["Người xem xét:", "Reviewer:"],
    change: ["đổi", "change"],
    progress: ["{n} / {m} mục đã xong", "{n} of {m} items done"],
    whoLabel: ["Họ và tên người xem xét", "Reviewer's full name"],
    whoHint: ["Tên này được ghi cùng mỗi quyết định. Nhấn Enter để bắt đầu.",
              "This name is recorded with every decision. Press Enter to start."],
    start: ["Bắt đầu", "Start"],
    page: ["{src}, trang {n}", "{src}, page {n}"],
    ballotItem: ["Quyết định cho cả tờ phiếu", "Decision for the whole ballot sheet"],
    rowItem: ["{stt}. {name}", "{stt}. {name}"],
    machineRow: ["Máy đọc: {v}", "Machine read: {v}"],
    machineBallot: ["Máy đề nghị: {v}", "Machine suggests: {v}"],
    machineNone: ["Máy không đọc được trang này.", "The machine could not read this page."],
    standing: ["Đã quyết định: {v}", "Decided: {v}"],
    waitingSecond: ["Chờ người thứ hai xác nhận ({who}: {v})", "Waiting for a second reviewer ({who}: {v})"],
    disagree: ["Hai người xem xét không thống nhất: {list}", "Reviewers disagree: {list}"],
    cause: ["Trên {n} trang: {text}.", "On {n} pages: {text}."],
    crossedMark: ["Đã ghi: họ tên bị gạch xoá", "Recorded: printed name crossed out"],
    note: ["Ghi chú (khi khác với máy đọc)", "Note (when overriding the machine)"],
    noteRequired: ["Cần ghi chú: quyết định khác với máy đọc. Gõ lý do rồi nhấn Enter.",
                   "A note is needed: this overrides the machine. Type why, then press Enter."],
    choose: ["Chọn một phương án trước khi nhấn Enter.", "Choose an option before pressing Enter."],
    saved: ["Đã ghi.", "Saved."],
    undone: ["Đã hoàn tác quyết định số {id}.", "Undid decision {id}."],
    keys: ["<kbd>1</kbd><kbd>2</kbd><kbd>3</kbd> mức tín nhiệm · <kbd>0</kbd> không đánh dấu · <kbd>M</kbd> nhiều ô · <kbd>X</kbd> họ tên bị gạch · <kbd>Enter</kbd> xác nhận · <kbd>Backspace</kbd> quay lại · <kbd>U</kbd> hoàn tác · <kbd>Space</kbd> cả trang / phóng to · <kbd>←</kbd><kbd>→</kbd> chuyển mục",
           "<kbd>1</kbd><kbd>2</kbd><kbd>3</kbd> levels · <kbd>0</kbd> none · <kbd>M</kbd> multiple · <kbd>X</kbd> name crossed out · <kbd>Enter</kbd> confirm · <kbd>Backspace</kbd> back · <kbd>U</kbd> undo · <kbd>Space</kbd> whole page / zoom · <kbd>←</kbd><kbd>→</kbd> move"],
    viewRow: ["Đang phóng to dòng cần xem — nhấn Space để xem cả trang", "Zoomed to the row — press Space for the whole page"],
    viewPage: ["Cả trang — nhấn Space để phóng to dòng", "Whole page — press Space to zoom to the row"],
    noImage: ["Trang này không có ảnh.", "This page has no image."],
    allDone: ["Đã xem xét xong tất cả các mục. Kết quả có thể lập chính thức.",
              "Every item has been reviewed. The tally can be made final."],
    nothing: ["Không có phiếu nào cần xem xét.", "No ballot needs review."],
    tally: ["Kết quả tạm tính", "Provisional tally"],
    tallyFinal: ["Kết quả (không còn mục chờ xem xét)", "Tally (nothing pending)"],
    tallyPending: ["TẠM TÍNH — còn {n} trang chờ xem xét; kết quả chưa chính thức.",
                   "PROVISIONAL — {n} page(s) still wait for review; not the final result."],
    tallyOk: ["Không còn trang nào chờ xem xét.", "No page waits for review."],
    cols: [["STT", "Họ và tên", "Thu về", "Hợp lệ", "Không hợp lệ", "Chờ", "Cao", "Tín nhiệm", "Thấp"],
           ["No.", "Name", "Collected", "Valid", "Invalid", "Pending", "High", "Medium", "Low"]],
    kind_unreadable: ["Trang không đọc được", "Unreadable page"],
    kind_rejected: ["Trang bị loại", "Rejected page"],
    kind_not_issued: ["Phiếu không có trong danh sách phát ra", "Ballot not in the issued list"],
    fileItem: ["Tệp không đọc được", "A file that cannot be read"],
    rescan: ["Bản quét này không dùng được. Chọn K (không tính); nếu đó là một phiếu thật, hãy quét lại tờ phiếu đó.",
             "This scan cannot be used. Choose K (not counted); if it is a real ballot, scan that sheet again."],
  };
  const READING = {
    high: ["Tín nhiệm cao", "High confidence"],
    medium: ["Tín nhiệm", "Confidence"],
    low: ["Tín nhiệm thấp", "Low confidence"],
    none: ["Không đánh dấu ô nào", "No box marked"],
    multiple: ["Đánh dấu nhiều ô", "Several boxes marked"],
    valid: ["Hợp lệ — không có vấn đề", "Valid after all"],
    not_issued: ["Không do ban kiểm phiếu phát ra", "Not issued by the committee"],
    name_crossed: ["Họ tên in sẵn bị gạch xoá", "Printed name crossed out"],
    extra_writing: ["Ghi thêm tên hoặc thông tin khác", "Extra name or writing"],
    duplicate_copy: ["Bản quét trùng — không tính", "Duplicate scan — not counted"],
    not_a_ballot: ["Không phải phiếu — không tính", "Not a ballot — not counted"],
  };
  const ROW_KEYS = { "1": "high", "2": "medium", "3": "low", "0": "none", m: "multiple" };
  const KEY_OF = { high: "1", medium: "2", low: "3", none: "0", multiple: "M", valid: "V", not_issued: "N",
    name_crossed: "X", extra_writing: "W", duplicate_copy: "D", not_a_ballot: "K" };
  const BALLOT_KEYS = { v: "valid", n: "not_issued", w: "extra_writing", d: "duplicate_copy", k: "not_a_ballot" };
  const BOX_COLOUR = { marked: "#0b5cad", marginal: "#d9480f", empty: "#98a2b3", unknown: "#98a2b3" };

  const $ = (id) => document.getElementById(id);
  const t = (key, vars) => {
    let s = T[key][lang === "en" ? 1 : 0];
    for (const [k, v] of Object.entries(vars || {})) s = s.split(`{${k}}`).join(String(v));
    return s;
  };
  const words = (pair) => pair[lang === "en" ? 1 : 0];
  const readingText = (value) => (READING[value] ? words(READING[value]) : value);
  const textOf = (obj) => (lang === "en" ? obj.en : obj.vi);

  // -- server -------------------------------------------------------------
  async function api(path, body) {
    const options = body === undefined ? { credentials: "same-origin" } : {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": CSRF },
      body: JSON.stringify(body),
    };
    const response = await fetch(path, options);
    const doc = await response.json();
    if (!response.ok) throw doc.error || { vi: "Lỗi máy chủ", en: "Server error" };
    return doc;
  }

  // -- queue ----------------------------------------------------------------
  const items = () => (state ? state.items : []);
  const current = () => items()[index];
  const pageOf = (item) => state.pages.find((p) => p.page_id === item.page_id);
  const mine = (item) => item.opinions.find((o) => o.reviewer === reviewer);
  function open(item) {
    if (item.done) return false;
    if (state.two_person && mine(item) && !item.disagreement) return false;
    return true;
  }
  function nextOpen(from) {
    const list = items();
    for (let k = 0; k < list.length; k++) {
      const i = (from + k) % list.length;
      if (open(list[i])) return i;
    }
    return Math.min(from, Math.max(0, list.length - 1));
  }

  function needsNote(item, value) {
    if (value === "name_crossed") return !item.reasons.some((r) => r.code === "name_crossed");
    if (item.kind === "row") return value !== item.machine;
    const agreeing = item.machine ? item.machine.split(",") : [];
    return agreeing.length > 0 && !agreeing.includes(value);
  }

  // -- drawing --------------------------------------------------------------
  function el(name, attrs, parent) {
    const node = document.createElementNS(SVGNS, name);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
    if (parent) parent.appendChild(node);
    return node;
  }

  function drawPage(item) {
    const svg = $("svg");
    svg.replaceChildren();
    const page = pageOf(item);
    if (!page || !page.has_image) {
      svg.setAttribute("viewBox", "0 0 1260 400");
      const text = el("text", { x: 630, y: 200, "text-anchor": "middle", "font-size": 40, fill: "#5b6472" }, svg);
      text.textContent = t("noImage");
      $("view-hint").textContent = "";
      return;
    }
    const [w, h] = page.size;
    const image = el("image", { href: `/api/pages/${page.page_id}/image`, x: 0, y: 0, width: w, height: h }, svg);
    if (!page.straightened) {
      // a raw page: no boxes; fit the image whatever its size
      image.setAttribute("preserveAspectRatio", "xMidYMid meet");
      svg.setAttribute("viewBox", `0 0 ${w} ${h}`);
      $("view-hint").textContent = "";
      return;
    }
    const row = item.person == null ? null : page.rows.find((r) => r.person === item.person);
    if (row) {
      const [x, y, rw, rh] = row.rect;
      el("rect", { x: x - 4, y: y, width: rw + 8, height: rh, fill: "#ffd43b", "fill-opacity": 0.22,
        stroke: "#f59f00", "stroke-width": 3 }, svg);
    }
    for (const box of page.boxes) {
      const [x, y, bw, bh] = box.rect;
      const focus = row && box.person === item.person;
      el("rect", { x, y, width: bw, height: bh, fill: "none", stroke: BOX_COLOUR[box.state] || "#98a2b3",
        "stroke-width": focus ? 4 : (box.state === "empty" ? 1.5 : 3),
        "stroke-dasharray": box.state === "marginal" ? "8 5" : "none" }, svg);
      if (focus) {
        const colour = BOX_COLOUR[box.state] || "#5b6472";
        const key = el("text", { x: x - 8, y: y + bh / 2 + 7, "text-anchor": "end", "font-size": 20,
          "font-weight": 700, fill: "#1d2430" }, svg);
        key.textContent = KEY_OF[box.level];
        const score = el("text", { x: x + bw + 6, y: y + bh / 2 + 7, "text-anchor": "start", "font-size": 18,
          "font-weight": 700, fill: colour }, svg);
        score.textContent = box.score == null ? "?" : Math.round(box.score * 100) + "%";
      }
    }
    for (const stt of page.crossed) {
      const r = page.rows.find((rr) => rr.person === stt);
      if (r) el("line", { x1: r.rect[0], y1: r.rect[1] + r.rect[3] / 2, x2: r.rect[0] + r.rect[2],
        y2: r.rect[1] + r.rect[3] / 2, stroke: "#b42318", "stroke-width": 2, "stroke-dasharray": "10 6" }, svg);
    }
    if (row && !wholePage) {
      const [x, y, rw, rh] = row.rect;
      svg.setAttribute("viewBox", `${x - 20} ${y - 70} ${rw + 40} ${rh + 140}`);
      $("view-hint").textContent = t("viewRow");
    } else {
      svg.setAttribute("viewBox", `0 0 ${w} ${h}`);
      $("view-hint").textContent = row ? t("viewPage") : "";
    }
  }

  // -- panel ----------------------------------------------------------------
  function render() {
    document.documentElement.lang = lang;
    $("title").textContent = t("title");
    $("lang").textContent = lang === "en" ? "Tiếng Việt" : "English";
    $("reviewer-label").textContent = t("reviewer");
    $("reviewer-name").textContent = reviewer;
    $("change-reviewer").textContent = t("change");
    $("note-label").textContent = t("note");
    $("keys").innerHTML = t("keys");
    if (!state) return;
    const pct = state.total ? Math.round((100 * state.done) / state.total) : 100;
    $("progress").innerHTML = "";
    $("progress").append(t("progress", { n: state.done, m: state.total }));
    const track = document.createElement("span");
    track.className = "bar-track";
    const fill = document.createElement("span");
    fill.className = "bar-fill";
    fill.style.width = `${pct}%`;
    track.append(fill);
    $("progress").append(track);
    renderItem();
    renderTally();
    renderDisagreements();
    renderCauses();
  }

  // one cause at the scanner on many pages (a dirty glass, a black-and-white mode): mended at the machine
  function renderCauses() {
    const box = $("causes");
    const causes = state.causes || [];
    box.hidden = causes.length === 0;
    box.replaceChildren(...causes.map((c) => {
      const line = document.createElement("div");
      line.dataset.code = c.code;
      line.textContent = t("cause", { n: c.pages, text: textOf(c) });
      return line;
    }));
  }

  function renderItem() {
    const item = current();
    const banner = $("done-banner");
    const finished = state.total === 0 || state.final;
    banner.hidden = !finished;
    banner.textContent = state.total === 0 ? t("nothing") : t("allDone");
    const panelParts = ["item-where", "item-title", "item-sub", "machine", "standing"];
    if (!item) {
      delete document.body.dataset.item;
      panelParts.forEach((id) => { $(id).textContent = ""; });
      $("reasons").replaceChildren();
      $("choices").replaceChildren();
      $("svg").replaceChildren();
      return;
    }
    document.body.dataset.item = item.key;
    const page = pageOf(item);
    $("item-where").textContent = `${index + 1} / ${state.total} · ` +
      t("page", { src: page ? page.source : "?", n: page ? page.page_index + 1 : "?" });
    if (item.kind === "row") {
      $("item-title").textContent = t("rowItem", { stt: item.person, name: item.name });
      $("item-sub").textContent = item.position;
    } else {
      const unusable = page && (page.kind === "rejected" || page.kind === "unreadable");
      $("item-title").textContent = page && page.kind === "rejected" ? t("fileItem") : t("ballotItem");
      const k = page && T[`kind_${page.kind}`];
      // the scanner's detail sentence is English: the reasons below already say it in Vietnamese
      const detail = page && page.detail && lang === "en" ? ` — ${page.detail}` : "";
      const head = k ? words(k) + detail : "";
      $("item-sub").textContent = unusable ? `${head.replace(/\.$/, "")}. ${t("rescan")}` : head;
    }
    const reasons = $("reasons");
    reasons.replaceChildren();
    for (const r of item.reasons) {
      const li = document.createElement("li");
      li.textContent = textOf(r);
      reasons.append(li);
    }
    if (item.kind === "row") {
      $("machine").textContent = t("machineRow", { v: readingText(item.machine) });
    } else if (item.machine) {
      $("machine").textContent = t("machineBallot", { v: item.machine.split(",").map(readingText).join(" / ") });
    } else {
      $("machine").textContent = page && !page.straightened ? t("machineNone") : "";
    }
    const standing = $("standing");
    standing.className = "standing";
    const parts = [];
    if (item.standing) parts.push(t("standing", { v: readingText(item.standing) }));
    if (item.crossed) parts.push(t("crossedMark"));
    if (state.two_person && !item.done && item.opinions.length) {
      if (item.disagreement) {
        parts.push(t("disagree", { list: item.opinions.map((o) => `${o.reviewer}: ${readingText(o.reading)}`).join("; ") }));
      } else {
        const o = item.opinions[item.opinions.length - 1];
        parts.push(t("waitingSecond", { who: o.reviewer, v: readingText(o.reading) }));
      }
      standing.className = "standing waiting";
    }
    standing.textContent = parts.join(" · ");
    const choices = $("choices");
    choices.replaceChildren();
    const options = item.kind === "row" ? [...item.options, "name_crossed"] : item.options;
    for (const value of options) {
      const button = document.createElement("button");
      button.type = "button";
      const ballotLevel = item.kind === "row" && value === "name_crossed";
      button.className = "choice" + (ballotLevel ? " ballot" : "");
      if (selection && selection.value === value) button.classList.add("selected");
      const agreeing = item.kind === "row" ? value === item.machine : (item.machine || "").split(",").includes(value);
      if (agreeing) {
        button.classList.add("machine-says");
        button.dataset.machine = lang === "en" ? "machine" : "máy đọc";
      }
      const kbd = document.createElement("kbd");
      kbd.textContent = KEY_OF[value] || "?";
      button.append(kbd, document.createTextNode(readingText(value)));
      button.addEventListener("click", () => select(value));
      choices.append(button);
    }
    const required = selection && needsNote(item, selection.value);
    $("note-label").className = "note-label" + (required ? " required" : "");
    $("note-label").textContent = required ? t("noteRequired") : t("note");
    drawPage(item);
  }

  function renderTally() {
    const table = $("tally");
    table.replaceChildren();
    const tally = state.tally;
    $("tally-title").textContent = state.final ? t("tallyFinal") : t("tally");
    const status = $("tally-status");
    if (!tally) {
      status.textContent = state.tally_error || "";
      status.className = "tally-status";
      return;
    }
    status.textContent = tally.provisional ? t("tallyPending", { n: tally.pending_pages }) : t("tallyOk");
    status.className = "tally-status" + (tally.provisional ? "" : " final");
    const head = document.createElement("tr");
    for (const c of T.cols[lang === "en" ? 1 : 0]) {
      const th = document.createElement("th");
      th.textContent = c;
      head.append(th);
    }
    table.append(head);
    for (const r of tally.rows) {
      const tr = document.createElement("tr");
      tr.dataset.stt = r.stt;
      if (r.flag) tr.className = "flag";
      const cells = [r.stt, r.name, r.collected, r.valid, r.invalid, r.pending, r.high, r.medium, r.low];
      cells.forEach((v, i) => {
        const td = document.createElement("td");
        td.textContent = String(v);
        if (i === 1) td.className = "name";
        tr.append(td);
      });
      table.append(tr);
    }
  }

  function renderDisagreements() {
    const box = $("disagreements");
    const keys = state.disagreements || [];
    box.hidden = keys.length === 0;
    if (!keys.length) return;
    const list = keys.map((k) => {
      const item = state.items.find((i) => i.key === k);
      if (!item) return k;
      const who = item.opinions.map((o) => `${o.reviewer}: ${readingText(o.reading)}`).join(", ");
      return (item.kind === "row" ? `${item.person}. ${item.name}` : t("ballotItem")) + ` (${who})`;
    });
    box.textContent = t("disagree", { list: list.join(" — ") });
  }

  function message(text, ok) {
    const m = $("message");
    m.textContent = text || "";
    m.className = "message" + (ok ? " ok" : "");
  }

  // -- actions ----------------------------------------------------------------
  function select(value) {
    const item = current();
    if (!item) return;
    if (item.kind === "row" && value !== "name_crossed" && !item.options.includes(value)) return;
    if (item.kind === "ballot" && !item.options.includes(value)) return;
    selection = { value };
    message("");
    renderItem();
    if (needsNote(item, value)) {
      message(t("noteRequired"));
      $("note").focus();
    }
  }

  async function confirm() {
    const item = current();
    if (!item || busy) return;
    if (!selection) { message(t("choose")); return; }
    const note = $("note").value.trim();
    if (needsNote(item, selection.value) && !note) { message(t("noteRequired")); $("note").focus(); return; }
    let body;
    if (item.kind === "row" && selection.value !== "name_crossed") {
      body = { reviewer, page_id: item.page_id, person: item.person, reading: selection.value, note };
    } else if (selection.value === "name_crossed") {
      const page = pageOf(item);
      const persons = [...new Set([...(page ? page.crossed : []), item.person])];
      body = { reviewer, page_id: item.page_id, person: null, verdict: "name_crossed", persons, note };
    } else {
      body = { reviewer, page_id: item.page_id, person: null, verdict: selection.value, note };
    }
    busy = true;
    try {
      const doc = await api("/api/decisions", body);
      state = doc.state;
      selection = null;
      $("note").value = "";
      $("note").blur();
      const same = state.items.findIndex((i) => i.key === item.key);
      index = nextOpen(same >= 0 ? same : index);
      document.body.dataset.saved = String(Number(document.body.dataset.saved || 0) + 1);
      message(t("saved"), true);
      render();
    } catch (err) {
      message(textOf(err));
    } finally {
      busy = false;
    }
  }

  async function undo() {
    if (busy) return;
    busy = true;
    try {
      const doc = await api("/api/undo", { reviewer });
      state = doc.state;
      const key = `p${doc.decision.page_id}-` + (doc.decision.person == null ? "b" : `r${doc.decision.person}`);
      const at = state.items.findIndex((i) => i.key === key);
      if (at >= 0) index = at;
      selection = null;
      document.body.dataset.saved = String(Number(document.body.dataset.saved || 0) + 1);
      message(t("undone", { id: doc.decision.undoes }), true);
      render();
    } catch (err) {
      message(textOf(err));
    } finally {
      busy = false;
    }
  }

  function move(delta) {
    const n = items().length;
    if (!n) return;
    index = (index + delta + n) % n;
    selection = null;
    $("note").value = "";
    message("");
    renderItem();
  }

  function onKey(event) {
    if ($("who-dialog").open || event.ctrlKey || event.altKey || event.metaKey) return;
    const inNote = document.activeElement === $("note");
    if (inNote) {
      if (event.key === "Enter") { event.preventDefault(); confirm(); }
      else if (event.key === "Escape") { $("note").blur(); }
      return;
    }
    const key = event.key.length === 1 ? event.key.toLowerCase() : event.key;
    const item = current();
    if (key === "Enter") { event.preventDefault(); confirm(); return; }
    if (key === "Backspace") { event.preventDefault(); move(-1); return; }
    if (key === "ArrowLeft") { event.preventDefault(); move(-1); return; }
    if (key === "ArrowRight") { event.preventDefault(); move(1); return; }
    if (key === "u") { event.preventDefault(); undo(); return; }
    if (key === " " || key === "p") { event.preventDefault(); wholePage = !wholePage; if (item) drawPage(item); return; }
    if (!item) return;
    if (item.kind === "row") {
      if (key in ROW_KEYS) { event.preventDefault(); select(ROW_KEYS[key]); }
      else if (key === "x") { event.preventDefault(); select("name_crossed"); }
    } else {
      if (key in BALLOT_KEYS) { event.preventDefault(); select(BALLOT_KEYS[key]); }
      else if (/^[1-9]$/.test(key) && Number(key) <= item.options.length) {
        event.preventDefault(); select(item.options[Number(key) - 1]);
      }
    }
  }

  // -- reviewer -------------------------------------------------------------
  function askReviewer() {
    const dialog = $("who-dialog");
    $("who-label").textContent = t("whoLabel");
    $("who-hint").textContent = t("whoHint");
    $("who-ok").textContent = t("start");
    $("who-input").value = reviewer || meta("kp-reviewer") || "";
    dialog.showModal();
    $("who-input").focus();
  }

  $("who-form").addEventListener("submit", () => {
    const name = $("who-input").value.trim().replace(/\s+/g, " ");
    if (!name) return;
    reviewer = name;
    sessionStorage.setItem("kp-reviewer", reviewer);
    if (state) index = nextOpen(0);
    render();
  });
  $("who-dialog").addEventListener("cancel", (e) => { if (!reviewer) e.preventDefault(); });
  $("change-reviewer").addEventListener("click", askReviewer);
  $("lang").addEventListener("click", () => {
    lang = lang === "en" ? "vi" : "en";
    sessionStorage.setItem("kp-lang", lang);
    message("");  // the last message was written in the other language
    render();
  });
  document.addEventListener("keydown", onKey);

  async function load() {
    try {
      state = await api("/api/state");
      index = nextOpen(0);
      render();
      document.body.dataset.ready = "1";
    } catch (err) {
      message(textOf(err));
    }
  }
  render();
  if (!reviewer) askReviewer();
  load();
})();
