"""The web page digitgan serve shows: its HTML, script and style sheet (package data)."""
