// Camera scanning of QR codes with ZXing (static/vendor/zxing, window.ZXingBrowser):
// - a button [data-scan-fill="<input id>"] opens the camera and fills that input with the code
//   read from a sample tag's QR (…/s/<code>, or the bare code);
// - a panel [data-scanner][data-scan-mode="verify"] (页面 /m/scan) opens what a code leads to:
//   a report's QR (…/v/<code>?t=…) its public verification page, a sample tag its page.
// Typing stays the fallback; when the camera cannot be used the panel says why, in Chinese.
// Phones give the camera only to pages in a secure context (https://, or http://localhost).
(function () {
  "use strict";

  const MESSAGES = {
    insecure:
      "手机浏览器只允许通过 HTTPS 安全连接打开的页面使用摄像头，当前页面不是。请用 https:// 地址打开平台后再扫码，或直接输入标识上的编码。",
    unsupported: "此浏览器不支持调用摄像头，请直接输入编码，或换用系统浏览器。",
    nolib: "扫码组件未能加载，请直接输入编码。",
    denied: "摄像头权限被拒绝：请在浏览器的网站设置中允许本网站使用摄像头后重试，或直接输入编码。",
    nocamera: "没有找到可用的摄像头，请直接输入编码。",
    busy: "摄像头正被其他应用使用，请关闭该应用后重试，或直接输入编码。",
    starting: "正在打开摄像头…",
    aim: "请将二维码置于画面中央，保持稳定。",
    notTag: "这不是样品标识的二维码，请扫描样品标识。",
    notOurs: "未识别为本平台的报告或样品二维码。",
  };

  let active = null; // { controls, panel }

  function say(panel, text, bad) {
    const out = panel.querySelector("[data-scanner-status]");
    out.textContent = text;
    out.classList.toggle("bad", Boolean(bad));
  }

  function stop() {
    if (!active) return;
    try { active.controls && active.controls.stop(); } catch (e) { /* already stopped */ }
    const video = active.panel.querySelector("video");
    if (video) video.hidden = true;
    active = null;
  }

  function failure(error) {
    const name = (error && error.name) || "";
    if (name === "NotAllowedError" || name === "SecurityError") return MESSAGES.denied;
    if (name === "NotFoundError" || name === "OverconstrainedError" || name === "DevicesNotFoundError") return MESSAGES.nocamera;
    if (name === "NotReadableError" || name === "TrackStartError") return MESSAGES.busy;
    return "无法打开摄像头（" + (name || (error && error.message) || "未知原因") + "），请直接输入编码。";
  }

  // What a scanned text says: {kind: "sample"|"report"|"other", code, path}.
  function read(text) {
    const raw = (text || "").trim();
    let url = null;
    try { url = new URL(raw); } catch (e) { url = null; }
    if (url && (url.protocol === "http:" || url.protocol === "https:")) {
      const sample = url.pathname.match(/\/s\/([^/]+)\/?$/);
      if (sample) return { kind: "sample", code: decodeURIComponent(sample[1]), path: "/s/" + sample[1] };
      const report = url.pathname.match(/\/v\/([^/]+)\/?$/);
      if (report) return { kind: "report", code: decodeURIComponent(report[1]), path: "/v/" + report[1] + url.search };
      return { kind: "other", code: "", path: "" };
    }
    if (/^[0-9A-Za-z -]{6,40}$/.test(raw)) return { kind: "sample", code: raw.replace(/[\s-]/g, "").toUpperCase(), path: "" };
    return { kind: "other", code: "", path: "" };
  }

  function found(panel, text) {
    const what = read(text);
    const mode = panel.dataset.scanMode || "fill";
    if (mode === "verify") {
      if (what.kind === "report" || (what.kind === "sample" && what.path)) {
        stop();
        say(panel, what.kind === "report" ? "已识别报告二维码，正在打开查验页面…" : "已识别样品标识，正在打开…");
        window.location.assign(what.path);
      } else if (what.kind === "sample") {
        stop();
        window.location.assign("/s/" + encodeURIComponent(what.code));
      } else {
        say(panel, MESSAGES.notOurs, true);
      }
      return;
    }
    if (what.kind !== "sample") { say(panel, MESSAGES.notTag, true); return; }
    const input = document.getElementById(panel.dataset.target || "");
    if (input) {
      input.value = what.code;
      input.dispatchEvent(new Event("input", { bubbles: true }));
      input.dispatchEvent(new Event("change", { bubbles: true }));
    }
    stop();
    say(panel, "已扫描编码 " + what.code + "，请核对。");
    if (input) input.focus();
  }

  async function start(panel) {
    stop();
    panel.hidden = false;
    const video = panel.querySelector("video");
    video.hidden = true;
    if (!window.isSecureContext) { say(panel, MESSAGES.insecure, true); return; }
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) { say(panel, MESSAGES.unsupported, true); return; }
    if (!window.ZXingBrowser || !window.ZXingBrowser.BrowserQRCodeReader) { say(panel, MESSAGES.nolib, true); return; }
    say(panel, MESSAGES.starting);
    const reader = new window.ZXingBrowser.BrowserQRCodeReader();
    const session = { controls: null, panel: panel };
    active = session;
    try {
      video.hidden = false;
      session.controls = await reader.decodeFromConstraints(
        { video: { facingMode: "environment" }, audio: false },
        video,
        (result) => { if (result && active === session) found(panel, result.getText()); },
      );
      if (active !== session) { session.controls.stop(); return; }
      say(panel, MESSAGES.aim);
    } catch (error) {
      if (active === session) active = null;
      video.hidden = true;
      say(panel, failure(error), true);
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    document.querySelectorAll("[data-scan-fill]").forEach((button) => {
      button.hidden = false;
      button.addEventListener("click", () => {
        const panel = document.querySelector('[data-scanner][data-scan-mode="fill"]');
        if (!panel) return;
        panel.dataset.target = button.dataset.scanFill;
        start(panel);
      });
    });
    document.querySelectorAll("[data-scan-start]").forEach((button) => {
      button.hidden = false;
      button.addEventListener("click", () => {
        const panel = document.querySelector('[data-scanner][data-scan-mode="verify"]');
        if (panel) start(panel);
      });
    });
    document.querySelectorAll("[data-scanner-close]").forEach((button) => {
      button.addEventListener("click", () => {
        const panel = button.closest("[data-scanner]");
        stop();
        panel.hidden = true;
      });
    });
    window.addEventListener("pagehide", stop);
  });
})();
