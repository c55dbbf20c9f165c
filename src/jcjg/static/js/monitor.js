// The exchange monitor's hourly chart (ECharts), from the page's #hourly-data block.
document.addEventListener("DOMContentLoaded", () => {
  const box = document.getElementById("hourly-chart");
  if (!window.echarts || !box) return;
  const data = JSON.parse(document.getElementById("hourly-data").textContent);
  const chart = echarts.init(box);
  chart.setOption({
    tooltip: { trigger: "axis", renderMode: "richText" },  // drawn on the canvas: no inline styles (CSP)
    legend: { data: ["受理", "被拒"], top: 0 },
    grid: { left: 40, right: 12, top: 32, bottom: 28, containLabel: true },
    xAxis: { type: "category", data: data.hours, axisLabel: { hideOverlap: true } },
    yAxis: { type: "value", minInterval: 1 },
    series: [
      { name: "受理", type: "bar", stack: "n", data: data.accepted, itemStyle: { color: "#3b82f6" } },
      { name: "被拒", type: "bar", stack: "n", data: data.refused, itemStyle: { color: "#dc2626" } },
    ],
  });
  window.addEventListener("resize", () => chart.resize());
});
