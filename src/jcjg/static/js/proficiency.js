// A proficiency scheme's charts (ECharts), from the #pt-data block: per sample the scheme's
// score of each participant (bars, the warning and action limits as lines) and the histogram
// of results (the assigned value marked); for a pair of samples the Youden plot of z(A), z(B).
(() => {
  const BLUE = "#3b82f6";
  const AMBER = "#d97706";
  const RED = "#dc2626";
  const limits = (values) => Math.max(4, ...values.filter((v) => v !== null).map((v) => Math.ceil(Math.abs(v) + 0.5)));
  const colour = (v) => (v === null ? "#999" : Math.abs(v) >= 3 ? RED : Math.abs(v) > 2 ? AMBER : BLUE);
  const line = (y, c) => ({ yAxis: y, lineStyle: { color: c, type: "dashed" }, label: { show: false } });

  function scores(d, s) {
    const top = limits(s.scores);
    return {
      tooltip: { trigger: "axis", confine: true },
      grid: { left: 8, right: 16, top: 16, bottom: 8, containLabel: true },
      xAxis: { type: "category", data: s.codes, axisLabel: { rotate: s.codes.length > 12 ? 60 : 0 } },
      yAxis: { type: "value", min: -top, max: top },
      series: [{
        name: d.score,
        type: "bar",
        data: s.scores.map((v) => ({ value: v === null ? null : Math.round(v * 100) / 100, itemStyle: { color: colour(v) } })),
        markLine: { symbol: "none", silent: true, data: [line(2, AMBER), line(-2, AMBER), line(3, RED), line(-3, RED)] },
      }],
    };
  }

  function histogram(d, s) {
    const labels = s.bins.map((b) => `${+b[0].toPrecision(4)}–${+b[1].toPrecision(4)}`);
    return {
      tooltip: { trigger: "axis", confine: true },
      grid: { left: 8, right: 16, top: 24, bottom: 8, containLabel: true },
      xAxis: { type: "category", data: labels, name: d.unit },
      yAxis: { type: "value", minInterval: 1, name: "结果数" },
      series: [{ name: "结果数", type: "bar", barCategoryGap: "2%", data: s.bins.map((b) => b[2]), itemStyle: { color: BLUE } }],
    };
  }

  function youden(d) {
    const top = limits(d.youden.flatMap((p) => [p.a, p.b]));
    const square = (n, c) => ({
      type: "line", silent: true, symbol: "none", lineStyle: { color: c, type: "dashed" },
      data: [[-n, -n], [n, -n], [n, n], [-n, n], [-n, -n]],
    });
    return {
      tooltip: { confine: true, formatter: (p) => (p.seriesIndex === 0 ? `${p.data[2]}：z(A) ${p.data[0].toFixed(2)}，z(B) ${p.data[1].toFixed(2)}` : "") },
      grid: { left: 8, right: 48, top: 32, bottom: 8, containLabel: true },
      xAxis: { type: "value", min: -top, max: top, name: "z(A)" },
      yAxis: { type: "value", min: -top, max: top, name: "z(B)" },
      series: [
        { type: "scatter", data: d.youden.map((p) => [p.a, p.b, p.code]), itemStyle: { color: BLUE }, label: { show: true, position: "right", formatter: (p) => p.data[2] } },
        square(2, AMBER),
        square(3, RED),
      ],
    };
  }

  document.addEventListener("DOMContentLoaded", () => {
    const source = document.getElementById("pt-data");
    if (!window.echarts || !source) return;
    const d = JSON.parse(source.textContent);
    document.querySelectorAll("[data-chart]").forEach((box) => {
      const kind = box.dataset.chart;
      const s = d.samples[box.dataset.sample];
      const option = kind === "youden" ? youden(d) : kind === "scores" ? scores(d, s) : histogram(d, s);
      box.style.height = kind === "youden" ? "360px" : "280px";
      const chart = echarts.init(box);
      chart.setOption(option);
      window.addEventListener("resize", () => chart.resize());
    });
  });
})();
