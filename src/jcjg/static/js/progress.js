// Progress on the long actions of every page:
// - a form that uploads files (enctype multipart/form-data, or [data-progress]) shows, once
//   submitted, a progress bar with what is being sent and disables its submit buttons (no
//   second submit while the first is under way); the browser submits it as usual;
// - a link that produces a file (an export ?format=xlsx|csv, an archive .zip, or
//   [data-download]) is fetched with a progress bar (the percentage when the size is known),
//   then saved under the name the server gives; when the server answers a page instead (a
//   large export running as a background job), the browser goes there; an error is said in
//   Chinese beside the link.
(function () {
  "use strict";

  function size(bytes) {
    if (bytes < 1024) return bytes + " B";
    if (bytes < 1024 * 1024) return (bytes / 1024).toFixed(0) + " KB";
    return (bytes / 1024 / 1024).toFixed(1) + " MB";
  }

  function bar(text) {
    const box = document.createElement("div");
    box.className = "progress-box";
    box.setAttribute("role", "status");
    box.setAttribute("data-progress-status", "");
    const progress = document.createElement("progress");
    const label = document.createElement("small");
    label.textContent = text;
    box.append(progress, label);
    return { box: box, progress: progress, label: label };
  }

  // --- uploads ----------------------------------------------------------------------------
  function onSubmit(event) {
    const form = event.target;
    if (!(form instanceof HTMLFormElement) || event.defaultPrevented) return;
    const uploads = form.enctype === "multipart/form-data" || form.hasAttribute("data-progress");
    if (!uploads || form.hasAttribute("data-no-progress")) return;
    let total = 0, count = 0;
    form.querySelectorAll('input[type="file"]').forEach((input) => {
      Array.from(input.files || []).forEach((file) => { total += file.size; count += 1; });
    });
    const text = count
      ? "正在上传 " + count + " 个文件（共 " + size(total) + "），请勿关闭页面…"
      : "正在提交，请稍候…";
    form.querySelectorAll("[data-progress-status]").forEach((old) => old.remove());
    const shown = bar(text);
    const submit = form.querySelector('[type="submit"]');
    if (submit && submit.parentNode) submit.parentNode.insertBefore(shown.box, submit.nextSibling);
    else form.append(shown.box);
    form.setAttribute("aria-busy", "true");
    // disabled after the browser has taken the form's data (a disabled button sends nothing)
    setTimeout(() => {
      form.querySelectorAll('[type="submit"]').forEach((b) => { b.disabled = true; });
    }, 0);
  }

  // Coming back to the page (Back), the form is usable again.
  window.addEventListener("pageshow", () => {
    document.querySelectorAll("form[aria-busy]").forEach((form) => {
      form.removeAttribute("aria-busy");
      form.querySelectorAll('[type="submit"]').forEach((b) => { b.disabled = false; });
      form.querySelectorAll("[data-progress-status]").forEach((old) => old.remove());
    });
  });

  // --- downloads --------------------------------------------------------------------------
  function isDownload(link) {
    if (link.hasAttribute("data-download")) return true;
    if (link.hasAttribute("data-no-progress") || link.target === "_blank") return false;
    let url;
    try { url = new URL(link.href, window.location.href); } catch (e) { return false; }
    if (url.origin !== window.location.origin) return false;
    const format = url.searchParams.get("format");
    return format === "xlsx" || format === "csv" || /\.zip$/.test(url.pathname);
  }

  function filename(response, fallback) {
    const header = response.headers.get("content-disposition") || "";
    const star = header.match(/filename\*=UTF-8''([^;]+)/i);
    if (star) { try { return decodeURIComponent(star[1]); } catch (e) { /* fall through */ } }
    const plain = header.match(/filename="?([^";]+)"?/i);
    return plain ? plain[1] : fallback;
  }

  async function problem(response) {
    try {
      const body = await response.json();
      return body.detail || body.title || "";
    } catch (e) { return ""; }
  }

  async function download(link) {
    if (link.getAttribute("aria-busy") === "true") return;
    link.setAttribute("aria-busy", "true");
    const holder = link.parentNode;
    holder.querySelectorAll("[data-progress-status]").forEach((old) => old.remove());
    const shown = bar("正在生成文件…");
    holder.insertBefore(shown.box, link.nextSibling);
    try {
      const response = await fetch(link.href, { credentials: "same-origin", headers: { Accept: "*/*" } });
      const type = response.headers.get("content-type") || "";
      if (response.ok && type.startsWith("text/html")) {
        window.location.assign(response.url); // a page (a background export's progress)
        return;
      }
      if (!response.ok) {
        shown.progress.remove();
        shown.label.textContent = "文件生成失败" + (await problem(response).then((d) => (d ? "：" + d : "（" + response.status + "）")));
        shown.box.classList.add("bad");
        return;
      }
      const length = Number(response.headers.get("content-length") || 0);
      const reader = response.body ? response.body.getReader() : null;
      const parts = [];
      let received = 0;
      if (reader) {
        if (length) shown.progress.max = length;
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          parts.push(value);
          received += value.length;
          if (length) shown.progress.value = received;
          shown.label.textContent = "正在下载 " + size(received) + (length ? " / " + size(length) : "") + "…";
        }
      } else {
        parts.push(new Uint8Array(await response.arrayBuffer()));
      }
      const blob = new Blob(parts, { type: type || "application/octet-stream" });
      const url = URL.createObjectURL(blob);
      const save = document.createElement("a");
      save.href = url;
      save.download = filename(response, link.pathname.split("/").pop() || "download");
      document.body.append(save);
      save.click();
      save.remove();
      setTimeout(() => URL.revokeObjectURL(url), 60_000);
      shown.progress.max = 1;
      shown.progress.value = 1;
      shown.label.textContent = "已下载 " + size(blob.size);
      setTimeout(() => shown.box.remove(), 4000);
    } catch (error) {
      shown.progress.remove();
      shown.label.textContent = "下载中断，请检查网络后重试。";
      shown.box.classList.add("bad");
    } finally {
      link.removeAttribute("aria-busy");
    }
  }

  document.addEventListener("submit", onSubmit);
  document.addEventListener("click", (event) => {
    if (event.defaultPrevented || event.button !== 0 || event.ctrlKey || event.metaKey || event.shiftKey) return;
    const link = event.target instanceof Element ? event.target.closest("a[href]") : null;
    if (!link || !isDownload(link) || !window.fetch) return;
    event.preventDefault();
    download(link);
  });
})();
