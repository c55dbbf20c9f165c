"""Experts (专家库) and review panels drawn from them (000 4.1.4, 4.1.6): docs/experts.md."""
