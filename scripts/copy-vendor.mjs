// Copy the front-end files the pages use from node_modules into src/jcjg/static/vendor.
// Run by `make assets`; the result is generated and ignored by git.
import { cpSync, mkdirSync, existsSync } from "node:fs";
import { dirname, join } from "node:path";

const root = join(dirname(new URL(import.meta.url).pathname), "..");
const out = join(root, "src/jcjg/static/vendor");
const files = {
  "htmx.org/dist/htmx.min.js": "htmx/htmx.min.js",
  "echarts/dist/echarts.min.js": "echarts/echarts.min.js",
  "@picocss/pico/css/pico.min.css": "pico/pico.min.css",
  "swagger-ui-dist/swagger-ui-bundle.js": "swagger-ui/swagger-ui-bundle.js",
  "swagger-ui-dist/swagger-ui.css": "swagger-ui/swagger-ui.css",
  // QR codes read by the phone's camera (sample tags, report QR codes): one self-contained UMD
  // file that defines window.ZXingBrowser (BrowserQRCodeReader).
  "@zxing/browser/umd/zxing-browser.min.js": "zxing/zxing-browser.min.js",
  // Live preview and replay of camera recordings (HLS in a <video> element; jcjg.video).
  "hls.js/dist/hls.min.js": "hls/hls.min.js",
  // SM2 signatures and SM3 hashes for checking a log of the national profile (JCJG_CRYPTO=sm)
  // in the browser (WebCrypto has neither): UMD files defining window.sm2 and window.sm3.
  "sm-crypto/dist/sm2.js": "sm-crypto/sm2.js",
  "sm-crypto/dist/sm3.js": "sm-crypto/sm3.js",
};
for (const [from, to] of Object.entries(files)) {
  const src = join(root, "node_modules", from);
  if (!existsSync(src)) {
    console.error(`missing ${src}: run npm ci`);
    process.exit(1);
  }
  const dest = join(out, to);
  mkdirSync(dirname(dest), { recursive: true });
  cpSync(src, dest);
}
console.log(`copied ${Object.keys(files).length} front-end files to ${out}`);
