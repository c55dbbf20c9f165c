// The on-site statistics page's chart (ECharts), from the #onsite-stats-data block: per group
// its records with and without a plan (stacked: the bar is all its records), and beside them
// those uploaded late and those done outside the site. By month the bars stand in time order;
// otherwise they lie, the largest on top (the first 20), their labels wrapped rather than cut.
(() => {
  const narrow = () => window.matchMedia("(max-width: 600px)").matches;
  const SERIES = [
    { key: "with_plan", name: "有方案", color: "#3b82f6", stack: "n" },
    { key: "without_plan", name: "无方案", color: "#dc2626", stack: "n" },
    { key: "late", name: "上传超时", color: "#f59e0b" },
    { key: "outside", name: "场外检测", color: "#7c3aed" },
  ];

  function tooltip(d) {
    return (items) => {
      const i = items[0].dataIndex;
      return [
        d.labels[i],
        `记录 ${d.with_plan[i] + d.without_plan[i]}`,
        ...SERIES.map((s) => `${s.name} ${d[s.key][i]}`),
        `有预警 ${d.flagged[i]}`,
      ].join("\n");
    };
  }

  function series(d, horizontal) {
    return SERIES.map((s) => ({
      name: s.name,
      type: "bar",
      stack: s.stack,
      data: d[s.key],
      itemStyle: { color: s.color },
      barMaxWidth: horizontal ? 14 : 28,
    }));
  }

  function option(d) {
    const month = d.by === "month";
    const n = month ? d.labels.length : Math.min(d.labels.length, 20);
    const shown = Object.fromEntries(
      Object.entries(d).map(([k, v]) => [k, Array.isArray(v) ? v.slice(0, n) : v]),
    );
    const category = month
      ? { type: "category", data: shown.labels }
      : {
          type: "category",
          inverse: true,
          data: shown.labels,
          axisLabel: { width: narrow() ? 112 : 220, overflow: "breakAll", lineHeight: 14 },
        };
    const value = { type: "value", minInterval: 1, name: month ? "记录" : "" };
    return {
      tooltip: {
        trigger: "axis",
        axisPointer: { type: "shadow" },
        confine: true,
        renderMode: "richText",
        formatter: tooltip(shown),
      },
      legend: { top: 0 },
      grid: { left: 8, right: 24, top: 32, bottom: 8, containLabel: true },
      xAxis: month ? category : value,
      yAxis: month ? value : category,
      series: series(shown, !month),
    };
  }

  document.addEventListener("DOMContentLoaded", () => {
    const box = document.getElementById("onsite-stats-chart");
    const source = document.getElementById("onsite-stats-data");
    if (!window.echarts || !box || !source) return;
    const d = JSON.parse(source.textContent);
    if (box.dataset.height) box.style.height = `${parseInt(box.dataset.height, 10)}px`;
    const chart = echarts.init(box);
    chart.setOption(option(d));
    window.addEventListener("resize", () => chart.resize());
  });
})();
