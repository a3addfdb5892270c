"""The built-in scene datasets: layouts and splits (layout), texts from the boxes (texts), pictures (drawing),
and what positions and relations mean (geometry, shared with the grounded judge)."""
