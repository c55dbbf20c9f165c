// The statistics page's chart (ECharts), from the #stats-data block: per group its conforming
// and nonconforming records (stacked bars) and its rate of nonconforming ones. By month the
// bars stand in time order with the rate as a line; otherwise they lie, the largest on top
// (the first 20), their labels wrapped rather than cut. The table is behind 数据表.
(() => {
  const GREEN = "#3b82f6";
  const RED = "#dc2626";
  const narrow = () => window.matchMedia("(max-width: 600px)").matches;
  const pct = (v) => (v === null || v === undefined ? "—" : `${v}%`);

  function tooltip(d) {
    return (items) => {
      const i = items[0].dataIndex;
      const total = d.conforming[i] + d.nonconforming[i];
      return [
        d.labels[i],
        `记录 ${total}`,
        `合格 ${d.conforming[i]}`,
        `不合格 ${d.nonconforming[i]}`,
        `不合格率 ${pct(d.rate[i])}`,
      ].join("\n");
    };
  }

  function byMonth(d) {
    return {
      tooltip: { trigger: "axis", confine: true, renderMode: "richText", formatter: tooltip(d) },
      legend: { top: 0 },
      grid: { left: 8, right: 8, top: 32, bottom: 8, containLabel: true },
      xAxis: { type: "category", data: d.labels },
      yAxis: [
        { type: "value", minInterval: 1, name: "记录" },
        { type: "value", name: "不合格率 %", min: 0, max: 100, splitLine: { show: false } },
      ],
      series: [
        { name: "合格", type: "bar", stack: "n", data: d.conforming, itemStyle: { color: GREEN } },
        { name: "不合格", type: "bar", stack: "n", data: d.nonconforming, itemStyle: { color: RED } },
        { name: "不合格率", type: "line", yAxisIndex: 1, data: d.rate, itemStyle: { color: "#7c2d12" } },
      ],
    };
  }

  function byGroup(d) {
    const n = Math.min(d.labels.length, 20);
    const cut = (a) => a.slice(0, n);
    const shown = { labels: cut(d.labels), conforming: cut(d.conforming), nonconforming: cut(d.nonconforming), rate: cut(d.rate) };
    return {
      tooltip: { trigger: "axis", axisPointer: { type: "shadow" }, confine: true, renderMode: "richText", formatter: tooltip(shown) },
      legend: { top: 0 },
      grid: { left: 8, right: 96, top: 28, bottom: 8, containLabel: true },
      xAxis: { type: "value", minInterval: 1 },
      yAxis: {
        type: "category",
        inverse: true,
        data: shown.labels,
        axisLabel: { width: narrow() ? 112 : 220, overflow: "breakAll", lineHeight: 14 },
      },
      series: [
        { name: "合格", type: "bar", stack: "n", data: shown.conforming, itemStyle: { color: GREEN }, barMaxWidth: 22 },
        {
          name: "不合格",
          type: "bar",
          stack: "n",
          data: shown.nonconforming,
          itemStyle: { color: RED },
          barMaxWidth: 22,
          // the rate at the bar's end: 不合格率 of the row's records
          label: { show: true, position: "right", formatter: (p) => `不合格率 ${pct(shown.rate[p.dataIndex])}` },
        },
      ],
    };
  }

  document.addEventListener("DOMContentLoaded", () => {
    const box = document.getElementById("stats-chart");
    const source = document.getElementById("stats-data");
    if (!window.echarts || !box || !source) return;
    const d = JSON.parse(source.textContent);
    if (box.dataset.height) box.style.height = `${parseInt(box.dataset.height, 10)}px`;
    const chart = echarts.init(box);
    chart.setOption(d.by === "month" ? byMonth(d) : byGroup(d));
    window.addEventListener("resize", () => chart.resize());
    document.querySelectorAll("details.data-table").forEach((t) => t.addEventListener("toggle", () => chart.resize()));
  });
})();
