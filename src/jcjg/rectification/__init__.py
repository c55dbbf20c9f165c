"""Rectification orders (责令整改, 002 articles 17-18) and their public list."""
