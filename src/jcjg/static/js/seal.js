// Electronic seal (电子封志) on the witness's phone: an Ed25519 key pair made with WebCrypto,
// the private key non-extractable and kept in IndexedDB, the public key registered on the
// platform; sealing signs the statement the platform prepared from the photos and position.
(function () {
  "use strict";
  const DB = "jcjg-seal", STORE = "keys", SLOT = "current";

  function idb(mode, action) {
    return new Promise((resolve, reject) => {
      const open = indexedDB.open(DB, 1);
      open.onupgradeneeded = () => open.result.createObjectStore(STORE);
      open.onerror = () => reject(open.error);
      open.onsuccess = () => {
        const tx = open.result.transaction(STORE, mode);
        const req = action(tx.objectStore(STORE));
        tx.oncomplete = () => resolve(req ? req.result : undefined);
        tx.onerror = () => reject(tx.error);
      };
    });
  }
  const b64 = (buf) => btoa(String.fromCharCode(...new Uint8Array(buf)));
  const unb64 = (s) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
  const csrf = () => document.querySelector('meta[name="csrf-token"]').content;

  async function problem(resp) {
    try {
      const body = await resp.json();
      const fields = (body.errors || []).map((e) => e.message).join("；");
      return body.detail + (fields ? "：" + fields : "");
    } catch (e) { return "请求失败（" + resp.status + "）"; }
  }

  async function storedKey() { return idb("readonly", (s) => s.get(SLOT)); }

  async function enrol(device) {
    if (!window.crypto || !crypto.subtle) throw new Error("此浏览器不支持 WebCrypto，请用系统浏览器打开");
    const pair = await crypto.subtle.generateKey({ name: "Ed25519" }, false, ["sign", "verify"]);
    const raw = await crypto.subtle.exportKey("raw", pair.publicKey);
    const resp = await fetch("/m/keys", {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf() },
      body: JSON.stringify({ public_key: b64(raw), device: device || navigator.userAgent.slice(0, 200) }),
    });
    if (!resp.ok) throw new Error(await problem(resp));
    const { key_id } = await resp.json();
    await idb("readwrite", (s) => s.put({ keyId: key_id, privateKey: pair.privateKey, publicKey: b64(raw) }, SLOT));
    return key_id;
  }

  function locate() {
    return new Promise((resolve) => {
      if (!navigator.geolocation) return resolve(null);
      navigator.geolocation.getCurrentPosition(
        (p) => resolve(p.coords),
        () => resolve(null),
        { enableHighAccuracy: true, timeout: 10000, maximumAge: 30000 });
    });
  }

  async function fillPosition(form, status) {
    const c = await locate();
    if (c) {
      form.latitude.value = c.latitude; form.longitude.value = c.longitude; form.accuracy.value = c.accuracy;
      if (status) status.textContent = "已定位（精度约 " + Math.round(c.accuracy) + " 米）";
    } else if (status) {
      status.textContent = "未能定位：请允许浏览器使用位置信息（现场位置是核验取样、封样的依据，没有位置的封样将被预警）";
    }
  }

  async function seal(form, out) {
    const key = await storedKey();
    if (!key) throw new Error("本机还没有封志密钥：请先登记");
    const data = new FormData(form);
    data.set("key_id", key.keyId);
    const prep = await fetch(form.dataset.prepare, { method: "POST", headers: { "X-CSRF-Token": csrf() }, body: data });
    if (!prep.ok) throw new Error(await problem(prep));
    const { statement } = await prep.json();
    const signature = await crypto.subtle.sign({ name: "Ed25519" }, key.privateKey, unb64(statement));
    const done = await fetch(form.dataset.seal, {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf() },
      body: JSON.stringify({ statement, signature: b64(signature) }),
    });
    if (!done.ok) throw new Error(await problem(done));
    return done.json();
  }

  function say(el, text, kind) { el.hidden = false; el.className = "notice " + kind; el.textContent = text; }

  document.addEventListener("DOMContentLoaded", async () => {
    const enrolButton = document.querySelector("[data-seal-enrol]");
    const keyState = document.querySelector("[data-seal-key]");
    if (keyState) {
      const key = await storedKey().catch(() => null);
      keyState.textContent = key ? "本机已有封志密钥：" + key.keyId.slice(0, 16) + "…" : "本机还没有封志密钥";
      keyState.dataset.ready = key ? "1" : "0";
    }
    if (enrolButton) {
      enrolButton.addEventListener("click", async () => {
        const out = document.querySelector("[data-seal-out]");
        enrolButton.disabled = true;
        try {
          const id = await enrol();
          say(out, "封志密钥已生成并登记：" + id.slice(0, 16) + "…（私钥只保存在本机，不可导出）", "ok");
          if (keyState) { keyState.textContent = "本机已有封志密钥：" + id.slice(0, 16) + "…"; keyState.dataset.ready = "1"; }
          const list = document.querySelector("[data-key-list]");
          if (list) {
            list.querySelectorAll("[data-empty]").forEach((li) => li.remove());
            const li = document.createElement("li"), a = document.createElement("a"), code = document.createElement("code");
            a.href = "/witness-keys/" + id; code.textContent = id.slice(0, 16) + "…";
            a.appendChild(code); li.appendChild(a); li.append(" · 刚刚登记（本机）");
            list.prepend(li);
          }
        } catch (e) { say(out, e.message, "bad"); }
        enrolButton.disabled = false;
      });
    }
    const located = document.querySelector("form[data-locate]");
    if (located) fillPosition(located, document.querySelector("[data-locate-status]"));
    const sealForm = document.querySelector("form[data-seal]");
    if (sealForm) {
      sealForm.addEventListener("submit", async (ev) => {
        ev.preventDefault();
        const out = document.querySelector("[data-seal-out]");
        const button = sealForm.querySelector("button[type=submit]");
        button.disabled = true; button.setAttribute("aria-busy", "true");
        try {
          const result = await seal(sealForm, out);
          say(out, "已封样：电子封志已签名、验证并存证（日志第 " + result.ledger_index + " 条）。", "ok");
          out.dataset.recordUrl = result.witness_record;
          const link = document.createElement("a");
          link.href = result.witness_record; link.textContent = " 查看见证记录"; link.dataset.testid = "record-link";
          out.appendChild(link);
          if (result.identity) {  // the witness's own identity check: what the platform made of the photo
            const id = result.identity;
            const badge = document.createElement("span");
            badge.className = "badge " + ({passed: "ok", not_checked: "warn"}[id.result] || "bad");
            badge.dataset.testid = "identity-result";
            badge.textContent = id.label;
            const line = document.createElement("p");
            line.append("人脸核验：", badge);
            if (id.distance !== null) line.append("（人脸距离 " + id.distance.toFixed(3) + "，阈值 " + id.threshold + "）");
            out.after(line);
          }
          sealForm.hidden = true;
          const status = document.querySelector("[data-seal-status]");
          if (status) status.textContent = "已见证封样";
        } catch (e) { say(out, e.message, "bad"); button.disabled = false; }
        button.removeAttribute("aria-busy");
      });
    }
  });
})();
