// The analysis workbench's chart (ECharts), from the #analytics-data block: categories (the
// first dimension) and one series per measure (or per value of the second dimension).
// Bars lie on their side on a phone so that long names fit 390 px.
(() => {
  const narrow = () => window.matchMedia("(max-width: 600px)").matches;

  function option(d) {
    if (d.kind === "pie") {
      const s = d.series[0] || { data: [] };
      return {
        tooltip: { trigger: "item", confine: true },
        legend: { type: "scroll", bottom: 0 },
        series: [{ type: "pie", radius: narrow() ? "55%" : "65%", data: d.categories.map((c, i) => ({ name: c, value: s.data[i] })) }],
      };
    }
    const flip = d.kind === "bar" && narrow();
    const cat = { type: "category", data: d.categories, axisLabel: { width: narrow() ? 96 : 160, overflow: "truncate" } };
    const val = { type: "value", name: d.unit || "" };
    return {
      tooltip: { trigger: "axis", confine: true },
      legend: { type: "scroll", top: 0 },
      grid: { left: 8, right: 16, top: 36, bottom: 8, containLabel: true },
      xAxis: flip ? val : cat,
      yAxis: flip ? { ...cat, inverse: true } : val,
      series: d.series.map((s) => ({ name: s.name, type: d.kind === "line" ? "line" : "bar", data: s.data, connectNulls: true })),
    };
  }

  document.addEventListener("DOMContentLoaded", () => {
    const box = document.getElementById("analytics-chart");
    const source = document.getElementById("analytics-data");
    if (!window.echarts || !box || !source) return;
    const d = JSON.parse(source.textContent);
    if (!d) return;
    const rows = d.categories.length;
    box.style.height = `${d.kind === "bar" && narrow() ? Math.max(240, rows * 28 * Math.max(1, d.series.length) + 80) : 340}px`;
    const chart = echarts.init(box);
    chart.setOption(option(d));
    window.addEventListener("resize", () => chart.resize());
  });
})();
