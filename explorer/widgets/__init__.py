"""The explorer's widgets: controls that write to AppState and views that read from it."""
