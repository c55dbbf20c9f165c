"""JCJG: 建设工程检测监管信息服务平台 (construction inspection supervision platform)."""

__version__ = "0.1.0"
