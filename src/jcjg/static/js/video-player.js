// Camera live preview and replay (jcjg.video): an HLS playlist played by hls.js in a <video>,
// the wall-clock time of the picture shown under it (from EXT-X-PROGRAM-DATE-TIME), a replay
// started at the moment asked for (data-seek), and a test record's force-time curve with a
// marker that follows the picture (data-curve, data-started).
(function () {
  "use strict";

  // The picture's time in the platform's zone (data-tz, as every time on the pages), whatever
  // the browser's own zone: "2026-11-23 14:35:18".
  function clockFormat(tz) {
    const format = new Intl.DateTimeFormat("en-CA", {
      timeZone: tz || undefined, hourCycle: "h23", year: "numeric", month: "2-digit", day: "2-digit",
      hour: "2-digit", minute: "2-digit", second: "2-digit",
    });
    return (date) => {
      const p = {};
      format.formatToParts(date).forEach((x) => { p[x.type] = x.value; });
      return p.year + "-" + p.month + "-" + p.day + " " + p.hour + ":" + p.minute + ":" + p.second;
    };
  }

  // The wall-clock time at the video's current position, from the fragment it is in.
  function playingDate(hls, video) {
    if (hls.playingDate) return hls.playingDate;
    const level = hls.levels && hls.levels[hls.currentLevel < 0 ? 0 : hls.currentLevel];
    const frags = level && level.details ? level.details.fragments : [];
    for (const f of frags) {
      if (f.programDateTime && video.currentTime >= f.start && video.currentTime < f.start + f.duration) {
        return new Date(f.programDateTime + (video.currentTime - f.start) * 1000);
      }
    }
    return null;
  }

  // The video position of a wall-clock moment, from the playlist's fragments.
  function positionOf(details, when) {
    const frags = details.fragments;
    for (const f of frags) {
      if (f.programDateTime && when >= f.programDateTime && when < f.programDateTime + f.duration * 1000) {
        return f.start + (when - f.programDateTime) / 1000;
      }
    }
    for (const f of frags) if (f.programDateTime && f.programDateTime > when) return f.start;
    return frags.length ? frags[0].start : 0;
  }

  // How old the live picture is, in words: a preview minutes behind is no live picture.
  function ageText(seconds) {
    if (seconds < 60) return "实时画面";
    const behind = seconds < 3600 ? Math.round(seconds / 60) + " 分钟"
      : seconds < 86400 ? (seconds / 3600).toFixed(1).replace(/\.0$/, "") + " 小时"
        : Math.floor(seconds / 86400) + " 天";
    return behind + "前的画面：摄像机离线或录像尚未上传";
  }

  function setup(box) {
    const video = box.querySelector("[data-video]");
    const age = box.querySelector("[data-age]");
    const clock = box.querySelector("[data-clock]");
    const state = box.querySelector("[data-state]");
    const seek = box.dataset.seek ? Date.parse(box.dataset.seek) : null;
    const clockText = clockFormat(box.dataset.tz);
    const listeners = [];
    box.videoClock = { onTime: (fn) => listeners.push(fn) };
    if (!window.Hls || !Hls.isSupported()) {
      if (video.canPlayType("application/vnd.apple.mpegurl")) { video.src = box.dataset.source; video.play().catch(() => {}); }
      else state.textContent = "此浏览器不支持视频播放";
      return;
    }
    const hls = new Hls({ liveSyncDurationCount: 2, lowLatencyMode: false });
    box.hls = hls;
    let sought = false;
    hls.on(Hls.Events.LEVEL_LOADED, (_e, data) => {
      if (seek !== null && !sought && data.details.fragments.length) {
        sought = true;
        video.currentTime = positionOf(data.details, seek);
      }
    });
    hls.on(Hls.Events.ERROR, (_e, data) => {
      if (data.fatal) state.textContent = data.type === Hls.ErrorTypes.NETWORK_ERROR ? "暂无录像或网络中断，稍后重试" : "播放出错";
      if (data.fatal && data.type === Hls.ErrorTypes.NETWORK_ERROR) setTimeout(() => hls.loadSource(box.dataset.source), 3000);
      else if (data.fatal) hls.recoverMediaError();
    });
    hls.on(Hls.Events.FRAG_LOADED, () => { state.textContent = ""; });
    hls.loadSource(box.dataset.source);
    hls.attachMedia(video);
    hls.on(Hls.Events.MANIFEST_PARSED, () => { video.play().catch(() => {}); });
    video.addEventListener("timeupdate", () => {
      const date = playingDate(hls, video);
      if (!date) return;
      clock.textContent = clockText(date);
      if (box.dataset.mode === "live" && age) age.textContent = ageText((Date.now() - date) / 1000);
      box.dataset.playing = "1";
      listeners.forEach((fn) => fn(date));
    });
  }

  // The record's curve, drawn whole, with a marker at the picture's moment.
  function setupCurve(panel, player) {
    const chart = echarts.init(panel.querySelector("[data-chart]"), null, { renderer: "canvas" });
    const note = panel.querySelector("[data-curve-state]");
    const started = Date.parse(panel.dataset.started);
    let data = null;
    fetch(panel.dataset.curve, { headers: { Accept: "application/json" } })
      .then((r) => { if (!r.ok) throw new Error("HTTP " + r.status); return r.json(); })
      .then((json) => {
        data = json;
        chart.setOption({
          animation: false,
          grid: { left: 56, right: 16, top: 34, bottom: 40 },  // room for the axis name above
          xAxis: { type: "value", name: "时间 s", nameLocation: "middle", nameGap: 26, min: data.t[0], max: data.t[data.t.length - 1] },
          yAxis: { type: "value", name: "力值 kN" },
          series: [
            { type: "line", data: data.t.map((t, i) => [t, data.f[i]]), showSymbol: false, lineStyle: { color: "#0172ad", width: 2 } },
            { type: "scatter", data: [], symbolSize: 12, itemStyle: { color: "#d93526" } },
          ],
        });
        panel.dataset.ready = "1";
      })
      .catch((e) => { note.textContent = "曲线加载失败：" + e.message; });
    if (player && player.videoClock) {
      player.videoClock.onTime((date) => {
        if (!data) return;
        const t = data.t[0] + (date.getTime() - started) / 1000;
        let i = 0;
        while (i < data.t.length - 1 && data.t[i + 1] <= t) i++;
        const inside = t >= data.t[0] && t <= data.t[data.t.length - 1];
        chart.setOption({ series: [{}, { data: inside ? [[data.t[i], data.f[i]]] : [] }] });
        note.textContent = inside ? "试验第 " + (t - data.t[0]).toFixed(1) + " 秒 · " + data.f[i].toFixed(1) + " kN" : (t < data.t[0] ? "试验尚未开始" : "试验已结束");
        panel.dataset.marker = inside ? String(t.toFixed(1)) : "";
      });
    }
    window.addEventListener("resize", () => chart.resize());
  }

  document.addEventListener("DOMContentLoaded", () => {
    const players = document.querySelectorAll("[data-video-player]");
    players.forEach(setup);
    document.querySelectorAll("[data-curve]").forEach((panel) => setupCurve(panel, players[0]));
  });
})();
