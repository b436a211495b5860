"""The Python API that the digitgan command is a thin layer over: load a trained model and
draw, write by hand or translate with it; train; evaluate. digitgan/__init__.py exports it.
"""
