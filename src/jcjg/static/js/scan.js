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
    noFrames: "摄像头没有画面，请关闭后重试，或直接输入编码。",
    unreadable: "摄像头画面无法读取，请关闭后重试，或直接输入编码。",
  };
  const FIRST_FRAME_MS = 15000; // the camera's first frame, at most
  const RESTARTS = 10; // ZXing's loop started again at most this many times in a row

  let active = null; // the open session: { controls, stream, retry, panel }

  // a failure whose message is already the Chinese sentence to show
  class Said extends Error {}

  function release(stream) {
    if (stream) stream.getTracks().forEach((track) => track.stop());
  }

  function say(panel, text, bad) {
    const out = panel.querySelector("[data-scanner-status]");
    out.textContent = text;
    out.classList.toggle("bad", Boolean(bad));
  }

  function stop() {
    if (!active) return;
    const session = active;
    active = null;
    clearTimeout(session.retry);
    try { session.controls && session.controls.stop(); } catch (e) { /* already stopped */ }
    release(session.stream);
    const video = session.panel.querySelector("video");
    if (video) {
      video.hidden = true;
      video.srcObject = null;
    }
  }

  // ZXing's scan loop goes on after these (no code in this frame); after any other error
  // (a frame it could not read at all) it has stopped, and is started again
  const READ_AGAIN = ["NotFoundException", "ChecksumException", "FormatException"];

  // Resolves once the video knows its picture's size. ZXing sizes its capture canvas by the
  // video when its scan starts; started before the first frame (a slow phone, a busy machine)
  // the canvas is 0×0, every read fails and the loop stops for good (zxing-js/library#156).
  function sized(video, session) {
    const until = Date.now() + FIRST_FRAME_MS;
    return new Promise((resolve, reject) => {
      const check = () => {
        if (active !== session) { reject(new Error("stopped")); return; }
        if (video.videoWidth > 0 && video.videoHeight > 0) { resolve(); return; }
        if (Date.now() > until) { reject(new Said(MESSAGES.noFrames)); return; }
        session.retry = setTimeout(check, 100);
      };
      check();
    });
  }

  function failure(error) {
    const name = (error && error.name) || "";
    if (error instanceof Said) return error.message;
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
    const session = { controls: null, stream: null, retry: null, panel: panel };
    active = session;
    let restarts = 0;
    const scan = async () => {
      const controls = await reader.decodeFromVideoElement(video, (result, error) => {
        if (active !== session) return;
        if (result) { found(panel, result.getText()); return; }
        const kind = error && error.constructor && error.constructor.kind;
        if (!error || READ_AGAIN.includes(kind)) { restarts = 0; return; } // a frame read
        if (++restarts > RESTARTS) { broken(new Said(MESSAGES.unreadable)); return; }
        session.retry = setTimeout(() => { if (active === session) scan().catch(broken); }, 500);
      });
      if (active === session) session.controls = controls;
      else controls.stop();
    };
    const broken = (error) => {
      if (active !== session) return;
      stop();
      say(panel, failure(error), true);
    };
    try {
      session.stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" }, audio: false });
      if (active !== session) { release(session.stream); return; } // closed meanwhile
      video.hidden = false;
      video.setAttribute("playsinline", "true");
      video.muted = true;
      video.srcObject = session.stream;
      video.play().catch(() => { /* ZXing asks again once the video can play */ });
      await sized(video, session);
      await scan();
      if (active === session) say(panel, MESSAGES.aim);
    } catch (error) {
      broken(error);
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
