// The industry overview (/overview, /public/overview), from the #overview-data block: bars of
// institutions by specialty, nature and region, people by title, alerts by kind, and the months'
// records with their nonconforming ones. Each box fits its container (390 px phones too).
(() => {
  function bars(d, horizontal) {
    const cat = { type: "category", data: d.categories, axisLabel: { interval: 0, width: 110, overflow: "truncate" } };
    const val = { type: "value", minInterval: 1 };
    const series = [{ type: "bar", name: d.name, data: d.values, itemStyle: { color: "#3b82f6" } }];
    if (d.line) series.push({ type: "line", name: d.line_name, data: d.line, itemStyle: { color: "#dc2626" } });
    return {
      tooltip: { trigger: "axis", renderMode: "richText" },
      legend: d.line ? { bottom: 0 } : undefined,
      grid: { left: 8, right: 16, top: 16, bottom: d.line ? 32 : 8, containLabel: true },
      xAxis: horizontal ? val : cat,
      yAxis: horizontal ? { ...cat, inverse: true } : val,
      series,
    };
  }

  document.addEventListener("DOMContentLoaded", () => {
    const source = document.getElementById("overview-data");
    if (!window.echarts || !source) return;
    const d = JSON.parse(source.textContent);
    const charts = [];
    document.querySelectorAll("[data-plot]").forEach((box) => {
      const data = d[box.dataset.plot];
      if (!data || !data.categories.length) return;
      const horizontal = box.dataset.plot !== "months";
      box.style.height = `${horizontal ? Math.max(160, data.categories.length * 28 + 40) : 280}px`;
      const chart = echarts.init(box);
      chart.setOption(bars(data, horizontal));
      charts.push(chart);
    });
    window.addEventListener("resize", () => charts.forEach((c) => c.resize()));
  });
})();
