// Checking the platform's tamper-evident log in the browser, trusting nothing the page says:
// the checkpoint's Ed25519 signature (C2SP signed note) against the log's published key, the
// entry's leaf hash (RFC 9162: SHA-256 of 0x00 || entry), and the inclusion proof of the leaf
// in the checkpoint's tree (RFC 9162 section 2.1.3.2). WebCrypto only, no library, except for a
// log of the national profile (JCJG_CRYPTO=sm: an SM2 key, signature type 0xff "jcjg-sm2-sm3",
// and SM3 hashes), which WebCrypto cannot check: then sm-crypto's sm2 and sm3 (window.sm2,
// window.sm3 on a page; require("sm-crypto") under Node).
// Used by the public verification page; tested under Node against the server's Python verifier
// and the known-answer vectors of transparency-dev/merkle (tests/reports/test_ledger_js.py).
(function (root) {
  "use strict";

  const subtle = (root.crypto || globalThis.crypto).subtle;
  const enc = new TextEncoder();
  const SM2_TYPE = Uint8Array.of(0xff, ...enc.encode("jcjg-sm2-sm3"));

  // sm-crypto, loaded only where a log of the national profile is checked.
  function sm() {
    if (root.sm2 && root.sm3) return { sm2: root.sm2, sm3: root.sm3 };
    if (typeof require === "function") return require("sm-crypto");
    throw new Error("本平台使用国密算法，但页面未载入国密算法库");
  }

  function hex(bytes) {
    return Array.from(new Uint8Array(bytes), (b) => b.toString(16).padStart(2, "0")).join("");
  }

  function unhex(text) {
    if (typeof text !== "string" || !/^([0-9a-f]{2})*$/i.test(text)) throw new Error("not hex");
    const out = new Uint8Array(text.length / 2);
    for (let i = 0; i < out.length; i++) out[i] = parseInt(text.substr(2 * i, 2), 16);
    return out;
  }

  function unbase64(text) {
    const bin = atob(text);
    return Uint8Array.from(bin, (c) => c.charCodeAt(0));
  }

  async function sha256(...parts) {
    const size = parts.reduce((n, p) => n + p.length, 0);
    const all = new Uint8Array(size);
    let at = 0;
    for (const p of parts) { all.set(p, at); at += p.length; }
    return new Uint8Array(await subtle.digest("SHA-256", all));
  }

  async function sm3(...parts) {
    const size = parts.reduce((n, p) => n + p.length, 0);
    const all = new Uint8Array(size);
    let at = 0;
    for (const p of parts) { all.set(p, at); at += p.length; }
    return unhex(sm().sm3(all));
  }

  // The tree's hash: SHA-256, or SM3 for a log whose key is SM2 (kind "sm2").
  const hashOf = (kind) => (kind === "sm2" ? sm3 : sha256);
  const leafHash = (entry, kind) => hashOf(kind)(Uint8Array.of(0), entry);
  const nodeHash = (left, right, kind) => hashOf(kind)(Uint8Array.of(1), left, right);

  function equal(a, b) {
    if (a.length !== b.length) return false;
    let d = 0;
    for (let i = 0; i < a.length; i++) d |= a[i] ^ b[i];
    return d === 0;
  }

  // The root an inclusion proof leads to (RFC 9162 2.1.3.2), or an Error's message.
  async function rootFromInclusion(index, size, leaf, proof, kind) {
    if (!Number.isSafeInteger(index) || !Number.isSafeInteger(size) || index < 0 || index >= size)
      throw new Error("序号不在树中");
    if (leaf.length !== 32) throw new Error("叶哈希应为 32 字节");
    let fn = index, sn = size - 1, r = leaf;
    for (const p of proof) {
      if (p.length !== 32) throw new Error("证明中的哈希应为 32 字节");
      if (sn === 0) throw new Error("证明过长");
      if (fn % 2 === 1 || fn === sn) {
        r = await nodeHash(p, r, kind);
        if (fn % 2 === 0) {
          while (fn % 2 === 0 && fn !== 0) { fn = Math.floor(fn / 2); sn = Math.floor(sn / 2); }
        }
      } else {
        r = await nodeHash(r, p, kind);
      }
      fn = Math.floor(fn / 2); sn = Math.floor(sn / 2);
    }
    if (sn !== 0) throw new Error("证明过短");
    return r;
  }

  // Whether leaf (bytes) is at index of the tree of size with root (bytes), by proof (list of
  // bytes). Never throws: a malformed proof is simply not a valid one.
  async function verifyInclusion(index, size, leaf, proof, rootHash, kind) {
    try {
      if (rootHash.length !== 32) return false;
      return equal(await rootFromInclusion(index, size, leaf, proof, kind), rootHash);
    } catch (e) {
      return false;
    }
  }

  // A C2SP checkpoint: origin, size and root of its body, and its signature lines.
  function parseNote(text) {
    const split = text.indexOf("\n\n");
    if (split < 0) throw new Error("检查点格式不对");
    const body = text.slice(0, split + 1);
    const lines = body.split("\n");
    const size = Number(lines[1]);
    if (!/^[0-9]+$/.test(lines[1] || "") || !Number.isSafeInteger(size)) throw new Error("检查点大小不对");
    const rootHash = unbase64(lines[2] || "");
    const signatures = text.slice(split + 2).split("\n").filter((l) => l.startsWith("\u2014 ")).map((l) => {
      const [, name, sig] = l.split(" ");
      return { name, bytes: unbase64(sig) };
    });
    return { body, origin: lines[0], size, rootHash, signatures };
  }

  // The note verifier key "<name>+<key id hex>+<base64(type || public key)>": type 0x01 and a
  // 32-byte Ed25519 key, or 0xff "jcjg-sm2-sm3" and a 65-byte SM2 point.
  function parseKey(vkey) {
    // the name holds no "+"; the base64 may
    const m = /^([^+\s]+)\+([0-9a-f]{8})\+([A-Za-z0-9+/]+=*)$/.exec(vkey.trim());
    if (!m) throw new Error("公钥格式不对");
    const parts = m.slice(1);
    const raw = unbase64(parts[2]);
    const key = { name: parts[0], id: unhex(parts[1]) };
    if (raw[0] === 1 && raw.length === 33) return { ...key, kind: "ed25519", publicKey: raw.slice(1) };
    const typed = raw.length === SM2_TYPE.length + 65 && equal(raw.slice(0, SM2_TYPE.length), SM2_TYPE);
    if (typed) return { ...key, kind: "sm2", publicKey: raw.slice(SM2_TYPE.length) };
    throw new Error("不是 Ed25519 或 SM2 公钥");
  }

  async function verifyNote(text, vkey) {
    const note = parseNote(text);
    const key = parseKey(vkey);
    const mine = note.signatures.find((s) => s.name === key.name && equal(s.bytes.slice(0, 4), key.id));
    if (!mine || mine.bytes.length !== 68) return { ok: false, note, kind: key.kind };
    const body = enc.encode(note.body);
    if (key.kind === "sm2") {
      // r || s with SM3 and the default identifier 1234567812345678 (GM/T 0009)
      const ok = sm().sm2.doVerifySignature(Array.from(body), hex(mine.bytes.slice(4)), hex(key.publicKey), { hash: true });
      return { ok, note, kind: key.kind };
    }
    const publicKey = await subtle.importKey("raw", key.publicKey, { name: "Ed25519" }, false, ["verify"]);
    const ok = await subtle.verify({ name: "Ed25519" }, publicKey, mine.bytes.slice(4), body);
    return { ok, note, kind: key.kind };
  }

  const api = { hex, unhex, unbase64, sha256, sm3, leafHash, nodeHash, rootFromInclusion, verifyInclusion, parseNote, parseKey, verifyNote };
  if (typeof module !== "undefined" && module.exports) module.exports = api;
  else root.JcjgLedger = api;

  // On a page: each [data-ledger-proof] element checks its entry (data-index, data-leaf, and the
  // data-code its entry must name) and writes the outcome into it.
  async function check(box) {
    const out = box.querySelector("[data-outcome]");
    const say = (text, state) => { out.textContent = text; box.dataset.state = state; };
    try {
      const base = box.dataset.base || "";
      const get = async (path, type) => {
        const r = await fetch(base + path, { headers: { Accept: type } });
        if (!r.ok) throw new Error(path + "：HTTP " + r.status);
        return type === "application/json" ? r.json() : r.text();
      };
      const index = Number(box.dataset.index);
      const [noteText, vkey, entry] = await Promise.all([
        get("/ledger/checkpoint", "text/plain"), get("/ledger/key", "text/plain"),
        get("/ledger/entries/" + index, "application/json"),
      ]);
      const { ok, note, kind } = await verifyNote(noteText, vkey);
      if (!ok) return say("检查点签名验证未通过：不是本平台日志签发的检查点。", "bad");
      const leaf = await leafHash(enc.encode(entry.canonical), kind);
      if (hex(leaf) !== box.dataset.leaf) return say("存证条目的哈希与本报告记载的不符。", "bad");
      if (box.dataset.code && entry.entry.data.supervision_code !== box.dataset.code)
        return say("存证条目不是本报告的监管码。", "bad");
      if (index >= note.size) {
        say("已存证，正等待并入下一个检查点（通常在一分钟内），稍后自动重试……", "pending");
        return setTimeout(() => check(box), 5000);
      }
      const proof = await get("/ledger/proof/inclusion?index=" + index + "&size=" + note.size, "application/json");
      const valid = await verifyInclusion(index, note.size, leaf, proof.hashes.map(unhex), note.rootHash, kind);
      if (!valid) return say("包含证明验证未通过。", "bad");
      box.dataset.size = String(note.size);
      // in words for the reader; the figures checked for whoever opens the technical details
      const detail = box.querySelector("[data-outcome-detail]");
      const figures = "第 " + index + " 条存证在大小为 " + note.size + " 的日志树中，根哈希与平台签名的检查点一致（" + note.origin + "）。";
      if (detail) detail.textContent = "本机核验：" + figures;
      say(detail ? "已在本机验证：这条存证自写入以来没有被改动，与平台公开签名的日志一致。" : "已在本机验证：" + figures, "ok");
    } catch (e) {
      say("无法完成验证：" + e.message, "bad");
    }
  }

  if (typeof document !== "undefined") {
    document.addEventListener("DOMContentLoaded", () => document.querySelectorAll("[data-ledger-proof]").forEach(check));
  }
})(typeof window !== "undefined" ? window : globalThis);
