// Force-time curve playback (001 4.1.8): the whole curve drawn faint, then replayed point by
// point at real speed or faster, with the clock and the force at the moment.
(function () {
  "use strict";

  function setup(box) {
    const chart = echarts.init(box.querySelector(".chart"), null, { renderer: "canvas" });
    const play = box.querySelector("[data-play]");
    const speed = box.querySelector("[data-speed]");
    const clock = box.querySelector("[data-clock]");
    let data = null, frame = null;

    function draw(upTo) {
      const shown = [];
      for (let i = 0; i < data.t.length && data.t[i] <= upTo; i++) shown.push([data.t[i], data.f[i]]);
      chart.setOption({ series: [{}, { data: shown }] });
      const last = shown[shown.length - 1];
      clock.textContent = (upTo - data.t[0]).toFixed(1) + " s" + (last ? " · " + last[1].toFixed(1) + " kN" : "");
    }

    fetch(box.dataset.playback, { headers: { Accept: "application/json" } })
      .then((r) => { if (!r.ok) throw new Error("HTTP " + r.status); return r.json(); })
      .then((json) => {
        data = json;
        const all = data.t.map((t, i) => [t, data.f[i]]);
        chart.setOption({
          animation: false,
          grid: { left: 56, right: 16, top: 34, bottom: 40 },  // room for the axis name above
          tooltip: { trigger: "axis", renderMode: "richText", valueFormatter: (v) => (typeof v === "number" ? v.toFixed(2) : v) },
          xAxis: { type: "value", name: "时间 s", nameLocation: "middle", nameGap: 26, min: data.t[0], max: data.t[data.t.length - 1] },
          yAxis: { type: "value", name: "力值 kN" },
          series: [
            { type: "line", data: all, showSymbol: false, lineStyle: { color: "#cbd5e1", width: 1 }, silent: true },
            { type: "line", data: all, showSymbol: false, lineStyle: { color: "#0172ad", width: 2 } },
          ],
        });
        box.dataset.ready = "1";
        box.dataset.points = String(all.length);
      })
      .catch((e) => { clock.textContent = "曲线加载失败：" + e.message; });

    play.addEventListener("click", () => {
      if (!data) return;
      if (frame) { cancelAnimationFrame(frame); frame = null; play.textContent = "▶ 回放"; return; }
      const start = performance.now(), t0 = data.t[0], end = data.t[data.t.length - 1];
      play.textContent = "■ 停止";
      box.dataset.playing = "1";
      const step = (now) => {
        const at = t0 + ((now - start) / 1000) * Number(speed.value);
        draw(Math.min(at, end));
        if (at < end) { frame = requestAnimationFrame(step); }
        else { frame = null; play.textContent = "▶ 回放"; box.dataset.played = "1"; }
      };
      frame = requestAnimationFrame(step);
    });
    window.addEventListener("resize", () => chart.resize());
  }

  document.addEventListener("DOMContentLoaded", () => {
    document.querySelectorAll("[data-playback]").forEach(setup);
  });
})();
