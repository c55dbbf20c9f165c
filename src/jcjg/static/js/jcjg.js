// Send the page's CSRF token with every htmx request (unsafe requests need it).
document.addEventListener("htmx:configRequest", (event) => {
  const meta = document.querySelector('meta[name="csrf-token"]');
  if (meta) event.detail.headers["X-CSRF-Token"] = meta.content;
});

// A form marked data-inline-form posts with htmx and shows the part of the page it names
// (hx-select) from the answer. A refusal with the form's errors (422) is shown the same way,
// in place; any other refusal, or no answer at all, is said in the form's alert line.
function inlineForm(event) {
  const config = event.detail.requestConfig;
  const elt = config ? config.elt : null;
  return elt && elt.closest ? elt.closest("form[data-inline-form]") : null;
}

function sayInForm(form, text) {
  const line = form.querySelector("[data-form-error]");
  if (!line) return;
  line.textContent = text;
  line.hidden = false;
}

// What a refusal says: the title and detail of its problem (RFC 9457 JSON, or the error page).
function refusal(xhr) {
  let said = [];
  if ((xhr.getResponseHeader("Content-Type") || "").includes("json")) {
    try {
      const problem = JSON.parse(xhr.responseText);
      said = [problem.title, problem.detail];
    } catch (e) {
      said = [];
    }
  } else {
    const page = new DOMParser().parseFromString(xhr.responseText || "", "text/html");
    const error = page.querySelector("[data-testid=error-page]");
    if (error) said = [error.querySelector("h2"), error.querySelector("header + p")].map((e) => e && e.textContent);
  }
  said = said.map((s) => (s || "").trim()).filter((s) => s);
  return said.join("：");
}

document.addEventListener("htmx:beforeSwap", (event) => {
  const form = inlineForm(event);
  const xhr = event.detail.xhr;
  if (!form || xhr.status < 400) return;
  if (xhr.status === 422 && (xhr.getResponseHeader("Content-Type") || "").includes("text/html")) {
    event.detail.shouldSwap = true;
    event.detail.isError = false;
    return;
  }
  sayInForm(form, refusal(xhr) || `提交未成功（错误代码 ${xhr.status}），请刷新页面后重试。`);
  event.detail.shouldSwap = false;
});

document.addEventListener("htmx:sendError", (event) => {
  const form = inlineForm(event);
  if (form) sayInForm(form, "网络连接失败，未能提交，请检查网络后重试。");
});

// Behaviour the templates ask for by attribute, not by inline handlers (the pages' CSP allows
// only scripts from files): data-confirm on a form asks before it is sent; data-copy="<id>"
// copies that element's text; data-go="<address>" on a select opens the address followed by
// the value chosen; data-autosubmit sends its form when changed; data-back goes back a page.
document.addEventListener("submit", (event) => {
  const form = event.target.closest ? event.target.closest("form[data-confirm]") : null;
  if (form && !window.confirm(form.dataset.confirm)) event.preventDefault();
}, true);

document.addEventListener("click", (event) => {
  const copy = event.target.closest ? event.target.closest("[data-copy]") : null;
  if (copy) {
    const source = document.getElementById(copy.dataset.copy);
    if (source && navigator.clipboard) {
      navigator.clipboard.writeText(source.textContent).then(() => { copy.textContent = "已复制"; });
    }
    return;
  }
  const back = event.target.closest ? event.target.closest("a[data-back]") : null;
  if (back && window.history.length > 1) {
    event.preventDefault();
    window.history.back();
  }
});

document.addEventListener("change", (event) => {
  const field = event.target;
  if (field.matches && field.matches("select[data-go]")) {
    window.location.href = field.dataset.go + encodeURIComponent(field.value);
  } else if (field.matches && field.matches("[data-autosubmit]") && field.form) {
    field.form.submit();
  }
});

// A form's parts marked data-shown-for="a b" show only while the form's checked choice named
// by data-shown-by (default "action") is one of them (a case step's deadline, its evidence):
// without JavaScript every part shows; with it, a form where nothing is chosen yet shows none.
function showChosen(root) {
  root.querySelectorAll("form").forEach((form) => {
    form.querySelectorAll("[data-shown-for]").forEach((part) => {
      const name = part.dataset.shownBy || "action";
      const chosen = form.querySelector(`input[name="${name}"]:checked`);
      part.hidden = !chosen || !part.dataset.shownFor.split(" ").includes(chosen.value);
    });
  });
}
document.addEventListener("change", (event) => {
  if (event.target.form && event.target.type === "radio") showChosen(event.target.form.parentNode);
});
document.addEventListener("DOMContentLoaded", () => showChosen(document));

// <details data-closed-below="600" open> starts closed on a screen narrower than that (a list's
// filters on a phone: the list first), unless a field in it is marked wrong (its error shown).
document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("details[data-closed-below]").forEach((box) => {
    const wrong = box.querySelector('[aria-invalid="true"]');
    if (window.innerWidth < Number(box.dataset.closedBelow) && !wrong) box.open = false;
  });
});
document.addEventListener("htmx:afterSwap", (event) => showChosen(event.detail.target));

// Below 600 px a `table.list-cards` shows each row as a card, every cell as "label: value"
// (static/css/lists.css). Lists written with core.listing give each cell its data-label; other
// tables (the job list, the role matrix, the monitor's) get it here from their column headers,
// also in what htmx swaps in.
function labelCells(root) {
  root.querySelectorAll("table.list-cards").forEach((table) => {
    const heads = [...table.querySelectorAll("thead tr:last-child th")].map((th) => th.textContent.trim());
    table.querySelectorAll("tbody tr").forEach((row) => {
      let column = 0;
      [...row.cells].forEach((cell) => {
        if (!cell.hasAttribute("data-label") && heads[column] && cell.colSpan === 1) {
          cell.setAttribute("data-label", heads[column]);
        }
        column += cell.colSpan || 1;
      });
    });
  });
}
document.addEventListener("DOMContentLoaded", () => labelCells(document));
document.addEventListener("htmx:afterSwap", (event) => labelCells(event.detail.target));
