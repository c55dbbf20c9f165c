// The region view (/regions/overview), from the #regions-data block: institutions and projects
// by city and county as treemaps (click a tile to go a level down), and the projects' sites on
// a plain longitude/latitude plot (no boundary map: see docs/maps.md). Each box is drawn at the
// height its data-height asks; the tables are behind 数据表.
(() => {
  const COLORS = ["#3b82f6", "#0ea5e9", "#14b8a6", "#22c55e", "#84cc16", "#eab308", "#f97316", "#ef4444", "#a855f7", "#64748b"];

  function treemap(title, data) {
    return {
      color: COLORS,
      tooltip: { renderMode: "richText", formatter: (p) => `${p.treePathInfo.slice(1).map((n) => n.name).join(" › ")}：${p.value}` },
      series: [
        {
          type: "treemap",
          name: title,
          top: 0,
          bottom: 28,
          left: 0,
          right: 0,
          roam: false,
          leafDepth: 1,
          data,
          label: { show: true, formatter: "{b}\n{c}", overflow: "break" },
          upperLabel: { show: true, height: 20, color: "#fff" },
          breadcrumb: { show: true, bottom: 0 },
          levels: [{ itemStyle: { gapWidth: 2, borderColor: "#fff" } }, { colorSaturation: [0.35, 0.6], itemStyle: { gapWidth: 1 } }],
        },
      ],
    };
  }

  // the axes span the sites with a margin (a tenth of their spread, at least 0.02°), not the
  // whole globe from zero
  const around = (end) => (v) => {
    const pad = Math.max((v.max - v.min) / 10, 0.02);
    return Number((end === "min" ? v.min - pad : v.max + pad).toFixed(2));
  };
  const degrees = (v) => `${v.toFixed(2)}°`;

  function sites(points) {
    return {
      tooltip: { renderMode: "richText", formatter: (p) => `${p.data[2]}\n经度 ${p.data[0].toFixed(4)}，纬度 ${p.data[1].toFixed(4)}` },
      grid: { left: 8, right: 16, top: 24, bottom: 8, containLabel: true },
      xAxis: { type: "value", name: "经度", min: around("min"), max: around("max"), axisLabel: { formatter: degrees } },
      yAxis: { type: "value", name: "纬度", min: around("min"), max: around("max"), axisLabel: { formatter: degrees } },
      series: [{ type: "scatter", data: points, symbolSize: 10, itemStyle: { color: "#2563eb", opacity: 0.75 } }],
    };
  }

  document.addEventListener("DOMContentLoaded", () => {
    const source = document.getElementById("regions-data");
    if (!window.echarts || !source) return;
    const d = JSON.parse(source.textContent);
    const options = {
      institutions: () => treemap("检测机构", d.institutions),
      projects: () => treemap("工程项目", d.projects),
      sites: () => sites(d.sites),
    };
    const charts = [];
    document.querySelectorAll("[data-plot]").forEach((box) => {
      const make = options[box.dataset.plot];
      if (!make) return;
      if (box.dataset.height) box.style.height = `${parseInt(box.dataset.height, 10)}px`;
      const chart = echarts.init(box);
      chart.setOption(make());
      if (box.dataset.plot === "sites") {
        chart.on("click", (p) => {
          if (p.data && p.data[3]) window.location.href = p.data[3];
        });
      }
      charts.push(chart);
    });
    window.addEventListener("resize", () => charts.forEach((c) => c.resize()));
    document.querySelectorAll("details.data-table").forEach((t) => t.addEventListener("toggle", () => charts.forEach((c) => c.resize())));
  });
})();
