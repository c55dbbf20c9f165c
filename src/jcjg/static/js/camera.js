// Face photos taken by the page's own camera (000 4.3.4 item 2; 001 7.1.2 "手机端人脸识别认证").
// Where the browser offers the camera to the page (a secure context with getUserMedia), an
// input marked data-live-camera is filled from a frame of the live front camera and the gallery
// is not offered. Where it does not (an old browser, the permission refused), the input stays,
// with capture="user" asking the phone for its camera app; docs/sampling.md says what that
// does not prevent. The form and the server see an ordinary file either way.
(function () {
  "use strict";

  const TEXT = {
    open: "打开前置相机",
    shoot: "拍照",
    again: "重新拍照",
    starting: "正在打开相机…",
    aim: "请正对手机，脸部位于画面中间，光线充足，然后点“拍照”。",
    taken: "已拍摄。提交时与登记照片比对。",
    missing: "请先用相机拍摄本人照片。",
    denied: "未获得相机权限，无法在页面内拍照：请允许使用相机后重试，或用下面的按钮调用手机相机拍摄。",
    failed: "无法打开相机：请用下面的按钮调用手机相机拍摄。",
  };

  function element(tag, attrs, text) {
    const node = document.createElement(tag);
    Object.entries(attrs || {}).forEach(([k, v]) => node.setAttribute(k, v));
    if (text) node.textContent = text;
    return node;
  }

  function enhance(input) {
    if (!window.isSecureContext || !navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) return;
    if (typeof DataTransfer === "undefined" || typeof HTMLCanvasElement.prototype.toBlob !== "function") return;
    const box = element("div", { class: "live-camera", "data-testid": "live-camera-" + input.name });
    const video = element("video", { playsinline: "", muted: "", autoplay: "" });
    const still = element("img", { alt: "已拍摄的照片", "data-testid": "live-camera-still" });
    const status = element("p", { class: "small muted", role: "status", "data-testid": "live-camera-status" });
    const open = element("button", { type: "button", class: "secondary", "data-testid": "live-camera-open" }, TEXT.open);
    const shoot = element("button", { type: "button", "data-testid": "live-camera-shoot" }, TEXT.shoot);
    video.hidden = true; still.hidden = true; shoot.hidden = true;
    box.append(video, still, status, open, shoot);
    // out of its label: a click on the caption would otherwise open the file chooser
    const label = input.closest("label");
    (label || input).insertAdjacentElement("afterend", box);
    box.append(input);
    const required = input.required;
    input.required = false; // a hidden control cannot be focused by the browser's own check
    input.hidden = true;    // no gallery: the photo comes from the live camera below
    let stream = null;

    function stop() {
      if (stream) stream.getTracks().forEach((t) => t.stop());
      stream = null;
      video.srcObject = null;
      video.hidden = true;
      shoot.hidden = true;
    }

    function fallBack(message) {
      stop();
      status.textContent = message;
      open.hidden = true;
      input.hidden = false; // the phone's camera app through capture="user"
      input.required = required;
    }

    open.addEventListener("click", async () => {
      stop();
      status.textContent = TEXT.starting;
      try {
        stream = await navigator.mediaDevices.getUserMedia({
          video: { facingMode: "user", width: { ideal: 1280 }, height: { ideal: 960 } },
          audio: false,
        });
      } catch (error) {
        const name = error && error.name;
        fallBack(name === "NotAllowedError" || name === "SecurityError" ? TEXT.denied : TEXT.failed);
        return;
      }
      video.srcObject = stream;
      video.hidden = false;
      still.hidden = true;
      try { await video.play(); } catch (e) { /* autoplay: the frames still arrive */ }
      shoot.hidden = false;
      status.textContent = TEXT.aim;
    });

    shoot.addEventListener("click", () => {
      if (!stream || !video.videoWidth) return;
      const canvas = element("canvas");
      canvas.width = video.videoWidth;
      canvas.height = video.videoHeight;
      canvas.getContext("2d").drawImage(video, 0, 0, canvas.width, canvas.height);
      canvas.toBlob((blob) => {
        if (!blob) { fallBack(TEXT.failed); return; }
        const files = new DataTransfer();
        files.items.add(new File([blob], "live-" + Date.now() + ".jpg", { type: "image/jpeg" }));
        input.files = files.files;
        input.dispatchEvent(new Event("change", { bubbles: true }));
        if (still.src) URL.revokeObjectURL(still.src);
        still.src = URL.createObjectURL(blob);
        still.hidden = false;
        box.dataset.taken = "1";
        stop();
        open.textContent = TEXT.again;
        status.textContent = TEXT.taken;
      }, "image/jpeg", 0.9);
    });

    const form = input.form;
    if (form && required) {
      form.addEventListener("submit", (event) => {
        if (input.hidden && !(input.files && input.files.length)) {
          event.preventDefault();
          event.stopImmediatePropagation();
          status.textContent = TEXT.missing;
          open.focus();
        }
      }, true);
    }
    window.addEventListener("pagehide", stop);
  }

  document.addEventListener("DOMContentLoaded", () => {
    document.querySelectorAll("input[type=file][data-live-camera]").forEach(enhance);
  });
})();
