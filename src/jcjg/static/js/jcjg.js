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
