// The home page's charts (ECharts): each [data-chart] box draws the part of #home-charts it
// names, at the height its data-height asks (pixels). The same numbers are in the table behind
// the box's 数据表 toggle. Clicking a bar opens the list behind it, as the table's links do.
// Category labels wrap onto a second line, a longer one cut there with … (a phone has ~9
// characters a line); the tooltip names it whole.
(() => {
  const SEVERITY = { critical: "#dc2626", warning: "#f59e0b", info: "#94a3b8" };
  const BLUE = "#3b82f6";
  const RED = "#dc2626";
  const GREY = "#64748b";
  const narrow = () => window.matchMedia("(max-width: 600px)").matches;
  const labelWidth = () => (narrow() ? 112 : 200);
  // characters that fit two lines of a label (12 px a character)
  const twoLines = (name) => {
    const most = 2 * Math.floor(labelWidth() / 12);
    return name.length > most ? `${name.slice(0, most - 1)}…` : name;
  };

  // Horizontal bars, the largest on top: one or more stacked series over category labels.
  function bars(labels, series, stacked = true) {
    return {
      tooltip: { trigger: "axis", axisPointer: { type: "shadow" }, confine: true, renderMode: "richText" },
      legend: series.length > 1 ? { top: 0 } : undefined,
      grid: { left: 8, right: 36, top: series.length > 1 ? 28 : 8, bottom: 8, containLabel: true },
      xAxis: { type: "value", minInterval: 1 },
      yAxis: {
        type: "category",
        inverse: true,
        data: labels,
        // at most two lines (a bar's row is 34 px): a longer name cut with …, whole in the tooltip
        axisLabel: { width: labelWidth(), overflow: "breakAll", lineHeight: 14, formatter: twoLines },
      },
      series: series.map((s) => ({
        name: s.name,
        type: "bar",
        stack: stacked ? "n" : undefined,
        data: s.data,
        itemStyle: { color: s.color },
        barMaxWidth: 22,
        label: series.length === 1 ? { show: true, position: "right" } : undefined,
      })),
    };
  }

  const DRAW = {
    rules: (d) => bars(d.labels, [{ name: "未处理预警", data: d.values, color: BLUE }]),
    top: (d) =>
      bars(d.labels, [
        { name: "未处理预警", data: d.alerts, color: BLUE },
        { name: "近 90 天不合格", data: d.nonconformities, color: RED },
      ]),
    uploads: (d) => bars(d.labels, [{ name: "今日上传报文", data: d.values, color: BLUE }]),
    trend: (d) => ({
      tooltip: { trigger: "axis", confine: true, renderMode: "richText" },
      legend: { top: 0 },
      grid: { left: 8, right: 12, top: 32, bottom: 8, containLabel: true },
      xAxis: { type: "category", data: d.days, axisLabel: { hideOverlap: true } },
      yAxis: { type: "value", minInterval: 1 },
      series: d.series.map((s) => ({
        name: s.name,
        type: "bar",
        stack: "n",
        data: s.values,
        itemStyle: { color: SEVERITY[s.key] || GREY },
      })),
    }),
    regions: (d) =>
      bars(d.labels, [
        { name: "未处理预警", data: d.alerts, color: BLUE },
        { name: "未闭环不合格", data: d.nonconformities, color: RED },
        { name: "检测机构", data: d.institutions, color: GREY },
      ], false),
  };

  document.addEventListener("DOMContentLoaded", () => {
    const source = document.getElementById("home-charts");
    if (!window.echarts || !source) return;
    const data = JSON.parse(source.textContent);
    const charts = [];
    document.querySelectorAll("[data-chart]").forEach((box) => {
      const key = box.dataset.chart;
      if (!data[key] || !DRAW[key]) return;
      if (box.dataset.height) box.style.height = `${parseInt(box.dataset.height, 10)}px`;
      const chart = echarts.init(box);
      chart.setOption(DRAW[key](data[key]));
      const links = data[key].links;
      if (links) {
        chart.on("click", (p) => {
          if (links[p.dataIndex]) window.location.href = links[p.dataIndex];
        });
      }
      charts.push(chart);
    });
    window.addEventListener("resize", () => charts.forEach((c) => c.resize()));
    // the chart comes back when its table is folded again: drawn at the width it has now
    document.querySelectorAll("details.data-table").forEach((d) =>
      d.addEventListener("toggle", () => charts.forEach((c) => c.resize())),
    );
  });
})();
