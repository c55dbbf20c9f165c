"""The home page, the problem-type pages and the operators' jobs page."""
