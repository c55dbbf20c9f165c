// The data quality pages (/governance/quality ...), from the #quality-data block: the score by
// month (a line, per cent) over the checks made (bars). Fits its container (390 px phones too).
(() => {
  document.addEventListener("DOMContentLoaded", () => {
    const source = document.getElementById("quality-data");
    const box = document.querySelector("[data-plot='trend']");
    if (!window.echarts || !source || !box) return;
    const d = JSON.parse(source.textContent);
    if (!d.months.length) return;
    box.style.height = "260px";
    const chart = echarts.init(box);
    chart.setOption({
      tooltip: { trigger: "axis", renderMode: "richText" },
      legend: { bottom: 0 },
      grid: { left: 8, right: 8, top: 36, bottom: 32, containLabel: true },
      xAxis: { type: "category", data: d.months },
      yAxis: [
        { type: "value", name: "得分（%）", min: 0, max: 100 },
        { type: "value", name: "检验次数", minInterval: 1 },
      ],
      series: [
        { type: "bar", name: "检验次数", yAxisIndex: 1, data: d.checks, itemStyle: { color: "#93c5fd" } },
        { type: "line", name: "得分（%）", data: d.scores, itemStyle: { color: "#dc2626" } },
      ],
    });
    window.addEventListener("resize", () => chart.resize());
  });
})();
