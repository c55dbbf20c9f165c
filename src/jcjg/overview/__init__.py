"""The industry overview (行业概况, 000 4.2.2) and the periodic supervision report (监管情况报告,
002 第四条): docs/overview.md."""
