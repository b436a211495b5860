"""digitgan serve: the web page and HTTP API (FastAPI), the runs it draws from, and the bounds
on every request.
"""
