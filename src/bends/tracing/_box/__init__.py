"""The n-D tracer's room: complexes of activation regions on boxes and simplices."""
