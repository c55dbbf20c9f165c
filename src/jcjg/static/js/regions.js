// The region view (/regions/overview), from the #regions-data block: institutions and projects
// by city and county as treemaps (click a tile to go a level down); where boundaries are
// loaded, a map of the next level down coloured by the measure its buttons choose, with the
// projects' sites and their open alerts (click an area to go down to it, a point to open it);
// else the sites on a plain longitude/latitude plot (docs/maps.md). Each box is drawn at the
// height its data-height asks (data-phone-height on a narrow screen); the tables are behind
// 数据表.
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

  function areaMap(m, measure) {
    const values = m.areas.map((a) => a[measure]);
    return {
      tooltip: {
        renderMode: "richText",
        formatter: (p) => {
          if (p.seriesType !== "map") return `${p.data[2]}`;
          const a = m.areas.find((x) => x.name === p.name);
          if (!a) return p.name;
          return [a.name, ...m.measures.map(([k, label]) => `${label} ${a[k]}`)].join("\n");
        },
      },
      visualMap: {
        type: "continuous", min: 0, max: Math.max(1, ...values), orient: "horizontal", left: 8, bottom: 0, itemHeight: 120, itemWidth: 12,
        text: ["多", "少"], calculable: false, inRange: { color: ["#eef4ff", "#1d4ed8"] }, seriesIndex: 0,
      },
      geo: { map: m.name, roam: true, top: 8, bottom: 40, left: 8, right: 8, aspectScale: m.aspect, label: { show: true, fontSize: 11, color: "#1f2937" },
             itemStyle: { borderColor: "#64748b", borderWidth: 0.8 }, emphasis: { label: { show: true }, itemStyle: { areaColor: "#fde68a" } } },
      series: [
        { type: "map", geoIndex: 0, data: m.areas.map((a) => ({ name: a.name, value: a[measure] })) },
        { type: "scatter", coordinateSystem: "geo", data: m.sites, symbolSize: 7, itemStyle: { color: "#0f766e", opacity: 0.8 }, z: 3 },
        { type: "scatter", coordinateSystem: "geo", data: m.spots, symbolSize: 10, itemStyle: { color: "#dc2626" }, z: 4 },
        { type: "scatter", coordinateSystem: "geo", data: m.labs || [], symbol: "rect", symbolSize: 9, itemStyle: { color: "#7c3aed", borderColor: "#fff", borderWidth: 1 }, z: 5 },
      ],
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
    let measure = null;
    if (d.map) {
      echarts.registerMap(d.map.name, d.map.geojson);
      d.map.sites = d.sites;
      // the areas' extent: degrees of longitude shrink by cos(latitude), and the box is as
      // tall as the region drawn at the box's width asks (within the bounds of its data-height)
      let [x0, y0, x1, y1] = [180, 90, -180, -90];
      const walk = (c) => (typeof c[0] === "number" ? ([x0, y0, x1, y1] = [Math.min(x0, c[0]), Math.min(y0, c[1]), Math.max(x1, c[0]), Math.max(y1, c[1])]) : c.forEach(walk));
      d.map.geojson.features.forEach((f) => walk(f.geometry.coordinates));
      d.map.aspect = Math.cos((((y0 + y1) / 2) * Math.PI) / 180);
      d.map.ratio = (y1 - y0) / Math.max((x1 - x0) * d.map.aspect, 1e-6);
      measure = d.map.measures[0][0];
      options.map = () => areaMap(d.map, measure);
    }
    const charts = [];
    document.querySelectorAll("[data-plot]").forEach((box) => {
      const make = options[box.dataset.plot];
      if (!make) return;
      const narrow = window.matchMedia("(max-width: 600px)").matches;
      const height = (narrow && box.dataset.phoneHeight) || box.dataset.height;
      if (height) box.style.height = `${parseInt(height, 10)}px`;
      if (box.dataset.plot === "map" && d.map.ratio) {
        const fit = Math.round((box.clientWidth - 16) * d.map.ratio) + 48;
        box.style.height = `${Math.max(240, Math.min(parseInt(height, 10), fit))}px`;
      }
      const chart = echarts.init(box);
      chart.setOption(make());
      if (box.dataset.plot === "map") {
        chart.on("click", (p) => {
          if (p.seriesType === "map") {
            const a = d.map.areas.find((x) => x.name === p.name);
            if (a) window.location.href = a.href;
          } else if (p.data && p.data[3]) window.location.href = p.data[3];
        });
        document.querySelectorAll("[data-measure]").forEach((button) => button.addEventListener("click", () => {
          measure = button.dataset.measure;
          document.querySelectorAll("[data-measure]").forEach((b) => b.setAttribute("aria-pressed", String(b === button)));
          chart.setOption(areaMap(d.map, measure), { replaceMerge: ["series"] });
        }));
        box.dataset.ready = "1";
      }
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
