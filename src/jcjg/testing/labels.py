"""What pages call the keys of a test record's raw values and results (``core.labels`` kind
``field``): the data standard's keys (docs/exchange-api/) stay on the wire, pages show these."""

FIELDS = {
    "specimens": "试件",
    # raw values of a specimen
    "peak_kn": "破坏荷载（kN）",
    "mode": "试验方式",
    "diameter_mm": "公称直径（mm）",
    "yield_kn": "屈服力（kN）",
    "max_kn": "最大力（kN）",
    "gauge_mm": "原始标距（mm）",
    "final_gauge_mm": "断后标距（mm）",
    "agt_percent": "最大力总延伸率（%）",
    "break_location": "断裂位置",
    "specimen_size_mm": "试件边长（mm）",
    "humidity_percent": "湿度（%）",
    "temperature_c": "温度（℃）",
    # results
    "strength_mpa": "强度代表值（MPa）",
    "percent_of_design": "达设计强度（%）",
    "flexural_mpa": "抗折强度（MPa）",
    "compressive_mpa": "抗压强度（MPa）",
    "yield_mpa": "屈服强度（MPa）",
    "tensile_mpa": "抗拉强度（MPa）",
    "elongation_percent": "断后伸长率（%）",
    "loading_rate": "加荷速度",
    "rate": "加荷速度",
}
